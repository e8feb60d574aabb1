//! Running the remote command: stdin, stdout and stderr relayed, the
//! remote exit status returned.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Sleep;

use crate::app::EXIT_FAILURE;

/// How long a command may go on once nobody reads its output, before its
/// channel is closed (what ssh takes, measured: about half a second).
const NO_READER_GRACE: Duration = Duration::from_millis(500);
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
    // Set once stdout's reader is gone: how long the command has left to end.
    let mut grace: Option<Pin<Box<Sleep>>> = None;
    loop {
        let event = tokio::select! {
            event = output.next() => event,
            () = expired(&mut grace) => {
                tracing::debug!("closing channel 0: its output has no reader");
                // Not awaited: russh's session loop may be parked on this
                // channel's full queue, which nobody reads any more.
                let input = input.clone();
                tokio::spawn(async move { input.close().await });
                break;
            }
        };
        let Some(event) = event else { break };
        match event {
            ExecEvent::Stdout(data) => {
                let Some(out) = stdout.as_mut() else { continue };
                let written = match out.write_all(&data).await {
                    Ok(()) => out.flush().await,
                    Err(e) => Err(e),
                };
                // The reader is gone (EPIPE: Rust ignores SIGPIPE). ssh
                // then stops writing and asks the server to close the
                // command's output (eow@openssh.com, which russh cannot
                // send): a command that was ending anyway keeps its status,
                // and one that writes on (`yes`) is stopped by closing the
                // channel after the same half second.
                if let Err(e) = written {
                    tracing::debug!("write failed on stdout: {e}");
                    stdout = None;
                    grace = Some(Box::pin(tokio::time::sleep(NO_READER_GRACE)));
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

/// Resolves when the grace period, if one is running, is over.
async fn expired(grace: &mut Option<Pin<Box<Sleep>>>) {
    match grace {
        Some(sleep) => sleep.as_mut().await,
        None => std::future::pending().await,
    }
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
