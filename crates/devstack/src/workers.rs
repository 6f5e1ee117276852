//! Worker binaries as child processes of the stack.

use crate::StackError;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// A worker binary running as a child process. Dropping it kills the process.
pub struct WorkerProcess {
    /// The worker's name (its queue's base name), with a replica number when scaled.
    pub name: String,
    child: Child,
}

/// Where worker binaries are: beside the running executable (`target/<profile>/`), or one
/// level up when the running executable is a test binary in `target/<profile>/deps/`.
pub fn binary_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") { dir.parent().map(Path::to_path_buf).unwrap_or(dir) } else { dir }
}

impl WorkerProcess {
    /// Starts `binary` from `dir` with `env` added to this process's environment; its output is
    /// appended to `log_file`.
    pub fn spawn(name: String, dir: &Path, binary: &str, env: &[(String, String)], log_file: &Path) -> Result<Self, StackError> {
        let path = dir.join(binary);
        if !path.is_file() {
            return Err(StackError::WorkerBinaryMissing { binary: binary.to_owned(), dir: dir.display().to_string() });
        }
        let io = |what: String| move |source| StackError::Io { what, source };
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log_file).map_err(io(format!("opening {}", log_file.display())))?;
        let log_err = log.try_clone().map_err(io(format!("opening {}", log_file.display())))?;
        let child = Command::new(&path)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .kill_on_drop(true)
            .spawn()
            .map_err(io(format!("starting {}", path.display())))?;
        Ok(Self { name, child })
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Exit status if it has exited.
    pub fn try_exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGTERM (graceful: in-flight activities get their grace period), then SIGKILL after
    /// `grace`.
    pub async fn stop(mut self, grace: Duration) {
        terminate(&mut self.child, grace).await;
    }

    /// SIGKILL at once, as a crash would (fault tests).
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// SIGTERM a child, then SIGKILL if it has not exited after `grace`.
pub async fn terminate(child: &mut Child, grace: Duration) {
    if let Some(pid) = child.id() {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        if tokio::time::timeout(grace, child.wait()).await.is_ok() {
            return;
        }
    }
    let _ = child.kill().await;
}
