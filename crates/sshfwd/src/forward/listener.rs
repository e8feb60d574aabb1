//! The accept loop shared by every local listener: each accepted connection
//! is handed to its own task; accept errors (e.g. out of file descriptors)
//! back off instead of spinning.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// Serves `listeners` until the task is dropped.
pub async fn serve<F, Fut>(listeners: Vec<TcpListener>, handle: F)
where
    F: Fn(TcpStream, SocketAddr) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for listener in listeners {
        let handle = handle.clone();
        tasks.spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        tokio::spawn(handle(stream, peer));
                    }
                    Err(e) => {
                        tracing::warn!("accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}
