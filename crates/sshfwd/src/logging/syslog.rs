//! `-y`: diagnostics to the local syslog daemon, sent as glibc's syslog(3)
//! sends them: one datagram per line to /dev/log, in RFC 3164's shape
//! without the host name (the daemon adds it):
//! `<PRI>Mmm dd hh:mm:ss sshfwd[PID]: text`.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use ssh_files::config::SyslogFacility;

/// The local syslog daemon's socket.
pub const DEV_LOG: &str = "/dev/log";

/// The tag before each message, as OpenSSH's `openlog(argv0, LOG_PID, …)`.
const IDENT: &str = "sshfwd";

/// The syslog(3) severities sshfwd uses, with their codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// OpenSSH's `fatal`: why the run ended.
    Critical = 2,
    Error = 3,
    Warning = 4,
    Info = 6,
    Debug = 7,
}

/// A connection to the syslog daemon.
#[derive(Debug)]
pub struct Syslog {
    path: PathBuf,
    facility: SyslogFacility,
    pid: u32,
    /// Connected at the first message and again after a failed send: the
    /// daemon may start, or restart, after sshfwd.
    socket: Mutex<Option<UnixDatagram>>,
}

impl Syslog {
    /// Messages to the daemon listening on `path` ([`DEV_LOG`] but in tests).
    pub fn new(path: impl Into<PathBuf>, facility: SyslogFacility) -> Syslog {
        Syslog { path: path.into(), facility, pid: std::process::id(), socket: Mutex::new(None) }
    }

    /// Sends each non-empty line of `text` as one message. Messages are
    /// dropped, never waited for, while the daemon is absent or its queue
    /// is full: a gateway must not stall on its log.
    pub fn send(&self, severity: Severity, text: &str) {
        let stamp = timestamp();
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            let datagram = format(self.facility, severity, stamp.as_deref(), self.pid, line);
            self.send_datagram(datagram.as_bytes());
        }
    }

    fn send_datagram(&self, datagram: &[u8]) {
        let mut socket = self.socket.lock().unwrap_or_else(PoisonError::into_inner);
        // A second try with a fresh socket after the daemon restarted.
        for _ in 0..2 {
            if socket.is_none() {
                *socket = connect(&self.path).ok();
            }
            let Some(connected) = socket.as_ref() else { return };
            match connected.send(datagram) {
                Ok(_) => return,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => *socket = None,
            }
        }
    }
}

fn connect(path: &Path) -> io::Result<UnixDatagram> {
    let socket = UnixDatagram::unbound()?;
    socket.connect(path)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// One message: priority, the time if known, the tag with the process id.
pub fn format(facility: SyslogFacility, severity: Severity, stamp: Option<&str>, pid: u32, line: &str) -> String {
    let priority = u16::from(facility.code()) * 8 + severity as u16;
    match stamp {
        Some(stamp) => format!("<{priority}>{stamp} {IDENT}[{pid}]: {line}"),
        None => format!("<{priority}>{IDENT}[{pid}]: {line}"),
    }
}

/// RFC 3164's `Mmm dd hh:mm:ss` in local time, as syslog(3) writes it;
/// `None` if the time cannot be had (the daemon then stamps the message).
fn timestamp() -> Option<String> {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    let tm = local_time(libc::time_t::try_from(seconds).ok()?)?;
    let month = usize::try_from(tm.tm_mon).ok()?;
    stamp(month, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)
}

/// The timestamp's text; `month` from 0 (`tm_mon`), the day padded with a
/// space.
fn stamp(month: usize, day: i32, hour: i32, minute: i32, second: i32) -> Option<String> {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let name = MONTHS.get(month)?;
    Some(format!("{name} {day:>2} {hour:02}:{minute:02}:{second:02}"))
}

/// The broken-down local time (with the TZ rules libc reads), as syslog(3)
/// uses: std has no time zones.
fn local_time(seconds: libc::time_t) -> Option<libc::tm> {
    // SAFETY: `tm` is plain old data, for which all-zero bytes are valid.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r writes only
    // into `tm` and keeps neither pointer.
    let filled = unsafe { libc::localtime_r(&seconds, &mut tm) };
    (!filled.is_null()).then_some(tm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_priority_time_and_tag() {
        use Severity::*;
        use SyslogFacility::*;
        let cases = [
            // RFC 3164 4.1.1: priority = facility * 8 + severity.
            (User, Info, Some("Nov  6 04:05:09"), "<14>Nov  6 04:05:09 sshfwd[42]: hello"),
            (User, Error, Some("Nov 26 14:05:09"), "<11>Nov 26 14:05:09 sshfwd[42]: hello"),
            (Daemon, Warning, None, "<28>sshfwd[42]: hello"),
            (Auth, Debug, None, "<39>sshfwd[42]: hello"),
            (AuthPriv, Critical, None, "<82>sshfwd[42]: hello"),
            (Local(0), Info, None, "<134>sshfwd[42]: hello"),
            (Local(7), Debug, None, "<191>sshfwd[42]: hello"),
        ];
        for (facility, severity, stamp, want) in cases {
            assert_eq!(format(facility, severity, stamp, 42, "hello"), want);
        }
    }

    #[test]
    fn timestamps_have_the_rfc_3164_shape() {
        assert_eq!(stamp(0, 1, 0, 0, 0).as_deref(), Some("Jan  1 00:00:00"));
        assert_eq!(stamp(11, 31, 23, 59, 60).as_deref(), Some("Dec 31 23:59:60"));
        assert_eq!(stamp(12, 1, 0, 0, 0), None);
        let now = timestamp().unwrap();
        assert_eq!(now.len(), "Mmm dd hh:mm:ss".len(), "{now}");
    }

    #[test]
    fn each_line_is_a_datagram_and_a_restarted_daemon_is_found_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let syslog = Syslog::new(&path, SyslogFacility::Local(2));
        // No daemon yet: dropped, not an error.
        syslog.send(Severity::Info, "lost");

        let daemon = UnixDatagram::bind(&path).unwrap();
        syslog.send(Severity::Warning, "first\nsecond\n\n");
        let pid = std::process::id();
        for want in ["first", "second"] {
            let got = receive(&daemon);
            assert!(got.starts_with("<148>"), "{got}");
            assert!(got.ends_with(&format!(" sshfwd[{pid}]: {want}")), "{got}");
        }

        drop(daemon);
        std::fs::remove_file(&path).unwrap();
        let restarted = UnixDatagram::bind(&path).unwrap();
        syslog.send(Severity::Error, "again");
        assert!(receive(&restarted).ends_with("]: again"));
    }

    fn receive(daemon: &UnixDatagram) -> String {
        daemon.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let mut buffer = [0; 1024];
        let n = daemon.recv(&mut buffer).unwrap();
        String::from_utf8(buffer[..n].to_vec()).unwrap()
    }
}
