//! One client connection: authentication, the permissions it earns, and
//! russh's callbacks for channels and global requests.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;

use russh::keys::{HashAlg, PublicKey};
use russh::server::{Auth, ChannelOpenHandle, Msg, PublicKeyOffer, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, ChannelOpenFailure};
use tokio_util::sync::CancellationToken;

use crate::authorized_keys::{KeyOptions, Lookup, PermitListen, PermitOpen};
use crate::config::Shared;
use crate::forward::{self, RemoteForward};
use crate::keys::log_type;
use crate::login::LoginState;
use crate::sftp::SftpSession;

/// What a client sees on stderr when it asks for a shell or a command.
pub(crate) const NO_SHELL: &str =
    "sshfwd-server: shell and exec are not supported; this server only forwards ports and serves sftp\r\n";

/// Errors that end a session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The SSH transport failed.
    #[error(transparent)]
    Ssh(#[from] russh::Error),
    /// Authenticated, but the server has no place for another session.
    #[error(transparent)]
    Full(#[from] crate::login::SessionsFull),
}

/// What an authenticated client may do.
#[derive(Debug, Clone)]
struct Permissions {
    port_forwarding: bool,
    /// Empty: anywhere.
    permit_open: Vec<PermitOpen>,
    /// Empty: any listen address.
    permit_listen: Vec<PermitListen>,
    sftp: bool,
    /// Where the permissions came from, for refusal messages.
    source: String,
}

impl Permissions {
    fn from_key(options: &KeyOptions, origin: &str) -> Self {
        Self {
            port_forwarding: options.port_forwarding,
            permit_open: options.permit_open.clone(),
            permit_listen: options.permit_listen.clone(),
            sftp: options.command.is_none(),
            source: origin.to_owned(),
        }
    }

    fn password() -> Self {
        Self {
            port_forwarding: true,
            permit_open: Vec::new(),
            permit_listen: Vec::new(),
            sftp: true,
            source: "password login".to_owned(),
        }
    }

    /// `Err` holds the reason for the log.
    fn check_open(&self, host: &str, port: u32) -> Result<(), String> {
        self.check_forward("permitopen", self.permit_open.iter().map(|p| p.allows(host, port)))
    }

    fn check_listen(&self, address: &str, port: u32) -> Result<(), String> {
        self.check_forward("permitlisten", self.permit_listen.iter().map(|p| p.allows(address, port)))
    }

    /// Forwarding must be on, and one of `option`'s rules (if there are
    /// any) must allow the request.
    fn check_forward(&self, option: &str, mut rules: impl ExactSizeIterator<Item = bool>) -> Result<(), String> {
        if !self.port_forwarding {
            return Err(format!("port forwarding is disabled ({})", self.source));
        }
        if rules.len() == 0 || rules.any(|allowed| allowed) {
            Ok(())
        } else {
            Err(format!("not in {option} ({})", self.source))
        }
    }
}

/// russh's per-connection handler.
pub(crate) struct SessionHandler {
    shared: Arc<Shared>,
    peer: SocketAddr,
    /// Set once authentication succeeds.
    user: Option<String>,
    permissions: Option<Permissions>,
    /// Session channels not yet given to a subsystem.
    sessions: HashMap<ChannelId, Channel<Msg>>,
    /// Remote forwardings by (address as sent, port), each with the token
    /// that stops its listener.
    remote_forwards: HashMap<(String, u32), CancellationToken>,
    /// Cancelled when the connection ends: stops listeners and relays.
    token: CancellationToken,
    /// Session channels open (with or without a subsystem).
    session_channels: HashSet<ChannelId>,
    /// The connection's login: its place among startups, then among
    /// authenticated connections.
    login: Arc<LoginState>,
}

impl SessionHandler {
    pub(crate) fn new(shared: Arc<Shared>, peer: SocketAddr, token: CancellationToken, login: Arc<LoginState>) -> Self {
        Self {
            shared,
            peer,
            user: None,
            permissions: None,
            sessions: HashMap::new(),
            remote_forwards: HashMap::new(),
            token,
            session_channels: HashSet::new(),
            login,
        }
    }

    /// Authentication succeeded: the login takes an authenticated place,
    /// or the connection ends (the cap is reached).
    fn logged_in(&mut self, user: &str, permissions: Permissions) -> Result<Auth, SessionError> {
        if let Err(full) = self.login.succeed() {
            tracing::info!("refused {user} from {}: {full}", self.from());
            return Err(SessionError::Full(full));
        }
        self.permissions = Some(permissions);
        self.user = Some(user.to_owned());
        Ok(Auth::Accept)
    }

    fn from(&self) -> String {
        format!("{} port {}", self.peer.ip(), self.peer.port())
    }

    fn user(&self) -> &str {
        self.user.as_deref().unwrap_or("(unauthenticated)")
    }

    fn key_text(key: &PublicKey) -> String {
        format!("{} {}", log_type(key), key.fingerprint(HashAlg::Sha256))
    }

    /// Refuses a shell, exec or subsystem request: the message on the
    /// channel's stderr, exit status 1, EOF and close.
    ///
    /// The request itself is answered with success: OpenSSH's client
    /// drops whatever stderr text is pending when a request fails (it
    /// prints only "exec request failed on channel 0"), and the point is
    /// that the user reads why.
    fn refuse_session(&mut self, channel: ChannelId, session: &mut Session, message: &str) -> Result<(), SessionError> {
        session.channel_success(channel)?;
        session.extended_data(channel, 1, message.as_bytes().to_vec())?;
        session.exit_status_request(channel, 1)?;
        session.eof(channel)?;
        session.close(channel)?;
        self.sessions.remove(&channel);
        Ok(())
    }
}

impl Drop for SessionHandler {
    fn drop(&mut self) {
        self.token.cancel();
        match &self.user {
            Some(user) => tracing::info!("Disconnected from user {user} {}", self.from()),
            None => tracing::info!("Connection closed by {} [preauth]", self.from()),
        }
    }
}

impl russh::server::Handler for SessionHandler {
    type Error = SessionError;

    async fn auth_publickey_offered(&mut self, user: &str, offer: PublicKeyOffer<'_>) -> Result<Auth, Self::Error> {
        self.login.attempted();
        match self.shared.config.authorized_keys.lookup(offer.public_key, self.peer.ip()) {
            Lookup::Allowed(_) => Ok(Auth::Accept),
            Lookup::NotFromPermittedHost => {
                tracing::info!(
                    "Authentication tried for {user} with correct key but not from a permitted host (ip={}).",
                    self.peer.ip()
                );
                Ok(Auth::reject())
            }
            Lookup::Unknown => {
                tracing::info!(
                    "Failed publickey for {user} from {} ssh2: {}",
                    self.from(),
                    Self::key_text(offer.public_key)
                );
                Ok(Auth::reject())
            }
        }
    }

    async fn auth_publickey(&mut self, user: &str, key: VerifiedPublicKey<'_>) -> Result<Auth, Self::Error> {
        let Lookup::Allowed(entry) = self.shared.config.authorized_keys.lookup(key.public_key, self.peer.ip()) else {
            tracing::info!("Failed publickey for {user} from {} ssh2: {}", self.from(), Self::key_text(key.public_key));
            return Ok(Auth::reject());
        };
        tracing::info!(
            "Accepted publickey for {user} from {} ssh2: {} ({})",
            self.from(),
            Self::key_text(key.public_key),
            entry.origin
        );
        self.logged_in(user, Permissions::from_key(&entry.options, &entry.origin))
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        self.login.attempted();
        let accepted = self.shared.config.passwords.as_ref().is_some_and(|p| p.check(user, password));
        if accepted {
            tracing::info!("Accepted password for {user} from {} ssh2", self.from());
            self.logged_in(user, Permissions::password())
        } else {
            tracing::info!("Failed password for {user} from {} ssh2", self.from());
            Ok(Auth::reject())
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let limit = self.shared.config.max_sessions;
        if self.session_channels.len() >= limit {
            tracing::info!("refused session channel for {}: {limit} open, the limit (MaxSessions)", self.user());
            reply.reject(ChannelOpenFailure::ResourceShortage).await;
            return Ok(());
        }
        self.session_channels.insert(channel.id());
        self.sessions.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    async fn channel_close(&mut self, channel: ChannelId, _session: &mut Session) -> Result<(), Self::Error> {
        self.sessions.remove(&channel);
        self.session_channels.remove(&channel);
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        tracing::info!("refused pty request from {} {}", self.user(), self.from());
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single_connection: bool,
        _x11_auth_protocol: &str,
        _x11_auth_cookie: &str,
        _x11_screen_number: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _variable_name: &str,
        _variable_value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn agent_request(&mut self, _channel: ChannelId, _session: &mut Session) -> Result<bool, Self::Error> {
        Ok(false)
    }

    async fn shell_request(&mut self, channel: ChannelId, session: &mut Session) -> Result<(), Self::Error> {
        tracing::info!("refused shell for {} from {}", self.user(), self.from());
        self.refuse_session(channel, session, NO_SHELL)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        tracing::info!("refused exec for {} from {}: {:?}", self.user(), self.from(), String::from_utf8_lossy(data));
        self.refuse_session(channel, session, NO_SHELL)
    }

    async fn subsystem_request(
        &mut self,
        channel_id: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let allowed = self.permissions.as_ref().is_some_and(|p| p.sftp);
        let root = match (&self.shared.sftp_root, name) {
            (Some(root), "sftp") if allowed => root.clone(),
            (None, "sftp") => {
                tracing::info!("refused sftp for {} from {}: no sftp root configured", self.user(), self.from());
                return self.refuse_session(
                    channel_id,
                    session,
                    "sshfwd-server: sftp is not enabled on this server\r\n",
                );
            }
            (_, "sftp") => {
                tracing::info!("refused sftp for {} from {}: the key has a forced command", self.user(), self.from());
                return self.refuse_session(channel_id, session, "sshfwd-server: sftp is not allowed for this key\r\n");
            }
            _ => {
                tracing::info!("refused subsystem {name:?} for {} from {}", self.user(), self.from());
                return self.refuse_session(channel_id, session, NO_SHELL);
            }
        };
        let Some(channel) = self.sessions.remove(&channel_id) else {
            session.channel_failure(channel_id)?;
            return Ok(());
        };
        match SftpSession::new(&root, self.user()) {
            Ok(sftp) => {
                tracing::info!("subsystem request for sftp by user {} from {}", self.user(), self.from());
                session.channel_success(channel_id)?;
                russh_sftp::server::run(channel.into_stream(), sftp).await;
            }
            Err(e) => {
                tracing::warn!("sftp root {}: {e}", root.display());
                session.channel_failure(channel_id)?;
                session.close(channel_id)?;
            }
        }
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host_to_connect: &str,
        port_to_connect: u32,
        originator_address: &str,
        originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let user = self.user().to_owned();
        let verdict = match &self.permissions {
            Some(p) => p.check_open(host_to_connect, port_to_connect),
            None => Err("not authenticated".to_owned()),
        };
        let port = match (verdict, u16::try_from(port_to_connect)) {
            (Ok(()), Ok(port)) => port,
            (Err(reason), _) => {
                tracing::info!(
                    "refused direct-tcpip to {host_to_connect} port {port_to_connect} for {user} from {}: {reason}",
                    self.from()
                );
                reply.reject(ChannelOpenFailure::AdministrativelyProhibited).await;
                return Ok(());
            }
            (Ok(()), Err(_)) => {
                reply.reject(ChannelOpenFailure::ConnectFailed).await;
                return Ok(());
            }
        };
        let host = host_to_connect.to_owned();
        let origin = format!("{originator_address} port {originator_port}");
        let timeout = self.shared.config.connect_timeout;
        let token = self.token.clone();
        // Connecting may take a while: do it outside the session loop.
        tokio::spawn(async move {
            let socket = match forward::connect(&host, port, timeout).await {
                Ok(socket) => socket,
                Err(e) => {
                    tracing::info!("direct-tcpip to {host} port {port} for {user} failed: {e}");
                    reply.reject(ChannelOpenFailure::ConnectFailed).await;
                    return;
                }
            };
            reply.accept().await;
            tracing::info!("direct-tcpip: {user} (originator {origin}) to {host} port {port}");
            tokio::select! {
                result = forward::relay(socket, channel.into_stream()) => match result {
                    Ok((up, down)) => tracing::debug!(
                        "direct-tcpip to {host} port {port} closed: {down} bytes sent, {up} bytes received"
                    ),
                    Err(e) => tracing::debug!("direct-tcpip to {host} port {port} ended: {e}"),
                },
                () = token.cancelled() => {}
            }
        });
        Ok(())
    }

    async fn tcpip_forward(
        &mut self,
        address: &str,
        port: &mut u32,
        session: &mut Session,
    ) -> Result<bool, Self::Error> {
        let verdict = match &self.permissions {
            Some(p) => p.check_listen(address, *port),
            None => Err("not authenticated".to_owned()),
        };
        if let Err(reason) = verdict {
            tracing::info!(
                "refused remote forward {address}:{port} for {} from {}: {reason}",
                self.user(),
                self.from()
            );
            return Ok(false);
        }
        let Ok(requested) = u16::try_from(*port) else {
            return Ok(false);
        };
        let limit = self.shared.config.max_remote_forwards;
        if self.remote_forwards.len() >= limit {
            tracing::info!("refused remote forward {address}:{port} for {}: {limit} held, the limit", self.user());
            return Ok(false);
        }
        let listen_address = forward::listen_address(address, self.shared.config.gateway_ports);
        let listeners = match sshfwd_net::listen(&listen_address, requested).await {
            Ok(listeners) => listeners,
            Err(e) => {
                tracing::info!("remote forward {address}:{port} for {}: cannot listen: {e}", self.user());
                return Ok(false);
            }
        };
        // Every listener has the port the first one got (or was asked for).
        let Some(allocated) = listeners.first().and_then(|l| l.local_addr().ok()).map(|a| a.port()) else {
            return Ok(false);
        };
        let token = self.token.child_token();
        let shown: Vec<String> = listeners.iter().filter_map(|l| l.local_addr().ok()).map(|a| a.to_string()).collect();
        tracing::info!(
            "remote forward for {} from {}: listening on {} (requested {address}:{port})",
            self.user(),
            self.from(),
            shown.join(", ")
        );
        let forward = RemoteForward {
            handle: session.handle(),
            address: address.to_owned(),
            port: allocated,
            user: self.user().to_owned(),
        };
        tokio::spawn(forward::accept_loop(forward, listeners, token.clone()));
        self.remote_forwards.insert((address.to_owned(), u32::from(allocated)), token);
        *port = u32::from(allocated);
        Ok(true)
    }

    async fn cancel_tcpip_forward(
        &mut self,
        address: &str,
        port: u32,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        match self.remote_forwards.remove(&(address.to_owned(), port)) {
            Some(token) => {
                token.cancel();
                tracing::info!("remote forward {address}:{port} cancelled by {}", self.user());
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
