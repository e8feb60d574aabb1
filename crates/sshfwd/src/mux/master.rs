//! The master's side: listen on ControlPath and answer `-O` requests
//! (`ssh`'s or sshfwd's) until the run ends, `-O exit` ends it, or
//! `-O stop` closes the socket.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ssh_files::config::{ControlMaster, ControlPersist};
use tokio::io::AsyncReadExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{watch, Mutex};
use tokio_util::sync::CancellationToken;

use super::forwards::Forwards;
use super::protocol::{Message, NewSession, VERSION};
use super::session;
use super::stream;
use super::Control;
use crate::ssh::{ReconnectingTunnel, SessionRequest};

/// How long a peer may take over the bytes that carry its descriptors
/// after asking for a session or a stdio forwarding.
const FD_BYTES_TIMEOUT: Duration = Duration::from_secs(5);

/// What a master answers `MUX_C_NEW_STDIO_FWD` with; OpenSSH's client
/// then connects on its own.
const NO_SESSIONS: &str = "sshfwd does not share stdio forwardings through its control socket";

/// The master of one run; inert when the run is not one (no ControlPath,
/// ControlMaster no, or the socket already taken). Dropping it removes
/// the socket.
pub struct Master {
    listening: Option<Listening>,
    persist: ControlPersist,
    /// `-O stop` ends the run once shared sessions are done: it has no
    /// command of its own (-N).
    stop_ends_run: bool,
}

/// A master's live socket.
struct Listening {
    path: PathBuf,
    /// `-O exit` was received.
    exit: CancellationToken,
    /// Closes the socket: `-O stop`, or the end of the run.
    stop: CancellationToken,
    /// Control connections open now.
    clients: watch::Receiver<usize>,
}

/// Why the control socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// Another master listens there (OpenSSH's words).
    #[error("ControlSocket {0} already exists, disabling multiplexing")]
    Exists(String),
    /// Binding, linking or setting its mode failed.
    #[error("ControlSocket {path}: {source}")]
    Io { path: String, source: io::Error },
}

impl Master {
    /// Listens on the run's ControlPath when it is a master; a socket that
    /// cannot be set up leaves the run going without one, as in OpenSSH.
    pub fn start(control: &Control, own_command: bool, forwards: Forwards) -> Master {
        let stop_ends_run = !own_command;
        let inert = Master { listening: None, persist: control.persist, stop_ends_run };
        let Some(path) = control.master_path() else { return inert };
        tracing::debug!("setting up multiplex master socket");
        if matches!(control.master, ControlMaster::Ask | ControlMaster::AutoAsk) {
            tracing::warn!(
                "Warning: sshfwd does not ask before sharing its connection: ControlMaster ask is served as yes"
            );
        }
        let listener = match bind(path) {
            Ok(listener) => listener,
            Err(e) => {
                tracing::error!("{e}");
                return inert;
            }
        };
        let (exit, stop) = (CancellationToken::new(), CancellationToken::new());
        let (count, clients) = watch::channel(0);
        let tunnel = forwards.tunnel();
        let forwards = Arc::new(Mutex::new(forwards));
        let served = Served { forwards, exit: exit.clone(), stop: stop.clone(), count, tunnel };
        tokio::spawn(accept(listener, path.clone(), served));
        let listening = Listening { path: path.clone(), exit, stop, clients };
        Master { listening: Some(listening), persist: control.persist, stop_ends_run }
    }

    /// Resolves when a client asked the master to exit (`-O exit`), or,
    /// for a run without a command of its own (-N), once `-O stop` closed
    /// the socket and the last shared session ended, as ssh does.
    pub async fn exit_requested(&self) {
        let Some(listening) = &self.listening else { return std::future::pending().await };
        let stopped = async {
            if !self.stop_ends_run {
                return std::future::pending().await;
            }
            listening.stop.cancelled().await;
            let mut clients = listening.clients.clone();
            while *clients.borrow_and_update() > 0 {
                if clients.changed().await.is_err() {
                    return;
                }
            }
        };
        tokio::select! {
            () = listening.exit.cancelled() => {}
            () = stopped => tracing::debug!("control socket closed and no shared session left"),
        }
    }

    /// Whether the run stays up after its command ended (ControlPersist,
    /// with a socket to serve).
    pub fn persists(&self) -> bool {
        self.listening.is_some() && self.persist != ControlPersist::No
    }

    /// Resolves when a persisting master should go: after its
    /// ControlPersist time without clients, on `-O exit`, or once `-O stop`
    /// closed its socket.
    pub async fn persisted(&self) {
        let Some(listening) = &self.listening else { return };
        let idle = async {
            let ControlPersist::For(limit) = self.persist else { return std::future::pending().await };
            let mut clients = listening.clients.clone();
            loop {
                if *clients.borrow_and_update() == 0 {
                    if let Ok(Err(_)) | Err(_) = tokio::time::timeout(limit, clients.changed()).await {
                        return;
                    }
                } else if clients.changed().await.is_err() {
                    return;
                }
            }
        };
        tokio::select! {
            () = idle => tracing::debug!("ControlPersist timeout expired"),
            () = listening.exit.cancelled() => {}
            () = listening.stop.cancelled() => {}
        }
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        if let Some(listening) = &self.listening {
            listening.stop.cancel();
            remove(&listening.path);
        }
    }
}

/// Binds `path` as OpenSSH does: on a temporary name first, mode 0600,
/// then linked into place, so that no client ever finds a socket that does
/// not listen yet and a live master's socket is never replaced. A stale
/// socket (nobody listening) is removed first.
fn bind(path: &Path) -> Result<UnixListener, ListenError> {
    let io_error = |source| ListenError::Io { path: path.display().to_string(), source };
    if path.exists() {
        match std::os::unix::net::UnixStream::connect(path) {
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                tracing::debug!("Stale control socket {}, unlinking", path.display());
                remove(path);
            }
            _ => return Err(ListenError::Exists(path.display().to_string())),
        }
    }
    let temporary = temporary_name(path).map_err(io_error)?;
    let listener = std::os::unix::net::UnixListener::bind(&temporary).map_err(io_error)?;
    let placed = (|| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600))?;
        std::fs::hard_link(&temporary, path)
    })();
    remove(&temporary);
    match placed {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(ListenError::Exists(path.display().to_string()));
        }
        placed => placed.map_err(io_error)?,
    }
    listener.set_nonblocking(true).map_err(io_error)?;
    UnixListener::from_std(listener).map_err(io_error)
}

/// `path.XXXXXXXXXXXXXXXX`, 16 random letters and digits.
fn temporary_name(path: &Path) -> io::Result<PathBuf> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|e| io::Error::other(e.to_string()))?;
    let suffix: String =
        random.iter().map(|b| ALPHABET.get(usize::from(*b) % ALPHABET.len()).map_or('x', |c| char::from(*c))).collect();
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{suffix}"));
    Ok(PathBuf::from(name))
}

fn remove(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != io::ErrorKind::NotFound {
            tracing::debug!("unlink {}: {e}", path.display());
        }
    }
}

/// What every control connection's task shares.
#[derive(Clone)]
struct Served {
    forwards: Arc<Mutex<Forwards>>,
    exit: CancellationToken,
    stop: CancellationToken,
    count: watch::Sender<usize>,
    /// The master's way to the server, for shared sessions.
    tunnel: Option<Arc<ReconnectingTunnel>>,
}

/// Accepts control connections until the socket is closed.
async fn accept(listener: UnixListener, path: PathBuf, served: Served) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::debug!("mux accept: {e}");
                    // Out of descriptors, most likely: give the others time.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = served.stop.cancelled() => break,
        };
        if !same_user(&stream) {
            continue;
        }
        let served = served.clone();
        served.count.send_modify(|n| *n += 1);
        tokio::spawn(async move {
            if let Err(e) = serve(stream, &served).await {
                tracing::debug!("mux client: {e}");
            }
            served.count.send_modify(|n| *n = n.saturating_sub(1));
        });
    }
    drop(listener);
    remove(&path);
}

/// Only this user (and root) may use the master, as OpenSSH checks.
fn same_user(stream: &UnixStream) -> bool {
    let ours = ssh_files::local::uid();
    match stream.peer_cred() {
        Ok(peer) if peer.uid() == 0 || peer.uid() == ours => true,
        Ok(peer) => {
            tracing::error!("multiplex uid mismatch: peer euid {} != uid {ours}", peer.uid());
            false
        }
        Err(e) => {
            tracing::error!("getpeereid failed: {e}");
            false
        }
    }
}

/// Why a control connection ended early.
#[derive(Debug, thiserror::Error)]
enum ServeError {
    #[error("{0}")]
    Stream(#[from] stream::StreamError),
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("expected MUX_MSG_HELLO, received {0:?}")]
    NoHello(Message),
    /// A reply, or a second hello, where a request belongs.
    #[error("unexpected mux message {0:?}")]
    Unexpected(Message),
    #[error("unsupported multiplexing protocol version {0} (expected {VERSION})")]
    Version(u32),
}

/// One control connection: hellos, then requests until the peer leaves.
async fn serve(mut stream: UnixStream, served: &Served) -> Result<(), ServeError> {
    stream::write(&mut stream, &Message::Hello { version: VERSION }).await?;
    match stream::read(&mut stream).await? {
        Some(Message::Hello { version: VERSION }) => {}
        Some(Message::Hello { version }) => return Err(ServeError::Version(version)),
        Some(other) => return Err(ServeError::NoHello(other)),
        None => return Ok(()),
    }
    while let Some(request) = stream::read(&mut stream).await? {
        tracing::debug!("mux request {request:?}");
        let reply = match request {
            Message::AliveCheck { id } => Message::Alive { id, pid: std::process::id() },
            Message::Terminate { id } => {
                stream::write(&mut stream, &Message::Ok { id }).await?;
                served.exit.cancel();
                return Ok(());
            }
            Message::StopListening { id } => {
                served.stop.cancel();
                Message::Ok { id }
            }
            Message::OpenForward { id, forward } => match served.forwards.lock().await.open(&forward).await {
                Ok(()) => Message::Ok { id },
                Err(why) => Message::Failure { id, reason: why.to_string() },
            },
            Message::CloseForward { id, forward } => match served.forwards.lock().await.close(&forward).await {
                Ok(()) => Message::Ok { id },
                Err(why) => Message::Failure { id, reason: why.to_string() },
            },
            Message::NewSession(request) => return shared_session(stream, served, request).await,
            Message::NewStdioForward { id } => {
                drop_descriptors(&mut stream, 2).await?;
                Message::Failure { id, reason: NO_SESSIONS.into() }
            }
            Message::Proxy { id } | Message::Unknown { id: Some(id), .. } => {
                Message::Failure { id, reason: "unsupported request".into() }
            }
            other => return Err(ServeError::Unexpected(other)),
        };
        stream::write(&mut stream, &reply).await?;
    }
    Ok(())
}

/// Runs a client's command on the master's connection with the client's
/// stdin, stdout and stderr, then sends its exit status; the control
/// connection ends with the session, as in OpenSSH.
async fn shared_session(mut stream: UnixStream, served: &Served, request: NewSession) -> Result<(), ServeError> {
    let mut received = Vec::with_capacity(3);
    for _ in 0..3 {
        let descriptor = tokio::time::timeout(FD_BYTES_TIMEOUT, session::receive_descriptor(&stream))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        received.push(descriptor);
    }
    let Ok(descriptors) = <[OwnedFd; 3]>::try_from(received) else { return Ok(()) };
    let id = request.id;
    let Some(connection) = served.tunnel.as_ref().and_then(|tunnel| tunnel.current()) else {
        let reason = "the master has no connection".to_owned();
        stream::write(&mut stream, &Message::Failure { id, reason }).await?;
        return Ok(());
    };
    // `NAME=value` pairs, as SendEnv and SetEnv give them.
    let environment: Vec<(String, String)> = request
        .env
        .iter()
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    let session_request =
        SessionRequest { command: &request.command, subsystem: request.subsystem, environment: &environment };
    stream::write(&mut stream, &Message::SessionOpened { id, session: id }).await?;
    let (mut from_client, mut to_client) = stream.split();
    // The client sends nothing more: anything read means it is gone.
    let client_gone = async {
        let _ = from_client.read(&mut [0u8; 1]).await;
    };
    let status = session::run(&connection, &session_request, descriptors, client_gone).await;
    stream::write(&mut to_client, &Message::ExitMessage { session: id, status }).await?;
    Ok(())
}

/// Reads past the `count` descriptors a client sends after asking for a
/// session (stdin, stdout, stderr) or stdio forwarding: one byte each with
/// the descriptor attached. A plain read drops the descriptors.
async fn drop_descriptors(stream: &mut UnixStream, count: usize) -> io::Result<()> {
    let mut bytes = vec![0; count];
    tokio::time::timeout(FD_BYTES_TIMEOUT, stream.read_exact(&mut bytes))
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
    Ok(())
}
