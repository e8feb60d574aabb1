//! Drives one FTP control connection. One task owns the whole session: the
//! sans-IO policy, both writers and the session's data forwardings. It
//! reads lines from both sides at once, asks the policy what each means,
//! and sets up the data forwardings the policy asks for. Everything not
//! rewritten passes byte for byte.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use ftp_proto::policy::{
    ClientAction, ControlPolicy, PassiveAddress, PassiveTarget, PolicyConfig, ServerAction, SessionFacts, TlsPolicy,
};
use ftp_proto::reply::{ReplyLine, ReplyTracker};
use ssh_files::config::{FtpPassiveAddress, FtpSettings, FtpTls};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::endpoints::{DataRequest, DataTask, Endpoints};
use super::limits::{DataLimits, DataPermit};
use super::lines::{ControlError, LineReader, Side};
use super::one_shot::DataLabel;
use crate::audit::{AuditLog, DataInfo, DataMeter, Service, SessionAudit};
use crate::ssh::Tunnel;

/// Who a session is between, and what it may do.
pub struct SessionParams {
    pub id: u64,
    /// The FTP client's address as seen on the control connection.
    pub client_addr: SocketAddr,
    /// The control connection's target host.
    pub server_host: String,
    pub endpoints: Endpoints,
    pub settings: FtpSettings,
    pub limits: DataLimits,
    pub audit: AuditLog,
}

/// One FTP control session.
pub struct FtpSession<T: Tunnel> {
    params: SessionParams,
    tunnel: Arc<T>,
    policy: ControlPolicy,
    /// The session's data forwardings, waiting or relaying.
    data: JoinSet<()>,
    /// Withdraws the data forwardings still waiting when the session ends;
    /// transfers already connected finish on their own.
    session_end: CancellationToken,
    /// Withdraws the data forwarding of the last PORT/EPRT sent, should
    /// the server refuse it.
    pending_active: Option<CancellationToken>,
    audit: SessionAudit,
    /// Follows the server's replies to see the 230 that ends the login
    /// (`FtpLoginTimeout` runs until then).
    replies: ReplyTracker,
    logged_in: bool,
}

/// The session's two writers.
struct Writers<C, S> {
    client: WriteHalf<C>,
    server: WriteHalf<S>,
}

/// What the session does after a line.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Lines,
    /// TLS was let through: from now on both directions are copied raw.
    Opaque,
}

impl<T: Tunnel> FtpSession<T> {
    pub fn new(params: SessionParams, tunnel: Arc<T>) -> Self {
        let facts = SessionFacts { client_ip: params.client_addr.ip(), server_host: params.server_host.clone() };
        let policy = ControlPolicy::new(facts, policy_config(&params.settings));
        let audit = SessionAudit::new(&params.audit, Service::Forward, params.id, params.client_addr);
        Self {
            params,
            tunnel,
            policy,
            data: JoinSet::new(),
            session_end: CancellationToken::new(),
            pending_active: None,
            audit,
            replies: ReplyTracker::default(),
            logged_in: false,
        }
    }

    /// Runs the session until both directions have ended, then withdraws
    /// its waiting data forwardings and waits for its transfers.
    pub async fn run<C, S>(mut self, client: C, server: S)
    where
        C: AsyncRead + AsyncWrite + Send,
        S: AsyncRead + AsyncWrite + Send,
    {
        let started = Instant::now();
        let (client_read, client_write) = tokio::io::split(client);
        let (server_read, server_write) = tokio::io::split(server);
        let mut writers = Writers { client: client_write, server: server_write };
        let result = self
            .relay(LineReader::new(client_read, Side::Client), LineReader::new(server_read, Side::Server), &mut writers)
            .await;
        if let Err(e) = &result {
            tracing::info!("ftp session {}: {e}", self.params.id);
        }
        drop(writers);
        self.session_end.cancel();
        while self.data.join_next().await.is_some() {}
        self.audit.end(result.as_ref().err().map(ToString::to_string));
        tracing::debug!(
            "ftp session {} from {} ended{} after {:.3}s",
            self.params.id,
            self.params.client_addr,
            if result.is_err() { " with an error" } else { "" },
            started.elapsed().as_secs_f64()
        );
    }

    /// One side of the control connection closed: for the audit log, a
    /// side cut with the SSH connection is the connection's loss.
    fn side_closed(&mut self, side: Side) {
        match side {
            _ if self.tunnel.connection_lost() => self.audit.ssh_lost(),
            Side::Client => self.audit.client_closed(),
            Side::Server => self.audit.server_closed(),
        }
    }

    async fn relay<C, S>(
        &mut self,
        mut from_client: LineReader<ReadHalf<C>>,
        mut from_server: LineReader<ReadHalf<S>>,
        writers: &mut Writers<C, S>,
    ) -> Result<(), ControlError>
    where
        C: AsyncRead + AsyncWrite + Send,
        S: AsyncRead + AsyncWrite + Send,
    {
        let (mut client_open, mut server_open) = (true, true);
        let login_deadline = self.params.settings.login_timeout.map(|t| tokio::time::Instant::now() + t);
        while client_open || server_open {
            // Every branch is cancel-safe: a line reader keeps what it read.
            let flow = tokio::select! {
                line = from_client.next(), if client_open => match line? {
                    Some(line) => self.on_client_line(&line, writers).await?,
                    None => {
                        client_open = false;
                        self.side_closed(Side::Client);
                        let _ = writers.server.shutdown().await;
                        Flow::Lines
                    }
                },
                line = from_server.next(), if server_open => match line? {
                    Some(line) => self.on_server_line(&line, writers).await?,
                    None => {
                        server_open = false;
                        self.side_closed(Side::Server);
                        let _ = writers.client.shutdown().await;
                        Flow::Lines
                    }
                },
                Some(_) = self.data.join_next(), if !self.data.is_empty() => {
                    self.audit.data_finished();
                    Flow::Lines
                }
                () = until(login_deadline), if !self.logged_in => {
                    tracing::info!(
                        "ftp session {} from {}: no login within FtpLoginTimeout; closing",
                        self.params.id,
                        self.params.client_addr
                    );
                    let reply = b"421 sshfwd: no login within FtpLoginTimeout, closing control connection\r\n";
                    write(&mut writers.client, reply, Side::Client).await?;
                    let _ = writers.client.shutdown().await;
                    return Ok(());
                }
            };
            if flow == Flow::Opaque {
                tracing::warn!(
                    "ftp session {}: TLS passed through; data channels of this session cannot be forwarded",
                    self.params.id
                );
                let upstream = async {
                    if client_open {
                        from_client.pass_rest(&mut writers.server, Side::Server).await?;
                    }
                    Ok(())
                };
                let downstream = async {
                    if server_open {
                        from_server.pass_rest(&mut writers.client, Side::Client).await?;
                    }
                    Ok(())
                };
                tokio::try_join!(upstream, downstream)?;
                return Ok(());
            }
        }
        Ok(())
    }

    async fn on_client_line<C: AsyncWrite, S: AsyncWrite>(
        &mut self,
        line: &[u8],
        writers: &mut Writers<C, S>,
    ) -> Result<Flow, ControlError> {
        match self.policy.handle_client_line(line) {
            ClientAction::Forward => {
                write(&mut writers.server, line, Side::Server).await?;
                self.audit.client_line(line);
                if self.policy.opaque() {
                    return Ok(Flow::Opaque);
                }
            }
            ClientAction::Reply(reply) => {
                // Refusing TLS is routine (lftp asks every time); the rest
                // are clients doing what they must not.
                if reply.starts_with(b"534") {
                    tracing::debug!("ftp session {}: refused {}", self.params.id, printable(line));
                } else {
                    tracing::warn!("ftp session {}: refused {}", self.params.id, printable(line));
                }
                write(&mut writers.client, &reply, Side::Client).await?;
            }
            ClientAction::Active { target, kind } => {
                let reply = match self.open_active(line, target).await {
                    Ok(advertised) => {
                        let rewritten = ftp_proto::render::active_command(kind, advertised);
                        tracing::debug!(
                            "ftp session {}: {} -> {}",
                            self.params.id,
                            printable(line),
                            printable(&rewritten)
                        );
                        self.policy.active_command_sent();
                        write(&mut writers.server, &rewritten, Side::Server).await?;
                        self.audit.client_line(line);
                        return Ok(Flow::Lines);
                    }
                    Err(reply) => reply,
                };
                write(&mut writers.client, reply.as_bytes(), Side::Client).await?;
            }
        }
        Ok(Flow::Lines)
    }

    async fn on_server_line<C: AsyncWrite, S: AsyncWrite>(
        &mut self,
        line: &[u8],
        writers: &mut Writers<C, S>,
    ) -> Result<Flow, ControlError> {
        self.audit.server_line(line);
        if let Some(ReplyLine { code: 230 | 232, coded: true, last: true }) = self.replies.classify(line) {
            self.logged_in = true;
        }
        match self.policy.handle_server_line(line) {
            ServerAction::Forward => {
                write(&mut writers.client, line, Side::Client).await?;
                if self.policy.opaque() {
                    return Ok(Flow::Opaque);
                }
            }
            ServerAction::ActiveRefused => {
                // Its forwarding goes now rather than at FtpDataTimeout,
                // and frees its place in the limits.
                if let Some(withdraw) = self.pending_active.take() {
                    withdraw.cancel();
                    tracing::debug!(
                        "ftp session {}: the server refused the data address ({}); its forwarding is withdrawn",
                        self.params.id,
                        printable(line)
                    );
                    if let Some(hint) = self.params.endpoints.active_hint(&self.params.server_host) {
                        tracing::warn!("ftp session {}: {}: {hint}", self.params.id, printable(line));
                    }
                }
                write(&mut writers.client, line, Side::Client).await?;
            }
            ServerAction::Replace(reply) => {
                tracing::warn!("ftp session {}: refused server reply {}", self.params.id, printable(line));
                write(&mut writers.client, &reply, Side::Client).await?;
            }
            ServerAction::Passive { target, kind, note } => {
                if let Some(note) = note {
                    tracing::debug!("ftp session {}: {note}", self.params.id);
                }
                let reply = match self.open_passive(line, &target).await {
                    Ok(advertised) => {
                        let rewritten = ftp_proto::render::passive_reply(kind, advertised);
                        tracing::debug!(
                            "ftp session {}: {} -> {}",
                            self.params.id,
                            printable(line),
                            printable(&rewritten)
                        );
                        rewritten
                    }
                    Err(reply) => reply.into_bytes(),
                };
                write(&mut writers.client, &reply, Side::Client).await?;
            }
        }
        Ok(Flow::Lines)
    }

    /// Sets up the forwarding for a PORT/EPRT; the address to send the
    /// server, or the reply that refuses the command.
    async fn open_active(&mut self, line: &[u8], target: SocketAddr) -> Result<SocketAddr, String> {
        let permit = self.permit(line)?;
        let withdraw = self.session_end.child_token();
        let meter = DataMeter::new();
        let request = self.data_request(line, withdraw.clone(), meter.clone());
        match self.params.endpoints.active(request, target).await {
            Ok((advertised, task)) => {
                self.data.spawn(holding(permit, task, meter.clone()));
                let (client_end, server_end) = (Some(target.to_string()), Some(advertised.to_string()));
                self.audit.data_opened(|| DataInfo { client_end, server_end, meter });
                // Before the command goes: its reply may be read next.
                self.pending_active = Some(withdraw);
                Ok(advertised)
            }
            Err(e) => {
                tracing::info!("ftp session {}: cannot forward {}: {e}", self.params.id, printable(line));
                Err("425 sshfwd: cannot set up the data forwarding for this command\r\n".into())
            }
        }
    }

    /// Sets up the forwarding for a 227/229 reply; the address to send the
    /// client, or the reply that replaces the server's.
    async fn open_passive(&mut self, line: &[u8], target: &PassiveTarget) -> Result<SocketAddr, String> {
        let permit = self.permit(line)?;
        let meter = DataMeter::new();
        let request = self.data_request(line, self.session_end.child_token(), meter.clone());
        match self.params.endpoints.passive(request, &target.host, target.port).await {
            Ok((advertised, task)) => {
                self.data.spawn(holding(permit, task, meter.clone()));
                let server_end = Some(format!("{}:{}", target.host, target.port));
                let client_end = Some(advertised.to_string());
                self.audit.data_opened(|| DataInfo { client_end, server_end, meter });
                Ok(advertised)
            }
            Err(e) => {
                tracing::info!("ftp session {}: cannot forward {}: {e}", self.params.id, printable(line));
                Err("425 sshfwd: cannot set up the data forwarding for this reply\r\n".into())
            }
        }
    }

    /// A place in the limits for one more data forwarding, or the 425
    /// that says which limit was hit.
    fn permit(&mut self, line: &[u8]) -> Result<DataPermit, String> {
        // Finished forwardings no longer count.
        while self.data.try_join_next().is_some() {}
        self.params.limits.acquire(self.data.len()).map_err(|limit| {
            tracing::warn!("ftp session {}: refused {}: {limit}", self.params.id, printable(line));
            format!("425 sshfwd: {limit}\r\n")
        })
    }

    fn data_request(&self, line: &[u8], withdraw: CancellationToken, meter: Arc<DataMeter>) -> DataRequest<T> {
        DataRequest {
            tunnel: self.tunnel.clone(),
            client_addr: self.params.client_addr,
            server_host: self.params.server_host.clone(),
            timeout: self.params.settings.data_timeout,
            withdraw,
            label: DataLabel {
                session: self.params.id,
                opened_by: printable(line),
                meter,
                socket_is_client: matches!(self.params.endpoints, Endpoints::Local { .. }),
            },
        }
    }
}

fn policy_config(settings: &FtpSettings) -> PolicyConfig {
    PolicyConfig {
        passive_address: match settings.passive_address {
            FtpPassiveAddress::ControlHost => PassiveAddress::ControlHost,
            FtpPassiveAddress::Reply => PassiveAddress::Reply,
        },
        allow_foreign_passive: settings.allow_foreign_passive,
        allow_third_party_active: settings.allow_third_party_active,
        tls: match settings.tls {
            FtpTls::Refuse => TlsPolicy::Refuse,
            FtpTls::Pass => TlsPolicy::PassThrough,
        },
    }
}

/// Resolves at `deadline`; never without one.
async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

async fn write<W: AsyncWrite>(writer: &mut WriteHalf<W>, bytes: &[u8], side: Side) -> Result<(), ControlError> {
    writer.write_all(bytes).await.map_err(|source| ControlError::Io { side, source })?;
    writer.flush().await.map_err(|source| ControlError::Io { side, source })
}

/// Runs a data forwarding's task, keeping its place in the limits; its
/// meter is done whatever way it ended (a relay fills it in first).
async fn holding(permit: DataPermit, task: DataTask, meter: Arc<DataMeter>) {
    task.await;
    meter.close();
    drop(permit);
}

/// A control line for a log message: without its line end, lossy UTF-8,
/// and with PASS arguments hidden.
fn printable(line: &[u8]) -> String {
    if line.get(..4).is_some_and(|verb| verb.eq_ignore_ascii_case(b"PASS")) {
        return "PASS ****".into();
    }
    let text = String::from_utf8_lossy(line);
    text.trim_end_matches(['\r', '\n']).chars().take(200).collect()
}
