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
//! before it yields, so a burst for many channels piled up in memory
//! before the relays could write any of it out (6.4 MiB of channel data
//! at the peak of 200 concurrent downloads, heaptrack). Yielding once
//! every 64 KiB read lets the relays drain what was decoded before more is
//! read; bulk throughput was unchanged (bench/run).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Bytes read between two yields.
const YIELD_AFTER: usize = 64 * 1024;

pub struct SshSocket {
    stream: TcpStream,
    read_since_yield: usize,
}

impl SshSocket {
    pub fn new(stream: TcpStream) -> SshSocket {
        SshSocket { stream, read_since_yield: 0 }
    }
}

impl AsyncRead for SshSocket {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.read_since_yield >= YIELD_AFTER {
            self.read_since_yield = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            // Best effort: a failure only costs latency.
            let _ = socket2::SockRef::from(&self.stream).set_tcp_quickack(true);
            self.read_since_yield += buf.filled().len() - before;
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

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[derive(Default)]
    struct Woken(AtomicBool);

    impl Wake for Woken {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn yields_once_after_each_share_of_bytes_without_losing_any() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut writer = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (reader, _) = listener.accept().await.unwrap();
        let sent: Vec<u8> = (0..3 * YIELD_AFTER).map(|i| i as u8).collect();
        writer.write_all(&sent).await.unwrap();
        drop(writer);

        let mut socket = SshSocket::new(reader);
        let mut received = Vec::new();
        let mut buf = vec![0; 16 * 1024];
        while received.len() < YIELD_AFTER {
            let n = socket.read(&mut buf).await.unwrap();
            received.extend_from_slice(&buf[..n]);
        }
        let woken = Arc::new(Woken::default());
        let waker = Waker::from(woken.clone());
        let mut read_buf = ReadBuf::new(&mut buf);
        let poll = Pin::new(&mut socket).poll_read(&mut Context::from_waker(&waker), &mut read_buf);
        assert!(poll.is_pending(), "no yield after {} bytes", received.len());
        assert!(woken.0.load(Ordering::SeqCst), "a yield must wake the task again");

        socket.read_to_end(&mut received).await.unwrap();
        assert_eq!(received, sent);
    }
}
