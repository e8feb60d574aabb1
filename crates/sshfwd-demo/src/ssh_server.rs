//! The demo's SSH server: sshfwd-server in-process on a loopback port,
//! with a fresh host key and a fresh client key that only it accepts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use sshfwd_server::{KeyError, KeyOptions, RunningServer, ServerConfig};

use crate::keys::{known_hosts_line, ClientKeyPair};

/// A running in-process SSH server and the files a client needs for it.
pub struct SshServer {
    pub address: SocketAddr,
    /// The host key's fingerprint as OpenSSH prints it.
    pub fingerprint: String,
    /// The client's private key (OpenSSH format, mode 0600).
    pub client_key: PathBuf,
    /// A known_hosts file naming the server's host key.
    pub known_hosts: PathBuf,
    server: RunningServer,
}

/// Failure to start the demo's SSH server.
#[derive(Debug, thiserror::Error)]
pub enum SshServerError {
    /// The server's host key or the client's key could not be generated
    /// or written.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The server could not bind or start.
    #[error(transparent)]
    Server(#[from] sshfwd_server::ServerError),
    /// The known_hosts file could not be written.
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Starts the server on 127.0.0.1, serving `sftp_root` over SFTP, and
/// writes the client's key and known_hosts into `dir`.
pub(crate) async fn start(dir: &Path, sftp_root: &Path) -> Result<SshServer, SshServerError> {
    let client = ClientKeyPair::generate()?;
    let mut config = ServerConfig::new(sshfwd_server::generate_host_key()?);
    config.sftp_root = Some(sftp_root.to_owned());
    config.authorized_keys.push(client.public.clone(), KeyOptions::default());
    let server = sshfwd_server::spawn(config, SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let address = server.local_addr();

    let client_key = dir.join("client_ed25519");
    client.write_private(&client_key)?;
    let known_hosts = dir.join("known_hosts");
    let line = known_hosts_line(address, server.host_key())?;
    std::fs::write(&known_hosts, format!("{line}\n"))
        .map_err(|source| SshServerError::Write { path: known_hosts.clone(), source })?;
    let fingerprint = sshfwd_server::fingerprint(server.host_key());
    Ok(SshServer { address, fingerprint, client_key, known_hosts, server })
}

impl SshServer {
    /// Stops accepting and waits for the sessions to end.
    pub async fn stop(self) {
        if let Err(e) = self.server.stop().await {
            tracing::debug!("demo SSH server: {e}");
        }
    }
}
