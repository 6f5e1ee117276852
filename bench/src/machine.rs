//! What the numbers were measured on: CPU model and cores from `/proc/cpuinfo`, memory from
//! `/proc/meminfo`, the kernel, the date; and a process's resident memory from
//! `/proc/<pid>/status` (`VmRSS` now, `VmHWM` its peak so far).

use serde::Serialize;

/// The machine of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// `model name` of the first processor.
    pub cpu_model: String,
    /// Logical processors listed in `/proc/cpuinfo`.
    pub cores: usize,
    /// Threads this process may run on (cgroup and affinity limits included).
    pub available_parallelism: usize,
    /// `MemTotal`, GiB.
    pub memory_gib: f64,
    /// `uname -r` equivalent (`/proc/sys/kernel/osrelease`).
    pub kernel: String,
    /// When the run started, RFC 3339 UTC.
    pub date: String,
}

impl Machine {
    /// Reads the machine's description.
    pub fn detect() -> anyhow::Result<Self> {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo")?;
        let meminfo = std::fs::read_to_string("/proc/meminfo")?;
        let (cpu_model, cores) = parse_cpuinfo(&cpuinfo);
        let memory_kib = status_field_kib(&meminfo, "MemTotal").unwrap_or(0);
        Ok(Self {
            cpu_model,
            cores,
            available_parallelism: std::thread::available_parallelism().map(usize::from).unwrap_or(1),
            memory_gib: memory_kib as f64 / (1024.0 * 1024.0),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned(),
            date: time::OffsetDateTime::now_utc().replace_nanosecond(0)?.format(&time::format_description::well_known::Rfc3339)?,
        })
    }
}

/// The first `model name` and the number of `processor` entries.
pub fn parse_cpuinfo(cpuinfo: &str) -> (String, usize) {
    let mut model = None;
    let mut cores = 0;
    for line in cpuinfo.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        match key.trim() {
            "processor" => cores += 1,
            "model name" if model.is_none() => model = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    (model.unwrap_or_else(|| "unknown".to_owned()), cores)
}

/// A `Name:   1234 kB` field of `/proc/<pid>/status` or `/proc/meminfo`, in KiB.
pub fn status_field_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        if key.trim() != field {
            return None;
        }
        value.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// Resident memory of a process, KiB.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Rss {
    /// `VmRSS`: resident now.
    pub current_kib: u64,
    /// `VmHWM`: the most it has been resident since it started.
    pub peak_kib: u64,
}

/// Reads `VmRSS` and `VmHWM` of `pid`.
pub fn rss(pid: u32) -> anyhow::Result<Rss> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name| status_field_kib(&status, name).ok_or_else(|| anyhow::anyhow!("/proc/{pid}/status has no {name}"));
    Ok(Rss { current_kib: field("VmRSS")?, peak_kib: field("VmHWM")? })
}

/// CPU time (user + system, every thread) a process has used so far, seconds.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let ticks = parse_stat_cpu_ticks(&stat).ok_or_else(|| anyhow::anyhow!("unreadable /proc/{pid}/stat"))?;
    Ok(ticks as f64 / clock_ticks_per_second())
}

/// `utime + stime` of a `/proc/<pid>/stat` line, in clock ticks. The command name (field 2) is
/// in parentheses and may hold spaces, so fields are counted after its closing parenthesis:
/// state is field 3, utime field 14 and stime field 15.
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// What the process-tree readers need from one `/proc/<pid>/stat` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatLine {
    /// Parent process id (field 4).
    pub ppid: u32,
    /// `utime + stime` (fields 14, 15), clock ticks.
    pub own_ticks: u64,
    /// `cutime + cstime` (fields 16, 17): children it has waited for, clock ticks.
    pub reaped_children_ticks: u64,
}

/// Parses a `/proc/<pid>/stat` line (fields counted after the command name's closing
/// parenthesis, as in [`parse_stat_cpu_ticks`]).
pub fn parse_stat_line(stat: &str) -> Option<StatLine> {
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().collect();
    let number = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some(StatLine { ppid: u32::try_from(number(1)?).ok()?, own_ticks: number(11)? + number(12)?, reaped_children_ticks: number(13)? + number(14)? })
}

fn stat_line(pid: u32) -> Option<StatLine> {
    parse_stat_line(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Every live descendant of `pid` (children, grandchildren, ...), from the parent ids in
/// `/proc/*/stat`.
pub fn descendants(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let parents: Vec<(u32, u32)> =
        entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok()).filter_map(|p| Some((p, stat_line(p)?.ppid))).collect();
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for &(child, ppid) in &parents {
            if ppid == parent && !found.contains(&child) {
                found.push(child);
                frontier.push(child);
            }
        }
    }
    found
}

/// The command line of `pid`, arguments joined by spaces.
pub fn cmdline(pid: u32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&raw).split('\0').filter(|a| !a.is_empty()).collect::<Vec<_>>().join(" ")
}

/// The first descendant of `pid` whose command line contains every one of `needles`.
pub fn find_descendant(pid: u32, needles: &[&str]) -> Option<u32> {
    descendants(pid).into_iter().find(|&p| {
        let line = cmdline(p);
        needles.iter().all(|n| line.contains(n))
    })
}

/// CPU time of a process tree so far, seconds: the process's own time and the children it has
/// reaped, plus the same for every live descendant (a pool of worker processes, a wrapper
/// that forked). A descendant that exits between two readings moves from the second term to
/// its parent's reaped time, so differences stay right.
pub fn tree_cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let root = stat_line(pid).ok_or_else(|| anyhow::anyhow!("process {pid} is gone"))?;
    let mut ticks = root.own_ticks + root.reaped_children_ticks;
    for child in descendants(pid) {
        if let Some(line) = stat_line(child) {
            ticks += line.own_ticks + line.reaped_children_ticks;
        }
    }
    Ok(ticks as f64 / clock_ticks_per_second())
}

/// Resident memory of a process tree: `VmRSS` and `VmHWM` summed over the process and its live
/// descendants, and how many processes that was.
pub fn tree_rss(pid: u32) -> anyhow::Result<(Rss, usize)> {
    let mut total = rss(pid)?;
    let mut processes = 1;
    for child in descendants(pid) {
        if let Ok(one) = rss(child) {
            total.current_kib += one.current_kib;
            total.peak_kib += one.peak_kib;
            processes += 1;
        }
    }
    Ok((total, processes))
}

/// Resets the peak resident size (`VmHWM`) of a process tree to its current size by writing
/// 5 to `/proc/<pid>/clear_refs` (Linux 4.0 and later), so the next reading is the peak of
/// what ran in between. False when the process's own reset failed.
pub fn reset_tree_peak_rss(pid: u32) -> bool {
    let reset = |p: u32| std::fs::write(format!("/proc/{p}/clear_refs"), "5").is_ok();
    let own = reset(pid);
    for child in descendants(pid) {
        reset(child);
    }
    own
}

/// The TCP ports `pid` listens on: its socket inodes (`/proc/<pid>/fd`) matched against the
/// listening sockets of `/proc/<pid>/net/tcp` and `tcp6`.
pub fn listening_ports(pid: u32) -> Vec<u16> {
    let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| {
            entries
                .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter_map(|target| Some(target.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let mut ports: Vec<u16> = ["tcp", "tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).ok())
        .flat_map(|text| parse_listening(&text))
        .filter(|(_, inode)| inodes.contains(inode))
        .map(|(port, _)| port)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// (port, inode) of the listening sockets (state `0A`) of a `/proc/net/tcp` table.
pub fn parse_listening(table: &str) -> Vec<(u16, String)> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.get(3) != Some(&"0A") {
                return None;
            }
            let port = u16::from_str_radix(fields.get(1)?.rsplit(':').next()?, 16).ok()?;
            Some((port, (*fields.get(9)?).to_owned()))
        })
        .collect()
}

/// `getconf CLK_TCK` (100 on every Linux this runs on; asked once rather than assumed).
fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .filter(|t: &f64| *t > 0.0)
            .unwrap_or(100.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpuinfo() {
        let text = "processor\t: 0\nmodel name\t: Example CPU @ 2.00GHz\nflags\t\t: fpu\n\nprocessor\t: 1\nmodel name\t: Example CPU @ 2.00GHz\n";
        assert_eq!(parse_cpuinfo(text), ("Example CPU @ 2.00GHz".to_owned(), 2));
        assert_eq!(parse_cpuinfo(""), ("unknown".to_owned(), 0));
    }

    #[test]
    fn reads_status_fields() {
        let status = "Name:\tbench\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t3\n";
        assert_eq!(status_field_kib(status, "VmRSS"), Some(10240));
        assert_eq!(status_field_kib(status, "VmHWM"), Some(20480));
        assert_eq!(status_field_kib(status, "VmSwap"), None);
    }

    #[test]
    fn reads_cpu_ticks() {
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 2043 0 0 0 150 25 0 0 20 0 9 0 123 456 789";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(175));
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
        assert!(cpu_seconds(std::process::id()).unwrap() >= 0.0);
    }

    #[test]
    fn reads_stat_lines() {
        let stat = "4242 (tokio (rt) x) S 17 4242 4242 0 -1 4194560 2043 0 0 0 150 25 7 3 20 0 9 0 123 456 789";
        assert_eq!(parse_stat_line(stat), Some(StatLine { ppid: 17, own_ticks: 175, reaped_children_ticks: 10 }));
        assert_eq!(parse_stat_line("garbage"), None);
    }

    #[test]
    fn reads_listening_sockets() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:85CB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 128093 2 0 100 0 0 10 0\n   1: 0100007F:1C41 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 128094 2 0 100 0 0 10 0\n";
        assert_eq!(parse_listening(table), vec![(0x85CB, "128093".to_owned())]);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(listening_ports(std::process::id()).contains(&port));
    }

    #[test]
    fn finds_its_children() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        // Until the child has exec'd, its command line is still the test binary's.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let found = loop {
            let found = find_descendant(std::process::id(), &["sleep", "30"]);
            if found.is_some() || std::time::Instant::now() > deadline {
                break found;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        assert!(descendants(std::process::id()).contains(&pid));
        assert_eq!(found, Some(pid));
        assert!(tree_cpu_seconds(std::process::id()).unwrap() >= cpu_seconds(std::process::id()).unwrap());
        let (tree, processes) = tree_rss(std::process::id()).unwrap();
        assert!(processes >= 2 && tree.peak_kib >= tree.current_kib);
        assert!(reset_tree_peak_rss(std::process::id()));
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn reads_its_own_memory() {
        let own = rss(std::process::id()).unwrap();
        assert!(own.current_kib > 0 && own.peak_kib >= own.current_kib, "{own:?}");
    }
}
