//! The server's configuration, and the checked form of it that the
//! accept loop and every session share.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::PrivateKey;
use russh::server::Config;
use russh::{MethodKind, MethodSet};

use sshfwd_net::admission::AdmissionPolicy;

use crate::authorized_keys::AuthorizedKeys;
use crate::error::ServerError;
use crate::passwords::Passwords;

/// What the server does; see the crate documentation.
#[derive(Clone)]
pub struct ServerConfig {
    /// Host keys offered to clients; at least one.
    pub host_keys: Vec<PrivateKey>,
    /// The keys that may log in, with their options.
    pub authorized_keys: AuthorizedKeys,
    /// Password authentication is offered only when this is set.
    pub passwords: Option<Passwords>,
    /// The directory served by the `sftp` subsystem; no sftp when unset.
    pub sftp_root: Option<PathBuf>,
    /// Remote forwardings may listen on non-loopback addresses (sshd's
    /// `GatewayPorts clientspecified`); otherwise they listen on loopback
    /// whatever the client asks.
    pub gateway_ports: bool,
    /// How long a direct-tcpip connection attempt may take.
    pub connect_timeout: Duration,
    /// Authenticated connections at once; a client that logs in past the
    /// cap is disconnected. Unauthenticated ones have limits of their own
    /// ([`ServerConfig::admission`]).
    pub max_connections: usize,
    /// Who may start a login: sshd's MaxStartups, PerSourceMaxStartups,
    /// PerSourceNetBlockSize and PerSourcePenalties.
    pub admission: AdmissionPolicy,
    /// Session channels one connection may have open (sshd's MaxSessions).
    pub max_sessions: usize,
    /// Remote forwardings one connection may hold.
    pub max_remote_forwards: usize,
    /// Server keepalives (answered by OpenSSH clients) detect dead clients.
    pub keepalive_interval: Duration,
    /// A connection not authenticated within this time is dropped
    /// (sshd's LoginGraceTime).
    pub login_grace_time: Duration,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host_keys: Vec<String> = self.host_keys.iter().map(|k| crate::keys::fingerprint(k.public_key())).collect();
        f.debug_struct("ServerConfig")
            .field("host_keys", &host_keys)
            .field("authorized_keys", &self.authorized_keys.entries().len())
            .field("passwords", &self.passwords)
            .field("sftp_root", &self.sftp_root)
            .field("gateway_ports", &self.gateway_ports)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_connections", &self.max_connections)
            .field("admission", &self.admission)
            .field("max_sessions", &self.max_sessions)
            .field("max_remote_forwards", &self.max_remote_forwards)
            .field("keepalive_interval", &self.keepalive_interval)
            .field("login_grace_time", &self.login_grace_time)
            .finish()
    }
}

impl ServerConfig {
    /// A configuration with one host key, no authorized keys, no
    /// passwords, no sftp and loopback-only remote forwardings.
    pub fn new(host_key: PrivateKey) -> Self {
        Self {
            host_keys: vec![host_key],
            authorized_keys: AuthorizedKeys::default(),
            passwords: None,
            sftp_root: None,
            gateway_ports: false,
            connect_timeout: Duration::from_secs(10),
            max_connections: 256,
            admission: AdmissionPolicy::default(),
            max_sessions: 10,
            max_remote_forwards: 64,
            keepalive_interval: Duration::from_secs(30),
            login_grace_time: Duration::from_secs(120),
        }
    }

    pub(crate) fn russh_config(&self) -> Config {
        let mut methods = MethodSet::empty();
        methods.push(MethodKind::PublicKey);
        if self.passwords.is_some() {
            methods.push(MethodKind::Password);
        }
        Config {
            server_id: russh::SshId::Standard(format!("SSH-2.0-sshfwd-server_{}", env!("CARGO_PKG_VERSION")).into()),
            methods,
            keys: self.host_keys.clone(),
            auth_rejection_time: Duration::from_millis(500),
            // OpenSSH clients start with "none" to learn the methods.
            auth_rejection_time_initial: Some(Duration::ZERO),
            window_size: 16 * 1024 * 1024,
            maximum_packet_size: 65535,
            // The window is widened as the relays read (vendor/russh), but a
            // full queue still parks the whole session: room for a window's
            // worth of packets down to 4 KiB (slots are allocated as used).
            channel_buffer_size: 4096,
            max_auth_attempts: 6,
            keepalive_interval: Some(self.keepalive_interval),
            keepalive_max: 3,
            // Only reached when keepalives go unanswered as well.
            inactivity_timeout: Some(Duration::from_secs(600)),
            nodelay: true,
            ..Config::default()
        }
    }
}

/// What every session shares.
pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    /// The canonical sftp root.
    pub(crate) sftp_root: Option<PathBuf>,
}

/// Checks the configuration once, before anything listens.
pub(crate) fn prepare(config: ServerConfig) -> Result<Arc<Shared>, ServerError> {
    if config.host_keys.is_empty() {
        return Err(ServerError::NoHostKey);
    }
    let sftp_root = match &config.sftp_root {
        Some(path) => {
            let canonical = std::fs::canonicalize(path)
                .map_err(|e| ServerError::SftpRoot { path: path.clone(), reason: e.to_string() })?;
            if !canonical.is_dir() {
                return Err(ServerError::SftpRoot { path: path.clone(), reason: "not a directory".to_owned() });
            }
            Some(canonical)
        }
        None => None,
    };
    Ok(Arc::new(Shared { config, sftp_root }))
}
