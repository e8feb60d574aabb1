//! A remote command on a session channel, as events for `crate::exec`.

use bytes::Bytes;
use russh::{ChannelMsg, ChannelReadHalf};

use super::channel::SshChannelWriter;
use super::connection::SshConnection;

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("channel 0: open failed: {0}")]
    Open(String),
    #[error("exec request failed on channel 0")]
    Request(String),
}

/// What a remote command sends.
#[derive(Debug)]
pub enum ExecEvent {
    Stdout(Bytes),
    Stderr(Bytes),
    ExitStatus(u32),
    ExitSignal(String),
    /// The server refused the exec request.
    Failure,
}

/// The output side of a running remote command.
pub struct ExecOutput(ChannelReadHalf);

impl ExecOutput {
    /// The next event; `None` once the channel is closed.
    pub async fn next(&mut self) -> Option<ExecEvent> {
        while let Some(message) = self.0.wait().await {
            match message {
                ChannelMsg::Data { data } => return Some(ExecEvent::Stdout(data)),
                ChannelMsg::ExtendedData { data, ext: 1 } => return Some(ExecEvent::Stderr(data)),
                ChannelMsg::ExitStatus { exit_status } => return Some(ExecEvent::ExitStatus(exit_status)),
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    return Some(ExecEvent::ExitSignal(format!("{signal_name:?}")))
                }
                ChannelMsg::Failure => return Some(ExecEvent::Failure),
                ChannelMsg::Close => return None,
                _ => {}
            }
        }
        None
    }
}

impl SshConnection {
    /// Runs `command` on a new session channel: its input goes to the
    /// writer, its output comes as events.
    pub async fn exec(&self, command: &str) -> Result<(ExecOutput, SshChannelWriter), ExecError> {
        let channel = self.open_session().await.map_err(|e| ExecError::Open(super::describe_ssh_error(&e)))?;
        channel.exec(true, command.as_bytes().to_vec()).await.map_err(|e| ExecError::Request(e.to_string()))?;
        let (read, write) = channel.split();
        Ok((ExecOutput(read), SshChannelWriter(write)))
    }
}
