//! -R: the server listens; each connection it accepts arrives as a
//! forwarded-tcpip channel and is connected to the target from here.

use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::local::LocalTarget;
use super::{relay, ForwardContext, ForwardError};
use crate::ssh::ForwardedConnection;

/// Requests the forwarding; returns the port the server listens on and a
/// task that serves it.
pub async fn start(
    ctx: ForwardContext,
    address: &str,
    port: u16,
    target: LocalTarget,
) -> Result<(u16, impl std::future::Future<Output = ()> + Send + 'static), ForwardError> {
    let (sink, mut connections) = mpsc::unbounded_channel::<ForwardedConnection>();
    let bound = ctx
        .ssh
        .request_remote_forward(address, port, sink)
        .await
        .map_err(|e| {
            tracing::debug!("tcpip-forward {address}:{port}: {e}");
            ForwardError::Remote { port }
        })?;
    let serve = async move {
        while let Some(connection) = connections.recv().await {
            tokio::spawn(connect(connection, target.clone()));
        }
    };
    Ok((bound, serve))
}

async fn connect(connection: ForwardedConnection, target: LocalTarget) {
    tracing::debug!("forwarded-tcpip from {} to {}:{}", connection.originator, target.host, target.port);
    let mut stream = match TcpStream::connect((target.host.as_str(), target.port)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::info!("connect_to {} port {}: failed: {}", target.host, target.port, crate::ssh::io_reason(&e));
            let _ = connection.channel.close().await;
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let mut channel = connection.channel.into_stream();
    if let Err(e) = relay::relay(&mut channel, &mut stream).await {
        tracing::debug!("remote forwarding to {}:{} ended: {e}", target.host, target.port);
    }
}
