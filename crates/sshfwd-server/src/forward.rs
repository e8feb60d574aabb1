//! TCP for the forwardings: connecting direct-tcpip targets, listening for
//! remote forwardings, and relaying bytes with half-close.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use russh::server::{Handle, Msg};
use russh::ChannelStream;
use sshfwd_net::{AcceptOptions, ListenAddress, Service};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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

/// Remote-forwarded connections one forwarding relays at once; past that a
/// connection is closed at once rather than queued behind the others.
const MAX_FORWARDED_CONNECTIONS: usize = 1024;

/// Where a remote forwarding listens, given the address the client sent:
/// sshd's rules. Without gateway ports, loopback whatever was asked (an
/// explicit loopback address is kept); with them, `""`/`*` mean every
/// address, `localhost` means loopback, anything else is bound as given (a
/// name: every address it resolves to).
pub(crate) fn listen_address(requested: &str, gateway_ports: bool) -> ListenAddress {
    let literal: Option<IpAddr> = requested.trim_start_matches('[').trim_end_matches(']').parse().ok();
    if !gateway_ports {
        return match literal {
            Some(ip) if ip.is_loopback() => ListenAddress::Host(ip.to_string()),
            _ => ListenAddress::Loopback,
        };
    }
    match requested {
        "" | "*" => ListenAddress::Any,
        "localhost" => ListenAddress::Loopback,
        _ => ListenAddress::Host(requested.to_owned()),
    }
}

/// What a remote forwarding needs to open forwarded-tcpip channels.
pub(crate) struct RemoteForward {
    /// The session, to open channels on.
    pub(crate) handle: Handle,
    /// The address as the client sent it (it matches channels by it).
    pub(crate) address: String,
    pub(crate) port: u16,
    pub(crate) user: String,
}

/// Accepts connections on `listeners` until `stop` (cancel-tcpip-forward or
/// the end of the session), opening a forwarded-tcpip channel to the client
/// for each.
pub(crate) async fn accept_loop(forward: RemoteForward, listeners: Vec<TcpListener>, stop: CancellationToken) {
    let options = AcceptOptions {
        max_connections: MAX_FORWARDED_CONNECTIONS,
        name: format!("remote forward {}:{} for {}", forward.address, forward.port, forward.user),
    };
    // Nobody waits for these connections: they end with their channel.
    let tracker = TaskTracker::new();
    sshfwd_net::accept::serve(listeners, options, stop, tracker, ForwardedTcpip(Arc::new(forward))).await;
}

/// Relays an accepted connection over a forwarded-tcpip channel.
#[derive(Clone)]
struct ForwardedTcpip(Arc<RemoteForward>);

impl Service for ForwardedTcpip {
    /// Not tied to `_stop`: cancel-tcpip-forward stops the listener, not
    /// the connections it accepted (an FTP client cancels a one-shot
    /// forward as soon as its data connection arrives). A session's end
    /// closes the channel, which ends the relay.
    async fn serve(&self, socket: TcpStream, peer: SocketAddr, _stop: CancellationToken) {
        let forward = &self.0;
        let opened = forward
            .handle
            .channel_open_forwarded_tcpip(
                forward.address.clone(),
                u32::from(forward.port),
                peer.ip().to_string(),
                u32::from(peer.port()),
            )
            .await;
        let channel = match opened {
            Ok(channel) => channel,
            Err(e) => {
                tracing::info!(
                    "forwarded-tcpip: {} refused the connection from {} port {} on {}:{}: {e}",
                    forward.user,
                    peer.ip(),
                    peer.port(),
                    forward.address,
                    forward.port
                );
                return;
            }
        };
        tracing::info!(
            "forwarded-tcpip: {} port {} to {} via listener {}:{}",
            peer.ip(),
            peer.port(),
            forward.user,
            forward.address,
            forward.port
        );
        match relay(socket, channel.into_stream()).await {
            Ok((up, down)) => tracing::debug!(
                "forwarded-tcpip from {} port {} closed: {up} bytes in, {down} bytes out",
                peer.ip(),
                peer.port()
            ),
            Err(e) => tracing::debug!("forwarded-tcpip from {} port {} ended: {e}", peer.ip(), peer.port()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(text: &str) -> ListenAddress {
        ListenAddress::Host(text.to_owned())
    }

    #[test]
    fn loopback_without_gateway_ports() {
        for asked in ["", "*", "localhost", "0.0.0.0", "10.1.2.3", "example.com"] {
            assert_eq!(listen_address(asked, false), ListenAddress::Loopback, "{asked}");
        }
        assert_eq!(listen_address("127.0.0.1", false), host("127.0.0.1"));
        assert_eq!(listen_address("::1", false), host("::1"));
        assert_eq!(listen_address("[::1]", false), host("::1"));
    }

    #[test]
    fn gateway_ports_honour_the_request() {
        assert_eq!(listen_address("", true), ListenAddress::Any);
        assert_eq!(listen_address("*", true), ListenAddress::Any);
        assert_eq!(listen_address("localhost", true), ListenAddress::Loopback);
        assert_eq!(listen_address("10.1.2.3", true), host("10.1.2.3"));
        assert_eq!(listen_address("[::1]", true), host("[::1]"));
        assert_eq!(listen_address("gw.example", true), host("gw.example"));
    }
}
