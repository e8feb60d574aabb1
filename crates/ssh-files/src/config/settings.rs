//! Concrete settings for one connection: [`HostOptions`] with OpenSSH's
//! defaults filled in (`fill_default_options`) and tokens expanded.

use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

use super::options::HostOptions;
use super::tokens::{self, Context, ExpandError, TokenValue};
use super::value::SessionType;
use super::value::SyslogFacility;
use super::value::{FtpPassiveAddress, FtpTls, FtpToSftpLogin, LogLevel, StrictHostKeyChecking};
use crate::forward_spec::{ConnectTo, ForwardSpec, ListenOn, PermitOpen, StreamForwarding, StreamLocalBind};

/// The identity files tried when none is configured, in OpenSSH's order.
pub const DEFAULT_IDENTITY_FILES: &[&str] = &[
    "~/.ssh/id_rsa",
    "~/.ssh/id_ecdsa",
    "~/.ssh/id_ecdsa_sk",
    "~/.ssh/id_ed25519",
    "~/.ssh/id_ed25519_sk",
    "~/.ssh/id_xmss",
    "~/.ssh/id_dsa",
];

/// The user known_hosts files when `UserKnownHostsFile` is not set.
pub const DEFAULT_USER_KNOWN_HOSTS_FILES: &[&str] = &["~/.ssh/known_hosts", "~/.ssh/known_hosts2"];

/// The global known_hosts files when `GlobalKnownHostsFile` is not set.
pub const DEFAULT_GLOBAL_KNOWN_HOSTS_FILES: &[&str] = &["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"];

/// sshfwd's default for `FtpDataTimeout`.
pub const DEFAULT_FTP_DATA_TIMEOUT: Duration = Duration::from_secs(30);

/// sshfwd's default for `ReconnectMaxDelay`.
pub const DEFAULT_RECONNECT_MAX_DELAY: Duration = Duration::from_secs(30);

/// With `Reconnect yes` and no `ServerAliveInterval`: a dead link must be
/// noticed for a reconnection to happen.
pub const RECONNECT_SERVER_ALIVE_INTERVAL: Duration = Duration::from_secs(15);

/// Where to find the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityAgent {
    /// The socket named by `$SSH_AUTH_SOCK` (the default).
    Environment,
    /// `IdentityAgent none`: do not use an agent.
    None,
    /// This socket.
    Path(PathBuf),
}

/// sshfwd's FTP options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FtpSettings {
    /// How long to wait for a data connection (default 30 s).
    pub data_timeout: Duration,
    /// Default [`FtpPassiveAddress::ControlHost`].
    pub passive_address: FtpPassiveAddress,
    /// Allow a passive reply naming a host other than the control host
    /// (default no).
    pub allow_foreign_passive: bool,
    /// Allow PORT/EPRT naming a host other than the client (default no).
    pub allow_third_party_active: bool,
    /// Default [`FtpTls::Refuse`].
    pub tls: FtpTls,
    /// `FtpToSftpLogin`, default [`FtpToSftpLogin::Session`].
    pub bridge_login: FtpToSftpLogin,
    /// `FtpToSftpPasswordFile`, expanded; `None` for a random password.
    pub bridge_password_file: Option<PathBuf>,
    /// `FtpMaxDataChannels`; `None`: sized to the open-file limit.
    pub max_data_channels: Option<usize>,
    /// `MaxForwardedConnections` (every kind of forwarding, not only FTP);
    /// `None`: sized to the open-file limit.
    pub max_forwarded_connections: Option<usize>,
    /// `FtpActiveBindAddress`; `None`: the SSH server's loopback.
    pub active_bind_address: Option<std::net::IpAddr>,
    /// `FtpAuditLog`, expanded; `None` (the default, or `none`) for no
    /// audit log.
    pub audit_log: Option<FtpAuditLog>,
    // Issue 13 (gate13): the limits of sshfwd's listeners as a gateway.
    // They travel with the FTP options because every local listener gets
    // those; `PerSourceMaxConnections` applies to `-L` and `-D` too.
    /// `PerSourceMaxConnections`: connections one source (an IPv4 address,
    /// an IPv6 /64) may hold at once on each local listener (`-L`, `-D`,
    /// `-L ftp/`, `--ftp-to-sftp`); `None` for no cap. Default
    /// [`DEFAULT_PER_SOURCE_MAX_CONNECTIONS`].
    pub per_source_max_connections: Option<usize>,
    /// `FtpLoginTimeout`: an FTP control connection not logged in by then
    /// is closed with 421; `None` for no limit. Default
    /// [`DEFAULT_FTP_LOGIN_TIMEOUT`].
    pub login_timeout: Option<Duration>,
    /// `PerSourcePenaltyExemptList`: sources never penalised by the bridge
    /// for failed logins.
    pub penalty_exempt: Vec<AddressBlock>,
}

/// sshfwd's default for `PerSourceMaxConnections`: twice what a browser
/// opens to one proxy (Chrome and Firefox keep at most 32), many times an
/// FTP client's one control connection per session; a flooding source then
/// holds at most 1/64 of a `-L`'s places and a quarter of a bridge's.
pub const DEFAULT_PER_SOURCE_MAX_CONNECTIONS: usize = 64;

/// sshfwd's default for `FtpLoginTimeout` (vsftpd's idle_session_timeout
/// is 300 s, pure-ftpd's 15 min: a login takes seconds, and a slot held by
/// an idle stranger is a slot lost).
pub const DEFAULT_FTP_LOGIN_TIMEOUT: Duration = Duration::from_secs(60);

/// An address block, `addr/prefix` (the address as written, its host bits
/// left for the user of the block to clear).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressBlock {
    pub addr: std::net::IpAddr,
    pub prefix: u8,
}

impl AddressBlock {
    /// `addr` (a block of one) or `addr/prefix`.
    pub fn parse(text: &str) -> Option<AddressBlock> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: std::net::IpAddr = addr.parse().ok()?;
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix.parse().ok().filter(|p| *p <= width)?,
            None => width,
        };
        Some(AddressBlock { addr, prefix })
    }
}

impl std::fmt::Display for AddressBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Where the FTP audit log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FtpAuditLog {
    /// `-`: standard error.
    Stderr,
    /// A file, appended to.
    File(PathBuf),
}

impl Default for FtpSettings {
    /// sshfwd's defaults for every FTP option.
    fn default() -> Self {
        Self {
            data_timeout: DEFAULT_FTP_DATA_TIMEOUT,
            passive_address: FtpPassiveAddress::ControlHost,
            allow_foreign_passive: false,
            allow_third_party_active: false,
            tls: FtpTls::Refuse,
            bridge_login: FtpToSftpLogin::Session,
            bridge_password_file: None,
            audit_log: None,
            max_data_channels: None,
            max_forwarded_connections: None,
            active_bind_address: None,
            per_source_max_connections: Some(DEFAULT_PER_SOURCE_MAX_CONNECTIONS),
            login_timeout: Some(DEFAULT_FTP_LOGIN_TIMEOUT),
            penalty_exempt: Vec::new(),
        }
    }
}

/// Everything a connection needs, with concrete values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The host as given on the command line (`%n`).
    pub original_host: String,
    /// The host to connect to: `HostName` with `%h` expanded, or the host
    /// as given.
    pub host_name: String,
    pub port: u16,
    /// The remote user: `User`, or the local user.
    pub user: String,
    /// Expanded identity files, in order.
    pub identity_files: Vec<PathBuf>,
    /// True when `identity_files` is the default list (OpenSSH stays quiet
    /// about missing default files but warns about configured ones).
    pub identity_files_are_defaults: bool,
    pub identities_only: bool,
    pub identity_agent: IdentityAgent,
    /// Expanded user known_hosts files; empty for `none`. New keys go to the
    /// first one.
    pub user_known_hosts_files: Vec<PathBuf>,
    /// Global known_hosts files; empty for `none`.
    pub global_known_hosts_files: Vec<PathBuf>,
    pub strict_host_key_checking: StrictHostKeyChecking,
    pub hash_known_hosts: bool,
    pub batch_mode: bool,
    /// `None` when unset or 0: no timeout beyond the system's.
    pub connect_timeout: Option<Duration>,
    /// `None` when unset or 0: no keepalives.
    pub server_alive_interval: Option<Duration>,
    pub server_alive_count_max: u32,
    pub exit_on_forward_failure: bool,
    pub gateway_ports: bool,
    /// Empty when `ClearAllForwardings yes`.
    pub forwards: Vec<ForwardSpec>,
    pub password_authentication: bool,
    pub pubkey_authentication: bool,
    pub kbd_interactive_authentication: bool,
    /// Algorithm lists as written; `None` means the implementation's default.
    pub ciphers: Option<String>,
    pub kex_algorithms: Option<String>,
    pub macs: Option<String>,
    pub host_key_algorithms: Option<String>,
    pub log_level: LogLevel,
    pub host_key_alias: Option<String>,
    /// `None` when unset or `none`.
    pub proxy_jump: Option<String>,
    /// `None` when unset or `none`.
    pub proxy_command: Option<String>,
    pub ftp: FtpSettings,
    /// `Reconnect` (default no).
    pub reconnect: bool,
    /// `ReconnectMaxDelay`.
    pub reconnect_max_delay: Duration,
    /// `SyslogFacility`, default `USER`: where `-y` sends diagnostics.
    pub syslog_facility: SyslogFacility,
    // Issue 14 (proxy): how the TCP connection is made.
    /// `AddressFamily` (`-4`, `-6`), default `any`.
    pub address_family: AddressFamily,
    /// `BindAddress` (`-b`), as written.
    pub bind_address: Option<String>,
    /// `BindInterface` (`-B`).
    pub bind_interface: Option<String>,
    /// `ConnectionAttempts`, default 1: tries of the TCP connection, one a second.
    pub connection_attempts: u32,
    /// `TCPKeepAlive`, default yes: SO_KEEPALIVE on the connection.
    pub tcp_keep_alive: bool,
    // Issue 14 (fwd)
    /// `StreamLocalBindMask` and `StreamLocalBindUnlink`.
    pub stream_local_bind: StreamLocalBind,
    /// `PermitRemoteOpen`, default `any`.
    pub permit_remote_open: PermitOpen,
    // Issue 14 (proc): the session and the process.
    /// `ForkAfterAuthentication` (`-f`).
    pub fork_after_authentication: bool,
    /// `StdinNull` (`-n`).
    pub stdin_null: bool,
    /// `SessionType`, default [`SessionType::Default`].
    pub session_type: SessionType,
    /// `SendEnv` patterns over the local environment.
    pub send_env: Vec<String>,
    /// `SetEnv`, split at the first `=`.
    pub set_env: Vec<(String, String)>,
    /// `RemoteCommand`, tokens expanded; `None` when unset or `none`.
    pub remote_command: Option<String>,
    /// `LocalCommand`, tokens expanded (`%T` is `NONE`: sshfwd makes no
    /// tunnel devices); `None` unless `PermitLocalCommand yes`.
    pub local_command: Option<String>,
    /// `KnownHostsCommand`, the connection's tokens expanded; the host key's
    /// own (`%f %H %I %K %t`) are filled in when a key is checked.
    pub known_hosts_command: Option<KnownHostsCommand>,
    /// `ForwardAgent`: the agent socket the server's agent channels reach;
    /// `None` when off (or `yes` without `SSH_AUTH_SOCK`).
    pub forward_agent: Option<PathBuf>,
    // Issue 14 (config)
    /// `Compression` (default no).
    pub compression: bool,
    /// `NumberOfPasswordPrompts` (default 3).
    pub number_of_password_prompts: u32,
    // Issue 14 (mux): connection sharing.
    /// `ControlMaster`, default no.
    pub control_master: ControlMaster,
    /// `ControlPath`, expanded; `None` when unset or `none`.
    pub control_path: Option<PathBuf>,
    /// `ControlPersist`, default no.
    pub control_persist: ControlPersist,
}

// Issue 14 (mux): connection sharing.
/// `ControlMaster`: whether this run listens on `ControlPath` for others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ControlMaster {
    /// Never listen; use a master when there is one.
    #[default]
    No,
    /// Listen.
    Yes,
    /// Use a master when there is one, else listen.
    Auto,
    /// `ask`: as `yes`, asking before each use (sshfwd asks nothing).
    Ask,
    /// `autoask`: as `auto`, asking before each use (sshfwd asks nothing).
    AutoAsk,
}

impl ControlMaster {
    /// OpenSSH's words: a flag, `auto`, `ask` or `autoask`.
    pub(crate) fn parse(text: &str) -> Option<ControlMaster> {
        match text.to_ascii_lowercase().as_str() {
            "yes" | "true" => Some(ControlMaster::Yes),
            "no" | "false" => Some(ControlMaster::No),
            "auto" => Some(ControlMaster::Auto),
            "ask" => Some(ControlMaster::Ask),
            "autoask" => Some(ControlMaster::AutoAsk),
            _ => None,
        }
    }

    /// Whether this run listens for others (unless a master is found first
    /// with `auto`).
    pub fn listens(self) -> bool {
        self != ControlMaster::No
    }

    /// Whether a master already there is used instead of becoming one.
    pub fn uses_existing(self) -> bool {
        matches!(self, ControlMaster::No | ControlMaster::Auto | ControlMaster::AutoAsk)
    }
}

/// `ControlPersist`: how long a master outlives its own command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ControlPersist {
    /// Exit with the command (the default).
    #[default]
    No,
    /// `yes` or `0`: stay until told to exit.
    Forever,
    /// Stay this long without clients.
    For(Duration),
}

impl ControlPersist {
    /// A flag, or a time (`0` is forever, as in OpenSSH).
    pub(crate) fn parse(text: &str) -> Option<ControlPersist> {
        match super::value::parse_flag(text) {
            Some(true) => Some(ControlPersist::Forever),
            Some(false) => Some(ControlPersist::No),
            None => match super::value::parse_time(text)? {
                time if time.is_zero() => Some(ControlPersist::Forever),
                time => Some(ControlPersist::For(time)),
            },
        }
    }
}

/// A value that could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{option}: {source}")]
pub struct SettingsError {
    /// The option whose value failed, e.g. `IdentityFile`.
    pub option: &'static str,
    pub source: ExpandError,
}

impl Settings {
    /// Fills in defaults and expands tokens. `original_host` is the host as
    /// given; `home` and `local_user` are this process's.
    pub fn new(
        original_host: &str,
        options: HostOptions,
        home: &Path,
        local_user: &str,
    ) -> Result<Settings, SettingsError> {
        let error = |option| move |source| SettingsError { option, source };
        let host_name = match &options.host_name {
            Some(name) => {
                tokens::expand(name, &[('h', TokenValue::Text(original_host))], false).map_err(error("HostName"))?
            }
            None => original_host.to_string(),
        };
        let port = options.port.unwrap_or(22);
        let user = options.user.clone().unwrap_or_else(|| local_user.to_string());
        let jump = tokens::jump_host(options.proxy_jump.as_deref());
        let context = Context {
            home,
            local_user,
            host: &host_name,
            original_host,
            port,
            remote_user: &user,
            host_key_alias: options.host_key_alias.as_deref(),
            jump_host: &jump,
        };
        let expand_all = |paths: &[String], option| -> Result<Vec<PathBuf>, SettingsError> {
            paths.iter().map(|p| context.expand_path(p).map(PathBuf::from).map_err(error(option))).collect()
        };

        let identity_files_are_defaults = options.identity_files.is_empty();
        let identity_files = if identity_files_are_defaults {
            let defaults: Vec<String> = DEFAULT_IDENTITY_FILES.iter().map(|s| s.to_string()).collect();
            expand_all(&defaults, "IdentityFile")?
        } else {
            expand_all(&options.identity_files, "IdentityFile")?
        };
        let identity_agent = match options.identity_agent.as_deref() {
            None | Some("SSH_AUTH_SOCK") => IdentityAgent::Environment,
            Some(none) if none.eq_ignore_ascii_case("none") => IdentityAgent::None,
            Some(value) => {
                let path = match legacy_variable(value) {
                    Some(name) => tokens::expand(&format!("${{{name}}}"), &[], true),
                    None => context.expand_path(value),
                };
                IdentityAgent::Path(PathBuf::from(path.map_err(error("IdentityAgent"))?))
            }
        };
        let user_known_hosts_files = match &options.user_known_hosts_files {
            None => {
                let defaults: Vec<String> = DEFAULT_USER_KNOWN_HOSTS_FILES.iter().map(|s| s.to_string()).collect();
                expand_all(&defaults, "UserKnownHostsFile")?
            }
            Some(files) if is_none(files) => Vec::new(),
            Some(files) => expand_all(files, "UserKnownHostsFile")?,
        };
        // OpenSSH does not expand the global files.
        let global_known_hosts_files = match &options.global_known_hosts_files {
            None => DEFAULT_GLOBAL_KNOWN_HOSTS_FILES.iter().map(PathBuf::from).collect(),
            Some(files) if is_none(files) => Vec::new(),
            Some(files) => files.iter().map(PathBuf::from).collect(),
        };
        let bridge_password_file = match &options.ftp_to_sftp_password_file {
            Some(file) => expand_all(std::slice::from_ref(file), "FtpToSftpPasswordFile")?.pop(),
            None => None,
        };
        let audit_log = match options.ftp_audit_log.as_deref() {
            None => None,
            Some(none) if none.eq_ignore_ascii_case("none") => None,
            Some("-") => Some(FtpAuditLog::Stderr),
            Some(file) => expand_all(&[file.to_owned()], "FtpAuditLog")?.pop().map(FtpAuditLog::File),
        };
        let remote_command = match options.remote_command.as_deref() {
            None => None,
            Some(none) if none.eq_ignore_ascii_case("none") => None,
            Some(command) => Some(context.expand(command, false).map_err(error("RemoteCommand"))?),
        };
        let local_command = match (options.permit_local_command, options.local_command.as_deref()) {
            (Some(true), Some(command)) => Some(
                context
                    .expand_with(command, false, vec![('T', TokenValue::Text("NONE"))])
                    .map_err(error("LocalCommand"))?,
            ),
            _ => None,
        };
        let known_hosts_command = match options.known_hosts_command.as_deref() {
            None | Some([]) => None,
            Some([none]) if none.eq_ignore_ascii_case("none") => None,
            Some(argv) => Some(KnownHostsCommand::new(argv, &context).map_err(error("KnownHostsCommand"))?),
        };
        let forward_agent = match options.forward_agent.as_deref() {
            None => None,
            Some(flag) if super::value::parse_flag(flag) == Some(false) => None,
            Some(flag) if super::value::parse_flag(flag) == Some(true) => {
                std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from)
            }
            Some(value) => match legacy_variable(value) {
                Some(name) => std::env::var_os(name).map(PathBuf::from),
                None => Some(PathBuf::from(context.expand_path(value).map_err(error("ForwardAgent"))?)),
            },
        };
        let set_env = options
            .set_env
            .iter()
            .flatten()
            .filter_map(|assignment| assignment.split_once('='))
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        // Issue 14 (mux)
        let control_path = match options.control_path.as_deref() {
            None => None,
            Some(none) if none.eq_ignore_ascii_case("none") => None,
            Some(path) => expand_all(&[path.to_owned()], "ControlPath")?.pop(),
        };
        let forwards = if options.clear_all_forwardings == Some(true) { Vec::new() } else { options.forwards };
        // Socket paths get the connection's tokens and `${VAR}`, as in ssh.
        let forwards = forwards
            .into_iter()
            .map(|spec| expand_socket_paths(spec, &context))
            .collect::<Result<Vec<_>, _>>()
            .map_err(error("LocalForward/RemoteForward"))?;
        let not_none = |value: Option<String>| value.filter(|v| !v.eq_ignore_ascii_case("none"));
        Ok(Settings {
            original_host: original_host.to_string(),
            host_name,
            port,
            user,
            identity_files,
            identity_files_are_defaults,
            identities_only: options.identities_only.unwrap_or(false),
            identity_agent,
            user_known_hosts_files,
            global_known_hosts_files,
            strict_host_key_checking: options.strict_host_key_checking.unwrap_or(StrictHostKeyChecking::Ask),
            hash_known_hosts: options.hash_known_hosts.unwrap_or(false),
            batch_mode: options.batch_mode.unwrap_or(false),
            connect_timeout: options.connect_timeout.filter(|t| !t.is_zero()),
            server_alive_interval: match options.server_alive_interval {
                // An explicit 0 turns keepalives off even with Reconnect.
                Some(t) => Some(t).filter(|t| !t.is_zero()),
                None if options.reconnect == Some(true) => Some(RECONNECT_SERVER_ALIVE_INTERVAL),
                None => None,
            },
            server_alive_count_max: options.server_alive_count_max.unwrap_or(3),
            exit_on_forward_failure: options.exit_on_forward_failure.unwrap_or(false),
            gateway_ports: options.gateway_ports.unwrap_or(false),
            forwards,
            password_authentication: options.password_authentication.unwrap_or(true),
            pubkey_authentication: options.pubkey_authentication.unwrap_or(true),
            kbd_interactive_authentication: options.kbd_interactive_authentication.unwrap_or(true),
            ciphers: options.ciphers,
            kex_algorithms: options.kex_algorithms,
            macs: options.macs,
            host_key_algorithms: options.host_key_algorithms,
            log_level: options.log_level.unwrap_or(LogLevel::Info),
            host_key_alias: options.host_key_alias,
            proxy_jump: not_none(options.proxy_jump),
            proxy_command: not_none(options.proxy_command),
            ftp: {
                let default = FtpSettings::default();
                FtpSettings {
                    data_timeout: options.ftp_data_timeout.unwrap_or(default.data_timeout),
                    passive_address: options.ftp_passive_address.unwrap_or(default.passive_address),
                    allow_foreign_passive: options.ftp_allow_foreign_passive.unwrap_or(default.allow_foreign_passive),
                    allow_third_party_active: options
                        .ftp_allow_third_party_active
                        .unwrap_or(default.allow_third_party_active),
                    tls: options.ftp_tls.unwrap_or(default.tls),
                    bridge_login: options.ftp_to_sftp_login.unwrap_or(default.bridge_login),
                    bridge_password_file,
                    audit_log,
                    max_data_channels: options.ftp_max_data_channels,
                    max_forwarded_connections: options.max_forwarded_connections,
                    active_bind_address: options.ftp_active_bind_address,
                    per_source_max_connections: options
                        .per_source_max_connections
                        .unwrap_or(default.per_source_max_connections),
                    login_timeout: options.ftp_login_timeout.unwrap_or(default.login_timeout),
                    penalty_exempt: options.per_source_penalty_exempt_list.unwrap_or_default(),
                }
            },
            reconnect: options.reconnect.unwrap_or(false),
            reconnect_max_delay: options.reconnect_max_delay.unwrap_or(DEFAULT_RECONNECT_MAX_DELAY),
            syslog_facility: options.syslog_facility.unwrap_or(SyslogFacility::User),
            // Issue 14 (proxy)
            address_family: options.address_family.unwrap_or(AddressFamily::Any),
            bind_address: options.bind_address,
            bind_interface: options.bind_interface,
            connection_attempts: options.connection_attempts.unwrap_or(1),
            tcp_keep_alive: options.tcp_keep_alive.unwrap_or(true),
            // Issue 14 (fwd)
            stream_local_bind: StreamLocalBind {
                mask: options.stream_local_bind_mask.unwrap_or(StreamLocalBind::default().mask),
                unlink: options.stream_local_bind_unlink.unwrap_or(false),
            },
            permit_remote_open: options.permit_remote_open.unwrap_or(PermitOpen::Any),
            fork_after_authentication: options.fork_after_authentication.unwrap_or(false),
            stdin_null: options.stdin_null.unwrap_or(false),
            session_type: options.session_type.unwrap_or(SessionType::Default),
            send_env: options.send_env,
            set_env,
            remote_command,
            local_command,
            known_hosts_command,
            forward_agent,
            compression: options.compression.unwrap_or(false),
            number_of_password_prompts: options.number_of_password_prompts.unwrap_or(3),
            control_master: options.control_master.unwrap_or_default(),
            control_path,
            control_persist: options.control_persist.unwrap_or_default(),
        })
    }

    /// The host and port to look up in (and record to) known_hosts: the
    /// `HostKeyAlias` alone when set (OpenSSH adds no port to an alias),
    /// else the host name and port. Pass both to
    /// [`known_hosts::check`](crate::known_hosts::check).
    pub fn known_hosts_host(&self) -> (&str, u16) {
        match &self.host_key_alias {
            Some(alias) => (alias, 22),
            None => (&self.host_name, self.port),
        }
    }

    // Issue 14 (config)
    /// Expands `~`, the connection's `%` tokens and `${VAR}` in a value of
    /// a keyword this crate does not expand itself (for `-G`).
    pub fn expand_tokens(&self, text: &str, home: &Path, local_user: &str) -> Result<String, ExpandError> {
        let jump = tokens::jump_host(self.proxy_jump.as_deref());
        let context = Context {
            home,
            local_user,
            host: &self.host_name,
            original_host: &self.original_host,
            port: self.port,
            remote_user: &self.user,
            host_key_alias: self.host_key_alias.as_deref(),
            jump_host: &jump,
        };
        context.expand_path(text)
    }

    /// User then global known_hosts files, the order to check them in.
    pub fn known_hosts_files(&self) -> Vec<PathBuf> {
        self.user_known_hosts_files.iter().chain(&self.global_known_hosts_files).cloned().collect()
    }
}

// Issue 14 (proxy)
impl Settings {
    /// The `ProxyCommand` to run, with its tokens expanded as OpenSSH's
    /// `expand_proxy_command` does (`%h %k %n %p %r %%`; `%k` is the
    /// `HostKeyAlias`, else the host as given); `None` without one.
    pub fn proxy_command_line(&self) -> Result<Option<String>, SettingsError> {
        let Some(command) = &self.proxy_command else { return Ok(None) };
        let port = self.port.to_string();
        let tokens = [
            ('h', TokenValue::Text(&self.host_name)),
            ('k', TokenValue::Text(self.host_key_alias.as_deref().unwrap_or(&self.original_host))),
            ('n', TokenValue::Text(&self.original_host)),
            ('p', TokenValue::Text(&port)),
            ('r', TokenValue::Text(&self.user)),
        ];
        tokens::expand(command, &tokens, false)
            .map(Some)
            .map_err(|source| SettingsError { option: "ProxyCommand", source })
    }
}

/// `AddressFamily`: which addresses of the host to connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressFamily {
    /// IPv4 and IPv6 (the default).
    Any,
    /// IPv4 only (`inet`, `-4`).
    Inet,
    /// IPv6 only (`inet6`, `-6`).
    Inet6,
}

impl AddressFamily {
    /// OpenSSH's `multistate_addressfamily`, compared without case.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().as_str() {
            "any" => Self::Any,
            "inet" => Self::Inet,
            "inet6" => Self::Inet6,
            _ => return None,
        })
    }

    /// Whether an address of the host may be connected to.
    pub fn allows(self, address: &std::net::IpAddr) -> bool {
        match self {
            Self::Any => true,
            Self::Inet => address.is_ipv4(),
            Self::Inet6 => address.is_ipv6(),
        }
    }
}

/// `["none"]`: no files.
fn is_none(files: &[String]) -> bool {
    matches!(files, [only] if only.eq_ignore_ascii_case("none"))
}

/// `$NAME`, the legacy form of IdentityAgent and ForwardAgent that names
/// the variable holding the socket's path (`${NAME}` is a path with a
/// variable in it).
fn legacy_variable(value: &str) -> Option<&str> {
    value.strip_prefix('$').filter(|name| !name.starts_with('{'))
}

// Issue 14 (lead)
/// A forwarding with the tokens of its unix socket paths expanded.
fn expand_socket_paths(spec: ForwardSpec, context: &Context<'_>) -> Result<ForwardSpec, ExpandError> {
    let expand = |mut stream: StreamForwarding| -> Result<StreamForwarding, ExpandError> {
        if let ListenOn::Path(path) = &stream.listen {
            stream.listen = ListenOn::Path(context.expand(path, true)?);
        }
        if let ConnectTo::Path(path) = &stream.target {
            stream.target = ConnectTo::Path(context.expand(path, true)?);
        }
        Ok(stream)
    };
    Ok(match spec {
        ForwardSpec::LocalStream(stream) => ForwardSpec::LocalStream(expand(stream)?),
        ForwardSpec::RemoteStream(stream) => ForwardSpec::RemoteStream(expand(stream)?),
        other => other,
    })
}

// Issue 14 (lead)
/// A `KnownHostsCommand` ready to run for a host key: the program and its
/// arguments with the connection's tokens expanded, and a mark where each
/// of the key's tokens goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownHostsCommand {
    argv: Vec<String>,
}

/// What a host key check gives `KnownHostsCommand`'s own tokens.
#[derive(Debug, Clone, Copy)]
pub struct HostKeyTokens<'a> {
    /// `%t`: the key's type.
    pub key_type: &'a str,
    /// `%K`: the key, base64.
    pub key_base64: &'a str,
    /// `%f`: its SHA256 fingerprint.
    pub fingerprint: &'a str,
    /// `%H`: the name or address being looked up.
    pub lookup: &'a str,
    /// `%I`: why: `HOSTNAME` or `ADDRESS`.
    pub reason: &'a str,
}

/// The key's tokens, each kept as a character no configuration contains
/// (Unicode private use) until a key is known.
const KEY_TOKENS: [(char, char); 5] =
    [('t', '\u{E000}'), ('K', '\u{E001}'), ('f', '\u{E002}'), ('H', '\u{E003}'), ('I', '\u{E004}')];

impl KnownHostsCommand {
    fn new(argv: &[String], context: &Context<'_>) -> Result<KnownHostsCommand, ExpandError> {
        let marks: Vec<String> = KEY_TOKENS.iter().map(|(_, mark)| mark.to_string()).collect();
        let argv = argv
            .iter()
            .enumerate()
            .map(|(index, arg)| {
                // OpenSSH expands the arguments, not the program's path.
                if index == 0 {
                    return tokens::expand_tilde(arg, context.home);
                }
                let extra = KEY_TOKENS.iter().zip(&marks).map(|((token, _), mark)| (*token, TokenValue::Text(mark)));
                context.expand_with(arg, false, extra.collect())
            })
            .collect::<Result<_, _>>()?;
        Ok(KnownHostsCommand { argv })
    }

    /// The program and its arguments for this key.
    pub fn argv(&self, key: &HostKeyTokens<'_>) -> Vec<String> {
        let values = [key.key_type, key.key_base64, key.fingerprint, key.lookup, key.reason];
        self.argv
            .iter()
            .map(|arg| {
                KEY_TOKENS.iter().zip(values).fold(arg.clone(), |arg, ((_, mark), value)| arg.replace(*mark, value))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward_spec::ForwardKind;

    fn settings(options: HostOptions) -> Settings {
        Settings::new("alias", options, Path::new("/home/me"), "me").unwrap()
    }

    #[test]
    fn defaults() {
        let s = settings(HostOptions::default());
        assert_eq!(s.host_name, "alias");
        assert_eq!(s.port, 22);
        assert_eq!(s.user, "me");
        assert!(s.identity_files_are_defaults);
        assert_eq!(s.identity_files.len(), 7);
        assert_eq!(s.identity_files[0], PathBuf::from("/home/me/.ssh/id_rsa"));
        assert_eq!(s.identity_files[6], PathBuf::from("/home/me/.ssh/id_dsa"));
        assert_eq!(s.identity_agent, IdentityAgent::Environment);
        assert_eq!(
            s.known_hosts_files(),
            vec![
                PathBuf::from("/home/me/.ssh/known_hosts"),
                PathBuf::from("/home/me/.ssh/known_hosts2"),
                PathBuf::from("/etc/ssh/ssh_known_hosts"),
                PathBuf::from("/etc/ssh/ssh_known_hosts2"),
            ]
        );
        assert_eq!(s.strict_host_key_checking, StrictHostKeyChecking::Ask);
        assert_eq!(s.server_alive_count_max, 3);
        assert_eq!(s.server_alive_interval, None);
        assert_eq!(s.connect_timeout, None);
        assert_eq!(s.log_level, LogLevel::Info);
        assert!(s.password_authentication && s.pubkey_authentication && s.kbd_interactive_authentication);
        assert!(!s.batch_mode && !s.exit_on_forward_failure && !s.gateway_ports && !s.hash_known_hosts);
        assert_eq!(s.ftp.data_timeout, Duration::from_secs(30));
        assert_eq!(s.ftp.passive_address, FtpPassiveAddress::ControlHost);
        assert_eq!(s.ftp.tls, FtpTls::Refuse);
        assert!(!s.ftp.allow_foreign_passive && !s.ftp.allow_third_party_active);
        assert_eq!(s.ftp.per_source_max_connections, Some(64));
        assert_eq!(s.ftp.login_timeout, Some(Duration::from_secs(60)));
        assert!(s.ftp.penalty_exempt.is_empty());
        assert_eq!(s.known_hosts_host(), ("alias", 22));
        assert_eq!(s.syslog_facility, SyslogFacility::User);
        // Issue 14 (fwd): OpenSSH's defaults.
        assert_eq!(s.stream_local_bind, StreamLocalBind { mask: 0o177, unlink: false });
        assert_eq!(s.permit_remote_open, PermitOpen::Any);
    }

    #[test]
    fn expands_tokens_after_resolution() {
        let options = HostOptions {
            host_name: Some("%h.example.com".into()),
            user: Some("bob".into()),
            port: Some(2222),
            identity_files: vec!["~/.ssh/id_%r@%h:%p".into(), "%d/keys/%n-%u".into()],
            user_known_hosts_files: Some(vec!["~/.ssh/kh_%h".into()]),
            identity_agent: Some("~/agent.sock".into()),
            ..HostOptions::default()
        };
        let s = settings(options);
        assert_eq!(s.host_name, "alias.example.com");
        assert_eq!(
            s.identity_files,
            vec![PathBuf::from("/home/me/.ssh/id_bob@alias.example.com:2222"), PathBuf::from("/home/me/keys/alias-me"),]
        );
        assert!(!s.identity_files_are_defaults);
        assert_eq!(s.user_known_hosts_files, vec![PathBuf::from("/home/me/.ssh/kh_alias.example.com")]);
        assert_eq!(s.identity_agent, IdentityAgent::Path("/home/me/agent.sock".into()));
    }

    #[test]
    fn forward_agent_names_a_variable_or_a_path() {
        let agent = |value: &str| {
            settings(HostOptions { forward_agent: Some(value.into()), ..HostOptions::default() }).forward_agent
        };
        let path_variable = std::env::var("PATH").expect("PATH is set");
        assert_eq!(agent("no"), None);
        assert_eq!(agent("$PATH"), Some(PathBuf::from(&path_variable)));
        assert_eq!(agent("${PATH}/agent"), Some(PathBuf::from(format!("{path_variable}/agent"))));
        assert_eq!(agent("~/agent-%r"), Some(PathBuf::from("/home/me/agent-me")));
    }

    #[test]
    fn known_hosts_command_gets_the_connection_tokens_then_the_key_s() {
        let argv = |command: &[&str]| HostOptions {
            user: Some("bob".into()),
            known_hosts_command: Some(command.iter().map(|a| a.to_string()).collect()),
            ..HostOptions::default()
        };
        let key = HostKeyTokens {
            key_type: "ssh-ed25519",
            key_base64: "AAAA",
            fingerprint: "SHA256:x",
            lookup: "[h]:22",
            reason: "HOSTNAME",
        };
        let s = settings(argv(&["~/bin/khc", "%t", "%K", "%r@%h", "%f/%H/%I", "%%t"]));
        let command = s.known_hosts_command.expect("set");
        assert_eq!(
            command.argv(&key),
            ["/home/me/bin/khc", "ssh-ed25519", "AAAA", "bob@alias", "SHA256:x/[h]:22/HOSTNAME", "%t"]
        );
        assert_eq!(settings(argv(&["none"])).known_hosts_command, None);
    }

    #[test]
    fn none_values() {
        let options = HostOptions {
            user_known_hosts_files: Some(vec!["none".into()]),
            global_known_hosts_files: Some(vec!["None".into()]),
            identity_agent: Some("none".into()),
            proxy_jump: Some("none".into()),
            host_key_alias: Some("nickname".into()),
            port: Some(2222),
            ..HostOptions::default()
        };
        let s = settings(options);
        assert_eq!(s.known_hosts_host(), ("nickname", 22));
        assert!(s.known_hosts_files().is_empty());
        assert_eq!(s.identity_agent, IdentityAgent::None);
        assert_eq!(s.proxy_jump, None);
    }

    #[test]
    fn zero_times_disable_and_clear_all_forwardings_clears() {
        let options = HostOptions {
            connect_timeout: Some(Duration::ZERO),
            server_alive_interval: Some(Duration::from_secs(15)),
            forwards: vec![ForwardSpec::parse(ForwardKind::Local, "1:h:2").unwrap()],
            clear_all_forwardings: Some(true),
            ..HostOptions::default()
        };
        let s = settings(options);
        assert_eq!(s.connect_timeout, None);
        assert_eq!(s.server_alive_interval, Some(Duration::from_secs(15)));
        assert!(s.forwards.is_empty());
    }

    #[test]
    fn ftp_audit_log_values() {
        let table = [
            (None, None),
            (Some("none"), None),
            (Some("-"), Some(FtpAuditLog::Stderr)),
            (Some("~/ftp-%h.log"), Some(FtpAuditLog::File(PathBuf::from("/home/me/ftp-alias.log")))),
        ];
        for (value, expected) in table {
            let options = HostOptions { ftp_audit_log: value.map(Into::into), ..HostOptions::default() };
            assert_eq!(settings(options).ftp.audit_log, expected, "{value:?}");
        }
    }

    // Issue 14 (mux)
    #[test]
    fn control_path_is_expanded_and_none_disables() {
        let table = [
            (None, None),
            (Some("none"), None),
            (Some("~/.ssh/cm-%r@%h:%p"), Some(PathBuf::from("/home/me/.ssh/cm-me@alias:22"))),
        ];
        for (value, expected) in table {
            let options = HostOptions { control_path: value.map(Into::into), ..HostOptions::default() };
            assert_eq!(settings(options).control_path, expected, "{value:?}");
        }
        let s = settings(HostOptions::default());
        assert_eq!((s.control_master, s.control_persist), (ControlMaster::No, ControlPersist::No));
    }

    #[test]
    fn session_commands() {
        type Row<'a> = (Option<&'a str>, Option<&'a str>, Option<bool>, Option<&'a str>, Option<&'a str>);
        let table: [Row; 5] = [
            (None, None, None, None, None),
            (Some("none"), Some("echo %h %T"), Some(false), None, None),
            (Some("ls %r"), Some("echo %h %T %%"), Some(true), Some("ls me"), Some("echo alias NONE %")),
            (Some("None"), Some("echo"), None, None, None),
            (None, None, Some(true), None, None),
        ];
        for (remote, local, permit, want_remote, want_local) in table {
            let options = HostOptions {
                remote_command: remote.map(Into::into),
                local_command: local.map(Into::into),
                permit_local_command: permit,
                ..HostOptions::default()
            };
            let s = settings(options);
            assert_eq!(s.remote_command.as_deref(), want_remote, "{remote:?}");
            assert_eq!(s.local_command.as_deref(), want_local, "{local:?}");
        }
        let options = HostOptions { set_env: Some(vec!["A=1=2".into(), "B=".into()]), ..HostOptions::default() };
        assert_eq!(settings(options).set_env, vec![("A".into(), "1=2".into()), ("B".into(), String::new())]);
    }

    #[test]
    fn bad_tokens_name_the_option() {
        let options = HostOptions { host_name: Some("%r.example".into()), ..HostOptions::default() };
        let err = Settings::new("h", options, Path::new("/home/me"), "me").unwrap_err();
        assert_eq!(err.option, "HostName");
        let options = HostOptions { identity_files: vec!["~/.ssh/%q".into()], ..HostOptions::default() };
        let err = Settings::new("h", options, Path::new("/home/me"), "me").unwrap_err();
        assert_eq!(err.to_string(), "IdentityFile: unknown token %q in \"/home/me/.ssh/%q\"");
    }

    // Issue 14 (proxy)
    #[test]
    fn proxy_commands_expand_their_tokens() {
        let with = |command: &str, alias: Option<&str>| {
            let options = HostOptions {
                host_name: Some("real.example".into()),
                port: Some(2222),
                user: Some("bob".into()),
                proxy_command: Some(command.into()),
                host_key_alias: alias.map(str::to_string),
                ..Default::default()
            };
            settings(options).proxy_command_line()
        };
        let cases = [
            ("nc %h %p", None, Ok(Some("nc real.example 2222".to_string()))),
            ("x %n %r %k 100%%", None, Ok(Some("x alias bob alias 100%".to_string()))),
            ("x %k", Some("keyname"), Ok(Some("x keyname".to_string()))),
        ];
        for (command, alias, want) in cases {
            assert_eq!(with(command, alias), want, "{command}");
        }
        // OpenSSH knows only these tokens in a ProxyCommand.
        assert!(with("x %u", None).is_err());
        assert_eq!(settings(HostOptions::default()).proxy_command_line(), Ok(None));
        let none = HostOptions { proxy_command: Some("none".into()), ..Default::default() };
        assert_eq!(settings(none).proxy_command_line(), Ok(None));
    }

    #[test]
    fn socket_options_default_as_openssh() {
        let s = settings(HostOptions::default());
        assert_eq!(s.address_family, AddressFamily::Any);
        assert_eq!((s.connection_attempts, s.tcp_keep_alive), (1, true));
        assert!(AddressFamily::Inet.allows(&std::net::Ipv4Addr::LOCALHOST.into()));
        assert!(!AddressFamily::Inet.allows(&std::net::Ipv6Addr::LOCALHOST.into()));
        assert!(!AddressFamily::Inet6.allows(&std::net::Ipv4Addr::LOCALHOST.into()));
    }
}
