//! Issue 14 (fwd): unix socket forwardings and remote dynamic forwarding
//! against a real OpenSSH sshd: forwarding.sh's chain of unix socket
//! forwards, `-R port` alone as a SOCKS4/5 proxy answered by sshfwd,
//! PermitRemoteOpen, StreamLocalBindMask/StreamLocalBindUnlink, the socket
//! file removed at exit, a refused remote socket forwarding.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::thread;
use std::time::Duration;

use crate::common::echo::echo_server;
use crate::common::netns::poll;
use crate::common::sshd::{self, free_port, Sshd, SshdOptions};

/// Bound for sshfwd to finish a short run.
const RUN: Duration = Duration::from_secs(30);
/// Bound for a forwarding to come up.
const READY: Duration = Duration::from_secs(20);
/// Socket read/write timeout of the test's clients.
const IO_TIMEOUT: Duration = Duration::from_secs(60);

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Waits until `path` is a unix socket, failing early if sshfwd exits.
fn wait_socket(fwd: &mut sshd::Running, path: &Path) {
    let ready = poll(READY, || {
        if fwd.try_status().is_some() {
            return Some(false);
        }
        path.metadata().is_ok_and(|m| m.file_type().is_socket()).then_some(true)
    });
    assert_eq!(ready, Some(true), "{} never became a socket; sshfwd stderr:\n{}", path.display(), fwd.stderr());
}

/// A payload of `len` bytes whose period (251, prime) matches no buffer
/// size, so a lost, repeated or reordered chunk shows.
fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Sends `data` on `stream` (from a thread, half-closing after it) and
/// returns everything read back until EOF.
fn exchange(mut stream: TcpStream, data: &[u8]) -> Vec<u8> {
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let data = data.to_vec();
    let sender = thread::spawn(move || {
        writer.write_all(&data).expect("write");
        writer.shutdown(Shutdown::Write).expect("shutdown");
    });
    let mut got = Vec::new();
    stream.read_to_end(&mut got).expect("read back");
    sender.join().unwrap();
    got
}

/// forwarding.sh's chain: a remote port to a local socket, that socket to a
/// remote socket, that remote socket to a local socket, that one to a TCP
/// echo server; a payload makes the round trip intact.
#[test]
fn chained_unix_socket_forwards_carry_data_intact() {
    let sshd = Sshd::start();
    let echo = echo_server();
    let dir = tempfile::tempdir().unwrap();
    let unix = |n: u32| dir.path().join(format!("unix-{n}.fwd"));
    let port = free_port();
    let mut first = sshd.sshfwd().forwards(&[("-R", format!("{port}:[{}]", unix(1).display()))]).spawn();
    let mut second =
        sshd.sshfwd().forwards(&[("-L", format!("[{}]:[{}]", unix(1).display(), unix(2).display()))]).spawn();
    let mut third =
        sshd.sshfwd().forwards(&[("-R", format!("[{}]:[{}]", unix(2).display(), unix(3).display()))]).spawn();
    let mut fourth =
        sshd.sshfwd().forwards(&[("-L", format!("[{}]:127.0.0.1:{}", unix(3).display(), echo.port()))]).spawn();
    wait_socket(&mut second, &unix(1));
    wait_socket(&mut third, &unix(2));
    wait_socket(&mut fourth, &unix(3));
    first.wait_port(local(port), READY);

    let data = payload(4 << 20);
    let stream = TcpStream::connect_timeout(&local(port), Duration::from_secs(5)).unwrap();
    let got = exchange(stream, &data);
    assert!(got == data, "{} bytes back of {}; stderr of the last hop:\n{}", got.len(), data.len(), fourth.stderr());
    // StreamLocalBindMask's default, 0177: the socket is its owner's alone.
    let mode = unix(1).metadata().unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "unix-1.fwd mode {mode:o}");
}

/// A SOCKS request for `host:port` on `stream`, version 4 or 5; whether
/// the proxy granted it.
fn socks_connect(stream: &mut TcpStream, version: u8, host: &str, port: u16) -> bool {
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let [high, low] = port.to_be_bytes();
    if version == 4 {
        let ip: std::net::Ipv4Addr = host.parse().expect("SOCKS4 takes an address");
        let mut request = vec![4, 1, high, low];
        request.extend(ip.octets());
        request.extend(b"user\0");
        stream.write_all(&request).unwrap();
        let mut reply = [0u8; 8];
        return stream.read_exact(&mut reply).is_ok() && reply[1] == 0x5a;
    }
    stream.write_all(&[5, 1, 0]).unwrap();
    let mut method = [0u8; 2];
    stream.read_exact(&mut method).unwrap();
    assert_eq!(method, [5, 0]);
    let mut request = vec![5, 1, 0, 3, host.len() as u8];
    request.extend(host.as_bytes());
    request.extend([high, low]);
    stream.write_all(&request).unwrap();
    let mut reply = [0u8; 10];
    stream.read_exact(&mut reply).is_ok() && reply[1] == 0
}

/// sshfwd with `-R port` alone (and `options`); returns it with the port.
fn remote_dynamic(sshd: &Sshd, options: &[&str]) -> (sshd::Running, u16) {
    let port = free_port();
    let mut fwd = options.iter().fold(sshd.sshfwd(), |f, o| f.opt(*o)).forwards(&[("-R", port.to_string())]).spawn();
    fwd.wait_port(local(port), READY);
    (fwd, port)
}

/// `-R port` alone: the server's port is a SOCKS proxy answered by sshfwd,
/// for SOCKS4 and SOCKS5, by address and by name (dynamic-forward.sh).
#[test]
fn remote_dynamic_forwarding_answers_socks4_and_socks5() {
    let sshd = Sshd::start();
    let echo = echo_server();
    let (fwd, port) = remote_dynamic(&sshd, &[]);
    for (version, host) in [(5, "127.0.0.1"), (5, "localhost"), (4, "127.0.0.1")] {
        let mut stream = TcpStream::connect_timeout(&local(port), Duration::from_secs(5)).unwrap();
        assert!(socks_connect(&mut stream, version, host, echo.port()), "SOCKS{version} {host}: refused");
        let message = format!("through SOCKS{version} to {host}").repeat(1000);
        let got = exchange(stream, message.as_bytes());
        assert!(
            got == message.as_bytes(),
            "SOCKS{version} {host}: {} bytes back; stderr:\n{}",
            got.len(),
            fwd.stderr()
        );
    }
}

/// PermitRemoteOpen limits where remote dynamic forwarding connects.
#[test]
fn permit_remote_open_limits_remote_dynamic_forwarding() {
    let sshd = Sshd::start();
    let echo = echo_server();
    let target = format!("127.0.0.1:{}", echo.port());
    let cases = [
        ("PermitRemoteOpen=none", false),
        ("PermitRemoteOpen=127.0.0.1:1 localhost:1", false),
        (&*format!("PermitRemoteOpen=127.0.0.1:1 {target}"), true),
    ];
    for (option, allowed) in cases {
        let (fwd, port) = remote_dynamic(&sshd, &[option]);
        let mut stream = TcpStream::connect_timeout(&local(port), Duration::from_secs(5)).unwrap();
        let granted = socks_connect(&mut stream, 5, "127.0.0.1", echo.port());
        assert_eq!(granted, allowed, "{option}; stderr:\n{}", fwd.stderr());
    }
}

/// An existing file at the listen path: refused (and reported) unless
/// StreamLocalBindUnlink, which replaces it; the socket file is gone once
/// sshfwd has ended. StreamLocalBindMask sets the socket's mode.
#[test]
fn stream_local_bind_unlink_and_socket_removed_at_exit() {
    let sshd = Sshd::start();
    let echo = echo_server();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("listen.sock");
    std::fs::write(&path, "stale").unwrap();
    let spec = format!("{}:127.0.0.1:{}", path.display(), echo.port());

    let refused = sshd.sshfwd().opt("ExitOnForwardFailure=yes").forwards(&[("-L", &spec)]).run(RUN);
    assert_eq!(refused.code, Some(255), "stderr:\n{}", refused.stderr);
    assert!(refused.stderr.contains("Could not request local forwarding."), "stderr:\n{}", refused.stderr);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "stale", "the file was touched without StreamLocalBindUnlink");

    let mut fwd = sshd
        .sshfwd()
        .opt("StreamLocalBindUnlink=yes")
        .opt("StreamLocalBindMask=0111")
        .forwards(&[("-L", &spec)])
        .spawn();
    wait_socket(&mut fwd, &path);
    let mode = path.metadata().unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666, "mode {mode:o} with StreamLocalBindMask=0111");
    let mut stream = std::os::unix::net::UnixStream::connect(&path).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(b"over a unix socket").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    stream.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"over a unix socket");

    fwd.signal(libc::SIGTERM);
    assert!(fwd.wait_timeout(RUN).is_some(), "sshfwd did not end on SIGTERM");
    assert!(!path.exists(), "{} left behind at exit", path.display());
}

/// A remote socket forwarding the server refuses: OpenSSH's words, and exit
/// 255 with ExitOnForwardFailure.
#[test]
fn refused_remote_socket_forwarding_is_reported() {
    let sshd =
        Sshd::start_with(SshdOptions { extra: vec!["AllowStreamLocalForwarding no".into()], ..SshdOptions::default() });
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("{}:127.0.0.1:9", dir.path().join("r.sock").display());
    let out = sshd.sshfwd().opt("ExitOnForwardFailure=yes").forwards(&[("-R", &spec)]).run(RUN);
    assert_eq!(out.code, Some(255), "stderr:\n{}", out.stderr);
    let want = format!("remote port forwarding failed for listen path {}", dir.path().join("r.sock").display());
    assert!(out.stderr.contains(&want), "stderr:\n{}", out.stderr);
}

/// `ftp/` needs TCP on both sides: refused before connecting.
#[test]
fn ftp_prefix_with_a_socket_path_is_refused() {
    let sshd = Sshd::start();
    let out = sshd.sshfwd().forwards(&[("-L", "ftp/[/tmp/ftp.sock]:127.0.0.1:21")]).run(RUN);
    assert_eq!(out.code, Some(255), "stderr:\n{}", out.stderr);
    assert!(out.stderr.contains("the ftp/ prefix needs TCP on both sides"), "stderr:\n{}", out.stderr);
}

/// A round trip through the unix socket `path`, or why not.
fn unix_round_trip(path: &Path, message: &[u8]) -> Result<(), String> {
    let mut stream = std::os::unix::net::UnixStream::connect(path).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    stream.write_all(message).map_err(|e| format!("write: {e}"))?;
    stream.shutdown(Shutdown::Write).map_err(|e| format!("shutdown: {e}"))?;
    let mut got = Vec::new();
    stream.read_to_end(&mut got).map_err(|e| format!("read: {e}"))?;
    (got == message).then_some(()).ok_or_else(|| format!("{} bytes back of {}", got.len(), message.len()))
}

/// With `Reconnect yes`, a remote unix socket forwarding is requested
/// again on the new connection and carries data again.
#[test]
fn remote_socket_forwarding_comes_back_after_a_reconnection() {
    // The killed session leaves its socket file behind: the new one may
    // replace it.
    let sshd =
        Sshd::start_with(SshdOptions { extra: vec!["StreamLocalBindUnlink yes".into()], ..SshdOptions::default() });
    let echo = echo_server();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("remote.sock");
    let mut fwd = sshd
        .sshfwd()
        .opt("Reconnect=yes")
        .opt("ReconnectMaxDelay=2")
        .forwards(&[("-R", format!("{}:127.0.0.1:{}", path.display(), echo.port()))])
        .spawn();
    let up = poll(READY, || unix_round_trip(&path, b"before").ok());
    assert!(up.is_some(), "the remote socket never carried data; stderr:\n{}", fwd.stderr());

    let killed = sshd.session_pids();
    assert!(!killed.is_empty(), "no sshd session to kill");
    for pid in killed {
        sshd::signal(pid, libc::SIGKILL);
    }
    assert!(fwd.wait_stderr("Reconnected to", READY), "no reconnection; stderr:\n{}", fwd.stderr());
    let back = poll(READY, || unix_round_trip(&path, b"after").ok());
    assert!(back.is_some(), "the remote socket forwarding did not come back; stderr:\n{}", fwd.stderr());
    assert!(fwd.stderr().contains("requested again"), "stderr:\n{}", fwd.stderr());
}
