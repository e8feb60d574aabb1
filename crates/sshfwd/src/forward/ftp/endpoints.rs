//! Where each side of a data channel connects, per forwarding direction,
//! and the one-shot forwarding that makes that place reachable.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::one_shot::{DataLabel, LocalListenerBridge, OneShot, RemoteForwardBridge};
use crate::ssh::Tunnel;

/// A data forwarding's task, not yet spawned.
pub type DataTask = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>;

/// The per-direction ways of making data endpoints.
#[derive(Debug, Clone)]
pub enum Endpoints {
    /// `-L ftp/`: the FTP client is beside sshfwd, the server beyond SSH.
    Local {
        /// The address the control connection was accepted on; passive
        /// listeners bind it so that gateway clients can reach them.
        listen_ip: IpAddr,
        /// `FtpActiveBindAddress`: the SSH server's address that the FTP
        /// server reaches it on, where active-mode forwardings listen and
        /// what PORT/EPRT name. `None`: the SSH server's loopback, which
        /// only an FTP server on the SSH server itself can reach.
        active_bind: Option<IpAddr>,
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

/// What a session tells its endpoints about itself.
pub struct DataRequest<T> {
    pub tunnel: Arc<T>,
    /// The FTP client's address as seen on the control connection.
    pub client_addr: SocketAddr,
    /// The control connection's target host.
    pub server_host: String,
    pub timeout: Duration,
    pub withdraw: CancellationToken,
    pub label: DataLabel,
}

impl<T> DataRequest<T> {
    fn one_shot(self) -> OneShot<T> {
        OneShot { tunnel: self.tunnel, timeout: self.timeout, withdraw: self.withdraw, label: self.label }
    }
}

impl Endpoints {
    /// Where the FTP client should connect for a passive transfer whose
    /// server side is `host:port`, with the task that forwards it.
    pub async fn passive<T: Tunnel>(
        &self,
        request: DataRequest<T>,
        host: &str,
        port: u16,
    ) -> Result<(SocketAddr, DataTask), String> {
        match self {
            Endpoints::Local { listen_ip, .. } => {
                let bridge = LocalListenerBridge {
                    bind_ip: *listen_ip,
                    expected_peer: request.client_addr.ip(),
                    target_host: host.to_owned(),
                    target_port: port,
                    one_shot: request.one_shot(),
                };
                let (address, task) = bridge.start().map_err(|e| e.to_string())?;
                Ok((address, Box::pin(task)))
            }
            Endpoints::Remote { remote_bind, .. } => {
                let target = resolve(host, port).await?;
                let bridge =
                    RemoteForwardBridge { remote_bind: remote_bind.clone(), target, one_shot: request.one_shot() };
                let (port, task) = bridge.start().await.map_err(|e| e.to_string())?;
                Ok((SocketAddr::new(advertised_remote_ip(remote_bind), port), Box::pin(task)))
            }
        }
    }

    /// Where the FTP server should connect for an active transfer whose
    /// client side listens on `target`, with the task that forwards it.
    pub async fn active<T: Tunnel>(
        &self,
        request: DataRequest<T>,
        target: SocketAddr,
    ) -> Result<(SocketAddr, DataTask), String> {
        match self {
            Endpoints::Local { active_bind, .. } => {
                let bind = active_bind.unwrap_or_else(|| ssh_server_loopback(&request.server_host));
                let bridge =
                    RemoteForwardBridge { remote_bind: bind.to_string(), target, one_shot: request.one_shot() };
                let (port, task) = bridge.start().await.map_err(|e| e.to_string())?;
                Ok((SocketAddr::new(bind, port), Box::pin(task)))
            }
            Endpoints::Remote { server_facing_ip, server_ip, .. } => {
                let bridge = LocalListenerBridge {
                    bind_ip: *server_facing_ip,
                    expected_peer: *server_ip,
                    target_host: target.ip().to_string(),
                    target_port: target.port(),
                    one_shot: request.one_shot(),
                };
                let (address, task) = bridge.start().map_err(|e| e.to_string())?;
                Ok((address, Box::pin(task)))
            }
        }
    }
}

impl Endpoints {
    /// Why an FTP server at `server_host` may refuse or miss the data
    /// address of a PORT/EPRT, when the likely cause is that it runs on
    /// another host than the SSH server and so cannot reach the SSH
    /// server's loopback.
    pub fn active_hint(&self, server_host: &str) -> Option<&'static str> {
        let on_the_ssh_server = server_host.eq_ignore_ascii_case("localhost")
            || server_host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        match self {
            Endpoints::Local { active_bind: None, .. } if !on_the_ssh_server => Some(
                "active mode to an FTP server on another host than the SSH server needs FtpActiveBindAddress \
                 (and GatewayPorts clientspecified in sshd_config)",
            ),
            _ => None,
        }
    }
}

/// The SSH server's loopback in the family the FTP server speaks on its
/// control connection.
fn ssh_server_loopback(server_host: &str) -> IpAddr {
    match server_host.trim_matches(['[', ']']).parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => IpAddr::from(Ipv6Addr::LOCALHOST),
        _ => IpAddr::from([127, 0, 0, 1]),
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
