//! End-to-end tests of the FTP→SFTP bridge (`sshfwd --ftp-to-sftp`): real
//! FTP clients (curl, lftp, tnftp, Python's ftplib, and a raw client for
//! exact replies) against sshfwd, which serves them over SFTP from a real
//! SSH server: OpenSSH's sshd with internal-sftp, and sshfwd-server. There
//! is no FTP server anywhere (`proof` checks it).
//!
//! Most cases run against both peers, as `ftp_to_sftp::openssh::CASE` and
//! `ftp_to_sftp::sshfwd_server::CASE`. Run them with
//! `cargo test -p sshfwd --test integration ftp_to_sftp`.

mod commands;
mod failures;
mod load;
mod passthrough;
mod proof;
mod transfers;

use crate::common::bridge::{Bridge, SftpPeer};
use crate::common::ftp_client::{assert_ok, python, STEP};

/// Every case as two `#[test]`s, `openssh::CASE` and `sshfwd_server::CASE`.
macro_rules! against_both_peers {
    ($($case:ident),* $(,)?) => {
        against_both_peers!(@peer openssh, OpenSsh, $($case),*);
        against_both_peers!(@peer sshfwd_server, SshfwdServer, $($case),*);
    };
    (@peer $module:ident, $peer:ident, $($case:ident),*) => {
        mod $module {
            $(
                #[test]
                fn $case() {
                    super::$case(crate::common::bridge::Peer::$peer);
                }
            )*
        }
    };
}
use against_both_peers;

/// Runs a Python ftplib `body` against `bridge` within [`STEP`]; panics
/// with the transcript, sshfwd's stderr and the peer's log on failure.
#[track_caller]
fn python_ok(peer: &SftpPeer, bridge: &Bridge, what: &str, body: &str) -> String {
    let out = python(bridge, &peer.files, body, STEP);
    if !out.success() {
        eprintln!("---- {:?} log ----\n{}", peer.kind, peer.log());
    }
    assert_ok(&out, what, bridge);
    out.stdout
}
