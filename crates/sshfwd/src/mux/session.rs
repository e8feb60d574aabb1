//! A shared session: the command of a client that came through the
//! control socket, run on the master's connection with the client's own
//! stdin, stdout and stderr, received as descriptors.

use std::future::Future;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::UnixStream;

use crate::ssh::{ChannelWriter, ExecEvent, SessionRequest, SshConnection};

/// The status a session ends with when the remote side gives none (killed
/// by a signal, refused, cut), as ssh.
const NO_STATUS: u32 = 255;

/// Receives one descriptor sent with `SCM_RIGHTS` (one byte carries it, as
/// OpenSSH's `mm_send_fd` sends it).
pub async fn receive_descriptor(stream: &UnixStream) -> std::io::Result<OwnedFd> {
    let socket = stream.as_raw_fd();
    stream.async_io(Interest::READABLE, || receive_one(socket)).await
}

fn receive_one(socket: RawFd) -> std::io::Result<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut buffer = nix::cmsg_space!([RawFd; 1]);
    let mut io = [IoSliceMut::new(&mut byte)];
    let message =
        recvmsg::<()>(socket, &mut io, Some(&mut buffer), MsgFlags::MSG_CMSG_CLOEXEC).map_err(std::io::Error::from)?;
    if message.bytes == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let mut received = None;
    for control in message.cmsgs().map_err(std::io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = control {
            for fd in fds {
                // SAFETY: the kernel just gave us this descriptor: it is
                // open, and nothing else owns it.
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                received.get_or_insert(owned);
            }
        }
    }
    received.ok_or_else(|| std::io::Error::other("no descriptor received"))
}

/// Sends `descriptor` with `SCM_RIGHTS` on one byte, as `mm_send_fd`.
pub async fn send_descriptor(stream: &UnixStream, descriptor: BorrowedFd<'_>) -> std::io::Result<()> {
    let socket = stream.as_raw_fd();
    let fds = [descriptor.as_raw_fd()];
    stream
        .async_io(Interest::WRITABLE, || {
            let control = [ControlMessage::ScmRights(&fds)];
            let sent = sendmsg::<()>(socket, &[IoSlice::new(&[0])], &control, MsgFlags::empty(), None)
                .map_err(std::io::Error::from)?;
            match sent {
                0 => Err(std::io::ErrorKind::WriteZero.into()),
                _ => Ok(()),
            }
        })
        .await
}

/// Runs `request` with the client's descriptors until the remote side
/// ends it; the exit status to send back. When `client_gone` resolves
/// first (the client was killed), the channel is closed, as OpenSSH's
/// master does.
pub async fn run(
    connection: &SshConnection,
    request: &SessionRequest<'_>,
    [stdin, stdout, stderr]: [OwnedFd; 3],
    client_gone: impl Future<Output = ()>,
) -> u32 {
    let (mut output, input) = match connection.exec(request).await {
        Ok(started) => started,
        Err(e) => {
            tracing::error!("mux session: {e}");
            return NO_STATUS;
        }
    };
    let input = Arc::new(input);
    let feeder = input.clone();
    let mut stdin = tokio::fs::File::from_std(std::fs::File::from(stdin));
    let feeding = tokio::spawn(async move {
        let mut buffer = vec![0u8; 32 * 1024];
        while let Ok(n @ 1..) = stdin.read(&mut buffer).await {
            let chunk = bytes::Bytes::copy_from_slice(buffer.get(..n).unwrap_or_default());
            if feeder.write(chunk).await.is_err() {
                return;
            }
        }
        feeder.eof().await;
    });
    let mut sinks = [stdout, stderr].map(|fd| Some(tokio::fs::File::from_std(std::fs::File::from(fd))));
    let relaying = async {
        let mut status = NO_STATUS;
        while let Some(event) = output.next().await {
            let (sink, data) = match event {
                ExecEvent::Stdout(data) => (0, data),
                ExecEvent::Stderr(data) => (1, data),
                ExecEvent::ExitStatus(code) => {
                    status = code;
                    continue;
                }
                ExecEvent::ExitSignal(_) | ExecEvent::Failure => continue,
            };
            // A reader that went away stops that stream only; the command
            // still gets its way to the end.
            if let Some(file) = sinks.get_mut(sink) {
                if let Some(open) = file {
                    if open.write_all(&data).await.is_err() || open.flush().await.is_err() {
                        *file = None;
                    }
                }
            }
        }
        status
    };
    let status = tokio::select! {
        status = relaying => status,
        () = client_gone => {
            tracing::debug!("mux session: the client went away; closing its channel");
            input.close().await;
            NO_STATUS
        }
    };
    feeding.abort();
    status
}
