//! SSH connections for many SFTP channels: the FTP→SFTP bridge's session
//! mode. A server limits the session channels of one connection (sshd's
//! MaxSessions, 10 by default); when every connection is full, the pool
//! makes another, and closes an extra one once its last channel is gone.
//! A lost connection is made again at the next open (host key checked
//! again).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{watch, Mutex};

use super::channel::SshStream;
use super::connection::{connect, ConnectError, ConnectOptions, SshConnection};
use super::sftp::SubsystemError;

/// Connections one pool holds at most: 64 × sshd's 10 channels is more
/// than the bridge's session cap.
const MAX_CONNECTIONS: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("{0}")]
    Connect(#[from] ConnectError),
    #[error("sftp: {0}")]
    Subsystem(#[from] SubsystemError),
    #[error("the SSH server refuses more sessions on {MAX_CONNECTIONS} connections")]
    Full,
}

struct Pooled {
    connection: Arc<SshConnection>,
    /// Channels handed out and not yet given back.
    leases: Arc<AtomicUsize>,
}

pub struct ConnectionPool {
    options: ConnectOptions,
    /// The first is the run's own connection, never closed by the pool.
    /// Held while a channel is opened (or a connection made), so that a
    /// burst of logins fills one connection before the next is made.
    connections: Mutex<Vec<Pooled>>,
    /// The run's connection as `Reconnect` makes it again: adopted when
    /// the pool needs a connection, rather than making one of its own.
    follow: Option<watch::Receiver<Option<Arc<SshConnection>>>>,
}

/// A channel's hold on its connection: an extra connection is closed when
/// its last lease is dropped.
pub struct Lease {
    pool: Arc<ConnectionPool>,
    connection: Arc<SshConnection>,
    leases: Arc<AtomicUsize>,
}

impl ConnectionPool {
    /// A pool around `connection`, made earlier with `options`; `follow`
    /// gives the run's live connection when it is made again after a loss.
    pub fn new(
        options: ConnectOptions,
        connection: Arc<SshConnection>,
        follow: Option<watch::Receiver<Option<Arc<SshConnection>>>>,
    ) -> Arc<Self> {
        let first = Pooled { connection, leases: Arc::default() };
        Arc::new(Self { options, connections: Mutex::new(vec![first]), follow })
    }

    /// The run's live connection, if the pool does not hold it yet.
    fn adoptable(&self, connections: &[Pooled]) -> Option<Arc<SshConnection>> {
        let live = self.follow.as_ref()?.borrow().clone()?;
        let held = connections.iter().any(|p| Arc::ptr_eq(&p.connection, &live));
        (!held && !live.is_ended()).then_some(live)
    }

    /// An sftp subsystem channel on a connection with room for it.
    pub async fn open_sftp(self: &Arc<Self>) -> Result<(SshStream, Lease), PoolError> {
        let mut connections = self.connections.lock().await;
        connections.retain(|pooled| !pooled.connection.is_ended());
        // The newest connection is the one most likely to have room.
        for pooled in connections.iter().rev() {
            match pooled.connection.open_sftp().await {
                Ok(stream) => return Ok((stream, self.lease(pooled))),
                Err(SubsystemError::ChannelsExhausted(_)) => {}
                Err(SubsystemError::ConnectionLost) if pooled.connection.is_ended() => {}
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(live) = self.adoptable(&connections) {
            // First, so that it is the one never closed by the pool.
            connections.insert(0, Pooled { connection: live.clone(), leases: Arc::default() });
            if let (Ok(stream), Some(first)) = (live.open_sftp().await, connections.first()) {
                return Ok((stream, self.lease(first)));
            }
        }
        if connections.len() >= MAX_CONNECTIONS {
            return Err(PoolError::Full);
        }
        let reason = if connections.is_empty() { "reconnecting" } else { "adding a connection for more sessions" };
        tracing::info!("Connecting to {} port {} ({reason})", self.options.host, self.options.port);
        let pooled = Pooled { connection: Arc::new(connect(&self.options).await?), leases: Arc::default() };
        tracing::info!(
            "Connected to {} port {} ({} connection(s))",
            self.options.host,
            self.options.port,
            connections.len() + 1
        );
        let opened = pooled.connection.open_sftp().await;
        let lease = self.lease(&pooled);
        connections.push(pooled);
        match opened {
            Ok(stream) => Ok((stream, lease)),
            Err(e) => Err(e.into()),
        }
    }

    fn lease(self: &Arc<Self>, pooled: &Pooled) -> Lease {
        pooled.leases.fetch_add(1, Ordering::SeqCst);
        Lease { pool: self.clone(), connection: pooled.connection.clone(), leases: pooled.leases.clone() }
    }

    /// Every connection, for the end of the run.
    pub async fn connections(&self) -> Vec<Arc<SshConnection>> {
        self.connections.lock().await.iter().map(|pooled| pooled.connection.clone()).collect()
    }

    /// Closes `connection` if it is an extra one without leases. Checked
    /// under the lock that opening takes, so no channel is being opened on
    /// it meanwhile.
    async fn release(&self, connection: &Arc<SshConnection>) {
        let mut connections = self.connections.lock().await;
        let Some(index) = connections.iter().position(|p| Arc::ptr_eq(&p.connection, connection)) else { return };
        let idle = connections.get(index).is_some_and(|p| p.leases.load(Ordering::SeqCst) == 0);
        if index == 0 || !idle {
            return;
        }
        let pooled = connections.remove(index);
        drop(connections);
        tracing::debug!("Closing an extra connection to {} without sessions", self.options.host);
        pooled.connection.disconnect().await;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.leases.fetch_sub(1, Ordering::SeqCst) == 1 {
            let (pool, connection) = (self.pool.clone(), self.connection.clone());
            tokio::spawn(async move { pool.release(&connection).await });
        }
    }
}
