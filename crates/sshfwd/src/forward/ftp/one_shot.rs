//! One-shot data forwardings for FTP data channels. Each accepts exactly
//! one connection and is removed as soon as it arrives, after a timeout, or
//! when it is withdrawn (its control session ended, or the server refused
//! its PORT/EPRT), whichever comes first.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::audit::DataMeter;
use crate::forward::relay;
use crate::ssh::{DataChannel, Forwarded, Tunnel};

/// What a data channel is, for the per-channel log line and the audit log.
#[derive(Debug, Clone)]
pub struct DataLabel {
    /// The session's id and the command or reply that opened the channel.
    pub session: u64,
    pub opened_by: String,
    pub meter: Arc<DataMeter>,
    /// Whether the relay's TCP side is the FTP client (`-L ftp/`) or the
    /// server (`-R ftp/`): which way its counts go.
    pub socket_is_client: bool,
}

/// Why a data forwarding ended without relaying.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("no data connection within {0:?}")]
    Timeout(Duration),
    #[error("withdrawn unused (the server refused its command, or the session ended)")]
    Cancelled,
    #[error("opening the SSH channel to {target}: {reason}")]
    Channel { target: String, reason: String },
    #[error("connecting to {target}: {reason}")]
    Connect { target: String, reason: String },
}

/// What every one-shot forwarding shares: the tunnel, how long it waits,
/// what withdraws it, and its name in the logs.
pub struct OneShot<T> {
    pub tunnel: Arc<T>,
    pub timeout: Duration,
    pub withdraw: CancellationToken,
    pub label: DataLabel,
}

/// A local listener whose single connection, accepted only from
/// `expected_peer`, goes through a direct-tcpip channel to `target`.
pub struct LocalListenerBridge<T> {
    pub one_shot: OneShot<T>,
    pub bind_ip: IpAddr,
    pub expected_peer: IpAddr,
    pub target_host: String,
    pub target_port: u16,
}

impl<T: Tunnel> LocalListenerBridge<T> {
    /// Binds the listener; returns its address and the task that serves it.
    pub fn start(self) -> std::io::Result<(SocketAddr, impl std::future::Future<Output = ()> + Send + 'static)> {
        let listener = std::net::TcpListener::bind(SocketAddr::new(self.bind_ip, 0))?;
        listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(listener)?;
        let address = listener.local_addr()?;
        Ok((address, async move {
            let label = self.one_shot.label.clone();
            if let Err(e) = self.serve(listener).await {
                tracing::info!("ftp session {}: data channel for {}: {e}", label.session, label.opened_by);
            }
        }))
    }

    async fn serve(self, listener: TcpListener) -> Result<(), BridgeError> {
        // The channel is opened while the FTP client is still on its way:
        // the round trip to the SSH server overlaps the client's connect
        // instead of following it.
        let target = format!("{}:{}", self.target_host, self.target_port);
        let opening = {
            let (tunnel, host, port) = (self.one_shot.tunnel.clone(), self.target_host.clone(), self.target_port);
            let originator = SocketAddr::new(self.expected_peer, 0);
            tokio::spawn(async move { tunnel.open_direct_tcpip(&host, port, originator).await })
        };
        let stream = match self.accept_expected(listener).await {
            Ok(stream) => stream,
            Err(e) => {
                discard(opening).await;
                return Err(e);
            }
        };
        self.one_shot.label.meter.connected();
        let channel = match opening.await {
            Ok(Ok(channel)) => channel,
            Ok(Err(e)) => return Err(BridgeError::Channel { target, reason: e.to_string() }),
            Err(e) => return Err(BridgeError::Channel { target, reason: e.to_string() }),
        };
        log_transfer(&self.one_shot.label, &target, relay::relay(channel, stream)).await;
        Ok(())
    }

    /// The one connection from the expected peer, within the timeout and
    /// until withdrawn; the listener is gone when this returns.
    async fn accept_expected(&self, listener: TcpListener) -> Result<TcpStream, BridgeError> {
        let one_shot = &self.one_shot;
        let deadline = tokio::time::Instant::now() + one_shot.timeout;
        let name = format!("ftp session {}", one_shot.label.session);
        loop {
            tokio::select! {
                accepted = sshfwd_net::accept_from(&listener, self.expected_peer, &name) => match accepted {
                    Ok(stream) => return Ok(stream),
                    Err(e) => tracing::debug!("{name}: data accept: {e}"),
                },
                _ = tokio::time::sleep_until(deadline) => return Err(BridgeError::Timeout(one_shot.timeout)),
                _ = one_shot.withdraw.cancelled() => return Err(BridgeError::Cancelled),
            }
        }
    }
}

/// Stops a channel opening that is no longer wanted, and closes the channel
/// if it was already open.
async fn discard<C: DataChannel, E>(opening: tokio::task::JoinHandle<Result<C, E>>) {
    opening.abort();
    if let Ok(Ok(channel)) = opening.await {
        channel.close().await;
    }
}

/// A remote forwarding (tcpip-forward, port 0) on the SSH server whose single
/// connection is connected from here to `target`.
pub struct RemoteForwardBridge<T> {
    pub one_shot: OneShot<T>,
    pub remote_bind: String,
    pub target: SocketAddr,
}

/// Cancels a remote forwarding when dropped, however its task ends.
struct RemoteForwardGuard<T: Tunnel> {
    tunnel: Arc<T>,
    address: String,
    port: u16,
}

impl<T: Tunnel> Drop for RemoteForwardGuard<T> {
    fn drop(&mut self) {
        let tunnel = self.tunnel.clone();
        let address = std::mem::take(&mut self.address);
        let port = self.port;
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = tunnel.cancel_remote_forward(&address, port).await {
                    tracing::debug!("cancel-tcpip-forward {address}:{port}: {e}");
                }
            });
        }
    }
}

impl<T: Tunnel> RemoteForwardBridge<T> {
    /// Requests the forwarding; returns the port the server allocated and
    /// the task that serves it. The forwarding is in place when this returns.
    pub async fn start(
        self,
    ) -> Result<(u16, impl std::future::Future<Output = ()> + Send + 'static), crate::ssh::RemoteForwardError> {
        // One connection is all it takes; the SSH handler refuses more.
        let (sink, connections) = mpsc::channel(1);
        let tunnel = self.one_shot.tunnel.clone();
        let port = tunnel.request_remote_forward(&self.remote_bind, 0, sink).await?;
        let guard = RemoteForwardGuard { tunnel, address: self.remote_bind.clone(), port };
        Ok((port, async move {
            let label = self.one_shot.label.clone();
            if let Err(e) = self.serve(connections, guard).await {
                tracing::info!("ftp session {}: data channel for {}: {e}", label.session, label.opened_by);
            }
        }))
    }

    async fn serve(
        self,
        mut connections: mpsc::Receiver<Forwarded<T::Channel>>,
        guard: RemoteForwardGuard<T>,
    ) -> Result<(), BridgeError> {
        let one_shot = &self.one_shot;
        let connection = tokio::select! {
            c = connections.recv() => c.ok_or(BridgeError::Cancelled)?,
            _ = tokio::time::sleep(one_shot.timeout) => return Err(BridgeError::Timeout(one_shot.timeout)),
            _ = one_shot.withdraw.cancelled() => return Err(BridgeError::Cancelled),
        };
        drop(guard);
        drop(connections);
        one_shot.label.meter.connected();
        let target = self.target.to_string();
        tracing::debug!(
            "ftp session {}: data connection from {} (server side)",
            one_shot.label.session,
            connection.originator
        );
        let (channel, stream) = crate::forward::remote::connect_channel(connection, self.target)
            .await
            .map_err(|reason| BridgeError::Connect { target: target.clone(), reason })?;
        log_transfer(&one_shot.label, &target, relay::relay(channel, stream)).await;
        Ok(())
    }
}

async fn log_transfer(
    label: &DataLabel,
    target: &str,
    transfer: impl std::future::Future<Output = std::io::Result<relay::Moved>>,
) {
    let started = Instant::now();
    match transfer.await {
        Ok(moved) => {
            let (to_client, to_server) = match label.socket_is_client {
                true => (moved.from_channel, moved.to_channel),
                false => (moved.to_channel, moved.from_channel),
            };
            label.meter.finished(to_client, to_server);
            tracing::debug!(
                "ftp session {}: data channel for {} via {target}: {} bytes into SSH, {} bytes out of SSH in {:.3}s",
                label.session,
                label.opened_by,
                moved.to_channel,
                moved.from_channel,
                started.elapsed().as_secs_f64()
            )
        }
        Err(e) => {
            tracing::info!(
                "ftp session {}: data channel for {} via {target} failed: {e}",
                label.session,
                label.opened_by
            )
        }
    }
}
