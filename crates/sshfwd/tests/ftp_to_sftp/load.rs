//! Load: 20 concurrent sessions, and a login flood against the cap on
//! bridged sessions.

use std::io;
use std::time::{Duration, Instant};

use super::{against_both_peers, python_ok};
use crate::common::bridge::{Bridge, Login, Peer, PeerOptions, SftpPeer};
use crate::common::ftp_client::Ftp;
use crate::common::netns::poll;

against_both_peers!(login_flood_is_refused_clearly_and_the_bridge_stays_up);

/// Session mode against an sshd with its default MaxSessions (10): the
/// bridge spreads 20 SFTP channels over a pool of connections.
#[test]
fn openssh_twenty_concurrent_sessions() {
    let peer = SftpPeer::start_with(Peer::OpenSsh, PeerOptions { max_sessions: Some(10), ..Default::default() });
    let bridge = Bridge::start(&peer);
    twenty_concurrent_sessions(&peer, &bridge);
}

/// sshfwd-server refuses session channels past 16 at once on a connection
/// (ResourceShortage), as sshd does past MaxSessions.
#[test]
fn sshfwd_server_twenty_concurrent_sessions() {
    let peer = SftpPeer::start(Peer::SshfwdServer);
    let bridge = Bridge::start(&peer);
    twenty_concurrent_sessions(&peer, &bridge);
}

/// Passthrough: 20 SSH connections, one per FTP session.
#[test]
fn sshfwd_server_twenty_concurrent_passthrough_sessions() {
    let options = PeerOptions { passwords: vec![("carol".into(), "carol pw".into())], ..Default::default() };
    let peer = SftpPeer::start_with(Peer::SshfwdServer, options);
    let mut bridge = Bridge::start_with(&peer, Login::Passthrough, &[]);
    bridge.user = "carol".into();
    bridge.password = "carol pw".into();
    twenty_concurrent_sessions(&peer, &bridge);
}

/// An sshd with MaxSessions 10: 25 sessions held at once need three SSH
/// connections, all of them serve; once the sessions leave, the extra
/// connections are closed and the first stays.
#[test]
fn openssh_max_sessions_makes_the_pool_grow_and_shrink() {
    let peer = SftpPeer::start_with(Peer::OpenSsh, PeerOptions { max_sessions: Some(10), ..Default::default() });
    let bridge = Bridge::start(&peer);
    let mut held: Vec<Ftp> = (0..25).map(|_| Ftp::login(&bridge)).collect();
    for ftp in &mut held {
        ftp.expect("NOOP", 200);
        ftp.expect("SIZE missing", 550);
    }
    assert_eq!(ssh_connections(peer.port), 3, "25 sessions on MaxSessions 10\n{}", bridge.stderr());
    for mut ftp in held.drain(..) {
        ftp.expect("QUIT", 221);
    }
    let shrunk = poll(Duration::from_secs(10), || (ssh_connections(peer.port) == 1).then_some(()));
    assert!(
        shrunk.is_some(),
        "{} connections after every session left\n{}",
        ssh_connections(peer.port),
        bridge.stderr()
    );
    let mut again = Ftp::login(&bridge);
    again.expect("NOOP", 200);
}

/// Established TCP connections to the SSH server's port (sshfwd's side).
fn ssh_connections(port: u16) -> usize {
    let output = std::process::Command::new("ss")
        .args(["-Htn", "state", "established", &format!("( dport = :{port} )")])
        .output()
        .expect("run ss (iproute2)");
    String::from_utf8_lossy(&output.stdout).lines().filter(|line| !line.trim().is_empty()).count()
}

/// 20 sessions, all logged in at once (a barrier), each uploading its own
/// 1 MiB file and downloading it and a shared one: all sha256-correct.
fn twenty_concurrent_sessions(peer: &SftpPeer, bridge: &Bridge) {
    let kind = peer.kind;
    let started = Instant::now();
    python_ok(
        peer,
        bridge,
        "20 sessions",
        r#"
import io, threading
shared = data(1 << 20)
with open(os.path.join(FILES, "shared.bin"), "wb") as fh:
    fh.write(shared)
N = 20
barrier = threading.Barrier(N, timeout=60)
errors = []
def session(i):
    try:
        f = login("epsv" if i % 2 else "pasv")
        barrier.wait()
        mine = data(1 << 20)
        f.storbinary(f"STOR c{i}.bin", io.BytesIO(mine), blocksize=1 << 16)
        assert get(f, f"c{i}.bin") == mine, i
        assert sha_file(os.path.join(FILES, f"c{i}.bin")) == sha(mine), i
        assert get(f, "shared.bin") == shared, i
        f.quit()
    except BaseException as e:
        errors.append(f"session {i}: {e!r}")
        # The others must not wait for this one at the barrier.
        barrier.abort()
threads = [threading.Thread(target=session, args=(i,)) for i in range(N)]
for t in threads:
    t.start()
for t in threads:
    t.join(120)
assert not any(t.is_alive() for t in threads), "a session hangs"
assert not errors, errors
"#,
    );
    eprintln!("{kind:?}: 20 concurrent sessions in {:?}", started.elapsed());
}

/// The greeting of a fresh connection: 220, or 421 naming the limit.
fn greeting(ftp: &mut Ftp) -> io::Result<(u16, String)> {
    ftp.stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    ftp.reply()
}

/// 300 connections at once against a bridge capped at 256 sessions
/// (`MaxForwardedConnections`; the default is sized to the open-file limit,
/// thousands here): every one gets a clear answer, 220 up to the cap and
/// `421 … (limit 256; …)` beyond it; afterwards a legitimate login works.
fn login_flood_is_refused_clearly_and_the_bridge_stays_up(kind: Peer) {
    let peer = SftpPeer::start(kind);
    let cap = ["-o", "MaxForwardedConnections=256"];
    let mut bridge = Bridge::start_with(&peer, Login::Session(Some("bridge pass 1".into())), &cap);
    let mut held = Vec::new();
    let mut accepted = 0usize;
    let mut refusals = Vec::new();
    let mut step = 300;
    while refusals.is_empty() && held.len() < 3000 {
        let mut batch = Vec::new();
        for _ in 0..step {
            batch.push(Ftp::connect(bridge.addr).unwrap_or_else(|e| panic!("connect #{}: {e}", held.len())));
        }
        for mut ftp in batch {
            match greeting(&mut ftp) {
                Ok((220, _)) => accepted += 1,
                Ok((421, text)) => refusals.push(text),
                Ok((code, text)) => panic!("connection #{} got {code}: {text}", held.len()),
                Err(e) => panic!("connection #{} got no answer: {e}\n{}", held.len(), bridge.stderr()),
            }
            held.push(ftp);
        }
        step = 500;
    }
    assert!(!refusals.is_empty(), "{} connections, none refused: is there a cap?", held.len());
    for text in &refusals {
        assert!(text.contains("limit"), "a refusal that does not name the limit: {text}");
    }
    let limit: Option<usize> = refusals[0]
        .split("limit")
        .nth(1)
        .and_then(|rest| rest.trim_start().split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok());
    eprintln!("{kind:?}: {accepted} accepted, {} refused: {}", refusals.len(), refusals[0].trim());
    assert_eq!(limit, Some(256), "the limit named: {}", refusals[0]);
    assert_eq!(accepted, 256, "sessions accepted");
    drop(held);
    assert!(bridge.running.try_status().is_none(), "sshfwd exited:\n{}", bridge.stderr());
    // The sessions end as their connections close: a login may wait for that.
    let ok = poll(Duration::from_secs(20), || {
        let mut ftp = Ftp::login_as(bridge.addr, &bridge.user, &bridge.password).ok()?;
        ftp.cmd("NOOP").ok().filter(|(c, _)| *c == 200)
    });
    assert!(ok.is_some(), "no legitimate login after the flood\n{}", bridge.stderr());
}
