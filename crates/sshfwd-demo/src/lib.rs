//! The servers behind `sshfwd --demo`, on loopback and in-process: an SSH
//! server (sshfwd-server with a fresh host key and a client key that only
//! it accepts, serving SFTP) and an FTP server (libunftp), both on one
//! temporary directory of sample files.
//!
//! The client side, the FTP forward between them and its self-check, stays
//! in sshfwd: this crate cannot depend on sshfwd, which depends on it.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

mod ftp_server;
mod keys;
mod samples;
mod ssh_server;

use std::net::SocketAddr;
use std::path::PathBuf;

use tokio_util::task::AbortOnDropHandle;

pub use samples::{sample_bytes, SAMPLE_FILE};
pub use ssh_server::{SshServer, SshServerError};
pub use sshfwd_server::KeyError;

/// Failure to start the demo's servers.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The temporary directory or its sample files could not be made.
    #[error("cannot prepare the demo's directory: {0}")]
    Directory(std::io::Error),
    /// The FTP server could not open its root or bind its port.
    #[error("cannot start the demo's FTP server: {0}")]
    FtpServer(std::io::Error),
    /// The SSH server could not get its keys, bind or write its files.
    #[error("cannot start the demo's SSH server: {0}")]
    SshServer(#[from] SshServerError),
}

/// The demo's two servers, running until [`Servers::stop`] or their drop.
pub struct Servers {
    /// The FTP server's loopback address.
    pub ftp: SocketAddr,
    /// The directory the FTP server and the SSH server's SFTP serve: the
    /// self-check compares what crossed the forward and the bridge with
    /// the files here.
    pub ftp_root: PathBuf,
    /// A directory for the client's own files (the bridge's password).
    pub client_dir: PathBuf,
    /// The SSH server and the files a client needs for it.
    pub ssh: SshServer,
    /// libunftp has no shutdown of its own: the accept loop is aborted.
    ftp_task: AbortOnDropHandle<()>,
    /// Holds the keys, known_hosts and FTP root; removed on drop, after
    /// the servers that use it (fields drop in declaration order).
    _dir: tempfile::TempDir,
}

/// Starts both servers on free loopback ports, with their files in a new
/// temporary directory.
pub async fn start() -> Result<Servers, DemoError> {
    let dir = tempfile::Builder::new().prefix("sshfwd-demo-").tempdir().map_err(DemoError::Directory)?;
    let ftp_root = dir.path().join("ftp-root");
    samples::write(&ftp_root).map_err(DemoError::Directory)?;
    let (ftp, serve) = ftp_server::start(ftp_root.clone()).await.map_err(DemoError::FtpServer)?;
    let ftp_task = AbortOnDropHandle::new(tokio::spawn(serve));
    let ssh = ssh_server::start(dir.path(), &ftp_root).await?;
    let client_dir = dir.path().to_owned();
    Ok(Servers { ftp, ftp_root, client_dir, ssh, ftp_task, _dir: dir })
}

impl Servers {
    /// Stops the SSH server, waiting for its sessions, then the FTP server.
    pub async fn stop(self) {
        let Servers { ssh, ftp_task, _dir, .. } = self;
        ssh.stop().await;
        ftp_task.abort();
    }
}
