//! Processes the harness starts: long-running workers that announce `ready` on stdout (the
//! Rust and Python orchestration workers, the S3 endpoint), services whose whole output goes to
//! a log (the fleets' workers), and one-shot Python scripts whose stdout is JSON.

use anyhow::Context as _;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

/// A worker process. Dropping it kills the process.
pub struct ChildProcess {
    name: String,
    child: Child,
    stdout: Option<ChildStdout>,
    log: std::path::PathBuf,
}

impl ChildProcess {
    /// Starts `program args`, stderr appended to `log`, stdout read by [`Self::wait_ready`].
    pub fn spawn(name: &str, program: &Path, args: &[String], log: &Path) -> anyhow::Result<Self> {
        let log_file = std::fs::OpenOptions::new().create(true).append(true).open(log).with_context(|| format!("opening {}", log.display()))?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting the {name}: {}", program.display()))?;
        let stdout = child.stdout.take();
        Ok(Self { name: name.to_owned(), child, stdout, log: log.to_owned() })
    }

    /// Starts `program args` in `cwd` with `env` added to the harness's environment, stdout and
    /// stderr appended to `log` (readiness is for the caller to observe, e.g. task-queue
    /// pollers).
    pub fn spawn_service(
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        cwd: Option<&Path>,
        log: &Path,
    ) -> anyhow::Result<Self> {
        let open = || std::fs::OpenOptions::new().create(true).append(true).open(log).with_context(|| format!("opening {}", log.display()));
        let mut command = Command::new(program);
        command
            .args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(open()?)
            .stderr(open()?)
            .kill_on_drop(true);
        if let Some(dir) = cwd {
            command.current_dir(dir);
        }
        let child = command.spawn().with_context(|| format!("starting the {name}: {}", program.display()))?;
        Ok(Self { name: name.to_owned(), child, stdout: None, log: log.to_owned() })
    }

    /// The process's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its exit status, if it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(lines).collect::<Vec<_>>().into_iter().rev().collect();
        format!("{}:\n{}", self.log.display(), tail.join("\n"))
    }

    /// Waits for the line `ready`; later output goes to the log (so a full pipe never blocks
    /// the child).
    pub async fn wait_ready(&mut self, limit: Duration) -> anyhow::Result<()> {
        let stdout = self.stdout.take().context("stdout already consumed")?;
        let mut lines = BufReader::new(stdout).lines();
        let wait = async {
            while let Some(line) = lines.next_line().await? {
                if line.trim() == "ready" {
                    return anyhow::Ok(true);
                }
            }
            Ok(false)
        };
        let outcome = tokio::time::timeout(limit, wait).await;
        let failure = |what: String| anyhow::anyhow!("the {} {what}; its log {}", self.name, self.log_tail(15));
        match outcome {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => return Err(failure("exited before it was ready".into())),
            Ok(Err(e)) => return Err(failure(format!("could not be read: {e}"))),
            Err(_) => return Err(failure(format!("was not ready within {limit:?}"))),
        }
        let log = self.log.clone();
        tokio::spawn(async move {
            let Ok(mut file) = tokio::fs::OpenOptions::new().append(true).open(&log).await else { return };
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = file.write_all(format!("{line}\n").as_bytes()).await;
            }
        });
        Ok(())
    }

    /// The process id.
    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().with_context(|| format!("the {} has exited", self.name))
    }

    /// SIGTERM, then SIGKILL after 10 s.
    pub async fn stop(mut self) {
        devstack::workers::terminate(&mut self.child, Duration::from_secs(10)).await;
    }
}

/// Runs `python script args` to completion and returns its stdout; a non-zero exit is an error
/// carrying its stderr.
pub async fn run_script(python: &Path, script: &Path, args: &[String]) -> anyhow::Result<Vec<u8>> {
    let output = Command::new(python)
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {} {}", python.display(), script.display()))?;
    anyhow::ensure!(output.status.success(), "{} failed ({}):\n{}", script.display(), output.status, String::from_utf8_lossy(&output.stderr));
    Ok(output.stdout)
}

/// The installed version of a Python package of the peer's environment.
pub async fn python_package_version(python: &Path, package: &str) -> anyhow::Result<String> {
    let output = Command::new(python)
        .args(["-c", &format!("import importlib.metadata as m; print(m.version({package:?}))")])
        .stdin(Stdio::null())
        .output()
        .await?;
    anyhow::ensure!(output.status.success(), "{package} is not installed for {}", python.display());
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
