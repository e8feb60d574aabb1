//! How the SSH session's bytes reach the server: a TCP connection of our
//! own, a ProxyCommand's pipes, or a channel through a jump host. Each
//! module opens one kind; `Carrier` keeps what must outlive the session's
//! stream and closes it at the end.

mod command;
mod interface;
mod jump;
mod tcp;

use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use ssh_files::config::AddressFamily;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::connection::{ConnectOptions, SshConnection};
pub(super) use command::spawn as spawn_command;
pub(super) use jump::open as open_through;
pub(super) use tcp::connect as connect_tcp;

/// How long closing a transport waits: the server's last bytes, or the
/// ProxyCommand's exit.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The way to the server, fixed before connecting (so that reconnecting
/// and the bridge's pool go the same way).
#[derive(Debug, Clone)]
pub enum Transport {
    /// A TCP connection from this host.
    Direct(SocketOptions),
    /// `ProxyCommand`, tokens expanded: its stdin and stdout carry the
    /// session.
    Command(String),
    /// `ProxyJump`: a channel through an SSH connection to the last hop
    /// (which may itself be reached through the hops before it).
    Jump(Box<JumpHost>),
}

/// `-4`/`-6`, `-b`, `-B`, `ConnectionAttempts`, `TCPKeepAlive`.
#[derive(Debug, Clone)]
pub struct SocketOptions {
    pub address_family: AddressFamily,
    /// An address or host name to connect from.
    pub bind_address: Option<String>,
    /// An interface whose address to connect from (ignored with a bind address).
    pub bind_interface: Option<String>,
    /// Tries, one a second.
    pub connection_attempts: u32,
    pub keepalive: bool,
}

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions {
            address_family: AddressFamily::Any,
            bind_address: None,
            bind_interface: None,
            connection_attempts: 1,
            keepalive: true,
        }
    }
}

/// One hop of a `ProxyJump` list, with its own configuration.
#[derive(Debug, Clone)]
pub struct JumpHost {
    /// The hop as the user wrote it, for messages.
    pub name: String,
    pub options: ConnectOptions,
}

/// What a session's stream depends on, kept beside the session.
pub(super) enum Carrier {
    /// A second handle on the SSH socket, so that it outlives russh's: see
    /// [`Carrier::close`].
    Tcp(Mutex<Option<std::net::TcpStream>>),
    /// The ProxyCommand, killed and reaped at the end.
    Command(Mutex<Option<Box<tokio::process::Child>>>),
    /// The connection to the jump host the session's channel goes through.
    Jump(Arc<SshConnection>),
}

impl Carrier {
    /// Closes what carried a session that has said goodbye.
    pub(super) async fn close(&self) {
        match self {
            Carrier::Tcp(socket) => {
                // Closing a socket with unread bytes (a late packet from the
                // server) sends a reset, and the server may then fail on a
                // write before it reads our disconnect. Read until the
                // server closes.
                let socket = socket.lock().unwrap_or_else(|p| p.into_inner()).take();
                if let Some(socket) = socket.filter(|s| s.set_nonblocking(true).is_ok()) {
                    if let Ok(mut socket) = tokio::net::TcpStream::from_std(socket) {
                        let _ = socket.shutdown().await;
                        let mut sink = [0u8; 4096];
                        let drain = async { while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {} };
                        let _ = tokio::time::timeout(CLOSE_GRACE, drain).await;
                    }
                }
            }
            Carrier::Command(child) => {
                let child = child.lock().unwrap_or_else(|p| p.into_inner()).take();
                if let Some(mut child) = child {
                    let _ = child.start_kill();
                    let _ = tokio::time::timeout(CLOSE_GRACE, child.wait()).await;
                }
            }
            Carrier::Jump(via) => via.disconnect().await,
        }
    }
}
