//! A killed SSH connection: the FTP client hears 421/426 at once, sshfwd
//! stays up, and the next login reconnects.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::against_both_peers;
use crate::common::bridge::{Bridge, Peer, SftpPeer};
use crate::common::ftp_client::Ftp;
use crate::common::netns::{poll, sha256_file, write_test_file};

against_both_peers!(killed_ssh_mid_download, killed_ssh_mid_upload);

/// How soon the FTP client must hear of the loss.
const AT_ONCE: Duration = Duration::from_secs(10);

/// Reads `data` slowly (64 KiB per 5 ms, so that a transfer is still
/// running when SSH dies) until EOF or an error, counting bytes.
fn slow_reader(mut data: TcpStream, count: Arc<AtomicU64>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = data.read(&mut buf) {
            if n == 0 {
                break;
            }
            count.fetch_add(n as u64, Ordering::SeqCst);
            thread::sleep(Duration::from_millis(5));
        }
    })
}

/// Writes to `data` slowly until an error (the bridge closed it) or 1 GiB.
fn slow_writer(mut data: TcpStream, count: Arc<AtomicU64>) -> thread::JoinHandle<()> {
    // A bridge that stops reading must not hang the test: a bounded write.
    let _ = data.set_write_timeout(Some(Duration::from_secs(20)));
    thread::spawn(move || {
        let buf = vec![7u8; 64 * 1024];
        for _ in 0..16_384 {
            if data.write_all(&buf).is_err() {
                break;
            }
            count.fetch_add(buf.len() as u64, Ordering::SeqCst);
            thread::sleep(Duration::from_millis(5));
        }
    })
}

/// Kills the peer's sessions once `count` passed 1 MiB; then expects a 421
/// or 426 on `ftp` within [`AT_ONCE`], the data thread to end, sshfwd to
/// live on, and a new login (once the peer serves again) to work.
fn kill_and_recover(
    peer: &mut SftpPeer,
    bridge: &mut Bridge,
    mut ftp: Ftp,
    count: &AtomicU64,
    data: thread::JoinHandle<()>,
) {
    let moving = poll(Duration::from_secs(20), || (count.load(Ordering::SeqCst) > 1 << 20).then_some(()));
    assert!(moving.is_some(), "the transfer did not start\n{}", bridge.stderr());
    assert!(peer.kill_sessions() > 0, "no SSH session process to kill");
    let killed = Instant::now();
    ftp.stream.set_read_timeout(Some(AT_ONCE)).expect("timeout");
    let mut replies = Vec::new();
    let heard = loop {
        match ftp.reply() {
            Ok((code, text)) => {
                replies.push(text);
                if code == 421 || code == 426 {
                    break Some(killed.elapsed());
                }
            }
            Err(e) => {
                replies.push(format!("<{e}>"));
                break None;
            }
        }
    };
    let heard = heard.unwrap_or_else(|| panic!("no 421/426 after the SSH kill: {replies:?}\n{}", bridge.stderr()));
    assert!(heard < AT_ONCE, "421/426 took {heard:?}");
    eprintln!("{:?}: {replies:?} {heard:?} after the kill", peer.kind);
    let ended = poll(AT_ONCE, || data.is_finished().then_some(()));
    assert!(ended.is_some(), "the data connection still runs after the SSH kill\n{}", bridge.stderr());
    assert!(bridge.running.try_status().is_none(), "sshfwd exited:\n{}", bridge.stderr());

    peer.restore();
    write_test_file(&peer.path("after.bin"), "after", 100_000);
    let mut ftp = Ftp::login(bridge);
    ftp.expect("TYPE I", 200);
    let mut data = ftp.pasv();
    let (code, text) = ftp.cmd("RETR after.bin").expect("RETR");
    assert!(code == 150 || code == 125, "{text}");
    let mut got = Vec::new();
    data.read_to_end(&mut got).expect("read after.bin");
    drop(data);
    ftp.reply().map(|(c, t)| assert_eq!(c, 226, "{t}")).expect("226");
    assert_eq!(crate::common::netns::sha256_bytes(&got), sha256_file(&peer.path("after.bin")));
    ftp.expect("QUIT", 221);
}

fn killed_ssh_mid_download(kind: Peer) {
    let mut peer = SftpPeer::start(kind);
    write_test_file(&peer.path("big.bin"), "big", 64 << 20);
    let mut bridge = Bridge::start(&peer);
    let mut ftp = Ftp::login(&bridge);
    ftp.expect("TYPE I", 200);
    let data = ftp.pasv();
    let (code, text) = ftp.cmd("RETR big.bin").expect("RETR");
    assert!(code == 150 || code == 125, "{text}");
    let count = Arc::new(AtomicU64::new(0));
    let reader = slow_reader(data, count.clone());
    kill_and_recover(&mut peer, &mut bridge, ftp, &count, reader);
}

fn killed_ssh_mid_upload(kind: Peer) {
    let mut peer = SftpPeer::start(kind);
    let mut bridge = Bridge::start(&peer);
    let mut ftp = Ftp::login(&bridge);
    ftp.expect("TYPE I", 200);
    let data = ftp.pasv();
    let (code, text) = ftp.cmd("STOR up.bin").expect("STOR");
    assert!(code == 150 || code == 125, "{text}");
    let count = Arc::new(AtomicU64::new(0));
    let writer = slow_writer(data, count.clone());
    kill_and_recover(&mut peer, &mut bridge, ftp, &count, writer);
}

/// Session mode's reconnection checks the host key again: after the SSH
/// connection is lost, a server with another key gets no FTP session.
#[test]
fn reconnect_checks_the_host_key_again() {
    let mut peer = SftpPeer::start(Peer::SshfwdServer);
    let mut bridge = Bridge::start(&peer);
    Ftp::login(&bridge).expect("QUIT", 221);
    assert!(peer.kill_sessions() > 0);
    peer.restore_with_new_host_key();
    let refused = Ftp::login_as(bridge.addr, &bridge.user, &bridge.password).err().map(|e| e.to_string());
    let refused =
        refused.unwrap_or_else(|| panic!("logged in to a server with a changed host key\n{}", bridge.stderr()));
    assert!(refused.contains("421"), "not a 421: {refused}");
    let warned = poll(Duration::from_secs(10), || bridge.stderr().to_lowercase().contains("host key").then_some(()));
    assert!(warned.is_some(), "no word of the host key:\n{}", bridge.stderr());
    assert!(bridge.running.try_status().is_none(), "sshfwd exited:\n{}", bridge.stderr());
    eprintln!("changed host key on reconnect: {}", refused.trim());
}
