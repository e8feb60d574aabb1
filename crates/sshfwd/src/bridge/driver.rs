//! The control connection's loop: read lines, feed the session, perform
//! its actions.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use ftp_proto::framing::LineFramer;
use ftp_proto::server::{
    Action, DataChannel, FsError, LoginOutcome, Session, SessionConfig, Transfer, TransferError, TransferKind,
    VirtualPath,
};
use sftp_client::SftpSession;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::files;
use super::login::{Hold, LoginError, SftpLogin};
use super::transfer::{self, DataSource, Event, Job};
use super::BridgeOptions;
use crate::audit::{DataInfo, DataMeter, Service, SessionAudit};

/// RFC 959 leaves line length open; 8 KiB holds any real path.
const MAX_LINE: usize = 8192;

/// Serves one FTP control connection until the client quits or goes away,
/// from the SFTP session its login gives. Every failure ends in a reply or
/// a closed connection, so there is nothing to return.
pub async fn serve_session(control: TcpStream, login: Arc<dyn SftpLogin>, options: BridgeOptions) {
    let (Ok(peer), Ok(local)) = (control.peer_addr(), control.local_addr()) else { return };
    let _ = control.set_nodelay(true);
    let mut config = SessionConfig::new(peer.ip(), local.ip());
    config.allow_third_party_active = options.allow_third_party_active;
    let (mut reader, writer) = control.into_split();
    let audit = SessionAudit::new(&options.audit, Service::Bridge, options.audit.next_bridge_session(), peer);
    let mut driver = Driver {
        session: Session::new(config),
        login,
        sftp: None,
        hold: Hold::Nothing,
        listen_ip: options.listen_ip.unwrap_or(local.ip()),
        client_ip: peer.ip(),
        peer,
        options,
        writer,
        passive: None,
        running: None,
        audit,
    };
    driver.run(&mut reader).await;
    tracing::debug!("ftp bridge {peer}: session closed");
    if let Some(running) = driver.running.take() {
        running.task.abort();
    }
    if let Hold::Own(connection) = std::mem::replace(&mut driver.hold, Hold::Nothing) {
        connection.disconnect().await;
    }
    driver.audit.end(None);
}

/// A transfer in its own task.
struct Running {
    task: JoinHandle<()>,
    events: mpsc::Receiver<Event>,
    kind: TransferKind,
    since: Instant,
    /// The client's data address (active) or the listener's (passive).
    data_address: Option<SocketAddr>,
}

struct Driver {
    session: Session,
    login: Arc<dyn SftpLogin>,
    /// Set by a successful login; the session asks for nothing else before.
    sftp: Option<Arc<SftpSession>>,
    /// The SSH side's hold, given back when the session ends.
    hold: Hold,
    options: BridgeOptions,
    /// Where PASV/EPSV listeners bind.
    listen_ip: IpAddr,
    /// The only address a passive data connection is taken from.
    client_ip: IpAddr,
    /// The control connection's client, naming the session in the log.
    peer: SocketAddr,
    writer: OwnedWriteHalf,
    /// The PASV/EPSV listener, until a transfer takes it.
    passive: Option<TcpListener>,
    running: Option<Running>,
    audit: SessionAudit,
}

impl Driver {
    async fn run(&mut self, reader: &mut tokio::net::tcp::OwnedReadHalf) {
        let mut framer = LineFramer::new(MAX_LINE);
        let mut buffer = vec![0u8; 4096];
        tracing::debug!("ftp bridge {}: control connection", self.peer);
        let login_deadline = self.options.login_timeout.map(|t| tokio::time::Instant::now() + t);
        loop {
            if !self.perform().await {
                return;
            }
            tokio::select! {
                read = reader.read(&mut buffer) => {
                    let n = match read {
                        Ok(0) | Err(_) => {
                            self.audit.client_closed();
                            return;
                        }
                        Ok(n) => n,
                    };
                    self.audit.client_bytes(buffer.get(..n).unwrap_or_default());
                    framer.push(buffer.get(..n).unwrap_or_default());
                    self.session.handle_framed(&mut framer);
                }
                event = next_event(&mut self.running) => self.transfer_event(event),
                () = until(login_deadline), if self.sftp.is_none() => {
                    tracing::info!("ftp bridge {}: no login within FtpLoginTimeout; closing", self.peer);
                    let reply = b"421 Login timeout (FtpLoginTimeout): closing control connection\r\n";
                    let _ = self.writer.write_all(reply).await;
                    self.audit.server_reply(reply);
                    self.audit.server_closed();
                    let _ = self.writer.shutdown().await;
                    return;
                }
            }
        }
    }

    /// Performs every pending action; false once the connection is to close.
    async fn perform(&mut self) -> bool {
        while let Some(action) = self.session.poll_action() {
            let reported = match action {
                Action::Reply(reply) => {
                    let bytes = reply.to_bytes();
                    if self.writer.write_all(&bytes).await.is_err() {
                        self.audit.client_closed();
                        return false;
                    }
                    self.audit.server_reply(&bytes);
                    Ok(())
                }
                Action::Authenticate { user, password } => {
                    let outcome = self.log_in(&user, password.expose()).await;
                    self.session.handle_login(outcome)
                }
                Action::OpenPassive => {
                    let result = self.open_passive().await;
                    self.session.handle_passive(result)
                }
                Action::ClosePassive => {
                    self.passive = None;
                    Ok(())
                }
                Action::File(operation) => {
                    let result = match self.sftp() {
                        Ok(sftp) => files::operate(&sftp, &operation).await,
                        Err(e) => Err(e),
                    };
                    self.session.handle_done(result)
                }
                Action::Stat { path, .. } => {
                    let result = match self.sftp() {
                        Ok(sftp) => files::stat(&sftp, &path).await,
                        Err(e) => Err(e),
                    };
                    self.session.handle_stat(result)
                }
                Action::Transfer(transfer) => self.start_transfer(transfer),
                Action::Abort => self.abort(),
                Action::Close => {
                    self.audit.server_closed();
                    let _ = self.writer.shutdown().await;
                    return false;
                }
            };
            if let Err(error) = reported {
                tracing::error!("ftp bridge {}: driver out of step with its session: {error}", self.peer);
                return false;
            }
        }
        true
    }

    /// The SFTP session, once logged in.
    fn sftp(&self) -> Result<Arc<SftpSession>, FsError> {
        self.sftp.clone().ok_or(FsError::ConnectionLost)
    }

    async fn log_in(&mut self, user: &str, password: &str) -> LoginOutcome {
        match self.login.login(user, password).await {
            Ok(logged_in) => {
                tracing::debug!("ftp bridge {}: user {user} logged in", self.peer);
                let home = login_home(&logged_in.sftp).await;
                self.sftp = Some(logged_in.sftp);
                self.hold = logged_in.hold;
                home
            }
            Err(LoginError::Refused) => {
                tracing::info!("ftp bridge {}: login refused for user {user}", self.peer);
                LoginOutcome::Refused
            }
            Err(LoginError::Unavailable(reason)) => {
                tracing::info!("ftp bridge {}: login failed for user {user}: {reason}", self.peer);
                LoginOutcome::Unavailable(reason)
            }
        }
    }

    async fn open_passive(&mut self) -> Result<SocketAddr, String> {
        self.passive = None;
        let listener = TcpListener::bind((self.listen_ip, 0)).await.map_err(|e| e.to_string())?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        self.passive = Some(listener);
        Ok(address)
    }

    fn start_transfer(&mut self, transfer: Transfer) -> Result<(), ftp_proto::server::NotAwaited> {
        let source = match transfer.data {
            DataChannel::Passive => match self.passive.take() {
                Some(listener) => DataSource::Passive(listener),
                None => {
                    let error = TransferError::DataConnection("no passive listener".into());
                    return self.session.handle_transfer_done(Err(error));
                }
            },
            DataChannel::Active(address) => DataSource::Active(address),
        };
        let data_address = match &source {
            DataSource::Passive(listener) => listener.local_addr().ok(),
            DataSource::Active(address) => Some(*address),
        };
        // Two slots: the start and the end, so the task never waits on us.
        let (sender, events) = mpsc::channel(2);
        let sftp = match self.sftp() {
            Ok(sftp) => sftp,
            Err(e) => return self.session.handle_transfer_done(Err(TransferError::File(e))),
        };
        let job = Job {
            sftp,
            source,
            kind: transfer.kind.clone(),
            client_ip: self.client_ip,
            timeout: self.options.data_timeout,
            idle_timeout: self.options.data_idle_timeout,
        };
        let task = tokio::spawn(transfer::run(job, sender));
        self.running = Some(Running { task, events, kind: transfer.kind, since: Instant::now(), data_address });
        Ok(())
    }

    /// ABOR: events already sent still count (a transfer that finished
    /// first is reported as finished); otherwise the task is stopped, which
    /// drops its data connection and closes its SFTP handle.
    fn abort(&mut self) -> Result<(), ftp_proto::server::NotAwaited> {
        let Some(mut running) = self.running.take() else { return Ok(()) };
        let mut outcome = None;
        while let Ok(event) = running.events.try_recv() {
            match event {
                Event::Started(size) => self.session.handle_transfer_started(size)?,
                Event::Done(result) => outcome = Some(result),
            }
        }
        running.task.abort();
        let result = outcome.unwrap_or(Err(TransferError::Aborted));
        self.log_transfer(&running, &result);
        self.session.handle_transfer_done(result)
    }

    fn transfer_event(&mut self, event: Option<Event>) {
        let reported = match event {
            Some(Event::Started(size)) => self.session.handle_transfer_started(size),
            // The task ended without a word: it panicked.
            Some(Event::Done(_)) | None => {
                let Some(running) = self.running.take() else { return };
                let result = match event {
                    Some(Event::Done(result)) => result,
                    _ => Err(TransferError::DataBroken),
                };
                self.log_transfer(&running, &result);
                self.session.handle_transfer_done(result)
            }
        };
        if let Err(error) = reported {
            tracing::error!("ftp bridge {}: driver out of step with its session: {error}", self.peer);
        }
    }

    fn log_transfer(&mut self, running: &Running, result: &Result<u64, TransferError>) {
        self.audit.data_opened(|| bridge_data(running, result));
        let user = self.session.user().unwrap_or("-");
        let command = match &running.kind {
            TransferKind::Retrieve { .. } => "RETR",
            TransferKind::Store { .. } => "STOR",
            TransferKind::List { .. } => "LIST",
        };
        let path = running.kind.path().as_str();
        let duration = running.since.elapsed();
        match result {
            Ok(bytes) => {
                tracing::debug!(
                    "ftp bridge {}: user {user}: {command} {path}: {bytes} bytes in {duration:.2?}",
                    self.peer
                )
            }
            Err(error) => {
                tracing::debug!(
                    "ftp bridge {}: user {user}: {command} {path}: failed after {duration:.2?}: {error}",
                    self.peer
                )
            }
        }
    }
}

/// A finished transfer's data channel for the audit log.
fn bridge_data(running: &Running, result: &Result<u64, TransferError>) -> DataInfo {
    let meter = DataMeter::new();
    let bytes = *result.as_ref().unwrap_or(&0);
    match running.kind {
        TransferKind::Store { .. } => meter.finished(0, bytes),
        TransferKind::Retrieve { .. } | TransferKind::List { .. } => meter.finished(bytes, 0),
    }
    DataInfo { client_end: running.data_address.map(|a| a.to_string()), server_end: None, meter }
}

/// The SFTP server's idea of "." is the user's home directory.
async fn login_home(sftp: &SftpSession) -> LoginOutcome {
    match sftp.realpath(".").await {
        Ok(home) => LoginOutcome::Accepted { home: VirtualPath::absolute(&home) },
        Err(sftp_client::Error::ConnectionLost) => LoginOutcome::Unavailable("SSH connection lost".into()),
        Err(_) => LoginOutcome::Accepted { home: VirtualPath::root() },
    }
}

/// Resolves at `deadline`; never without one.
async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The running transfer's next event; never, when none runs.
async fn next_event(running: &mut Option<Running>) -> Option<Event> {
    match running {
        Some(running) => running.events.recv().await,
        None => std::future::pending().await,
    }
}
