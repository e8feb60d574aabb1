//! Whole mux packets over a unix stream, for both ends.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::protocol::{body_length, DecodeError, Message};

/// Why a packet could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Decode(#[from] DecodeError),
}

/// The next message; `None` when the peer closed between packets.
pub async fn read<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Option<Message>, StreamError> {
    let mut header = [0; 4];
    match reader.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let mut body = vec![0; body_length(header)?];
    reader.read_exact(&mut body).await?;
    Ok(Some(Message::decode_body(&body)?))
}

/// Writes one message.
pub async fn write<W: AsyncWrite + Unpin>(writer: &mut W, message: &Message) -> Result<(), StreamError> {
    writer.write_all(&message.encode()).await?;
    Ok(())
}
