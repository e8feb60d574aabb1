//! The client as a process, against a real OpenSSH sshd (issue 14, helper
//! "proc"): `-f` (background once ready), `-n`, exit statuses on signals
//! and on a closed stdout, SendEnv/SetEnv, RemoteCommand, LocalCommand,
//! agent signing for `-i key.pub`, and `sftp -S`/`scp -S`.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::echo::{echo_round_trip, echo_server};
use crate::common::sshd::{self, assert_exit, free_port, Agent, KeyType, Sshd, SshdOptions, Sshfwd};

/// Bound for a short run of sshfwd (connect, auth, a trivial command).
const RUN: Duration = Duration::from_secs(30);

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The PIDs of live sshfwd processes whose arguments include `needle`
/// (the background half of `-f` is no child of the test).
fn sshfwd_processes_with(needle: &str) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else { return false };
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let is_sshfwd = args.first().is_some_and(|arg0| arg0.ends_with(b"sshfwd"));
            let zombie = fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|stat| stat.rsplit(')').next().unwrap_or_default().trim_start().starts_with('Z'))
                .unwrap_or(true);
            is_sshfwd && !zombie && args.contains(&needle.as_bytes())
        })
        .collect()
}

/// Polls (bounded) until `check` holds.
fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    check()
}

/// Kills the background processes found by `needle` and waits until they
/// are gone.
fn kill_background(needle: &str) {
    for pid in sshfwd_processes_with(needle) {
        sshd::signal(pid, libc::SIGTERM);
    }
    assert!(eventually(Duration::from_secs(10), || sshfwd_processes_with(needle).is_empty()), "{needle} still runs");
}

/// A std `Command` for `b`, with stdout piped and nothing drained, for the
/// tests that read (or close) sshfwd's stdout themselves.
fn raw_command(b: &Sshfwd) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sshfwd"));
    cmd.args(b.argv()).env("HOME", &b.home);
    for k in &b.env_remove {
        cmd.env_remove(k);
    }
    for (k, v) in &b.env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// Waits (bounded) for a child started by [`raw_command`]; `None` if it ran on.
fn wait_child(child: &mut std::process::Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let mut status = None;
    eventually(timeout, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    status
}

#[test]
fn fork_returns_once_the_forward_listens() {
    let sshd = Sshd::start();
    let echo = echo_server();
    let port = free_port();
    let spec = format!("{port}:127.0.0.1:{}", echo.port());
    let child = raw_command(&sshd.sshfwd().arg("-f").forwards(&[("-L", spec.as_str())])).spawn().unwrap();
    // Reading both pipes to their end: the background process must not
    // hold them, or `$(sshfwd -f …)` would never return.
    let (done, output) = std::sync::mpsc::channel();
    thread::spawn(move || done.send(child.wait_with_output()));
    let out = output.recv_timeout(RUN).expect("stdout or stderr held open").unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    // No retry: the foreground returned only once the listener was up.
    assert_eq!(echo_round_trip(local(port), b"at once"), b"at once");
    assert_eq!(sshfwd_processes_with(&spec).len(), 1, "one background process");
    kill_background(&spec);
}

/// `ssh -fNJ bastion -L …`, the gateway's usual start, with sshfwd.
#[test]
fn fork_through_a_jump_host_returns_once_the_forward_listens() {
    let (hop, target) = (Sshd::start(), Sshd::start());
    let echo = echo_server();
    let known_hosts = target.dir().join("known_hosts_jump");
    fs::write(&known_hosts, [hop.known_hosts_lines(), target.known_hosts_lines()].concat()).unwrap();
    let config = target.dir().join("jump_config");
    let text = format!(
        "Host bastion\n  HostName 127.0.0.1\n  Port {}\n  IdentityFile {}\nHost *\n  IdentitiesOnly yes\n  \
         BatchMode yes\n  StrictHostKeyChecking yes\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n",
        hop.port(),
        hop.client_key().display(),
        known_hosts.display()
    );
    fs::write(&config, text).unwrap();
    let port = free_port();
    let spec = format!("{port}:127.0.0.1:{}", echo.port());
    let mut b = target.sshfwd().args(["-f", "-J", "bastion"]).forwards(&[("-L", spec.as_str())]);
    b.config = Some(config);
    b.known_hosts = Some(known_hosts);
    let out = b.run(RUN);
    assert_exit(&out, 0);
    assert_eq!(echo_round_trip(local(port), b"via the bastion"), b"via the bastion");
    assert!(hop.log().contains("Accepted publickey"), "the bastion was not used");
    kill_background(&spec);
}

#[test]
fn fork_with_exit_on_forward_failure_fails_in_the_foreground() {
    let sshd = Sshd::start();
    // [::] takes the port on 127.0.0.1 and ::1 alike: "localhost" cannot
    // get it on either, here (-L) or in sshd (-R).
    let taken = TcpListener::bind("[::]:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    for (flag, spec) in [
        ("-L", format!("{taken_port}:127.0.0.1:9")),
        // sshd cannot listen where the test already does.
        ("-R", format!("{taken_port}:127.0.0.1:9")),
    ] {
        let out = sshd.sshfwd().arg("-f").opt("ExitOnForwardFailure=yes").forwards(&[(flag, spec.as_str())]).run(RUN);
        assert_exit(&out, 255);
        assert!(out.stderr.contains("Error:"), "{flag}: {}", out.stderr);
        assert!(sshfwd_processes_with(&spec).is_empty(), "{flag}: a background process was left");
    }
}

#[test]
fn fork_runs_the_command_in_the_background() {
    let sshd = Sshd::start();
    let file = sshd.dir().join("from-background");
    let command = format!("sleep 2; echo done > {}", file.display());
    // Not `run`: the command's output stays on the pipes the harness drains.
    let mut foreground = raw_command(&sshd.sshfwd().arg("-f").command([command.as_str()]))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert_eq!(wait_child(&mut foreground, RUN).and_then(|s| s.code()), Some(0));
    assert!(!file.exists(), "the foreground waited for the command");
    assert!(eventually(RUN, || fs::read_to_string(&file).is_ok_and(|t| t == "done\n")), "the command did not run");
}

#[test]
fn fork_asks_for_the_passphrase_before_going_to_the_background() {
    let sshd = Sshd::start();
    let key = sshd.add_client_key("encrypted", KeyType::Ed25519, "phrase");
    let askpass = sshd::write_script(&sshd.dir().join("askpass.sh"), "echo phrase");
    let echo = echo_server();
    let port = free_port();
    let spec = format!("{port}:127.0.0.1:{}", echo.port());
    let mut b = sshd
        .sshfwd()
        .arg("-f")
        .forwards(&[("-L", spec.as_str())])
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force");
    b.identities = vec![key];
    b.batch = Some(false);
    let mut foreground = raw_command(&b).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    assert_eq!(wait_child(&mut foreground, RUN).and_then(|s| s.code()), Some(0));
    assert_eq!(echo_round_trip(local(port), b"unlocked"), b"unlocked");
    kill_background(&spec);
}

#[test]
fn killing_the_foreground_before_ready_stops_the_background_half() {
    // A server that accepts (in the backlog) and never sends its banner:
    // the background half waits there, not ready.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let home = tempfile::tempdir().unwrap();
    let spec = format!("{}:127.0.0.1:9", free_port());
    let mut b = Sshfwd::new(home.path()).arg("-f").forwards(&[("-L", spec.as_str())]);
    b.port = Some(silent.local_addr().unwrap().port());
    let mut foreground = raw_command(&b).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    assert!(eventually(RUN, || sshfwd_processes_with(&spec).len() == 2), "no background half");
    sshd::signal(foreground.id(), libc::SIGTERM);
    assert!(wait_child(&mut foreground, RUN).is_some());
    assert!(
        eventually(Duration::from_secs(10), || sshfwd_processes_with(&spec).is_empty()),
        "the background half outlived the foreground before it was ready"
    );
}

#[test]
fn fork_needs_a_command_or_no_session() {
    let sshd = Sshd::start();
    let out = sshd.sshfwd().arg("-f").run(RUN);
    assert_exit(&out, 255);
    assert!(out.stderr.contains("Cannot fork into background without a command to execute."), "{}", out.stderr);
}

#[test]
fn stdin_null_keeps_stdin_from_the_command() {
    let sshd = Sshd::start();
    let mut with_stdin = sshd.sshfwd().command(["cat"]);
    with_stdin.stdin = Some(b"typed".to_vec());
    let out = with_stdin.run(RUN);
    assert_exit(&out, 0);
    assert_eq!(out.stdout, "typed");
    let out = with_stdin.clone().arg("-n").run(RUN);
    assert_exit(&out, 0);
    assert_eq!(out.stdout, "");
    let out = with_stdin.opt("StdinNull=yes").run(RUN);
    assert_eq!(out.stdout, "");
}

#[test]
fn sigterm_ends_a_forwarding_run_with_0_and_sigint_with_255() {
    let sshd = Sshd::start();
    for (signal, code) in [(libc::SIGTERM, 0), (libc::SIGINT, 255)] {
        let port = free_port();
        let mut fwd = sshd.sshfwd().forwards(&[("-L", format!("{port}:127.0.0.1:9"))]).spawn();
        assert!(sshd::wait_for_port(local(port), RUN), "{}", fwd.stderr());
        fwd.signal(signal);
        let status = fwd.wait_timeout(Duration::from_secs(10)).expect("sshfwd did not stop");
        assert_eq!(status.code(), Some(code), "signal {signal}: {}", fwd.stderr());
    }
    // With a command, a stop is a failure, as ssh's.
    let file = sshd.dir().join("started");
    let mut run = sshd.sshfwd().command([format!("touch {}; sleep 60", file.display())]).spawn();
    assert!(eventually(RUN, || file.exists()), "{}", run.stderr());
    run.signal(libc::SIGTERM);
    let status = run.wait_timeout(Duration::from_secs(10)).expect("sshfwd did not stop");
    assert_eq!(status.code(), Some(255));
}

#[test]
fn a_closed_stdout_ends_the_session() {
    let sshd = Sshd::start();
    let mut child = raw_command(&sshd.sshfwd().command(["yes"])).spawn().unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert_eq!(first, "y\n");
    // The reader (head -1) is gone: the BufReader and the pipe are dropped.
    let status = wait_child(&mut child, Duration::from_secs(5)).expect("sshfwd kept reading after its reader left");
    // ssh's: the remote `yes` dies of SIGPIPE, which is no exit status.
    assert_eq!(status.code(), Some(255));
    assert!(
        eventually(Duration::from_secs(5), || !sshd
            .session_pids()
            .iter()
            .any(|pid| { fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == "yes") })),
        "the remote yes runs on"
    );

    // broken-pipe: a command that finishes keeps its status.
    let mut child = raw_command(&sshd.sshfwd().command(["echo", "1"])).spawn().unwrap();
    drop(child.stdout.take());
    assert_eq!(wait_child(&mut child, RUN).and_then(|s| s.code()), Some(0));
}

#[test]
fn send_env_and_set_env_reach_the_command() {
    let sshd = Sshd::start_with(SshdOptions { extra: vec!["AcceptEnv _XXX_*".into()], ..SshdOptions::default() });
    let print = ["echo", "A=$_XXX_TEST_A", "B=$_XXX_TEST_B", "C=$_XXX_OTHER"];
    let base = || sshd.sshfwd().env("_XXX_TEST_A", "1").env("_XXX_OTHER", "3").command(print);
    let out = base().run(RUN);
    assert_exit(&out, 0);
    assert_eq!(out.stdout, "A= B= C=\n");
    let out = base().opt("SendEnv=_XXX_TEST_*").opt("SetEnv=_XXX_TEST_B=2 _XXX_TEST_B=22").run(RUN);
    assert_exit(&out, 0);
    assert_eq!(out.stdout, "A=1 B=2 C=\n");
    // `-pattern` removes the patterns it matches, as ssh's rm_env.
    let out = base().opt("SendEnv=_XXX_TEST_A _XXX_OTHER").opt("SendEnv=-_XXX_O*").run(RUN);
    assert_eq!(out.stdout, "A=1 B= C=\n");
}

#[test]
fn remote_command_runs_without_a_command_line_one() {
    let sshd = Sshd::start();
    let out = sshd.sshfwd().opt("RemoteCommand=echo remote %p").run(RUN);
    assert_exit(&out, 0);
    assert_eq!(out.stdout, format!("remote {}\n", sshd.port()));
    let out = sshd.sshfwd().opt("RemoteCommand=echo remote").command(["true"]).run(RUN);
    assert_exit(&out, 255);
    assert!(out.stderr.contains("Cannot execute command-line and remote command."), "{}", out.stderr);
}

#[test]
fn local_command_runs_only_when_permitted() {
    let sshd = Sshd::start();
    let with = |permit: &str| {
        sshd.sshfwd()
            .opt(format!("PermitLocalCommand={permit}"))
            .opt("LocalCommand=echo local %n %T")
            .command(["echo", "remote"])
            .run(RUN)
    };
    let out = with("yes");
    assert_exit(&out, 0);
    assert_eq!(out.stdout, "local 127.0.0.1 NONE\nremote\n");
    let out = with("no");
    assert_exit(&out, 0);
    assert_eq!(out.stdout, "remote\n");
}

#[test]
fn public_key_file_signs_through_the_agent() {
    let sshd = Sshd::start();
    let key = sshd.add_client_key("only_in_agent", KeyType::Ed25519, "");
    let agent = Agent::start(sshd.dir());
    agent.add(&key);
    fs::remove_file(&key).unwrap();
    let mut b = sshd.sshfwd().env("SSH_AUTH_SOCK", agent.sock()).command(["echo", "in"]);
    b.identities = vec![sshd::pub_path(&key)];
    let out = b.run(RUN);
    assert_exit(&out, 0);
    assert_eq!(out.stdout, "in\n");
}

#[test]
fn agent_forwarding_reaches_the_local_agent_only_when_asked() {
    let sshd = Sshd::start();
    let key = sshd.add_client_key("forwarded", KeyType::Ed25519, "");
    let agent = Agent::start(sshd.dir());
    agent.add(&key);
    let list = |flags: &[&str]| {
        sshd.sshfwd().env("SSH_AUTH_SOCK", agent.sock()).args(flags).command(["ssh-add", "-l"]).run(RUN)
    };
    let out = list(&["-A"]);
    assert_exit(&out, 0);
    assert!(out.stdout.contains("ED25519"), "{out:?}");
    // Without -A the server has no agent to offer: ssh-add says so (2).
    let out = list(&[]);
    assert_exit(&out, 2);
    let out = list(&["-A", "-a"]);
    assert_exit(&out, 2);
}

/// The `-o` options and key the sftp/scp tests pass through to sshfwd.
fn passthrough(sshd: &Sshd) -> Vec<String> {
    let b = sshd.sshfwd();
    let mut args = vec!["-F".to_string(), b.config.unwrap().display().to_string()];
    args.extend(["-i".to_string(), sshd.client_key().display().to_string()]);
    for option in [
        "IdentitiesOnly=yes".to_string(),
        "StrictHostKeyChecking=yes".to_string(),
        format!("UserKnownHostsFile={}", b.known_hosts.unwrap().display()),
        "GlobalKnownHostsFile=/dev/null".to_string(),
    ] {
        args.extend(["-o".to_string(), option]);
    }
    args
}

/// An sshd that serves the sftp subsystem (the harness's has none).
fn sshd_with_sftp() -> Sshd {
    let extra = vec!["Subsystem sftp /usr/lib/openssh/sftp-server".to_string()];
    Sshd::start_with(SshdOptions { extra, ..SshdOptions::default() })
}

fn run_tool(sshd: &Sshd, program: &str, args: &[String]) {
    let out = Command::new(program)
        .args(args)
        .env("HOME", sshd.home())
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write_source(dir: &Path) -> (std::path::PathBuf, Vec<u8>) {
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let source = dir.join("source.bin");
    fs::write(&source, &data).unwrap();
    (source, data)
}

#[test]
fn sftp_runs_over_sshfwd() {
    let sshd = sshd_with_sftp();
    let (source, data) = write_source(sshd.dir());
    let target = sshd.dir().join("by-sftp.bin");
    let batch = sshd.dir().join("batch");
    fs::write(&batch, format!("put {} {}\n", source.display(), target.display())).unwrap();
    let mut args = vec!["-S".to_string(), env!("CARGO_BIN_EXE_sshfwd").to_string()];
    args.extend(passthrough(&sshd));
    args.extend(["-P".to_string(), sshd.port().to_string(), "-b".to_string(), batch.display().to_string()]);
    args.push("127.0.0.1".to_string());
    run_tool(&sshd, "sftp", &args);
    assert_eq!(fs::read(&target).unwrap(), data);
}

#[test]
fn scp_runs_over_sshfwd_in_both_modes() {
    let sshd = sshd_with_sftp();
    let (source, data) = write_source(sshd.dir());
    for mode in ["-s", "-O"] {
        let target = sshd.dir().join(format!("by-scp{mode}.bin"));
        let mut args = vec![mode.to_string(), "-S".to_string(), env!("CARGO_BIN_EXE_sshfwd").to_string()];
        args.extend(passthrough(&sshd));
        args.extend(["-P".to_string(), sshd.port().to_string()]);
        args.extend([source.display().to_string(), format!("127.0.0.1:{}", target.display())]);
        run_tool(&sshd, "scp", &args);
        assert_eq!(fs::read(&target).unwrap(), data, "scp {mode}");
    }
}
