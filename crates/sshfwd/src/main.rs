//! `sshfwd [options] destination [command]`: parse the command line into a
//! mode, run it, and leave with OpenSSH's exit status. The only place that
//! turns errors into exit statuses.

use std::future::Future;

use sshfwd::forward::open_files;
use sshfwd::settings::{Mode, SettingsError};
use sshfwd::{app, background, cli, demo, ftp_check, logging, mux, query};

/// Why a run failed, whatever its mode.
#[derive(Debug, thiserror::Error)]
enum Error {
    /// A usage error, or the text of `--help`/`--version`.
    #[error("{}", .0.render())]
    Usage(#[from] clap::Error),
    #[error("{0}")]
    Settings(#[from] SettingsError),
    #[error("{0}")]
    Run(#[from] app::RunError),
    #[error("{0}")]
    FtpCheck(#[from] ftp_check::CheckError),
    #[error("sshfwd: cannot start the runtime: {0}")]
    Runtime(#[from] std::io::Error),
    #[error("{0}")]
    Log(#[from] logging::LogError),
    /// `-f`: the background process could not be started.
    #[error("{0}")]
    Background(#[from] background::BackgroundError),
    #[error("{0}")]
    Query(#[from] query::QueryError),
    /// `-O`: the master could not be reached or refused.
    #[error("{0}")]
    Control(#[from] mux::ControlError),
}

fn main() {
    let code = match run() {
        Ok(code) => code,
        Err(e) => {
            report(&e);
            exit_code(&e)
        }
    };
    std::process::exit(code);
}

/// Runs the mode the command line asks for; the exit status when it ends
/// as it should (a remote command's own, for one).
fn run() -> Result<i32, Error> {
    // While the process has one thread: it may change the environment.
    background::adopt();
    let args = cli::parse(std::env::args_os())?;
    match Mode::from_args(&args)? {
        Mode::Connect(settings) if settings.fork && !background::is_child() => Ok(background::run_in_background()?),
        Mode::Connect(settings) => {
            logging::init(settings.log_level, &settings.log_target)?;
            for ignored in &settings.ignored_options {
                tracing::debug!("{ignored}");
            }
            for warning in &settings.warnings {
                tracing::warn!("Warning: {warning}");
            }
            if let Some(command) = settings.control.command {
                let quiet = settings.log_level == ssh_files::config::LogLevel::Quiet;
                let control = mux::client::run(command, &settings.control, &settings.forwards, quiet);
                return Ok(block_on(Threads::One, control)??);
            }
            raise_open_file_limit();
            Ok(block_on(Threads::One, app::run(*settings))??)
        }
        Mode::FtpCheck { endpoint, log_level, log_target } => {
            logging::init(log_level, &log_target)?;
            block_on(Threads::One, ftp_check::run(&endpoint))??;
            Ok(0)
        }
        // ssh prints its version on stderr.
        Mode::Version => {
            eprintln!("sshfwd {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        Mode::Query(query) => {
            print!("{}", query::answer(&query)?);
            Ok(0)
        }
        Mode::PrintConfig(dump) => {
            print!("{}", dump.render());
            Ok(0)
        }
        Mode::Demo { once, log_level, log_target } => {
            logging::init(log_level, &log_target)?;
            raise_open_file_limit();
            Ok(block_on(Threads::All, demo::run(once))?)
        }
    }
}

/// Raises the soft open-file limit to the hard one, as servers do: every
/// forwarded connection and data channel holds a descriptor, and the caps
/// are sized to the limit. A failure only leaves the caps smaller.
fn raise_open_file_limit() {
    match open_files::raise_to_hard_limit() {
        Ok(open_files::Raised { from, to }) if from < to => {
            tracing::debug!("open-file limit raised from {from} to {to}")
        }
        Ok(open_files::Raised { to, .. }) => tracing::debug!("open-file limit {to}"),
        Err(e) => tracing::debug!("{e}"),
    }
}

/// Puts the error where OpenSSH would.
fn report(error: &Error) {
    match error {
        Error::Usage(e) if !e.use_stderr() => print!("{error}"),
        Error::Usage(_) => eprint!("{error}"),
        // OpenSSH says this only at LogLevel INFO and above.
        Error::Run(app::RunError::Signal(_)) => tracing::info!("{error}"),
        _ => logging::fatal(&error.to_string()),
    }
}

/// 0 for `--help` and `--version`; OpenSSH's 255 for every failure.
fn exit_code(error: &Error) -> i32 {
    match error {
        Error::Usage(e) if !e.use_stderr() => 0,
        _ => app::EXIT_FAILURE,
    }
}

/// How the async part runs.
enum Threads {
    /// One thread, as OpenSSH: no cross-thread wake-ups between the SSH
    /// session and the relays (measured side by side: 1.16x download and
    /// 1.4x upload throughput over a multi-thread runtime).
    One,
    /// The demo runs an SSH server, an FTP server and the client at once.
    All,
}

/// Runs the async part of a mode to its end.
fn block_on<T>(threads: Threads, future: impl Future<Output = T>) -> std::io::Result<T> {
    let mut builder = match threads {
        Threads::One => tokio::runtime::Builder::new_current_thread(),
        Threads::All => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = builder.enable_all().build()?;
    let output = runtime.block_on(future);
    // Blocking reads of stdin must not keep the process alive.
    runtime.shutdown_background();
    Ok(output)
}
