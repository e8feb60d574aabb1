//! sshfwd-server against OpenSSH's `ssh` and `sftp`.

mod util;

// Floods and bad input: one binary with the rest (tests/hostile/ is not
// a test target of its own).
#[path = "hostile/mod.rs"]
mod hostile;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use util::*;

const BULK: usize = 4 * 1024 * 1024;

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A target that sends a greeting, closes its sending side, then reads what
/// the client sends until EOF and reports the byte count: the server must
/// pass the target's FIN on as channel EOF and keep the other way open.
async fn greeting_target() -> (SocketAddr, tokio::sync::oneshot::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        // Probe connections from wait_listening come first and send nothing.
        let mut tx = Some(tx);
        while let Ok((socket, _)) = listener.accept().await {
            let (mut read, mut write) = socket.into_split();
            bounded("greeting", write.write_all(b"hello, then silence\n")).await.unwrap();
            bounded("shutdown", write.shutdown()).await.unwrap();
            let mut got = Vec::new();
            let _ = read.read_to_end(&mut got).await;
            if !got.is_empty() {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(got);
                }
                return;
            }
        }
    });
    (addr, rx)
}

/// Reads the greeting to EOF, then sends `data` and half-closes.
async fn greeted_exchange(addr: SocketAddr, data: &[u8]) -> Vec<u8> {
    let stream = bounded("connect", tokio::net::TcpStream::connect(addr)).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let mut greeting = Vec::new();
    tokio::time::timeout(WAIT, read.read_to_end(&mut greeting)).await.expect("greeting timed out").unwrap();
    bounded("sending after the greeting", write.write_all(data)).await.unwrap();
    bounded("shutdown", write.shutdown()).await.unwrap();
    greeting
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_forward_moves_data_both_ways_with_half_close() {
    let server = Harness::start("").await;
    let target = EchoTarget::start().await;
    let (greeter, greeted) = greeting_target().await;
    let port = free_port();
    let greet_port = free_port();
    let spec = format!("{port}:127.0.0.1:{}", target.addr.port());
    let greet_spec = format!("{greet_port}:127.0.0.1:{}", greeter.port());
    let ssh = server.ssh(&["-N", "-o", "ExitOnForwardFailure=yes", "-L", &spec, "-L", &greet_spec], &[]);
    wait_listening(local(port)).await;

    let data = pattern(BULK);
    let received = exchange(local(port), &data).await;
    assert_eq!(received.len(), data.len() + TRAILER.len());
    assert!(received.starts_with(&data), "echoed data differs");
    assert!(received.ends_with(TRAILER), "reply after our EOF was lost");

    // The other direction: the target closes first, we keep sending.
    wait_listening(local(greet_port)).await;
    let greeting = greeted_exchange(local(greet_port), &data).await;
    assert_eq!(greeting, b"hello, then silence\n");
    let got = tokio::time::timeout(WAIT, greeted).await.expect("target never got our data").unwrap();
    assert_eq!(got.len(), data.len());
    assert!(got == data, "data sent after the target's EOF differs");

    server.stop_after(ssh).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_forward_port_zero_moves_data_and_goes_away_with_the_session() {
    let server = Harness::start("").await;
    let target = EchoTarget::start().await;
    let spec = format!("0:127.0.0.1:{}", target.addr.port());
    let (mut ssh, _lines, port) = remote_forward(&server, &spec).await;
    let remote = local(port);

    let data = pattern(BULK);
    let received = exchange(remote, &data).await;
    assert_eq!(received.len(), data.len() + TRAILER.len());
    assert!(received.starts_with(&data), "echoed data differs");
    assert!(received.ends_with(TRAILER));
    // Several connections through one forwarding.
    expect_echo(remote, b"second").await;

    // The session ends: its listener must close.
    let pid = ssh.id().unwrap();
    ssh.kill().await.unwrap();
    let _ = bounded("ssh exit", ssh.wait()).await;
    assert_ne!(pid, 0);
    wait_closed(remote).await;
    server.stop().await;
}

/// `ssh -N -o ExitOnForwardFailure=yes -R spec` fails: exit 255, `needle`
/// in stderr.
async fn refused_remote_forward(server: &Harness, spec: &str, needle: &str) {
    let ssh = server.ssh(&["-N", "-o", "ExitOnForwardFailure=yes", "-R", spec], &[]);
    expect_exit(ssh, 255, needle, &format!("-R {spec}")).await;
}

/// A target that accepts and never reads: the window stops what the client
/// sends to it, and the connection's other channels go on, as with
/// OpenSSH's sshd (upstream russh parked the whole session on that channel's
/// full queue; vendor/russh widens windows as data is read).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_does_not_read_stalls_only_its_own_channel() {
    const MAX: usize = 256 << 20;
    let server = Harness::start("").await;
    let echo = EchoTarget::start().await;
    let deaf = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let deaf_port = deaf.local_addr().unwrap().port();
    // What the deaf target accepts is kept open, unread.
    let held = tokio::spawn(async move {
        let mut kept = Vec::new();
        while let Ok((socket, _)) = deaf.accept().await {
            kept.push(socket);
        }
    });
    let (port, echo_port) = (free_port(), free_port());
    let spec = format!("{port}:127.0.0.1:{deaf_port}");
    let echo_spec = format!("{echo_port}:127.0.0.1:{}", echo.addr.port());
    let ssh = server.ssh(&["-N", "-L", &spec, "-L", &echo_spec], &[]);
    wait_listening(local(port)).await;
    wait_listening(local(echo_port)).await;

    let mut stream = bounded("connect", tokio::net::TcpStream::connect(local(port))).await.unwrap();
    let chunk = vec![7u8; 64 * 1024];
    let mut sent = 0;
    // Until a write makes no progress for 2 s (bounded by MAX).
    while sent < MAX {
        match tokio::time::timeout(std::time::Duration::from_secs(2), stream.write_all(&chunk)).await {
            Ok(written) => written.expect("write to the deaf forwarding"),
            Err(_) => break,
        }
        sent += chunk.len();
    }
    assert!(sent < MAX, "{} MiB went to a target that reads nothing", sent >> 20);
    eprintln!("deaf target: {} MiB sent before the writes stalled", sent >> 20);

    let echoed =
        tokio::time::timeout(std::time::Duration::from_secs(10), expect_echo(local(echo_port), b"still there?")).await;
    drop(stream);
    held.abort();
    assert!(echoed.is_ok(), "the echo channel stalled behind the deaf target");
    server.stop_after(ssh).await;
}

/// `ssh -N -L port:127.0.0.1:target_port`, once `port` listens.
async fn local_forward(server: &Harness, port: u16, target_port: u16) -> tokio::process::Child {
    let spec = format!("{port}:127.0.0.1:{target_port}");
    let ssh = server.ssh(&["-N", "-L", &spec], &[]);
    wait_listening(local(port)).await;
    ssh
}

/// `ssh -N -o ExitOnForwardFailure=yes -R spec` (a spec with port 0):
/// returns ssh, its stderr lines and the port allocated.
async fn remote_forward(server: &Harness, spec: &str) -> (tokio::process::Child, StderrLines, u16) {
    let mut ssh = server.ssh(&["-N", "-o", "ExitOnForwardFailure=yes", "-R", spec], &[]);
    let mut lines = stderr_lines(&mut ssh);
    let port = allocated_port(&mut lines).await;
    (ssh, lines, port)
}

/// The local addresses (hex, as the kernel prints them) of sockets
/// listening on `port`, from /proc/net/tcp and tcp6.
fn listening_addresses(port: u16) -> Vec<String> {
    let suffix = format!(":{port:04X}");
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state)) = (fields.get(1), fields.get(3)) else {
                continue;
            };
            if *state == "0A" && local.ends_with(&suffix) {
                found.push(local.trim_end_matches(&suffix).to_owned());
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_forward_loopback_only_without_gateway_ports() {
    let server = Harness::start("").await;
    // Asks for every address; gets loopback.
    wildcard_remote_forward(server, b"x", |port, listening| {
        assert!(!listening.is_empty(), "no listener found for port {port}");
        for address in listening {
            assert!(address == "0100007F" || address == "00000000000000000000000001000000", "{listening:?}");
        }
    })
    .await;
}

/// `-R *:0:…` to an echo target: `check` gets the port allocated and the
/// addresses listening on it; then `data` goes through the forwarding.
async fn wildcard_remote_forward(server: Harness, data: &[u8], check: impl FnOnce(u16, &[String])) {
    let target = EchoTarget::start().await;
    let spec = format!("*:0:127.0.0.1:{}", target.addr.port());
    let (ssh, _lines, port) = remote_forward(&server, &spec).await;
    check(port, &listening_addresses(port));
    expect_echo(local(port), data).await;
    server.stop_after(ssh).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permitopen_refuses_other_targets() {
    let allowed = EchoTarget::start().await;
    let forbidden = EchoTarget::start().await;
    let server = Harness::start(&format!("permitopen=\"127.0.0.1:{}\"", allowed.addr.port())).await;
    let (ok_port, bad_port) = (free_port(), free_port());
    let ok_spec = format!("{ok_port}:127.0.0.1:{}", allowed.addr.port());
    let bad_spec = format!("{bad_port}:127.0.0.1:{}", forbidden.addr.port());
    let mut ssh = server.ssh(&["-N", "-L", &ok_spec, "-L", &bad_spec], &[]);
    let mut lines = stderr_lines(&mut ssh);
    wait_listening(local(ok_port)).await;
    expect_echo(local(ok_port), b"fine").await;

    wait_listening(local(bad_port)).await;
    let got = read_all(local(bad_port)).await;
    assert!(got.is_empty(), "a refused forward delivered {got:?}");
    let refusal = stderr_line(&mut lines, "open failed").await.expect("ssh did not report the refusal");
    assert!(refusal.contains("administratively prohibited"), "{refusal}");
    assert_eq!(forbidden.accepted.load(Ordering::SeqCst), 0, "the forbidden target was connected to");
    server.stop_after(ssh).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permitlisten_refuses_other_listeners() {
    let target = EchoTarget::start().await;
    // sshd's reading: `localhost` is what OpenSSH sends without a bind address.
    let server = Harness::start("permitlisten=\"localhost:0\"").await;
    let spec = format!("0:127.0.0.1:{}", target.addr.port());
    // The permitted forward works.
    let (ssh, _lines, _port) = remote_forward(&server, &spec).await;
    drop(ssh);

    for forbidden in [
        format!("{}:127.0.0.1:{}", free_port(), target.addr.port()),
        format!("127.0.0.1:0:127.0.0.1:{}", target.addr.port()),
    ] {
        refused_remote_forward(&server, &forbidden, "remote port forwarding failed").await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restrict_disables_forwarding_and_port_forwarding_reenables_it() {
    let target = EchoTarget::start().await;
    let server = Harness::start("restrict").await;
    let spec = format!("0:127.0.0.1:{}", target.addr.port());
    refused_remote_forward(&server, &spec, "").await;
    let port = free_port();
    let ssh = local_forward(&server, port, target.addr.port()).await;
    assert!(read_all(local(port)).await.is_empty());
    assert_eq!(target.accepted.load(Ordering::SeqCst), 0);
    server.stop_after(ssh).await;

    let server = Harness::start("restrict,port-forwarding").await;
    let ssh = local_forward(&server, port, target.addr.port()).await;
    expect_echo(local(port), b"back").await;
    server.stop_after(ssh).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_option_refuses_other_client_addresses() {
    let server = Harness::start("from=\"10.0.0.*\"").await;
    expect_exit(server.ssh(&[], &["true"]), 255, "Permission denied", "from 10.0.0.*").await;
    server.stop().await;
    let server = Harness::start("from=\"127.0.0.1,!10.0.0.1\"").await;
    expect_exit(server.ssh(&[], &["true"]), 1, "", "logged in, then exec refused").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_and_shell_are_refused_with_a_message() {
    let server = Harness::start("").await;
    expect_exit(server.ssh(&[], &["true"]), 1, "shell and exec are not supported", "exec").await;
    // A shell without a pty.
    expect_exit(server.ssh(&["-T"], &[]), 1, "shell and exec are not supported", "shell").await;
    // A forced pty (-tt): its refusal is fatal to OpenSSH's client.
    expect_exit(server.ssh(&["-tt"], &[]), 255, "PTY allocation request failed", "-tt").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_upload_download_rename_remove_mkdir() {
    let server = Harness::start("").await;
    let local_dir = server.client_dir();
    let content = pattern(300 * 1024);
    std::fs::write(local_dir.join("up.bin"), &content).unwrap();
    let batch = "put up.bin\n\
                 mkdir sub\n\
                 rename up.bin sub/moved.bin\n\
                 ls sub\n\
                 get sub/moved.bin down.bin\n\
                 put up.bin gone.bin\n\
                 rm gone.bin\n\
                 mkdir empty\n\
                 rmdir empty\n";
    let (ok, output) = server.sftp(batch, &local_dir).await;
    assert!(ok, "{output}");
    let root = &server.sftp_root;
    assert_eq!(std::fs::read(root.join("sub/moved.bin")).unwrap(), content);
    assert_eq!(std::fs::read(local_dir.join("down.bin")).unwrap(), content);
    assert!(!root.join("up.bin").exists());
    assert!(!root.join("gone.bin").exists());
    assert!(!root.join("empty").exists());
    assert!(root.join("sub").is_dir());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_cannot_escape_the_root() {
    let server = Harness::start("").await;
    let local_dir = server.client_dir();
    let outside = server.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), b"secret").unwrap();
    std::fs::write(local_dir.join("payload.txt"), b"payload").unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), server.sftp_root.join("link-to-secret")).unwrap();
    std::os::unix::fs::symlink(&outside, server.sftp_root.join("link-to-outside")).unwrap();

    let attempts = [
        "get ../../etc/passwd stolen",
        "get /../outside/secret.txt stolen",
        "get link-to-secret stolen",
        "get link-to-outside/secret.txt stolen",
        "put payload.txt ../outside/planted.txt",
        "put payload.txt link-to-outside/planted.txt",
        "rename link-to-secret ../escaped",
        "cd link-to-outside",
    ];
    for attempt in attempts {
        let (ok, output) = server.sftp(&format!("{attempt}\n"), &local_dir).await;
        assert!(!ok, "{attempt} succeeded: {output}");
        assert!(!local_dir.join("stolen").exists(), "{attempt} fetched a file");
        assert!(!outside.join("planted.txt").exists(), "{attempt} wrote outside");
    }
    // Listing through the link shows no contents of the outside directory
    // (the client falls back to showing the link's own name).
    for listing in ["ls link-to-outside", "ls link-to-outside/", "ls -l link-to-outside/*"] {
        let (_, output) = server.sftp(&format!("{listing}\n"), &local_dir).await;
        assert!(!output.contains("secret.txt"), "{listing}: {output}");
    }
    assert!(server.dir.path().join("outside/secret.txt").exists());
    assert!(server.sftp_root.join("link-to-secret").exists() || server.sftp_root.join("link-to-secret").is_symlink());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_ports_let_the_client_choose_the_wildcard_address() {
    let server = Harness::start_with("", |config| config.gateway_ports = true).await;
    wildcard_remote_forward(server, b"gw", |_, listening| {
        // Both families: [::]:P must not collide with 0.0.0.0:P (IPV6_V6ONLY).
        let mut listening = listening.to_vec();
        listening.sort();
        assert_eq!(listening, ["00000000", "00000000000000000000000000000000"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_authentication_only_when_configured() {
    let server = Harness::start_with("", |config| {
        let mut passwords = sshfwd_server::Passwords::default();
        passwords.insert("alice", "correct horse");
        config.passwords = Some(passwords);
    })
    .await;
    let without = Harness::start("").await;
    let askpass = |dir: &std::path::Path, password: &str| {
        let path = dir.join(format!("askpass-{}", password.len()));
        std::fs::write(&path, format!("#!/bin/sh\necho '{password}'\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    };
    let run = |port: u16, user: &str, script: std::path::PathBuf| {
        let mut cmd = tokio::process::Command::new("ssh");
        cmd.args(["-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"])
            .args(["-o", "BatchMode=no", "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password"])
            .args(["-o", "NumberOfPasswordPrompts=1", "-o", "LogLevel=ERROR", "-p", &port.to_string()])
            .arg(format!("{user}@127.0.0.1"))
            .arg("true")
            .env("SSH_ASKPASS", script)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", ":0")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        cmd.spawn().unwrap()
    };
    let good = askpass(server.dir.path(), "correct horse");
    let bad = askpass(server.dir.path(), "wrong");
    // Logged in (then exec is refused: exit 1).
    expect_exit(run(server.port, "alice", good.clone()), 1, "shell and exec are not supported", "right password").await;
    expect_exit(run(server.port, "alice", bad), 255, "Permission denied", "wrong password").await;
    // Not offered at all without a password list.
    expect_exit(run(without.port, "alice", good), 255, "Permission denied (publickey)", "no password list").await;
    server.stop().await;
    without.stop().await;
}

/// Runs the binary until its log says it listens; returns the child, the
/// port and the log lines so far.
async fn start_binary(args: &[&str]) -> (tokio::process::Child, u16, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sshfwd-server"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = stderr_lines(&mut child);
    let (found, log) = stderr_until(&mut lines, "Server listening on").await;
    let port = found.and_then(|line| line.trim_end_matches('.').rsplit(' ').next().and_then(|p| p.parse::<u16>().ok()));
    let Some(port) = port else { panic!("the binary did not start: {log}") };
    // Keep draining stderr so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, port, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_generates_its_host_key_prints_the_fingerprint_and_stops_on_sigterm() {
    let server = Harness::start("").await; // for its key and temp dir
    let dir = server.dir.path();
    let host_key = dir.join("host_key");
    let ak = dir.join("authorized_keys");
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--host-key",
        host_key.to_str().unwrap(),
        "--authorized-keys",
        ak.to_str().unwrap(),
    ];
    let (mut child, port, log) = start_binary(&args).await;
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&host_key).unwrap().permissions().mode() & 0o777, 0o600);
    let keygen = std::process::Command::new("ssh-keygen").arg("-lf").arg(&host_key).output().unwrap();
    let keygen = String::from_utf8_lossy(&keygen.stdout).to_string();
    let sha = keygen.split_whitespace().nth(1).unwrap().to_owned();
    assert!(sha.starts_with("SHA256:"), "{keygen}");
    assert!(log.contains(&format!("Server host key: ssh-ed25519 {sha}")), "{log}\n{keygen}");

    // It serves: a forward through it works.
    let target = EchoTarget::start().await;
    let lport = free_port();
    let spec = format!("{lport}:127.0.0.1:{}", target.addr.port());
    // The harness's client options without its port (ssh keeps the first -p).
    let mut options = server.client_options("-p");
    options.truncate(options.len() - 2);
    let port_arg = port.to_string();
    let ssh = spawn_ssh(
        options.iter().map(String::as_str).chain(["-p", &port_arg, "-N", "-L", &spec, "127.0.0.1"]),
        std::process::Stdio::null(),
    );
    wait_listening(local(lport)).await;
    expect_echo(local(lport), b"binary").await;
    drop(ssh);

    // SIGTERM, by PID: a clean exit.
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::time::timeout(WAIT, child.wait()).await.expect("no exit after SIGTERM").unwrap();
    assert!(status.success(), "{status:?}");

    // Second run: the same key is read back, not regenerated.
    let (child, _, log2) = start_binary(&args).await;
    assert!(log2.contains(&format!("Server host key: ssh-ed25519 {sha}")), "{log2}");
    assert!(!log2.contains("Generated host key"), "{log2}");
    drop(child);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_reports_authorized_keys_errors_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let ak = dir.path().join("ak");
    std::fs::write(&ak, "# keys\nssh-ed25519 not-base64!\n").unwrap();
    let output = output_within(
        tokio::process::Command::new(env!("CARGO_BIN_EXE_sshfwd-server")).args([
            "--listen",
            "127.0.0.1:0",
            "--authorized-keys",
            ak.to_str().unwrap(),
        ]),
        "the binary did not exit",
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("sshfwd-server: {}:2: bad ssh-ed25519 key", ak.display())), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_tcpip_forward_closes_the_listener_but_not_its_connections() {
    let server = Harness::start("").await;
    let target = EchoTarget::start().await;
    let socket = server.dir.path().join("cm");
    let control = format!("ControlPath={}", socket.display());
    let mut options = server.client_options("-p");
    options.extend(["-o".to_owned(), control]);
    let master = spawn_ssh(
        options.iter().map(String::as_str).chain(["-M", "-N", "-o", "ControlPersist=no", "127.0.0.1"]),
        std::process::Stdio::null(),
    );
    let mux = |args: Vec<String>| {
        let options = options.clone();
        async move {
            let output = output_within(
                tokio::process::Command::new("ssh").args(&options).args(&args).arg("127.0.0.1"),
                "ssh -O timed out",
            )
            .await;
            (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
        }
    };
    let mut ready = false;
    for _ in 0..300 {
        if mux(vec!["-O".into(), "check".into()]).await.0 {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(ready, "the control master never came up");

    let port = free_port();
    let spec = format!("{port}:127.0.0.1:{}", target.addr.port());
    let (ok, stderr) = mux(vec!["-O".into(), "forward".into(), "-R".into(), spec.clone()]).await;
    assert!(ok, "{stderr}");
    wait_listening(local(port)).await;

    let mut stream = bounded("connect", tokio::net::TcpStream::connect(local(port))).await.unwrap();
    bounded("write", stream.write_all(b"first")).await.unwrap();
    let mut echo = [0u8; 5];
    tokio::time::timeout(WAIT, stream.read_exact(&mut echo)).await.expect("no echo").unwrap();
    assert_eq!(&echo, b"first");

    let (ok, stderr) = mux(vec!["-O".into(), "cancel".into(), "-R".into(), spec]).await;
    assert!(ok, "{stderr}");
    wait_closed(local(port)).await;

    // The connection accepted before the cancel goes on.
    bounded("write", stream.write_all(b"second")).await.unwrap();
    bounded("shutdown", stream.shutdown()).await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut rest)).await.expect("no reply").unwrap();
    assert_eq!(rest, [b"second".as_slice(), TRAILER].concat());

    drop(master);
    server.stop().await;
}

/// Connects to the server at `port` and sends nothing: what it got until
/// the server ended the connection (EOF or reset), which must happen within
/// [`WAIT`] (else a panic with `stayed_open`).
async fn silent_connection(port: u16, stayed_open: &str) -> Vec<u8> {
    let mut stream = bounded("connect", tokio::net::TcpStream::connect(local(port))).await.unwrap();
    let mut received = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut received)).await.expect(stayed_open);
    received
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_unauthenticated_connections_are_dropped_after_the_grace_time() {
    let server = Harness::start_with("", |config| config.login_grace_time = std::time::Duration::from_secs(1)).await;
    // Ends (EOF or reset) once the grace time is over; bounded by WAIT.
    let banner = silent_connection(server.port, "the connection stayed open").await;
    assert!(banner.starts_with(b"SSH-2.0-sshfwd-server"), "{:?}", String::from_utf8_lossy(&banner));
    // An authenticated session outlives the grace time: a forward set up
    // now still works after it.
    let target = EchoTarget::start().await;
    let port = free_port();
    let ssh = local_forward(&server, port, target.addr.port()).await;
    let mut probe = bounded("connect", tokio::net::TcpStream::connect(local(port))).await.unwrap();
    bounded("write", probe.write_all(b"x")).await.unwrap();
    let mut one = [0u8; 1];
    bounded("echo", probe.read_exact(&mut one)).await.unwrap();
    // Hold until the grace time has surely passed, observed through the
    // server's clock-independent behaviour: a second silent connection is dropped.
    silent_connection(server.port, "second silent connection stayed open").await;
    expect_echo(local(port), b"later").await;
    server.stop_after(ssh).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_target_is_reported_as_connect_failed() {
    let server = Harness::start("").await;
    let closed = free_port(); // nothing listens there
    let port = free_port();
    let mut ssh = local_forward(&server, port, closed).await;
    let mut lines = stderr_lines(&mut ssh);
    assert!(read_all(local(port)).await.is_empty());
    let failure = stderr_line(&mut lines, "open failed").await.expect("ssh did not report the failure");
    assert!(failure.contains("connect failed"), "{failure}");
    server.stop_after(ssh).await;
}
