//! Concrete settings for one connection: [`HostOptions`] with OpenSSH's
//! defaults filled in (`fill_default_options`) and tokens expanded.

use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

use super::options::HostOptions;
use super::tokens::{self, Context, ExpandError, TokenValue};
use super::value::SyslogFacility;
use super::value::{FtpPassiveAddress, FtpTls, FtpToSftpLogin, LogLevel, StrictHostKeyChecking};
use crate::forward_spec::ForwardSpec;

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
            // `$NAME` (legacy form) names the variable holding the socket.
            Some(var) if var.starts_with('$') && !var.starts_with("${") => {
                let path = tokens::expand(&format!("${{{}}}", &var[1..]), &[], true).map_err(error("IdentityAgent"))?;
                IdentityAgent::Path(PathBuf::from(path))
            }
            Some(path) => {
                IdentityAgent::Path(PathBuf::from(context.expand_path(path).map_err(error("IdentityAgent"))?))
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
        // Issue 14 (mux)
        let control_path = match options.control_path.as_deref() {
            None => None,
            Some(none) if none.eq_ignore_ascii_case("none") => None,
            Some(path) => expand_all(&[path.to_owned()], "ControlPath")?.pop(),
        };
        let forwards = if options.clear_all_forwardings == Some(true) { Vec::new() } else { options.forwards };
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

    /// User then global known_hosts files, the order to check them in.
    pub fn known_hosts_files(&self) -> Vec<PathBuf> {
        self.user_known_hosts_files.iter().chain(&self.global_known_hosts_files).cloned().collect()
    }
}

/// `["none"]`: no files.
fn is_none(files: &[String]) -> bool {
    matches!(files, [only] if only.eq_ignore_ascii_case("none"))
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
    fn bad_tokens_name_the_option() {
        let options = HostOptions { host_name: Some("%r.example".into()), ..HostOptions::default() };
        let err = Settings::new("h", options, Path::new("/home/me"), "me").unwrap_err();
        assert_eq!(err.option, "HostName");
        let options = HostOptions { identity_files: vec!["~/.ssh/%q".into()], ..HostOptions::default() };
        let err = Settings::new("h", options, Path::new("/home/me"), "me").unwrap_err();
        assert_eq!(err.to_string(), "IdentityFile: unknown token %q in \"/home/me/.ssh/%q\"");
    }
}
