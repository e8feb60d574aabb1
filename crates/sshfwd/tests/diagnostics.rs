//! `sshfwd --demo --once` (the README's main command) and `sshfwd
//! --ftp-check` against a working FTP forward and against a plain `-L`
//! forward, on the namespace topology of `common/netns.rs`.

use std::process::Command;
use std::time::Duration;

use crate::common::netns::*;

const CHECK_TIMEOUT: Duration = Duration::from_secs(120);

#[test]
fn demo_self_check_passes_in_every_mode() {
    let out = run_with_timeout(Command::new(SSHFWD).args(["--demo", "--once"]), CHECK_TIMEOUT);
    assert!(out.success(), "sshfwd --demo --once failed:\n{}", out.transcript());
    for mode in ["PASV", "EPSV", "PORT", "EPRT"] {
        let row = out.stdout.lines().find(|l| l.starts_with(mode)).unwrap_or_default();
        assert!(row.ends_with(" ok"), "{mode} row is not ok: {row:?}\n{}", out.transcript());
    }
    assert!(out.stdout.contains("Self-check passed."), "{}", out.transcript());
    assert!(out.stdout.contains("curl ftp://127.0.0.1:"), "no client commands:\n{}", out.transcript());
}

#[test]
#[cfg_attr(not(tests_as_root), ignore = "needs root: network namespaces")]
fn ftp_check_passes_through_an_ftp_forward_and_explains_a_plain_one() {
    let (topo, _server, _plain, _ftp) = plain_and_ftp_forwards(SshServer::OpenSsh);
    let credentials = format!("{FTP_USER}:{FTP_PASS}");

    let good = topo.run(Host::Cli, SSHFWD, &["--ftp-check", &format!("{credentials}@127.0.0.1:2121")], CHECK_TIMEOUT);
    assert!(good.success(), "--ftp-check through -L ftp/ failed:\n{}\n{}", good.transcript(), topo.logs());
    for mode in ["EPSV", "PASV", "EPRT", "PORT"] {
        assert!(
            good.stdout.lines().any(|l| l.starts_with(mode) && l.contains(" ok ")),
            "{mode} not ok:\n{}",
            good.stdout
        );
    }

    let bad = topo.run(Host::Cli, SSHFWD, &["--ftp-check", &format!("{credentials}@127.0.0.1:2120")], CHECK_TIMEOUT);
    assert!(!bad.timed_out, "--ftp-check hung:\n{}", bad.transcript());
    assert_eq!(bad.status.and_then(|s| s.code()), Some(255), "{}", bad.transcript());
    for mode in ["EPSV", "PASV", "EPRT", "PORT"] {
        let failed = bad.stdout.lines().any(|l| l.starts_with(mode) && l.contains("FAILED"));
        assert!(failed, "{mode} should fail through plain -L:\n{}", bad.stdout);
    }
    let hints = bad.stdout.matches("not FTP-aware").count() + bad.stdout.matches("use -L ftp/").count();
    assert!(hints >= 4, "every failure should point at the missing ftp/:\n{}", bad.stdout);
    topo.finish();
}

#[test]
fn ftp_check_reports_a_closed_endpoint() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = probe.local_addr().expect("addr").port();
    drop(probe);
    let out = run_with_timeout(Command::new(SSHFWD).args(["--ftp-check", &format!("127.0.0.1:{port}")]), CHECK_TIMEOUT);
    assert_eq!(out.status.and_then(|s| s.code()), Some(255), "{}", out.transcript());
    assert!(out.stdout.contains("is the forward running?"), "{}", out.transcript());
    let bad = run_with_timeout(Command::new(SSHFWD).args(["--ftp-check", "no-port-here"]), CHECK_TIMEOUT);
    assert_eq!(bad.status.and_then(|s| s.code()), Some(255), "{}", bad.transcript());
    assert!(bad.stderr.contains("expected [user[:password]@]host:port"), "{}", bad.transcript());
}
