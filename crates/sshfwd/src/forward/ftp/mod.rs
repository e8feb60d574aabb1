//! FTP-aware forwarding (`-L ftp/…`, `-R ftp/…`): the control connection
//! is relayed through SSH and watched; every data channel it announces
//! gets a one-shot forwarding of its own.

mod bridge;
mod control;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use ftp_proto::policy::{PassiveAddress, PolicyConfig, SessionFacts, TlsPolicy};
use ssh_files::forward_spec::Forwarding;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use control::{Endpoints, MAX_LINE};

use super::{ForwardContext, ForwardError};
use crate::settings::Settings;
use crate::ssh::{ForwardedConnection, SshConnection};
use ssh_files::config::{FtpPassiveAddress as ConfiguredPassiveAddress, FtpSettings, FtpTls};

/// Numbers sessions for the logs.
static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// Data forwardings (waiting or relaying) one session may have at once: FTP
/// uses one at a time, so more is a client or server gone wrong.
const DATA_CHANNELS_PER_SESSION: usize = 8;
/// Data forwardings across all sessions, so that no flood of PASV/PORT can
/// exhaust ports, remote forwardings or memory.
const DATA_CHANNELS_TOTAL: usize = 1024;

fn all_data_channels() -> Arc<Semaphore> {
    static TOTAL: OnceLock<Arc<Semaphore>> = OnceLock::new();
    TOTAL.get_or_init(|| Arc::new(Semaphore::new(DATA_CHANNELS_TOTAL))).clone()
}

/// Held by a data forwarding for as long as it exists.
pub struct DataPermit {
    _session: OwnedSemaphorePermit,
    _total: OwnedSemaphorePermit,
}

/// One FTP control session and what its data forwardings need.
pub struct FtpSession {
    pub id: u64,
    /// The FTP client's address as seen on the control connection.
    pub client_addr: SocketAddr,
    /// The control connection's target host.
    pub server_host: String,
    pub ssh: Arc<SshConnection>,
    pub endpoints: Endpoints,
    pub settings: FtpSettings,
    pub data_channels: Arc<Semaphore>,
    /// Withdraws the data forwarding of the last PORT/EPRT sent, should
    /// the server refuse it.
    pending_active: std::sync::Mutex<Option<CancellationToken>>,
}

impl FtpSession {
    fn new(
        id: u64,
        client_addr: SocketAddr,
        server_host: String,
        ssh: Arc<SshConnection>,
        endpoints: Endpoints,
        settings: FtpSettings,
    ) -> Self {
        let data_channels = Arc::new(Semaphore::new(DATA_CHANNELS_PER_SESSION));
        Self {
            id,
            client_addr,
            server_host,
            ssh,
            endpoints,
            settings,
            data_channels,
            pending_active: Default::default(),
        }
    }

    /// Keeps `withdraw` until the server answers the PORT/EPRT about to go.
    fn await_active_reply(&self, withdraw: CancellationToken) {
        *self.pending_active.lock().unwrap_or_else(|p| p.into_inner()) = Some(withdraw);
    }

    /// The server refused the last PORT/EPRT: its forwarding goes now
    /// rather than at FtpDataTimeout, and frees its place in the limits.
    fn withdraw_active(&self) -> bool {
        let withdraw = self.pending_active.lock().unwrap_or_else(|p| p.into_inner()).take();
        withdraw.map(|w| w.cancel()).is_some()
    }

    /// A place for one more data forwarding, if the limits allow it.
    fn data_permit(&self) -> Option<DataPermit> {
        let session = self.data_channels.clone().try_acquire_owned().ok()?;
        let total = all_data_channels().try_acquire_owned().ok()?;
        Some(DataPermit { _session: session, _total: total })
    }

    fn facts(&self) -> SessionFacts {
        SessionFacts { client_ip: self.client_addr.ip(), server_host: self.server_host.clone() }
    }

    fn policy_config(&self) -> PolicyConfig {
        PolicyConfig {
            passive_address: match self.settings.passive_address {
                ConfiguredPassiveAddress::ControlHost => PassiveAddress::ControlHost,
                ConfiguredPassiveAddress::Reply => PassiveAddress::Reply,
            },
            allow_foreign_passive: self.settings.allow_foreign_passive,
            allow_third_party_active: self.settings.allow_third_party_active,
            tls: match self.settings.tls {
                FtpTls::Refuse => TlsPolicy::Refuse,
                FtpTls::Pass => TlsPolicy::PassThrough,
            },
        }
    }
}

/// Sets up a local (`-L ftp/`) forwarding and spawns its server into `tasks`.
pub fn start_local(
    ctx: &ForwardContext,
    forwarding: &Forwarding,
    settings: &Settings,
    tasks: &mut JoinSet<()>,
) -> Result<(), ForwardError> {
    let (target, ftp) = (forwarding.target.clone(), settings.ftp.clone());
    let listeners = crate::app::listen(&forwarding.listen, settings.gateway_ports, ForwardError::Local)?;
    let ssh = ctx.ssh.clone();
    tasks.spawn(super::listener::serve(listeners, move |client, peer| {
        local_session(ssh.clone(), client, peer, target.host.clone(), target.port, ftp.clone())
    }));
    Ok(())
}

/// Requests a remote (`-R ftp/`) forwarding and spawns its loop into `tasks`.
pub async fn start_remote(
    ctx: &ForwardContext,
    forwarding: &Forwarding,
    settings: &Settings,
    tasks: &mut JoinSet<()>,
) -> Result<(), ForwardError> {
    let (target, ftp) = (&forwarding.target, settings.ftp.clone());
    let address = forwarding.listen.remote_bind_address();
    let remote_bind =
        if address.is_empty() || address == "localhost" { "127.0.0.1".to_owned() } else { address.to_owned() };
    let ssh = ctx.ssh.clone();
    let (host, port) = (target.host.clone(), target.port);
    super::remote::start(ctx, &forwarding.listen, target, tasks, move |connection| {
        remote_session(ssh.clone(), connection, host.clone(), port, remote_bind.clone(), ftp.clone())
    })
    .await
}

async fn local_session(
    ssh: Arc<SshConnection>,
    client: TcpStream,
    peer: SocketAddr,
    host: String,
    port: u16,
    settings: FtpSettings,
) {
    let id = NEXT_SESSION.fetch_add(1, Ordering::Relaxed);
    let listen_ip = match client.local_addr() {
        Ok(a) => a.ip(),
        Err(_) => return,
    };
    tracing::debug!("ftp session {id}: control connection from {peer} to {host}:{port}");
    let channel = match ssh.open_direct_tcpip(&host, port, peer).await {
        Ok(c) => c,
        Err(e) => {
            tracing::info!(
                "ftp session {id}: channel open failed: connect to {host}:{port} failed: {}",
                super::local::describe_open_error(&e)
            );
            return;
        }
    };
    let session = FtpSession::new(id, peer, host, ssh, Endpoints::Local { listen_ip }, settings);
    control::drive(session, client, channel.into_stream()).await;
}

async fn remote_session(
    ssh: Arc<SshConnection>,
    connection: ForwardedConnection,
    host: String,
    port: u16,
    remote_bind: String,
    settings: FtpSettings,
) {
    let id = NEXT_SESSION.fetch_add(1, Ordering::Relaxed);
    let client_addr = connection.originator.parse::<SocketAddr>().unwrap_or_else(|_| {
        SocketAddr::new(connection.originator_address.parse().unwrap_or(IpAddr::from([127, 0, 0, 1])), 0)
    });
    tracing::debug!(
        "ftp session {id}: control connection from {} (server side) to {host}:{port}",
        connection.originator
    );
    let Ok((client, server)) = super::remote::connect_channel(connection, (host.as_str(), port)).await else {
        return;
    };
    let (Ok(local), Ok(server_addr)) = (server.local_addr(), server.peer_addr()) else { return };
    let endpoints = Endpoints::Remote { remote_bind, server_facing_ip: local.ip(), server_ip: server_addr.ip() };
    let session = FtpSession::new(id, client_addr, host, ssh, endpoints, settings);
    control::drive(session, client.into_stream(), server).await;
}
