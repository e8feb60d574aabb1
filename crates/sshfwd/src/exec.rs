//! Running the remote command: stdin, stdout and stderr relayed, the
//! remote exit status returned.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::app::EXIT_FAILURE;
use crate::ssh::{ChannelWriter, ExecError, ExecEvent, SessionRequest, SshConnection};

/// Runs `request` and returns the exit code sshfwd should exit with: the
/// command's, or 255 when it has none (killed by a signal, refused, or the
/// channel closed before it said). With `stdin_null` (`-n`) the command
/// reads end of file at once.
pub async fn run(ssh: &SshConnection, request: &SessionRequest<'_>, stdin_null: bool) -> Result<i32, ExecError> {
    let (mut output, input) = ssh.exec(request).await?;
    let input = Arc::new(input);

    let stdin_task = match stdin_null {
        true => {
            input.eof().await;
            None
        }
        false => Some(tokio::spawn(relay_stdin(input.clone()))),
    };

    let mut stdout = Some(tokio::io::stdout());
    let mut stderr = tokio::io::stderr();
    let mut status = None;
    while let Some(event) = output.next().await {
        match event {
            ExecEvent::Stdout(data) => {
                let Some(out) = stdout.as_mut() else { continue };
                let written = match out.write_all(&data).await {
                    Ok(()) => out.flush().await,
                    Err(e) => Err(e),
                };
                // The reader is gone (EPIPE: Rust ignores SIGPIPE). As ssh,
                // stop writing and let the command know: closing the channel
                // makes the server close its output, so a writer such as
                // `yes` dies of SIGPIPE instead of running on.
                if let Err(e) = written {
                    tracing::debug!("write failed on stdout: {e}");
                    stdout = None;
                    input.close().await;
                }
            }
            ExecEvent::Stderr(data) => {
                let _ = stderr.write_all(&data).await;
            }
            ExecEvent::ExitStatus(exit_status) => status = Some(exit_status as i32),
            ExecEvent::ExitSignal(signal_name) => {
                tracing::debug!("remote command killed by signal {signal_name}");
                status = Some(EXIT_FAILURE);
            }
            ExecEvent::Failure => {
                tracing::error!("{} request failed on channel 0", request.kind());
                status = Some(EXIT_FAILURE);
                break;
            }
        }
    }
    if let Some(task) = stdin_task {
        task.abort();
    }
    // tokio writes stdout/stderr from a background thread: without a flush
    // the process may exit before the last bytes are out.
    if let Some(mut out) = stdout {
        let _ = out.flush().await;
    }
    let _ = stderr.flush().await;
    Ok(status.unwrap_or(EXIT_FAILURE))
}

/// Copies our stdin to the command until end of file, then sends EOF.
async fn relay_stdin(input: Arc<impl ChannelWriter>) {
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
}
