//! The accept loop: one russh session per TCP connection, run through
//! [`sshfwd_net::accept`] (a cap on concurrent connections, shutdown
//! through a cancellation token), and the handle of a spawned server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use russh::keys::PublicKey;
use russh::server::Config;
use russh::Disconnect;
use sshfwd_net::admission::Admission;
use sshfwd_net::{AcceptOptions, Service};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{prepare, ServerConfig, Shared};
use crate::error::ServerError;
use crate::login::LoginState;
use crate::session::SessionHandler;

/// How long a shut-down server waits for its sessions to say goodbye.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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

async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let local = listener.local_addr().map_err(ServerError::Listener)?;
    let config = &shared.config;
    // The sockets held at once: every authenticated connection and every
    // startup MaxStartups lets in; the admission check sorts them.
    let sockets = config.max_connections + config.admission.max_startups.full;
    let options = AcceptOptions { max_connections: sockets, name: "sshfwd-server".to_owned() };
    let service = SshService {
        russh_config: Arc::new(config.russh_config()),
        admission: Admission::new(config.admission.clone()),
        places: Arc::new(Semaphore::new(config.max_connections)),
        shared,
    };
    let tracker = TaskTracker::new();
    tracing::info!("Server listening on {} port {}.", local.ip(), local.port());
    sshfwd_net::accept::serve(vec![listener], options, shutdown, tracker.clone(), service).await;
    tracing::info!("Received shutdown; closing {} session(s).", tracker.len());
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait()).await.is_err() {
        tracing::warn!("sessions still open after {SHUTDOWN_GRACE:?}; leaving them");
    }
    Ok(())
}

/// Runs an SSH session on each accepted connection.
#[derive(Clone)]
struct SshService {
    shared: Arc<Shared>,
    /// Built once from the configuration, shared by every session.
    russh_config: Arc<Config>,
    /// Unauthenticated connections and penalties, by source.
    admission: Arc<Admission>,
    /// Places for authenticated connections.
    places: Arc<Semaphore>,
}

impl Service for SshService {
    async fn serve(&self, stream: TcpStream, peer: SocketAddr, shutdown: CancellationToken) {
        let startup = match self.admission.admit(peer.ip(), Instant::now(), rand::random::<f64>()) {
            Ok(startup) => startup,
            Err(refusal) => {
                // As sshd: closed before the banner, the reason in the log.
                tracing::info!("drop connection from {} port {}: {refusal}", peer.ip(), peer.port());
                return;
            }
        };
        let limit = self.shared.config.max_connections;
        let login = LoginState::new(peer.ip(), self.admission.clone(), startup, self.places.clone(), limit);
        let handler = SessionHandler::new(self.shared.clone(), peer, shutdown.clone(), login.clone());
        let grace = self.shared.config.login_grace_time;
        let connection = Connection { peer, token: shutdown, login: login.clone(), grace };
        let grace_exceeded = run_connection(self.russh_config.clone(), stream, handler, connection).await;
        login.finish(grace_exceeded);
    }
}

/// What the connection task watches besides the session itself.
struct Connection {
    peer: SocketAddr,
    /// Server shutdown (a child of the server's token).
    token: CancellationToken,
    /// Set by the handler on successful authentication.
    login: Arc<LoginState>,
    grace: Duration,
}

/// Runs one connection to its end; whether it ended for not logging in
/// within the grace time.
async fn run_connection(
    config: Arc<Config>,
    socket: TcpStream,
    handler: SessionHandler,
    connection: Connection,
) -> bool {
    let Connection { peer, token, login, grace } = connection;
    // russh runs the session in a task of its own, which a dropped handle
    // does not stop: a second handle on the socket lets us end it.
    let socket_copy = std::os::fd::AsFd::as_fd(&socket).try_clone_to_owned().ok().map(std::net::TcpStream::from);
    if let Ok(local) = socket.local_addr() {
        tracing::info!("Connection from {} port {} on {} port {}", peer.ip(), peer.port(), local.ip(), local.port());
    }
    let setup = tokio::time::timeout(grace, russh::server::run_stream(config, socket, handler));
    let session = match setup.await {
        Ok(Ok(session)) => session,
        Ok(Err(e)) => {
            tracing::info!("Connection from {} port {} failed: {e}", peer.ip(), peer.port());
            return false;
        }
        Err(_) => {
            tracing::info!("Timeout before authentication for {} port {}", peer.ip(), peer.port());
            return true;
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
                return false;
            }
            () = token.cancelled() => break "server shutting down",
            () = &mut deadline, if !grace_over => {
                grace_over = true;
                if !login.is_authenticated() {
                    tracing::info!("Timeout before authentication for {} port {}", peer.ip(), peer.port());
                    break "login grace time exceeded";
                }
            }
        }
    };
    // Both bounded: in the middle of a key exchange the disconnect cannot
    // be sent (nor the session end); dropping the session closes the socket.
    let disconnect = handle.disconnect(Disconnect::ByApplication, reason.to_owned(), "en".to_owned());
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, disconnect).await;
    if tokio::time::timeout(SHUTDOWN_GRACE, &mut session).await.is_err() {
        if let Some(socket) = &socket_copy {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
    }
    grace_over && !login.is_authenticated()
}
