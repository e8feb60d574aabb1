//! The bridge's port: sshfwd-net's accept loop, one [`serve_session`] per
//! connection, a `421` past the session cap, past the source's cap or to a
//! penalised source; every login counted against its source.

use std::net::SocketAddr;
use std::sync::Arc;

use ssh_files::forward_spec::Listen;
use sshfwd_net::AcceptOptions;

use super::login::{Penalising, FAILED_LOGIN_DELAY};
use super::{serve_session, BridgeOptions, SftpLogin};
use crate::forward::listener::{self, Connections, Gate, Refusal};
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
    let gate = Gate::new(&forwards.ftp, listener::is_gateway(&listeners));
    let bridge = BridgeOptions { login_timeout: forwards.ftp.login_timeout, ..bridge };
    let penalties = gate.clone();
    let handle = move |stream, peer: SocketAddr| {
        let login =
            Penalising { login: login.clone(), gate: penalties.clone(), peer: peer.ip(), delay: FAILED_LOGIN_DELAY };
        serve_session(stream, Arc::new(login), bridge.clone())
    };
    let accept =
        AcceptOptions { max_connections: forwards.max_bridge_sessions, name: format!("FTP-to-SFTP bridge {on}") };
    let service = Connections { handle, refusal: Refusal::FtpBusy, gate };
    listener::spawn(listeners, accept, forwards.shutdown.clone(), &forwards.tracker, service);
    Ok(addresses)
}
