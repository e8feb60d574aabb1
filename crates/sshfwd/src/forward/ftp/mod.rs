//! FTP-aware forwarding (`-L ftp/…`, `-R ftp/…`): the control connection
//! is relayed through SSH and watched; every data channel it announces
//! gets a one-shot forwarding of its own.

mod control;
mod endpoints;
mod limits;
mod lines;
mod one_shot;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;

use ssh_files::config::FtpSettings;
use ssh_files::forward_spec::HostPort;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

pub use control::{FtpSession, SessionParams};
pub use endpoints::Endpoints;
pub use limits::{DataLimits, LimitReached, SessionIds, DATA_CHANNELS_PER_SESSION};
pub use lines::MAX_LINE;

use crate::audit::AuditLog;
use crate::ssh::{ChannelOpenError, DataChannel, Forwarded, Tunnel};

/// What an FTP forwarding needs to run its sessions, besides the tunnel
/// and whatever accepts its control connections.
#[derive(Clone, Debug)]
pub struct FtpForward {
    /// Where control connections go.
    pub target: HostPort,
    pub settings: FtpSettings,
    pub limits: DataLimits,
    pub ids: SessionIds,
    pub audit: AuditLog,
}

impl FtpForward {
    /// `-L ftp/`: a control connection accepted here goes through a
    /// direct-tcpip channel to the target.
    pub async fn local_session<T: Tunnel>(&self, tunnel: Arc<T>, mut client: TcpStream, peer: SocketAddr) {
        let id = self.ids.next();
        let HostPort { host, port } = &self.target;
        let Ok(listen_ip) = client.local_addr().map(|a| a.ip()) else { return };
        tracing::debug!("ftp session {id}: control connection from {peer} to {}", self.target);
        let channel = match tunnel.open_direct_tcpip(host, *port, peer).await {
            Ok(c) => c,
            Err(e) => {
                tracing::info!("ftp session {id}: channel open failed: connect to {} failed: {e}", self.target);
                // An FTP client shows a 421 greeting; a bare close looks
                // like a network fault (or, reconnecting, like a hang).
                let reply = match e {
                    ChannelOpenError::Reconnecting { .. } => format!("421 sshfwd: {e}\r\n"),
                    ChannelOpenError::Refused(_) => format!("421 sshfwd: connect to {} failed: {e}\r\n", self.target),
                };
                let _ = client.write_all(reply.as_bytes()).await;
                let _ = client.shutdown().await;
                return;
            }
        };
        let endpoints = Endpoints::Local { listen_ip, active_bind: self.settings.active_bind_address };
        let params = self.params(id, peer, endpoints);
        FtpSession::new(params, tunnel).run(client, channel.into_stream()).await;
    }

    /// `-R ftp/`: a control connection the SSH server accepted on
    /// `remote_bind` is connected from here to the target.
    pub async fn remote_session<T: Tunnel>(
        &self,
        tunnel: Arc<T>,
        connection: Forwarded<T::Channel>,
        remote_bind: String,
    ) {
        let id = self.ids.next();
        let client_addr = connection.originator;
        tracing::debug!("ftp session {id}: control connection from {client_addr} (server side) to {}", self.target);
        let Ok((client, server)) =
            super::remote::connect_channel(connection, (self.target.host.as_str(), self.target.port)).await
        else {
            return;
        };
        let (Ok(local), Ok(server_addr)) = (server.local_addr(), server.peer_addr()) else { return };
        let endpoints = Endpoints::Remote { remote_bind, server_facing_ip: local.ip(), server_ip: server_addr.ip() };
        let params = self.params(id, client_addr, endpoints);
        FtpSession::new(params, tunnel).run(client.into_stream(), server).await;
    }

    fn params(&self, id: u64, client_addr: SocketAddr, endpoints: Endpoints) -> SessionParams {
        SessionParams {
            id,
            client_addr,
            server_host: self.target.host.clone(),
            endpoints,
            settings: self.settings.clone(),
            limits: self.limits.clone(),
            audit: self.audit.clone(),
        }
    }
}

/// The SSH-server-side address that `-R ftp/` passive forwardings bind:
/// the forwarding's own, or loopback.
pub fn remote_bind_for_passive(requested: &str) -> String {
    if requested.is_empty() || requested == "localhost" {
        "127.0.0.1".to_owned()
    } else {
        requested.to_owned()
    }
}
