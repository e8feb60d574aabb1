//! Running the remote command: stdin, stdout and stderr relayed, the
//! remote exit status returned.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::ssh::{ChannelMsg, SshConnection};

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("channel 0: open failed: {0}")]
    Open(russh::Error),
    #[error("exec request failed on channel 0")]
    Request(russh::Error),
}

/// Runs `command` and returns the exit code sshfwd should exit with.
pub async fn run(ssh: &SshConnection, command: &str) -> Result<i32, ExecError> {
    let channel = ssh.open_session().await.map_err(ExecError::Open)?;
    channel.exec(true, command.as_bytes().to_vec()).await.map_err(ExecError::Request)?;
    let (mut reader, writer) = channel.split();

    let stdin_task = tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let mut buffer = vec![0u8; 32 * 1024];
        loop {
            match stdin.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if writer.data_bytes(bytes::Bytes::copy_from_slice(&buffer[..n])).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = writer.eof().await;
    });

    let mut stdout = tokio::io::stdout();
    let mut stderr = tokio::io::stderr();
    let mut status = None;
    while let Some(message) = reader.wait().await {
        match message {
            ChannelMsg::Data { data } => {
                let _ = stdout.write_all(&data).await;
                let _ = stdout.flush().await;
            }
            ChannelMsg::ExtendedData { data, ext: 1 } => {
                let _ = stderr.write_all(&data).await;
            }
            ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status as i32),
            ChannelMsg::ExitSignal { signal_name, .. } => {
                tracing::warn!("remote command killed by signal {signal_name:?}");
                status = Some(255);
            }
            ChannelMsg::Failure => {
                tracing::error!("exec request failed on channel 0");
                status = Some(255);
                break;
            }
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    stdin_task.abort();
    // tokio writes stdout/stderr from a background thread: without a flush
    // the process may exit before the last bytes are out.
    let _ = stdout.flush().await;
    let _ = stderr.flush().await;
    Ok(status.unwrap_or(255))
}
