//! Who an FTP login becomes on the SSH side: the two login modes of the
//! bridge, each turning USER/PASS into an SFTP session.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sftp_client::SftpSession;

use super::Credentials;
use crate::ssh::prompt::Secret;
use crate::ssh::{ConnectError, ConnectOptions, SharedConnection, SshConnection, SubsystemError};

/// An FTP session's SFTP side, and the SSH connection it alone uses
/// (passthrough), to be closed with it.
pub struct LoggedIn {
    pub sftp: Arc<SftpSession>,
    pub own_connection: Option<SshConnection>,
}

/// Why a login did not give an SFTP session.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Wrong user or password (530).
    #[error("login incorrect")]
    Refused,
    /// The SSH side could not be reached or would not serve SFTP (421).
    #[error("{0}")]
    Unavailable(String),
}

type LoginFuture<'a> = Pin<Box<dyn Future<Output = Result<LoggedIn, LoginError>> + Send + 'a>>;

/// Turns an FTP user and password into an SFTP session.
pub trait SftpLogin: Send + Sync {
    fn login<'a>(&'a self, user: &'a str, password: &'a str) -> LoginFuture<'a>;
}

/// Session mode: the bridge's own credentials, then one SFTP channel on
/// sshfwd's SSH connection (made again if it was lost).
pub struct SessionLogin {
    pub credentials: Arc<dyn Credentials>,
    pub connection: Arc<SharedConnection>,
}

impl SftpLogin for SessionLogin {
    fn login<'a>(&'a self, user: &'a str, password: &'a str) -> LoginFuture<'a> {
        Box::pin(async move {
            if !self.credentials.verify(user, password) {
                return Err(LoginError::Refused);
            }
            let connection = self.connection.get().await.map_err(|e| LoginError::Unavailable(e.to_string()))?;
            let sftp = open_sftp(&connection).await?;
            Ok(LoggedIn { sftp, own_connection: None })
        })
    }
}

/// Passthrough mode: each login is an SSH login as the FTP user with the
/// FTP password, with the usual host-key checks; no key, no agent, no
/// prompt of sshfwd's own.
pub struct PassthroughLogin {
    connect: ConnectOptions,
    /// SSH logins under way at once: a flood of FTP logins queues here
    /// instead of becoming a flood of SSH handshakes (which sshd's
    /// MaxStartups would answer by dropping legitimate ones too).
    handshakes: tokio::sync::Semaphore,
}

/// SSH handshakes a passthrough bridge makes at once (sshd's MaxStartups
/// starts dropping at 10).
const HANDSHAKES_AT_ONCE: usize = 8;

impl PassthroughLogin {
    pub fn new(connect: ConnectOptions) -> Self {
        Self { connect, handshakes: tokio::sync::Semaphore::new(HANDSHAKES_AT_ONCE) }
    }
}

impl SftpLogin for PassthroughLogin {
    fn login<'a>(&'a self, user: &'a str, password: &'a str) -> LoginFuture<'a> {
        Box::pin(async move {
            let mut options = self.connect.clone();
            options.auth.user = user.to_owned();
            options.auth.identity_files.clear();
            options.auth.agent = crate::ssh::AgentSource::Disabled;
            options.auth.pubkey = false;
            options.auth.password_prompts = 1;
            options.auth.supplied_password = Some(Secret::new(password));
            options.batch_mode = true;
            let permit =
                self.handshakes.acquire().await.map_err(|_| LoginError::Unavailable("shutting down".into()))?;
            let connected = crate::ssh::connect(&options).await;
            drop(permit);
            let connection = match connected {
                Ok(connection) => connection,
                Err(ConnectError::Auth(e)) => {
                    tracing::debug!("ftp bridge: {e}");
                    return Err(LoginError::Refused);
                }
                Err(e) => return Err(LoginError::Unavailable(e.to_string())),
            };
            match open_sftp(&connection).await {
                Ok(sftp) => Ok(LoggedIn { sftp, own_connection: Some(connection) }),
                Err(e) => {
                    connection.disconnect().await;
                    Err(e)
                }
            }
        })
    }
}

/// SFTP as `sftp_client` pipelines it: OpenSSH's sftp defaults.
async fn open_sftp(connection: &SshConnection) -> Result<Arc<SftpSession>, LoginError> {
    let unavailable = |e: &dyn std::fmt::Display| LoginError::Unavailable(format!("sftp: {e}"));
    let stream = connection.open_sftp().await.map_err(|e: SubsystemError| unavailable(&e))?;
    let sftp = SftpSession::open(stream, sftp_client::Config::default()).await.map_err(|e| unavailable(&e))?;
    Ok(Arc::new(sftp))
}
