//! The accept loop shared by every local listener: a cap on concurrent
//! connections with a clear refusal, each connection in its own task of a
//! tracker, a shutdown token, and back-off on accept errors (out of file
//! descriptors, say) instead of spinning.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Spawns into `tracker` the accept loops of `listeners`, which hand each
/// connection to `handle` while fewer than `max_connections` run, and
/// close the others at once, until `shutdown`.
pub fn spawn<F, Fut>(
    listeners: Vec<TcpListener>,
    max_connections: usize,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
    handle: F,
) where
    F: Fn(TcpStream, SocketAddr) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let places = Arc::new(Semaphore::new(max_connections));
    for listener in listeners {
        let (handle, places, shutdown, connections) =
            (handle.clone(), places.clone(), shutdown.clone(), tracker.clone());
        tracker.spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = shutdown.cancelled() => return,
                };
                match accepted {
                    Ok((stream, peer)) => {
                        let Ok(place) = places.clone().try_acquire_owned() else {
                            tracing::warn!(
                                "refused connection from {peer}: too many connections (limit {max_connections})"
                            );
                            continue;
                        };
                        let _ = stream.set_nodelay(true);
                        let task = handle(stream, peer);
                        connections.spawn(async move {
                            task.await;
                            drop(place);
                        });
                    }
                    Err(e) => {
                        tracing::warn!("accept: {e}");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                }
            }
        });
    }
}
