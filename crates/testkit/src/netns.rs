//! Hosts as Linux network namespaces, for the tests of faults between hosts: a [`Network`] is
//! one switch (a bridge inside a namespace of its own) with a port per host; each [`Host`] is a
//! namespace with one veth to that switch and its own address. The test process joins the
//! network through a veth of its own, so it talks to exactly the hosts it made and to nothing
//! else. Faults are cuts, not delays (the kernels here lack `tc netem`): a host's switch port
//! set down (the cable pulled), or one host cut off from one peer only, either silently (its
//! packets there lost: its calls stall, [`Network::block`]) or loudly (an unreachable route
//! and its connections there reset: its calls fail at once, [`Network::refuse`]).
//!
//! Names (namespaces, the test's veth) and the subnet are unique per network, and everything is
//! removed when the [`Network`] is dropped, also on a panic. Needs root and iproute2's `ip`; where
//! either is missing or the kernel refuses namespaces, [`Network::create`] fails saying so.

use anyhow::Context;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Runs `ip args...`, failing with its stderr.
fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip").args(args).stdin(Stdio::null()).output().with_context(|| format!("running `ip {}`", args.join(" ")))?;
    anyhow::ensure!(out.status.success(), "`ip {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    Ok(())
}

/// One host of a [`Network`]: a network namespace with one address.
#[derive(Debug, Clone)]
pub struct Host {
    /// Short name given by the test (`server`, `w1`, ...).
    pub name: String,
    /// The namespace (`ip netns` name).
    pub namespace: String,
    /// Its address on the network.
    pub addr: Ipv4Addr,
    /// Its port on the switch (inside the switch namespace).
    port: String,
}

/// A switch, the hosts plugged into it, and the test process's own port.
pub struct Network {
    id: String,
    prefix: [u8; 3],
    switch: String,
    hosts: Vec<Host>,
    /// Addresses added to the test process's port (`.1` and any [`Network::add_local_address`]).
    local: Vec<Ipv4Addr>,
    root_port: String,
}

impl Network {
    /// Makes the switch and plugs the test process into it at `.1`. Fails with a message naming
    /// what is missing when this machine cannot make network namespaces.
    pub fn create() -> anyhow::Result<Self> {
        if Command::new("ip").arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
            anyhow::bail!(
                "these tests build hosts as Linux network namespaces and need iproute2's `ip` (apt-get install iproute2); it is not installed"
            );
        }
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
        let seed = std::process::id().wrapping_mul(2_654_435_761) ^ nanos ^ COUNTER.fetch_add(1, Ordering::Relaxed).wrapping_mul(40_503);
        let id = format!("fn{:05x}", seed & 0xfffff);
        // 10.[64..128).x.0/24, skipping any subnet this machine already has addresses in.
        let taken =
            Command::new("ip").args(["-4", "-o", "addr"]).output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
        let mut prefix = [10, 64 + ((seed >> 20) % 64) as u8, ((seed >> 8) & 0xff) as u8];
        while taken.contains(&format!(" {}.{}.{}.", prefix[0], prefix[1], prefix[2])) {
            prefix[2] = prefix[2].wrapping_add(1);
        }
        let switch = format!("{id}-switch");
        if let Err(e) = ip(&["netns", "add", &switch]) {
            anyhow::bail!(
                "cannot create a network namespace ({e}): these tests build their hosts as namespaces and must run as root (or with CAP_SYS_ADMIN and CAP_NET_ADMIN) on a kernel that allows them; they cannot run on this machine"
            );
        }
        let mut network = Self { id: id.clone(), prefix, switch: switch.clone(), hosts: Vec::new(), local: Vec::new(), root_port: format!("{id}r") };
        // From here on, Drop removes whatever was made.
        ip(&["-n", &switch, "link", "set", "lo", "up"])?;
        ip(&["-n", &switch, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &switch, "link", "set", "br0", "up"])?;
        let root_port = network.root_port.clone();
        ip(&["link", "add", &root_port, "type", "veth", "peer", "name", "p-test", "netns", &switch])?;
        ip(&["-n", &switch, "link", "set", "p-test", "master", "br0", "up"])?;
        ip(&["link", "set", &root_port, "up"])?;
        network.add_local_address()?;
        Ok(network)
    }

    fn addr(&self, n: u8) -> Ipv4Addr {
        Ipv4Addr::new(self.prefix[0], self.prefix[1], self.prefix[2], n)
    }

    /// One more address on the test process's own port (`.1`, then `.2`, ...: the first
    /// [`Network::add_host`] takes `.10`): something the test process serves itself, such as the
    /// S3 endpoint, answers there.
    pub fn add_local_address(&mut self) -> anyhow::Result<Ipv4Addr> {
        let addr = self.addr(self.local.len() as u8 + 1);
        ip(&["addr", "add", &format!("{addr}/24"), "dev", &self.root_port])?;
        self.local.push(addr);
        Ok(addr)
    }

    /// Adds a host named `name` (a namespace with loopback up and one address on the switch).
    pub fn add_host(&mut self, name: &str) -> anyhow::Result<Host> {
        let n = self.hosts.len() as u8 + 10;
        let host = Host { name: name.to_owned(), namespace: format!("{}-{name}", self.id), addr: self.addr(n), port: format!("p{n}") };
        ip(&["netns", "add", &host.namespace])?;
        self.hosts.push(host.clone());
        ip(&["-n", &host.namespace, "link", "set", "lo", "up"])?;
        ip(&["-n", &host.namespace, "link", "add", "eth0", "type", "veth", "peer", "name", &host.port, "netns", &self.switch])?;
        ip(&["-n", &self.switch, "link", "set", &host.port, "master", "br0", "up"])?;
        ip(&["-n", &host.namespace, "addr", "add", &format!("{}/24", host.addr), "dev", "eth0"])?;
        ip(&["-n", &host.namespace, "link", "set", "eth0", "up"])?;
        Ok(host)
    }

    /// Pulls `host`'s cable: its switch port goes down, so nothing reaches it or leaves it
    /// (its own interface loses carrier; its processes keep running).
    pub fn cut(&self, host: &Host) -> anyhow::Result<()> {
        ip(&["-n", &self.switch, "link", "set", &host.port, "down"])
    }

    /// Plugs `host`'s cable back in.
    pub fn heal(&self, host: &Host) -> anyhow::Result<()> {
        ip(&["-n", &self.switch, "link", "set", &host.port, "up"])
    }

    /// Cuts `host` off from `peer` only, silently: `host` sends its packets for `peer` to a
    /// hardware address nobody has (a permanent neighbour entry), so the switch loses them and
    /// its connections there stall, new and established alike, until their own timeouts, while
    /// all else still flows. (A `blackhole` route would not do: it fails a new connect at once
    /// with EINVAL and stalls only established connections.)
    pub fn block(&self, host: &Host, peer: Ipv4Addr) -> anyhow::Result<()> {
        ip(&["-n", &host.namespace, "neigh", "replace", &peer.to_string(), "lladdr", "02:00:00:00:00:00", "dev", "eth0", "nud", "permanent"])
    }

    /// Undoes [`Network::block`]: `host` learns `peer`'s address again, and stalled connections
    /// resume at their next retransmission.
    pub fn unblock(&self, host: &Host, peer: Ipv4Addr) -> anyhow::Result<()> {
        ip(&["-n", &host.namespace, "neigh", "del", &peer.to_string(), "dev", "eth0"])
    }

    /// Cuts `host` off from `peer` only, so that its calls there fail at once instead of
    /// stalling: an `unreachable` route (a new connection fails with "No route to host"), and
    /// the host's established connections to `peer` aborted (`ss -K`, what a firewall's TCP reset
    /// does; no iptables here), because a request on a pooled connection would otherwise sit in
    /// TCP retransmission until its client's own timeout. Everything else still flows.
    pub fn refuse(&self, host: &Host, peer: Ipv4Addr) -> anyhow::Result<()> {
        ip(&["-n", &host.namespace, "route", "add", "unreachable", &format!("{peer}/32")])?;
        // With the route gone no new connection can come up, so none is left after the abort.
        let ss = |args: &[&str]| -> anyhow::Result<String> {
            let out = Command::new("ip")
                .args(["netns", "exec", &host.namespace, "ss"])
                .args(args)
                .stdin(Stdio::null())
                .output()
                .context("running `ss` (iproute2)")?;
            anyhow::ensure!(out.status.success(), "`ss {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        };
        let peer = peer.to_string();
        ss(&["-K", "-t", "dst", &peer])?;
        let left = ss(&["-H", "-t", "-n", "state", "established", "dst", &peer])?;
        anyhow::ensure!(
            left.trim().is_empty(),
            "`ss -K` left connections of host {} to {peer} open (a kernel without CONFIG_INET_DIAG_DESTROY?):\n{left}",
            host.name
        );
        Ok(())
    }

    /// Undoes [`Network::refuse`] (the aborted connections stay closed; new ones come up).
    pub fn unrefuse(&self, host: &Host, peer: Ipv4Addr) -> anyhow::Result<()> {
        ip(&["-n", &host.namespace, "route", "del", "unreachable", &format!("{peer}/32")])
    }

    /// Starts `program args` inside `host` (`ip netns exec`, which execs it: the child's pid is
    /// the program's) with `env` added to this process's environment, output appended to `log`.
    pub fn spawn(
        &self,
        host: &Host,
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        log: &Path,
    ) -> anyhow::Result<HostProcess> {
        let log_file = std::fs::OpenOptions::new().create(true).append(true).open(log).with_context(|| format!("opening {}", log.display()))?;
        let child = tokio::process::Command::new("ip")
            .args(["netns", "exec", &host.namespace])
            .arg(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} on host {}", program.display(), host.name))?;
        Ok(HostProcess { name: name.to_owned(), host: host.name.clone(), child })
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        // Deleting a namespace deletes its veth end and so the peer on the switch; processes
        // still inside (they are killed by their own drop) only delay the kernel's cleanup.
        for host in &self.hosts {
            let _ = ip(&["netns", "del", &host.namespace]);
        }
        let _ = ip(&["link", "del", &self.root_port]);
        let _ = ip(&["netns", "del", &self.switch]);
    }
}

/// A process running inside a [`Host`]. Dropping it kills it.
pub struct HostProcess {
    /// The name the test gave it.
    pub name: String,
    /// The host it runs on.
    pub host: String,
    child: tokio::process::Child,
}

impl HostProcess {
    /// The process id (the program's own: `ip netns exec` execs it).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Exit status if it has exited.
    pub fn try_exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Sends SIGTERM (a graceful shutdown) and returns at once.
    pub fn terminate(&self) -> anyhow::Result<()> {
        let pid = self.pid().context("the process has exited")?;
        let status = Command::new("kill").args(["-TERM", &pid.to_string()]).status()?;
        anyhow::ensure!(status.success(), "kill -TERM {pid} failed");
        Ok(())
    }

    /// Waits up to `limit` for the process to exit.
    pub async fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        tokio::time::timeout(limit, self.child.wait()).await.ok().and_then(Result::ok)
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub async fn stop(mut self, grace: Duration) {
        if self.terminate().is_ok() && self.wait(grace).await.is_some() {
            return;
        }
        let _ = self.child.kill().await;
    }

    /// SIGKILL at once.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Serves `listen` by forwarding each connection to `upstream` (for a server of the test
/// process that binds only loopback, such as the embedded S3 endpoint, to answer on a network
/// address). Stops when the returned task is aborted.
pub async fn forward(listen: std::net::SocketAddr, upstream: std::net::SocketAddr) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    Ok(tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((mut inbound, _)) = listener.accept().await {
            connections.spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    }))
}
