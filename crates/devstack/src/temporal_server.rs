//! The Temporal dev server as a child process of the `temporal` CLI (`temporal server
//! start-dev`), with the fleet's search attributes registered and a persistent database file.

use crate::{StackError, ports};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// Finds the `temporal` executable: `$TEMPORAL_CLI`, else `temporal` on `PATH`.
pub fn find_temporal_executable() -> Result<PathBuf, StackError> {
    if let Some(path) = std::env::var_os("TEMPORAL_CLI").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() { Ok(path) } else { Err(StackError::TemporalNotFound) };
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var).map(|dir| dir.join("temporal")).find(|candidate| candidate.is_file()).ok_or(StackError::TemporalNotFound)
}

/// How to start the dev server.
#[derive(Debug, Clone)]
pub struct TemporalServerOptions {
    /// The `temporal` executable.
    pub executable: PathBuf,
    /// Front-end gRPC port.
    pub port: u16,
    /// Web UI port; `None` runs headless.
    pub ui_port: Option<u16>,
    /// SQLite database file; workflows survive a restart of the server.
    pub db_file: PathBuf,
    /// Extra namespace to create (the `default` namespace always exists).
    pub namespace: String,
    /// Where the server's output goes.
    pub log_file: PathBuf,
}

/// A running dev server. Dropping it kills the process.
pub struct TemporalServer {
    child: Child,
    options: TemporalServerOptions,
}

impl TemporalServer {
    /// Starts the server and waits until its front end answers and the search attributes are
    /// registered.
    pub async fn start(options: TemporalServerOptions) -> Result<Self, StackError> {
        let child = Self::spawn(&options)?;
        let mut server = Self { child, options };
        server.wait_ready(Duration::from_secs(90)).await?;
        Ok(server)
    }

    /// Starts a headless server on a free port for a test or a benchmark, its database
    /// `{name}-{attempt}.db` and log `{name}.log` under `dir`. A port reported free can be taken
    /// (by a parallel test) before the server binds it: up to three ports are tried.
    pub async fn start_on_free_port(executable: &Path, dir: &Path, name: &str, namespace: &str) -> Result<Self, StackError> {
        let io = |what: &str| {
            let what = format!("{what} for the {name} dev server");
            move |source| StackError::Io { what, source }
        };
        std::fs::create_dir_all(dir).map_err(io("creating its directory"))?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let started = Self::start(TemporalServerOptions {
                executable: executable.to_owned(),
                port: ports::free_port().map_err(io("finding a free port"))?,
                ui_port: None,
                db_file: dir.join(format!("{name}-{attempt}.db")),
                namespace: namespace.to_owned(),
                log_file: dir.join(format!("{name}.log")),
            })
            .await;
            match started {
                Ok(server) => return Ok(server),
                Err(e) if attempt < 3 => eprintln!("dev server start attempt {attempt} failed, retrying on another port: {e}"),
                Err(e) => return Err(e),
            }
        }
    }

    /// Kills the server process (SIGKILL, as a crash would), waits `down_for`, and starts it
    /// again on the same ports and database file.
    pub async fn restart(&mut self, down_for: Duration) -> Result<(), StackError> {
        let _ = self.child.kill().await;
        tokio::time::sleep(down_for).await;
        self.child = Self::spawn(&self.options)?;
        self.wait_ready(Duration::from_secs(90)).await
    }

    fn spawn(options: &TemporalServerOptions) -> Result<Child, StackError> {
        ports::ensure_free(options.port, "the Temporal front end", "TEMPORAL_PORT")?;
        if let Some(ui) = options.ui_port {
            ports::ensure_free(ui, "the Temporal Web UI", "TEMPORAL_UI_PORT")?;
        }
        let io = |what: &str| {
            let what = what.to_owned();
            move |source| StackError::Io { what, source }
        };
        if let Some(dir) = options.db_file.parent() {
            std::fs::create_dir_all(dir).map_err(io("creating the data directory"))?;
        }
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&options.log_file).map_err(io("opening the server log"))?;
        let log_err = log.try_clone().map_err(io("opening the server log"))?;

        let mut cmd = Command::new(&options.executable);
        cmd.args(["server", "start-dev", "--ip", "127.0.0.1", "--log-level", "warn"])
            .arg("--port")
            .arg(options.port.to_string())
            .arg("--db-filename")
            .arg(&options.db_file);
        match options.ui_port {
            Some(ui) => cmd.arg("--ui-port").arg(ui.to_string()),
            None => cmd.arg("--headless"),
        };
        if options.namespace != "default" {
            cmd.arg("--namespace").arg(&options.namespace);
        }
        for (name, kind) in contracts::search::ALL {
            cmd.arg("--search-attribute").arg(format!("{name}={kind}"));
        }
        cmd.stdin(Stdio::null()).stdout(log).stderr(log_err).kill_on_drop(true);
        cmd.spawn().map_err(io("starting `temporal server start-dev`"))
    }

    /// `host:port` of the front end.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.options.port)
    }

    /// Web UI URL, when the UI runs.
    pub fn ui_url(&self) -> Option<String> {
        self.options.ui_port.map(|p| format!("http://localhost:{p}"))
    }

    /// The options it was started with.
    pub fn options(&self) -> &TemporalServerOptions {
        &self.options
    }

    async fn wait_ready(&mut self, limit: Duration) -> Result<(), StackError> {
        let started = Instant::now();
        let not_ready = |detail: String, log: &Path| StackError::NotReady {
            what: "the Temporal dev server".into(),
            seconds: limit.as_secs(),
            detail: format!("{detail}; server log {}:\n{}", log.display(), tail(log)),
        };
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(not_ready(format!(" (it exited: {status})"), &self.options.log_file));
            }
            if ports::is_listening(self.options.port).await && self.search_attributes_registered().await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(not_ready(String::new(), &self.options.log_file))
    }

    /// Asks the server, through the CLI, whether every custom search attribute is registered in
    /// the configured namespace.
    async fn search_attributes_registered(&self) -> bool {
        let out = Command::new(&self.options.executable)
            .args(["operator", "search-attribute", "list", "--address"])
            .arg(self.address())
            .arg("--namespace")
            .arg(&self.options.namespace)
            .stdin(Stdio::null())
            .output()
            .await;
        match out {
            Ok(out) if out.status.success() => {
                let listing = String::from_utf8_lossy(&out.stdout);
                contracts::search::ALL.iter().all(|(name, _)| listing.contains(name))
            }
            _ => false,
        }
    }

    /// Stops the server: SIGTERM, then SIGKILL after `grace`.
    pub async fn stop(mut self, grace: Duration) {
        crate::workers::terminate(&mut self.child, grace).await;
    }

    /// Kills the server at once (fault tests).
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The last lines of a log file, for error messages.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
