//! Drives one FTP control connection: moves its lines both ways, asks the
//! sans-IO policy what each line means, and sets up the data forwardings
//! that the policy asks for. Everything not rewritten passes byte for byte.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ftp_proto::framing::LineFramer;
use ftp_proto::policy::{ClientAction, ControlPolicy, ServerAction};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex as AsyncMutex;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::bridge::{DataLabel, LocalListenerBridge, RemoteForwardBridge};
use super::FtpSession;

/// Largest control line accepted; a longer one ends the session.
pub const MAX_LINE: usize = 8192;
/// Control connections carry short lines; the framer gathers long ones.
const READ_CHUNK: usize = 2048;

/// Runs the session until both directions have ended.
pub async fn drive<C, S>(session: FtpSession, client: C, server: S)
where
    C: AsyncRead + AsyncWrite + Send + 'static,
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let started = Instant::now();
    let (client_read, client_write) = tokio::io::split(client);
    let (server_read, server_write) = tokio::io::split(server);
    let client_write = Arc::new(AsyncMutex::new(client_write));
    let server_write = Arc::new(AsyncMutex::new(server_write));
    let policy = Arc::new(Mutex::new(ControlPolicy::new(session.facts(), session.policy_config())));
    let cancel = CancellationToken::new();
    let session = Arc::new(session);
    let mut data = JoinSet::new();
    let data_tasks = Arc::new(AsyncMutex::new(JoinSet::new()));

    let upstream = {
        let (session, policy, client_write, server_write, cancel, data_tasks) = (
            session.clone(),
            policy.clone(),
            client_write.clone(),
            server_write.clone(),
            cancel.clone(),
            data_tasks.clone(),
        );
        async move { client_to_server(&session, policy, client_read, client_write, server_write, cancel, data_tasks).await }
    };
    let downstream = {
        let (session, policy, client_write, cancel, data_tasks) =
            (session.clone(), policy.clone(), client_write.clone(), cancel.clone(), data_tasks.clone());
        async move { server_to_client(&session, policy, server_read, client_write, cancel, data_tasks).await }
    };
    data.spawn(upstream);
    data.spawn(downstream);
    let mut ended_with_error = false;
    while let Some(result) = data.join_next().await {
        if let Ok(Err(e)) = result {
            tracing::info!("ftp session {}: {e}", session.id);
            ended_with_error = true;
            // One direction failed: the session is over; stop the other.
            data.abort_all();
        }
    }
    // Pending data forwardings are removed with their session; transfers
    // already connected finish on their own.
    cancel.cancel();
    let mut pending = data_tasks.lock().await;
    while pending.join_next().await.is_some() {}
    tracing::debug!(
        "ftp session {} from {} ended{} after {:.3}s",
        session.id,
        session.client_addr,
        if ended_with_error { " with an error" } else { "" },
        started.elapsed().as_secs_f64()
    );
}

#[derive(Debug, thiserror::Error)]
enum ControlError {
    #[error("control line from the {side} longer than {limit} bytes; session closed")]
    LineTooLong { side: &'static str, limit: usize },
    #[error("control connection ({side}): {source}")]
    Io { side: &'static str, source: std::io::Error },
}

type Writer<T> = Arc<AsyncMutex<tokio::io::WriteHalf<T>>>;

async fn write_to<T: AsyncWrite>(writer: &Writer<T>, bytes: &[u8], side: &'static str) -> Result<(), ControlError> {
    let mut w = writer.lock().await;
    w.write_all(bytes).await.map_err(|source| ControlError::Io { side, source })?;
    w.flush().await.map_err(|source| ControlError::Io { side, source })
}

async fn shutdown<T: AsyncWrite>(writer: &Writer<T>) {
    let _ = writer.lock().await.shutdown().await;
}

/// Reads lines from one side; `None` at end of stream after handing over
/// any unterminated tail.
struct LineReader<R> {
    read: R,
    framer: LineFramer,
    buffer: Vec<u8>,
    side: &'static str,
    done: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    fn new(read: R, side: &'static str) -> Self {
        Self { read, framer: LineFramer::new(MAX_LINE), buffer: vec![0; READ_CHUNK], side, done: false }
    }

    async fn next(&mut self) -> Result<Option<Vec<u8>>, ControlError> {
        loop {
            match self.framer.next_line() {
                Ok(Some(line)) => return Ok(Some(line)),
                Ok(None) => {}
                Err(_) => return Err(ControlError::LineTooLong { side: self.side, limit: MAX_LINE }),
            }
            if self.done {
                let tail = self.framer.finish();
                return Ok((!tail.is_empty()).then_some(tail));
            }
            let n = self
                .read
                .read(&mut self.buffer)
                .await
                .map_err(|source| ControlError::Io { side: self.side, source })?;
            if n == 0 {
                self.done = true;
            } else {
                self.framer.push(&self.buffer[..n]);
            }
        }
    }

    /// Once the channel is opaque (TLS let through), copies everything
    /// that is left, buffered bytes first, without looking at it.
    async fn pass_rest<T: AsyncWrite>(mut self, writer: &Writer<T>, to: &'static str) -> Result<(), ControlError> {
        let buffered = self.framer.finish();
        write_to(writer, &buffered, to).await?;
        if self.done {
            return Ok(());
        }
        let mut w = writer.lock().await;
        tokio::io::copy(&mut self.read, &mut *w)
            .await
            .map_err(|source| ControlError::Io { side: self.side, source })?;
        Ok(())
    }
}

async fn client_to_server<C: AsyncRead + AsyncWrite, S: AsyncRead + AsyncWrite>(
    session: &FtpSession,
    policy: Arc<Mutex<ControlPolicy>>,
    client_read: tokio::io::ReadHalf<C>,
    client_write: Writer<C>,
    server_write: Writer<S>,
    cancel: CancellationToken,
    data_tasks: Arc<AsyncMutex<JoinSet<()>>>,
) -> Result<(), ControlError> {
    let mut lines = LineReader::new(client_read, "client");
    while let Some(line) = lines.next().await? {
        let action = lock(&policy).handle_client_line(&line);
        match action {
            ClientAction::Forward => {
                write_to(&server_write, &line, "server").await?;
                if lock(&policy).opaque() {
                    tracing::warn!(
                        "ftp session {}: TLS passed through; data channels of this session cannot be forwarded",
                        session.id
                    );
                    lines.pass_rest(&server_write, "server").await?;
                    break;
                }
            }
            ClientAction::Reply(reply) => {
                // Refusing TLS is routine (lftp asks every time); the rest
                // are clients doing what they must not.
                if reply.starts_with(b"534") {
                    tracing::debug!("ftp session {}: refused {}", session.id, printable(&line));
                } else {
                    tracing::warn!("ftp session {}: refused {}", session.id, printable(&line));
                }
                write_to(&client_write, &reply, "client").await?;
            }
            ClientAction::Active { target, kind } => {
                let Some(permit) = session.data_permit() else {
                    tracing::warn!("ftp session {}: refused {}: too many data channels", session.id, printable(&line));
                    write_to(&client_write, TOO_MANY, "client").await?;
                    continue;
                };
                let label = DataLabel { session: session.id, opened_by: printable(&line) };
                let withdraw = cancel.child_token();
                match session.active_endpoint(target, withdraw.clone(), label).await {
                    Ok((advertised, task)) => {
                        data_tasks.lock().await.spawn(holding(permit, task));
                        let rewritten = ftp_proto::render::active_command(kind, advertised);
                        tracing::debug!(
                            "ftp session {}: {} -> {}",
                            session.id,
                            printable(&line),
                            printable(&rewritten)
                        );
                        // Before the command goes: its reply may be read first.
                        session.await_active_reply(withdraw);
                        lock(&policy).active_command_sent();
                        write_to(&server_write, &rewritten, "server").await?;
                    }
                    Err(e) => {
                        tracing::info!("ftp session {}: cannot forward {}: {e}", session.id, printable(&line));
                        write_to(
                            &client_write,
                            b"425 sshfwd: cannot set up the data forwarding for this command\r\n",
                            "client",
                        )
                        .await?;
                    }
                }
            }
        }
    }
    shutdown(&server_write).await;
    Ok(())
}

async fn server_to_client<C: AsyncRead + AsyncWrite, S: AsyncRead + AsyncWrite>(
    session: &FtpSession,
    policy: Arc<Mutex<ControlPolicy>>,
    server_read: tokio::io::ReadHalf<S>,
    client_write: Writer<C>,
    cancel: CancellationToken,
    data_tasks: Arc<AsyncMutex<JoinSet<()>>>,
) -> Result<(), ControlError> {
    let mut lines = LineReader::new(server_read, "server");
    while let Some(line) = lines.next().await? {
        let action = lock(&policy).handle_server_line(&line);
        match action {
            ServerAction::Forward => {
                write_to(&client_write, &line, "client").await?;
                if lock(&policy).opaque() {
                    lines.pass_rest(&client_write, "client").await?;
                    break;
                }
            }
            ServerAction::ActiveRefused => {
                if session.withdraw_active() {
                    tracing::debug!(
                        "ftp session {}: the server refused the data address ({}); its forwarding is withdrawn",
                        session.id,
                        printable(&line)
                    );
                }
                write_to(&client_write, &line, "client").await?;
            }
            ServerAction::Replace(reply) => {
                tracing::warn!("ftp session {}: refused server reply {}", session.id, printable(&line));
                write_to(&client_write, &reply, "client").await?;
            }
            ServerAction::Passive { target, kind, note } => {
                if let Some(note) = note {
                    tracing::debug!("ftp session {}: {note}", session.id);
                }
                let Some(permit) = session.data_permit() else {
                    tracing::warn!("ftp session {}: refused {}: too many data channels", session.id, printable(&line));
                    write_to(&client_write, TOO_MANY, "client").await?;
                    continue;
                };
                let label = DataLabel { session: session.id, opened_by: printable(&line) };
                match session.passive_endpoint(&target.host, target.port, cancel.clone(), label).await {
                    Ok((advertised, task)) => {
                        data_tasks.lock().await.spawn(holding(permit, task));
                        let rewritten = ftp_proto::render::passive_reply(kind, advertised);
                        tracing::debug!(
                            "ftp session {}: {} -> {}",
                            session.id,
                            printable(&line),
                            printable(&rewritten)
                        );
                        write_to(&client_write, &rewritten, "client").await?;
                    }
                    Err(e) => {
                        tracing::info!("ftp session {}: cannot forward {}: {e}", session.id, printable(&line));
                        write_to(
                            &client_write,
                            b"425 sshfwd: cannot set up the data forwarding for this reply\r\n",
                            "client",
                        )
                        .await?;
                    }
                }
            }
        }
    }
    shutdown(&client_write).await;
    Ok(())
}

const TOO_MANY: &[u8] = b"425 sshfwd: too many data connections waiting in this session\r\n";

/// Runs a data forwarding's task, keeping its place in the limits.
async fn holding(permit: super::DataPermit, task: DataTask) {
    task.await;
    drop(permit);
}

fn lock(policy: &Mutex<ControlPolicy>) -> std::sync::MutexGuard<'_, ControlPolicy> {
    policy.lock().unwrap_or_else(|p| p.into_inner())
}

/// A control line for a log message: without its line end, lossy UTF-8,
/// and with PASS arguments hidden.
fn printable(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches(['\r', '\n']);
    if text.len() >= 4 && text[..4].eq_ignore_ascii_case("PASS") {
        return "PASS ****".into();
    }
    text.chars().take(200).collect()
}

/// A data forwarding's task, not yet spawned.
type DataTask = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>;

/// The per-mode ways of making data endpoints.
pub enum Endpoints {
    /// `-L ftp/`: the FTP client is beside sshfwd, the server beyond SSH.
    Local {
        /// The address the control connection was accepted on; passive
        /// listeners bind it so that gateway clients can reach them.
        listen_ip: IpAddr,
    },
    /// `-R ftp/`: the FTP client is beyond SSH, the server beside sshfwd.
    Remote {
        /// The SSH-server-side address that passive forwardings bind.
        remote_bind: String,
        /// Our address towards the FTP server, for active-mode listeners.
        server_facing_ip: IpAddr,
        /// The FTP server's address, the only peer allowed to connect back.
        server_ip: IpAddr,
    },
}

impl FtpSession {
    /// Where the FTP client should connect for a passive transfer whose
    /// server side is `host:port`.
    async fn passive_endpoint(
        &self,
        host: &str,
        port: u16,
        cancel: CancellationToken,
        label: DataLabel,
    ) -> Result<(SocketAddr, DataTask), String> {
        match &self.endpoints {
            Endpoints::Local { listen_ip } => {
                let bridge = LocalListenerBridge {
                    ssh: self.ssh.clone(),
                    bind_ip: *listen_ip,
                    expected_peer: self.client_addr.ip(),
                    target_host: host.to_owned(),
                    target_port: port,
                    timeout: self.settings.data_timeout,
                    cancel,
                    label,
                };
                let (address, task) = bridge.start().map_err(|e| e.to_string())?;
                Ok((address, Box::pin(task)))
            }
            Endpoints::Remote { remote_bind, .. } => {
                let target = resolve(host, port).await?;
                let bridge = RemoteForwardBridge {
                    ssh: self.ssh.clone(),
                    remote_bind: remote_bind.clone(),
                    target,
                    timeout: self.settings.data_timeout,
                    cancel,
                    label,
                };
                let (port, task) = bridge.start().await.map_err(|e| e.to_string())?;
                Ok((SocketAddr::new(advertised_remote_ip(remote_bind), port), Box::pin(task)))
            }
        }
    }

    /// Where the FTP server should connect for an active transfer whose
    /// client side listens on `target`.
    async fn active_endpoint(
        &self,
        target: SocketAddr,
        cancel: CancellationToken,
        label: DataLabel,
    ) -> Result<(SocketAddr, DataTask), String> {
        match &self.endpoints {
            Endpoints::Local { .. } => {
                // The FTP server connects to the SSH server's loopback in
                // the family it speaks on its control connection.
                let loopback = match self.server_host.trim_matches(['[', ']']).parse::<IpAddr>() {
                    Ok(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
                    _ => IpAddr::from([127, 0, 0, 1]),
                };
                let bridge = RemoteForwardBridge {
                    ssh: self.ssh.clone(),
                    remote_bind: loopback.to_string(),
                    target,
                    timeout: self.settings.data_timeout,
                    cancel,
                    label,
                };
                let (port, task) = bridge.start().await.map_err(|e| e.to_string())?;
                Ok((SocketAddr::new(loopback, port), Box::pin(task)))
            }
            Endpoints::Remote { server_facing_ip, server_ip, .. } => {
                let bridge = LocalListenerBridge {
                    ssh: self.ssh.clone(),
                    bind_ip: *server_facing_ip,
                    expected_peer: *server_ip,
                    target_host: target.ip().to_string(),
                    target_port: target.port(),
                    timeout: self.settings.data_timeout,
                    cancel,
                    label,
                };
                let (address, task) = bridge.start().map_err(|e| e.to_string())?;
                Ok((address, Box::pin(task)))
            }
        }
    }
}

/// The address to advertise for a forwarding the SSH server binds on
/// `remote_bind`: that address when it is one, else its loopback.
fn advertised_remote_ip(remote_bind: &str) -> IpAddr {
    match remote_bind.parse::<IpAddr>() {
        Ok(ip) if !ip.is_unspecified() => ip,
        _ => IpAddr::from([127, 0, 0, 1]),
    }
}

async fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("{host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host}: no address"))
}
