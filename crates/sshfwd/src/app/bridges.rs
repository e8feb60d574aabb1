//! Setting up the FTP-to-SFTP bridges of a run: their login in the
//! configured mode (and its password), their listeners, the announcement.

use std::net::SocketAddr;
use std::sync::Arc;

use ssh_files::config::FtpToSftpLogin;
use ssh_files::forward_spec::{ForwardKind, Listen};

use super::RunError;
use crate::bridge::{self, password, BridgeOptions, FixedCredentials, PassthroughLogin, SessionLogin, SftpLogin};
use crate::forward::{ForwardError, ForwardOptions};
use crate::settings::Settings;
use crate::ssh::{ConnectionPool, ReconnectingTunnel};

/// The login every bridge of a run shares.
pub struct Login {
    login: Arc<dyn SftpLogin>,
    /// Session mode: the connections its sessions share.
    pub pool: Option<Arc<ConnectionPool>>,
}

impl Login {
    /// The bridges' login, in the configured mode, and in session mode the
    /// connection it shares.
    pub fn new(settings: &Settings, tunnel: Option<&Arc<ReconnectingTunnel>>) -> Result<Login, RunError> {
        let (tunnel, connection) = match (settings.ftp.bridge_login, tunnel.and_then(|t| Some((t, t.current()?)))) {
            (FtpToSftpLogin::Session, Some(live)) => live,
            (FtpToSftpLogin::Passthrough, _) => {
                return Ok(Login { login: Arc::new(PassthroughLogin::new(settings.connect.clone())), pool: None })
            }
            // Not reached: session mode always connects first.
            (FtpToSftpLogin::Session, None) => {
                return Err(RunError::Forward(ForwardError::NoConnection(ForwardKind::FtpToSftp)))
            }
        };
        let password = match &settings.ftp.bridge_password_file {
            Some(file) => password::from_file(file)?,
            None => {
                let password = password::random()?;
                // Printed even with -q: there is no other way to learn it.
                eprintln!("sshfwd: FTP-to-SFTP bridge password: {password}");
                password
            }
        };
        let user = settings.connect.auth.user.clone();
        let pool = ConnectionPool::new(settings.connect.clone(), connection, Some(tunnel.watch()));
        let login =
            SessionLogin { credentials: Arc::new(FixedCredentials::new(user, password)), connections: pool.clone() };
        Ok(Login { login: Arc::new(login), pool: Some(pool) })
    }
}

/// Tells the user where a bridge listens and who logs in to it.
fn announce(settings: &Settings, addresses: &[SocketAddr]) {
    for address in addresses {
        match settings.ftp.bridge_login {
            FtpToSftpLogin::Session => {
                tracing::info!("FTP-to-SFTP bridge listening on {address} for FTP user {}", settings.connect.auth.user)
            }
            FtpToSftpLogin::Passthrough => tracing::info!(
                "FTP-to-SFTP bridge listening on {address}; FTP logins are SSH logins to {}",
                settings.display_host
            ),
        }
    }
}

/// Starts the bridge on `on`; the addresses it listens on.
pub async fn start(
    settings: &Settings,
    on: &Listen,
    login: &Login,
    forwards: &ForwardOptions,
) -> Result<Vec<SocketAddr>, ForwardError> {
    let options = BridgeOptions {
        data_timeout: settings.ftp.data_timeout,
        allow_third_party_active: settings.ftp.allow_third_party_active,
        audit: forwards.ftp_audit.clone(),
        ..BridgeOptions::default()
    };
    let addresses = bridge::start(on, login.login.clone(), options, forwards).await?;
    announce(settings, &addresses);
    Ok(addresses)
}
