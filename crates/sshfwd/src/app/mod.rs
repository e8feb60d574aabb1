//! One run of the client: connect, set up the forwardings, run the command
//! or wait; why it stopped goes back to `main`, which reports it.

mod bridges;

use std::net::SocketAddr;
use std::sync::Arc;

use ssh_files::config::FtpToSftpLogin;
use ssh_files::forward_spec::ForwardSpec;

use crate::audit::{AuditError, AuditLog};
use crate::bridge::password::PasswordError;
use crate::forward::{self, ForwardError, ForwardOptions};
use crate::settings::Settings;
use crate::ssh::{self, ConnectionPool, ExecError, ReconnectingTunnel, SessionEnd};

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
    #[error("sshfwd: {0}")]
    BridgePassword(#[from] PasswordError),
    #[error("sshfwd: {0}")]
    AuditLog(#[from] AuditError),
    /// `-W`'s forwarding failed.
    #[error("{0}")]
    Stdio(#[from] crate::stdio_forward::StdioError),
}

/// A connection with its forwardings in place.
pub struct Running {
    /// sshfwd's own SSH connection, as made at start; `None` when nothing
    /// needs one (only passthrough bridges, whose logins bring their own).
    pub connection: Option<Arc<ssh::SshConnection>>,
    /// The forwardings' way through it, made again after a loss with
    /// `Reconnect yes`.
    pub tunnel: Option<Arc<ReconnectingTunnel>>,
    pub forwards: ForwardOptions,
    /// Where the FTP-to-SFTP bridges listen.
    pub bridges: Vec<SocketAddr>,
    /// The session-mode bridges' connections (the first is `connection`).
    bridge_pool: Option<Arc<ConnectionPool>>,
}

/// Connects, forwards, and runs the command; the remote command's exit
/// status when there is one.
pub async fn run(mut settings: Settings) -> Result<i32, RunError> {
    // Issue 14 (mux): a master already on ControlPath runs the command.
    let command = settings.command.clone();
    let asked = command.as_deref().map(|command| ssh::SessionRequest {
        command,
        subsystem: settings.subsystem,
        environment: &settings.environment,
    });
    let forwards = settings.forwards.clone();
    if let Some(status) = crate::mux::client::existing_master(&mut settings.control, asked.as_ref(), &forwards).await {
        return Ok(status);
    }
    let mut running = start(&settings).await?;
    if let Some(command) = &settings.local_command {
        crate::local_command::run(command).await;
    }
    // The master listens before the run is ready: with -f, `-O check`
    // works as soon as the foreground has gone.
    let master =
        crate::mux::Master::start(&settings.control, settings.command.is_some(), mux_forwards(&running, &settings));
    ready(&settings);
    let outcome = tokio::select! {
        outcome = session(&running, &settings) => outcome,
        // `-O exit`: ssh's master leaves with status 0.
        () = master.exit_requested() => Ok(0),
    };
    // ControlPersist: the master outlives its command.
    if settings.command.is_some() && outcome.is_ok() && master.persists() {
        tracing::debug!("command ended; the master stays for ControlPersist");
        tokio::select! {
            () = master.persisted() => {}
            _ = wait(&running, &settings) => {}
        }
    }
    stop(&mut running).await;
    drop(master);
    outcome
}

/// The command, -W's relay, or with -N the forwarding, until it ends.
async fn session(running: &Running, settings: &Settings) -> Result<i32, RunError> {
    match (&settings.stdio_forward, &settings.command, running.connection.clone()) {
        // Issue 14 (proxy): -W instead of a command.
        (Some(target), _, Some(connection)) => {
            tokio::select! {
                result = crate::stdio_forward::run(&*connection, target) => result.map(|()| 0).map_err(RunError::Stdio),
                end = connection.ended() => Err(RunError::Ended { end, host: settings.display_host.clone() }),
                signal = termination() => Err(RunError::Signal(signal)),
            }
        }
        (None, Some(command), Some(connection)) => {
            let request =
                ssh::SessionRequest { command, subsystem: settings.subsystem, environment: &settings.environment };
            tokio::select! {
                result = crate::exec::run(&connection, &request, settings.stdin_null) => result.map_err(RunError::Exec),
                end = connection.ended() => Err(RunError::Ended { end, host: settings.display_host.clone() }),
                signal = termination() => Err(RunError::Signal(signal)),
            }
        }
        // ssh: with no session there is no remote status, and a stop asked
        // for with SIGTERM (systemd's) is a success; SIGINT stays a failure.
        _ => match wait(running, settings).await {
            RunError::Signal(libc::SIGTERM) => Ok(0),
            error => Err(error),
        },
    }
}

/// What a ControlMaster may add forwardings to.
fn mux_forwards(running: &Running, settings: &Settings) -> crate::mux::forwards::Forwards {
    crate::mux::forwards::Forwards::new(running.tunnel.clone(), running.forwards.clone(), settings.forwards.clone())
}

/// Every forwarding is set up (and LocalCommand has run): tells systemd,
/// and with `-f` goes to the background. The one place that marks a run
/// ready.
pub fn ready(settings: &Settings) {
    crate::service::ready();
    let keep = match (&settings.command, &settings.log_target) {
        (Some(_), _) => crate::background::Keep::Session,
        (None, crate::logging::LogTarget::Stderr) if settings.log_level >= ssh_files::config::LogLevel::Debug1 => {
            crate::background::Keep::Stderr
        }
        (None, _) => crate::background::Keep::Nothing,
    };
    crate::background::detach(keep);
}

/// Connects (unless nothing needs sshfwd's own connection) and sets up
/// every forwarding and bridge.
pub async fn start(settings: &Settings) -> Result<Running, RunError> {
    let audit = AuditLog::from_settings(settings.ftp.audit_log.as_ref())?;
    let connection = match needs_connection(settings) {
        true => Some(Arc::new(ssh::connect(&settings.connect).await?)),
        false => None,
    };
    if settings.reconnect.enabled && settings.command.is_some() {
        tracing::warn!("Warning: Reconnect applies only with -N: a remote command cannot be resumed");
    }
    let tunnel = connection.as_ref().map(|connection| {
        ReconnectingTunnel::new(settings.connect.clone(), settings.reconnect.clone(), connection.clone())
    });
    let mut running = Running {
        connection,
        tunnel,
        forwards: ForwardOptions::new(settings.gateway_ports, settings.ftp.clone()),
        bridges: vec![],
        bridge_pool: None,
    };
    running.forwards.stream_local_bind = settings.stream_local_bind;
    running.forwards.permit_remote_open = settings.permit_remote_open.clone();
    audit.reopen_on_hangup(running.forwards.shutdown.clone());
    running.forwards.ftp_audit = audit;
    let mut bridge_login = None;
    for spec in &settings.forwards {
        let started = match (spec, &running.tunnel) {
            (ForwardSpec::FtpToSftp(on), tunnel) => {
                let login = match &bridge_login {
                    Some(login) => login,
                    None => {
                        let login = bridges::Login::new(settings, tunnel.as_ref())?;
                        running.bridge_pool = login.pool.clone();
                        bridge_login.insert(login)
                    }
                };
                bridges::start(settings, on, login, &running.forwards).await.map(|addresses| {
                    running.bridges.extend(addresses);
                })
            }
            (spec, Some(tunnel)) => forward::start(tunnel, spec, &running.forwards).await,
            // Not reached: `needs_connection` connected for every forwarding
            // that goes through SSH.
            (spec, None) => Err(ForwardError::NoConnection(spec.kind())),
        };
        if let Err(e) = started {
            if settings.exit_on_forward_failure {
                stop(&mut running).await;
                return Err(RunError::Forward(e));
            }
            tracing::warn!("Warning: {e}");
        }
    }
    Ok(running)
}

/// Whether anything needs sshfwd's own SSH connection: a command, a
/// forwarding, or a bridge in session mode.
fn needs_connection(settings: &Settings) -> bool {
    settings.command.is_some()
        || settings.stdio_forward.is_some()
        || settings.forwards.iter().any(|spec| !matches!(spec, ForwardSpec::FtpToSftp(_)))
        || settings.ftp.bridge_login == FtpToSftpLogin::Session
}

/// Whether the bridges are the whole job: then a lost connection does not
/// end the run, and the next FTP login connects again.
fn only_bridges(settings: &Settings) -> bool {
    settings.command.is_none()
        && !settings.forwards.is_empty()
        && settings.forwards.iter().all(|spec| matches!(spec, ForwardSpec::FtpToSftp(_)))
}

/// Forwards until the session ends or a signal asks to stop; returns why.
/// With `Reconnect yes` a lost connection is made again instead; when the
/// bridges are the whole job, a lost connection is reported and the
/// bridges go on (their next login connects again).
pub async fn wait(running: &Running, settings: &Settings) -> RunError {
    let host = settings.display_host.clone();
    let lost = async {
        let Some(tunnel) = &running.tunnel else { return std::future::pending().await };
        let end = tunnel.supervise(running.forwards.shutdown.clone()).await;
        if !only_bridges(settings) {
            return RunError::Ended { end, host };
        }
        tracing::warn!("{}", ended_message(&end, &host));
        tracing::warn!("The FTP-to-SFTP bridge connects again at the next login.");
        std::future::pending().await
    };
    tokio::select! {
        error = lost => error,
        signal = termination() => RunError::Signal(signal),
    }
}

/// Closes the listeners and says goodbye to the server.
pub async fn stop(running: &mut Running) {
    crate::service::stopping();
    running.forwards.shutdown.cancel();
    // The first connection, the one made again after a loss, and the
    // bridges' extra ones (disconnecting one twice is harmless).
    let mut connections: Vec<Arc<ssh::SshConnection>> = running.connection.iter().cloned().collect();
    connections.extend(running.tunnel.as_ref().and_then(|tunnel| tunnel.current()));
    if let Some(pool) = &running.bridge_pool {
        connections.extend(pool.connections().await);
    }
    for connection in connections {
        connection.disconnect().await;
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
        _ = int.recv() => libc::SIGINT,
        _ = term.recv() => libc::SIGTERM,
    }
}
