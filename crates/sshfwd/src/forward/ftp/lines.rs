//! Reading one side of a control connection as lines (ftp-proto's framer
//! over an async reader), and copying it raw once it has become opaque.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use ftp_proto::framing::LineFramer;

/// Largest control line accepted; a longer one ends the session.
pub const MAX_LINE: usize = 8192;
/// Control connections carry short lines; the framer gathers long ones.
const READ_CHUNK: usize = 2048;

/// The two ends of a control connection, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Client => "client",
            Side::Server => "server",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("control line from the {side} longer than {limit} bytes; session closed")]
    LineTooLong { side: Side, limit: usize },
    #[error("control connection ({side}): {source}")]
    Io { side: Side, source: std::io::Error },
}

/// Reads lines from one side; `None` at end of stream after handing over
/// any unterminated tail. `next` is cancel-safe: bytes read stay in the
/// framer.
pub struct LineReader<R> {
    read: R,
    framer: LineFramer,
    buffer: Vec<u8>,
    side: Side,
    done: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    pub fn new(read: R, side: Side) -> Self {
        Self { read, framer: LineFramer::new(MAX_LINE), buffer: vec![0; READ_CHUNK], side, done: false }
    }

    pub async fn next(&mut self) -> Result<Option<Vec<u8>>, ControlError> {
        loop {
            match self.framer.next_line() {
                Ok(Some(line)) => return Ok(Some(line)),
                Ok(None) => {}
                Err(_) => return Err(ControlError::LineTooLong { side: self.side, limit: MAX_LINE }),
            }
            if self.done {
                let tail = self.framer.finish();
                return Ok((!tail.is_empty()).then_some(tail));
            }
            let n = self
                .read
                .read(&mut self.buffer)
                .await
                .map_err(|source| ControlError::Io { side: self.side, source })?;
            match self.buffer.get(..n) {
                Some(read) if n > 0 => self.framer.push(read),
                _ => self.done = true,
            }
        }
    }

    /// Once the channel is opaque (TLS let through), copies everything
    /// that is left, buffered bytes first, without looking at it; then
    /// ends the writer's stream.
    pub async fn pass_rest<W: AsyncWrite + Unpin>(mut self, writer: &mut W, to: Side) -> Result<(), ControlError> {
        let write_error = |source| ControlError::Io { side: to, source };
        writer.write_all(&self.framer.finish()).await.map_err(write_error)?;
        if !self.done {
            tokio::io::copy(&mut self.read, writer)
                .await
                .map_err(|source| ControlError::Io { side: self.side, source })?;
        }
        writer.shutdown().await.map_err(write_error)
    }
}
