//! `Reconnect yes` against a real sshd: a lost connection (session killed,
//! sshd restarted after refusing connections for a while, a server that
//! stops answering and keeps its old listener) is made again; the local
//! listeners stay bound and answer at once during the outage; remote
//! forwardings come back; nothing leaks over 100 reconnections.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::common::echo::{echo_round_trip, echo_server, TestServer};
use crate::common::sshd::{self, free_port, Sshd};

/// Bound for a forwarding to come up, or back.
const READY: Duration = Duration::from_secs(20);

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// sshfwd with `-L`, `-R` and `-L ftp/` forwardings and quick keepalives,
/// reconnecting.
struct Forwarding {
    echo: TestServer,
    local_port: u16,
    remote_port: u16,
    ftp_port: u16,
    sshfwd: sshd::Running,
}

impl Forwarding {
    fn start(sshd: &Sshd) -> Forwarding {
        let echo = echo_server();
        let (local_port, remote_port, ftp_port) = (free_port(), free_port(), free_port());
        let forwards = [
            ("-L", format!("{local_port}:127.0.0.1:{}", echo.port())),
            ("-R", format!("{remote_port}:127.0.0.1:{}", echo.port())),
            ("-L", format!("ftp/{ftp_port}:127.0.0.1:21")),
        ];
        let mut sshfwd = sshd
            .sshfwd()
            .opt("Reconnect=yes")
            .opt("ReconnectMaxDelay=2")
            .opt("ServerAliveInterval=1")
            .opt("ServerAliveCountMax=2")
            .forwards(&forwards)
            .spawn();
        sshfwd.wait_port(local(local_port), READY);
        sshfwd.wait_port(local(remote_port), READY);
        let forwarding = Forwarding { echo, local_port, remote_port, ftp_port, sshfwd };
        forwarding.assert_both_work("at start");
        forwarding
    }

    /// A round trip through `port`, or why not.
    fn round_trip(&self, port: u16) -> Result<(), String> {
        let message = format!("through {port} to {}", self.echo.port());
        let got = std::panic::catch_unwind(|| echo_round_trip(local(port), message.as_bytes()))
            .map_err(|_| format!("no round trip through {port}"))?;
        (got == message.as_bytes()).then_some(()).ok_or_else(|| format!("{port} echoed {got:?}"))
    }

    fn assert_both_work(&self, when: &str) {
        for port in [self.local_port, self.remote_port] {
            if let Err(e) = self.round_trip(port) {
                panic!("{when}: {e}\nsshfwd stderr:\n{}", self.sshfwd.stderr());
            }
        }
    }

    /// Waits until `-L` and `-R` both carry data again.
    fn wait_both_work(&mut self, when: &str) {
        let deadline = Instant::now() + READY;
        loop {
            let results = [self.round_trip(self.local_port), self.round_trip(self.remote_port)];
            if results.iter().all(Result::is_ok) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{when}: forwardings not back within {READY:?}: {results:?}\nsshfwd stderr:\n{}",
                self.sshfwd.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn reconnections(&self) -> usize {
        self.sshfwd.stderr().matches("Reconnected to").count()
    }

    fn wait_reconnections(&mut self, count: usize) {
        let deadline = Instant::now() + READY;
        while self.reconnections() < count {
            assert!(self.sshfwd.try_status().is_none(), "sshfwd exited:\n{}", self.sshfwd.stderr());
            assert!(Instant::now() < deadline, "no reconnection #{count}:\n{}", self.sshfwd.stderr());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// What a client reads from a fresh connection to `port` within 5 s:
/// the bytes, and whether the connection was closed.
fn first_words(port: u16) -> (String, bool) {
    let mut stream = TcpStream::connect_timeout(&local(port), Duration::from_secs(5)).expect("the listener is bound");
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let closed = stream.read_to_end(&mut got).is_ok();
    (String::from_utf8_lossy(&got).into_owned(), closed)
}

#[test]
fn a_killed_session_is_made_again_with_its_forwardings() {
    let sshd = Sshd::start();
    let mut forwarding = Forwarding::start(&sshd);
    let killed = sshd.session_pids();
    assert!(!killed.is_empty(), "no sshd session to kill");
    for pid in killed {
        sshd::signal(pid, libc::SIGKILL);
    }
    forwarding.wait_reconnections(1);
    forwarding.wait_both_work("after the session was killed");
    let stderr = forwarding.sshfwd.stderr();
    assert!(stderr.contains("reconnecting"), "the loss is not logged:\n{stderr}");
    assert!(stderr.contains("requested again"), "the -R forwarding was not requested again:\n{stderr}");
}

/// sshd stopped: while it refuses connections the listeners stay bound and
/// answer at once (a plain -L connection is closed, an FTP one gets a 421
/// saying why), every attempt is logged; once sshd is back on the same
/// port, everything works again.
#[test]
fn during_an_outage_listeners_answer_at_once_and_sshd_restarted_is_reached_again() {
    let mut sshd = Sshd::start();
    let mut forwarding = Forwarding::start(&sshd);
    sshd.stop();
    assert!(
        forwarding.sshfwd.wait_stderr("Reconnect attempt 2 failed", READY),
        "no failed attempts logged while sshd refuses:\n{}",
        forwarding.sshfwd.stderr()
    );

    let started = Instant::now();
    let (plain, closed) = first_words(forwarding.local_port);
    assert!(closed && plain.is_empty(), "plain -L during the outage: {plain:?}, closed: {closed}");
    let (ftp, closed) = first_words(forwarding.ftp_port);
    assert!(closed, "the FTP control connection hangs during the outage");
    assert!(ftp.starts_with("421 ") && ftp.contains("lost, reconnecting"), "FTP greeting during the outage: {ftp:?}");
    assert!(started.elapsed() < Duration::from_secs(4), "answers took {:?}", started.elapsed());

    sshd.restart();
    forwarding.wait_reconnections(1);
    forwarding.wait_both_work("after sshd came back");
}

/// The server stops answering (its session processes stopped): keepalives
/// time out, sshfwd reconnects, and the new session's -R request is refused
/// while the old session still holds the port; retried, it succeeds once
/// the old session is gone.
#[test]
fn a_stale_remote_listener_is_waited_out() {
    let sshd = Sshd::start();
    let mut forwarding = Forwarding::start(&sshd);
    let stale = sshd.session_pids();
    for pid in &stale {
        sshd::signal(*pid, libc::SIGSTOP);
    }
    forwarding.wait_reconnections(1);
    let refused = forwarding.sshfwd.wait_stderr("refused again", READY);
    // The old session wakes up, finds its client gone and exits, freeing
    // the port.
    for pid in &stale {
        sshd::signal(*pid, libc::SIGCONT);
    }
    assert!(refused, "the new session's -R request was never refused:\n{}", forwarding.sshfwd.stderr());
    forwarding.wait_both_work("after the stale listener went away");
}

#[test]
fn a_hundred_reconnections_leak_nothing() {
    let sshd = Sshd::start();
    let mut forwarding = Forwarding::start(&sshd);
    let pid = forwarding.sshfwd.pid();
    let open_files = || std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0);
    let (files_before, rss_before) = (open_files(), sshd::rss_kib(pid).unwrap_or(0));
    for round in 1..=100 {
        for session in sshd.session_pids() {
            sshd::signal(session, libc::SIGKILL);
        }
        forwarding.wait_reconnections(round);
    }
    forwarding.wait_both_work("after 100 reconnections");
    let (files_after, rss_after) = (open_files(), sshd::rss_kib(pid).unwrap_or(0));
    eprintln!("100 reconnections: {files_before} -> {files_after} open files, {rss_before} -> {rss_after} KiB");
    assert!(files_after <= files_before + 4, "open files grew from {files_before} to {files_after}");
    assert!(rss_after <= rss_before * 2 + 4096, "memory grew from {rss_before} KiB to {rss_after} KiB");
    let reconnections = forwarding.reconnections();
    assert_eq!(reconnections, 100, "reconnections counted");
}

/// The link to the server down for longer than the keepalive limit (a
/// network namespace whose veth goes down): sshfwd notices, keeps its
/// listener answering at once, retries while the network is unreachable,
/// and reconnects once the link is back.
#[test]
#[cfg_attr(not(tests_as_root), ignore = "needs root: network namespaces")]
fn the_link_down_longer_than_the_keepalive_limit() {
    use crate::common::netns::{SshServer, Topology, SRV_IP};
    let mut topo = Topology::new(SshServer::OpenSsh, false);
    let port = 2222;
    let forward = format!("{port}:{SRV_IP}:22");
    let args = ["-o", "Reconnect=yes", "-o", "ReconnectMaxDelay=2", "-o", "ServerAliveInterval=1", "-o"];
    let args: Vec<&str> = args.iter().copied().chain(["ServerAliveCountMax=2", "-L", &forward]).collect();
    let sshfwd = topo.start_sshfwd("reconnect", &args);
    topo.wait_local_forward(sshfwd, port);
    // Through -L to sshd's own port: its banner proves the way works.
    let banner = |topo: &Topology| {
        let mut stream = topo.cli.connect(local(port), Duration::from_secs(5)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut got = [0u8; 7];
        stream.read_exact(&mut got).ok()?;
        (&got == b"SSH-2.0").then_some(())
    };
    assert!(banner(&topo).is_some(), "no banner through -L at start");

    topo.cli.ip(&["link", "set", "veth-srv", "down"]);
    let log = |topo: &Topology| topo.proc(sshfwd).log_text();
    let lost = topo.proc(sshfwd).wait_log("reconnecting", READY);
    assert!(lost.is_some(), "the dead link was not noticed:\n{}", log(&topo));
    let retried = topo.proc(sshfwd).wait_log("Reconnect attempt 2 failed", READY);
    assert!(retried.is_some(), "no failed attempts while the link is down:\n{}", log(&topo));
    let started = Instant::now();
    let outage = topo.cli.run_in(move || {
        let mut stream = TcpStream::connect_timeout(&local(port), Duration::from_secs(5)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut got = Vec::new();
        stream.read_to_end(&mut got).ok().map(|_| got)
    });
    assert_eq!(outage, Some(Vec::new()), "-L during the outage did not close at once");
    assert!(started.elapsed() < Duration::from_secs(4), "-L during the outage took {:?}", started.elapsed());

    topo.cli.ip(&["link", "set", "veth-srv", "up"]);
    let back = topo.proc(sshfwd).wait_log("Reconnected to", Duration::from_secs(30));
    assert!(back.is_some(), "no reconnection once the link was back:\n{}", log(&topo));
    let works = crate::common::netns::poll(READY, || banner(&topo));
    assert!(works.is_some(), "-L does not work after the reconnection:\n{}", log(&topo));
    topo.finish();
}
