//! The direct TCP connection, as OpenSSH's `ssh_connect_direct`: every
//! address of the host (of the chosen family) in turn, up to
//! `ConnectionAttempts` rounds a second apart, from `BindAddress` or
//! `BindInterface` when set, with SO_KEEPALIVE unless `TCPKeepAlive no`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use sshfwd_net::io_reason;
use tokio::net::{TcpSocket, TcpStream};

use super::super::connection::ConnectError;
use super::{interface, SocketOptions};

/// OpenSSH waits this long between two rounds of attempts.
const RETRY_DELAY: Duration = Duration::from_secs(1);

pub async fn connect(
    host: &str,
    port: u16,
    timeout: Option<Duration>,
    options: &SocketOptions,
) -> Result<TcpStream, ConnectError> {
    let host_for_lookup = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host_for_lookup, port))
        .await
        .map_err(|_| ConnectError::Resolve { host: host.to_owned() })?
        .filter(|addr| options.address_family.allows(&addr.ip()))
        .collect();
    if addrs.is_empty() {
        return Err(ConnectError::Resolve { host: host.to_owned() });
    }
    let mut last = String::from("Connection refused");
    for attempt in 0..options.connection_attempts.max(1) {
        if attempt > 0 {
            tokio::time::sleep(RETRY_DELAY).await;
            tracing::debug!("Trying again...");
        }
        for &addr in &addrs {
            tracing::debug!("Connecting to {host} [{}] port {port}.", addr.ip());
            let socket = match socket_for(addr, options).await {
                Ok(socket) => socket,
                Err(message) => {
                    // OpenSSH logs why and tries the next address.
                    tracing::error!("{message}");
                    last = "failure".into();
                    continue;
                }
            };
            let attempt = socket.connect(addr);
            let result = match timeout {
                Some(t) => match tokio::time::timeout(t, attempt).await {
                    Ok(r) => r,
                    Err(_) => {
                        last = "Connection timed out".into();
                        continue;
                    }
                },
                None => attempt.await,
            };
            match result {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    if options.keepalive {
                        if let Err(e) = socket2::SockRef::from(&stream).set_keepalive(true) {
                            tracing::error!("setsockopt SO_KEEPALIVE: {}", io_reason(&e));
                        }
                    }
                    tracing::debug!("Connection established.");
                    return Ok(stream);
                }
                Err(e) => {
                    tracing::debug!("connect to address {} port {port}: {}", addr.ip(), io_reason(&e));
                    last = io_reason(&e);
                }
            }
        }
    }
    Err(ConnectError::Tcp { host: host.to_owned(), port, reason: last })
}

/// A socket of `addr`'s family, bound where the options say; the error is
/// OpenSSH's message.
async fn socket_for(addr: SocketAddr, options: &SocketOptions) -> Result<TcpSocket, String> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|e| format!("socket: {}", io_reason(&e)))?;
    let local = match (&options.bind_address, &options.bind_interface) {
        (Some(name), _) => bind_address(name, addr.is_ipv6()).await?,
        (None, Some(name)) => interface::address(name, addr.is_ipv6())
            .ok_or_else(|| format!("getifaddrs: {name}: no suitable addresses"))?,
        (None, None) => return Ok(socket),
    };
    socket.bind(SocketAddr::new(local, 0)).map_err(|e| format!("bind {local}: {}", io_reason(&e)))?;
    tracing::debug!("bound to {local}");
    Ok(socket)
}

/// `BindAddress`: an address, or a name resolved to one of the family
/// being connected.
async fn bind_address(name: &str, ipv6: bool) -> Result<IpAddr, String> {
    if let Ok(address) = name.parse::<IpAddr>() {
        return Ok(address);
    }
    let unresolved = || format!("getaddrinfo: {name}: Name or service not known");
    tokio::net::lookup_host((name, 0))
        .await
        .map_err(|_| unresolved())?
        .map(|addr| addr.ip())
        .find(|ip| ip.is_ipv6() == ipv6)
        .ok_or_else(unresolved)
}
