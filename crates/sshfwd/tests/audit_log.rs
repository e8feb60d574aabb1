//! The FTP audit log (`-o FtpAuditLog=FILE`) through the real binary: the
//! FTP→SFTP bridge in front of OpenSSH's sshd, and `-L ftp/` to pyftpdlib
//! beside sshd, both driven by Python's ftplib.
//! Records are checked against the files moved; SIGHUP after a rename (what
//! logrotate does) makes a new file.

use std::fs;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::common::bridge::{Bridge, Login, Peer, SftpPeer};
use crate::common::ftp_client::{assert_ok, python, STEP};
use crate::common::netns::poll;
use crate::common::sshd::{free_port, wait_for_port, Sshd};
use crate::common::KillOnDrop;

/// How long a record may take to appear after the client is done.
const SOON: Duration = Duration::from_secs(20);

fn records(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))).collect()
}

fn of(records: &[Value], event: &str) -> Vec<Value> {
    records.iter().filter(|r| r["event"] == event).cloned().collect()
}

/// Waits until `path` holds `ends` session end records.
fn wait_for_ends(path: &Path, ends: usize) -> Vec<Value> {
    poll(SOON, || {
        let all = records(path);
        (of(&all, "end").len() >= ends).then_some(all)
    })
    .unwrap_or_else(|| {
        panic!("{ends} end records in {}:\n{}", path.display(), fs::read_to_string(path).unwrap_or_default())
    })
}

#[test]
fn bridge_transfers_are_recorded_and_sighup_reopens_the_file() {
    let peer = SftpPeer::start(Peer::OpenSsh);
    let log = peer.scratch("audit").join("ftp-audit.log");
    let option = format!("FtpAuditLog={}", log.display());
    let mut bridge = Bridge::start_with(&peer, Login::Session(Some("bridge pass 1".into())), &["-o", &option]);
    let size = 3 * 1024 * 1024 + 5;
    fs::write(peer.path("big.bin"), vec![0x5a; size]).unwrap();

    let out = python(
        &bridge,
        &peer.files,
        r#"
import io
try:
    login(password="not the password")
    raise SystemExit("a wrong password was accepted")
except ftplib.error_perm:
    pass
f = login(mode="epsv")
got = io.BytesIO()
f.retrbinary("RETR big.bin", got.write)
assert len(got.getvalue()) == 3 * 1024 * 1024 + 5
f.mode = "eprt"
f.set_pasv(False)
f.storbinary("STOR up.bin", io.BytesIO(b"u" * 70000))
try:
    f.retrbinary("RETR missing.bin", got.write)
    raise SystemExit("a missing file was sent")
except ftplib.error_perm as e:
    assert str(e).startswith("550"), e
f.quit()
"#,
        STEP,
    );
    assert_ok(&out, "ftplib", &bridge);

    // Three sessions: the harness's probe of the port, the refused login
    // and the one that quit.
    let all = wait_for_ends(&log, 3);
    let text = fs::read_to_string(&log).unwrap();
    assert!(!text.contains(&bridge.password) && !text.contains("not the password"), "{text}");
    let logins: Vec<_> = of(&all, "login").iter().map(|r| r["result"].as_str().unwrap().to_owned()).collect();
    assert_eq!(logins, ["refused", "accepted"], "{text}");
    let transfers = of(&all, "transfer");
    assert_eq!(transfers.len(), 3, "{text}");
    let (retr, stor, missing) = (&transfers[0], &transfers[1], &transfers[2]);
    assert_eq!((&retr["command"], &retr["mode"], &retr["code"]), (&"RETR".into(), &"EPSV".into(), &226.into()));
    assert_eq!(retr["bytes_to_client"], size, "{retr}");
    assert_eq!((&stor["mode"], &stor["bytes_to_server"], &stor["code"]), (&"EPRT".into(), &70000.into(), &226.into()));
    assert_eq!(fs::metadata(peer.path("up.bin")).unwrap().len(), 70000);
    assert_eq!((&missing["argument"], &missing["code"]), (&"missing.bin".into(), &550.into()));
    assert!(transfers.iter().all(|r| r["user"] == bridge.user.as_str() && r["service"] == "ftp-bridge"));
    // The refused session's client just went away.
    let mut ends: Vec<_> = of(&all, "end")
        .iter()
        .filter(|r| r["user"] == bridge.user.as_str())
        .map(|r| r["reason"].as_str().unwrap().to_owned())
        .collect();
    ends.sort();
    assert_eq!(ends, ["client_closed", "quit"], "{text}");

    // logrotate: rename, then SIGHUP; the next records go to a new file.
    let rotated = log.with_extension("log.1");
    fs::rename(&log, &rotated).unwrap();
    crate::common::sshd::signal(bridge.running.pid(), libc::SIGHUP);
    poll(SOON, || log.exists().then_some(())).unwrap_or_else(|| panic!("no new file; stderr:\n{}", bridge.stderr()));
    let out = python(&bridge, &peer.files, "f = login()\nf.nlst()\nf.quit()", STEP);
    assert_ok(&out, "ftplib after SIGHUP", &bridge);
    let new = wait_for_ends(&log, 1);
    assert_eq!(of(&new, "transfer")[0]["command"], "NLST");
    assert_eq!(records(&rotated).len(), all.len(), "the old file got nothing more");
    assert!(bridge.running.try_status().is_none(), "sshfwd ended on SIGHUP");
}

/// pyftpdlib on 127.0.0.1:PORT serving DIR to user alice.
const PYFTPDLIB: &str = r#"
import logging, sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
logging.disable(logging.CRITICAL)
authorizer = DummyAuthorizer()
authorizer.add_user("alice", "ftp secret 9", sys.argv[2], perm="elradfmw")
FTPHandler.authorizer = authorizer
FTPServer(("127.0.0.1", int(sys.argv[1])), FTPHandler).serve_forever()
"#;

/// The client side of the forwarder test: a passive download, an active
/// upload, a missing file.
const FORWARD_CLIENT: &str = r#"
import ftplib, io, sys
f = ftplib.FTP(timeout=30)
f.connect("127.0.0.1", int(sys.argv[1]))
f.login("alice", "ftp secret 9")
got = io.BytesIO()
f.retrbinary("RETR big.bin", got.write)
assert len(got.getvalue()) == int(sys.argv[2])
f.set_pasv(False)
f.storbinary("STOR up.bin", io.BytesIO(b"u" * 70000))
f.set_pasv(True)
try:
    f.retrbinary("RETR missing.bin", got.write)
    raise SystemExit("a missing file was sent")
except ftplib.error_perm as e:
    assert str(e).startswith("550"), e
f.quit()
"#;

#[test]
fn ftp_forward_transfers_are_recorded() {
    let sshd = Sshd::start();
    let files = tempfile::tempdir().unwrap();
    let size = 2 * 1024 * 1024 + 11;
    fs::write(files.path().join("big.bin"), vec![0xa5; size]).unwrap();
    let ftp_port = free_port();
    let _ftp = KillOnDrop(
        std::process::Command::new("python3")
            .args(["-c", PYFTPDLIB, &ftp_port.to_string()])
            .arg(files.path())
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("python3 with pyftpdlib"),
    );
    assert!(wait_for_port(([127, 0, 0, 1], ftp_port).into(), SOON), "pyftpdlib did not listen");
    let log = files.path().with_extension("audit.log");
    let forward_port = free_port();
    let mut running = sshd
        .sshfwd()
        .args(["-N", "-v", "-L"])
        .arg(format!("ftp/127.0.0.1:{forward_port}:127.0.0.1:{ftp_port}"))
        .opt(format!("FtpAuditLog={}", log.display()))
        .spawn();
    running.wait_port(([127, 0, 0, 1], forward_port).into(), SOON);

    let client = std::process::Command::new("python3")
        .args(["-c", FORWARD_CLIENT, &forward_port.to_string(), &size.to_string()])
        .output()
        .unwrap();
    assert!(
        client.status.success(),
        "ftplib: {}\nsshfwd:\n{}",
        String::from_utf8_lossy(&client.stderr),
        running.stderr()
    );

    // Two sessions: the harness's probe of the port, and the client's.
    let all = wait_for_ends(&log, 2);
    let text = fs::read_to_string(&log).unwrap();
    assert!(!text.contains("ftp secret 9"), "{text}");
    let login = &of(&all, "login")[0];
    assert_eq!(
        (&login["user"], &login["result"], &login["service"]),
        (&"alice".into(), &"accepted".into(), &"ftp-forward".into())
    );
    let transfers = of(&all, "transfer");
    assert_eq!(transfers.len(), 3, "{text}");
    let (retr, stor, missing) = (&transfers[0], &transfers[1], &transfers[2]);
    assert_eq!(
        (&retr["mode"], &retr["code"], &retr["bytes_to_client"]),
        (&"PASV".into(), &226.into(), &size.into()),
        "{text}"
    );
    assert_eq!(retr["data_server"].as_str().unwrap().split(':').next(), Some("127.0.0.1"));
    assert_eq!(
        (&stor["mode"], &stor["code"], &stor["bytes_to_server"]),
        (&"PORT".into(), &226.into(), &70000.into()),
        "{text}"
    );
    assert_eq!(fs::metadata(files.path().join("up.bin")).unwrap().len(), 70000);
    assert_eq!(
        (&missing["argument"], &missing["code"], &missing["bytes_to_client"]),
        (&"missing.bin".into(), &550.into(), &0.into())
    );
    let end = of(&all, "end").into_iter().find(|r| r["user"] == "alice").expect("the client's end record");
    assert_eq!(end["reason"], "quit");
}
