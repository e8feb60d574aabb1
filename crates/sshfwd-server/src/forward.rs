//! TCP for the forwardings: connecting direct-tcpip targets, listening for
//! remote forwardings, and relaying bytes with half-close.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use russh::server::{Handle, Msg};
use russh::ChannelStream;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Per-direction relay buffer: enough to fill SSH packets in one read.
const RELAY_BUFFER: usize = 256 * 1024;

/// Moves bytes both ways until both directions have ended. When one side
/// ends its stream the other is told (EOF on the channel, FIN on the
/// socket) and the opposite direction keeps flowing. Returns the bytes moved
/// (socket to channel, channel to socket).
pub(crate) async fn relay(mut socket: TcpStream, mut channel: ChannelStream<Msg>) -> std::io::Result<(u64, u64)> {
    tokio::io::copy_bidirectional_with_sizes(&mut socket, &mut channel, RELAY_BUFFER, RELAY_BUFFER).await
}

/// Connects to a direct-tcpip target within `timeout`.
pub(crate) async fn connect(host: &str, port: u16, timeout: Duration) -> std::io::Result<TcpStream> {
    let attempt = TcpStream::connect((host, port));
    let stream = tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connection timed out"))??;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Where a remote forwarding listens, given the address the client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BindPlan {
    /// These addresses; failures after the first are tolerated (a host
    /// without IPv6 still gets its IPv4 loopback).
    Addresses(Vec<IpAddr>),
    /// A name to resolve (gateway mode only).
    Name(String),
}

/// sshd's rules: without gateway ports, loopback whatever was asked (an
/// explicit loopback address is kept); with them, `""`/`*` mean every
/// address, `localhost` means loopback, anything else is bound as given.
pub(crate) fn bind_plan(requested: &str, gateway_ports: bool) -> BindPlan {
    let loopback = BindPlan::Addresses(vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)]);
    let literal: Option<IpAddr> = requested.trim_start_matches('[').trim_end_matches(']').parse().ok();
    if !gateway_ports {
        return match literal {
            Some(ip) if ip.is_loopback() => BindPlan::Addresses(vec![ip]),
            _ => loopback,
        };
    }
    match requested {
        "" | "*" => BindPlan::Addresses(vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED), IpAddr::V6(Ipv6Addr::UNSPECIFIED)]),
        "localhost" => loopback,
        _ => match literal {
            Some(ip) => BindPlan::Addresses(vec![ip]),
            None => BindPlan::Name(requested.to_owned()),
        },
    }
}

/// Binds the listeners for a remote forwarding; with port 0 the first
/// listener picks the port and the others use the same one. Returns the
/// listeners and the port.
pub(crate) async fn listen(plan: BindPlan, port: u16) -> std::io::Result<(Vec<TcpListener>, u16)> {
    let addresses: Vec<IpAddr> = match plan {
        BindPlan::Addresses(addresses) => addresses,
        BindPlan::Name(name) => tokio::net::lookup_host((name.as_str(), port)).await?.map(|a| a.ip()).take(1).collect(),
    };
    let mut listeners = Vec::new();
    let mut port = port;
    let mut first_error = None;
    for ip in addresses {
        match bind(SocketAddr::new(ip, port)) {
            Ok(listener) => {
                if port == 0 {
                    port = listener.local_addr()?.port();
                }
                listeners.push(listener);
            }
            Err(e) if listeners.is_empty() => {
                first_error.get_or_insert(e);
            }
            Err(e) => tracing::debug!("not listening on {ip} port {port}: {e}"),
        }
    }
    if listeners.is_empty() {
        return Err(first_error.unwrap_or_else(|| std::io::Error::other("no address to listen on")));
    }
    Ok((listeners, port))
}

fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match address {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(128)
}

/// What an accept loop needs to open forwarded-tcpip channels.
pub(crate) struct RemoteForward {
    /// The session, to open channels on.
    pub(crate) handle: Handle,
    /// The address as the client sent it (it matches channels by it).
    pub(crate) address: String,
    pub(crate) port: u16,
    pub(crate) user: String,
    /// Cancelled by cancel-tcpip-forward or the end of the session.
    pub(crate) token: CancellationToken,
}

/// Accepts connections on `listener` until the forwarding is cancelled,
/// opening a forwarded-tcpip channel to the client for each.
pub(crate) async fn accept_loop(forward: std::sync::Arc<RemoteForward>, listener: TcpListener) {
    loop {
        let accepted = tokio::select! {
            () = forward.token.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (socket, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!("remote forward {}:{}: accept failed: {e}", forward.address, forward.port);
                tokio::select! {
                    () = forward.token.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        let _ = socket.set_nodelay(true);
        let forward = forward.clone();
        tokio::spawn(async move {
            let opened = forward
                .handle
                .channel_open_forwarded_tcpip(
                    forward.address.clone(),
                    u32::from(forward.port),
                    peer.ip().to_string(),
                    u32::from(peer.port()),
                )
                .await;
            match opened {
                Ok(channel) => {
                    tracing::info!(
                        "forwarded-tcpip: {} port {} to {} via listener {}:{}",
                        peer.ip(),
                        peer.port(),
                        forward.user,
                        forward.address,
                        forward.port
                    );
                    // Not tied to the forward's token: cancel-tcpip-forward
                    // stops the listener, not the connections it accepted
                    // (an FTP client cancels a one-shot forward as soon as
                    // its data connection arrives). A session's end closes
                    // the channel, which ends the relay.
                    let stream = channel.into_stream();
                    match relay(socket, stream).await {
                        Ok((up, down)) => tracing::debug!(
                            "forwarded-tcpip from {} port {} closed: {up} bytes in, {down} bytes out",
                            peer.ip(),
                            peer.port()
                        ),
                        Err(e) => tracing::debug!("forwarded-tcpip from {} port {} ended: {e}", peer.ip(), peer.port()),
                    }
                }
                Err(e) => tracing::info!(
                    "forwarded-tcpip: {} refused the connection from {} port {} on {}:{}: {e}",
                    forward.user,
                    peer.ip(),
                    peer.port(),
                    forward.address,
                    forward.port
                ),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> BindPlan {
        BindPlan::Addresses(list.iter().map(|s| s.parse().unwrap()).collect())
    }

    #[test]
    fn loopback_without_gateway_ports() {
        for asked in ["", "*", "localhost", "0.0.0.0", "10.1.2.3", "example.com"] {
            assert_eq!(bind_plan(asked, false), ips(&["127.0.0.1", "::1"]), "{asked}");
        }
        assert_eq!(bind_plan("127.0.0.1", false), ips(&["127.0.0.1"]));
        assert_eq!(bind_plan("::1", false), ips(&["::1"]));
    }

    #[test]
    fn gateway_ports_honour_the_request() {
        assert_eq!(bind_plan("", true), ips(&["0.0.0.0", "::"]));
        assert_eq!(bind_plan("*", true), ips(&["0.0.0.0", "::"]));
        assert_eq!(bind_plan("localhost", true), ips(&["127.0.0.1", "::1"]));
        assert_eq!(bind_plan("10.1.2.3", true), ips(&["10.1.2.3"]));
        assert_eq!(bind_plan("[::1]", true), ips(&["::1"]));
        assert_eq!(bind_plan("gw.example", true), BindPlan::Name("gw.example".into()));
    }

    #[tokio::test]
    async fn port_zero_allocates_one_port_for_all_addresses() {
        let (listeners, port) = listen(bind_plan("localhost", false), 0).await.unwrap();
        assert_ne!(port, 0);
        for listener in &listeners {
            assert_eq!(listener.local_addr().unwrap().port(), port);
        }
    }
}
