//! `ProxyJump`, natively: an SSH connection to the hop (its own
//! configuration, host key and login), then a direct-tcpip channel from
//! there to the next host, which the next session runs over.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use super::super::channel::SshStream;
use super::super::connection::{connect, ConnectError, SshConnection};
use super::super::tunnel::{DataChannel, Tunnel};
use super::JumpHost;

/// The originator OpenSSH's `-W` names in its channel request.
const ORIGINATOR: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 65535);

/// Connects to `hop` and opens a channel from it to `host`:`port`.
pub async fn open(hop: &JumpHost, host: &str, port: u16) -> Result<(SshStream, Arc<SshConnection>), ConnectError> {
    let via = connect(&hop.options).await.map_err(|e| match e {
        // Name the hop that failed, not every hop after it.
        e @ (ConnectError::Jump { .. } | ConnectError::JumpChannel { .. }) => e,
        e => ConnectError::Jump { hop: hop.name.clone(), source: Box::new(e) },
    })?;
    tracing::debug!("Opening a channel from jump host {} to {host} port {port}", hop.name);
    match via.open_direct_tcpip(host, port, ORIGINATOR).await {
        Ok(channel) => Ok((channel.into_stream(), Arc::new(via))),
        Err(e) => {
            via.disconnect().await;
            Err(ConnectError::JumpChannel { hop: hop.name.clone(), host: host.to_owned(), port, reason: e.to_string() })
        }
    }
}
