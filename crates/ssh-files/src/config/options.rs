//! The options obtained for one host, before defaults. OpenSSH's rule: the
//! first value obtained for a parameter wins; a few parameters accumulate.

use std::time::Duration;

use super::directive::Directive;
use super::settings::{AddressBlock, AddressFamily, ControlMaster, ControlPersist};
use super::value::SessionType;
use super::value::SyslogFacility;
use super::value::{FtpPassiveAddress, FtpTls, FtpToSftpLogin, LogLevel, StrictHostKeyChecking};
use crate::forward_spec::{ForwardSpec, PermitOpen};

/// Every option sshfwd acts on, as found in the sources: `None` (or empty)
/// when no source set it. Values are as written: tokens (`%h`, `~`) are
/// expanded by [`Settings`](super::Settings), once User and HostName are
/// final.
///
/// The fields are public so the command line can be merged in: `-p` and `-l`
/// replace `port` and `user`, `-i` files go before `identity_files`, `-L`,
/// `-R`, `-D` before `forwards`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostOptions {
    /// `HostName`; may contain `%h` (the host as given).
    pub host_name: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    /// `IdentityFile`, cumulative across lines and files, without duplicates.
    pub identity_files: Vec<String>,
    pub identities_only: Option<bool>,
    /// `IdentityAgent`: a path, `SSH_AUTH_SOCK`, `$VAR` or `none`.
    pub identity_agent: Option<String>,
    /// `UserKnownHostsFile`: the whole list of the first line that sets it;
    /// `["none"]` means no file.
    pub user_known_hosts_files: Option<Vec<String>>,
    /// `GlobalKnownHostsFile`, likewise.
    pub global_known_hosts_files: Option<Vec<String>>,
    pub strict_host_key_checking: Option<StrictHostKeyChecking>,
    pub hash_known_hosts: Option<bool>,
    pub batch_mode: Option<bool>,
    pub connect_timeout: Option<Duration>,
    pub server_alive_interval: Option<Duration>,
    pub server_alive_count_max: Option<u32>,
    pub exit_on_forward_failure: Option<bool>,
    pub gateway_ports: Option<bool>,
    /// `LocalForward`, `RemoteForward`, `DynamicForward`: cumulative, in
    /// order, without duplicates.
    pub forwards: Vec<ForwardSpec>,
    /// `ClearAllForwardings`: when true, [`Settings`](super::Settings) drops
    /// every forwarding, the command line's included (as OpenSSH does).
    pub clear_all_forwardings: Option<bool>,
    pub password_authentication: Option<bool>,
    pub pubkey_authentication: Option<bool>,
    /// `KbdInteractiveAuthentication` (alias `ChallengeResponseAuthentication`).
    pub kbd_interactive_authentication: Option<bool>,
    /// `Ciphers` as written, `+`/`-`/`^` prefix included.
    pub ciphers: Option<String>,
    pub kex_algorithms: Option<String>,
    pub macs: Option<String>,
    pub host_key_algorithms: Option<String>,
    pub log_level: Option<LogLevel>,
    /// `HostKeyAlias`: the name to look up in known_hosts instead of the host.
    pub host_key_alias: Option<String>,
    /// `ProxyJump` as written (`none` included). Only one of `proxy_jump` and
    /// `proxy_command` is ever set: the first one found wins.
    pub proxy_jump: Option<String>,
    /// `ProxyCommand` as written (`none` included).
    pub proxy_command: Option<String>,
    pub ftp_data_timeout: Option<Duration>,
    pub ftp_passive_address: Option<FtpPassiveAddress>,
    pub ftp_allow_foreign_passive: Option<bool>,
    pub ftp_allow_third_party_active: Option<bool>,
    pub ftp_tls: Option<FtpTls>,
    pub ftp_to_sftp_login: Option<FtpToSftpLogin>,
    pub ftp_to_sftp_password_file: Option<String>,
    pub reconnect: Option<bool>,
    pub reconnect_max_delay: Option<Duration>,
    pub ftp_audit_log: Option<String>,
    pub syslog_facility: Option<SyslogFacility>,
    pub ftp_max_data_channels: Option<usize>,
    pub max_forwarded_connections: Option<usize>,
    pub ftp_active_bind_address: Option<std::net::IpAddr>,
    pub per_source_max_connections: Option<Option<usize>>,
    pub ftp_login_timeout: Option<Option<Duration>>,
    pub per_source_penalty_exempt_list: Option<Vec<AddressBlock>>,
    // Issue 14 (proxy): how the TCP connection is made.
    pub address_family: Option<AddressFamily>,
    pub bind_address: Option<String>,
    pub bind_interface: Option<String>,
    pub connection_attempts: Option<u32>,
    pub tcp_keep_alive: Option<bool>,
    // Issue 14 (fwd)
    pub stream_local_bind_mask: Option<u32>,
    pub stream_local_bind_unlink: Option<bool>,
    pub permit_remote_open: Option<PermitOpen>,
    // Issue 14 (proc): the session and the process.
    pub fork_after_authentication: Option<bool>,
    pub stdin_null: Option<bool>,
    pub session_type: Option<SessionType>,
    /// `SendEnv` patterns, cumulative; a `-pattern` removes the earlier
    /// patterns it matches.
    pub send_env: Vec<String>,
    /// `SetEnv` of the first line that sets it, a name's first value only.
    pub set_env: Option<Vec<String>>,
    /// `RemoteCommand` as written (`none` included).
    pub remote_command: Option<String>,
    pub permit_local_command: Option<bool>,
    pub local_command: Option<String>,
    /// `KnownHostsCommand`: program and arguments as written.
    pub known_hosts_command: Option<Vec<String>>,
    /// `ForwardAgent` as written.
    pub forward_agent: Option<String>,
    // Issue 14 (config)
    /// `Compression` (and `-C`).
    pub compression: Option<bool>,
    pub number_of_password_prompts: Option<u32>,
    // Issue 14 (mux): connection sharing.
    pub control_master: Option<ControlMaster>,
    /// `ControlPath` as written; `none` disables sharing.
    pub control_path: Option<String>,
    pub control_persist: Option<ControlPersist>,
    /// `IgnoreUnknown`: a pattern list of unknown keywords to accept.
    pub ignore_unknown: Option<String>,
}

impl HostOptions {
    /// Records a directive from an applicable line, unless the parameter is
    /// already set.
    pub(crate) fn apply(&mut self, directive: Directive) {
        fn first<T>(slot: &mut Option<T>, value: T) {
            if slot.is_none() {
                *slot = Some(value);
            }
        }
        match directive {
            Directive::HostName(v) => first(&mut self.host_name, v),
            Directive::Port(v) => first(&mut self.port, v),
            Directive::User(v) => first(&mut self.user, v),
            Directive::IdentityFile(v) => {
                if !self.identity_files.contains(&v) {
                    self.identity_files.push(v);
                }
            }
            Directive::IdentitiesOnly(v) => first(&mut self.identities_only, v),
            Directive::IdentityAgent(v) => first(&mut self.identity_agent, v),
            Directive::UserKnownHostsFile(v) => first(&mut self.user_known_hosts_files, v),
            Directive::GlobalKnownHostsFile(v) => first(&mut self.global_known_hosts_files, v),
            Directive::StrictHostKeyChecking(v) => first(&mut self.strict_host_key_checking, v),
            Directive::HashKnownHosts(v) => first(&mut self.hash_known_hosts, v),
            Directive::BatchMode(v) => first(&mut self.batch_mode, v),
            // `none` leaves the option unset, so a later line may still set it.
            Directive::ConnectTimeout(v) => {
                if let Some(v) = v {
                    first(&mut self.connect_timeout, v);
                }
            }
            Directive::ServerAliveInterval(v) => {
                if let Some(v) = v {
                    first(&mut self.server_alive_interval, v);
                }
            }
            Directive::ServerAliveCountMax(v) => first(&mut self.server_alive_count_max, v),
            Directive::ExitOnForwardFailure(v) => first(&mut self.exit_on_forward_failure, v),
            Directive::GatewayPorts(v) => first(&mut self.gateway_ports, v),
            Directive::Forward(v) => {
                if !self.forwards.contains(&v) {
                    self.forwards.push(v);
                }
            }
            Directive::ClearAllForwardings(v) => first(&mut self.clear_all_forwardings, v),
            Directive::PasswordAuthentication(v) => first(&mut self.password_authentication, v),
            Directive::PubkeyAuthentication(v) => first(&mut self.pubkey_authentication, v),
            Directive::KbdInteractiveAuthentication(v) => first(&mut self.kbd_interactive_authentication, v),
            Directive::Ciphers(v) => first(&mut self.ciphers, v),
            Directive::KexAlgorithms(v) => first(&mut self.kex_algorithms, v),
            Directive::Macs(v) => first(&mut self.macs, v),
            Directive::HostKeyAlgorithms(v) => first(&mut self.host_key_algorithms, v),
            Directive::LogLevel(v) => first(&mut self.log_level, v),
            Directive::HostKeyAlias(v) => first(&mut self.host_key_alias, v),
            Directive::ProxyJump(v) => {
                if self.proxy_command.is_none() {
                    first(&mut self.proxy_jump, v);
                }
            }
            Directive::ProxyCommand(v) => {
                if self.proxy_jump.is_none() {
                    first(&mut self.proxy_command, v);
                }
            }
            Directive::FtpDataTimeout(v) => first(&mut self.ftp_data_timeout, v),
            Directive::FtpPassiveAddress(v) => first(&mut self.ftp_passive_address, v),
            Directive::FtpAllowForeignPassive(v) => first(&mut self.ftp_allow_foreign_passive, v),
            Directive::FtpAllowThirdPartyActive(v) => first(&mut self.ftp_allow_third_party_active, v),
            Directive::FtpTls(v) => first(&mut self.ftp_tls, v),
            Directive::FtpToSftpLogin(v) => first(&mut self.ftp_to_sftp_login, v),
            Directive::FtpToSftpPasswordFile(v) => first(&mut self.ftp_to_sftp_password_file, v),
            Directive::Reconnect(v) => first(&mut self.reconnect, v),
            Directive::ReconnectMaxDelay(v) => first(&mut self.reconnect_max_delay, v),
            Directive::FtpAuditLog(v) => first(&mut self.ftp_audit_log, v),
            Directive::SyslogFacility(v) => first(&mut self.syslog_facility, v),
            Directive::FtpMaxDataChannels(v) => first(&mut self.ftp_max_data_channels, v),
            Directive::MaxForwardedConnections(v) => first(&mut self.max_forwarded_connections, v),
            Directive::FtpActiveBindAddress(v) => first(&mut self.ftp_active_bind_address, v),
            Directive::PerSourceMaxConnections(v) => first(&mut self.per_source_max_connections, v),
            Directive::FtpLoginTimeout(v) => first(&mut self.ftp_login_timeout, v),
            Directive::PerSourcePenaltyExemptList(v) => first(&mut self.per_source_penalty_exempt_list, v),
            // Issue 14 (proxy)
            Directive::AddressFamily(v) => first(&mut self.address_family, v),
            Directive::BindAddress(v) => first(&mut self.bind_address, v),
            Directive::BindInterface(v) => first(&mut self.bind_interface, v),
            Directive::ConnectionAttempts(v) => first(&mut self.connection_attempts, v),
            Directive::TcpKeepAlive(v) => first(&mut self.tcp_keep_alive, v),
            // Issue 14 (fwd)
            Directive::StreamLocalBindMask(v) => first(&mut self.stream_local_bind_mask, v),
            Directive::StreamLocalBindUnlink(v) => first(&mut self.stream_local_bind_unlink, v),
            Directive::PermitRemoteOpen(v) => first(&mut self.permit_remote_open, v),
            // Issue 14 (proc).
            Directive::ForkAfterAuthentication(v) => first(&mut self.fork_after_authentication, v),
            Directive::StdinNull(v) => first(&mut self.stdin_null, v),
            Directive::SessionType(v) => first(&mut self.session_type, v),
            Directive::SendEnv(patterns) => {
                for pattern in patterns {
                    match pattern.strip_prefix('-') {
                        Some(removed) => self.send_env.retain(|p| !crate::pattern::wildcard(p, removed)),
                        None => self.send_env.push(pattern),
                    }
                }
            }
            Directive::SetEnv(v) => {
                if self.set_env.is_none() {
                    let mut kept: Vec<String> = Vec::new();
                    for assignment in v {
                        let name = assignment.split('=').next().unwrap_or_default();
                        if !kept.iter().any(|k| k.split('=').next() == Some(name)) {
                            kept.push(assignment);
                        }
                    }
                    self.set_env = Some(kept);
                }
            }
            Directive::RemoteCommand(v) => first(&mut self.remote_command, v),
            Directive::PermitLocalCommand(v) => first(&mut self.permit_local_command, v),
            Directive::LocalCommand(v) => first(&mut self.local_command, v),
            Directive::KnownHostsCommand(v) => first(&mut self.known_hosts_command, v),
            Directive::ForwardAgent(v) => first(&mut self.forward_agent, v),
            // Issue 14 (mux)
            Directive::ControlMaster(v) => first(&mut self.control_master, v),
            Directive::ControlPath(v) => first(&mut self.control_path, v),
            Directive::ControlPersist(v) => first(&mut self.control_persist, v),
            Directive::IgnoreUnknown(v) => first(&mut self.ignore_unknown, v),
            Directive::Compression(v) => first(&mut self.compression, v),
            Directive::NumberOfPasswordPrompts(v) => first(&mut self.number_of_password_prompts, v),
            // The reader stops at an active RefuseConnection and notes the
            // ignored keywords itself.
            Directive::RefuseConnection(_) | Directive::Ignored(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward_spec::ForwardKind;

    #[test]
    fn first_value_wins() {
        let mut options = HostOptions::default();
        options.apply(Directive::Port(2222));
        options.apply(Directive::Port(22));
        options.apply(Directive::UserKnownHostsFile(vec!["a".into(), "b".into()]));
        options.apply(Directive::UserKnownHostsFile(vec!["c".into()]));
        assert_eq!(options.port, Some(2222));
        assert_eq!(options.user_known_hosts_files, Some(vec!["a".into(), "b".into()]));
    }

    #[test]
    fn none_time_does_not_pin_the_value() {
        let mut options = HostOptions::default();
        options.apply(Directive::ConnectTimeout(None));
        options.apply(Directive::ConnectTimeout(Some(Duration::from_secs(5))));
        assert_eq!(options.connect_timeout, Some(Duration::from_secs(5)));
    }

    #[test]
    fn lists_accumulate_without_duplicates() {
        let mut options = HostOptions::default();
        options.apply(Directive::IdentityFile("~/.ssh/a".into()));
        options.apply(Directive::IdentityFile("~/.ssh/b".into()));
        options.apply(Directive::IdentityFile("~/.ssh/a".into()));
        assert_eq!(options.identity_files, vec!["~/.ssh/a".to_string(), "~/.ssh/b".to_string()]);

        let spec = ForwardSpec::parse(ForwardKind::Local, "8080:h:80").unwrap();
        options.apply(Directive::Forward(spec.clone()));
        options.apply(Directive::Forward(spec.clone()));
        assert_eq!(options.forwards, vec![spec]);
    }

    #[test]
    fn send_env_accumulates_and_removes_set_env_keeps_first() {
        let mut options = HostOptions::default();
        options.apply(Directive::SendEnv(vec!["LANG".into(), "LC_*".into(), "XX".into()]));
        options.apply(Directive::SendEnv(vec!["-LC_ALL".into(), "-L*".into(), "YY".into()]));
        assert_eq!(options.send_env, vec!["XX".to_string(), "YY".to_string()]);
        options.apply(Directive::SetEnv(vec!["A=1".into(), "A=11".into(), "B=2".into()]));
        options.apply(Directive::SetEnv(vec!["C=3".into()]));
        assert_eq!(options.set_env, Some(vec!["A=1".to_string(), "B=2".to_string()]));
    }

    #[test]
    fn first_of_proxy_jump_and_proxy_command_wins() {
        let mut options = HostOptions::default();
        options.apply(Directive::ProxyCommand("nc %h %p".into()));
        options.apply(Directive::ProxyJump("gw".into()));
        assert_eq!(options.proxy_command.as_deref(), Some("nc %h %p"));
        assert_eq!(options.proxy_jump, None);
    }
}
