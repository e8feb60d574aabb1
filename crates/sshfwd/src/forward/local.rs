//! -L: a local listener whose connections go through direct-tcpip channels.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

use super::{listener, relay, ForwardContext};

/// Where the connections of a local forwarding go.
#[derive(Debug, Clone)]
pub struct LocalTarget {
    pub host: String,
    pub port: u16,
}

pub async fn serve(ctx: ForwardContext, listeners: Vec<TcpListener>, target: LocalTarget) {
    listener::serve(listeners, move |stream, peer| connection(ctx.clone(), stream, peer, target.clone())).await;
}

async fn connection(ctx: ForwardContext, stream: TcpStream, peer: SocketAddr, target: LocalTarget) {
    tracing::debug!("Connection to port forwarding from {peer} to {}:{}", target.host, target.port);
    let channel = match ctx.ssh.open_direct_tcpip(&target.host, target.port, peer).await {
        Ok(c) => c,
        Err(e) => {
            tracing::info!(
                "channel: open failed: connect to {}:{} failed: {}",
                target.host,
                target.port,
                describe_open_error(&e)
            );
            return;
        }
    };
    match relay::relay(channel, stream).await {
        Ok(moved) => tracing::debug!(
            "forwarding {peer} -> {}:{} closed: {} bytes out, {} bytes in",
            target.host,
            target.port,
            moved.to_channel,
            moved.from_channel
        ),
        Err(e) => tracing::debug!("forwarding {peer} -> {}:{} ended: {e}", target.host, target.port),
    }
}

/// russh's channel-open failure, as OpenSSH words it.
pub fn describe_open_error(e: &russh::Error) -> String {
    match e {
        russh::Error::ChannelOpenFailure(reason) => format!("{reason:?}"),
        other => other.to_string(),
    }
}
