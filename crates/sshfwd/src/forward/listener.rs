//! Local listeners (`-L`, `-D`, `-L ftp/`) on the one accept-and-shutdown
//! loop of sshfwd-net: what each kind does with a connection, and what it
//! tells a peer that comes beyond the connection cap.

use std::future::Future;
use std::net::SocketAddr;

use sshfwd_net::accept::{self, AcceptOptions, Service};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A listener's connection handler, from a closure; a peer over the cap is
/// closed without a word (a TCP forwarding has no way to say why).
#[derive(Clone)]
pub struct Relay<F>(pub F);

impl<F, Fut> Service for Relay<F>
where
    F: Fn(TcpStream, SocketAddr) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn serve(&self, stream: TcpStream, peer: SocketAddr, _: CancellationToken) -> impl Future<Output = ()> + Send {
        (self.0)(stream, peer)
    }
}

/// An FTP control listener's handler: a client over the cap is told so in
/// FTP, as a 421 greeting, rather than left without one.
#[derive(Clone)]
pub struct FtpControl<F>(pub F);

impl<F, Fut> Service for FtpControl<F>
where
    F: Fn(TcpStream, SocketAddr) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn serve(&self, stream: TcpStream, peer: SocketAddr, _: CancellationToken) -> impl Future<Output = ()> + Send {
        (self.0)(stream, peer)
    }

    async fn refuse(&self, mut stream: TcpStream, _: SocketAddr, limit: usize) {
        let reply = format!("421 sshfwd: too many connections through this forwarding (limit {limit})\r\n");
        let _ = stream.write_all(reply.as_bytes()).await;
        let _ = stream.shutdown().await;
    }
}

/// Spawns into `tracker` the loop that serves `listeners` with `service`
/// until `shutdown`.
pub fn spawn<S: Service>(
    listeners: Vec<TcpListener>,
    options: AcceptOptions,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
    service: S,
) {
    tracker.spawn(accept::serve(listeners, options, shutdown, tracker.clone(), service));
}
