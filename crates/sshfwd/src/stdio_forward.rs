//! `-W host:port`: standard input and output joined to a direct-tcpip
//! channel through the server, as OpenSSH's stdio forwarding (what makes
//! sshfwd usable as another ssh's ProxyCommand). Half-close is exact:
//! EOF on stdin becomes EOF on the channel, the channel's EOF closes
//! stdout, and the run ends when both directions have ended.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::ssh::{ChannelReader, ChannelWriter, DataChannel, Tunnel};

/// The originator OpenSSH names for a stdio forwarding.
const ORIGINATOR: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 65535);
/// Standard input reads: one SSH packet's worth.
const BUFFER: usize = 32 * 1024;

/// Where `-W` forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StdioTarget {
    pub host: String,
    pub port: u16,
}

/// `-W` without `host:port`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Bad stdio forwarding specification '{0}'")]
pub struct StdioTargetError(String);

impl std::str::FromStr for StdioTarget {
    type Err = StdioTargetError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (host, port) = crate::jump_list::parse_host_port(text).ok_or_else(|| StdioTargetError(text.into()))?;
        Ok(StdioTarget { host, port })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    /// The server would not open the channel (OpenSSH's words).
    #[error("channel 0: open failed: {0}\nstdio forwarding failed")]
    Refused(String),
    /// Standard input or output failed.
    #[error("stdio forwarding: {0}")]
    Io(String),
}

/// Forwards standard input and output to `target` until both directions
/// have ended.
pub async fn run<T: Tunnel>(tunnel: &T, target: &StdioTarget) -> Result<(), StdioError> {
    tracing::debug!("stdio forwarding to {}:{}", target.host, target.port);
    let channel = tunnel
        .open_direct_tcpip(&target.host, target.port, ORIGINATOR)
        .await
        .map_err(|e| StdioError::Refused(e.to_string()))?;
    let (mut from_server, to_server) = channel.split();
    let upstream = async {
        let mut stdin = tokio::io::stdin();
        let mut buffer = vec![0u8; BUFFER];
        loop {
            let n = stdin.read(&mut buffer).await.map_err(|e| StdioError::Io(sshfwd_net::io_reason(&e)))?;
            if n == 0 {
                to_server.eof().await;
                return Ok(());
            }
            let chunk = Bytes::copy_from_slice(buffer.get(..n).unwrap_or_default());
            // A closed channel: the downstream side ends the run.
            if to_server.write(chunk).await.is_err() {
                return Ok(());
            }
        }
    };
    let downstream = async {
        let mut stdout = tokio::io::stdout();
        while let Some(data) = from_server.read().await {
            stdout.write_all(&data).await.map_err(|e| StdioError::Io(sshfwd_net::io_reason(&e)))?;
            stdout.flush().await.map_err(|e| StdioError::Io(sshfwd_net::io_reason(&e)))?;
        }
        close_stdout();
        Ok::<(), StdioError>(())
    };
    tokio::try_join!(upstream, downstream)?;
    to_server.close().await;
    Ok(())
}

/// Tells the reader of our stdout that no more is coming, as OpenSSH
/// closes its copy; /dev/null takes the descriptor's place so that it
/// never names another file.
fn close_stdout() {
    let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else { return };
    // SAFETY: dup2 onto descriptor 1 from a descriptor we own; nothing
    // else writes to stdout once the forwarding's output is done.
    unsafe { libc::dup2(null.as_raw_fd(), libc::STDOUT_FILENO) };
}
