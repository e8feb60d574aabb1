//! sshfwd's listeners as a gateway under hostile load (issue 13), through
//! the real binary on loopback: `-g -L ftp/` in front of pyftpdlib beside
//! OpenSSH's sshd, and `-g --ftp-to-sftp` in front of sshfwd-server. The
//! attackers and the legitimate user connect from their own loopback
//! addresses (127.0.0.2–127.0.0.9), so that each is a source of its own.
//!
//! - A flood from one source fills only that source's places
//!   (`PerSourceMaxConnections`, 421 naming the limit); another source
//!   logs in and transfers meanwhile.
//! - Control connections that never log in are closed with 421 at
//!   `FtpLoginTimeout`, which gives the flood's places back.
//! - Failed bridge logins wait 1 s for their 530, and enough of them get
//!   the source a 421 `penalised` at once, on new connections and on
//!   logins still to come on old ones; an exempt source never is.

use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::bridge::{Peer, SftpPeer};
use crate::common::netns::{poll, run_with_timeout};
use crate::common::sshd::{free_port, wait_for_port, Running, Sshd};
use crate::common::KillOnDrop;

/// How long a peer, a listener or a client run may take.
const WAIT: Duration = Duration::from_secs(30);
/// The flood's size: well past the cap, small enough to stay quick.
const FLOOD: usize = 200;
/// sshfwd's default `PerSourceMaxConnections`.
const DEFAULT_PER_SOURCE: usize = 64;
/// `FtpLoginTimeout` in these tests: longer than the legitimate user's
/// transfer takes, short enough to wait for.
const LOGIN_TIMEOUT_SECS: u64 = 8;

/// A raw FTP control connection from a chosen loopback source.
struct Control {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Control {
    /// Connects to `to` from `source` (127.0.0.x, port chosen by the system).
    fn connect(source: [u8; 4], to: SocketAddr) -> io::Result<Control> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let stream = runtime.block_on(async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::from((source, 0)))?;
            tokio::time::timeout(Duration::from_secs(10), socket.connect(to)).await.map_err(io::Error::other)?
        })?;
        let stream = stream.into_std()?;
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(WAIT))?;
        let reader = BufReader::new(stream.try_clone()?);
        Ok(Control { stream, reader })
    }

    /// One reply, multi-line replies whole: its code and text.
    fn reply(&mut self) -> io::Result<(u16, String)> {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("closed after {text:?}")));
            }
            text.push_str(&line);
            let code = line.get(..3).and_then(|c| c.parse::<u16>().ok());
            let first = text.get(..3).and_then(|c| c.parse::<u16>().ok());
            if let (Some(code), true) = (code, line.as_bytes().get(3) != Some(&b'-')) {
                if Some(code) == first {
                    return Ok((code, text));
                }
            }
        }
    }

    fn command(&mut self, line: &str) -> io::Result<(u16, String)> {
        self.stream.write_all(format!("{line}\r\n").as_bytes())?;
        self.reply()
    }

    /// Whether the peer closed the connection (EOF) before `within`.
    fn closed_within(&mut self, within: Duration) -> bool {
        let _ = self.stream.set_read_timeout(Some(within));
        let mut rest = String::new();
        matches!(self.reader.read_line(&mut rest), Ok(0))
    }
}

/// `FLOOD` connections from `source`, each with its greeting: the ones
/// greeted with 220, and the refusals' texts.
fn flood(source: [u8; 4], to: SocketAddr, log: impl Fn() -> String) -> (Vec<Control>, Vec<String>) {
    let (mut held, mut refusals) = (Vec::new(), Vec::new());
    let connections: Vec<Control> = (0..FLOOD)
        .map(|i| Control::connect(source, to).unwrap_or_else(|e| panic!("flood connection {i}: {e}\n{}", log())))
        .collect();
    for (i, mut control) in connections.into_iter().enumerate() {
        match control.reply() {
            Ok((220, _)) => held.push(control),
            Ok((421, text)) => refusals.push(text),
            other => panic!("flood connection {i}: {other:?}\n{}", log()),
        }
    }
    (held, refusals)
}

/// Checks that the flood filled its source's places and no more.
fn expect_capped(held: &[Control], refusals: &[String], limit: usize, log: impl Fn() -> String) {
    assert_eq!(held.len(), limit, "greeted: {}, refused: {}\n{}", held.len(), refusals.len(), log());
    assert_eq!(refusals.len(), FLOOD - limit);
    let expected = format!("421 sshfwd: too many connections from your address on this port (limit {limit})\r\n");
    assert!(refusals.iter().all(|r| *r == expected), "{:?}", refusals.first());
}

/// The flood's connections are closed with 421 at `FtpLoginTimeout`.
fn expect_login_timeouts(held: Vec<Control>, code_text: &str, log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(LOGIN_TIMEOUT_SECS) + WAIT;
    for (i, mut control) in held.into_iter().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        let _ = control.stream.set_read_timeout(Some(left));
        match control.reply() {
            Ok((421, text)) => assert!(text.contains(code_text), "connection {i}: {text}"),
            other => panic!("flood connection {i} at FtpLoginTimeout: {other:?}\n{}", log()),
        }
        assert!(control.closed_within(Duration::from_secs(5)), "connection {i} left open after its 421");
    }
}

/// Python's ftplib from `source`: log in, upload and download `size`
/// bytes in passive mode, check them.
const LEGITIMATE: &str = r#"
import ftplib, io, os, sys
source, host, port, user, password = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
size = int(sys.argv[6])
f = ftplib.FTP(timeout=20, source_address=(source, 0))
f.connect(host, port)
f.login(user, password)
data = os.urandom(size)
f.storbinary("STOR legit.bin", io.BytesIO(data))
got = io.BytesIO()
f.retrbinary("RETR legit.bin", got.write)
assert got.getvalue() == data, "the download differs from the upload"
f.quit()
print("LEGITIMATE OK")
"#;

fn legitimate_transfer(source: &str, to: SocketAddr, user: &str, password: &str, log: impl Fn() -> String) {
    let mut command = Command::new("python3");
    command.args(["-c", LEGITIMATE, source, &to.ip().to_string(), &to.port().to_string(), user, password, "1048576"]);
    let out = run_with_timeout(&mut command, WAIT);
    assert!(
        out.success() && out.stdout.contains("LEGITIMATE OK"),
        "legitimate transfer from {source}: {out:?}\n{}",
        log()
    );
}

/// pyftpdlib on 127.0.0.1:PORT serving DIR to alice, with room for the
/// flood (its default backlog is 100, max_cons 512).
const PYFTPDLIB: &str = r#"
import logging, sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
logging.disable(logging.CRITICAL)
authorizer = DummyAuthorizer()
authorizer.add_user("alice", "ftp secret 13", sys.argv[2], perm="elradfmw")
FTPHandler.authorizer = authorizer
server = FTPServer(("127.0.0.1", int(sys.argv[1])), FTPHandler, backlog=4096)
server.max_cons = 2048
server.serve_forever()
"#;

fn pyftpdlib(port: u16, dir: &Path) -> KillOnDrop {
    let child = Command::new("python3")
        .args(["-c", PYFTPDLIB, &port.to_string()])
        .arg(dir)
        .stdin(Stdio::null())
        .spawn()
        .expect("python3 with pyftpdlib");
    assert!(wait_for_port(([127, 0, 0, 1], port).into(), WAIT), "pyftpdlib did not listen");
    KillOnDrop(child)
}

/// The forwarder, `-g -L ftp/PORT:…`, with the default per-source cap: a
/// flood of 200 idle control connections from 127.0.0.2 gets 64 places
/// and 421s for the rest; 127.0.0.3 logs in and moves a file meanwhile; at
/// FtpLoginTimeout the flood's connections are closed with 421, and the
/// flooding source has places again.
#[test]
fn ftp_forward_holds_under_a_flood_from_one_source() {
    let sshd = Sshd::start();
    let files = tempfile::tempdir().unwrap();
    let ftp_port = free_port();
    let _ftp = pyftpdlib(ftp_port, files.path());
    let port = free_port();
    let mut running = sshd
        .sshfwd()
        .args(["-N", "-g", "-L"])
        .arg(format!("ftp/{port}:127.0.0.1:{ftp_port}"))
        .opt(format!("FtpLoginTimeout={LOGIN_TIMEOUT_SECS}"))
        .spawn();
    let to = SocketAddr::from(([127, 0, 0, 1], port));
    running.wait_port(to, WAIT);
    let log = || format!("sshfwd:\n{}", running.stderr());

    let started = Instant::now();
    let (held, refusals) = flood([127, 0, 0, 2], to, log);
    expect_capped(&held, &refusals, DEFAULT_PER_SOURCE, log);
    legitimate_transfer("127.0.0.3", to, "alice", "ftp secret 13", log);
    assert!(
        started.elapsed() < Duration::from_secs(LOGIN_TIMEOUT_SECS),
        "the legitimate transfer ended after the flood's login timeout: not a test of the flood"
    );
    assert_eq!(fs::metadata(files.path().join("legit.bin")).unwrap().len(), 1 << 20);

    expect_login_timeouts(held, "FtpLoginTimeout", log);
    let mut again = Control::connect([127, 0, 0, 2], to).unwrap();
    assert_eq!(again.reply().unwrap().0, 220, "the flooding source's places came back");
}

/// `sshfwd -g --ftp-to-sftp PORT` in front of sshfwd-server, with `extra`
/// options; the address to connect to and the session password.
fn gateway_bridge(peer: &SftpPeer, extra: &[&str]) -> (Running, SocketAddr, String) {
    let password = "bridge pass 13".to_owned();
    let file = peer.scratch("bridge").join("password");
    fs::write(&file, format!("{password}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
    let port = free_port();
    let mut b = peer.sshfwd().args(["-N", "-v", "-g", "--ftp-to-sftp"]).arg(port.to_string());
    b = b.opt(format!("FtpToSftpPasswordFile={}", file.display()));
    for option in extra {
        b = b.opt(*option);
    }
    let mut running = b.spawn();
    let to = SocketAddr::from(([127, 0, 0, 1], port));
    running.wait_port(to, WAIT);
    (running, to, password)
}

/// The bridge with `PerSourceMaxConnections 16`: the flood from 127.0.0.2
/// gets 16 sessions, 127.0.0.3 logs in and transfers meanwhile, and the
/// flood's sessions end with 421 at FtpLoginTimeout.
#[test]
fn bridge_holds_under_a_flood_from_one_source() {
    let peer = SftpPeer::start(Peer::SshfwdServer);
    let timeout = format!("FtpLoginTimeout={LOGIN_TIMEOUT_SECS}");
    let (running, to, password) = gateway_bridge(&peer, &["PerSourceMaxConnections=16", &timeout]);
    let log = || format!("sshfwd:\n{}\npeer:\n{}", running.stderr(), peer.log());

    let started = Instant::now();
    let (held, refusals) = flood([127, 0, 0, 2], to, log);
    expect_capped(&held, &refusals, 16, log);
    legitimate_transfer("127.0.0.3", to, &peer.user, &password, log);
    assert!(started.elapsed() < Duration::from_secs(LOGIN_TIMEOUT_SECS), "not a test of the flood");
    assert_eq!(fs::metadata(peer.path("legit.bin")).unwrap().len(), 1 << 20);
    expect_login_timeouts(held, "Login timeout", log);
}

/// One wrong password on a new connection from `source`: the 530 comes
/// after the bridge's delay; `Err` with the greeting when refused at once.
fn wrong_password(source: [u8; 4], to: SocketAddr, user: &str) -> Result<Duration, String> {
    let mut control = Control::connect(source, to).unwrap();
    match control.reply().unwrap() {
        (220, _) => {}
        (_, text) => return Err(text),
    }
    assert_eq!(control.command(&format!("USER {user}")).unwrap().0, 331);
    let sent = Instant::now();
    let (code, text) = control.command("PASS not the password").unwrap();
    assert_eq!(code, 530, "{text}");
    Ok(sent.elapsed())
}

/// Failed bridge logins from 127.0.0.4: each 530 waits 1 s; after a few
/// the source is penalised: a new connection is greeted with 421
/// `penalised`, and so is a login on a connection opened before. Another
/// source logs in meanwhile; an exempt source is never penalised.
#[test]
fn failed_bridge_logins_are_delayed_and_penalised() {
    let peer = SftpPeer::start(Peer::SshfwdServer);
    let (running, to, password) = gateway_bridge(&peer, &["PerSourcePenaltyExemptList=127.0.0.6/32"]);
    let log = || format!("sshfwd:\n{}", running.stderr());
    let guesser = [127, 0, 0, 4];
    let mut early = Control::connect(guesser, to).unwrap();
    assert_eq!(early.reply().unwrap().0, 220);

    let mut failures = 0;
    let refusal = loop {
        match wrong_password(guesser, to, &peer.user) {
            Ok(delay) => {
                assert!(delay >= Duration::from_millis(900), "a 530 after {delay:?}, without the delay");
                failures += 1;
                assert!(failures <= 6, "{failures} failed logins and no penalty\n{}", log());
            }
            Err(greeting) => break greeting,
        }
    };
    // 5 s a failure, refused from 15 s pending: the fourth or fifth.
    assert!((3..=5).contains(&failures), "penalised after {failures} failures");
    assert!(refusal.starts_with("421 ") && refusal.contains("penalised"), "{refusal}");
    // The connection opened before the penalty cannot keep guessing.
    assert_eq!(early.command(&format!("USER {}", peer.user)).unwrap().0, 331);
    let (code, text) = early.command(&format!("PASS {password}")).unwrap();
    assert!(code == 421 && text.contains("penalised"), "{code} {text}");

    let mut other = Control::connect([127, 0, 0, 5], to).unwrap();
    assert_eq!(other.reply().unwrap().0, 220);
    assert_eq!(other.command(&format!("USER {}", peer.user)).unwrap().0, 331);
    assert_eq!(other.command(&format!("PASS {password}")).unwrap().0, 230, "{}", log());

    for _ in 0..failures + 2 {
        wrong_password([127, 0, 0, 6], to, &peer.user).unwrap_or_else(|g| panic!("exempt source refused: {g}"));
    }
    let found = poll(Duration::from_secs(5), || running.stderr().contains("penalised").then_some(()));
    assert!(found.is_some(), "the penalty is not in the log\n{}", log());
}
