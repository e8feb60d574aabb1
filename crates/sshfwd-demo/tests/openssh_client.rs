//! The demo's servers as OpenSSH's client sees them: the generated client
//! key, the known_hosts line under StrictHostKeyChecking=yes, and the FTP
//! server reached over a direct-tcpip channel (`ssh -W`).

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Bound on the whole exchange; it takes well under a second.
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssh_trusts_the_generated_keys_and_reaches_the_ftp_server() {
    let servers = sshfwd_demo::start().await.unwrap();
    let ssh = &servers.ssh;
    let mut child = Command::new("ssh")
        .args(["-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none"])
        .args(["-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=/dev/null"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", ssh.known_hosts.display()))
        .arg("-i")
        .arg(&ssh.client_key)
        .args(["-p", &ssh.address.port().to_string(), "-W", &servers.ftp.to_string()])
        .arg(format!("demo@{}", ssh.address.ip()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("OpenSSH's ssh client is installed");
    // The server answers QUIT after its greeting and closes the connection,
    // which ends the channel and the client.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"QUIT\r\n").await.unwrap();
    let out = tokio::time::timeout(WAIT, child.wait_with_output()).await.expect("ssh -W timed out").unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ssh failed: {:?}\nstdout: {stdout}\nstderr: {stderr}", out.status);
    assert!(stdout.starts_with("220 sshfwd demo FTP server"), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("\n221"), "no reply to QUIT: {stdout}");
    drop(stdin);
    servers.stop().await;
}
