//! Who an FTP login becomes on the SSH side: the two login modes of the
//! bridge, each turning USER/PASS into an SFTP session.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sftp_client::SftpSession;
use sshfwd_net::admission::Offence;

use super::Credentials;
use crate::forward::listener::Gate;
use crate::ssh::prompt::Secret;
use crate::ssh::{ConnectError, ConnectOptions, ConnectionPool, Lease, PoolError, SshConnection, SshStream};

/// An FTP session's SFTP side, and what it holds on the SSH side until
/// it ends.
pub struct LoggedIn {
    pub sftp: Arc<SftpSession>,
    pub hold: Hold,
}

/// What a logged-in session keeps of the SSH side.
pub enum Hold {
    /// Session mode: its place on one of the pool's connections.
    Pooled(Lease),
    /// Passthrough: its own connection, to be closed with the session.
    Own(SshConnection),
    /// Nothing (tests).
    Nothing,
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
/// sshfwd's SSH connections (more are made when the server limits the
/// channels of one, and made again when lost).
pub struct SessionLogin {
    pub credentials: Arc<dyn Credentials>,
    pub connections: Arc<ConnectionPool>,
}

impl SftpLogin for SessionLogin {
    fn login<'a>(&'a self, user: &'a str, password: &'a str) -> LoginFuture<'a> {
        Box::pin(async move {
            if !self.credentials.verify(user, password) {
                return Err(LoginError::Refused);
            }
            let (stream, lease) =
                self.connections.open_sftp().await.map_err(|e: PoolError| LoginError::Unavailable(e.to_string()))?;
            let sftp = start_sftp(stream).await?;
            Ok(LoggedIn { sftp, hold: Hold::Pooled(lease) })
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
            let sftp = match connection.open_sftp().await {
                Ok(stream) => start_sftp(stream).await,
                Err(e) => Err(LoginError::Unavailable(format!("sftp: {e}"))),
            };
            match sftp {
                Ok(sftp) => Ok(LoggedIn { sftp, hold: Hold::Own(connection) }),
                Err(e) => {
                    connection.disconnect().await;
                    Err(e)
                }
            }
        })
    }
}

/// How long a failed login waits before its 530 (vsftpd's delay_failed_login
/// is 1 s): a guesser on one connection gets one try a second.
pub const FAILED_LOGIN_DELAY: Duration = Duration::from_secs(1);

/// One connection's logins, counted against its source: a failure waits
/// [`FAILED_LOGIN_DELAY`] and adds to the source's penalty
/// (`PerSourcePenalties`' authfail); a penalised source's tries are
/// refused without being made (421, and the connection closes).
pub struct Penalising {
    pub login: Arc<dyn SftpLogin>,
    pub gate: Gate,
    pub peer: IpAddr,
    pub delay: Duration,
}

impl SftpLogin for Penalising {
    fn login<'a>(&'a self, user: &'a str, password: &'a str) -> LoginFuture<'a> {
        Box::pin(async move {
            if let Some(remaining) = self.gate.penalised(self.peer) {
                tracing::info!("ftp bridge {}: login for user {user} refused: source penalised", self.peer);
                let reason = format!(
                    "your address is penalised for failed logins; try again in {} s",
                    remaining.as_secs().max(1)
                );
                return Err(LoginError::Unavailable(reason));
            }
            let result = self.login.login(user, password).await;
            if let Err(LoginError::Refused) = &result {
                self.gate.penalise(self.peer, Offence::AuthFail);
                tokio::time::sleep(self.delay).await;
            }
            result
        })
    }
}

/// SFTP on a subsystem channel, pipelined as OpenSSH's sftp does.
async fn start_sftp(stream: SshStream) -> Result<Arc<SftpSession>, LoginError> {
    let sftp = SftpSession::open(stream, sftp_client::Config::large_chunks())
        .await
        .map_err(|e| LoginError::Unavailable(format!("sftp: {e}")))?;
    Ok(Arc::new(sftp))
}
