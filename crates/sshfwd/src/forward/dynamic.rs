//! -D: a SOCKS server (SOCKS5 CONNECT with IPv4, IPv6 and domain names;
//! SOCKS4 and 4a) whose connections go through direct-tcpip channels.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::relay;
use crate::ssh::Tunnel;

/// A client that does not finish its SOCKS request in this time is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub(super) enum SocksError {
    #[error("unsupported SOCKS version {0}")]
    Version(u8),
    #[error("SOCKS client offered no acceptable authentication method")]
    NoMethod,
    #[error("unsupported SOCKS command {0}")]
    Command(u8),
    #[error("unsupported SOCKS address type {0}")]
    AddressType(u8),
    #[error("SOCKS handshake timed out")]
    Timeout,
    #[error("SOCKS handshake: {0}")]
    Io(#[from] std::io::Error),
}

/// A SOCKS request, with the reply format it expects.
pub(super) struct Request {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) version: u8,
}

/// Serves one SOCKS client: its request, then the relay.
pub async fn connection<T: Tunnel>(tunnel: Arc<T>, mut stream: TcpStream, peer: SocketAddr) {
    let request = match handshake(&mut stream).await {
        Ok(r) => r,
        Err(e) => {
            tracing::info!("dynamic forwarding from {peer}: {e}");
            return;
        }
    };
    tracing::debug!("dynamic forwarding from {peer} to {}:{}", request.host, request.port);
    let channel = match tunnel.open_direct_tcpip(&request.host, request.port, peer).await {
        Ok(c) => c,
        Err(e) => {
            tracing::info!("channel: open failed: connect to {}:{} failed: {e}", request.host, request.port);
            let _ = stream.write_all(&failure_reply(request.version)).await;
            return;
        }
    };
    if stream.write_all(&success_reply(request.version)).await.is_err() {
        return;
    }
    if let Err(e) = relay::relay(channel, stream).await {
        tracing::debug!("dynamic forwarding {peer} -> {}:{} ended: {e}", request.host, request.port);
    }
}

/// Reads a SOCKS request, within the handshake's time.
pub(super) async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) -> Result<Request, SocksError> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, read_request(stream)).await.map_err(|_| SocksError::Timeout)?
}

async fn read_request<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) -> Result<Request, SocksError> {
    match stream.read_u8().await? {
        5 => read_socks5(stream).await,
        4 => read_socks4(stream).await,
        v => Err(SocksError::Version(v)),
    }
}

async fn read_socks5<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) -> Result<Request, SocksError> {
    let count = stream.read_u8().await?;
    let mut methods = vec![0u8; usize::from(count)];
    stream.read_exact(&mut methods).await?;
    if !methods.contains(&0) {
        stream.write_all(&[5, 0xff]).await?;
        return Err(SocksError::NoMethod);
    }
    stream.write_all(&[5, 0]).await?;
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).await?;
    let [version, command, _, address_type] = header;
    if version != 5 {
        return Err(SocksError::Version(version));
    }
    if command != 1 {
        stream.write_all(&[5, 7, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
        return Err(SocksError::Command(command));
    }
    let host = match address_type {
        1 => {
            let mut a = [0u8; 4];
            stream.read_exact(&mut a).await?;
            Ipv4Addr::from(a).to_string()
        }
        3 => {
            let len = stream.read_u8().await?;
            let mut name = vec![0u8; usize::from(len)];
            stream.read_exact(&mut name).await?;
            String::from_utf8_lossy(&name).into_owned()
        }
        4 => {
            let mut a = [0u8; 16];
            stream.read_exact(&mut a).await?;
            Ipv6Addr::from(a).to_string()
        }
        t => {
            stream.write_all(&[5, 8, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
            return Err(SocksError::AddressType(t));
        }
    };
    let port = stream.read_u16().await?;
    Ok(Request { host, port, version: 5 })
}

async fn read_socks4<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) -> Result<Request, SocksError> {
    let command = stream.read_u8().await?;
    let port = stream.read_u16().await?;
    let mut ip = [0u8; 4];
    stream.read_exact(&mut ip).await?;
    read_nul_terminated(stream).await?; // user id, unused
    if command != 1 {
        stream.write_all(&failure_reply(4)).await?;
        return Err(SocksError::Command(command));
    }
    // SOCKS4a: 0.0.0.x with x != 0 means a host name follows.
    let host = if ip[..3] == [0, 0, 0] && ip[3] != 0 {
        read_nul_terminated(stream).await?
    } else {
        Ipv4Addr::from(ip).to_string()
    };
    Ok(Request { host, port, version: 4 })
}

async fn read_nul_terminated<S: AsyncRead + Unpin>(stream: &mut S) -> Result<String, SocksError> {
    let mut bytes = Vec::new();
    loop {
        let b = stream.read_u8().await?;
        if b == 0 {
            break;
        }
        if bytes.len() >= 255 {
            return Err(SocksError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, "SOCKS4 field too long")));
        }
        bytes.push(b);
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

pub(super) fn success_reply(version: u8) -> Vec<u8> {
    match version {
        4 => vec![0, 0x5a, 0, 0, 0, 0, 0, 0],
        _ => vec![5, 0, 0, 1, 0, 0, 0, 0, 0, 0],
    }
}

pub(super) fn failure_reply(version: u8) -> Vec<u8> {
    match version {
        4 => vec![0, 0x5b, 0, 0, 0, 0, 0, 0],
        _ => vec![5, 1, 0, 1, 0, 0, 0, 0, 0, 0],
    }
}
