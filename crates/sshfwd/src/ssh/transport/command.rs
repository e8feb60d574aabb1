//! `ProxyCommand`: run as OpenSSH's `ssh_proxy_connect` does, through
//! `$SHELL -c "exec command"` (`/bin/sh` without `$SHELL`); its stdin and
//! stdout carry the session, its stderr is ours.

use std::io;
use std::pin::Pin;
use std::process::Stdio;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::super::connection::ConnectError;

/// The command's pipes as one byte stream.
pub struct ProxyPipe {
    from_proxy: ChildStdout,
    to_proxy: ChildStdin,
}

/// Starts `command` (tokens already expanded). The child is killed when
/// dropped, so that no proxy outlives its session.
pub fn spawn(command: &str) -> Result<(ProxyPipe, Child), ConnectError> {
    let shell = ssh_files::local::shell();
    let line = format!("exec {command}");
    tracing::debug!("Executing proxy command: {line}");
    let failed = |e: io::Error| ConnectError::ProxyCommand {
        shell: shell.to_string_lossy().into_owned(),
        reason: sshfwd_net::io_reason(&e),
    };
    let mut child = Command::new(&shell)
        .arg("-c")
        .arg(&line)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(failed)?;
    let pipes = child.stdin.take().zip(child.stdout.take());
    let (to_proxy, from_proxy) = pipes.ok_or_else(|| failed(io::Error::other("no pipes to the command")))?;
    Ok((ProxyPipe { from_proxy, to_proxy }, child))
}

impl AsyncRead for ProxyPipe {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.from_proxy).poll_read(cx, buf)
    }
}

impl AsyncWrite for ProxyPipe {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.to_proxy).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.to_proxy).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.to_proxy).poll_shutdown(cx)
    }
}
