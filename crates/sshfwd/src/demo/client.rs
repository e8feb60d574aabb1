//! The demo's client side: the `-L ftp/` forward through the demo's
//! servers, built from a command line as a user would type it, the
//! self-check through it, and the instructions for real FTP clients.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

use sshfwd_demo::{Servers, SAMPLE_FILE};

use super::self_check::{self, Login};
use crate::app;
use crate::bridge::password;
use crate::cli;
use crate::settings::Settings;

/// The ports a user would try first (the forward's, the bridge's);
/// others are taken when they are busy.
const PREFERRED_PORT: u16 = 2121;
const PREFERRED_BRIDGE_PORT: u16 = 2122;

/// The SSH user, which is also the bridge's FTP user.
const USER: &str = "demo";

#[derive(Debug, thiserror::Error)]
enum DemoError {
    #[error(transparent)]
    Servers(#[from] sshfwd_demo::DemoError),
    #[error("cannot find a free local port: {0}")]
    Port(std::io::Error),
    #[error("{0}")]
    Settings(String),
    #[error("cannot write the bridge's password file: {0}")]
    Password(String),
}

/// Runs the demo; with `once`, exits after the self-check with 0 only if
/// every mode passed.
pub async fn run(once: bool) -> i32 {
    match run_demo(once).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sshfwd --demo: {e}");
            app::EXIT_FAILURE
        }
    }
}

async fn run_demo(once: bool) -> Result<i32, DemoError> {
    let servers = sshfwd_demo::start().await?;
    let code = forward_and_check(&servers, once).await;
    servers.stop().await;
    code
}

async fn forward_and_check(servers: &Servers, once: bool) -> Result<i32, DemoError> {
    let (ftp_address, root, ssh) = (servers.ftp, &servers.ftp_root, &servers.ssh);
    let forward_port = free_port(PREFERRED_PORT)?;
    let bridge_port = free_port(PREFERRED_BRIDGE_PORT)?;
    let (password, password_file) = bridge_password(&servers.client_dir)?;
    eprintln!("FTP server (libunftp):        {ftp_address}, serving {}", root.display());
    eprintln!(
        "SSH server (sshfwd-server):   {}, host key {}, SFTP serving the same directory",
        ssh.address, ssh.fingerprint
    );
    for (port, preferred, what) in
        [(forward_port, PREFERRED_PORT, "FTP forward"), (bridge_port, PREFERRED_BRIDGE_PORT, "bridge")]
    {
        if port != preferred {
            eprintln!("Port {preferred} is taken; the {what} uses port {port} instead.");
        }
    }
    eprintln!(
        "FTP forward and bridge:       sshfwd -N -L ftp/127.0.0.1:{forward_port}:{ftp_address} --ftp-to-sftp {bridge_port} \\\n                                -o FtpToSftpPasswordFile={} -p {} {USER}@127.0.0.1",
        password_file.display(),
        ssh.address.port()
    );

    let settings = forward_settings(ssh, ftp_address, forward_port, bridge_port, &password_file)?;
    let mut running = match app::start(&settings).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return Ok(app::EXIT_FAILURE);
        }
    };

    let forward = format!("127.0.0.1:{forward_port}");
    let anonymous = Login { user: "anonymous", password: "demo@sshfwd" };
    eprintln!("\nSelf-check through the FTP forward (listing, download and upload per mode, SHA-256 compared):");
    let results = self_check::run(&forward, &anonymous, root, SAMPLE_FILE).await;
    print!("{}", self_check::table(&results));
    let bridge = format!("127.0.0.1:{bridge_port}");
    eprintln!("\nSelf-check through the FTP-to-SFTP bridge (the same, served over SFTP):");
    let bridged = self_check::run(&bridge, &Login { user: USER, password: &password }, root, SAMPLE_FILE).await;
    print!("{}", self_check::table(&bridged));
    let passed = results.iter().chain(&bridged).all(|r| r.outcome.is_ok());
    println!("{}", if passed { "Self-check passed." } else { "Self-check FAILED." });
    println!("\nTry the FTP forward with your own FTP client (anonymous login, any password):");
    println!("  curl ftp://127.0.0.1:{forward_port}/{SAMPLE_FILE} -o {SAMPLE_FILE}");
    println!("  curl -T ./somefile ftp://127.0.0.1:{forward_port}/");
    println!("  lftp -p {forward_port} -u anonymous,x -e 'ls; get readme.txt; bye' 127.0.0.1");
    println!(
        "  python3 -c \"import ftplib; f=ftplib.FTP(); f.connect('127.0.0.1', {forward_port}); f.login(); f.retrlines('LIST'); f.quit()\""
    );
    println!("\nAnd the FTP-to-SFTP bridge (user {USER}, password {password}):");
    println!("  curl ftp://{USER}:{password}@127.0.0.1:{bridge_port}/{SAMPLE_FILE} -o {SAMPLE_FILE}");
    println!("  lftp -p {bridge_port} -u {USER},{password} -e 'ls; bye' 127.0.0.1");

    let code = if once {
        if passed {
            0
        } else {
            1
        }
    } else {
        println!("\nForwarding; each session and data channel is logged. Press Ctrl-C to stop.");
        app::wait(&running, &settings).await;
        0
    };
    app::stop(&mut running).await;
    Ok(code)
}

/// `preferred` when it is free, else any free port.
fn free_port(preferred: u16) -> Result<u16, DemoError> {
    if TcpListener::bind(("127.0.0.1", preferred)).is_ok() {
        return Ok(preferred);
    }
    let probe = TcpListener::bind(("127.0.0.1", 0)).map_err(DemoError::Port)?;
    Ok(probe.local_addr().map_err(DemoError::Port)?.port())
}

/// A fresh password for the bridge, in a file only its owner reads.
fn bridge_password(dir: &Path) -> Result<(String, PathBuf), DemoError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let password = password::random().map_err(|e| DemoError::Password(e.to_string()))?;
    let path = dir.join("bridge-password");
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut file| writeln!(file, "{password}"));
    written.map_err(|e| DemoError::Password(format!("{}: {e}", path.display())))?;
    Ok((password, path))
}

/// The forward's and the bridge's settings, built from a command line as a
/// user would type it, with the demo's own key and known_hosts and no user
/// configuration.
fn forward_settings(
    ssh: &sshfwd_demo::SshServer,
    ftp: SocketAddr,
    port: u16,
    bridge_port: u16,
    password_file: &Path,
) -> Result<Settings, DemoError> {
    let argv = [
        "sshfwd".to_owned(),
        "-N".into(),
        "-F".into(),
        "/dev/null".into(),
        "-i".into(),
        ssh.client_key.display().to_string(),
        "-o".into(),
        format!("UserKnownHostsFile={}", ssh.known_hosts.display()),
        "-o".into(),
        "GlobalKnownHostsFile=/dev/null".into(),
        "-o".into(),
        "StrictHostKeyChecking=yes".into(),
        "-o".into(),
        "BatchMode=yes".into(),
        "-o".into(),
        "IdentitiesOnly=yes".into(),
        "-o".into(),
        "IdentityAgent=none".into(),
        "-p".into(),
        ssh.address.port().to_string(),
        "-L".into(),
        format!("ftp/127.0.0.1:{port}:{ftp}"),
        "--ftp-to-sftp".into(),
        format!("127.0.0.1:{bridge_port}"),
        "-o".into(),
        format!("FtpToSftpPasswordFile={}", password_file.display()),
        format!("{USER}@{}", ssh.address.ip()),
    ];
    let args = cli::parse(argv.map(std::ffi::OsString::from)).map_err(|e| DemoError::Settings(e.to_string()))?;
    Settings::from_args(&args).map_err(|e| DemoError::Settings(e.to_string()))
}
