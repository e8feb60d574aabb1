//! The stream's owner: one task writes requests, one reads replies and hands
//! each to the request that waits for its id. When the stream ends or fails,
//! every waiting request learns it at once (its sender is dropped), rather
//! than at a timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::wire;

/// The largest reply accepted: a 256 KiB data chunk with room to spare, or a
/// long directory listing. It bounds what one packet can make us allocate.
pub(crate) const MAX_PACKET: u32 = 1024 * 1024;

/// The least the reader asks the stream for at a time: a few small replies.
const MIN_READ: usize = 4 * 1024;

/// The writer gathers queued frames up to this much before it writes, so
/// that SSH packets stay full; two of OpenSSH's 32 KiB channel packets.
const COALESCE: usize = 64 * 1024;

/// A writer's buffer larger than this is let go after a small batch (at
/// the end of an upload), so that an idle session holds no transfer's
/// worth of memory, while an upload keeps reusing its buffer.
const IDLE_BUFFER: usize = 128 * 1024;

/// One request on the wire: its frame head and, for a WRITE, the data that
/// follows it, kept apart so the data is not copied.
pub(crate) struct Frame {
    /// The length prefix, type, id and fixed fields.
    pub(crate) head: Bytes,
    /// A WRITE's data, or empty.
    pub(crate) body: Bytes,
}

/// A request's reply to come: the raw packet, type byte first.
pub(crate) struct Reply(oneshot::Receiver<Bytes>);

impl Reply {
    pub(crate) async fn packet(self) -> Result<Bytes, Error> {
        self.0.await.map_err(|_| Error::ConnectionLost)
    }
}

/// The requests waiting for replies, shared by the senders and the reader.
#[derive(Default)]
struct Waiters {
    /// Set once the stream has ended: later requests fail at once.
    closed: bool,
    /// The next request id; ids wrap, and a live one is never reused.
    next_id: u32,
    by_id: HashMap<u32, oneshot::Sender<Bytes>>,
}

type Shared = Arc<Mutex<Waiters>>;

fn lock(waiters: &Shared) -> MutexGuard<'_, Waiters> {
    // The lock guards plain data, left consistent by every holder.
    waiters.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The stream's two halves, each driven by its own task.
pub(crate) struct Connection {
    requests: Requests,
    reader: JoinHandle<()>,
}

/// The way to send requests, which a task may hold after its caller has gone.
#[derive(Clone)]
struct Requests {
    outgoing: mpsc::UnboundedSender<Frame>,
    waiters: Shared,
}

impl Connection {
    /// Exchanges INIT and VERSION, then starts the reader and writer tasks.
    /// Returns the server's version and extensions.
    pub(crate) async fn start<S>(mut stream: S) -> Result<(Self, u32, Vec<(String, String)>), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        stream.write_all(&wire::encode_init()).await.map_err(|_| Error::ConnectionLost)?;
        stream.flush().await.map_err(|_| Error::ConnectionLost)?;
        let mut packets = PacketReader::default();
        let packet = packets.next(&mut stream).await?.ok_or(Error::ConnectionLost)?;
        let (version, extensions) = wire::decode_version(packet)?;
        if version < wire::VERSION {
            return Err(Error::Protocol(format!("server speaks sftp version {version}, not 3")));
        }

        let (read_half, write_half) = tokio::io::split(stream);
        let waiters = Shared::default();
        let (outgoing, queue) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(write_half, queue, waiters.clone()));
        let reader = tokio::spawn(read_loop(read_half, packets, waiters.clone()));
        Ok((Connection { requests: Requests { outgoing, waiters }, reader }, version, extensions))
    }

    /// Sends the request that `build` makes for a fresh id, and returns its
    /// reply to come. Memory is bounded by the callers, who keep at most a
    /// window of requests in flight.
    pub(crate) fn send(&self, build: impl FnOnce(u32) -> Frame) -> Result<Reply, Error> {
        self.requests.send(build)
    }

    /// Sends a request with no data after its head.
    pub(crate) fn send_head(&self, build: impl FnOnce(u32) -> Bytes) -> Result<Reply, Error> {
        self.requests.send(|id| Frame { head: build(id), body: Bytes::new() })
    }

    /// Waits for the reply to an OPEN or OPENDIR. If the caller gives up
    /// first (FTP ABOR), a task waits on and closes the handle that comes,
    /// which would otherwise stay open on the server.
    pub(crate) async fn handle_reply(&self, reply: Reply) -> Result<Bytes, Error> {
        let mut guard = HandleGuard { reply: Some(reply.0), requests: self.requests.clone() };
        let packet = match guard.reply.as_mut() {
            Some(reply) => reply.await.map_err(|_| Error::ConnectionLost),
            None => Err(Error::ConnectionLost),
        };
        guard.reply = None;
        packet
    }
}

impl Requests {
    /// Sends the request that `build` makes for a fresh id, and returns its
    /// reply to come. Memory is bounded by the callers, who keep at most a
    /// window of requests in flight.
    pub(crate) fn send(&self, build: impl FnOnce(u32) -> Frame) -> Result<Reply, Error> {
        let mut waiters = lock(&self.waiters);
        if waiters.closed {
            return Err(Error::ConnectionLost);
        }
        let mut id = waiters.next_id;
        while waiters.by_id.contains_key(&id) {
            id = id.wrapping_add(1);
        }
        waiters.next_id = id.wrapping_add(1);
        let (tx, rx) = oneshot::channel();
        // Sent under the lock, so that a closed stream is seen once, and before
        // the reply could come.
        if self.outgoing.send(build(id)).is_err() {
            return Err(Error::ConnectionLost);
        }
        waiters.by_id.insert(id, tx);
        Ok(Reply(rx))
    }
}

/// An OPEN whose reply nobody waits for any more.
struct HandleGuard {
    reply: Option<oneshot::Receiver<Bytes>>,
    requests: Requests,
}

impl Drop for HandleGuard {
    fn drop(&mut self) {
        let (Some(reply), Ok(runtime)) = (self.reply.take(), tokio::runtime::Handle::try_current()) else { return };
        let requests = self.requests.clone();
        runtime.spawn(async move {
            if let Ok(Ok(handle)) = reply.await.map(wire::decode_handle) {
                let close = |id| wire::encode_handle_request(wire::FXP_CLOSE, id, &handle, &[], 0);
                let _ = requests.send(|id| Frame { head: close(id), body: Bytes::new() });
            }
        });
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // The writer ends by itself (its queue closes) and half-closes the
        // stream; the reader might wait on a server that never closes.
        self.reader.abort();
        // Fails what still waits, so that no task holds the writer open.
        close(&self.requests.waiters);
    }
}

/// Splits framed packets off one buffer, so a packet is not copied after it
/// is read. The buffer grows to the packet being read and no further: an
/// idle session holds little, and a data packet is freed once its data is
/// written out.
#[derive(Default)]
struct PacketReader {
    buffer: BytesMut,
}

impl PacketReader {
    /// The next packet without its length; `None` at a clean end of stream.
    async fn next<R: AsyncRead + Unpin>(&mut self, stream: &mut R) -> Result<Option<Bytes>, Error> {
        loop {
            let wanted = match self.buffer.get(..4) {
                Some(prefix) => {
                    let len = prefix.iter().fold(0u32, |len, byte| (len << 8) | u32::from(*byte));
                    if !(5..=MAX_PACKET).contains(&len) {
                        return Err(Error::Protocol(format!("packet length {len} out of range")));
                    }
                    4 + usize::try_from(len).map_err(|_| Error::ConnectionLost)?
                }
                None => 4,
            };
            if self.buffer.len() >= wanted {
                let mut packet = self.buffer.split_to(wanted);
                packet.advance(4);
                return Ok(Some(packet.freeze()));
            }
            self.buffer.reserve((wanted - self.buffer.len()).max(MIN_READ));
            match stream.read_buf(&mut self.buffer).await {
                Ok(0) if self.buffer.is_empty() => return Ok(None),
                Ok(0) | Err(_) => return Err(Error::ConnectionLost),
                Ok(_) => {}
            }
        }
    }
}

async fn read_loop<R: AsyncRead + Unpin>(mut stream: R, mut packets: PacketReader, waiters: Shared) {
    loop {
        let packet = match packets.next(&mut stream).await {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            Err(error) => {
                tracing::debug!(%error, "sftp reply stream failed");
                break;
            }
        };
        let Some(id) = wire::reply_id(&packet) else { break };
        let waiter = lock(&waiters).by_id.remove(&id);
        match waiter {
            // A dropped receiver is a request given up (a transfer past EOF).
            Some(waiter) => drop(waiter.send(packet)),
            None => tracing::debug!(id, "sftp reply to no request"),
        }
    }
    close(&waiters);
}

async fn write_loop<W: AsyncWrite + Unpin>(mut stream: W, mut queue: mpsc::UnboundedReceiver<Frame>, waiters: Shared) {
    let mut buffer = BytesMut::new();
    while let Some(frame) = queue.recv().await {
        let written = match write_frames(&mut stream, &mut buffer, frame, &mut queue).await {
            Ok(written) => written,
            Err(_) => {
                close(&waiters);
                return;
            }
        };
        if buffer.capacity() > IDLE_BUFFER && written < buffer.capacity() / 4 {
            buffer = BytesMut::new();
        }
    }
    // The session is gone: tell the server, which then exits.
    let _ = stream.shutdown().await;
}

/// Writes a frame and whatever else is queued, gathered in `buffer` so that
/// a WRITE's head and data, and many small requests, leave in full SSH
/// packets; then flushes once. Returns the bytes written.
async fn write_frames<W: AsyncWrite + Unpin>(
    stream: &mut W,
    buffer: &mut BytesMut,
    first: Frame,
    queue: &mut mpsc::UnboundedReceiver<Frame>,
) -> std::io::Result<usize> {
    let mut written = 0;
    let mut next = Some(first);
    while let Some(frame) = next {
        buffer.extend_from_slice(&frame.head);
        buffer.extend_from_slice(&frame.body);
        drop(frame);
        next = queue.try_recv().ok();
        if buffer.len() >= COALESCE || next.is_none() {
            stream.write_all(buffer).await?;
            written += buffer.len();
            buffer.clear();
        }
    }
    stream.flush().await?;
    Ok(written)
}

/// Marks the stream ended and drops every waiter's sender, which fails its request.
fn close(waiters: &Shared) {
    let mut waiters = lock(waiters);
    waiters.closed = true;
    waiters.by_id.clear();
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use tokio::io::AsyncWriteExt;

    use super::*;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut out = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }

    /// Feeds `stream` to a reader in pieces of the given sizes.
    fn read_all(stream: Vec<u8>, pieces: Vec<usize>) -> Vec<Result<Option<Bytes>, Error>> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let (mut ours, mut theirs) = tokio::io::duplex(64);
            let feeding = tokio::spawn(async move {
                let mut rest = &stream[..];
                for size in pieces.into_iter().cycle() {
                    if rest.is_empty() {
                        break;
                    }
                    let (piece, after) = rest.split_at(size.clamp(1, rest.len()));
                    theirs.write_all(piece).await.unwrap();
                    rest = after;
                }
            });
            let mut packets = PacketReader::default();
            let mut got = Vec::new();
            loop {
                let next = packets.next(&mut ours).await;
                let end = !matches!(next, Ok(Some(_)));
                got.push(next);
                if end {
                    break;
                }
            }
            feeding.await.unwrap();
            got
        })
    }

    proptest! {
        #[test]
        fn packets_come_whole_however_the_stream_is_cut(
            bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 5..3000), 0..8),
            pieces in prop::collection::vec(1usize..5000, 1..6),
        ) {
            let stream: Vec<u8> = bodies.iter().flat_map(|body| frame(body)).collect();
            let got = read_all(stream, pieces);
            prop_assert_eq!(got.len(), bodies.len() + 1);
            for (got, body) in got.iter().zip(&bodies) {
                prop_assert!(matches!(got, Ok(Some(packet)) if packet[..] == body[..]));
            }
            prop_assert!(matches!(got.last(), Some(Ok(None))));
        }
    }

    #[test]
    fn bad_lengths_and_cut_packets_are_errors() {
        for (stream, want) in [
            (frame(b"1234"), "protocol"),
            ((2 * 1024 * 1024u32).to_be_bytes().to_vec(), "protocol"),
            (frame(b"12345")[..7].to_vec(), "lost"),
            (vec![0, 0], "lost"),
        ] {
            let got = read_all(stream.clone(), vec![3]);
            let kind = match got.last() {
                Some(Err(Error::Protocol(_))) => "protocol",
                Some(Err(Error::ConnectionLost)) => "lost",
                _ => "other",
            };
            assert_eq!(kind, want, "{stream:?}");
        }
    }
}
