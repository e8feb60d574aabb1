//! The accept loop: one russh session per TCP connection, a cap on
//! concurrent connections, and shutdown through a cancellation token.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::PrivateKey;
use russh::server::Config;
use russh::{Disconnect, MethodKind, MethodSet};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::authorized_keys::AuthorizedKeys;
use crate::passwords::Passwords;
use crate::session::SessionHandler;

/// How long a shut-down server waits for its sessions to say goodbye.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Pause after a failed accept (out of file descriptors, say).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What the server does; see the crate documentation.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Host keys offered to clients; at least one.
    pub host_keys: Vec<PrivateKey>,
    /// The keys that may log in, with their options.
    pub authorized_keys: AuthorizedKeys,
    /// Password authentication is offered only when this is set.
    pub passwords: Option<Passwords>,
    /// The directory served by the `sftp` subsystem; no sftp when unset.
    pub sftp_root: Option<PathBuf>,
    /// Remote forwardings may listen on non-loopback addresses (sshd's
    /// `GatewayPorts clientspecified`); otherwise they listen on loopback
    /// whatever the client asks.
    pub gateway_ports: bool,
    /// How long a direct-tcpip connection attempt may take.
    pub connect_timeout: Duration,
    /// Concurrent connections; further clients wait in the listen queue.
    pub max_connections: usize,
    /// Server keepalives (answered by OpenSSH clients) detect dead clients.
    pub keepalive_interval: Duration,
}

impl ServerConfig {
    /// A configuration with one host key, no authorized keys, no
    /// passwords, no sftp and loopback-only remote forwardings.
    pub fn new(host_key: PrivateKey) -> Self {
        Self {
            host_keys: vec![host_key],
            authorized_keys: AuthorizedKeys::default(),
            passwords: None,
            sftp_root: None,
            gateway_ports: false,
            connect_timeout: Duration::from_secs(10),
            max_connections: 256,
            keepalive_interval: Duration::from_secs(30),
        }
    }

    fn russh_config(&self) -> Config {
        let mut methods = MethodSet::empty();
        methods.push(MethodKind::PublicKey);
        if self.passwords.is_some() {
            methods.push(MethodKind::Password);
        }
        Config {
            server_id: russh::SshId::Standard(format!("SSH-2.0-sshfwd-server_{}", env!("CARGO_PKG_VERSION")).into()),
            methods,
            keys: self.host_keys.clone(),
            auth_rejection_time: Duration::from_millis(500),
            // OpenSSH clients start with "none" to learn the methods.
            auth_rejection_time_initial: Some(Duration::ZERO),
            window_size: 16 * 1024 * 1024,
            maximum_packet_size: 65535,
            channel_buffer_size: 256,
            max_auth_attempts: 6,
            keepalive_interval: Some(self.keepalive_interval),
            keepalive_max: 3,
            // Only reached when keepalives go unanswered as well.
            inactivity_timeout: Some(Duration::from_secs(600)),
            nodelay: true,
            ..Config::default()
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// [`ServerConfig::host_keys`] is empty.
    #[error("no host key configured")]
    NoHostKey,
    /// The sftp root is missing or not a directory.
    #[error("sftp root {path}: {reason}")]
    SftpRoot { path: PathBuf, reason: String },
    /// The listener's address could not be read.
    #[error("listener: {0}")]
    Listener(#[source] std::io::Error),
}

/// What every session shares.
pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    /// The canonical sftp root.
    pub(crate) sftp_root: Option<PathBuf>,
}

/// Serves SSH on `listener` until `shutdown` is cancelled; then sends every
/// session a disconnect, waits briefly for them, and returns.
pub async fn serve(config: ServerConfig, listener: TcpListener, shutdown: CancellationToken) -> Result<(), ServerError> {
    if config.host_keys.is_empty() {
        return Err(ServerError::NoHostKey);
    }
    let sftp_root = match &config.sftp_root {
        Some(path) => {
            let canonical = std::fs::canonicalize(path)
                .map_err(|e| ServerError::SftpRoot { path: path.clone(), reason: e.to_string() })?;
            if !canonical.is_dir() {
                return Err(ServerError::SftpRoot { path: path.clone(), reason: "not a directory".to_owned() });
            }
            Some(canonical)
        }
        None => None,
    };
    let local = listener.local_addr().map_err(ServerError::Listener)?;
    let russh_config = Arc::new(config.russh_config());
    let limit = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let shared = Arc::new(Shared { config, sftp_root });
    let tracker = TaskTracker::new();
    tracing::info!("Server listening on {} port {}.", local.ip(), local.port());

    loop {
        let permit = tokio::select! {
            () = shutdown.cancelled() => break,
            permit = limit.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (socket, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                    }
                }
            },
        };
        let token = shutdown.child_token();
        let handler = SessionHandler::new(shared.clone(), peer, token.clone());
        let russh_config = russh_config.clone();
        tracker.spawn(async move {
            run_connection(russh_config, socket, peer, handler, token).await;
            drop(permit);
        });
    }
    tracing::info!("Received shutdown; closing {} session(s).", tracker.len());
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait()).await.is_err() {
        tracing::warn!("sessions still open after {SHUTDOWN_GRACE:?}; leaving them");
    }
    Ok(())
}

async fn run_connection(
    config: Arc<Config>,
    socket: TcpStream,
    peer: SocketAddr,
    handler: SessionHandler,
    token: CancellationToken,
) {
    if let Ok(local) = socket.local_addr() {
        tracing::info!("Connection from {} port {} on {} port {}", peer.ip(), peer.port(), local.ip(), local.port());
    }
    let session = match russh::server::run_stream(config, socket, handler).await {
        Ok(session) => session,
        Err(e) => {
            tracing::info!("Connection from {} port {} failed: {e}", peer.ip(), peer.port());
            return;
        }
    };
    let handle = session.handle();
    tokio::pin!(session);
    tokio::select! {
        result = &mut session => {
            if let Err(e) = result {
                tracing::debug!("session with {} port {} ended: {e}", peer.ip(), peer.port());
            }
        }
        () = token.cancelled() => {
            let _ = handle
                .disconnect(Disconnect::ByApplication, "server shutting down".to_owned(), "en".to_owned())
                .await;
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, &mut session).await;
        }
    }
}
