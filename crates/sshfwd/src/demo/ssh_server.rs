//! The demo's SSH server: sshfwd-server in-process on a loopback port,
//! with a fresh host key and a fresh client key that only it accepts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use sshfwd_server::{KeyOptions, RunningServer, ServerConfig};

/// A running in-process SSH server and the files a client needs for it.
pub struct DemoSshServer {
    pub address: SocketAddr,
    /// The host key's fingerprint as OpenSSH prints it.
    pub fingerprint: String,
    /// The client's private key (OpenSSH format, mode 0600).
    pub client_key: PathBuf,
    /// A known_hosts file naming the server's host key.
    pub known_hosts: PathBuf,
    server: RunningServer,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoSshError {
    #[error(transparent)]
    Key(#[from] sshfwd_server::KeyError),
    #[error(transparent)]
    Server(#[from] sshfwd_server::ServerError),
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// Starts the server on 127.0.0.1 and writes the client's key and
/// known_hosts into `dir`.
pub async fn start(dir: &Path) -> Result<DemoSshServer, DemoSshError> {
    let client = sshfwd_server::generate_client_key()?;
    let mut config = ServerConfig::new(sshfwd_server::generate_host_key()?);
    config.authorized_keys.push(client.public.clone(), KeyOptions::default());
    let server = sshfwd_server::spawn(config, SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let address = server.local_addr();

    let client_key = dir.join("client_ed25519");
    sshfwd_server::write_private_key(&client.private, &client_key)?;
    let known_hosts = dir.join("known_hosts");
    let line = sshfwd_server::known_hosts_line(address, server.host_key())?;
    std::fs::write(&known_hosts, format!("{line}\n"))
        .map_err(|source| DemoSshError::Write { path: known_hosts.clone(), source })?;
    let fingerprint = sshfwd_server::fingerprint(server.host_key());
    Ok(DemoSshServer { address, fingerprint, client_key, known_hosts, server })
}

impl DemoSshServer {
    pub async fn stop(self) {
        if let Err(e) = self.server.stop().await {
            tracing::debug!("demo SSH server: {e}");
        }
    }
}
