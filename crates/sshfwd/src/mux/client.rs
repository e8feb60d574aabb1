//! The client's side: `-O check|forward|cancel|exit|stop` against a master
//! (sshfwd's or OpenSSH's), and, before a run connects, a command run
//! through a master already on its ControlPath. Words and statuses are
//! ssh 9.2's.

use std::os::fd::AsFd;
use std::path::Path;

use ssh_files::config::ControlMaster;
use ssh_files::forward_spec::ForwardSpec;
use tokio::net::UnixStream;

use super::forwards::{to_wire, NotCarried};
use super::protocol::{Message, NewSession, VERSION};
use super::session;
use super::stream::{self, StreamError};
use super::{Control, ControlCommand};
use crate::ssh::SessionRequest;

/// The longest socket path the kernel takes (`sun_path`).
const SUN_PATH: usize = 108;

/// Why a `-O` command failed; `main` prints it and exits 255.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("No ControlPath specified for \"-O\" command")]
    NoPath,
    #[error("ControlPath too long ('{0}' >= {SUN_PATH} bytes)")]
    PathTooLong(String),
    #[error("Control socket connect({path}): {reason}")]
    Connect { path: String, reason: String },
    /// The master closed, failed to speak or spoke another version.
    #[error("mux_client_hello_exchange: master hello exchange failed")]
    Hello,
    #[error("muxclient: master alive check failed")]
    Alive,
    #[error("Master refused termination request: {0}")]
    TerminateRefused(String),
    #[error("mux_client_request_terminate: termination request failed: {0}")]
    TerminateFailed(String),
    #[error("muxclient: master forward request failed")]
    Forward,
    #[error("Master refused stop listening request: {0}")]
    StopRefused(String),
    #[error("mux_client_request_stop_listening: stop listening request failed: {0}")]
    StopFailed(String),
    #[error("{0}")]
    NotCarried(#[from] NotCarried),
    #[error("read from master failed: {0}")]
    Read(String),
    #[error("unexpected response from master {0:?}")]
    Unexpected(Message),
}

impl From<StreamError> for ControlError {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::Io(e) => ControlError::Read(sshfwd_net::io_reason(&e)),
            StreamError::Decode(e) => ControlError::Read(e.to_string()),
        }
    }
}

/// Runs `-O command`; the exit status (0) when it went through.
pub async fn run(
    command: ControlCommand,
    control: &Control,
    forwards: &[ForwardSpec],
    quiet: bool,
) -> Result<i32, ControlError> {
    let path = control.path.as_ref().ok_or(ControlError::NoPath)?;
    let mut master = Connection::open(path).await.map_err(|e| match e {
        Opened::Failed(reason) => ControlError::Connect { path: path.display().to_string(), reason },
        Opened::TooLong => ControlError::PathTooLong(path.display().to_string()),
    })?;
    master.hello().await?;
    match command {
        ControlCommand::Check => {
            let pid = master.alive().await?;
            eprint!("Master running (pid={pid})\r\n");
        }
        ControlCommand::Exit => {
            master.terminate().await?;
            if !quiet {
                eprint!("Exit request sent.\r\n");
            }
        }
        ControlCommand::Stop => {
            master.stop_listening().await?;
            if !quiet {
                eprint!("Stop listening request sent.\r\n");
            }
        }
        ControlCommand::Forward => {
            if !master.forwards(forwards, false).await? {
                return Err(ControlError::Forward);
            }
        }
        ControlCommand::Cancel => {
            // ssh says so and still exits 0.
            if !master.forwards(forwards, true).await? {
                tracing::error!("muxclient: master cancel forward request failed");
            }
        }
    }
    Ok(0)
}

/// Before a run connects: when a master already serves ControlPath and
/// the run would use it (ControlMaster no or auto), run the command there
/// as ssh does, its forwardings added first; the command's exit status
/// when it ran. With -N, or when the master refuses, the run connects on
/// its own (and with `auto` does not become a second master). A stale
/// socket is left to the master that binds next.
pub async fn existing_master(
    control: &mut Control,
    command: Option<&SessionRequest<'_>>,
    forwards: &[ForwardSpec],
) -> Option<i32> {
    let path = control.path.clone()?;
    if !control.master.uses_existing() {
        return None;
    }
    if matches!(control.master, ControlMaster::Auto | ControlMaster::AutoAsk) {
        tracing::debug!("auto-mux: Trying existing master");
    }
    let mut master = match Connection::open(&path).await {
        Ok(master) => master,
        Err(Opened::Failed(reason)) => {
            tracing::debug!("Control socket connect({}): {reason}", path.display());
            return None;
        }
        Err(Opened::TooLong) => {
            tracing::error!("{}", ControlError::PathTooLong(path.display().to_string()));
            control.path = None;
            return None;
        }
    };
    control.master = ControlMaster::No;
    let shared = async {
        master.hello().await?;
        let pid = master.alive().await?;
        let Some(command) = command else {
            tracing::warn!(
                "Warning: a master runs at {} (pid {pid}), but sshfwd shares no -N session: connecting directly",
                path.display()
            );
            return Ok(None);
        };
        if !master.forwards(forwards, false).await? {
            tracing::error!("muxclient: master forward request failed");
            return Ok(None);
        }
        master.session(command).await
    };
    match shared.await {
        Ok(status) => status,
        Err(e) => {
            tracing::debug!("master at {}: {e}; connecting directly", path.display());
            None
        }
    }
}

/// Why a control socket could not be reached.
enum Opened {
    Failed(String),
    TooLong,
}

/// A control connection, request ids counted from 0 as ssh does.
struct Connection {
    stream: UnixStream,
    next_id: u32,
}

impl Connection {
    async fn open(path: &Path) -> Result<Connection, Opened> {
        if path.as_os_str().len() >= SUN_PATH {
            return Err(Opened::TooLong);
        }
        let stream = UnixStream::connect(path).await.map_err(|e| Opened::Failed(sshfwd_net::io_reason(&e)))?;
        Ok(Connection { stream, next_id: 0 })
    }

    async fn hello(&mut self) -> Result<(), ControlError> {
        stream::write(&mut self.stream, &Message::Hello { version: VERSION }).await.map_err(|_| ControlError::Hello)?;
        match stream::read(&mut self.stream).await {
            Ok(Some(Message::Hello { version: VERSION })) => Ok(()),
            Ok(Some(Message::Hello { version })) => {
                tracing::error!("Unsupported multiplexing protocol version {version} (expected {VERSION})");
                Err(ControlError::Hello)
            }
            _ => Err(ControlError::Hello),
        }
    }

    /// Sends a request made with the next id; its reply, checked to be
    /// for that id. `None` when the master closed without one.
    async fn request(&mut self, make: impl FnOnce(u32) -> Message) -> Result<Option<Message>, ControlError> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        stream::write(&mut self.stream, &make(id)).await?;
        let reply = stream::read(&mut self.stream).await?;
        match &reply {
            Some(
                Message::Ok { id: theirs }
                | Message::Alive { id: theirs, .. }
                | Message::Failure { id: theirs, .. }
                | Message::PermissionDenied { id: theirs, .. }
                | Message::RemotePort { id: theirs, .. },
            ) if *theirs != id => Err(ControlError::Read(format!("out of sequence reply: my id {id} theirs {theirs}"))),
            _ => Ok(reply),
        }
    }

    async fn alive(&mut self) -> Result<u32, ControlError> {
        match self.request(|id| Message::AliveCheck { id }).await? {
            Some(Message::Alive { pid, .. }) if pid != 0 => Ok(pid),
            Some(Message::Failure { reason, .. }) => {
                Err(ControlError::Read(format!("master returned error: {reason}")))
            }
            _ => Err(ControlError::Alive),
        }
    }

    async fn terminate(&mut self) -> Result<(), ControlError> {
        match self.request(|id| Message::Terminate { id }).await {
            // The master may be gone before its reply, as ssh allows.
            Ok(None | Some(Message::Ok { .. })) | Err(ControlError::Read(_)) => Ok(()),
            Ok(Some(Message::PermissionDenied { reason, .. })) => Err(ControlError::TerminateRefused(reason)),
            Ok(Some(Message::Failure { reason, .. })) => Err(ControlError::TerminateFailed(reason)),
            Ok(Some(other)) => Err(ControlError::Unexpected(other)),
            Err(e) => Err(e),
        }
    }

    async fn stop_listening(&mut self) -> Result<(), ControlError> {
        match self.request(|id| Message::StopListening { id }).await? {
            Some(Message::Ok { .. }) => Ok(()),
            Some(Message::PermissionDenied { reason, .. }) => Err(ControlError::StopRefused(reason)),
            Some(Message::Failure { reason, .. }) => Err(ControlError::StopFailed(reason)),
            Some(other) => Err(ControlError::Unexpected(other)),
            None => Err(ControlError::Read("Connection closed".into())),
        }
    }

    /// Runs `asked` in a session of the master's with this process's
    /// stdin, stdout and stderr; its exit status (255 when the master ends
    /// without one), or `None` when the master refused it.
    async fn session(mut self, asked: &SessionRequest<'_>) -> Result<Option<i32>, ControlError> {
        let id = self.next_id;
        let env = asked.environment.iter().map(|(name, value)| format!("{name}={value}")).collect();
        let request =
            NewSession { id, want_tty: false, subsystem: asked.subsystem, command: asked.command.to_owned(), env };
        stream::write(&mut self.stream, &Message::NewSession(request)).await?;
        for descriptor in [std::io::stdin().as_fd(), std::io::stdout().as_fd(), std::io::stderr().as_fd()] {
            session::send_descriptor(&self.stream, descriptor).await.map_err(|e| ControlError::Read(e.to_string()))?;
        }
        let session = match stream::read(&mut self.stream).await? {
            Some(Message::SessionOpened { session, .. }) => session,
            Some(Message::Failure { reason, .. }) => {
                tracing::error!("mux_client_request_session: session request failed: {reason}");
                return Ok(None);
            }
            Some(Message::PermissionDenied { reason, .. }) => {
                tracing::error!("Master refused session request: {reason}");
                return Ok(None);
            }
            other => return Err(ControlError::Unexpected(other.unwrap_or(Message::Unknown { kind: 0, id: None }))),
        };
        tracing::debug!("mux_client_request_session: master session id: {session}");
        let mut status = None;
        // The master closes the connection after the exit message.
        while let Ok(Some(message)) = stream::read(&mut self.stream).await {
            if let Message::ExitMessage { session: theirs, status: code } = message {
                if theirs == session {
                    status = Some(code as i32);
                }
            }
        }
        if status.is_none() {
            tracing::debug!("Control master terminated unexpectedly");
        }
        Ok(Some(status.unwrap_or(255)))
    }

    /// Asks for (or cancels) every forwarding in turn, reporting each
    /// refusal as ssh does; whether all went through.
    async fn forwards(&mut self, forwards: &[ForwardSpec], cancel: bool) -> Result<bool, ControlError> {
        let mut all = true;
        for spec in forwards {
            let forward = to_wire(spec)?;
            tracing::debug!("Requesting {} {spec}", if cancel { "cancellation of" } else { "forwarding of" });
            let reply = match cancel {
                true => self.request(|id| Message::CloseForward { id, forward }).await?,
                false => self.request(|id| Message::OpenForward { id, forward }).await?,
            };
            match reply {
                Some(Message::Ok { .. }) => {}
                Some(Message::RemotePort { port, .. }) if !cancel => {
                    tracing::info!("Allocated port {port} for remote forward to {spec}");
                    println!("{port}");
                }
                Some(Message::PermissionDenied { reason, .. }) => {
                    tracing::error!("Master refused forwarding request: {reason}");
                    all = false;
                }
                Some(Message::Failure { reason, .. }) => {
                    tracing::error!("mux_client_forward: forwarding request failed: {reason}");
                    all = false;
                }
                Some(other) => return Err(ControlError::Unexpected(other)),
                None => return Err(ControlError::Read("Connection closed".into())),
            }
        }
        Ok(all)
    }
}
