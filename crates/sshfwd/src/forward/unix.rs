//! Unix socket forwardings: local listeners on a socket path (`-L path:…`),
//! with `StreamLocalBindMask` and `StreamLocalBindUnlink` as ssh(1) makes
//! them, whose connections go through direct-tcpip or direct-streamlocal
//! channels; and the local end of a `-R …:path` forwarding, a connection to
//! a unix socket here.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ssh_files::forward_spec::{ConnectTo, StreamLocalBind};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::relay::{self, Socket};
use crate::ssh::{DataChannel, Tunnel};

/// Pause after a failed accept (out of file descriptors, say).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What a direct-tcpip channel from a unix socket names as its originator:
/// OpenSSH's stand-in, since some servers check that it is an address.
const UNIX_ORIGINATOR: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 65535);

/// The socket file of one of our listeners, removed when the listener goes
/// (shutdown, or the runtime dropping its task at exit).
struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.0) {
            tracing::debug!("unlink({}): {}", self.0.display(), sshfwd_net::io_reason(&e));
        }
    }
}

/// A unix socket listener with its file.
pub struct Listener {
    listener: UnixListener,
    file: SocketFile,
}

/// Binds `path` as ssh(1) does: with `bind.mask` as the umask while the
/// socket file is made, after removing an existing file when `bind.unlink`.
/// Failures are logged in OpenSSH's words.
pub fn listen(path: &str, bind: StreamLocalBind) -> Result<Listener, std::io::Error> {
    if bind.unlink {
        if let Err(e) = std::fs::remove_file(path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::error!("unlink({path}): {}", sshfwd_net::io_reason(&e));
            }
        }
    }
    let listener = with_umask(bind.mask, || UnixListener::bind(path)).inspect_err(|e| {
        tracing::error!("unix_listener: cannot bind to path {path}: {}", sshfwd_net::io_reason(e));
    })?;
    tracing::debug!("Local forwarding listening on path {path}.");
    Ok(Listener { listener, file: SocketFile(PathBuf::from(path)) })
}

/// Runs `make` with `mask` as the process's umask. The umask is process-wide:
/// the client binds its listeners one at a time at start, before anything
/// else in the process creates files.
fn with_umask<T>(mask: u32, make: impl FnOnce() -> T) -> T {
    let mask = libc::mode_t::try_from(mask & 0o777).unwrap_or(0o177);
    // SAFETY: umask(2) cannot fail and touches no memory of ours.
    let old = unsafe { libc::umask(mask) };
    let made = make();
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    made
}

/// Spawns into `tracker` the loop that serves `listener` with `handle`, at
/// most `max_connections` at once (one over the cap is closed), until
/// `shutdown`; the socket file is removed when the loop ends.
pub fn spawn<F, Fut>(
    listener: Listener,
    max_connections: usize,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
    handle: F,
) where
    F: Fn(UnixStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let places = Arc::new(Semaphore::new(max_connections.max(1)));
    let connections = tracker.clone();
    tracker.spawn(async move {
        let Listener { listener, file } = listener;
        loop {
            let accepted = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("accept on {}: {}", file.0.display(), sshfwd_net::io_reason(&e));
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            let Ok(place) = places.clone().try_acquire_owned() else {
                tracing::warn!(
                    "{}: refused connection: too many connections (limit {max_connections}; raise it with MaxForwardedConnections)",
                    file.0.display()
                );
                continue;
            };
            let task = handle(stream);
            connections.spawn(async move {
                task.await;
                drop(place);
            });
        }
        drop(file);
    });
}

/// Relays one connection accepted on a local listener (a unix socket, or a
/// port whose target is a socket) through a channel to `target` (a host and
/// port, or a socket path, on the server's side). `originator` is the TCP
/// peer, `None` on a unix socket.
pub async fn local_connection<T: Tunnel, S: Socket>(
    tunnel: Arc<T>,
    stream: S,
    originator: Option<SocketAddr>,
    target: ConnectTo,
) {
    tracing::debug!("Connection to unix socket forwarding, to {target}");
    let originator = originator.unwrap_or(UNIX_ORIGINATOR);
    let opened = match &target {
        ConnectTo::Host(host) => tunnel.open_direct_tcpip(&host.host, host.port, originator).await,
        ConnectTo::Path(path) => tunnel.open_direct_streamlocal(path).await,
    };
    let channel = match opened {
        Ok(channel) => channel,
        Err(e) => {
            tracing::info!("channel: open failed: connect to {target} failed: {e}");
            return;
        }
    };
    relay::relay_and_log(channel, stream, &target).await;
}

/// Connects a channel the server opened for a `-R …:path` forwarding to the
/// local socket `path` and relays; when that fails the channel is closed at
/// once, so that the peer on the server's side sees the end.
pub async fn connect<C: DataChannel>(channel: C, path: &Path) {
    match UnixStream::connect(path).await {
        Ok(stream) => relay::relay_and_log(channel, stream, &path.display()).await,
        Err(e) => {
            tracing::info!("connect_to {}: failed: {}", path.display(), sshfwd_net::io_reason(&e));
            channel.close().await;
        }
    }
}
