//! Login modes. Passthrough: each FTP login is an SSH password login to
//! sshfwd-server (password auth from its password file; no system user is
//! touched). Session: the random password printed once.

use std::thread;
use std::time::Duration;

use super::python_ok;
use crate::common::bridge::{Bridge, Login, Peer, PeerOptions, SftpPeer};
use crate::common::ftp_client::Ftp;
use crate::common::netns::poll;
use crate::common::sshd::TestUser;

fn users() -> PeerOptions {
    PeerOptions {
        passwords: vec![("alice".into(), "alice pw 1".into()), ("bob".into(), "bob:pw 2".into())],
        ..Default::default()
    }
}

/// The reply to `PASS` for `user`/`password` on a fresh connection.
fn pass_reply(bridge: &Bridge, user: &str, password: &str) -> (u16, String) {
    let mut ftp = Ftp::connect(bridge.addr).expect("connect");
    let (code, text) = ftp.reply().expect("greeting");
    assert_eq!(code, 220, "{text}");
    ftp.expect(&format!("USER {user}"), 331);
    ftp.cmd(&format!("PASS {password}")).unwrap_or_else(|e| panic!("PASS for {user}: {e}\n{}", bridge.stderr()))
}

#[test]
fn passthrough_right_password_works_wrong_one_gets_530_and_locks_out_no_one() {
    let peer = SftpPeer::start_with(Peer::SshfwdServer, users());
    std::fs::write(peer.path("hello.txt"), b"hello").expect("write");
    // Every FTP client here is 127.0.0.1: exempt from the bridge's own
    // per-source penalty for failed logins (tests/gateway.rs tests that),
    // so that this test sees the SSH side's answers alone.
    let bridge = Bridge::start_with(&peer, Login::Passthrough, &["-o", "PerSourcePenaltyExemptList=127.0.0.1"]);

    // alice works, and keeps her session while the others try.
    let mut alice = Ftp::login_as(bridge.addr, "alice", "alice pw 1")
        .unwrap_or_else(|e| panic!("alice: {e}\n{}\n{}", bridge.stderr(), peer.log()));
    alice.expect("TYPE I", 200);
    alice.expect("SIZE hello.txt", 213);

    // Wrong passwords for bob and for alice, in parallel with bob's right one.
    let addr = bridge.addr;
    let wrong: Vec<_> = [("bob", "bob:pw 3"), ("alice", "nope"), ("bob", "")]
        .into_iter()
        .map(|(u, p)| {
            thread::spawn(move || {
                let mut ftp = Ftp::connect(addr).expect("connect");
                ftp.reply().expect("greeting");
                ftp.expect(&format!("USER {u}"), 331);
                ftp.cmd(&format!("PASS {p}")).map(|(c, t)| (u, c, t))
            })
        })
        .collect();
    let mut bob = Ftp::login_as(bridge.addr, "bob", "bob:pw 2").unwrap_or_else(|e| panic!("bob: {e}"));
    for t in wrong {
        let (user, code, text) = t.join().expect("thread").expect("PASS reply");
        assert_eq!(code, 530, "{user} with a wrong password: {text}");
    }
    bob.expect("NOOP", 200);
    alice.expect("NOOP", 200);
    // A wrong password locks no one out: alice again, on a new connection.
    let (code, text) = pass_reply(&bridge, "alice", "alice pw 1");
    assert_eq!(code, 230, "{text}");
    // The 530s came after the SSH server answered.
    let failed = poll(Duration::from_secs(10), || peer.log().contains("Failed password for bob").then_some(()));
    assert!(failed.is_some(), "sshfwd-server never saw bob's wrong password:\n{}", peer.log());

    // Each user works on the files as themself: a real transfer.
    let alice_bridge = Bridge { running: bridge.running, addr, user: "alice".into(), password: "alice pw 1".into() };
    python_ok(
        &peer,
        &alice_bridge,
        "alice's transfers",
        r#"
import io
f = login()
assert get(f, "hello.txt") == b"hello"
f.storbinary("STOR from-alice.txt", io.BytesIO(b"hi"))
assert open(os.path.join(FILES, "from-alice.txt"), "rb").read() == b"hi"
f.quit()
"#,
    );
}

#[test]
fn passthrough_user_the_server_refuses_gets_530() {
    let peer = SftpPeer::start_with(Peer::SshfwdServer, users());
    let bridge = Bridge::start_with(&peer, Login::Passthrough, &[]);
    for (user, password) in [("mallory", "alice pw 1"), ("root", "root"), ("alice", "bob:pw 2")] {
        let (code, text) = pass_reply(&bridge, user, password);
        assert_eq!(code, 530, "{user}: {text}\n{}", bridge.stderr());
    }
    let (code, text) = pass_reply(&bridge, "alice", "alice pw 1");
    assert_eq!(code, 230, "{text}\n{}", bridge.stderr());
}

/// Without FtpToSftpPasswordFile, sshfwd prints a random password once;
/// it, with the SSH user, is the only way in.
#[test]
fn session_mode_random_password_printed_once() {
    let peer = SftpPeer::start(Peer::OpenSsh);
    let bridge = Bridge::start_with(&peer, Login::Session(None), &[]);
    let stderr = bridge.stderr();
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("FTP-to-SFTP bridge password:")).collect();
    assert_eq!(lines.len(), 1, "the password line, once:\n{stderr}");
    assert!(lines[0].starts_with("sshfwd: FTP-to-SFTP bridge password: "), "{stderr}");
    // The brief had it as "sshfwd: …", the line before the password's; sshfwd
    // logs it (info) after the password, without the prefix: either passes.
    let listening = format!("FTP-to-SFTP bridge listening on {} for FTP user {}", bridge.addr, peer.user);
    assert!(stderr.lines().any(|l| l.ends_with(&listening)), "no line {listening:?}:\n{stderr}");
    assert!(bridge.password.len() >= 12, "a short random password: {:?}", bridge.password);
    let (code, text) = pass_reply(&bridge, &bridge.user, &format!("{}x", bridge.password));
    assert_eq!(code, 530, "{text}");
    let (code, text) = pass_reply(&bridge, "someone-else", &bridge.password);
    assert_eq!(code, 530, "{text}");
    let (code, text) = pass_reply(&bridge, &bridge.user, &bridge.password);
    assert_eq!(code, 230, "{text}");
    let again = bridge.stderr();
    assert_eq!(again.matches(bridge.password.as_str()).count(), 1, "the password was printed again:\n{again}");
}

/// Passthrough to OpenSSH's sshd: an FTP login is a password login of a
/// system user; a wrong password gets 530 once sshd has refused it, and an
/// unknown user 530 too, while the right login keeps working.
#[test]
#[cfg_attr(not(tests_as_root), ignore = "needs root: useradd, and sshd logging in another user")]
fn passthrough_to_openssh_logs_in_system_users() {
    let password = "Br1dge-pw 9";
    let user = TestUser::create("sshfwdbr", password);
    let peer = SftpPeer::start_with(Peer::OpenSsh, PeerOptions { system_passwords: true, ..Default::default() });
    std::fs::write(peer.path("shared.txt"), b"for everyone").expect("write");
    let bridge = Bridge::start_with(&peer, Login::Passthrough, &[]);

    let mut ftp = Ftp::login_as(bridge.addr, &user.name, password)
        .unwrap_or_else(|e| panic!("{}: {e}\n{}\n{}", user.name, bridge.stderr(), peer.log()));
    ftp.expect("TYPE I", 200);
    ftp.expect("SIZE shared.txt", 213);
    let (code, text) = pass_reply(&bridge, &user.name, "not it");
    assert_eq!(code, 530, "wrong password: {text}");
    let failed = format!("Failed password for {}", user.name);
    let seen = poll(Duration::from_secs(10), || peer.log().contains(&failed).then_some(()));
    assert!(seen.is_some(), "sshd never refused the wrong password:\n{}", peer.log());
    let (code, text) = pass_reply(&bridge, "sshfwd-no-such-user", "x");
    assert_eq!(code, 530, "unknown user: {text}");
    ftp.expect("NOOP", 200);
    let (code, text) = pass_reply(&bridge, &user.name, password);
    assert_eq!(code, 230, "right password after wrong ones: {text}");
    drop(bridge);
    drop(peer);
}
