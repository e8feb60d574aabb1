//! russh's client callbacks: the host key check and the dispatch of
//! connections that the server opens for our remote forwardings.

use std::sync::Arc;

use russh::client::{ChannelOpenHandle, Msg, Session};
use russh::keys::PublicKey;
use russh::keys::PublicKeyOrCertificate;
use russh::Channel;

use super::channel::SshChannel;
use super::hostkey::{HostKeyError, HostKeyPolicy};
use super::prompt::Prompter;
use super::remote_registry::RemoteRegistry;
use super::tunnel::{Forwarded, ForwardedStream};

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Ssh(#[from] russh::Error),
    #[error(transparent)]
    HostKey(#[from] HostKeyError),
    #[error("the server presented a certificate; host certificates are not supported")]
    Certificate,
}

pub struct ClientHandler {
    pub(super) policy: HostKeyPolicy,
    pub(super) prompter: Prompter,
    pub(super) remote: Arc<RemoteRegistry>,
    /// The key the server proved, kept for logging after the handshake.
    pub(super) server_key: Option<PublicKey>,
    /// Tells the application why the session ended.
    pub(super) ended: tokio::sync::watch::Sender<Option<SessionEnd>>,
    /// The agent socket for forwarded agent channels (`-A`); `None`
    /// refuses them.
    pub(super) agent: Option<std::path::PathBuf>,
}

/// Why the SSH session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    /// ServerAliveCountMax keepalives went unanswered.
    KeepaliveTimeout,
    /// The server sent a disconnect message.
    ServerDisconnect(String),
    /// The transport failed.
    Error(String),
    /// The session closed without either.
    Closed,
}

impl Drop for ClientHandler {
    fn drop(&mut self) {
        self.ended.send_if_modified(|end| {
            if end.is_none() {
                *end = Some(SessionEnd::Closed);
                true
            } else {
                false
            }
        });
    }
}

impl russh::client::Handler for ClientHandler {
    type Error = HandlerError;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            return Err(HandlerError::Certificate);
        };
        tracing::debug!(
            "Server host key: {} {}",
            key.algorithm().as_str(),
            key.fingerprint(russh::keys::HashAlg::Sha256)
        );
        let policy = self.policy.clone();
        let prompter = self.prompter.clone();
        let owned = key.clone();
        // The check may prompt on the terminal, which blocks.
        tokio::task::spawn_blocking(move || policy.verify(&owned, &prompter))
            .await
            .map_err(|_| HostKeyError::VerificationFailed)??;
        self.server_key = Some(key.clone());
        Ok(true)
    }

    async fn disconnected(&mut self, reason: russh::client::DisconnectReason<Self::Error>) -> Result<(), Self::Error> {
        let (end, result) = match reason {
            russh::client::DisconnectReason::ReceivedDisconnect(info) => {
                (SessionEnd::ServerDisconnect(info.message), Ok(()))
            }
            russh::client::DisconnectReason::Error(HandlerError::Ssh(russh::Error::KeepaliveTimeout)) => {
                (SessionEnd::KeepaliveTimeout, Err(HandlerError::Ssh(russh::Error::KeepaliveTimeout)))
            }
            russh::client::DisconnectReason::Error(e) => (SessionEnd::Error(e.to_string()), Err(e)),
        };
        self.ended.send_replace(Some(end));
        result
    }

    async fn auth_banner(&mut self, banner: &str, _session: &mut Session) -> Result<(), Self::Error> {
        tracing::info!("{}", banner.trim_end());
        Ok(())
    }

    /// A forwarded agent connection (`-A`): relayed to the local agent,
    /// refused unless the user asked for agent forwarding.
    async fn server_channel_open_agent_forward(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(path) = self.agent.clone() else {
            tracing::info!("refusing an agent channel: agent forwarding was not requested");
            drop(reply);
            return Ok(());
        };
        let agent = match tokio::net::UnixStream::connect(&path).await {
            Ok(agent) => agent,
            Err(e) => {
                tracing::debug!("agent forwarding: connect to {}: {e}", path.display());
                drop(reply);
                return Ok(());
            }
        };
        reply.accept().await;
        tokio::spawn(async move {
            let mut channel = channel.into_stream();
            let mut agent = agent;
            if let Err(e) = tokio::io::copy_bidirectional(&mut channel, &mut agent).await {
                tracing::debug!("agent forwarding: {e}");
            }
        });
        Ok(())
    }

    async fn server_channel_open_forwarded_tcpip(
        &mut self,
        channel: Channel<Msg>,
        connected_address: &str,
        connected_port: u32,
        originator_address_text: &str,
        originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(sink) = self.remote.lookup(connected_address, connected_port) else {
            tracing::debug!(
                "refusing forwarded-tcpip for {connected_address}:{connected_port}: no such remote forwarding"
            );
            drop(reply);
            return Ok(());
        };
        // The originator is what FTP bounce protection compares against:
        // a channel without a usable one is refused, never given a default.
        let Some(originator) = originator_address(originator_address_text, originator_port) else {
            tracing::info!(
                "refusing forwarded-tcpip for {connected_address}:{connected_port}: originator {originator_address_text:?} port {originator_port} is not an address"
            );
            drop(reply);
            return Ok(());
        };
        // A place in the receiver's queue first: the session task must not
        // wait on a forwarding that has fallen behind.
        let Ok(place) = sink.try_reserve() else {
            tracing::info!(
                "refusing forwarded-tcpip from {originator} for {connected_address}:{connected_port}: too many connections waiting for this forwarding"
            );
            drop(reply);
            return Ok(());
        };
        reply.accept().await;
        place.send(Forwarded { channel: SshChannel(channel), originator });
        Ok(())
    }

    async fn server_channel_open_forwarded_streamlocal(
        &mut self,
        channel: Channel<Msg>,
        socket_path: &str,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        // A refused channel's `reply` is dropped, which rejects it.
        self.forwarded_streamlocal(channel, socket_path, reply).await;
        Ok(())
    }
}

impl ClientHandler {
    async fn forwarded_streamlocal(&self, channel: Channel<Msg>, path: &str, reply: ChannelOpenHandle) {
        let Some(sink) = self.remote.lookup_path(path) else {
            tracing::debug!("refusing forwarded-streamlocal for {path}: no such remote forwarding");
            return;
        };
        let Ok(place) = sink.try_reserve() else {
            tracing::info!(
                "refusing forwarded-streamlocal for {path}: too many connections waiting for this forwarding"
            );
            return;
        };
        reply.accept().await;
        place.send(ForwardedStream { channel: SshChannel(channel) });
    }
}

/// A forwarded-tcpip originator as an address, or `None` when the server
/// sent something else.
fn originator_address(address: &str, port: u32) -> Option<std::net::SocketAddr> {
    let ip = address.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().ok()?;
    Some(std::net::SocketAddr::new(ip, u16::try_from(port).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn originators_are_addresses_or_nothing() {
        assert_eq!(originator_address("192.0.2.7", 40000), Some("192.0.2.7:40000".parse().unwrap()));
        assert_eq!(originator_address("::1", 2), Some("[::1]:2".parse().unwrap()));
        assert_eq!(originator_address("[::1]", 2), Some("[::1]:2".parse().unwrap()));
        // Fails closed: no fallback to 127.0.0.1, the address bounce
        // protection compares PORT commands against.
        for (address, port) in [("", 1), ("localhost", 1), ("1.2.3.4:5", 1), ("1.2.3.4", 70000)] {
            assert_eq!(originator_address(address, port), None, "{address} {port}");
        }
    }
}
