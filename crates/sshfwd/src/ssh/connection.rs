//! Opening the SSH connection and the operations on it.

use std::sync::Arc;
use std::time::Duration;

use russh::client::Handle;
use sshfwd_net::io_reason;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::algorithms::{AlgorithmError, AlgorithmOptions};
use super::auth::{self, AuthError, AuthOptions};
use super::channel::SshChannel;
use super::handler::{ClientHandler, HandlerError, SessionEnd};
use super::hostkey::HostKeyPolicy;
use super::prompt::Prompter;
use super::remote_registry::RemoteRegistry;
use super::tunnel::{ChannelOpenError, ForwardedSink, ForwardedStreamSink, RemoteForwardError, Tunnel};

/// Socket read buffer under the SSH transport: what one read hands russh
/// before the session task yields to the relays (see `socket`); 64 KiB
/// moved bulk data as fast as 256 KiB did, with less held at a time.
const READ_BUFFER: usize = 64 * 1024;

/// Everything needed to connect and log in.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The address to connect to (HostName).
    pub host: String,
    pub port: u16,
    pub connect_timeout: Option<Duration>,
    pub server_alive_interval: Option<Duration>,
    pub server_alive_count_max: u32,
    pub algorithms: AlgorithmOptions,
    pub host_key: HostKeyPolicy,
    pub auth: AuthOptions,
    pub batch_mode: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("sshfwd: connect to host {host} port {port}: {reason}")]
    Tcp { host: String, port: u16, reason: String },
    #[error("sshfwd: Could not resolve hostname {host}: Name or service not known")]
    Resolve { host: String },
    #[error("{0}")]
    Algorithms(#[from] AlgorithmError),
    #[error("Host key verification failed.")]
    HostKey,
    #[error("{0}")]
    Auth(#[from] AuthError),
    #[error("sshfwd: handshake with {host} port {port}: {reason}")]
    Handshake { host: String, port: u16, reason: String },
}

/// An authenticated SSH connection.
pub struct SshConnection {
    handle: Handle<ClientHandler>,
    remote: Arc<RemoteRegistry>,
    ended: watch::Receiver<Option<SessionEnd>>,
    /// A second handle on the SSH socket, so that it outlives russh's: see
    /// `disconnect`.
    socket: std::sync::Mutex<Option<std::net::TcpStream>>,
}

pub async fn connect(options: &ConnectOptions) -> Result<SshConnection, ConnectError> {
    let preferred = options.algorithms.preferred()?;
    let config = russh::client::Config {
        preferred,
        keepalive_interval: options.server_alive_interval,
        keepalive_max: options.server_alive_count_max as usize,
        // Twice OpenSSH's channel window: bulk transfers do not stall on
        // window adjustments (2-16 MiB measured alike, FACTS.md). The
        // window is widened as the relays read (vendor/russh), so this is
        // also what a local reader that stops reading can leave queued.
        window_size: 4 * 1024 * 1024,
        maximum_packet_size: 65535,
        // A full queue still parks the whole session: room for a window's
        // worth of packets down to 4 KiB (slots are allocated as used).
        channel_buffer_size: 1024,
        nodelay: true,
        ..Default::default()
    };
    let stream = tcp_connect(&options.host, options.port, options.connect_timeout).await?;
    let socket = socket2::SockRef::from(&stream).try_clone().ok().map(std::net::TcpStream::from);
    let prompter = match &options.auth.supplied_password {
        Some(password) => Prompter::answering(password.clone()),
        None => Prompter::new(options.batch_mode),
    };
    let remote = Arc::new(RemoteRegistry::default());
    let (ended_tx, ended) = watch::channel(None);
    let handler = ClientHandler {
        policy: options.host_key.clone(),
        prompter: prompter.clone(),
        remote: remote.clone(),
        server_key: None,
        ended: ended_tx,
    };
    // russh reads each packet with two exact reads; a read buffer turns
    // those into few large socket reads on bulk transfers (without it,
    // downloads cost about 10 % more CPU per GiB, bench/run).
    let stream = tokio::io::BufReader::with_capacity(READ_BUFFER, super::socket::SshSocket::new(stream));
    let handshake = russh::client::connect_stream(Arc::new(config), stream, handler);
    let handshake = async {
        match options.connect_timeout {
            Some(t) => tokio::time::timeout(t, handshake)
                .await
                .unwrap_or(Err(HandlerError::Ssh(russh::Error::ConnectionTimeout))),
            None => handshake.await,
        }
    };
    let mut handle = handshake.await.map_err(|e| match e {
        HandlerError::HostKey(_) => ConnectError::HostKey,
        HandlerError::Ssh(russh::Error::UnknownKey) => ConnectError::HostKey,
        other => ConnectError::Handshake { host: options.host.clone(), port: options.port, reason: describe(&other) },
    })?;
    tracing::debug!("Authenticating to {}:{} as '{}'", options.host, options.port, options.auth.user);
    auth::authenticate(&mut handle, &options.auth, &options.host, &prompter).await?;
    tracing::debug!("Authenticated to {} ([{}]:{}).", options.host, options.host, options.port);
    Ok(SshConnection { handle, remote, ended, socket: std::sync::Mutex::new(socket) })
}

fn describe(e: &HandlerError) -> String {
    match e {
        HandlerError::Ssh(russh::Error::ConnectionTimeout) => "Connection timed out".into(),
        HandlerError::Ssh(russh::Error::Disconnect) => "Connection closed by remote host".into(),
        other => other.to_string(),
    }
}

async fn tcp_connect(host: &str, port: u16, timeout: Option<Duration>) -> Result<TcpStream, ConnectError> {
    let host_for_lookup = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<_> = tokio::net::lookup_host((host_for_lookup, port))
        .await
        .map_err(|_| ConnectError::Resolve { host: host.to_owned() })?
        .collect();
    if addrs.is_empty() {
        return Err(ConnectError::Resolve { host: host.to_owned() });
    }
    let mut last = String::from("Connection refused");
    for addr in addrs {
        tracing::debug!("Connecting to {host} [{}] port {port}.", addr.ip());
        let attempt = TcpStream::connect(addr);
        let result = match timeout {
            Some(t) => match tokio::time::timeout(t, attempt).await {
                Ok(r) => r,
                Err(_) => {
                    last = "Connection timed out".into();
                    continue;
                }
            },
            None => attempt.await,
        };
        match result {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                tracing::debug!("Connection established.");
                return Ok(stream);
            }
            Err(e) => last = io_reason(&e),
        }
    }
    Err(ConnectError::Tcp { host: host.to_owned(), port, reason: last })
}

/// How long shutting down waits for the disconnect message to be sent.
const DISCONNECT_GRACE: Duration = Duration::from_secs(2);

impl Tunnel for SshConnection {
    type Channel = SshChannel;

    async fn open_direct_tcpip(
        &self,
        host: &str,
        port: u16,
        originator: std::net::SocketAddr,
    ) -> Result<SshChannel, ChannelOpenError> {
        self.handle
            .channel_open_direct_tcpip(host, u32::from(port), originator.ip().to_string(), u32::from(originator.port()))
            .await
            .map(SshChannel)
            .map_err(|e| ChannelOpenError::Refused(super::describe_ssh_error(&e)))
    }

    async fn request_remote_forward(
        &self,
        address: &str,
        port: u16,
        sink: ForwardedSink<SshChannel>,
    ) -> Result<u16, RemoteForwardError> {
        let refused = |e: russh::Error| RemoteForwardError(super::describe_ssh_error(&e));
        if port != 0 {
            // The server listens before it replies: a fixed port must be
            // known before the first connection can arrive. (An allocated
            // port is known to nobody before it is returned.)
            self.remote.insert(address, u32::from(port), sink);
            return match self.handle.tcpip_forward(address, u32::from(port)).await {
                Ok(_) => Ok(port),
                Err(e) => {
                    self.remote.remove(address, u32::from(port));
                    Err(refused(e))
                }
            };
        }
        let allocated = self.handle.tcpip_forward(address, 0).await.map_err(refused)?;
        self.remote.insert(address, allocated, sink);
        u16::try_from(allocated).map_err(|_| RemoteForwardError(format!("the server allocated port {allocated}")))
    }

    fn connection_lost(&self) -> bool {
        self.is_ended()
    }

    async fn open_direct_streamlocal(&self, path: &str) -> Result<SshChannel, ChannelOpenError> {
        self.handle
            .channel_open_direct_streamlocal(path)
            .await
            .map(SshChannel)
            .map_err(|e| ChannelOpenError::Refused(super::describe_ssh_error(&e)))
    }

    async fn request_remote_streamlocal(
        &self,
        path: &str,
        sink: ForwardedStreamSink<SshChannel>,
    ) -> Result<(), RemoteForwardError> {
        // Registered first, as a fixed port: the server listens before it
        // replies.
        self.remote.insert_path(path, sink);
        self.handle.streamlocal_forward(path).await.map_err(|e| {
            self.remote.remove_path(path);
            RemoteForwardError(super::describe_ssh_error(&e))
        })
    }

    async fn cancel_remote_streamlocal(&self, path: &str) -> Result<(), RemoteForwardError> {
        self.remote.remove_path(path);
        self.handle
            .cancel_streamlocal_forward(path)
            .await
            .map_err(|e| RemoteForwardError(super::describe_ssh_error(&e)))
    }

    async fn cancel_remote_forward(&self, address: &str, port: u16) -> Result<(), RemoteForwardError> {
        self.remote.remove(address, u32::from(port));
        self.handle
            .cancel_tcpip_forward(address, u32::from(port))
            .await
            .map_err(|e| RemoteForwardError(super::describe_ssh_error(&e)))
    }
}

impl SshConnection {
    pub(super) async fn open_session(&self) -> Result<russh::Channel<russh::client::Msg>, russh::Error> {
        self.handle.channel_open_session().await
    }

    /// Whether the session has ended.
    pub fn is_ended(&self) -> bool {
        self.ended.borrow().is_some()
    }

    /// Resolves when the session has ended, with the reason.
    pub async fn ended(&self) -> SessionEnd {
        let mut ended = self.ended.clone();
        let end = match ended.wait_for(Option::is_some).await {
            Ok(end) => end.clone(),
            Err(_) => None,
        };
        end.unwrap_or(SessionEnd::Closed)
    }

    /// Says goodbye to the server and waits (briefly) until the message is
    /// out: russh sends it from its own task, which would otherwise die
    /// with the process.
    pub async fn disconnect(&self) {
        let _ = self.handle.disconnect(russh::Disconnect::ByApplication, "disconnected by user", "en").await;
        let _ = tokio::time::timeout(DISCONNECT_GRACE, self.ended()).await;
        // Closing a socket with unread bytes (a late packet from the
        // server) sends a reset, and the server may then fail on a write
        // before it reads our disconnect. Read until the server closes.
        let socket = self.socket.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(socket) = socket.filter(|s| s.set_nonblocking(true).is_ok()) {
            if let Ok(mut socket) = TcpStream::from_std(socket) {
                let _ = socket.shutdown().await;
                let mut sink = [0u8; 4096];
                let drain = async { while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {} };
                let _ = tokio::time::timeout(DISCONNECT_GRACE, drain).await;
            }
        }
    }
}
