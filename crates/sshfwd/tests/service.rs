//! sshfwd as a service: `-E log_file`, `-y`, and systemd's `Type=notify`
//! protocol (READY=1 once every forwarding listens, STOPPING=1 on SIGTERM)
//! against a notification socket of the test's own.
//!
//! systemd itself does not run on these machines (PID 1 is not systemd), so
//! the units in contrib/systemd are checked by `systemd-analyze verify`
//! where it exists, not started.

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::thread;
use std::time::Duration;

use crate::common::sshd::{self, free_port, Sshd};

/// Bound for a short run of sshfwd.
const RUN: Duration = Duration::from_secs(30);
/// Bound for a notification to arrive.
const NOTIFIED: Duration = Duration::from_secs(30);

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// sshfwd's run against a port where nothing listens, with `flags`.
fn refused_run(home: &std::path::Path, flags: &[&str]) -> (sshd::Outcome, u16) {
    let port = free_port();
    let mut cmd = sshd::Sshfwd::new(home).args(flags).command(["true"]);
    cmd.port = Some(port);
    cmd.known_hosts = Some(home.join("known_hosts"));
    (cmd.run(RUN), port)
}

#[test]
fn log_file_gets_the_diagnostics_and_stderr_stays_empty() {
    let home = tempfile::tempdir().unwrap();
    let log = home.path().join("sshfwd.log");
    fs::write(&log, "earlier run\n").unwrap();
    let (out, port) = refused_run(home.path(), &["-v", "-E", log.to_str().unwrap()]);
    assert_eq!(out.code, Some(255), "{out:?}");
    assert_eq!(out.stderr, "", "-E leaves stderr alone");
    let text = fs::read_to_string(&log).unwrap();
    assert!(text.starts_with("earlier run\n"), "appended, not truncated:\n{text}");
    assert!(text.contains("debug1: "), "debug messages of -v:\n{text}");
    let fatal = format!("sshfwd: connect to host 127.0.0.1 port {port}: Connection refused");
    assert!(text.contains(&fatal), "the fatal error too:\n{text}");

    let fresh = home.path().join("new.log");
    let (out, _) = refused_run(home.path(), &["-E", fresh.to_str().unwrap()]);
    assert_eq!(out.code, Some(255), "{out:?}");
    let mode = fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "OpenSSH's mode for a new log file");
    assert!(!fs::read_to_string(&fresh).unwrap().contains("debug1:"), "no -v, no debug");
}

#[test]
fn log_file_errors_and_conflicts_are_told_on_stderr() {
    let home = tempfile::tempdir().unwrap();
    let (out, _) = refused_run(home.path(), &["-E", "/nonexistent/dir/sshfwd.log"]);
    assert_eq!(out.code, Some(255), "{out:?}");
    assert!(out.stderr.starts_with("Couldn't open logfile /nonexistent/dir/sshfwd.log: "), "{out:?}");

    let (out, _) = refused_run(home.path(), &["-y", "-E", "x.log"]);
    assert_eq!(out.code, Some(255), "{out:?}");
    assert_eq!(out.stderr.trim_end(), "Can't specify both -y and -E");
    assert!(!home.path().join("x.log").exists());
}

#[test]
fn syslog_leaves_stderr_empty() {
    // The messages themselves are checked against a socket of the test's
    // own in the unit tests of logging::syslog: /dev/log is the system's.
    let home = tempfile::tempdir().unwrap();
    let (out, _) = refused_run(home.path(), &["-y", "-v", "-o", "SyslogFacility=LOCAL5"]);
    assert_eq!(out.code, Some(255), "{out:?}");
    assert_eq!(out.stderr, "", "-y sends everything to syslog");

    let (out, _) = refused_run(home.path(), &["-y", "-o", "SyslogFacility=MAIL"]);
    assert_eq!(out.code, Some(255), "{out:?}");
    assert!(out.stderr.contains("SyslogFacility"), "a bad facility is a configuration error: {out:?}");
}

/// A notification socket as systemd's, in a temp dir.
struct Systemd {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    socket: UnixDatagram,
}

impl Systemd {
    fn new() -> Systemd {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket.set_read_timeout(Some(NOTIFIED)).unwrap();
        Systemd { _dir: dir, path, socket }
    }

    /// The next notification; panics after [`NOTIFIED`].
    fn next(&self) -> String {
        let mut buffer = [0; 4096];
        let n = self.socket.recv(&mut buffer).expect("no notification in time");
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    }
}

/// Echoes each connection's bytes until EOF, on a thread per connection.
fn echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut buffer = [0; 4096];
                while let Ok(n @ 1..) = conn.read(&mut buffer) {
                    if conn.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
                let _ = conn.shutdown(Shutdown::Write);
            });
        }
    });
    port
}

/// One connect, with no retry: the listener must be there already.
fn echo_once(port: u16) {
    let mut conn = TcpStream::connect_timeout(&local(port), Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("port {port} does not accept after READY=1: {e}"));
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    conn.write_all(b"ping").unwrap();
    conn.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    conn.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"ping", "through port {port}");
}

#[test]
fn notifies_ready_once_every_forward_listens_and_stopping_on_sigterm() {
    let sshd = Sshd::start();
    let echo = echo_server();
    let (local_port, remote_port) = (free_port(), free_port());
    let systemd = Systemd::new();
    let mut fwd = sshd
        .sshfwd()
        .forwards(&[
            ("-L", format!("{local_port}:127.0.0.1:{echo}")),
            ("-R", format!("{remote_port}:127.0.0.1:{echo}")),
            ("-L", format!("ftp/{}:127.0.0.1:{echo}", free_port())),
        ])
        .env("NOTIFY_SOCKET", &systemd.path)
        .spawn();
    assert_eq!(systemd.next(), "READY=1", "stderr: {}", fwd.stderr());
    echo_once(local_port);
    echo_once(remote_port);

    fwd.signal(libc::SIGTERM);
    assert_eq!(systemd.next(), "STOPPING=1");
    let status = fwd.wait_timeout(Duration::from_secs(10)).expect("sshfwd did not stop on SIGTERM");
    // ssh -N's status for a stop asked for: systemd counts it a success.
    assert_eq!(status.code(), Some(0));
}

#[test]
fn abstract_notify_socket_and_watchdog() {
    use std::os::linux::net::SocketAddrExt;
    let sshd = Sshd::start();
    let name = format!("sshfwd-notify-{}", std::process::id());
    let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let socket = UnixDatagram::bind_addr(&address).unwrap();
    socket.set_read_timeout(Some(NOTIFIED)).unwrap();
    let next = || {
        let mut buffer = [0; 4096];
        let n = socket.recv(&mut buffer).expect("no notification in time");
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    };
    let mut fwd = sshd
        .sshfwd()
        .forwards(&[("-L", format!("{}:127.0.0.1:9", free_port()))])
        .env("NOTIFY_SOCKET", format!("@{name}"))
        // WatchdogSec=200ms: a keep-alive every 100 ms.
        .env("WATCHDOG_USEC", "200000")
        .spawn();
    assert_eq!(next(), "READY=1", "stderr: {}", fwd.stderr());
    for _ in 0..3 {
        assert_eq!(next(), "WATCHDOG=1");
    }
    fwd.signal(libc::SIGTERM);
    // Keep-alives sent before the signal may still be queued.
    assert!((0..50).map(|_| next()).any(|state| state == "STOPPING=1"), "no STOPPING=1");
    assert!(fwd.wait_timeout(Duration::from_secs(10)).is_some(), "sshfwd did not stop on SIGTERM");
}

#[test]
fn no_notify_socket_no_notification() {
    // Outside systemd nothing is sent and nothing is said about it.
    let sshd = Sshd::start();
    let port = free_port();
    let mut command = sshd.sshfwd().forwards(&[("-L", format!("{port}:127.0.0.1:9"))]);
    command.env_remove.push("NOTIFY_SOCKET".into());
    let mut fwd = command.spawn();
    fwd.wait_port(local(port), NOTIFIED);
    fwd.signal(libc::SIGTERM);
    assert!(fwd.wait_timeout(Duration::from_secs(10)).is_some());
    assert!(!fwd.stderr().contains("notify"), "{}", fwd.stderr());
}

/// The units in contrib/systemd, as systemd would load them (offline:
/// `systemd-analyze verify` needs no running systemd).
#[test]
fn systemd_units_verify() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contrib/systemd");
    let version = Command::new("systemd-analyze").arg("--version").output();
    assert!(version.is_ok_and(|v| v.status.success()), "systemd-analyze (Debian package systemd) is needed");
    let scratch = tempfile::tempdir().unwrap();
    // The template needs an instance to verify; the ExecStart binary must
    // exist, so point the copies at this build's sshfwd.
    for (unit, as_name) in [("sshfwd.service", "sshfwd.service"), ("sshfwd@.service", "sshfwd@gateway.service")] {
        let text = fs::read_to_string(dir.join(unit)).unwrap();
        let text = text.replace("/usr/local/bin/sshfwd", env!("CARGO_BIN_EXE_sshfwd"));
        fs::write(scratch.path().join(as_name), text).unwrap();
    }
    for unit in ["sshfwd.service", "sshfwd@gateway.service"] {
        let out = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(scratch.path().join(unit))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Without a running systemd, verify may complain about the system
        // manager itself; only lines naming our unit count.
        let ours: Vec<&str> = stderr.lines().filter(|line| line.contains("sshfwd")).collect();
        assert!(ours.is_empty(), "{unit}:\n{stderr}");
    }
}
