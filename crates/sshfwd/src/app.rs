//! One run of the client: connect, set up the forwardings, run the command
//! or wait; why it stopped goes back to `main`, which reports it.

use std::sync::Arc;

use crate::forward::{self, ForwardError, ForwardOptions};
use crate::settings::Settings;
use crate::ssh::{self, ExecError, SessionEnd};

/// OpenSSH's exit status for every failure of its own (as opposed to the
/// remote command's status).
pub const EXIT_FAILURE: i32 = 255;

/// Why a connection could not be set up, or why it stopped before its
/// command finished. `main` prints it and exits with [`EXIT_FAILURE`].
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Connect(#[from] ssh::ConnectError),
    /// A forwarding failed and `ExitOnForwardFailure` is set.
    #[error("Error: {0}")]
    Forward(#[from] ForwardError),
    #[error("{0}")]
    Exec(#[from] ExecError),
    /// The session ended while forwarding or before the command did.
    #[error("{}", ended_message(.end, .host))]
    Ended { end: SessionEnd, host: String },
    /// SIGINT or SIGTERM (the signal number).
    #[error("Killed by signal {0}.")]
    Signal(i32),
}

/// A connection with its forwardings in place.
pub struct Running {
    pub connection: Arc<ssh::SshConnection>,
    pub forwards: ForwardOptions,
}

/// Connects, forwards, and runs the command; the remote command's exit
/// status when there is one.
pub async fn run(settings: Settings) -> Result<i32, RunError> {
    let mut running = start(&settings).await?;
    let connection = running.connection.clone();
    let outcome = match &settings.command {
        Some(command) => {
            tokio::select! {
                result = crate::exec::run(&connection, command) => result.map_err(RunError::Exec),
                end = connection.ended() => Err(RunError::Ended { end, host: settings.display_host.clone() }),
                signal = termination() => Err(RunError::Signal(signal)),
            }
        }
        None => Err(wait(&running, &settings).await),
    };
    stop(&mut running).await;
    outcome
}

/// Connects and sets up every forwarding.
pub async fn start(settings: &Settings) -> Result<Running, RunError> {
    let connection = Arc::new(ssh::connect(&settings.connect).await?);
    let forwards = ForwardOptions::new(settings.gateway_ports, settings.ftp.clone());
    for spec in &settings.forwards {
        if let Err(e) = forward::start(&connection, spec, &forwards).await {
            if settings.exit_on_forward_failure {
                connection.disconnect().await;
                return Err(RunError::Forward(e));
            }
            tracing::warn!("Warning: {e}");
        }
    }
    Ok(Running { connection, forwards })
}

/// Forwards until the session ends or a signal asks to stop; returns why.
pub async fn wait(running: &Running, settings: &Settings) -> RunError {
    tokio::select! {
        end = running.connection.ended() => RunError::Ended { end, host: settings.display_host.clone() },
        signal = termination() => RunError::Signal(signal),
    }
}

/// Closes the listeners and says goodbye to the server.
pub async fn stop(running: &mut Running) {
    running.forwards.shutdown.cancel();
    running.connection.disconnect().await;
}

/// OpenSSH's words for the end of a session.
fn ended_message(end: &SessionEnd, host: &str) -> String {
    match end {
        SessionEnd::KeepaliveTimeout => format!("Timeout, server {host} not responding."),
        SessionEnd::ServerDisconnect(message) if !message.is_empty() => {
            format!("Received disconnect from {host}: {message}\nDisconnected from {host}")
        }
        SessionEnd::Error(e) => format!("Connection to {host} closed: {e}"),
        _ => format!("Connection to {host} closed by remote host."),
    }
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
