//! The demo's client side: the `-L ftp/` forward through the demo's
//! servers, built from a command line as a user would type it, the
//! self-check through it, and the instructions for real FTP clients.

use std::net::{SocketAddr, TcpListener};

use sshfwd_demo::{Servers, SAMPLE_FILE};

use super::self_check;
use crate::app;
use crate::cli;
use crate::settings::Settings;

/// The port a user would try first; another is taken when it is busy.
const PREFERRED_PORT: u16 = 2121;

#[derive(Debug, thiserror::Error)]
enum DemoError {
    #[error(transparent)]
    Servers(#[from] sshfwd_demo::DemoError),
    #[error("cannot find a free local port: {0}")]
    Port(std::io::Error),
    #[error("{0}")]
    Settings(String),
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
    let forward_port = free_port()?;
    eprintln!("FTP server (libunftp):        {ftp_address}, serving {}", root.display());
    eprintln!("SSH server (sshfwd-server):   {}, host key {}", ssh.address, ssh.fingerprint);
    if forward_port != PREFERRED_PORT {
        eprintln!("Port {PREFERRED_PORT} is taken; the FTP forward uses port {forward_port} instead.");
    }
    eprintln!(
        "FTP forward:                  sshfwd -N -L ftp/127.0.0.1:{forward_port}:{ftp_address} -p {} demo@127.0.0.1",
        ssh.address.port()
    );

    let settings = forward_settings(ssh, ftp_address, forward_port)?;
    let mut running = match app::start(&settings).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return Ok(app::EXIT_FAILURE);
        }
    };

    let forward = format!("127.0.0.1:{forward_port}");
    eprintln!("\nSelf-check through the forward (listing, download and upload per mode, SHA-256 compared):");
    let results = self_check::run(&forward, root, SAMPLE_FILE).await;
    print!("{}", self_check::table(&results));
    let passed = results.iter().all(|r| r.outcome.is_ok());
    println!("{}", if passed { "Self-check passed." } else { "Self-check FAILED." });
    println!("\nTry it with your own FTP client (anonymous login, any password):");
    println!("  curl ftp://127.0.0.1:{forward_port}/{SAMPLE_FILE} -o {SAMPLE_FILE}");
    println!("  curl -T ./somefile ftp://127.0.0.1:{forward_port}/");
    println!("  lftp -p {forward_port} -u anonymous,x -e 'ls; get readme.txt; bye' 127.0.0.1");
    println!(
        "  python3 -c \"import ftplib; f=ftplib.FTP(); f.connect('127.0.0.1', {forward_port}); f.login(); f.retrlines('LIST'); f.quit()\""
    );

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

/// 2121 when it is free, else any free port.
fn free_port() -> Result<u16, DemoError> {
    if TcpListener::bind(("127.0.0.1", PREFERRED_PORT)).is_ok() {
        return Ok(PREFERRED_PORT);
    }
    let probe = TcpListener::bind(("127.0.0.1", 0)).map_err(DemoError::Port)?;
    Ok(probe.local_addr().map_err(DemoError::Port)?.port())
}

/// The forward's settings, built from a command line as a user would type
/// it, with the demo's own key and known_hosts and no user configuration.
fn forward_settings(ssh: &sshfwd_demo::SshServer, ftp: SocketAddr, port: u16) -> Result<Settings, DemoError> {
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
        format!("demo@{}", ssh.address.ip()),
    ];
    let args = cli::parse(argv.map(std::ffi::OsString::from)).map_err(|e| DemoError::Settings(e.to_string()))?;
    Settings::from_args(&args).map_err(|e| DemoError::Settings(e.to_string()))
}
