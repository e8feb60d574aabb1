//! The run's SSH connection behind a [`Tunnel`] that outlives it: with
//! `Reconnect yes`, a lost connection is made again (capped exponential
//! back-off with jitter, the host key checked every time) while the local
//! listeners stay bound; channels asked for meanwhile are refused at once
//! with a reason; remote forwardings are requested again on the new
//! connection, retried while the server still holds the old listener.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::channel::SshChannel;
use super::connection::{connect, ConnectOptions, SshConnection};
use super::handler::SessionEnd;
use super::tunnel::{ChannelOpenError, ForwardedSink, ForwardedStreamSink, RemoteForwardError, Tunnel};

/// The first attempt comes at once, give or take this much jitter (a
/// killed session's server is usually still listening); then the wait
/// starts at [`SECOND_DELAY`] and doubles up to the maximum.
const FIRST_JITTER: Duration = Duration::from_millis(500);
const SECOND_DELAY: Duration = Duration::from_secs(1);

/// How a lost connection is handled.
#[derive(Debug, Clone)]
pub struct ReconnectOptions {
    /// Connect again after a loss (`Reconnect yes`); otherwise the loss
    /// ends the run, as with ssh.
    pub enabled: bool,
    /// The longest wait between two attempts (`ReconnectMaxDelay`).
    pub max_delay: Duration,
}

/// A remote forwarding to request again after a reconnection.
struct RemoteRecord {
    address: String,
    /// As asked (0: the server picks one each time).
    requested: u16,
    /// As bound on the current connection.
    bound: u16,
    sink: ForwardedSink<SshChannel>,
}

pub struct ReconnectingTunnel {
    options: ConnectOptions,
    reconnect: ReconnectOptions,
    /// The live connection; `None` while reconnecting.
    current: watch::Sender<Option<Arc<SshConnection>>>,
    remote: Mutex<Vec<RemoteRecord>>,
    /// Remote unix socket forwardings, by path, to request again.
    remote_paths: Mutex<Vec<(String, ForwardedStreamSink<SshChannel>)>>,
}

impl ReconnectingTunnel {
    pub fn new(options: ConnectOptions, reconnect: ReconnectOptions, connection: Arc<SshConnection>) -> Arc<Self> {
        let (current, _) = watch::channel(Some(connection));
        Arc::new(Self {
            options,
            reconnect,
            current,
            remote: Mutex::new(Vec::new()),
            remote_paths: Mutex::new(Vec::new()),
        })
    }

    /// The live connection, if there is one.
    pub fn current(&self) -> Option<Arc<SshConnection>> {
        self.current.borrow().clone()
    }

    /// Follows the live connection as it changes.
    pub fn watch(&self) -> watch::Receiver<Option<Arc<SshConnection>>> {
        self.current.subscribe()
    }

    /// Without reconnection: resolves when the connection ends, with why.
    /// With it: connects again after every loss until `shutdown`, and
    /// never resolves otherwise.
    pub async fn supervise(self: &Arc<Self>, shutdown: CancellationToken) -> SessionEnd {
        loop {
            let Some(connection) = self.current() else { return SessionEnd::Closed };
            let end = tokio::select! {
                end = connection.ended() => end,
                _ = shutdown.cancelled() => return std::future::pending().await,
            };
            if !self.reconnect.enabled {
                return end;
            }
            self.current.send_replace(None);
            tracing::warn!("Connection to {} lost ({}); reconnecting", self.options.host, describe_end(&end));
            let Some(connection) = self.connect_again(&shutdown).await else {
                return std::future::pending().await;
            };
            self.current.send_replace(Some(connection.clone()));
            self.restore_remote_forwards(&connection, &shutdown);
        }
    }

    /// Connects until it works or `shutdown`; logs every attempt.
    async fn connect_again(&self, shutdown: &CancellationToken) -> Option<Arc<SshConnection>> {
        let mut delay = SECOND_DELAY.min(self.reconnect.max_delay);
        for attempt in 1u64.. {
            let wait = if attempt == 1 {
                FIRST_JITTER.mul_f64(random_fraction())
            } else {
                delay.mul_f64(0.5 + random_fraction() / 2.0)
            };
            tracing::info!(
                "Reconnect attempt {attempt} to {} port {} in {wait:.1?}",
                self.options.host,
                self.options.port
            );
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.cancelled() => return None,
            }
            let attempt_result = tokio::select! {
                result = connect(&self.options) => result,
                _ = shutdown.cancelled() => return None,
            };
            match attempt_result {
                Ok(connection) => {
                    tracing::warn!(
                        "Reconnected to {} port {} (attempt {attempt})",
                        self.options.host,
                        self.options.port
                    );
                    return Some(Arc::new(connection));
                }
                Err(e) => tracing::warn!("Reconnect attempt {attempt} failed: {e}"),
            }
            if attempt > 1 {
                delay = (delay * 2).min(self.reconnect.max_delay);
            }
        }
        None
    }

    /// Requests every remote forwarding again on `connection`, each in its
    /// own task: the server may still hold the old listener until it
    /// notices the old connection is gone, so a refusal is retried.
    fn restore_remote_forwards(self: &Arc<Self>, connection: &Arc<SshConnection>, shutdown: &CancellationToken) {
        let records: Vec<(String, u16, u16)> = {
            let remote = self.remote.lock().unwrap_or_else(|p| p.into_inner());
            remote.iter().map(|r| (r.address.clone(), r.requested, r.bound)).collect()
        };
        for (address, requested, old_bound) in records {
            let (tunnel, connection, shutdown) = (self.clone(), connection.clone(), shutdown.clone());
            tokio::spawn(async move {
                tunnel.restore_remote_forward(&connection, &address, requested, old_bound, &shutdown).await;
            });
        }
        let paths: Vec<String> =
            self.remote_paths.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(path, _)| path.clone()).collect();
        for path in paths {
            let (tunnel, connection, shutdown) = (self.clone(), connection.clone(), shutdown.clone());
            tokio::spawn(async move { tunnel.restore_remote_streamlocal(&connection, &path, &shutdown).await });
        }
    }

    /// As [`Self::restore_remote_forward`], for a unix socket forwarding.
    async fn restore_remote_streamlocal(
        &self,
        connection: &Arc<SshConnection>,
        path: &str,
        shutdown: &CancellationToken,
    ) {
        let request = || {
            let paths = self.remote_paths.lock().unwrap_or_else(|p| p.into_inner());
            let sink = paths.iter().find(|(p, _)| p == path).map(|(_, sink)| sink.clone())?;
            Some(connection.request_remote_streamlocal(path, sink))
        };
        self.retry_remote(connection, path, shutdown, request).await;
    }

    async fn restore_remote_forward(
        &self,
        connection: &Arc<SshConnection>,
        address: &str,
        requested: u16,
        old_bound: u16,
        shutdown: &CancellationToken,
    ) {
        let request = || {
            let sink = self.sink_of(address, old_bound)?;
            Some(async move {
                let bound = connection.request_remote_forward(address, requested, sink).await?;
                self.rebind(address, old_bound, bound);
                if requested == 0 {
                    eprintln!("Allocated port {bound} for remote forward (was {old_bound})");
                }
                Ok(())
            })
        };
        self.retry_remote(connection, &format!("{address}:{requested}"), shutdown, request).await;
    }

    /// Requests a remote forwarding (`what`) again until the server grants
    /// it: the server may still hold the old listener until it notices the
    /// old connection is gone, so a refusal is retried after a doubling
    /// pause. `request` gives `None` once the forwarding was cancelled.
    async fn retry_remote<Fut>(
        &self,
        connection: &SshConnection,
        what: &str,
        shutdown: &CancellationToken,
        mut request: impl FnMut() -> Option<Fut>,
    ) where
        Fut: std::future::Future<Output = Result<(), RemoteForwardError>>,
    {
        let mut delay = SECOND_DELAY;
        for attempt in 1u64.. {
            let Some(requested) = request() else { return };
            if connection.is_ended() {
                return;
            }
            match requested.await {
                Ok(()) => {
                    tracing::info!("Remote forwarding {what} requested again (attempt {attempt})");
                    return;
                }
                Err(e) => tracing::warn!(
                    "Remote forwarding {what} refused again ({e}): the server may still hold the old listener; \
                     retrying in {delay:?}"
                ),
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.cancelled() => return,
            }
            delay = (delay * 2).min(self.reconnect.max_delay);
        }
    }

    fn sink_of(&self, address: &str, bound: u16) -> Option<ForwardedSink<SshChannel>> {
        let remote = self.remote.lock().unwrap_or_else(|p| p.into_inner());
        remote.iter().find(|r| r.address == address && r.bound == bound).map(|r| r.sink.clone())
    }

    fn rebind(&self, address: &str, old_bound: u16, bound: u16) {
        let mut remote = self.remote.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(record) = remote.iter_mut().find(|r| r.address == address && r.bound == old_bound) {
            record.bound = bound;
        }
    }

    fn lost(&self) -> ChannelOpenError {
        ChannelOpenError::Reconnecting { host: self.options.host.clone() }
    }
}

impl Tunnel for ReconnectingTunnel {
    type Channel = SshChannel;

    async fn open_direct_tcpip(
        &self,
        host: &str,
        port: u16,
        originator: std::net::SocketAddr,
    ) -> Result<SshChannel, ChannelOpenError> {
        match self.current() {
            Some(connection) => connection.open_direct_tcpip(host, port, originator).await,
            None => Err(self.lost()),
        }
    }

    async fn request_remote_forward(
        &self,
        address: &str,
        port: u16,
        sink: ForwardedSink<SshChannel>,
    ) -> Result<u16, RemoteForwardError> {
        let Some(connection) = self.current() else { return Err(RemoteForwardError(self.lost().to_string())) };
        let bound = connection.request_remote_forward(address, port, sink.clone()).await?;
        let record = RemoteRecord { address: address.to_owned(), requested: port, bound, sink };
        self.remote.lock().unwrap_or_else(|p| p.into_inner()).push(record);
        Ok(bound)
    }

    fn connection_lost(&self) -> bool {
        self.current().is_none_or(|connection| connection.is_ended())
    }

    async fn open_direct_streamlocal(&self, path: &str) -> Result<SshChannel, ChannelOpenError> {
        match self.current() {
            Some(connection) => connection.open_direct_streamlocal(path).await,
            None => Err(self.lost()),
        }
    }

    async fn request_remote_streamlocal(
        &self,
        path: &str,
        sink: ForwardedStreamSink<SshChannel>,
    ) -> Result<(), RemoteForwardError> {
        let Some(connection) = self.current() else { return Err(RemoteForwardError(self.lost().to_string())) };
        connection.request_remote_streamlocal(path, sink.clone()).await?;
        self.remote_paths.lock().unwrap_or_else(|p| p.into_inner()).push((path.to_owned(), sink));
        Ok(())
    }

    async fn cancel_remote_streamlocal(&self, path: &str) -> Result<(), RemoteForwardError> {
        self.remote_paths.lock().unwrap_or_else(|p| p.into_inner()).retain(|(p, _)| p != path);
        match self.current() {
            Some(connection) => connection.cancel_remote_streamlocal(path).await,
            None => Ok(()),
        }
    }

    async fn cancel_remote_forward(&self, address: &str, port: u16) -> Result<(), RemoteForwardError> {
        self.remote.lock().unwrap_or_else(|p| p.into_inner()).retain(|r| !(r.address == address && r.bound == port));
        match self.current() {
            Some(connection) => connection.cancel_remote_forward(address, port).await,
            // Gone with the connection it was made on.
            None => Ok(()),
        }
    }
}

/// A random number in [0, 1]: jitter, so that many clients cut off at
/// once do not all come back at the same moment.
fn random_fraction() -> f64 {
    let mut bytes = [0u8; 2];
    match getrandom::fill(&mut bytes) {
        Ok(()) => f64::from(u16::from_ne_bytes(bytes)) / f64::from(u16::MAX),
        Err(_) => 1.0,
    }
}

fn describe_end(end: &SessionEnd) -> String {
    match end {
        SessionEnd::KeepaliveTimeout => "server not responding".into(),
        SessionEnd::ServerDisconnect(message) if !message.is_empty() => format!("server disconnected: {message}"),
        SessionEnd::ServerDisconnect(_) => "server disconnected".into(),
        SessionEnd::Error(e) => e.clone(),
        SessionEnd::Closed => "closed by remote host".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_a_fraction_and_varies() {
        let samples: Vec<f64> = (0..200).map(|_| random_fraction()).collect();
        assert!(samples.iter().all(|f| (0.0..=1.0).contains(f)));
        assert!(samples.iter().any(|f| *f < 0.5) && samples.iter().any(|f| *f > 0.5));
    }
}
