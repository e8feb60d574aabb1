//! sshfwd-server against OpenSSH's `ssh` and `sftp`.

mod util;

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
            write.write_all(b"hello, then silence\n").await.unwrap();
            write.shutdown().await.unwrap();
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
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let mut greeting = Vec::new();
    tokio::time::timeout(WAIT, read.read_to_end(&mut greeting)).await.expect("greeting timed out").unwrap();
    write.write_all(data).await.unwrap();
    write.shutdown().await.unwrap();
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

    drop(ssh);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_forward_port_zero_moves_data_and_goes_away_with_the_session() {
    let server = Harness::start("").await;
    let target = EchoTarget::start().await;
    let spec = format!("0:127.0.0.1:{}", target.addr.port());
    let mut ssh = server.ssh(&["-N", "-o", "ExitOnForwardFailure=yes", "-R", &spec], &[]);
    let mut lines = stderr_lines(&mut ssh);
    let line = stderr_line(&mut lines, "Allocated port").await.expect("no allocated port message");
    // "Allocated port N for remote forward to host:port"
    let port: u16 = line.split_whitespace().nth(2).and_then(|p| p.parse().ok()).expect(&line);
    let remote = local(port);

    let data = pattern(BULK);
    let received = exchange(remote, &data).await;
    assert_eq!(received.len(), data.len() + TRAILER.len());
    assert!(received.starts_with(&data), "echoed data differs");
    assert!(received.ends_with(TRAILER));
    // Several connections through one forwarding.
    let again = exchange(remote, b"second").await;
    assert_eq!(again, [b"second".as_slice(), TRAILER].concat());

    // The session ends: its listener must close.
    let pid = ssh.id().unwrap();
    ssh.kill().await.unwrap();
    let _ = ssh.wait().await;
    assert_ne!(pid, 0);
    wait_closed(remote).await;
    server.stop().await;
}

/// The local addresses (hex, as the kernel prints them) of sockets
/// listening on `port`, from /proc/net/tcp and tcp6.
fn listening_addresses(port: u16) -> Vec<String> {
    let suffix = format!(":{port:04X}");
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state)) = (fields.get(1), fields.get(3)) else { continue };
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
    let target = EchoTarget::start().await;
    // Asks for every address; gets loopback.
    let spec = format!("*:0:127.0.0.1:{}", target.addr.port());
    let mut ssh = server.ssh(&["-N", "-o", "ExitOnForwardFailure=yes", "-R", &spec], &[]);
    let mut lines = stderr_lines(&mut ssh);
    let line = stderr_line(&mut lines, "Allocated port").await.expect("no allocated port message");
    let port: u16 = line.split_whitespace().nth(2).and_then(|p| p.parse().ok()).expect(&line);
    let listening = listening_addresses(port);
    assert!(!listening.is_empty(), "no listener found for port {port}");
    for address in &listening {
        assert!(address == "0100007F" || address == "00000000000000000000000001000000", "{listening:?}");
    }
    assert_eq!(exchange(local(port), b"x").await, [b"x".as_slice(), TRAILER].concat());
    drop(ssh);
    server.stop().await;
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
    assert_eq!(exchange(local(ok_port), b"fine").await, [b"fine".as_slice(), TRAILER].concat());

    wait_listening(local(bad_port)).await;
    let got = read_all(local(bad_port)).await;
    assert!(got.is_empty(), "a refused forward delivered {got:?}");
    let refusal = stderr_line(&mut lines, "open failed").await.expect("ssh did not report the refusal");
    assert!(refusal.contains("administratively prohibited"), "{refusal}");
    assert_eq!(forbidden.accepted.load(Ordering::SeqCst), 0, "the forbidden target was connected to");
    drop(ssh);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permitlisten_refuses_other_listeners() {
    let target = EchoTarget::start().await;
    // sshd's reading: `localhost` is what OpenSSH sends without a bind address.
    let server = Harness::start("permitlisten=\"localhost:0\"").await;
    let spec = format!("0:127.0.0.1:{}", target.addr.port());
    let mut ssh = server.ssh(&["-N", "-o", "ExitOnForwardFailure=yes", "-R", &spec], &[]);
    let mut lines = stderr_lines(&mut ssh);
    stderr_line(&mut lines, "Allocated port").await.expect("the permitted forward failed");
    drop(ssh);

    for forbidden in [format!("{}:127.0.0.1:{}", free_port(), target.addr.port()), format!("127.0.0.1:0:127.0.0.1:{}", target.addr.port())] {
        let ssh = server.ssh(&["-N", "-o", "ExitOnForwardFailure=yes", "-R", &forbidden], &[]);
        let (code, stderr) = finish(ssh).await;
        assert_eq!(code, Some(255), "-R {forbidden}: {stderr}");
        assert!(stderr.contains("remote port forwarding failed"), "{stderr}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restrict_disables_forwarding_and_port_forwarding_reenables_it() {
    let target = EchoTarget::start().await;
    let server = Harness::start("restrict").await;
    let spec = format!("0:127.0.0.1:{}", target.addr.port());
    let (code, stderr) = finish(server.ssh(&["-N", "-o", "ExitOnForwardFailure=yes", "-R", &spec], &[])).await;
    assert_eq!(code, Some(255), "{stderr}");
    let port = free_port();
    let lspec = format!("{port}:127.0.0.1:{}", target.addr.port());
    let ssh = server.ssh(&["-N", "-L", &lspec], &[]);
    wait_listening(local(port)).await;
    assert!(read_all(local(port)).await.is_empty());
    assert_eq!(target.accepted.load(Ordering::SeqCst), 0);
    drop(ssh);
    server.stop().await;

    let server = Harness::start("restrict,port-forwarding").await;
    let ssh = server.ssh(&["-N", "-L", &lspec], &[]);
    wait_listening(local(port)).await;
    assert_eq!(exchange(local(port), b"back").await, [b"back".as_slice(), TRAILER].concat());
    drop(ssh);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_option_refuses_other_client_addresses() {
    let server = Harness::start("from=\"10.0.0.*\"").await;
    let (code, stderr) = finish(server.ssh(&[], &["true"])).await;
    assert_eq!(code, Some(255), "{stderr}");
    assert!(stderr.contains("Permission denied"), "{stderr}");
    server.stop().await;
    let server = Harness::start("from=\"127.0.0.1,!10.0.0.1\"").await;
    let (code, stderr) = finish(server.ssh(&[], &["true"])).await;
    assert_eq!(code, Some(1), "logged in, then exec refused: {stderr}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_and_shell_are_refused_with_a_message() {
    let server = Harness::start("").await;
    let (code, stderr) = finish(server.ssh(&[], &["true"])).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("shell and exec are not supported"), "{stderr}");
    // A shell without a pty.
    let (code, stderr) = finish(server.ssh(&["-T"], &[])).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("shell and exec are not supported"), "{stderr}");
    // A forced pty (-tt): its refusal is fatal to OpenSSH's client.
    let (code, stderr) = finish(server.ssh(&["-tt"], &[])).await;
    assert_eq!(code, Some(255), "{stderr}");
    assert!(stderr.contains("PTY allocation request failed"), "{stderr}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_upload_download_rename_remove_mkdir() {
    let server = Harness::start("").await;
    let local_dir = server.dir.path().join("local");
    std::fs::create_dir(&local_dir).unwrap();
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
    let local_dir = server.dir.path().join("local");
    std::fs::create_dir(&local_dir).unwrap();
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
    let target = EchoTarget::start().await;
    let spec = format!("*:0:127.0.0.1:{}", target.addr.port());
    let mut ssh = server.ssh(&["-N", "-o", "ExitOnForwardFailure=yes", "-R", &spec], &[]);
    let mut lines = stderr_lines(&mut ssh);
    let line = stderr_line(&mut lines, "Allocated port").await.expect("no allocated port message");
    let port: u16 = line.split_whitespace().nth(2).and_then(|p| p.parse().ok()).expect(&line);
    let listening = listening_addresses(port);
    assert!(
        listening.iter().any(|a| a == "00000000" || a == "00000000000000000000000000000000"),
        "{listening:?}"
    );
    assert_eq!(exchange(local(port), b"gw").await, [b"gw".as_slice(), TRAILER].concat());
    drop(ssh);
    server.stop().await;
}
