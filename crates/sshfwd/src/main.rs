//! `sshfwd [options] destination [command]`: parse, build the settings,
//! run, and leave with OpenSSH's exit status.

use sshfwd::cli::{self, Parsed};
use sshfwd::{app, logging, settings};

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
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sshfwd: cannot start the runtime: {e}");
            std::process::exit(app::EXIT_FAILURE);
        }
    };
    let code = runtime.block_on(app::run(settings));
    // Blocking reads of stdin must not keep the process alive.
    runtime.shutdown_background();
    std::process::exit(code);
}
