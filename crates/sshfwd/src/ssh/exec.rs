//! A remote command on a session channel, as events for `crate::exec`.

use bytes::Bytes;
use russh::{ChannelMsg, ChannelReadHalf};

use super::channel::SshChannelWriter;
use super::connection::SshConnection;

/// Why a remote command could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The server refused the session channel.
    #[error("channel 0: open failed: {0}")]
    Open(String),
    /// The request could not be sent (the connection is gone).
    #[error("channel 0: request failed: {0}")]
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

/// What a session channel asks the server to run.
#[derive(Debug, Clone, Copy)]
pub struct SessionRequest<'a> {
    /// The command line, or the subsystem's name.
    pub command: &'a str,
    /// `-s`: `command` names a subsystem.
    pub subsystem: bool,
    /// Variables to set first (SendEnv, SetEnv); the server may refuse
    /// them (AcceptEnv) without failing the session.
    pub environment: &'a [(String, String)],
}

impl SessionRequest<'_> {
    /// The request's name in OpenSSH's messages.
    pub fn kind(&self) -> &'static str {
        if self.subsystem {
            "subsystem"
        } else {
            "exec"
        }
    }
}

impl SshConnection {
    /// Runs `request` on a new session channel: its input goes to the
    /// writer, its output comes as events.
    pub async fn exec(&self, request: &SessionRequest<'_>) -> Result<(ExecOutput, SshChannelWriter), ExecError> {
        let channel = self.open_session().await.map_err(|e| ExecError::Open(super::describe_ssh_error(&e)))?;
        if self.agent_forwarding {
            tracing::debug!("Requesting authentication agent forwarding.");
            channel.agent_forward(false).await.map_err(|e| ExecError::Request(e.to_string()))?;
        }
        for (name, value) in request.environment {
            tracing::debug!("Sending env {name} = {value}");
            channel
                .set_env(false, name.as_str(), value.as_str())
                .await
                .map_err(|e| ExecError::Request(e.to_string()))?;
        }
        let sent = match request.subsystem {
            true => {
                tracing::debug!("Sending subsystem: {}", request.command);
                channel.request_subsystem(true, request.command).await
            }
            false => {
                tracing::debug!("Sending command: {}", request.command);
                channel.exec(true, request.command.as_bytes().to_vec()).await
            }
        };
        sent.map_err(|e| ExecError::Request(e.to_string()))?;
        let (read, write) = channel.split();
        Ok((ExecOutput(read), SshChannelWriter(write)))
    }
}
