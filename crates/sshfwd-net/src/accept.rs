//! The one accept-and-shutdown loop: every listener of the client (`-L`,
//! `-D`, `ftp/`, remote-forward targets) and of the server runs it.
//!
//! - A cap on connections served at once; one over it is handed to
//!   [`Service::refuse`] (an FTP `421` line, say) and closed, so the peer
//!   learns why instead of waiting in a queue.
//! - Every connection task runs in the caller's [`TaskTracker`], so the
//!   caller can wait for them to finish after shutdown.
//! - Every connection gets a child of the shutdown token: cancelling the
//!   listener's token reaches all its connections.
//! - A failed accept (out of file descriptors, say) pauses the loop instead
//!   of spinning.

use std::future::{poll_fn, Future};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Pause after a failed accept.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// How long a refusal may take to say its piece to a peer that does not
/// read.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(5);
/// Refusals under way at once; past that an over-the-cap connection is
/// closed without a word, so that a flood cannot hold file descriptors.
const REFUSALS_IN_FLIGHT: usize = 64;

/// How a listener runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptOptions {
    /// Connections served at once (at least one); the next is refused.
    pub max_connections: usize,
    /// Names the listener in logs (a forwarding's spec, "sshd", …).
    pub name: String,
}

/// What a listener does with the connections it accepts.
pub trait Service: Clone + Send + Sync + 'static {
    /// Serves one accepted connection (TCP_NODELAY already set);
    /// `shutdown` is cancelled when the listener stops.
    fn serve(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        shutdown: CancellationToken,
    ) -> impl Future<Output = ()> + Send;

    /// The cap of `limit` connections is reached: tell the peer before the
    /// connection is closed. Bounded in time by the caller. The default
    /// closes without a word.
    fn refuse(&self, stream: TcpStream, peer: SocketAddr, limit: usize) -> impl Future<Output = ()> + Send {
        drop((stream, peer, limit));
        async {}
    }
}

/// Accepts on every listener until `shutdown` is cancelled, then drops the
/// listeners and returns. Connections (and refusals) run in `tracker`, each
/// holding a place in the cap until it ends; the caller closes and waits
/// for `tracker` when it wants them gone.
pub async fn serve<S: Service>(
    listeners: Vec<TcpListener>,
    options: AcceptOptions,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    service: S,
) {
    let limit = options.max_connections.max(1);
    let places = Arc::new(Semaphore::new(limit));
    let refusals = Arc::new(Semaphore::new(REFUSALS_IN_FLIGHT));
    let mut next = 0;
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = accept_any(&listeners, &mut next) => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!("{}: accept failed: {}", options.name, crate::io_reason(&e));
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        let _ = stream.set_nodelay(true);
        if let Ok(place) = places.clone().try_acquire_owned() {
            let service = service.clone();
            let token = shutdown.child_token();
            tracker.spawn(async move {
                service.serve(stream, peer, token).await;
                drop(place);
            });
            continue;
        }
        tracing::info!(
            "{}: refused connection from {} port {}: {limit} connections open, the limit",
            options.name,
            peer.ip(),
            peer.port()
        );
        let Ok(refusal) = refusals.clone().try_acquire_owned() else {
            continue;
        };
        let service = service.clone();
        let token = shutdown.clone();
        tracker.spawn(async move {
            tokio::select! {
                () = token.cancelled() => {}
                _ = tokio::time::timeout(REFUSAL_TIMEOUT, service.refuse(stream, peer, limit)) => {}
            }
            drop(refusal);
        });
    }
}

/// The next connection from `expected` on a one-shot data listener, with
/// TCP_NODELAY set. A connection from any other address is closed and
/// logged as `name`'s, and the wait goes on for the right peer (RFC 2577:
/// a stranger must not steal the port). A failed accept ends the wait.
pub async fn accept_from(listener: &TcpListener, expected: IpAddr, name: &str) -> std::io::Result<TcpStream> {
    loop {
        let (stream, peer) = listener.accept().await?;
        if peer.ip() == expected {
            let _ = stream.set_nodelay(true);
            return Ok(stream);
        }
        tracing::warn!("{name}: refused data connection from {peer}: only {expected} may connect");
    }
}

/// The next connection on any of `listeners`, taking them in turn from
/// `next` so that a busy one cannot starve the others. Never resolves
/// without listeners.
async fn accept_any(listeners: &[TcpListener], next: &mut usize) -> std::io::Result<(TcpStream, SocketAddr)> {
    poll_fn(|cx| {
        let count = listeners.len();
        for offset in 0..count {
            let index = (*next + offset) % count;
            if let Some(Poll::Ready(result)) = listeners.get(index).map(|l| l.poll_accept(cx)) {
                *next = (index + 1) % count;
                return Poll::Ready(result);
            }
        }
        Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bind::{listen, ListenAddress};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::mpsc;

    const WAIT: Duration = Duration::from_secs(10);

    /// Greets, then holds the connection until the peer closes it or the
    /// listener shuts down, and reports which came first.
    #[derive(Clone)]
    struct Holder {
        ended: mpsc::UnboundedSender<&'static str>,
    }

    impl Service for Holder {
        async fn serve(&self, mut stream: TcpStream, _peer: SocketAddr, shutdown: CancellationToken) {
            let _ = stream.write_all(b"hello\n").await;
            let mut buffer = [0; 16];
            let why = tokio::select! {
                _ = stream.read(&mut buffer) => "peer closed",
                () = shutdown.cancelled() => "shutdown",
            };
            let _ = self.ended.send(why);
        }

        async fn refuse(&self, mut stream: TcpStream, _peer: SocketAddr, limit: usize) {
            let _ = stream.write_all(format!("busy: {limit}\n").as_bytes()).await;
        }
    }

    struct Running {
        port: u16,
        shutdown: CancellationToken,
        tracker: TaskTracker,
        ended: mpsc::UnboundedReceiver<&'static str>,
        task: tokio::task::JoinHandle<()>,
    }

    async fn start(max_connections: usize) -> Running {
        let listeners = listen(&ListenAddress::Loopback, 0).await.unwrap();
        let port = listeners[0].local_addr().unwrap().port();
        let (sender, ended) = mpsc::unbounded_channel();
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let options = AcceptOptions { max_connections, name: "test".into() };
        let task = tokio::spawn(serve(listeners, options, shutdown.clone(), tracker.clone(), Holder { ended: sender }));
        Running { port, shutdown, tracker, ended, task }
    }

    /// Connects and returns the stream and everything it reads until the
    /// first newline or EOF.
    async fn first_line(address: SocketAddr) -> (TcpStream, String) {
        let mut stream = tokio::time::timeout(WAIT, TcpStream::connect(address)).await.unwrap().unwrap();
        let mut line = Vec::new();
        let mut byte = [0; 1];
        while tokio::time::timeout(WAIT, stream.read(&mut byte)).await.unwrap().unwrap() == 1 {
            line.push(byte[0]);
            if byte[0] == b'\n' {
                break;
            }
        }
        (stream, String::from_utf8(line).unwrap())
    }

    fn v4(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[tokio::test]
    async fn over_the_cap_is_refused_with_the_hook_and_places_come_back() {
        let mut running = start(2).await;
        let (first, line) = first_line(v4(running.port)).await;
        assert_eq!(line, "hello\n");
        // The other family's listener counts against the same cap.
        let (second, line) = first_line(SocketAddr::new("::1".parse().unwrap(), running.port)).await;
        assert_eq!(line, "hello\n");
        let (mut refused, line) = first_line(v4(running.port)).await;
        assert_eq!(line, "busy: 2\n");
        let mut rest = Vec::new();
        tokio::time::timeout(WAIT, refused.read_to_end(&mut rest)).await.unwrap().unwrap();
        assert!(rest.is_empty(), "a refused connection is closed");

        drop((first, second));
        for _ in 0..2 {
            assert_eq!(tokio::time::timeout(WAIT, running.ended.recv()).await.unwrap(), Some("peer closed"));
        }
        // Every task, with the places it held, is gone once the closed
        // tracker is empty; then the cap admits two again.
        running.tracker.close();
        tokio::time::timeout(WAIT, running.tracker.wait()).await.unwrap();
        running.tracker.reopen();
        let (_third, line) = first_line(v4(running.port)).await;
        assert_eq!(line, "hello\n");
        let (_fourth, line) = first_line(v4(running.port)).await;
        assert_eq!(line, "hello\n");
        let (_refused, line) = first_line(v4(running.port)).await;
        assert_eq!(line, "busy: 2\n");
        running.shutdown.cancel();
    }

    #[tokio::test]
    async fn shutdown_stops_accepting_and_cancels_the_connections() {
        let mut running = start(8).await;
        let (_held, line) = first_line(v4(running.port)).await;
        assert_eq!(line, "hello\n");
        running.shutdown.cancel();
        assert_eq!(tokio::time::timeout(WAIT, running.ended.recv()).await.unwrap(), Some("shutdown"));
        tokio::time::timeout(WAIT, running.task).await.unwrap().unwrap();
        running.tracker.close();
        tokio::time::timeout(WAIT, running.tracker.wait()).await.unwrap();
        let refused = TcpStream::connect(v4(running.port)).await.unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    }

    #[tokio::test]
    async fn accepted_sockets_have_nodelay() {
        #[derive(Clone)]
        struct Nodelay(mpsc::UnboundedSender<bool>);
        impl Service for Nodelay {
            async fn serve(&self, stream: TcpStream, _peer: SocketAddr, _shutdown: CancellationToken) {
                let _ = self.0.send(stream.nodelay().unwrap());
            }
        }
        let listeners = listen(&ListenAddress::Host("127.0.0.1".into()), 0).await.unwrap();
        let address = listeners[0].local_addr().unwrap();
        let (sender, mut seen) = mpsc::unbounded_channel();
        let shutdown = CancellationToken::new();
        let options = AcceptOptions { max_connections: 1, name: "nodelay".into() };
        tokio::spawn(serve(listeners, options, shutdown.clone(), TaskTracker::new(), Nodelay(sender)));
        let _client = TcpStream::connect(address).await.unwrap();
        assert_eq!(tokio::time::timeout(WAIT, seen.recv()).await.unwrap(), Some(true));
        shutdown.cancel();
    }
}
