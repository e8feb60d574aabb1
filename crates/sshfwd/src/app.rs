//! One run of the client: connect, set up the forwardings, run the command
//! or wait, and pick the exit status as OpenSSH does.

use std::sync::Arc;

use crate::forward::{self, ForwardOptions};
use crate::settings::Settings;
use crate::ssh::{self, SessionEnd};

/// Exit status for connection, authentication and forwarding failures.
pub const EXIT_FAILURE: i32 = 255;

/// A connection with its forwardings in place.
pub struct Running {
    pub connection: Arc<ssh::SshConnection>,
    pub forwards: ForwardOptions,
}

pub async fn run(settings: Settings) -> i32 {
    let mut running = match start(&settings).await {
        Ok(r) => r,
        Err(code) => return code,
    };
    let connection = running.connection.clone();
    let code = match &settings.command {
        Some(command) => {
            tokio::select! {
                result = crate::exec::run(&connection, command) => match result {
                    Ok(code) => code,
                    Err(e) => {
                        eprintln!("{e}");
                        EXIT_FAILURE
                    }
                },
                end = connection.ended() => report_end(&end, &settings.display_host),
                signal = termination() => report_signal(signal),
            }
        }
        None => wait(&running, &settings).await,
    };
    stop(&mut running).await;
    code
}

/// Connects and sets up every forwarding; on failure, the exit status.
pub async fn start(settings: &Settings) -> Result<Running, i32> {
    let connection = match ssh::connect(&settings.connect).await {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("{e}");
            return Err(EXIT_FAILURE);
        }
    };
    let forwards = ForwardOptions::new(settings.gateway_ports, settings.ftp.clone());
    for spec in &settings.forwards {
        if let Err(e) = forward::start(&connection, spec, &forwards).await {
            if settings.exit_on_forward_failure {
                eprintln!("Error: {e}");
                connection.disconnect().await;
                return Err(EXIT_FAILURE);
            }
            tracing::warn!("Warning: {e}");
        }
    }
    Ok(Running { connection, forwards })
}

/// Forwards until the session ends or a signal asks to stop.
pub async fn wait(running: &Running, settings: &Settings) -> i32 {
    tokio::select! {
        end = running.connection.ended() => report_end(&end, &settings.display_host),
        signal = termination() => report_signal(signal),
    }
}

/// Closes the listeners and says goodbye to the server.
pub async fn stop(running: &mut Running) {
    running.forwards.shutdown.cancel();
    running.connection.disconnect().await;
}

fn report_end(end: &SessionEnd, host: &str) -> i32 {
    match end {
        SessionEnd::KeepaliveTimeout => eprintln!("Timeout, server {host} not responding."),
        SessionEnd::ServerDisconnect(message) if !message.is_empty() => {
            eprintln!("Received disconnect from {host}: {message}");
            eprintln!("Disconnected from {host}");
        }
        SessionEnd::Error(e) => eprintln!("Connection to {host} closed: {e}"),
        _ => eprintln!("Connection to {host} closed by remote host."),
    }
    EXIT_FAILURE
}

fn report_signal(signal: i32) -> i32 {
    tracing::info!("Killed by signal {signal}.");
    EXIT_FAILURE
}

/// Resolves with the signal number on SIGINT or SIGTERM.
async fn termination() -> i32 {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => 2,
        _ = term.recv() => 15,
    }
}
