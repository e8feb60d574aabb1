//! russh's client callbacks: the host key check and the dispatch of
//! connections that the server opens for our remote forwardings.

use std::sync::Arc;

use russh::client::{ChannelOpenHandle, Msg, Session};
use russh::keys::PublicKey;
use russh::keys::PublicKeyOrCertificate;
use russh::Channel;

use super::hostkey::{HostKeyError, HostKeyPolicy};
use super::prompt::Prompter;
use super::remote_registry::{ForwardedConnection, RemoteRegistry};

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

    async fn server_channel_open_forwarded_tcpip(
        &mut self,
        channel: Channel<Msg>,
        connected_address: &str,
        connected_port: u32,
        originator_address: &str,
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
        reply.accept().await;
        let connection = ForwardedConnection {
            channel,
            originator: format!("{originator_address}:{originator_port}"),
            originator_address: originator_address.to_owned(),
        };
        if sink.send(connection).is_err() {
            tracing::debug!("remote forwarding {connected_address}:{connected_port} is gone; connection dropped");
        }
        Ok(())
    }
}
