//! How sshfwd reads the SSH connection's socket.
//!
//! Quick ACKs: sshd does not set TCP_NODELAY on connections without a
//! terminal, so after a small packet (an FTP reply) Nagle's algorithm holds
//! its next write (the data behind it) until we acknowledge; Linux delays
//! that ACK by 40 ms when we have nothing to send back. Measured here:
//! every FTP command through `-L ftp/` cost 40–45 ms, 13 small transfers a
//! second instead of hundreds. TCP_QUICKACK is not sticky, hence after each
//! read.
//!
//! A fair share: russh's session task decodes every packet it can read
//! before it yields, and acknowledges the server's window on receipt, so
//! a burst for many channels piled up in memory before the relays could
//! write any of it out (6.4 MiB of channel data at the peak of 200
//! concurrent downloads, heaptrack). Yielding once after each socket read
//! lets the relays drain what one read decoded before the next read; bulk
//! throughput was unchanged (bench/run).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

pub struct SshSocket {
    stream: TcpStream,
    yield_next: bool,
}

impl SshSocket {
    pub fn new(stream: TcpStream) -> SshSocket {
        SshSocket { stream, yield_next: false }
    }
}

impl AsyncRead for SshSocket {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.yield_next {
            self.yield_next = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            // Best effort: a failure only costs latency.
            let _ = socket2::SockRef::from(&self.stream).set_tcp_quickack(true);
            self.yield_next = true;
        }
        result
    }
}

impl AsyncWrite for SshSocket {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
