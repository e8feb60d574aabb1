//! One run of the client: connect, set up the forwardings, run the command
//! or wait; why it stopped goes back to `main`, which reports it.

use std::sync::Arc;

use ssh_files::forward_spec::{ForwardSpec, Listen};
use tokio::task::JoinSet;

use crate::exec::ExecError;
use crate::forward::{bind, dynamic, local, remote, ForwardContext, ForwardError};
use crate::settings::Settings;
use crate::ssh::{self, SessionEnd};

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
    pub tasks: JoinSet<()>,
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
    let ctx = ForwardContext { ssh: connection.clone() };
    let mut tasks = JoinSet::new();
    for spec in &settings.forwards {
        if let Err(e) = start_forward(&ctx, spec, settings, &mut tasks).await {
            if settings.exit_on_forward_failure {
                connection.disconnect().await;
                return Err(RunError::Forward(e));
            }
            tracing::warn!("Warning: {e}");
        }
    }
    Ok(Running { connection, tasks })
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
    running.tasks.abort_all();
    running.connection.disconnect().await;
}

async fn start_forward(
    ctx: &ForwardContext,
    spec: &ForwardSpec,
    settings: &Settings,
    tasks: &mut JoinSet<()>,
) -> Result<(), ForwardError> {
    match spec {
        ForwardSpec::Local(forwarding) if forwarding.ftp => {
            crate::forward::ftp::start_local(ctx, forwarding, settings, tasks)
        }
        ForwardSpec::Remote(forwarding) if forwarding.ftp => {
            crate::forward::ftp::start_remote(ctx, forwarding, settings, tasks).await
        }
        ForwardSpec::Local(forwarding) => {
            let listeners = listen(&forwarding.listen, settings.gateway_ports, ForwardError::Local)?;
            let target = &forwarding.target;
            for listener in &listeners {
                if let Ok(address) = listener.local_addr() {
                    tracing::debug!("Local connections to {address} forwarded to remote address {target}");
                }
            }
            let target = local::LocalTarget { host: target.host.clone(), port: target.port };
            tasks.spawn(local::serve(ctx.clone(), listeners, target));
            Ok(())
        }
        ForwardSpec::Dynamic(listen_on) => {
            let listeners = listen(listen_on, settings.gateway_ports, ForwardError::Dynamic)?;
            tasks.spawn(dynamic::serve(ctx.clone(), listeners));
            Ok(())
        }
        ForwardSpec::Remote(forwarding) => {
            let target = &forwarding.target;
            let target_local = local::LocalTarget { host: target.host.clone(), port: target.port };
            remote::start(ctx, &forwarding.listen, target, tasks, move |connection| {
                remote::connect(connection, target_local.clone())
            })
            .await
        }
    }
}

/// Binds a forwarding's local listeners, reporting failures as OpenSSH
/// does; the error is the one to report for the forwarding's kind.
pub fn listen(
    listen: &Listen,
    gateway_ports: bool,
    failure: ForwardError,
) -> Result<Vec<tokio::net::TcpListener>, ForwardError> {
    let addresses = bind::local_bind_addresses(&listen.local_bind(gateway_ports), listen.port);
    match addresses.and_then(|a| bind::bind_all(&a)) {
        Ok(listeners) => Ok(listeners),
        Err(e) => {
            tracing::warn!("{e}");
            tracing::warn!("channel_setup_fwd_listener_tcpip: cannot listen to port: {}", listen.port);
            Err(failure)
        }
    }
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
