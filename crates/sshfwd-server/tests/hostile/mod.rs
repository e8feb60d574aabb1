//! Hostile load (issue 13): floods from one source never stop another
//! source's login. Sources are loopback addresses 127.0.0.2–127.0.0.9;
//! every flood is bounded in count and time.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

use crate::util::*;

/// What the issue allows a legitimate login under a flood.
const LOGIN_BOUND: Duration = Duration::from_secs(2);

/// Enough descriptors for a thousand connections in this process (the
/// flood's ends and the server's).
fn raise_open_file_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
}

async fn connect_from(source: Ipv4Addr, port: u16) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    socket.connect(SocketAddr::from(([127, 0, 0, 1], port))).await
}

/// A key login from 127.0.0.1 with OpenSSH's ssh: how long until it is
/// authenticated.
async fn legitimate_login(server: &Harness) -> Duration {
    let started = Instant::now();
    let mut ssh = server.ssh(&["-v", "-N"], &[]);
    let mut lines = BufReader::new(ssh.stderr.take().unwrap()).lines();
    let authenticated = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("Authenticated to") {
                return true;
            }
        }
        false
    };
    let done = bounded("a legitimate login", authenticated).await;
    let took = started.elapsed();
    assert!(done, "the legitimate login failed");
    took
}

/// 1,000 idle connections from 127.0.0.2 hold no place a login from
/// 127.0.0.1 needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_connections_from_one_source_do_not_lock_out_another() {
    raise_open_file_limit();
    let server = Harness::start("").await;
    let mut flood = Vec::new();
    for _ in 0..1000 {
        if let Ok(stream) = connect_from(Ipv4Addr::new(127, 0, 0, 2), server.port).await {
            flood.push(stream);
        }
    }
    let took = legitimate_login(&server).await;
    eprintln!("login under 1,000 idle connections from another source: {took:?}");
    assert!(took < LOGIN_BOUND, "the login took {took:?}");
    drop(flood);
    server.stop().await;
}

/// 500 connections from 127.0.0.4 sending their version string a byte a
/// second: at most 10 are kept; a login from 127.0.0.1 goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_version_strings_do_not_lock_out_another_source() {
    raise_open_file_limit();
    let server = Harness::start("").await;
    let kept = Arc::new(AtomicUsize::new(0));
    let mut flood = tokio::task::JoinSet::new();
    for _ in 0..500 {
        let (port, kept) = (server.port, kept.clone());
        flood.spawn(async move {
            let Ok(mut stream) = connect_from(Ipv4Addr::new(127, 0, 0, 4), port).await else { return };
            let mut sent = 0;
            for byte in b"SSH-2.0-slow" {
                if stream.write_all(&[*byte]).await.is_err() {
                    break;
                }
                sent += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            if sent > 3 {
                kept.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // let the flood arrive before the login
    let took = legitimate_login(&server).await;
    eprintln!("login under 500 slowloris connections: {took:?}");
    assert!(took < LOGIN_BOUND, "the login took {took:?}");
    flood.abort_all();
    while flood.join_next().await.is_some() {}
    server.stop().await;
}

/// 20 parallel password guessers from 127.0.0.3 for 60 s (the issue's
/// run): their source is
/// penalised after a few failures (its connections dropped before the
/// banner), and a key login from 127.0.0.1 still goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_guessers_are_penalised_and_others_still_log_in() {
    let server = Harness::start_with("", |config| {
        let path = std::env::temp_dir().join(format!("sshfwd-hostile-pw-{}", std::process::id()));
        std::fs::write(&path, "ann:right\n").unwrap();
        config.passwords = Some(sshfwd_server::Passwords::load(&path).unwrap());
        let _ = std::fs::remove_file(&path);
    })
    .await;
    let askpass = server.dir.path().join("askpass");
    std::fs::write(&askpass, "#!/bin/sh\necho wrong\n").unwrap();
    std::fs::set_permissions(&askpass, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (runs, prompted) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    const GUESSING: Duration = Duration::from_secs(60);
    let deadline = Instant::now() + GUESSING;
    let mut guessers = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (port, askpass, runs, prompted) = (server.port, askpass.clone(), runs.clone(), prompted.clone());
        guessers.spawn(async move {
            while Instant::now() < deadline {
                let output = tokio::process::Command::new("ssh")
                    .args(["-F", "/dev/null", "-o", "BindAddress=127.0.0.3", "-o", "StrictHostKeyChecking=no"])
                    .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "PubkeyAuthentication=no"])
                    .args(["-o", "PreferredAuthentications=password", "-o", "NumberOfPasswordPrompts=1"])
                    .args(["-o", "ConnectTimeout=5", "-p", &port.to_string(), "ann@127.0.0.1", "true"])
                    .env("SSH_ASKPASS", &askpass)
                    .env("SSH_ASKPASS_REQUIRE", "force")
                    .stdin(std::process::Stdio::null())
                    .kill_on_drop(true)
                    .output();
                let Ok(Ok(output)) = tokio::time::timeout(Duration::from_secs(10), output).await else { continue };
                runs.fetch_add(1, Ordering::SeqCst);
                if String::from_utf8_lossy(&output.stderr).contains("Permission denied") {
                    prompted.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(2)).await; // the guessers are under way
    let took = legitimate_login(&server).await;
    while guessers.join_next().await.is_some() {}
    let (runs, prompted) = (runs.load(Ordering::SeqCst), prompted.load(Ordering::SeqCst));
    eprintln!(
        "20 guessers for {GUESSING:?}: {runs} connections ({:.1}/s), {prompted} reached a password prompt; a login meanwhile took {took:?}",
        runs as f64 / GUESSING.as_secs_f64()
    );
    assert!(took < LOGIN_BOUND, "the login took {took:?}");
    assert!(prompted < runs / 2, "the guessers were not slowed: {prompted} of {runs} got to guess");
    server.stop().await;
}

/// Bad input before authentication ends that connection only: garbage
/// after the version exchange, a 100 KB version line, a key exchange that
/// never finishes (cut off by the login grace time), endless auth
/// requests (cut off after MaxAuthTries). Each connection is closed; a
/// login still works afterwards. Each comes from a source of its own (they
/// earn their sources penalties).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_before_authentication_ends_only_that_connection() {
    let server = Harness::start_with("", |config| config.login_grace_time = Duration::from_secs(3)).await;
    let closed = |mut stream: TcpStream| async move {
        let mut sink = vec![0u8; 65536];
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };

    let from = |last: u8| connect_from(Ipv4Addr::new(127, 0, 0, last), server.port);
    let mut garbage = from(5).await.unwrap();
    garbage.write_all(b"SSH-2.0-fuzz\r\n").await.unwrap();
    let noise: Vec<u8> = (0..65536u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let _ = garbage.write_all(&noise).await;
    bounded("garbage after the version exchange", closed(garbage)).await;

    let mut long_version = from(6).await.unwrap();
    let _ = long_version.write_all(&vec![b'A'; 100 * 1024]).await;
    bounded("a 100 KB version line", closed(long_version)).await;

    let mut stalled = from(7).await.unwrap();
    stalled.write_all(b"SSH-2.0-stalled\r\n").await.unwrap();
    let started = Instant::now();
    bounded("a key exchange that never finishes", closed(stalled)).await;
    assert!(started.elapsed() < Duration::from_secs(10), "held for {:?}", started.elapsed());

    let attempts = endless_auth_requests(from(8).await.unwrap()).await;
    assert!(attempts <= 10, "{attempts} auth requests were answered on one connection");

    let took = legitimate_login(&server).await;
    assert!(took < LOGIN_BOUND, "the login took {took:?}");
    server.stop().await;
}

struct AnyHostKey;

impl russh::client::Handler for AnyHostKey {
    type Error = russh::Error;

    async fn check_server_key(&mut self, _: &russh::keys::PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// Sends up to 10,000 password requests on `stream`; how many got an
/// answer before the server hung up.
async fn endless_auth_requests(stream: TcpStream) -> usize {
    let config = Arc::new(russh::client::Config::default());
    let mut handle = bounded("connect", russh::client::connect_stream(config, stream, AnyHostKey)).await.unwrap();
    let mut answered = 0;
    for _ in 0..10_000 {
        match bounded("an auth request", handle.authenticate_password("ann", "wrong")).await {
            Ok(_) => answered += 1,
            Err(_) => break,
        }
    }
    answered
}
