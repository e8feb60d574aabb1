//! Plain proof that no FTP server takes part: while a transfer's files
//! are served, the only FTP listener is sshfwd's own, the SSH server's
//! processes listen on the SSH port alone, sshfwd talks to nothing but the
//! SSH port, and no process of either side is an FTP server.

use std::collections::BTreeSet;
use std::fs;

use super::{against_both_peers, python_ok};
use crate::common::bridge::{Bridge, Peer, SftpPeer};
use crate::common::sshd::descendants;

against_both_peers!(no_ftp_server_anywhere);

/// One line of /proc/net/tcp{,6}.
struct Socket {
    local_port: u16,
    remote_port: u16,
    listening: bool,
    inode: u64,
}

fn sockets() -> Vec<Socket> {
    let mut out = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let port = |field: &str| field.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
            let (Some(l), Some(r), Some(st), Some(inode)) = (f.get(1), f.get(2), f.get(3), f.get(9)) else { continue };
            let (Some(local_port), Some(remote_port), Ok(inode)) = (port(l), port(r), inode.parse()) else { continue };
            out.push(Socket { local_port, remote_port, listening: *st == "0A", inode });
        }
    }
    out
}

/// The socket inodes `pid` holds open.
fn socket_inodes(pid: u32) -> BTreeSet<u64> {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else { return BTreeSet::new() };
    fds.flatten()
        .filter_map(|fd| fs::read_link(fd.path()).ok())
        .filter_map(|l| l.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok())
        .collect()
}

/// Ports `pids` listen on, and remote ports they are connected to.
fn ports(pids: &[u32]) -> (BTreeSet<u16>, BTreeSet<u16>) {
    let inodes: BTreeSet<u64> = pids.iter().flat_map(|p| socket_inodes(*p)).collect();
    let mine: Vec<Socket> = sockets().into_iter().filter(|s| inodes.contains(&s.inode)).collect();
    let listening = mine.iter().filter(|s| s.listening).map(|s| s.local_port).collect();
    let remote = mine.iter().filter(|s| !s.listening).map(|s| s.remote_port).collect();
    (listening, remote)
}

fn no_ftp_server_anywhere(kind: Peer) {
    let peer = SftpPeer::start(kind);
    std::fs::write(peer.path("proof.txt"), b"served over SFTP").expect("write");
    let bridge = Bridge::start(&peer);
    let (peer_pids, bridge_pid) = (peer.pids(), bridge.running.pid());
    // A transfer first: the SSH connection it used stays up (session mode).
    let out = python_ok(
        &peer,
        &bridge,
        "proof",
        r#"
f = login()
assert get(f, "proof.txt") == b"served over SFTP"
f.voidcmd("NOOP")
f.quit()
"#,
    );
    assert!(out.contains("PYTHON OK"));
    let (listening, remote) = ports(&[bridge_pid]);
    assert_eq!(listening, BTreeSet::from([bridge.addr.port()]), "sshfwd listens on {listening:?}");
    assert!(remote.iter().all(|p| *p == peer.port), "sshfwd talks to ports {remote:?}, not only SSH {}", peer.port);
    assert!(remote.contains(&peer.port), "sshfwd holds no connection to the SSH port {}", peer.port);
    let (listening, _) = ports(&peer_pids);
    assert_eq!(listening, BTreeSet::from([peer.port]), "the SSH server's processes listen on {listening:?}");
    // Neither side runs an FTP server as a helper process.
    let mut all = peer_pids.clone();
    all.push(bridge_pid);
    all.extend(descendants(bridge_pid));
    for pid in all {
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        for server in ["proftpd", "vsftpd", "pure-ftpd", "in.ftpd", "pyftpdlib", "unftp"] {
            assert!(!cmdline.contains(server), "an FTP server runs: {pid} {cmdline}");
        }
    }
}
