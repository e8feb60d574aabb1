//! Harness: an in-process sshfwd-server on 127.0.0.1 with a temp dir, a
//! client key made by ssh-keygen, OpenSSH clients run against it, and TCP
//! targets to forward to. Every wait is bounded; child processes are killed
//! by PID when dropped; temp dirs go away with the harness.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sshfwd_server::{serve, AuthorizedKeys, CancellationToken, ServerConfig};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

/// Bound on any single wait in these tests.
pub const WAIT: Duration = Duration::from_secs(30);

pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("sshfwd_server=debug"))
        .with_test_writer()
        .try_init();
}

/// OpenSSH client options that keep a client to itself: no config file, no
/// global known hosts, no prompts, no agent, only the identities given.
pub const ISOLATED_CLIENT: &[&str] = &[
    "-F",
    "/dev/null",
    "-o",
    "GlobalKnownHostsFile=/dev/null",
    "-o",
    "BatchMode=yes",
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "IdentityAgent=none",
];

/// `ssh args…`, stdin closed, stderr as given, killed on drop.
pub fn spawn_ssh<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>, stderr: Stdio) -> Child {
    Command::new("ssh")
        .args(args)
        .stdin(Stdio::null())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .expect("ssh (openssh-client) must be installed")
}

/// A running server and its files.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub key: PathBuf,
    pub sftp_root: PathBuf,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<Result<(), sshfwd_server::ServerError>>,
}

impl Harness {
    /// Starts a server whose authorized_keys holds the client key with
    /// `options` in front of it ("" for none).
    pub async fn start(options: &str) -> Harness {
        Self::start_with(options, |_| {}).await
    }

    pub async fn start_with(options: &str, adjust: impl FnOnce(&mut ServerConfig)) -> Harness {
        init_logging();
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id_ed25519");
        let status = std::process::Command::new("ssh-keygen")
            .args(["-q", "-N", "", "-t", "ed25519", "-f"])
            .arg(&key)
            .status()
            .expect("ssh-keygen (openssh-client) must be installed");
        assert!(status.success());
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        let line = if options.is_empty() { public } else { format!("{options} {public}") };
        let ak_path = dir.path().join("authorized_keys");
        std::fs::write(&ak_path, &line).unwrap();
        let sftp_root = dir.path().join("root");
        std::fs::create_dir(&sftp_root).unwrap();

        let mut config = ServerConfig::new(sshfwd_server::generate_host_key().unwrap());
        config.authorized_keys = AuthorizedKeys::load(&ak_path).unwrap();
        assert_eq!(config.authorized_keys.entries().len(), 1, "{line}");
        config.sftp_root = Some(sftp_root.clone());
        adjust(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(serve(config, listener, shutdown.clone()));
        Harness { dir, port, key, sftp_root, shutdown, server }
    }

    /// OpenSSH client options for this server (`port_flag` is `-p` for ssh,
    /// `-P` for sftp).
    pub fn client_options(&self, port_flag: &str) -> Vec<String> {
        let mut args: Vec<String> =
            ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10"]
                .iter()
                .chain(ISOLATED_CLIENT)
                .map(|s| s.to_string())
                .collect();
        args.push("-i".into());
        args.push(self.key.display().to_string());
        args.push(port_flag.into());
        args.push(self.port.to_string());
        args
    }

    /// `ssh [options] extra... 127.0.0.1 [command...]`, stdin closed, output piped.
    pub fn ssh(&self, extra: &[&str], command: &[&str]) -> Child {
        let mut cmd = Command::new("ssh");
        cmd.args(self.client_options("-p"))
            .args(extra)
            .arg("127.0.0.1")
            .args(command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd.spawn().expect("ssh (openssh-client) must be installed")
    }

    /// A new directory `local` in the temp dir, for the client's files.
    pub fn client_dir(&self) -> PathBuf {
        let dir = self.dir.path().join("local");
        std::fs::create_dir(&dir).unwrap();
        dir
    }

    /// Runs `sftp -b batch` with `batch` as the batch file, in `cwd`;
    /// returns (success, stdout+stderr).
    pub async fn sftp(&self, batch: &str, cwd: &Path) -> (bool, String) {
        let batch_path = self.dir.path().join("batch");
        std::fs::write(&batch_path, batch).unwrap();
        let mut cmd = Command::new("sftp");
        cmd.args(self.client_options("-P")).arg("-b").arg(&batch_path).arg("127.0.0.1").current_dir(cwd);
        let output = output_within(&mut cmd, "sftp timed out").await;
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output.status.success(), text)
    }

    /// Ends the client `ssh` (killed on drop), then [`Harness::stop`].
    pub async fn stop_after(self, ssh: Child) {
        drop(ssh);
        self.stop().await;
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.server).await.expect("server did not stop").unwrap().unwrap();
    }
}

/// A child's stderr, line by line.
pub type StderrLines = tokio::io::Lines<BufReader<tokio::process::ChildStderr>>;

/// Runs `cmd` (stdin closed) to its end, for at most [`WAIT`] (else a
/// panic with `timed_out`); its output.
pub async fn output_within(cmd: &mut Command, timed_out: &str) -> std::process::Output {
    let output = cmd.stdin(Stdio::null()).kill_on_drop(true).output();
    tokio::time::timeout(WAIT, output).await.expect(timed_out).unwrap()
}

/// Waits for a child with a bound, killing it if the bound passes.
/// Returns (exit code, stderr).
pub async fn finish(mut child: Child) -> (Option<i32>, String) {
    let mut stderr = child.stderr.take().unwrap();
    let mut text = String::new();
    let result = tokio::time::timeout(WAIT, async {
        let _ = stderr.read_to_string(&mut text).await;
        child.wait().await
    })
    .await;
    match result {
        Ok(status) => (status.unwrap().code(), text),
        Err(_) => {
            let _ = child.kill().await;
            panic!("child did not exit within {WAIT:?}; stderr so far: {text}");
        }
    }
}

/// [`finish`]es `child`: it must exit with `code`, `needle` in its stderr
/// (failure messages start with `what`).
pub async fn expect_exit(child: Child, code: i32, needle: &str, what: &str) {
    let (got, stderr) = finish(child).await;
    assert_eq!(got, Some(code), "{what}: {stderr}");
    assert!(stderr.contains(needle), "{what}: {stderr}");
}

/// Reads a child's stderr lines until one contains `needle`; returns that
/// line and the lines read so far. The reader is handed back for more.
pub async fn stderr_line(lines: &mut StderrLines, needle: &str) -> Result<String, String> {
    match stderr_until(lines, needle).await {
        (Some(line), _) => Ok(line),
        (None, seen) => Err(seen),
    }
}

/// Reads a child's stderr lines (for at most [`WAIT`]) until one contains
/// `needle`; returns that line (None if none came) and all the lines read,
/// that one included.
pub async fn stderr_until(lines: &mut StderrLines, needle: &str) -> (Option<String>, String) {
    let mut seen = String::new();
    let found = tokio::time::timeout(WAIT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains(needle) {
                return Some(line);
            }
        }
        None
    })
    .await;
    (found.ok().flatten(), seen)
}

/// The port of ssh's "Allocated port N for remote forward to host:port".
pub async fn allocated_port(lines: &mut StderrLines) -> u16 {
    let line = stderr_line(lines, "Allocated port").await.expect("no allocated port message");
    line.split_whitespace().nth(2).and_then(|p| p.parse().ok()).expect(&line)
}

pub fn stderr_lines(child: &mut Child) -> StderrLines {
    BufReader::new(child.stderr.take().unwrap()).lines()
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Polls until a TCP connection to `addr` succeeds (a forward is up), with
/// a bounded number of attempts. The probe connection is closed at once.
pub async fn wait_listening(addr: SocketAddr) {
    assert!(poll_connect(addr, true).await, "nothing listens on {addr}");
}

/// Polls until connecting to `addr` is refused (a listener is gone).
pub async fn wait_closed(addr: SocketAddr) {
    assert!(poll_connect(addr, false).await, "{addr} still accepts connections");
}

/// Tries to connect to `addr` every 50 ms, 300 times at most, until the
/// attempt succeeds (`accepts`) or is refused (not `accepts`); false if
/// that never happened.
async fn poll_connect(addr: SocketAddr, accepts: bool) -> bool {
    for _ in 0..300 {
        if TcpStream::connect(addr).await.is_ok() == accepts {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// A TCP server on 127.0.0.1 that echoes every connection and, once the
/// client has sent EOF, appends `TRAILER` and closes: a client that half-
/// closes must still receive everything.
pub struct EchoTarget {
    pub addr: SocketAddr,
    /// Connections accepted so far.
    pub accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

pub const TRAILER: &[u8] = b"\n-- end of echo --\n";

impl EchoTarget {
    pub async fn start() -> EchoTarget {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let (mut read, mut write) = socket.into_split();
                    if tokio::io::copy(&mut read, &mut write).await.is_ok() {
                        let _ = write.write_all(TRAILER).await;
                        let _ = write.shutdown().await;
                    }
                });
            }
        });
        EchoTarget { addr, accepted, task }
    }
}

impl Drop for EchoTarget {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Deterministic test data.
pub fn pattern(len: usize) -> Vec<u8> {
    let mut state: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as u8
        })
        .collect()
}

/// Sends `data` to `addr`, half-closes, and reads until the peer closes.
pub async fn exchange(addr: SocketAddr, data: &[u8]) -> Vec<u8> {
    let stream = tokio::time::timeout(WAIT, TcpStream::connect(addr)).await.expect("connect timed out").unwrap();
    let (mut read, mut write) = stream.into_split();
    let data = data.to_vec();
    let writer = tokio::spawn(async move {
        write.write_all(&data).await.unwrap();
        write.shutdown().await.unwrap();
        write
    });
    let mut received = Vec::new();
    tokio::time::timeout(WAIT, read.read_to_end(&mut received)).await.expect("read timed out").unwrap();
    let _write = tokio::time::timeout(WAIT, writer).await.expect("write timed out").unwrap();
    received
}

/// [`exchange`] of `data` with an [`EchoTarget`] at `addr`: the data comes
/// back, then [`TRAILER`].
pub async fn expect_echo(addr: SocketAddr, data: &[u8]) {
    assert_eq!(exchange(addr, data).await, [data, TRAILER].concat());
}

/// Connects to `addr` and reads until EOF or reset; the bytes received.
pub async fn read_all(addr: SocketAddr) -> Vec<u8> {
    let mut stream = tokio::time::timeout(WAIT, TcpStream::connect(addr)).await.expect("connect timed out").unwrap();
    let mut received = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut received)).await.expect("read timed out");
    received
}

/// Awaits `future` for at most [`WAIT`].
pub async fn bounded<F: std::future::Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(WAIT, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what} timed out after {WAIT:?}"),
    }
}
