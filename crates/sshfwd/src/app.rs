//! One run of the client: connect, set up the forwardings, run the command
//! or wait, and pick the exit status as OpenSSH does.

use std::sync::Arc;

use ssh_files::forward_spec::{ForwardSpec, Listen};
use tokio::task::JoinSet;

use crate::forward::{bind, dynamic, local, remote, ForwardContext, ForwardError};
use crate::settings::Settings;
use crate::ssh::{self, SessionEnd};

/// Exit status for connection, authentication and forwarding failures.
pub const EXIT_FAILURE: i32 = 255;

/// A connection with its forwardings in place.
pub struct Running {
    pub connection: Arc<ssh::SshConnection>,
    pub tasks: JoinSet<()>,
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
    let ctx = ForwardContext { ssh: connection.clone() };
    let mut tasks = JoinSet::new();
    for spec in &settings.forwards {
        if let Err(e) = start_forward(&ctx, spec, settings, &mut tasks).await {
            if settings.exit_on_forward_failure {
                eprintln!("Error: {e}");
                connection.disconnect().await;
                return Err(EXIT_FAILURE);
            }
            tracing::warn!("Warning: {e}");
        }
    }
    Ok(Running { connection, tasks })
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
