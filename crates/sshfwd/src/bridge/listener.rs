//! The bridge's port: sshfwd-net's accept loop, one [`serve_session`] per
//! connection, a `421` past the session cap.

use std::net::SocketAddr;
use std::sync::Arc;

use ssh_files::forward_spec::Listen;
use sshfwd_net::AcceptOptions;

use super::{serve_session, BridgeOptions, SftpLogin};
use crate::forward::listener::{self, Connections, Refusal};
use crate::forward::{self, ForwardError, ForwardOptions};

/// Listens on `on` and serves each FTP connection through `login`, at most
/// `forwards.max_bridge_sessions` at once (each holds an SFTP channel, and
/// in passthrough an SSH connection; more are refused with 421); the
/// addresses it listens on.
pub async fn start(
    on: &Listen,
    login: Arc<dyn SftpLogin>,
    bridge: BridgeOptions,
    forwards: &ForwardOptions,
) -> Result<Vec<SocketAddr>, ForwardError> {
    let listeners = forward::listen(on, forwards.gateway_ports, ForwardError::FtpToSftp).await?;
    let addresses: Vec<SocketAddr> = listeners.iter().filter_map(|l| l.local_addr().ok()).collect();
    let handle = move |stream, _peer| serve_session(stream, login.clone(), bridge.clone());
    let accept =
        AcceptOptions { max_connections: forwards.max_bridge_sessions, name: format!("FTP-to-SFTP bridge {on}") };
    let service = Connections { handle, refusal: Refusal::FtpBusy };
    listener::spawn(listeners, accept, forwards.shutdown.clone(), &forwards.tracker, service);
    Ok(addresses)
}
