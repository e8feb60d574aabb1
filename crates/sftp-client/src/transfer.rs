//! Pipelined downloads and uploads, as OpenSSH's sftp does them
//! (`do_download`, `do_upload` in sftp-client.c): a window of READs or
//! WRITEs in flight, their replies taken in request order, so the data
//! reaches the sink in order and memory stays within the window.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use russh_sftp::protocol::OpenFlags;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::connection::{Frame, Reply};
use crate::error::Error;
use crate::session::{requests_for, status_reply, SftpSession, UploadMode, READ_CHUNK};
use crate::wire::{self, code};

/// A transfer that failed, and how far it got.
#[derive(Debug, thiserror::Error)]
#[error("{error} after {bytes} bytes")]
pub struct TransferError {
    /// Bytes moved before the failure: written to the sink, or acknowledged
    /// by the server.
    pub bytes: u64,
    /// What went wrong.
    #[source]
    pub error: Error,
}

/// A READ in flight.
struct PendingRead {
    offset: u64,
    len: u32,
    reply: Reply,
}

/// A WRITE in flight.
struct PendingWrite {
    len: u64,
    reply: Reply,
}

impl SftpSession {
    /// Writes the file at `path` from `offset` on to `sink`, with the
    /// session's window of READs in flight; returns the bytes written.
    /// The sink is flushed, not shut down.
    pub async fn download<W>(&self, path: &str, offset: u64, sink: &mut W) -> Result<u64, TransferError>
    where
        W: AsyncWrite + Unpin,
    {
        let mut bytes = 0;
        let result = self.download_into(path, offset, sink, &mut bytes).await;
        result.map(|()| bytes).map_err(|error| TransferError { bytes, error })
    }

    /// Reads `source` to its end into the file at `path`, with the session's
    /// window of WRITEs in flight; returns the bytes the server acknowledged.
    pub async fn upload<R>(&self, path: &str, source: &mut R, mode: UploadMode) -> Result<u64, TransferError>
    where
        R: AsyncRead + Unpin,
    {
        let mut bytes = 0;
        let mut result = self.upload_from(path, source, mode, &mut bytes).await;
        if let Err(error) = &result {
            if error.is_generic_failure() && self.is_full(path).await {
                result = Err(Error::DiskFull { path: path.to_owned() });
            }
        }
        result.map(|()| bytes).map_err(|error| TransferError { bytes, error })
    }

    async fn download_into<W>(&self, path: &str, offset: u64, sink: &mut W, written: &mut u64) -> Result<(), Error>
    where
        W: AsyncWrite + Unpin,
    {
        let file = self.open_handle(path, OpenFlags::READ).await?;
        let mut queue: VecDeque<PendingRead> = VecDeque::new();
        let mut next = offset;
        let mut chunk = self.config.chunk_size.min(READ_CHUNK);
        let max_window = requests_for(self.config, chunk);
        // Like OpenSSH, start with one request and widen the window with each
        // full reply, so a small file costs few wasted requests.
        let mut window = 1;
        let mut eof = false;
        loop {
            while !eof && queue.len() < window {
                let reply = self.read_at(&file.handle, next, chunk)?;
                queue.push_back(PendingRead { offset: next, len: chunk, reply });
                next = next.saturating_add(u64::from(chunk));
            }
            let Some(read) = queue.pop_front() else { break };
            let packet = read.reply.packet().await?;
            if packet.first() == Some(&wire::FXP_STATUS) {
                let status = wire::decode_status(packet)?;
                if status.code != code::EOF {
                    return Err(Error::from_status(status, path));
                }
                // Every later request reads past this end: give them up.
                eof = true;
                queue.clear();
                continue;
            }
            let data = wire::decode_data(packet)?;
            let got = u32::try_from(data.len()).unwrap_or(u32::MAX);
            if got > read.len {
                return Err(Error::Protocol(format!("{got} bytes for a read of {}", read.len)));
            }
            if got == 0 {
                // Not EOF by the protocol, but asking again would loop.
                eof = true;
                queue.clear();
                continue;
            }
            sink.write_all(&data).await.map_err(Error::Local)?;
            *written += u64::from(got);
            if got < read.len {
                // A short read: ask for the rest before anything already in
                // flight, and ask for smaller chunks from now on, as the
                // server may cap its reads.
                let offset = read.offset.saturating_add(u64::from(got));
                let len = read.len - got;
                let reply = self.read_at(&file.handle, offset, len)?;
                queue.push_front(PendingRead { offset, len, reply });
                chunk = chunk.min(got.max(512));
            } else if window < max_window {
                window += 1;
            }
        }
        sink.flush().await.map_err(Error::Local)?;
        file.close().await
    }

    async fn upload_from<R>(&self, path: &str, source: &mut R, mode: UploadMode, acked: &mut u64) -> Result<(), Error>
    where
        R: AsyncRead + Unpin,
    {
        let flags = OpenFlags::WRITE | OpenFlags::CREATE;
        let (flags, start) = match mode {
            UploadMode::Replace => (flags | OpenFlags::TRUNCATE, None),
            UploadMode::Resume(offset) => (flags, Some(offset)),
            UploadMode::Append => (flags | OpenFlags::APPEND, None),
        };
        let file = self.open_handle(path, flags).await?;
        // APPEND alone is not honoured by every server (OpenSSH's is), so
        // the offsets also start at the current end.
        let mut offset = match (mode, start) {
            (UploadMode::Append, _) => self.size_of(&file.handle, path).await?,
            (_, Some(offset)) => offset,
            (_, None) => 0,
        };
        let chunk = usize::try_from(self.config.chunk_size).unwrap_or(usize::MAX);
        let mut queue: VecDeque<PendingWrite> = VecDeque::new();
        let mut source_done = false;
        while !source_done || !queue.is_empty() {
            if !source_done && queue.len() < self.config.requests_in_flight {
                let data = fill(source, chunk).await.map_err(Error::Local)?;
                if data.is_empty() {
                    source_done = true;
                    continue;
                }
                let len = data.len() as u64;
                let reply = self.write_at(&file.handle, offset, data)?;
                queue.push_back(PendingWrite { len, reply });
                offset = offset.saturating_add(len);
                continue;
            }
            if let Some(write) = queue.pop_front() {
                status_reply(write.reply.packet().await?, path)?;
                *acked += write.len;
            }
        }
        file.close().await
    }

    fn read_at(&self, handle: &[u8], offset: u64, len: u32) -> Result<Reply, Error> {
        self.connection.send_head(|id| wire::encode_read(id, handle, offset, len))
    }

    fn write_at(&self, handle: &[u8], offset: u64, data: Bytes) -> Result<Reply, Error> {
        self.connection.send(|id| Frame { head: wire::encode_write_head(id, handle, offset, data.len()), body: data })
    }

    /// Whether the file system under `path` has less room than a chunk,
    /// which makes a generic failure a full disk.
    async fn is_full(&self, path: &str) -> bool {
        let parent = match path.rfind('/') {
            Some(0) => "/",
            Some(at) => path.get(..at).unwrap_or("."),
            None => ".",
        };
        let room = match self.available_space(path).await {
            Some(room) => Some(room),
            // The file may be gone after the failure; its directory is not.
            None => self.available_space(parent).await,
        };
        room.is_some_and(|room| room < u64::from(self.config.chunk_size))
    }
}

/// Reads up to `chunk` bytes, fewer only at the end of `source`, so that a
/// source that trickles does not become many small WRITEs.
async fn fill<R: AsyncRead + Unpin>(source: &mut R, chunk: usize) -> std::io::Result<Bytes> {
    let mut data = BytesMut::with_capacity(chunk);
    while data.len() < chunk {
        let mut limited = (&mut *source).take((chunk - data.len()) as u64);
        if limited.read_buf(&mut data).await? == 0 {
            break;
        }
    }
    Ok(data.freeze())
}
