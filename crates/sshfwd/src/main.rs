//! `sshfwd [options] destination [command]`: parse, build the settings,
//! run, and leave with OpenSSH's exit status.

use sshfwd::cli::{self, Parsed};
use sshfwd::logging::LogLevel;
use sshfwd::{app, demo, ftp_check, logging, settings};

fn main() {
    let args = match cli::parse(std::env::args_os()) {
        Parsed::Run(args) => args,
        Parsed::Exit { text, code } => {
            if code == 0 {
                print!("{text}");
            } else {
                eprint!("{text}");
            }
            std::process::exit(code);
        }
    };
    if let Some(endpoint) = &args.ftp_check {
        let endpoint = match endpoint.parse::<ftp_check::Endpoint>() {
            Ok(e) => e,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(app::EXIT_FAILURE);
            }
        };
        logging::init(logging::adjusted(LogLevel::Info, args.quiet, args.verbose));
        std::process::exit(block_on(Threads::One, ftp_check::run(&endpoint)));
    }
    if args.demo {
        // The demo logs each session and data channel unless asked for less.
        let level = if args.once { LogLevel::Info } else { LogLevel::Debug1 };
        logging::init(logging::adjusted(level, args.quiet, args.verbose));
        std::process::exit(block_on(Threads::All, demo::run(args.once)));
    }
    let settings = match settings::Settings::from_args(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(app::EXIT_FAILURE);
        }
    };
    logging::init(settings.log_level);
    for ignored in &settings.ignored_options {
        tracing::debug!("{ignored}");
    }
    std::process::exit(block_on(Threads::One, app::run(settings)));
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

/// Runs the async part of a mode to its exit status.
fn block_on(threads: Threads, future: impl std::future::Future<Output = i32>) -> i32 {
    let mut builder = match threads {
        Threads::One => tokio::runtime::Builder::new_current_thread(),
        Threads::All => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sshfwd: cannot start the runtime: {e}");
            return app::EXIT_FAILURE;
        }
    };
    let code = runtime.block_on(future);
    // Blocking reads of stdin must not keep the process alive.
    runtime.shutdown_background();
    code
}
