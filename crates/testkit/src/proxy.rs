//! A proxy between a client and a test's S3 endpoint that counts what passes (HTTP requests,
//! bytes each way) and can answer chosen requests with an error status instead of forwarding
//! them: how the tests check that a footprint reads only a header, and that a failing store is
//! retried. HTTP/1.1 only (what S3 clients speak to a plain-HTTP endpoint); a request body is
//! forwarded by its `Content-Length`, and a chunked one ends the inspection of its connection.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};

/// The start of one request, as the proxy saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// `GET`, `HEAD`, `PUT`, ...
    pub method: String,
    /// The request target (path and query).
    pub target: String,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    /// The value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// What passed through the proxy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Requests forwarded.
    pub requests: u64,
    /// Requests answered with an injected error.
    pub rejected: u64,
    /// Bytes from the endpoint to the client (responses, headers included).
    pub response_bytes: u64,
    /// Bytes from the client to the endpoint (requests, headers included).
    pub request_bytes: u64,
}

type Matcher = Box<dyn Fn(&RequestHead) -> bool + Send + Sync>;

struct Fault {
    matches: Matcher,
    remaining: u64,
    status: u16,
}

#[derive(Default)]
struct Shared {
    requests: AtomicU64,
    rejected: AtomicU64,
    response_bytes: AtomicU64,
    request_bytes: AtomicU64,
    fault: Mutex<Option<Fault>>,
}

/// A running proxy; it stops when dropped.
pub struct CountingProxy {
    port: u16,
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
}

impl CountingProxy {
    /// Listens on a free port of 127.0.0.1, forwarding every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared::default());
        let for_accept = shared.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let shared = for_accept.clone();
                tokio::spawn(async move {
                    // A connection that breaks is the client's or the endpoint's business.
                    let _ = serve(client, upstream, shared).await;
                });
            }
        });
        Ok(Self { port, shared, accept })
    }

    /// `http://127.0.0.1:port`: the endpoint to give the client.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What passed so far.
    pub fn traffic(&self) -> Traffic {
        let s = &self.shared;
        Traffic {
            requests: s.requests.load(Ordering::SeqCst),
            rejected: s.rejected.load(Ordering::SeqCst),
            response_bytes: s.response_bytes.load(Ordering::SeqCst),
            request_bytes: s.request_bytes.load(Ordering::SeqCst),
        }
    }

    /// Answers the next `count` requests that `matches` accepts with `status` (and closes their
    /// connection) instead of forwarding them.
    pub fn fail_next(&self, count: u64, status: u16, matches: impl Fn(&RequestHead) -> bool + Send + Sync + 'static) {
        let fault = Fault { matches: Box::new(matches), remaining: count, status };
        *self.shared.fault.lock().unwrap_or_else(|p| p.into_inner()) = Some(fault);
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The status to answer `head` with instead of forwarding it, if a fault wants it.
fn injected(shared: &Shared, head: &RequestHead) -> Option<u16> {
    let mut fault = shared.fault.lock().unwrap_or_else(|p| p.into_inner());
    let f = fault.as_mut()?;
    if f.remaining == 0 || !(f.matches)(head) {
        return None;
    }
    f.remaining -= 1;
    Some(f.status)
}

async fn serve(client: TcpStream, upstream: SocketAddr, shared: Arc<Shared>) -> std::io::Result<()> {
    let server = TcpStream::connect(upstream).await?;
    let (client_read, client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let client_write = Arc::new(tokio::sync::Mutex::new(client_write));

    // Responses: copied as they come, counted.
    let to_client = client_write.clone();
    let counting = shared.clone();
    let responses = tokio::spawn(async move {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = match server_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            counting.response_bytes.fetch_add(n as u64, Ordering::SeqCst);
            if to_client.lock().await.write_all(&buffer[..n]).await.is_err() {
                break;
            }
        }
        let _ = to_client.lock().await.shutdown().await;
    });

    let mut reader = BufReader::new(client_read);
    let outcome = forward_requests(&mut reader, &mut server_write, &client_write, &shared).await;
    let _ = server_write.shutdown().await;
    if outcome.is_err() {
        responses.abort();
    } else {
        let _ = responses.await;
    }
    outcome
}

/// Reads requests from the client one by one, forwarding them (or answering an injected
/// error), until the client closes or a request cannot be followed.
async fn forward_requests(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    server: &mut OwnedWriteHalf,
    client: &tokio::sync::Mutex<OwnedWriteHalf>,
    shared: &Shared,
) -> std::io::Result<()> {
    loop {
        let mut head_bytes = Vec::new();
        loop {
            let n = reader.read_until(b'\n', &mut head_bytes).await?;
            if n == 0 {
                return Ok(());
            }
            if head_bytes.ends_with(b"\r\n\r\n") || head_bytes == b"\r\n" {
                break;
            }
        }
        let text = String::from_utf8_lossy(&head_bytes).into_owned();
        let mut lines = text.split("\r\n");
        let mut first = lines.next().unwrap_or_default().split(' ');
        let head = RequestHead {
            method: first.next().unwrap_or_default().to_owned(),
            target: first.next().unwrap_or_default().to_owned(),
            headers: lines
                .filter_map(|line| line.split_once(':'))
                .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
                .collect(),
        };
        if let Some(status) = injected(shared, &head) {
            shared.rejected.fetch_add(1, Ordering::SeqCst);
            let response = format!("HTTP/1.1 {status} Injected\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let mut client = client.lock().await;
            client.write_all(response.as_bytes()).await?;
            client.shutdown().await?;
            return Ok(());
        }
        shared.requests.fetch_add(1, Ordering::SeqCst);
        shared.request_bytes.fetch_add(head_bytes.len() as u64, Ordering::SeqCst);
        server.write_all(&head_bytes).await?;
        if head.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
            // Not followed: the rest of the connection passes through unread.
            let copied = tokio::io::copy(reader, server).await?;
            shared.request_bytes.fetch_add(copied, Ordering::SeqCst);
            return Ok(());
        }
        let length: u64 = head.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        let copied = tokio::io::copy(&mut reader.take(length), server).await?;
        shared.request_bytes.fetch_add(copied, Ordering::SeqCst);
    }
}
