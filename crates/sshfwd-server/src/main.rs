//! `sshfwd-server`: parse the command line, build a [`ServerConfig`], serve
//! until SIGINT or SIGTERM.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use sshfwd_server::{
    fingerprint, generate_host_key, load_or_generate_host_key, serve, AdmissionPolicy, AuthorizedKeys,
    AuthorizedKeysError, CancellationToken, KeyError, MaxStartups, Network, PasswordFileError, Passwords, Penalties,
    ServerConfig, ServerError,
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

    /// Authenticated connections at once; a login past the cap is disconnected.
    #[arg(long, value_name = "N", default_value_t = 256)]
    max_connections: usize,

    /// Unauthenticated connections (sshd's MaxStartups start:rate:full): past
    /// `start`, refused with `rate`% chance, rising to all at `full`.
    #[arg(long, value_name = "START:RATE:FULL", default_value = "10:30:100", value_parser = parse_max_startups)]
    max_startups: MaxStartups,

    /// Unauthenticated connections one source may hold (sshd's
    /// PerSourceMaxStartups; "none" for no limit of its own).
    #[arg(long, value_name = "N|none", default_value = "10", value_parser = parse_per_source)]
    per_source_max_startups: PerSource,

    /// How many leading bits of an IPv4 and an IPv6 address make one source
    /// (sshd's PerSourceNetBlockSize).
    #[arg(long, value_name = "V4:V6", default_value = "32:64", value_parser = parse_block_size)]
    per_source_net_block_size: (u8, u8),

    /// Penalties for sources that fail or never finish a login, as sshd's
    /// PerSourcePenalties: yes, no, or words such as "authfail:5s noauth:1s
    /// grace-exceeded:10s min:15s max:10m max-sources:65536".
    #[arg(long, value_name = "SPEC", default_value = "yes", value_parser = parse_penalties)]
    per_source_penalties: Penalties,

    /// Sources never penalised: a comma-separated list of addresses and
    /// address/prefix blocks (sshd's PerSourcePenaltyExemptList).
    #[arg(long, value_name = "LIST", value_parser = parse_networks)]
    per_source_penalty_exempt_list: Option<Networks>,

    /// Seconds a connection may take to authenticate (sshd's LoginGraceTime).
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    login_grace_time: u64,

    /// Session channels (sftp) one connection may have open (sshd's MaxSessions).
    #[arg(long, value_name = "N", default_value_t = 10)]
    max_sessions: usize,

    /// Remote forwardings (-R) one connection may hold.
    #[arg(long, value_name = "N", default_value_t = 64)]
    max_remote_forwards: usize,

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
    config.max_connections = args.max_connections.max(1);
    config.login_grace_time = Duration::from_secs(args.login_grace_time.max(1));
    config.max_sessions = args.max_sessions;
    config.max_remote_forwards = args.max_remote_forwards;
    let mut penalties = args.per_source_penalties.clone();
    penalties.exempt = args.per_source_penalty_exempt_list.clone().map(|n| n.0).unwrap_or_default();
    config.admission = AdmissionPolicy {
        max_startups: args.max_startups,
        per_source: args.per_source_max_startups.0,
        v4_prefix: args.per_source_net_block_size.0,
        v6_prefix: args.per_source_net_block_size.1,
        penalties,
    };
    Ok(config)
}

/// `PerSourceMaxStartups`: a number or none.
#[derive(Debug, Clone, Copy)]
struct PerSource(Option<usize>);

/// `PerSourcePenaltyExemptList`.
#[derive(Debug, Clone)]
struct Networks(Vec<Network>);

fn parse_max_startups(text: &str) -> Result<MaxStartups, String> {
    MaxStartups::parse(text)
        .ok_or_else(|| format!("bad MaxStartups '{text}': want start:rate:full, start <= full, rate <= 100"))
}

fn parse_per_source(text: &str) -> Result<PerSource, String> {
    match text {
        "none" => Ok(PerSource(None)),
        n => n.parse().map(|n: usize| PerSource(Some(n.max(1)))).map_err(|_| format!("bad number '{text}'")),
    }
}

fn parse_block_size(text: &str) -> Result<(u8, u8), String> {
    let bad = || format!("bad PerSourceNetBlockSize '{text}': want V4:V6 prefix lengths, at most 32:128");
    let (v4, v6) = text.split_once(':').unwrap_or((text, "128"));
    let (v4, v6): (u8, u8) = (v4.parse().map_err(|_| bad())?, v6.parse().map_err(|_| bad())?);
    if v4 > 32 || v6 > 128 {
        return Err(bad());
    }
    Ok((v4, v6))
}

fn parse_penalties(text: &str) -> Result<Penalties, String> {
    Penalties::parse(text).ok_or_else(|| format!("bad PerSourcePenalties '{text}'"))
}

fn parse_networks(text: &str) -> Result<Networks, String> {
    text.split(',')
        .map(|item| Network::parse(item.trim()).ok_or_else(|| format!("bad address or block '{item}'")))
        .collect::<Result<_, _>>()
        .map(Networks)
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
