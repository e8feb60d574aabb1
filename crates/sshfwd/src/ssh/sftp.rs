//! The "sftp" subsystem on a session channel, as a byte stream for
//! `sftp_client`.

use russh::ChannelMsg;

use super::channel::SshStream;
use super::connection::SshConnection;

/// The server would not start an SFTP subsystem.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SubsystemError {
    /// The server opens no more session channels on this connection
    /// (sshd's MaxSessions): another connection may have room.
    #[error("channel open failed: {0}")]
    ChannelsExhausted(String),
    #[error("channel open failed: {0}")]
    Open(String),
    /// The SSH connection is gone.
    #[error("the SSH connection is closed")]
    ConnectionLost,
    #[error("subsystem request failed on channel: {0}")]
    Request(String),
    /// The server answered the request with a failure (no sftp subsystem).
    #[error("the server refused the sftp subsystem")]
    Refused,
}

impl SshConnection {
    /// Opens a session channel running the server's "sftp" subsystem.
    pub async fn open_sftp(&self) -> Result<SshStream, SubsystemError> {
        // A session channel connects to nothing: whatever reason a server
        // gives for refusing one is its limit (sshd 9.2 says ConnectFailed
        // past MaxSessions, sshfwd-server ResourceShortage).
        let mut channel = self.open_session().await.map_err(|e| match e {
            russh::Error::ChannelOpenFailure(_) => SubsystemError::ChannelsExhausted(super::describe_ssh_error(&e)),
            _ if self.is_ended() => SubsystemError::ConnectionLost,
            _ => SubsystemError::Open(super::describe_ssh_error(&e)),
        })?;
        channel.request_subsystem(true, "sftp").await.map_err(|e| SubsystemError::Request(e.to_string()))?;
        // The reply comes before any data: sftp-server speaks only when
        // spoken to, so nothing is lost by reading up to it here.
        loop {
            match channel.wait().await {
                Some(ChannelMsg::Success) => return Ok(channel.into_stream()),
                Some(ChannelMsg::Failure) => {
                    let _ = channel.close().await;
                    return Err(SubsystemError::Refused);
                }
                Some(ChannelMsg::Eof | ChannelMsg::Close) | None => return Err(SubsystemError::Refused),
                Some(_) => {}
            }
        }
    }
}
