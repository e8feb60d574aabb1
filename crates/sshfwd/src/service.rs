//! Running under systemd with `Type=notify`: the sd_notify(3) protocol,
//! one datagram of `KEY=value` lines to the socket named by
//! `$NOTIFY_SOCKET`. Outside systemd the variable is unset and every call
//! is a no-op.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// The variable naming systemd's notification socket.
const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Why a notification could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// `$NOTIFY_SOCKET` is neither a path nor an abstract name (`@name`);
    /// systemd's `vsock:` sockets are for virtual machines.
    #[error("unsupported NOTIFY_SOCKET {0:?}")]
    Address(String),
    /// The socket refused the datagram.
    #[error("cannot notify systemd: {0}")]
    Send(#[from] io::Error),
}

/// Tells systemd that the service is up: every forwarding listens. With
/// `WatchdogSec=` set, also starts sending keep-alives from the runtime's
/// loop, so that a stuck loop gets the service restarted.
pub fn ready() {
    report(notify("READY=1"));
    if let Some(interval) = watchdog_interval() {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(watchdog(interval));
        }
    }
}

/// Tells systemd that the service is shutting down.
pub fn stopping() {
    report(notify("STOPPING=1"));
}

/// Sends `state` to `$NOTIFY_SOCKET`; nothing when it is unset.
pub fn notify(state: &str) -> Result<(), NotifyError> {
    match std::env::var_os(NOTIFY_SOCKET) {
        Some(socket) if !socket.is_empty() => notify_to(&socket, state),
        _ => Ok(()),
    }
}

/// Sends `state` to the socket `socket` names: a path, or `@name` for a
/// name in Linux's abstract namespace.
pub fn notify_to(socket: &OsStr, state: &str) -> Result<(), NotifyError> {
    let address = address(socket)?;
    UnixDatagram::unbound()?.send_to_addr(state.as_bytes(), &address)?;
    Ok(())
}

fn address(socket: &OsStr) -> Result<SocketAddr, NotifyError> {
    use std::os::linux::net::SocketAddrExt;
    let bytes = socket.as_bytes();
    let unsupported = || NotifyError::Address(socket.to_string_lossy().into_owned());
    match bytes.first() {
        Some(b'@') => SocketAddr::from_abstract_name(bytes.get(1..).unwrap_or_default()).map_err(|_| unsupported()),
        Some(b'/') => SocketAddr::from_pathname(socket).map_err(|_| unsupported()),
        _ => Err(unsupported()),
    }
}

/// Half of `$WATCHDOG_USEC`, as sd_watchdog_enabled(3) advises, when the
/// watchdog is meant for this process (`$WATCHDOG_PID`, if set, is ours).
fn watchdog_interval() -> Option<Duration> {
    if let Some(pid) = std::env::var_os("WATCHDOG_PID") {
        if pid.to_str()?.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

async fn watchdog(interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    loop {
        ticks.tick().await;
        if let Err(e) = notify("WATCHDOG=1") {
            tracing::debug!("{e}");
            return;
        }
    }
}

/// A failed notification is worth a warning: under `Type=notify` systemd
/// then fails the start after `TimeoutStartSec=`.
fn report(result: Result<(), NotifyError>) {
    if let Err(e) = result {
        tracing::warn!("{e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive(socket: &UnixDatagram) -> String {
        socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buffer = [0; 256];
        let n = socket.recv(&mut buffer).unwrap();
        String::from_utf8(buffer[..n].to_vec()).unwrap()
    }

    #[test]
    fn notifies_a_socket_by_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let systemd = UnixDatagram::bind(&path).unwrap();
        notify_to(path.as_os_str(), "READY=1").unwrap();
        assert_eq!(receive(&systemd), "READY=1");
    }

    #[test]
    fn notifies_a_socket_in_the_abstract_namespace() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("sshfwd-test-{}", std::process::id());
        let systemd = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
        notify_to(OsStr::new(&format!("@{name}")), "STOPPING=1").unwrap();
        assert_eq!(receive(&systemd), "STOPPING=1");
    }

    #[test]
    fn refuses_what_is_not_a_unix_socket() {
        for socket in ["vsock:2:1234", "relative/path"] {
            assert!(matches!(notify_to(OsStr::new(socket), "READY=1"), Err(NotifyError::Address(_))), "{socket}");
        }
        let missing = notify_to(OsStr::new("/nonexistent/notify"), "READY=1");
        assert!(matches!(missing, Err(NotifyError::Send(_))));
    }
}
