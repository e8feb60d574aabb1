//! The accept loop: one russh session per TCP connection, a cap on
//! concurrent connections, and shutdown through a cancellation token.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use russh::keys::{PrivateKey, PublicKey};
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
#[derive(Clone)]
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
    /// A connection not authenticated within this time is dropped
    /// (sshd's LoginGraceTime).
    pub login_grace_time: Duration,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host_keys: Vec<String> = self.host_keys.iter().map(|k| crate::keys::fingerprint(k.public_key())).collect();
        f.debug_struct("ServerConfig")
            .field("host_keys", &host_keys)
            .field("authorized_keys", &self.authorized_keys.entries().len())
            .field("passwords", &self.passwords)
            .field("sftp_root", &self.sftp_root)
            .field("gateway_ports", &self.gateway_ports)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_connections", &self.max_connections)
            .field("keepalive_interval", &self.keepalive_interval)
            .field("login_grace_time", &self.login_grace_time)
            .finish()
    }
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
            login_grace_time: Duration::from_secs(120),
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
            // The window is widened as the relays read (vendor/russh), but a
            // full queue still parks the whole session: room for a window's
            // worth of packets down to 4 KiB (slots are allocated as used).
            channel_buffer_size: 4096,
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
    /// [`spawn`] could not bind its address.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The server task ended abnormally.
    #[error("server task failed: {0}")]
    Task(String),
}

/// What every session shares.
pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    /// The canonical sftp root.
    pub(crate) sftp_root: Option<PathBuf>,
}

/// Serves SSH on `listener` until `shutdown` is cancelled; then sends every
/// session a disconnect, waits briefly for them, and returns.
pub async fn serve(
    config: ServerConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let shared = prepare(config)?;
    accept_loop(shared, listener, shutdown).await
}

/// Binds `listen` (port 0 picks a free port), then serves in a background
/// task until [`RunningServer::shutdown`] or the drop of the handle.
pub async fn spawn(config: ServerConfig, listen: SocketAddr) -> Result<RunningServer, ServerError> {
    let shared = prepare(config)?;
    let listener = TcpListener::bind(listen).await.map_err(|source| ServerError::Bind { address: listen, source })?;
    let local_addr = listener.local_addr().map_err(ServerError::Listener)?;
    let host_key = shared.config.host_keys.first().map(|key| key.public_key().clone()).ok_or(ServerError::NoHostKey)?;
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(accept_loop(shared, listener, shutdown.clone()));
    Ok(RunningServer { local_addr, host_key, shutdown, task: Some(task) })
}

/// A server started by [`spawn`]; dropping it shuts the server down.
#[derive(Debug)]
pub struct RunningServer {
    local_addr: SocketAddr,
    host_key: PublicKey,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<Result<(), ServerError>>>,
}

impl RunningServer {
    /// The address the server listens on (with the port picked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The public half of the first host key, for a client's known_hosts.
    pub fn host_key(&self) -> &PublicKey {
        &self.host_key
    }

    /// Starts the shutdown: no new connections, a disconnect to every
    /// session. Returns at once; [`RunningServer::wait`] waits for the end.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Waits until the server has stopped (after [`RunningServer::shutdown`]).
    pub async fn wait(mut self) -> Result<(), ServerError> {
        match self.task.take() {
            Some(task) => task.await.map_err(|e| ServerError::Task(e.to_string()))?,
            None => Ok(()),
        }
    }

    /// Shuts down and waits.
    pub async fn stop(self) -> Result<(), ServerError> {
        self.shutdown();
        self.wait().await
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Checks the configuration once, before anything listens.
fn prepare(config: ServerConfig) -> Result<Arc<Shared>, ServerError> {
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
    Ok(Arc::new(Shared { config, sftp_root }))
}

async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let local = listener.local_addr().map_err(ServerError::Listener)?;
    let russh_config = Arc::new(shared.config.russh_config());
    let limit = Arc::new(Semaphore::new(shared.config.max_connections.max(1)));
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
        let authenticated = Arc::new(AtomicBool::new(false));
        let handler = SessionHandler::new(shared.clone(), peer, token.clone(), authenticated.clone());
        let russh_config = russh_config.clone();
        let grace = shared.config.login_grace_time;
        tracker.spawn(async move {
            let connection = Connection { peer, token, authenticated, grace };
            run_connection(russh_config, socket, handler, connection).await;
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

/// What the connection task watches besides the session itself.
struct Connection {
    peer: SocketAddr,
    /// Server shutdown (a child of the server's token).
    token: CancellationToken,
    /// Set by the handler on successful authentication.
    authenticated: Arc<AtomicBool>,
    grace: Duration,
}

async fn run_connection(config: Arc<Config>, socket: TcpStream, handler: SessionHandler, connection: Connection) {
    let Connection { peer, token, authenticated, grace } = connection;
    if let Ok(local) = socket.local_addr() {
        tracing::info!("Connection from {} port {} on {} port {}", peer.ip(), peer.port(), local.ip(), local.port());
    }
    let setup = tokio::time::timeout(grace, russh::server::run_stream(config, socket, handler));
    let session = match setup.await {
        Ok(Ok(session)) => session,
        Ok(Err(e)) => {
            tracing::info!("Connection from {} port {} failed: {e}", peer.ip(), peer.port());
            return;
        }
        Err(_) => {
            tracing::info!("Timeout before authentication for {} port {}", peer.ip(), peer.port());
            return;
        }
    };
    let handle = session.handle();
    tokio::pin!(session);
    let deadline = tokio::time::sleep(grace);
    tokio::pin!(deadline);
    let mut grace_over = false;
    let reason = loop {
        tokio::select! {
            result = &mut session => {
                if let Err(e) = result {
                    tracing::debug!("session with {} port {} ended: {e}", peer.ip(), peer.port());
                }
                return;
            }
            () = token.cancelled() => break "server shutting down",
            () = &mut deadline, if !grace_over => {
                grace_over = true;
                if !authenticated.load(Ordering::SeqCst) {
                    tracing::info!("Timeout before authentication for {} port {}", peer.ip(), peer.port());
                    break "login grace time exceeded";
                }
            }
        }
    };
    let _ = handle.disconnect(Disconnect::ByApplication, reason.to_owned(), "en".to_owned()).await;
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, &mut session).await;
}
