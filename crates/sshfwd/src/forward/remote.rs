//! -R: the server listens; each connection it accepts arrives as a
//! forwarded-tcpip (or forwarded-streamlocal) channel and is handed to its
//! own task from here.

use std::future::Future;
use std::sync::Arc;

use ssh_files::forward_spec::{ConnectTo, HostPort};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{relay, ForwardError};
use crate::ssh::{DataChannel, Forwarded, ForwardedStream, Tunnel};

/// Connections the server may have handed over before their task starts;
/// beyond it the SSH handler refuses new ones instead of queueing them.
const QUEUE: usize = 64;

/// A remote forwarding to request: where the server listens, and where
/// its connections go (for messages).
pub struct RemoteListen<'a> {
    pub address: &'a str,
    pub port: u16,
    pub target: &'a (dyn std::fmt::Display + Sync),
}

/// Requests the forwarding and spawns into `tracker` the loop that hands
/// each connection to `handle` (see [`serve`]). Reports the allocated port
/// as OpenSSH does.
pub async fn start<T, F, Fut>(
    tunnel: &Arc<T>,
    listen: RemoteListen<'_>,
    max_connections: usize,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
    handle: F,
) -> Result<(), ForwardError>
where
    T: Tunnel,
    F: Fn(Forwarded<T::Channel>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let RemoteListen { address, port, target } = listen;
    let (sink, connections) = mpsc::channel::<Forwarded<T::Channel>>(QUEUE);
    let bound = tunnel.request_remote_forward(address, port, sink).await.map_err(|e| {
        tracing::debug!("tcpip-forward {address}:{port}: {e}");
        ForwardError::Remote { port }
    })?;
    if port == 0 {
        // OpenSSH prints this even when quiet: scripts read it.
        eprintln!("Allocated port {bound} for remote forward to {target}");
    }
    tracing::debug!("remote forward success for: listen {address}:{bound}, connect {target}");
    serve(connections, bound.to_string(), max_connections, shutdown, tracker, handle);
    Ok(())
}

/// As [`start`], for a forwarding whose server side listens on the unix
/// socket `path` (streamlocal-forward@openssh.com).
pub async fn start_streamlocal<T, F, Fut>(
    tunnel: &Arc<T>,
    path: &str,
    target: &(dyn std::fmt::Display + Sync),
    max_connections: usize,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
    handle: F,
) -> Result<(), ForwardError>
where
    T: Tunnel,
    F: Fn(ForwardedStream<T::Channel>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (sink, connections) = mpsc::channel::<ForwardedStream<T::Channel>>(QUEUE);
    tunnel.request_remote_streamlocal(path, sink).await.map_err(|e| {
        tracing::debug!("streamlocal-forward {path}: {e}");
        ForwardError::RemotePath { path: path.to_string() }
    })?;
    tracing::debug!("remote forward success for: listen path {path}, connect {target}");
    serve(connections, path.to_string(), max_connections, shutdown, tracker, handle);
    Ok(())
}

/// A connection the server handed over on one of our remote forwardings.
pub trait Incoming: Send + 'static {
    /// Who connected, for the log.
    fn peer(&self) -> String;
    /// Closes a connection that will not be served.
    fn close(self) -> impl Future<Output = ()> + Send;
}

impl<C: DataChannel> Incoming for Forwarded<C> {
    fn peer(&self) -> String {
        self.originator.to_string()
    }

    fn close(self) -> impl Future<Output = ()> + Send {
        self.channel.close()
    }
}

impl<C: DataChannel> Incoming for ForwardedStream<C> {
    fn peer(&self) -> String {
        "a unix socket peer".into()
    }

    fn close(self) -> impl Future<Output = ()> + Send {
        self.channel.close()
    }
}

/// Spawns into `tracker` the loop that hands each of `connections` to
/// `handle`, at most `max_connections` at once (a connection over the cap
/// is closed at once), until `shutdown`. `listen` names the forwarding in
/// the log.
fn serve<I, F, Fut>(
    mut connections: mpsc::Receiver<I>,
    listen: String,
    max_connections: usize,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
    handle: F,
) where
    I: Incoming,
    F: Fn(I) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let places = Arc::new(Semaphore::new(max_connections));
    let connection_tracker = tracker.clone();
    tracker.spawn(async move {
        loop {
            let connection = tokio::select! {
                c = connections.recv() => match c {
                    Some(c) => c,
                    None => break,
                },
                _ = shutdown.cancelled() => break,
            };
            let Ok(place) = places.clone().try_acquire_owned() else {
                tracing::warn!(
                    "remote forwarding {listen}: refused connection from {}: too many connections (limit {max_connections}; raise it with MaxForwardedConnections)",
                    connection.peer()
                );
                connection.close().await;
                continue;
            };
            let task = handle(connection);
            connection_tracker.spawn(async move {
                task.await;
                drop(place);
            });
        }
    });
}

/// Connects a plain -R forwarding's connection to its target and relays.
pub async fn connect<C: DataChannel>(connection: Forwarded<C>, target: HostPort) {
    tracing::debug!("forwarded-tcpip from {} to {target}", connection.originator);
    let Ok((channel, stream)) = connect_channel(connection, (target.host.as_str(), target.port)).await else {
        return;
    };
    if let Err(e) = relay::relay(channel, stream).await {
        tracing::debug!("remote forwarding to {target} ended: {e}");
    }
}

/// Connects a forwarded connection to `target`. When that fails the channel
/// is closed at once, so that the peer on the server's side sees the end
/// instead of a connection that hangs open.
pub async fn connect_channel<C: DataChannel>(
    connection: Forwarded<C>,
    target: impl tokio::net::ToSocketAddrs + std::fmt::Debug,
) -> Result<(C, TcpStream), String> {
    connect_tcp(connection.channel, target).await
}

/// As [`connect_channel`], for a bare channel.
async fn connect_tcp<C: DataChannel>(
    channel: C,
    target: impl tokio::net::ToSocketAddrs + std::fmt::Debug,
) -> Result<(C, TcpStream), String> {
    match TcpStream::connect(&target).await {
        Ok(stream) => {
            let _ = stream.set_nodelay(true);
            Ok((channel, stream))
        }
        Err(e) => {
            let reason = sshfwd_net::io_reason(&e);
            tracing::info!("connect_to {target:?}: failed: {reason}");
            channel.close().await;
            Err(reason)
        }
    }
}

/// Connects a channel of a -R forwarding with a unix socket on either side
/// to its target here, a host or a socket, and relays.
pub async fn connect_stream<C: DataChannel>(channel: C, target: ConnectTo) {
    match target {
        ConnectTo::Host(host) => {
            let Ok((channel, stream)) = connect_tcp(channel, (host.host.as_str(), host.port)).await else { return };
            if let Err(e) = relay::relay(channel, stream).await {
                tracing::debug!("remote forwarding to {host} ended: {e}");
            }
        }
        ConnectTo::Path(path) => super::unix::connect(channel, std::path::Path::new(&path)).await,
    }
}
