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

/// What a listener tells a peer that comes beyond its connection cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Close without a word: a TCP forwarding has no way to say why.
    Close,
    /// An FTP `421` greeting naming the limit, so that an FTP client shows
    /// the reason instead of a dropped connection.
    FtpBusy,
}

/// A listener's connection handler, from a closure, with its refusal.
#[derive(Clone)]
pub struct Connections<F> {
    pub handle: F,
    pub refusal: Refusal,
}

impl<F, Fut> Service for Connections<F>
where
    F: Fn(TcpStream, SocketAddr) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn serve(&self, stream: TcpStream, peer: SocketAddr, _: CancellationToken) -> impl Future<Output = ()> + Send {
        (self.handle)(stream, peer)
    }

    async fn refuse(&self, mut stream: TcpStream, _: SocketAddr, limit: usize) {
        if self.refusal == Refusal::FtpBusy {
            let reply = format!(
                "421 sshfwd: too many FTP sessions at once on this port (limit {limit}; raise it with MaxForwardedConnections)\r\n"
            );
            let _ = stream.write_all(reply.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncReadExt;

    use super::*;

    #[tokio::test]
    async fn an_ftp_listener_over_its_cap_answers_421_with_the_limit() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
        let held = CancellationToken::new();
        let hold = held.clone();
        let handle = move |_stream: TcpStream, _| {
            let hold = hold.clone();
            async move { hold.cancelled().await }
        };
        let options = AcceptOptions { max_connections: 1, name: "test".into() };
        spawn(vec![listener], options, shutdown.clone(), &tracker, Connections { handle, refusal: Refusal::FtpBusy });

        let _first = TcpStream::connect(address).await.unwrap();
        let mut second = TcpStream::connect(address).await.unwrap();
        let mut reply = String::new();
        tokio::time::timeout(Duration::from_secs(5), second.read_to_string(&mut reply)).await.unwrap().unwrap();
        assert_eq!(
            reply,
            "421 sshfwd: too many FTP sessions at once on this port (limit 1; raise it with MaxForwardedConnections)\r\n"
        );
        held.cancel();
        shutdown.cancel();
    }
}
