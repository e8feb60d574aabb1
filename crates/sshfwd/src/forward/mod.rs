//! Port forwarding: the byte relay, the local (-L) and dynamic (-D)
//! listeners, and remote (-R) forwardings. FTP forwarding builds on these.
//! Everything here is written against [`Tunnel`], never against russh.

pub mod dynamic;
#[cfg(test)]
pub mod fake;
pub mod ftp;
pub mod listener;
pub mod local;
pub mod open_files;
pub mod relay;
pub mod remote;
pub mod remote_dynamic;
pub mod unix;

use std::sync::Arc;

use ssh_files::config::FtpSettings;
use ssh_files::forward_spec::{
    ForwardSpec, Forwarding, HostPort, Listen, ListenOn, LocalBind, PermitOpen, StreamForwarding, StreamLocalBind,
};
use sshfwd_net::{AcceptOptions, ListenAddress};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::audit::AuditLog;
use crate::ssh::Tunnel;
use ftp::{DataLimits, FtpForward, SessionIds};
use listener::{Connections, Gate, Refusal};
use open_files::Sizing;

/// What the forwardings of one run share.
#[derive(Clone)]
pub struct ForwardOptions {
    pub gateway_ports: bool,
    /// Connections one forwarding serves at once: `MaxForwardedConnections`,
    /// or sized to the open-file limit.
    pub max_connections: usize,
    /// Sessions one FTP-to-SFTP bridge serves at once: likewise.
    pub max_bridge_sessions: usize,
    pub ftp: FtpSettings,
    pub ftp_limits: DataLimits,
    pub ftp_ids: SessionIds,
    /// The FTP audit log of every FTP forwarding and bridge.
    pub ftp_audit: AuditLog,
    /// Stops every listener and accept loop.
    pub shutdown: CancellationToken,
    /// Holds every listener's and connection's task.
    pub tracker: TaskTracker,
    /// How local unix socket listeners are made.
    pub stream_local_bind: StreamLocalBind,
    /// Where remote dynamic forwarding may connect.
    pub permit_remote_open: PermitOpen,
}

impl ForwardOptions {
    /// The caps not set by `ftp` are sized to the open-file limit in
    /// force, so raise it first (see [`open_files::raise_to_hard_limit`]).
    pub fn new(gateway_ports: bool, ftp: FtpSettings) -> Self {
        let sized = Sizing::current();
        let ftp_limits = DataLimits::configured(ftp.max_data_channels);
        tracing::debug!(
            "caps: {} connections per forwarding, {} FTP data channels, {} sessions per FTP-to-SFTP bridge",
            ftp.max_forwarded_connections.unwrap_or(sized.forwarded_connections),
            ftp_limits.total(),
            ftp.max_forwarded_connections.unwrap_or(sized.bridge_sessions),
        );
        Self {
            gateway_ports,
            max_connections: ftp.max_forwarded_connections.unwrap_or(sized.forwarded_connections),
            max_bridge_sessions: ftp.max_forwarded_connections.unwrap_or(sized.bridge_sessions),
            ftp,
            ftp_limits,
            ftp_ids: SessionIds::default(),
            ftp_audit: AuditLog::default(),
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
            stream_local_bind: StreamLocalBind::default(),
            permit_remote_open: PermitOpen::Any,
        }
    }
}

/// A forwarding that could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("Could not request local forwarding.")]
    Local,
    #[error("remote port forwarding failed for listen port {port}")]
    Remote { port: u16 },
    #[error("remote port forwarding failed for listen path {path}")]
    RemotePath { path: String },
    #[error("Could not request dynamic forwarding.")]
    Dynamic,
    #[error("Could not request FTP-to-SFTP bridge.")]
    FtpToSftp,
    /// A forwarding through SSH asked for without an SSH connection.
    #[error("no SSH connection for the {0} forwarding")]
    NoConnection(ssh_files::forward_spec::ForwardKind),
}

/// Sets up one forwarding: its listeners or its remote forwarding, and
/// the tasks that serve them.
pub async fn start<T: Tunnel>(
    tunnel: &Arc<T>,
    spec: &ForwardSpec,
    options: &ForwardOptions,
) -> Result<(), ForwardError> {
    let (shutdown, tracker) = (options.shutdown.clone(), &options.tracker);
    let accept = AcceptOptions { max_connections: options.max_connections, name: spec.to_string() };
    let ftp = |target: &HostPort| FtpForward {
        target: target.clone(),
        settings: options.ftp.clone(),
        limits: options.ftp_limits.clone(),
        ids: options.ftp_ids.clone(),
        audit: options.ftp_audit.clone(),
    };
    match spec {
        ForwardSpec::Local(Forwarding { ftp: is_ftp, listen: on, target }) => {
            let listeners = listen(on, options.gateway_ports, ForwardError::Local).await?;
            for listener in &listeners {
                if let Ok(address) = listener.local_addr() {
                    tracing::debug!("Local connections to {address} forwarded to remote address {target}");
                }
            }
            let gateway = listener::is_gateway(&listeners);
            let tunnel = tunnel.clone();
            if *is_ftp {
                let ftp = ftp(target);
                let handle = move |client, peer| {
                    let (ftp, tunnel) = (ftp.clone(), tunnel.clone());
                    async move { ftp.local_session(tunnel, client, peer).await }
                };
                let control = Connections { handle, refusal: Refusal::FtpBusy, gate: Gate::new(&options.ftp, gateway) };
                listener::spawn(listeners, accept, shutdown, tracker, control);
            } else {
                let target = target.clone();
                let handle = move |stream, peer| local::connection(tunnel.clone(), stream, peer, target.clone());
                let relay = Connections { handle, refusal: Refusal::Close, gate: Gate::new(&options.ftp, gateway) };
                listener::spawn(listeners, accept, shutdown, tracker, relay);
            }
            Ok(())
        }
        ForwardSpec::LocalStream(StreamForwarding { listen: on, target }) => {
            let tunnel = tunnel.clone();
            match on {
                ListenOn::Port(on) => {
                    let listeners = listen(on, options.gateway_ports, ForwardError::Local).await?;
                    let gateway = listener::is_gateway(&listeners);
                    let target = target.clone();
                    let handle =
                        move |stream, peer| unix::local_connection(tunnel.clone(), stream, Some(peer), target.clone());
                    let relay = Connections { handle, refusal: Refusal::Close, gate: Gate::new(&options.ftp, gateway) };
                    listener::spawn(listeners, accept, shutdown, tracker, relay);
                }
                ListenOn::Path(path) => {
                    let listener = unix::listen(path, options.stream_local_bind).map_err(|_| ForwardError::Local)?;
                    let target = target.clone();
                    let handle = move |stream| unix::local_connection(tunnel.clone(), stream, None, target.clone());
                    unix::spawn(listener, accept.max_connections, shutdown, tracker, handle);
                }
            }
            Ok(())
        }
        ForwardSpec::RemoteStream(StreamForwarding { listen: on, target }) => {
            let (max, destination) = (accept.max_connections, target.clone());
            match on {
                ListenOn::Port(on) => {
                    let remote = remote::RemoteListen { address: on.remote_bind_address(), port: on.port, target };
                    remote::start(tunnel, remote, max, shutdown, tracker, move |connection| {
                        remote::connect_stream(connection.channel, destination.clone())
                    })
                    .await
                }
                ListenOn::Path(path) => {
                    remote::start_streamlocal(tunnel, path, target, max, shutdown, tracker, move |connection| {
                        remote::connect_stream(connection.channel, destination.clone())
                    })
                    .await
                }
            }
        }
        ForwardSpec::RemoteDynamic(on) => {
            let remote = remote::RemoteListen { address: on.remote_bind_address(), port: on.port, target: &"socks" };
            let permit = options.permit_remote_open.clone();
            remote::start(tunnel, remote, accept.max_connections, shutdown, tracker, move |connection| {
                remote_dynamic::connection(connection, permit.clone())
            })
            .await
        }
        ForwardSpec::Dynamic(on) => {
            let listeners = listen(on, options.gateway_ports, ForwardError::Dynamic).await?;
            let gateway = listener::is_gateway(&listeners);
            let tunnel = tunnel.clone();
            let handle = move |stream, peer| dynamic::connection(tunnel.clone(), stream, peer);
            let relay = Connections { handle, refusal: Refusal::Close, gate: Gate::new(&options.ftp, gateway) };
            listener::spawn(listeners, accept, shutdown, tracker, relay);
            Ok(())
        }
        ForwardSpec::Remote(Forwarding { ftp: is_ftp, listen: on, target }) => {
            let remote = remote::RemoteListen { address: on.remote_bind_address(), port: on.port, target };
            let max = accept.max_connections;
            if *is_ftp {
                let (ftp, session_tunnel) = (ftp(target), tunnel.clone());
                let remote_bind = ftp::remote_bind_for_passive(on.remote_bind_address());
                remote::start(tunnel, remote, max, shutdown, tracker, move |connection| {
                    let (ftp, tunnel, remote_bind) = (ftp.clone(), session_tunnel.clone(), remote_bind.clone());
                    async move { ftp.remote_session(tunnel, connection, remote_bind).await }
                })
                .await
            } else {
                let destination = target.clone();
                remote::start(tunnel, remote, max, shutdown, tracker, move |connection| {
                    remote::connect(connection, destination.clone())
                })
                .await
            }
        }
        // A bridge is served from SFTP sessions, not through a tunnel: the
        // caller starts it with `bridge::start`.
        ForwardSpec::FtpToSftp(_) => Err(ForwardError::FtpToSftp),
    }
}

// Issue 14 (mux): one forwarding stopped alone, for `-O cancel`.
/// A forwarding started with [`start_stoppable`].
pub struct Stoppable {
    /// Its listeners' and tasks' shutdown, a child of the run's.
    shutdown: CancellationToken,
    /// The server's side to cancel too, for `-R`: address and port.
    remote: Option<(String, u16)>,
}

/// Starts one forwarding as [`start`] does, but with a shutdown of its own
/// so that it can be stopped without the others.
pub async fn start_stoppable<T: Tunnel>(
    tunnel: &Arc<T>,
    spec: &ForwardSpec,
    options: &ForwardOptions,
) -> Result<Stoppable, ForwardError> {
    let own = ForwardOptions { shutdown: options.shutdown.child_token(), ..options.clone() };
    start(tunnel, spec, &own).await?;
    let remote = match spec {
        ForwardSpec::Remote(Forwarding { listen, .. }) | ForwardSpec::RemoteDynamic(listen) => {
            Some((listen.remote_bind_address().to_owned(), listen.port))
        }
        _ => None,
    };
    Ok(Stoppable { shutdown: own.shutdown, remote })
}

impl Stoppable {
    /// Stops it as the run's shutdown stops every forwarding and, for
    /// `-R`, asks the server to stop listening.
    pub async fn stop<T: Tunnel>(self, tunnel: &T) -> Result<(), ForwardError> {
        self.shutdown.cancel();
        if let Some((address, port)) = &self.remote {
            tunnel.cancel_remote_forward(address, *port).await.map_err(|e| {
                tracing::debug!("cancel-tcpip-forward {address}:{port}: {e}");
                ForwardError::Remote { port: *port }
            })?;
        }
        Ok(())
    }
}

/// Binds a forwarding's local listeners, reporting failures as OpenSSH
/// does; the error is the one to report for the forwarding's kind.
pub async fn listen(on: &Listen, gateway_ports: bool, failure: ForwardError) -> Result<Vec<TcpListener>, ForwardError> {
    let address = match on.local_bind(gateway_ports) {
        LocalBind::Loopback => ListenAddress::Loopback,
        LocalBind::Any => ListenAddress::Any,
        LocalBind::Address(host) => ListenAddress::Host(host),
    };
    sshfwd_net::listen(&address, on.port).await.map_err(|e| {
        tracing::warn!("{e}");
        tracing::warn!("channel_setup_fwd_listener_tcpip: cannot listen to port: {}", on.port);
        failure
    })
}
