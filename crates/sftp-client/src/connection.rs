//! The stream's owner: one task writes requests, one reads replies and hands
//! each to the request that waits for its id. When the stream ends or fails,
//! every waiting request learns it at once (its sender is dropped), rather
//! than at a timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::wire;

/// The largest reply accepted: a 256 KiB data chunk with room to spare, or a
/// long directory listing. It bounds what one packet can make us allocate.
pub(crate) const MAX_PACKET: u32 = 1024 * 1024;

/// Room for the reader's and writer's buffers: a few packets' worth.
const IO_BUFFER: usize = 256 * 1024;

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
        let packet = read_packet(&mut stream).await?.ok_or(Error::ConnectionLost)?;
        let (version, extensions) = wire::decode_version(packet)?;
        if version < wire::VERSION {
            return Err(Error::Protocol(format!("server speaks sftp version {version}, not 3")));
        }

        let (read_half, write_half) = tokio::io::split(stream);
        let waiters = Shared::default();
        let (outgoing, queue) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(write_half, queue, waiters.clone()));
        let reader = tokio::spawn(read_loop(read_half, waiters.clone()));
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

/// Reads one framed packet; `None` at a clean end of stream.
async fn read_packet<R: AsyncRead + Unpin>(stream: &mut R) -> Result<Option<Bytes>, Error> {
    let len = match stream.read_u32().await {
        Ok(len) => len,
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(_) => return Err(Error::ConnectionLost),
    };
    if !(5..=MAX_PACKET).contains(&len) {
        return Err(Error::Protocol(format!("packet length {len} out of range")));
    }
    let mut packet = BytesMut::zeroed(usize::try_from(len).map_err(|_| Error::ConnectionLost)?);
    stream.read_exact(&mut packet).await.map_err(|_| Error::ConnectionLost)?;
    Ok(Some(packet.freeze()))
}

async fn read_loop<R: AsyncRead + Unpin>(read_half: R, waiters: Shared) {
    let mut stream = BufReader::with_capacity(IO_BUFFER, read_half);
    loop {
        let packet = match read_packet(&mut stream).await {
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

async fn write_loop<W: AsyncWrite + Unpin>(write_half: W, mut queue: mpsc::UnboundedReceiver<Frame>, waiters: Shared) {
    let mut stream = BufWriter::with_capacity(IO_BUFFER, write_half);
    while let Some(frame) = queue.recv().await {
        if write_frames(&mut stream, frame, &mut queue).await.is_err() {
            close(&waiters);
            return;
        }
    }
    // The session is gone: tell the server, which then exits.
    let _ = stream.shutdown().await;
}

/// Writes a frame and whatever else is queued, then flushes once.
async fn write_frames<W: AsyncWrite + Unpin>(
    stream: &mut BufWriter<W>,
    first: Frame,
    queue: &mut mpsc::UnboundedReceiver<Frame>,
) -> std::io::Result<()> {
    let mut frame = first;
    loop {
        stream.write_all(&frame.head).await?;
        stream.write_all(&frame.body).await?;
        match queue.try_recv() {
            Ok(next) => frame = next,
            Err(_) => break,
        }
    }
    stream.flush().await
}

/// Marks the stream ended and drops every waiter's sender, which fails its request.
fn close(waiters: &Shared) {
    let mut waiters = lock(waiters);
    waiters.closed = true;
    waiters.by_id.clear();
}
