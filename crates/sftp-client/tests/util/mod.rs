//! Real peers for the tests: OpenSSH's sftp-server on a pipe, and test data.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sftp_client::{Config, SftpSession};
use sha2::{Digest, Sha256};
use tokio::io::Join;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

pub const SFTP_SERVER: &str = "/usr/lib/openssh/sftp-server";

/// The bound on any single step of a test: no test waits forever.
pub const STEP: Duration = Duration::from_secs(60);

/// A running sftp-server and a session on its stdin/stdout.
pub struct Server {
    pub session: SftpSession,
    pub child: Child,
}

pub type Pipe = Join<ChildStdout, ChildStdin>;

/// Starts `command` (an sftp-server, perhaps wrapped) and returns its pipe.
pub fn spawn(mut command: Command) -> (Child, Pipe) {
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit()).kill_on_drop(true);
    let mut child = command.spawn().expect("start sftp-server (package openssh-sftp-server)");
    let stdout = child.stdout.take().unwrap();
    let stdin = child.stdin.take().unwrap();
    (child, tokio::io::join(stdout, stdin))
}

/// OpenSSH's sftp-server with `dir` as its start directory.
pub fn sftp_server(dir: &Path) -> Command {
    let mut command = Command::new(SFTP_SERVER);
    command.arg("-d").arg(dir);
    command
}

pub async fn open(command: Command, config: Config) -> Server {
    let (child, pipe) = spawn(command);
    let session = tokio::time::timeout(STEP, SftpSession::open(pipe, config)).await.unwrap().unwrap();
    Server { session, child }
}

/// Whether the tests run as root, who passes every permission check.
pub fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status.lines().any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(1) == Some("0"))
}

/// A temporary directory that any user may enter (the server may run as nobody).
pub fn temp_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
    (dir, path)
}

/// Deterministic bytes that no chunk boundary lines up with (xorshift).
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
