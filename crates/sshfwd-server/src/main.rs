//! `sshfwd-server`: parse the command line, build a [`ServerConfig`], serve
//! until SIGINT or SIGTERM.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use sshfwd_server::{
    fingerprint, generate_host_key, load_or_generate_host_key, serve, AuthorizedKeys, AuthorizedKeysError,
    CancellationToken, KeyError, PasswordFileError, Passwords, ServerConfig, ServerError,
};

/// A small SSH server for port forwarding and SFTP. No shell, no exec.
#[derive(Debug, Parser)]
#[command(name = "sshfwd-server", version)]
struct Args {
    /// Address and port to listen on.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:2222")]
    listen: SocketAddr,

    /// Port to listen on (replaces the port of --listen; 0 picks a free one).
    #[arg(short = 'p', long, value_name = "PORT")]
    port: Option<u16>,

    /// Host key in OpenSSH format; generated (ed25519, mode 0600, with FILE.pub)
    /// when absent. Without it, a fresh key is made for this run only.
    #[arg(long, value_name = "FILE")]
    host_key: Option<PathBuf>,

    /// authorized_keys file (OpenSSH format; restrict, port-forwarding,
    /// no-port-forwarding, permitopen, permitlisten, from and command are honoured;
    /// a line with another option is refused with a warning).
    #[arg(long, value_name = "FILE")]
    authorized_keys: Option<PathBuf>,

    /// Enables password authentication with `user:password` lines (plain text:
    /// keep the file mode 0600). Off without this option.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,

    /// Serve the sftp subsystem, confined to DIR.
    #[arg(long, value_name = "DIR")]
    sftp_root: Option<PathBuf>,

    /// Let remote forwardings (-R) listen on non-loopback addresses the client asks for.
    #[arg(long)]
    gateway_ports: bool,

    /// Seconds a direct-tcpip (-L) connection attempt may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    connect_timeout: u64,

    /// More log detail (repeatable).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,

    /// Only warnings and errors.
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,
}

#[derive(Debug, thiserror::Error)]
enum MainError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    AuthorizedKeys(#[from] AuthorizedKeysError),
    #[error(transparent)]
    Passwords(#[from] PasswordFileError),
    #[error("nobody could log in: give --authorized-keys or --password-file")]
    NoLogin,
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(&args);
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                let text = cause.to_string();
                if !message.contains(&text) {
                    message.push_str(": ");
                    message.push_str(&text);
                }
                source = cause.source();
            }
            eprintln!("sshfwd-server: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(args: &Args) {
    let level = match (args.quiet, args.verbose) {
        (true, _) => "warn",
        (false, 0) => "sshfwd_server=info,warn",
        (false, 1) => "sshfwd_server=debug,info",
        (false, 2) => "sshfwd_server=trace,russh=debug,info",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SSHFWD_SERVER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .init();
}

fn run(args: Args) -> Result<(), MainError> {
    let config = build_config(&args)?;
    let mut address = args.listen;
    if let Some(port) = args.port {
        address.set_port(port);
    }
    let runtime = tokio::runtime::Runtime::new().map_err(MainError::Runtime)?;
    runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(address).await.map_err(|source| MainError::Bind { address, source })?;
        let shutdown = CancellationToken::new();
        tokio::spawn(stop_on_signal(shutdown.clone()));
        serve(config, listener, shutdown).await?;
        Ok(())
    })
}

fn build_config(args: &Args) -> Result<ServerConfig, MainError> {
    let host_key = match &args.host_key {
        Some(path) => {
            let (key, created) = load_or_generate_host_key(path)?;
            if created {
                tracing::info!("Generated host key {}", path.display());
            }
            key
        }
        None => {
            tracing::warn!("no --host-key given: using a key made for this run only");
            generate_host_key()?
        }
    };
    tracing::info!("Server host key: {}", fingerprint(host_key.public_key()));
    let mut config = ServerConfig::new(host_key);
    if let Some(path) = &args.authorized_keys {
        config.authorized_keys = AuthorizedKeys::load(path)?;
        tracing::info!("{}: {} key(s) loaded", path.display(), config.authorized_keys.entries().len());
    }
    if let Some(path) = &args.password_file {
        config.passwords = Some(Passwords::load(path)?);
        tracing::info!("password authentication enabled ({})", path.display());
    }
    if config.authorized_keys.entries().is_empty() && config.passwords.is_none() {
        return Err(MainError::NoLogin);
    }
    config.sftp_root = args.sftp_root.clone();
    config.gateway_ports = args.gateway_ports;
    config.connect_timeout = Duration::from_secs(args.connect_timeout.max(1));
    Ok(config)
}

async fn stop_on_signal(shutdown: CancellationToken) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    shutdown.cancel();
}
