//! The FTP→SFTP bridge (`--ftp-to-sftp`): a local FTP server whose files
//! are an SSH server's, over SFTP. `ftp_proto::server::Session` decides
//! every reply; the driver owns the sockets, performs the session's actions
//! against the SFTP session and reports the results back; `login` turns an
//! FTP login into an SFTP session; `listener` serves the bridge's port.

mod ascii_io;
mod driver;
mod files;
mod listener;
mod login;
pub mod password;
mod transfer;

#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::time::Duration;

use subtle::ConstantTimeEq;

use crate::audit::AuditLog;

pub use driver::serve_session;
pub use listener::start;
pub use login::{Hold, LoggedIn, LoginError, PassthroughLogin, SessionLogin, SftpLogin};

/// Decides FTP logins (USER/PASS).
pub trait Credentials: Send + Sync {
    /// Whether `user` may log in with `password`.
    fn verify(&self, user: &str, password: &str) -> bool;
}

/// Session mode: one user name and one password, both fixed at start.
#[derive(Clone)]
pub struct FixedCredentials {
    user: String,
    password: String,
}

impl FixedCredentials {
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self { user: user.into(), password: password.into() }
    }
}

impl std::fmt::Debug for FixedCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixedCredentials").field("user", &self.user).finish_non_exhaustive()
    }
}

impl Credentials for FixedCredentials {
    fn verify(&self, user: &str, password: &str) -> bool {
        // Both compared in full whatever the first says, so the time taken
        // tells nothing about which one was wrong.
        let user_ok = user.as_bytes().ct_eq(self.user.as_bytes());
        let password_ok = password.as_bytes().ct_eq(self.password.as_bytes());
        (user_ok & password_ok).into()
    }
}

/// How a bridged session runs.
#[derive(Debug, Clone)]
pub struct BridgeOptions {
    /// The address PASV/EPSV listeners bind; `None` is the address the
    /// client reached the control connection on, which every client can
    /// reach back.
    pub listen_ip: Option<IpAddr>,
    /// How long a data connection may take to be made (accepted or
    /// connected) before the transfer fails with 425.
    pub data_timeout: Duration,
    /// Let PORT/EPRT name any address, as the forwarder's option does.
    pub allow_third_party_active: bool,
    /// How long a running transfer may move no byte on its data connection
    /// before it fails with 426 (vsftpd's data_connection_timeout).
    pub data_idle_timeout: Duration,
    /// Where logins, transfers and session ends are recorded.
    pub audit: AuditLog,
    /// How long a connection may stay without logging in before it is
    /// closed with 421 (`FtpLoginTimeout`); `None` for ever.
    pub login_timeout: Option<Duration>,
}

impl Default for BridgeOptions {
    fn default() -> Self {
        Self {
            listen_ip: None,
            data_timeout: Duration::from_secs(30),
            allow_third_party_active: false,
            data_idle_timeout: transfer::DATA_IDLE_TIMEOUT,
            audit: AuditLog::default(),
            login_timeout: ssh_files::config::FtpSettings::default().login_timeout,
        }
    }
}
