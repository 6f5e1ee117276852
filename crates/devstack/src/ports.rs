//! Port helpers: a taken port is a clear error before anything starts, never a hang.

use crate::StackError;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};

/// Fails with [`StackError::PortTaken`] when `port` cannot be bound on 127.0.0.1.
pub fn ensure_free(port: u16, what: &'static str, setting: &'static str) -> Result<(), StackError> {
    TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)).map(drop).map_err(|_| StackError::PortTaken { port, what, setting })
}

/// A port the OS reports free right now (tests run several stacks side by side).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

/// True when something accepts TCP connections on 127.0.0.1:`port`.
pub async fn is_listening(port: u16) -> bool {
    tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await.is_ok()
}
