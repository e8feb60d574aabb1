//! -R: the server listens; each connection it accepts arrives as a
//! forwarded-tcpip channel and is connected to the target from here.

use ssh_files::forward_spec::{HostPort, Listen};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::local::LocalTarget;
use super::{relay, ForwardContext, ForwardError};
use crate::ssh::{ForwardedConnection, SshChannel};

/// Requests the forwarding of `listen` (whose target is `target`) and spawns
/// into `tasks` the loop that hands each connection to `handle`. Reports
/// the allocated port as OpenSSH does.
pub async fn start<F, Fut>(
    ctx: &ForwardContext,
    listen: &Listen,
    target: &HostPort,
    tasks: &mut JoinSet<()>,
    handle: F,
) -> Result<(), ForwardError>
where
    F: Fn(ForwardedConnection) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (address, port) = (listen.remote_bind_address(), listen.port);
    let (sink, mut connections) = mpsc::unbounded_channel::<ForwardedConnection>();
    let bound = ctx.ssh.request_remote_forward(address, port, sink).await.map_err(|e| {
        tracing::debug!("tcpip-forward {address}:{port}: {e}");
        ForwardError::Remote { port }
    })?;
    if port == 0 {
        // OpenSSH prints this even when quiet: scripts read it.
        eprintln!("Allocated port {bound} for remote forward to {target}");
    }
    tracing::debug!("remote forward success for: listen {address}:{bound}, connect {target}");
    tasks.spawn(async move {
        while let Some(connection) = connections.recv().await {
            tokio::spawn(handle(connection));
        }
    });
    Ok(())
}

/// Connects a plain -R forwarding's connection to its target and relays.
pub async fn connect(connection: ForwardedConnection, target: LocalTarget) {
    tracing::debug!("forwarded-tcpip from {} to {}:{}", connection.originator, target.host, target.port);
    let Ok((channel, stream)) = connect_channel(connection, (target.host.as_str(), target.port)).await else {
        return;
    };
    if let Err(e) = relay::relay(channel, stream).await {
        tracing::debug!("remote forwarding to {}:{} ended: {e}", target.host, target.port);
    }
}

/// Connects a forwarded connection to `target`. When that fails the channel
/// is closed at once, so that the peer on the server's side sees the end
/// instead of a connection that hangs open.
pub async fn connect_channel(
    connection: ForwardedConnection,
    target: impl tokio::net::ToSocketAddrs + std::fmt::Debug,
) -> Result<(SshChannel, TcpStream), String> {
    match TcpStream::connect(&target).await {
        Ok(stream) => {
            let _ = stream.set_nodelay(true);
            Ok((connection.channel, stream))
        }
        Err(e) => {
            let reason = crate::ssh::io_reason(&e);
            tracing::info!("connect_to {target:?}: failed: {reason}");
            let _ = connection.channel.close().await;
            Err(reason)
        }
    }
}
