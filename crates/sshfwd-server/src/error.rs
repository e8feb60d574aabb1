//! Why the server could not start or stopped abnormally.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// [`ServerConfig::host_keys`](crate::ServerConfig::host_keys) is empty.
    #[error("no host key configured")]
    NoHostKey,
    /// The sftp root is missing or not a directory.
    #[error("sftp root {path}: {reason}")]
    SftpRoot { path: PathBuf, reason: String },
    /// The listener's address could not be read.
    #[error("listener: {0}")]
    Listener(#[source] std::io::Error),
    /// [`spawn`](crate::spawn) could not bind its address.
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
