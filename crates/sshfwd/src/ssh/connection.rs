//! Opening the SSH connection and the operations on it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use russh::client::Handle;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use super::algorithms::{AlgorithmError, AlgorithmOptions};
use super::auth::{self, AuthError, AuthOptions};
use super::channel::SshChannel;
use super::handler::{ClientHandler, HandlerError, SessionEnd};
use super::hostkey::HostKeyPolicy;
use super::prompt::Prompter;
use super::remote_registry::RemoteRegistry;
use super::transport::{self, Carrier, Transport};
use super::tunnel::{ChannelOpenError, ForwardedSink, ForwardedStreamSink, RemoteForwardError, Tunnel};

/// Socket read buffer under the SSH transport: what one read hands russh
/// before the session task yields to the relays (see `socket`); 64 KiB
/// moved bulk data as fast as 256 KiB did, with less held at a time.
const READ_BUFFER: usize = 64 * 1024;

/// What a ProxyCommand or jump host's channel is called in OpenSSH's
/// messages: there is no peer address to name.
const UNKNOWN_PEER: &str = "UNKNOWN port 65535";

/// Everything needed to connect and log in.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The host to reach (HostName): connected to, given to the
    /// ProxyCommand, or asked of the jump host.
    pub host: String,
    pub port: u16,
    pub connect_timeout: Option<Duration>,
    pub server_alive_interval: Option<Duration>,
    pub server_alive_count_max: u32,
    pub algorithms: AlgorithmOptions,
    pub host_key: HostKeyPolicy,
    pub auth: AuthOptions,
    pub batch_mode: bool,
    /// The way to the server.
    pub transport: Transport,
    /// `ForwardAgent`: the local agent socket that the server's agent
    /// channels reach; `None`: agent forwarding off.
    pub forward_agent: Option<std::path::PathBuf>,
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
    /// The peer closed before the SSH version exchange (OpenSSH's words;
    /// a ProxyCommand or jump channel is `UNKNOWN port 65535`).
    #[error("kex_exchange_identification: Connection closed by remote host\nConnection closed by {peer}")]
    ClosedBeforeBanner { peer: String },
    /// The ProxyCommand could not be started.
    #[error("sshfwd: exec({shell}): {reason}")]
    ProxyCommand { shell: String, reason: String },
    /// A jump host could not be connected to or logged in to.
    #[error("{source}\nsshfwd: connection to jump host {hop} failed")]
    Jump { hop: String, source: Box<ConnectError> },
    /// A jump host would not open the channel to the next host.
    #[error("channel 0: open failed: {reason}\nsshfwd: jump host {hop} could not connect to {host} port {port}")]
    JumpChannel { hop: String, host: String, port: u16, reason: String },
}

/// An authenticated SSH connection.
pub struct SshConnection {
    handle: Handle<ClientHandler>,
    remote: Arc<RemoteRegistry>,
    ended: watch::Receiver<Option<SessionEnd>>,
    /// What the session's stream goes over, closed after the goodbye.
    carrier: Carrier,
    /// Whether sessions ask the server to forward the agent (`-A`).
    pub(super) agent_forwarding: bool,
}

/// What [`connect`] returns: boxed with its type spelled out, since
/// connecting through a jump host connects to the jump host first.
pub type Connecting<'a> = Pin<Box<dyn Future<Output = Result<SshConnection, ConnectError>> + Send + 'a>>;

/// Connects and logs in, through the transport the options name.
pub fn connect(options: &ConnectOptions) -> Connecting<'_> {
    Box::pin(connect_over_transport(options))
}

async fn connect_over_transport(options: &ConnectOptions) -> Result<SshConnection, ConnectError> {
    match &options.transport {
        Transport::Direct(socket) => {
            let stream = transport::connect_tcp(&options.host, options.port, options.connect_timeout, socket).await?;
            let peer = stream
                .peer_addr()
                .map_or_else(|_| UNKNOWN_PEER.to_owned(), |a| format!("{} port {}", a.ip(), a.port()));
            let clone = socket2::SockRef::from(&stream).try_clone().ok().map(std::net::TcpStream::from);
            // russh reads each packet with two exact reads; a read buffer turns
            // those into few large socket reads on bulk transfers (without it,
            // downloads cost about 10 % more CPU per GiB, bench/run).
            let stream = tokio::io::BufReader::with_capacity(READ_BUFFER, super::socket::SshSocket::new(stream));
            establish(options, stream, &peer, Carrier::Tcp(std::sync::Mutex::new(clone))).await
        }
        Transport::Command(command) => {
            let (pipe, child) = transport::spawn_command(command)?;
            let stream = tokio::io::BufReader::with_capacity(READ_BUFFER, pipe);
            establish(options, stream, UNKNOWN_PEER, Carrier::Command(std::sync::Mutex::new(Some(Box::new(child)))))
                .await
        }
        Transport::Jump(hop) => {
            let (stream, via) = transport::open_through(hop, &options.host, options.port).await?;
            let result = establish(options, stream, UNKNOWN_PEER, Carrier::Jump(via.clone())).await;
            if result.is_err() {
                via.disconnect().await;
            }
            result
        }
    }
}

/// Runs the SSH handshake and the login over `stream`; `peer` names the
/// other end in messages.
async fn establish<S>(
    options: &ConnectOptions,
    stream: S,
    peer: &str,
    carrier: Carrier,
) -> Result<SshConnection, ConnectError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
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
        agent: options.forward_agent.clone(),
    };
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
        e if closed_before_banner(&e) && !matches!(options.transport, Transport::Direct(_)) => {
            ConnectError::ClosedBeforeBanner { peer: peer.to_owned() }
        }
        other => ConnectError::Handshake { host: options.host.clone(), port: options.port, reason: describe(&other) },
    })?;
    tracing::debug!("Authenticating to {}:{} as '{}'", options.host, options.port, options.auth.user);
    auth::authenticate(&mut handle, &options.auth, &options.host, &prompter).await?;
    tracing::debug!("Authenticated to {} ([{}]:{}).", options.host, options.host, options.port);
    Ok(SshConnection { handle, remote, ended, carrier, agent_forwarding: options.forward_agent.is_some() })
}

/// Whether the handshake failed because the stream ended.
fn closed_before_banner(e: &HandlerError) -> bool {
    match e {
        HandlerError::Ssh(russh::Error::Disconnect) => true,
        HandlerError::Ssh(russh::Error::IO(io)) => matches!(
            io.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
        ),
        _ => false,
    }
}

fn describe(e: &HandlerError) -> String {
    match e {
        HandlerError::Ssh(russh::Error::ConnectionTimeout) => "Connection timed out".into(),
        HandlerError::Ssh(russh::Error::Disconnect) => "Connection closed by remote host".into(),
        other => other.to_string(),
    }
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
    ///
    /// Boxed with its type spelled out: a jump host's connection is closed
    /// by this same function.
    pub fn disconnect(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let _ = self.handle.disconnect(russh::Disconnect::ByApplication, "disconnected by user", "en").await;
            let _ = tokio::time::timeout(DISCONNECT_GRACE, self.ended()).await;
            self.carrier.close().await;
        })
    }
}
