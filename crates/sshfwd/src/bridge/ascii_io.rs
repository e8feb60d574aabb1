//! TYPE A conversion as stream adapters, so that pipelined downloads and
//! uploads run through the same code in both representations.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use ftp_proto::server::{AsciiDecoder, AsciiEncoder};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Writes LF text to `inner` as CRLF.
pub struct AsciiWriter<W> {
    inner: W,
    encoder: AsciiEncoder,
    /// Encoded bytes not yet taken by `inner`.
    pending: Vec<u8>,
    /// How much of `pending` `inner` has taken.
    written: usize,
}

impl<W: AsyncWrite + Unpin> AsciiWriter<W> {
    pub fn new(inner: W) -> Self {
        Self { inner, encoder: AsciiEncoder::new(), pending: Vec::new(), written: 0 }
    }

    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let rest = self.pending.get(self.written..).unwrap_or_default();
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, rest))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for AsciiWriter<W> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        this.encoder.encode(buf, &mut this.pending);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// Reads CRLF text from `inner` as LF.
pub struct AsciiReader<R> {
    inner: R,
    decoder: AsciiDecoder,
    raw: Box<[u8]>,
    /// Decoded bytes not yet handed out, from `position` on.
    decoded: Vec<u8>,
    position: usize,
    /// `inner` has ended and the decoder is finished.
    done: bool,
}

impl<R: AsyncRead + Unpin> AsciiReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            decoder: AsciiDecoder::new(),
            raw: vec![0; 64 * 1024].into_boxed_slice(),
            decoded: Vec::new(),
            position: 0,
            done: false,
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for AsciiReader<R> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            let available = this.decoded.get(this.position..).unwrap_or_default();
            if !available.is_empty() {
                let n = available.len().min(buf.remaining());
                buf.put_slice(available.get(..n).unwrap_or_default());
                this.position += n;
                return Poll::Ready(Ok(()));
            }
            if this.done {
                return Poll::Ready(Ok(()));
            }
            this.decoded.clear();
            this.position = 0;
            let mut raw = ReadBuf::new(&mut this.raw);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut raw))?;
            if raw.filled().is_empty() {
                this.decoder.finish(&mut this.decoded);
                this.done = true;
            } else {
                this.decoder.decode(raw.filled(), &mut this.decoded);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn round_trip_in_small_pieces() {
        let cases: &[(&[u8], &[u8])] =
            &[(b"", b""), (b"a\nb\n", b"a\r\nb\r\n"), (b"no newline", b"no newline"), (b"\n\n", b"\r\n\r\n")];
        for &(text, wire) in cases {
            let mut out = Vec::new();
            let mut writer = AsciiWriter::new(&mut out);
            for byte in text {
                writer.write_all(&[*byte]).await.unwrap();
            }
            writer.flush().await.unwrap();
            assert_eq!(out, wire, "encode {text:?}");

            let mut decoded = Vec::new();
            AsciiReader::new(wire).read_to_end(&mut decoded).await.unwrap();
            assert_eq!(decoded, text, "decode {wire:?}");
        }
    }
}
