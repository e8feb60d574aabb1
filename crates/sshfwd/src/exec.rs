//! Running the remote command: stdin, stdout and stderr relayed, the
//! remote exit status returned.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::ssh::{ChannelWriter, ExecError, ExecEvent, SshConnection};

/// Runs `command` and returns the exit code sshfwd should exit with.
pub async fn run(ssh: &SshConnection, command: &str) -> Result<i32, ExecError> {
    let (mut output, input) = ssh.exec(command).await?;

    let stdin_task = tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let mut buffer = vec![0u8; 32 * 1024];
        loop {
            match stdin.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let chunk = bytes::Bytes::copy_from_slice(buffer.get(..n).unwrap_or_default());
                    if input.write(chunk).await.is_err() {
                        return;
                    }
                }
            }
        }
        input.eof().await;
    });

    let mut stdout = tokio::io::stdout();
    let mut stderr = tokio::io::stderr();
    let mut status = None;
    while let Some(event) = output.next().await {
        match event {
            ExecEvent::Stdout(data) => {
                let _ = stdout.write_all(&data).await;
                let _ = stdout.flush().await;
            }
            ExecEvent::Stderr(data) => {
                let _ = stderr.write_all(&data).await;
            }
            ExecEvent::ExitStatus(exit_status) => status = Some(exit_status as i32),
            ExecEvent::ExitSignal(signal_name) => {
                tracing::warn!("remote command killed by signal {signal_name}");
                status = Some(255);
            }
            ExecEvent::Failure => {
                tracing::error!("exec request failed on channel 0");
                status = Some(255);
                break;
            }
        }
    }
    stdin_task.abort();
    // tokio writes stdout/stderr from a background thread: without a flush
    // the process may exit before the last bytes are out.
    let _ = stdout.flush().await;
    let _ = stderr.flush().await;
    Ok(status.unwrap_or(255))
}
