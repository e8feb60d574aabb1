//! The demo's SSH server: sshfwd-server in-process on a loopback port,
//! with a fresh host key and a fresh client key that only it accepts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A running in-process SSH server and the files a client needs for it.
pub struct DemoSshServer {
    pub address: SocketAddr,
    /// The host key's fingerprint as OpenSSH prints it.
    pub fingerprint: String,
    /// The client's private key (OpenSSH format, mode 0600).
    pub client_key: PathBuf,
    /// A known_hosts file naming the server's host key.
    pub known_hosts: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoSshError {
    #[error("not available yet")]
    Unavailable,
}

pub async fn start(_dir: &Path) -> Result<DemoSshServer, DemoSshError> {
    Err(DemoSshError::Unavailable)
}

impl DemoSshServer {
    pub fn stop(&self) {}
}
