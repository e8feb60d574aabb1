//! -L: a local listener whose connections go through direct-tcpip channels.

use std::net::SocketAddr;
use std::sync::Arc;

use ssh_files::forward_spec::HostPort;
use tokio::net::TcpStream;

use super::relay;
use crate::ssh::Tunnel;

/// Relays one accepted connection through a channel to `target`.
pub async fn connection<T: Tunnel>(tunnel: Arc<T>, stream: TcpStream, peer: SocketAddr, target: HostPort) {
    tracing::debug!("Connection to port forwarding from {peer} to {target}");
    let channel = match tunnel.open_direct_tcpip(&target.host, target.port, peer).await {
        Ok(c) => c,
        Err(e) => {
            tracing::info!("channel: open failed: connect to {target} failed: {e}");
            return;
        }
    };
    relay::relay_and_log(channel, stream, &format!("{peer} -> {target}")).await;
}
