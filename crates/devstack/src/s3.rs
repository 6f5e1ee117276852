//! An S3-compatible endpoint over a local directory (`s3s-fs`), served over HTTP on loopback
//! with SigV4 authentication, so workers talk to it exactly as they talk to AWS or MinIO.

use crate::{StackError, ports};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// A running endpoint. Dropping it stops serving.
pub struct S3Endpoint {
    addr: SocketAddr,
    root: PathBuf,
    access_key: String,
    secret_key: String,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl S3Endpoint {
    /// Serves `root` on 127.0.0.1:`port` (0 picks a free port) with one access key pair, and
    /// creates `buckets` (directories under `root`).
    pub async fn start(root: &Path, port: u16, access_key: &str, secret_key: &str, buckets: &[&str]) -> Result<Self, StackError> {
        let io = |what: &str| {
            let what = what.to_owned();
            move |source| StackError::Io { what, source }
        };
        for bucket in buckets {
            std::fs::create_dir_all(root.join(bucket)).map_err(io("creating a bucket directory"))?;
        }
        if port != 0 {
            ports::ensure_free(port, "the S3 endpoint", "S3_PORT")?;
        }
        let fs = s3s_fs::FileSystem::new(root).map_err(|e| StackError::Io {
            what: format!("opening {} as S3 storage", root.display()),
            source: std::io::Error::other(format!("{e:?}")),
        })?;
        let service = {
            let mut builder = S3ServiceBuilder::new(fs);
            builder.set_auth(SimpleAuth::from_single(access_key, secret_key));
            builder.build()
        };
        let listener = TcpListener::bind(("127.0.0.1", port)).await.map_err(io("binding the S3 endpoint"))?;
        let addr = listener.local_addr().map_err(io("reading the S3 endpoint address"))?;
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            loop {
                let socket = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((socket, _)) => socket,
                        Err(e) => { tracing::warn!(error = %e, "S3 endpoint accept failed"); continue; }
                    },
                    _ = stopped.changed() => break,
                };
                let conn = http.serve_connection(TokioIo::new(socket), service.clone()).into_owned();
                let mut conn_stopped = stopped.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = conn => {}
                        _ = conn_stopped.changed() => {}
                    }
                });
            }
        });
        Ok(Self { addr, root: root.to_owned(), access_key: access_key.to_owned(), secret_key: secret_key.to_owned(), stop, task: Some(task) })
    }

    /// An outage: stops serving and drops open connections, waits `down_for` (clients see
    /// connection refused), then serves the same directory on the same port again.
    pub async fn restart(&mut self, down_for: std::time::Duration) -> Result<(), StackError> {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        tokio::time::sleep(down_for).await;
        let fresh = Self::start(&self.root, self.addr.port(), &self.access_key, &self.secret_key, &[]).await?;
        *self = fresh;
        Ok(())
    }

    /// `http://127.0.0.1:port`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The directory it serves.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Stops serving and closes open connections (fault tests restart it on the same port).
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for S3Endpoint {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
