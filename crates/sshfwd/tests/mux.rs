//! Connection sharing against a real sshd: an sshfwd master (`-M -S`,
//! ControlMaster/ControlPath/ControlPersist) answering `-O` from sshfwd and
//! from OpenSSH's ssh, sshfwd's `-O` against an OpenSSH master, forwards
//! added and cancelled through the socket, the socket's life (mode, stale
//! and live sockets, removal at exit and on SIGTERM).

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::echo::{echo_round_trip, echo_server};
use crate::common::netns::{run_with_timeout, RunOutput};
use crate::common::sshd::{self, free_port, Sshd};
use crate::common::KillOnDrop;

/// Bound for a short run (a `-O` command, a master coming up or going).
const RUN: Duration = Duration::from_secs(30);

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Waits (bounded) until `check` holds.
fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + RUN;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn is_socket(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

/// `sshfwd -S ctl -O command [flags] host`, run to its end.
fn control(sshd: &Sshd, ctl: &Path, command: &str, flags: &[&str]) -> sshd::Outcome {
    sshd.sshfwd().arg("-S").arg(ctl).arg("-O").arg(command).args(flags).run(RUN)
}

/// OpenSSH's `ssh -S ctl -O command [flags] host` (it reads no config
/// and connects nowhere).
fn openssh_control(ctl: &Path, command: &str, flags: &[&str]) -> RunOutput {
    let mut ssh = Command::new("ssh");
    ssh.args(["-F", "/dev/null", "-S"]).arg(ctl).args(["-O", command]).args(flags).arg("somehost");
    ssh.stdin(Stdio::null());
    run_with_timeout(&mut ssh, RUN)
}

/// A master with `flags` (forwardings, -o options) on a socket in the
/// server's directory; returns it once the socket is there.
fn master(sshd: &Sshd, name: &str, flags: &[&str]) -> (sshd::Running, PathBuf) {
    let ctl = sshd.dir().join(name);
    let mut running = sshd.sshfwd().args(["-N", "-M", "-S"]).arg(&ctl).args(flags).spawn();
    until("the control socket", || {
        assert!(running.try_status().is_none(), "master exited; stderr:\n{}", running.stderr());
        is_socket(&ctl)
    });
    (running, ctl)
}

fn assert_master_running(stderr: &str, pid: u32) {
    assert_eq!(stderr, format!("Master running (pid={pid})\r\n"));
}

#[test]
fn a_master_with_forwards_answers_check_from_sshfwd_and_from_openssh() {
    let sshd = Sshd::start();
    let echo = echo_server();
    let (lport, rport) = (free_port(), free_port());
    let local_spec = format!("{lport}:127.0.0.1:{}", echo.port());
    let remote_spec = format!("127.0.0.1:{rport}:127.0.0.1:{}", echo.port());
    let (mut running, ctl) = master(&sshd, "ctl", &["-L", &local_spec, "-R", &remote_spec]);
    running.wait_port(local(lport), RUN);
    running.wait_port(local(rport), RUN);
    assert_eq!(echo_round_trip(local(lport), b"local"), b"local");
    assert_eq!(echo_round_trip(local(rport), b"remote"), b"remote");
    assert_eq!(std::fs::metadata(&ctl).unwrap().permissions().mode() & 0o777, 0o600);

    let ours = control(&sshd, &ctl, "check", &[]);
    assert_eq!(ours.code, Some(0), "{}", ours.stderr);
    assert_master_running(&ours.stderr, running.pid());
    let theirs = openssh_control(&ctl, "check", &[]);
    assert!(theirs.success(), "{}", theirs.transcript());
    assert_master_running(&theirs.stderr, running.pid());
}

#[test]
fn forward_and_cancel_through_the_socket_from_sshfwd_and_from_openssh() {
    let sshd = Sshd::start();
    let echo = echo_server();
    let (running, ctl) = master(&sshd, "ctl", &[]);
    for (who, port) in [("sshfwd", free_port()), ("ssh", free_port())] {
        let spec = format!("{port}:127.0.0.1:{}", echo.port());
        let added = match who {
            "sshfwd" => {
                let out = control(&sshd, &ctl, "forward", &["-L", &spec]);
                assert_eq!(out.code, Some(0), "{}", out.stderr);
                out.stderr
            }
            _ => {
                let out = openssh_control(&ctl, "forward", &["-L", &spec]);
                assert!(out.success(), "{}", out.transcript());
                out.stderr
            }
        };
        assert_eq!(added, "", "{who}");
        assert_eq!(echo_round_trip(local(port), who.as_bytes()), who.as_bytes(), "{who}");
        // Asking again is no error, as with ssh.
        assert_eq!(control(&sshd, &ctl, "forward", &["-L", &spec]).code, Some(0));
        let cancelled = match who {
            "sshfwd" => control(&sshd, &ctl, "cancel", &["-L", &spec]).code,
            _ => openssh_control(&ctl, "cancel", &["-L", &spec]).status.and_then(|s| s.code()),
        };
        assert_eq!(cancelled, Some(0), "{who}");
        until("the cancelled port to close", || TcpStream::connect(local(port)).is_err());
    }
    // A remote forwarding added, used and cancelled.
    let rport = free_port();
    let spec = format!("127.0.0.1:{rport}:127.0.0.1:{}", echo.port());
    assert_eq!(control(&sshd, &ctl, "forward", &["-R", &spec]).code, Some(0));
    assert_eq!(echo_round_trip(local(rport), b"remote"), b"remote");
    assert_eq!(control(&sshd, &ctl, "cancel", &["-R", &spec]).code, Some(0));
    until("the server to stop listening", || TcpStream::connect(local(rport)).is_err());
    // Cancelling what is not there: ssh's words, status 0.
    let out = control(&sshd, &ctl, "cancel", &["-R", &spec]);
    assert_eq!(out.code, Some(0));
    assert!(out.stderr.contains("forwarding request failed: port not forwarded"), "{}", out.stderr);
    drop(running);
}

#[test]
fn a_refused_forward_fails_the_forward_command() {
    let sshd = Sshd::start();
    let (_running, ctl) = master(&sshd, "ctl", &[]);
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let spec = format!("{}:127.0.0.1:22", busy.local_addr().unwrap().port());
    let out = control(&sshd, &ctl, "forward", &["-L", &spec]);
    assert_eq!(out.code, Some(255));
    assert!(
        out.stderr.contains("mux_client_forward: forwarding request failed: Port forwarding failed"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("muxclient: master forward request failed"), "{}", out.stderr);
}

#[test]
fn exit_ends_the_master_with_status_0_and_removes_the_socket() {
    let sshd = Sshd::start();
    for who in ["sshfwd", "ssh"] {
        let (mut running, ctl) = master(&sshd, &format!("ctl-{who}"), &[]);
        let stderr = match who {
            "sshfwd" => control(&sshd, &ctl, "exit", &[]).stderr,
            _ => openssh_control(&ctl, "exit", &[]).stderr,
        };
        assert_eq!(stderr, "Exit request sent.\r\n", "{who}");
        let status = running.wait_timeout(RUN).expect("master still running after -O exit");
        assert_eq!(status.code(), Some(0), "{who}: {}", running.stderr());
        assert!(!ctl.exists(), "{who}: socket left behind");
    }
}

/// `-O stop`: the socket goes at once; a -N master ends once its last
/// shared session has (as ssh's); forwardings work until then.
#[test]
fn stop_closes_the_socket_and_a_n_master_ends_after_its_sessions() {
    let sshd = Sshd::start();
    let echo = echo_server();
    let port = free_port();
    let spec = format!("{port}:127.0.0.1:{}", echo.port());
    let (mut running, ctl) = master(&sshd, "ctl", &["-L", &spec]);
    let mut client = sshd.sshfwd().arg("-S").arg(&ctl).command(["cat"]);
    client.port = Some(1);
    let mut command = Command::new(env!("CARGO_BIN_EXE_sshfwd"));
    command.args(client.argv()).env("HOME", sshd.home());
    command.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null());
    let mut shared = KillOnDrop(command.spawn().expect("spawn sshfwd"));
    let stdin = shared.0.stdin.take();
    until("cat to run", || remote_commands(&sshd).iter().any(|name| name == "cat"));

    let out = control(&sshd, &ctl, "stop", &[]);
    assert_eq!((out.code, out.stderr.as_str()), (Some(0), "Stop listening request sent.\r\n"));
    until("the socket to go", || !ctl.exists());
    assert_eq!(echo_round_trip(local(port), b"still"), b"still");
    assert!(running.try_status().is_none(), "the master left before its shared session ended");

    drop(stdin);
    assert_eq!(shared.0.wait().unwrap().code(), Some(0));
    let status = running.wait_timeout(RUN).expect("master still running after its last session");
    assert_eq!(status.code(), Some(0), "{}", running.stderr());
}

#[test]
fn ask_is_served_as_yes_with_a_word() {
    let sshd = Sshd::start();
    let ctl = sshd.dir().join("ctl");
    let mut running = sshd.sshfwd().args(["-N", "-MM", "-S"]).arg(&ctl).spawn();
    until("the control socket", || is_socket(&ctl));
    assert!(running.wait_stderr("ControlMaster ask is served as yes", RUN), "{}", running.stderr());
    assert_master_running(&control(&sshd, &ctl, "check", &[]).stderr, running.pid());
}

#[test]
fn sigterm_removes_the_socket() {
    let sshd = Sshd::start();
    let (mut running, ctl) = master(&sshd, "ctl", &[]);
    sshd::signal(running.pid(), libc::SIGTERM);
    running.wait_timeout(RUN).expect("master still running after SIGTERM");
    assert!(!ctl.exists());
}

#[test]
fn no_master_is_ssh_s_error_and_255() {
    let sshd = Sshd::start();
    let ctl = sshd.dir().join("nothing-here");
    let out = control(&sshd, &ctl, "check", &[]);
    assert_eq!(out.code, Some(255));
    assert_eq!(out.stderr, format!("Control socket connect({}): No such file or directory\n", ctl.display()));
    let out = sshd.sshfwd().args(["-O", "check"]).run(RUN);
    assert_eq!((out.code, out.stderr.as_str()), (Some(255), "No ControlPath specified for \"-O\" command\n"));
    let out = sshd.sshfwd().args(["-S", "x", "-O", "proxy"]).run(RUN);
    assert_eq!(out.code, Some(255));
    assert!(out.stderr.contains("-O proxy is not supported"), "{}", out.stderr);
    let out = sshd.sshfwd().args(["-S", "x", "-O", "frob"]).run(RUN);
    assert_eq!((out.code, out.stderr.as_str()), (Some(255), "Invalid multiplex command.\n"));
}

#[test]
fn a_stale_socket_is_replaced_and_a_live_one_kept() {
    let sshd = Sshd::start();
    let ctl = sshd.dir().join("ctl");
    // A socket file nobody listens on, as a killed master leaves.
    drop(std::os::unix::net::UnixListener::bind(&ctl).unwrap());
    assert!(is_socket(&ctl));
    let (first, ctl) = master(&sshd, "ctl", &[]);
    until("the stale socket to be replaced", || control(&sshd, &ctl, "check", &[]).code == Some(0));
    assert_master_running(&control(&sshd, &ctl, "check", &[]).stderr, first.pid());

    // A second master on a live socket runs without one, as ssh does.
    let echo = echo_server();
    let port = free_port();
    let spec = format!("{port}:127.0.0.1:{}", echo.port());
    let mut second = sshd.sshfwd().args(["-N", "-M", "-S"]).arg(&ctl).args(["-L", &spec]).spawn();
    second.wait_port(local(port), RUN);
    assert!(second.wait_stderr(&format!("ControlSocket {} already exists, disabling multiplexing", ctl.display()), RUN));
    assert_master_running(&control(&sshd, &ctl, "check", &[]).stderr, first.pid());
}

#[test]
fn control_path_tokens_are_expanded() {
    let sshd = Sshd::start();
    let pattern = sshd.dir().join("cm-%h-%p");
    let ctl = sshd.dir().join(format!("cm-127.0.0.1-{}", sshd.port()));
    let mut running =
        sshd.sshfwd().opt("ControlMaster=yes").opt(format!("ControlPath={}", pattern.display())).arg("-N").spawn();
    until("the expanded control socket", || {
        assert!(running.try_status().is_none(), "{}", running.stderr());
        is_socket(&ctl)
    });
    let out = sshd.sshfwd().opt(format!("ControlPath={}", pattern.display())).args(["-O", "check"]).run(RUN);
    assert_master_running(&out.stderr, running.pid());
}

#[test]
fn control_persist_keeps_the_master_after_its_command() {
    let sshd = Sshd::start();
    // Forever (`yes`) until -O exit; the command's status is the run's.
    let ctl = sshd.dir().join("ctl-yes");
    let mut running =
        sshd.sshfwd().args(["-v", "-M", "-S"]).arg(&ctl).opt("ControlPersist=yes").command(["exit", "3"]).spawn();
    assert!(running.wait_stderr("the master stays for ControlPersist", RUN), "{}", running.stderr());
    assert_eq!(control(&sshd, &ctl, "check", &[]).code, Some(0));
    assert_eq!(control(&sshd, &ctl, "exit", &[]).code, Some(0));
    let status = running.wait_timeout(RUN).expect("persisting master did not exit");
    assert_eq!(status.code(), Some(3), "{}", running.stderr());

    // A time: gone by itself once idle that long.
    let ctl = sshd.dir().join("ctl-time");
    let mut running = sshd.sshfwd().args(["-M", "-S"]).arg(&ctl).opt("ControlPersist=1").command(["exit", "4"]).spawn();
    let status = running.wait_timeout(RUN).expect("ControlPersist=1 master did not exit");
    assert_eq!(status.code(), Some(4), "{}", running.stderr());
    assert!(!ctl.exists());

    // Without ControlPersist the run ends with its command.
    let ctl = sshd.dir().join("ctl-no");
    let out = sshd.sshfwd().args(["-M", "-S"]).arg(&ctl).command(["exit", "5"]).run(RUN);
    assert_eq!(out.code, Some(5), "{}", out.stderr);
    assert!(!ctl.exists());
}

#[test]
fn sshfwd_drives_an_openssh_master() {
    let sshd = Sshd::start();
    let echo = echo_server();
    let ctl = sshd.dir().join("ctl-openssh");
    // The harness's command line works for ssh as it is.
    let argv: Vec<OsString> = sshd.sshfwd().args(["-N", "-M", "-S"]).arg(&ctl).argv();
    let mut ssh = Command::new("ssh");
    ssh.args(&argv).env("HOME", sshd.home()).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let ssh = KillOnDrop(ssh.spawn().expect("spawn ssh"));
    until("OpenSSH's control socket", || is_socket(&ctl));

    let out = control(&sshd, &ctl, "check", &[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_master_running(&out.stderr, ssh.0.id());
    let port = free_port();
    let spec = format!("{port}:127.0.0.1:{}", echo.port());
    assert_eq!(control(&sshd, &ctl, "forward", &["-L", &spec]).code, Some(0));
    assert_eq!(echo_round_trip(local(port), b"openssh"), b"openssh");
    assert_eq!(control(&sshd, &ctl, "cancel", &["-L", &spec]).code, Some(0));
    until("the cancelled port to close", || TcpStream::connect(local(port)).is_err());
    let mut shared = sshd.sshfwd().arg("-S").arg(&ctl).command(["echo via-openssh; exit 6"]);
    shared.port = Some(1);
    let out = shared.run(RUN);
    assert_eq!((out.code, out.stdout.as_str()), (Some(6), "via-openssh\n"), "{}", out.stderr);
    assert_eq!(control(&sshd, &ctl, "exit", &[]).stderr, "Exit request sent.\r\n");
    until("OpenSSH's socket to go", || !ctl.exists());
}

/// A command given with a master on ControlPath runs there: the port it
/// is given leads nowhere. With -N nothing is shared: a word, then a
/// connection of its own.
#[test]
fn sshfwd_runs_commands_through_a_master() {
    let sshd = Sshd::start();
    let (_running, ctl) = master(&sshd, "ctl", &[]);
    let mut client = sshd.sshfwd().arg("-S").arg(&ctl).command(["echo out; echo err >&2; exit 7"]);
    client.port = Some(1);
    client.stdin = Some(b"unused".to_vec());
    let out = client.run(RUN);
    assert_eq!((out.code, out.stdout.as_str(), out.stderr.as_str()), (Some(7), "out\n", "err\n"));
    let mut client = sshd.sshfwd().arg("-S").arg(&ctl).command(["cat"]);
    client.port = Some(1);
    client.stdin = Some(b"through the master".to_vec());
    let out = client.run(RUN);
    assert_eq!((out.code, out.stdout.as_str()), (Some(0), "through the master"), "{}", out.stderr);

    let echo = echo_server();
    let port = free_port();
    let spec = format!("{port}:127.0.0.1:{}", echo.port());
    let mut direct = sshd.sshfwd().arg("-S").arg(&ctl).args(["-N", "-L", &spec]).spawn();
    direct.wait_port(local(port), RUN);
    assert!(direct.wait_stderr("sshfwd shares no -N session: connecting directly", RUN), "{}", direct.stderr());
}

/// `ssh -S ctl host command` from OpenSSH runs through an sshfwd master:
/// stdin, stdout, stderr and the exit status come through the socket.
/// The port it is given leads nowhere, so nothing else could have run it.
#[test]
fn openssh_runs_commands_through_an_sshfwd_master() {
    let sshd = Sshd::start();
    let (_running, ctl) = master(&sshd, "ctl", &[]);
    let shared = |command: &[&str], stdin: &[u8]| {
        let mut client = sshd.sshfwd().arg("-S").arg(&ctl).command(command.iter().copied());
        client.port = Some(1);
        let mut ssh = Command::new("ssh");
        ssh.args(client.argv()).env("HOME", sshd.home());
        ssh.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = KillOnDrop(ssh.spawn().expect("spawn ssh"));
        let mut input = child.0.stdin.take().unwrap();
        input.write_all(stdin).unwrap();
        drop(input);
        let (stdout, stderr) = (child.0.stdout.take().unwrap(), child.0.stderr.take().unwrap());
        let read = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text);
                text
            })
        };
        let (stdout, stderr) = (read(Box::new(stdout)), read(Box::new(stderr)));
        let deadline = Instant::now() + RUN;
        let status = loop {
            if let Some(status) = child.0.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "ssh through the master did not end");
            std::thread::sleep(Duration::from_millis(20));
        };
        (status.code(), stdout.join().unwrap(), stderr.join().unwrap())
    };
    let (code, stdout, stderr) = shared(&["echo out; echo err >&2; exit 7"], b"");
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (Some(7), "out\n", "err\n"));
    let data = vec![b'x'; 300_000];
    let (code, stdout, _) = shared(&["cat"], &data);
    assert_eq!((code, stdout.len()), (Some(0), data.len()));
}

/// Names of the processes under sshd, to see a session's command come and
/// go.
fn remote_commands(sshd: &Sshd) -> Vec<String> {
    sshd.session_pids()
        .iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).ok())
        .map(|name| name.trim().to_owned())
        .collect()
}

/// A client killed in the middle of a shared session takes its remote
/// command with it: the master closes the channel (its stdin is still
/// open here, so only the close can end `cat`).
#[test]
fn a_killed_client_s_shared_session_is_closed() {
    let sshd = Sshd::start();
    let (_running, ctl) = master(&sshd, "ctl", &[]);
    let mut client = sshd.sshfwd().arg("-S").arg(&ctl).command(["cat"]);
    client.port = Some(1);
    let mut command = Command::new(env!("CARGO_BIN_EXE_sshfwd"));
    command.args(client.argv()).env("HOME", sshd.home());
    command.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = KillOnDrop(command.spawn().expect("spawn sshfwd"));
    let _stdin_kept_open = child.0.stdin.take();
    until("cat to run", || remote_commands(&sshd).iter().any(|name| name == "cat"));
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    until("cat to end", || !remote_commands(&sshd).iter().any(|name| name == "cat"));
}
