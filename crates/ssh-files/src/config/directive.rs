//! One option line, parsed into a typed value. Lines are parsed whether or
//! not their `Host` block applies, so a bad value is an error anywhere (as in
//! OpenSSH).

use std::time::Duration;

use super::error::DirectiveError;
use super::keyword::Keyword;
use super::settings::{AddressBlock, AddressFamily, ControlMaster, ControlPersist};
use super::value::SessionType;
use super::value::SyslogFacility;
use super::value::{self, FtpPassiveAddress, FtpTls, FtpToSftpLogin, LogLevel, StrictHostKeyChecking};
use crate::forward_spec::{ForwardKind, ForwardSpec, PermitOpen};

/// A parsed option (every keyword but `Host`, `Match` and `Include`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Directive {
    HostName(String),
    Port(u16),
    User(String),
    IdentityFile(String),
    IdentitiesOnly(bool),
    IdentityAgent(String),
    UserKnownHostsFile(Vec<String>),
    GlobalKnownHostsFile(Vec<String>),
    StrictHostKeyChecking(StrictHostKeyChecking),
    HashKnownHosts(bool),
    BatchMode(bool),
    /// `None` for `none`, which (as in OpenSSH) leaves the option unset.
    ConnectTimeout(Option<Duration>),
    ServerAliveInterval(Option<Duration>),
    ServerAliveCountMax(u32),
    ExitOnForwardFailure(bool),
    GatewayPorts(bool),
    Forward(ForwardSpec),
    ClearAllForwardings(bool),
    PasswordAuthentication(bool),
    PubkeyAuthentication(bool),
    KbdInteractiveAuthentication(bool),
    Ciphers(String),
    KexAlgorithms(String),
    Macs(String),
    HostKeyAlgorithms(String),
    LogLevel(LogLevel),
    HostKeyAlias(String),
    ProxyJump(String),
    ProxyCommand(String),
    FtpDataTimeout(Duration),
    FtpPassiveAddress(FtpPassiveAddress),
    FtpAllowForeignPassive(bool),
    FtpAllowThirdPartyActive(bool),
    FtpTls(FtpTls),
    FtpToSftpLogin(FtpToSftpLogin),
    /// The file as written; `~` is expanded with the other paths.
    FtpToSftpPasswordFile(String),
    Reconnect(bool),
    ReconnectMaxDelay(Duration),
    /// `FtpAuditLog FILE`, `-` (stderr) or `none`, as written.
    FtpAuditLog(String),
    /// `FtpMaxDataChannels N`: FTP data channels waiting or open at once.
    FtpMaxDataChannels(usize),
    /// `MaxForwardedConnections N`: connections one forwarding serves at once.
    MaxForwardedConnections(usize),
    /// `FtpActiveBindAddress ADDR`: where the SSH server listens for
    /// active-mode data connections of `-L ftp/`.
    FtpActiveBindAddress(std::net::IpAddr),
    /// `RefuseConnection message` (OpenSSH 10): met in an active section,
    /// it stops the run with the message.
    RefuseConnection(String),
    SyslogFacility(SyslogFacility),
    /// `PerSourceMaxConnections N`; `None` for `none` or 0 (no cap).
    PerSourceMaxConnections(Option<usize>),
    /// `FtpLoginTimeout TIME`; `None` for `none` or 0 (no timeout).
    FtpLoginTimeout(Option<Duration>),
    /// `PerSourcePenaltyExemptList addr[/bits],…`.
    PerSourcePenaltyExemptList(Vec<AddressBlock>),
    // Issue 14 (proxy)
    AddressFamily(AddressFamily),
    /// `BindAddress`: an address or a host name, resolved when connecting.
    BindAddress(String),
    /// `BindInterface`: an interface whose address the connection comes from.
    BindInterface(String),
    ConnectionAttempts(u32),
    TcpKeepAlive(bool),
    // Issue 14 (fwd)
    /// `StreamLocalBindMask`: the umask for local unix socket listeners.
    StreamLocalBindMask(u32),
    /// `StreamLocalBindUnlink`: remove an existing socket file before binding.
    StreamLocalBindUnlink(bool),
    /// `PermitRemoteOpen`: where remote dynamic forwarding may connect.
    PermitRemoteOpen(PermitOpen),
    // Issue 14 (proc): the session and the process.
    ForkAfterAuthentication(bool),
    StdinNull(bool),
    SessionType(SessionType),
    /// `SendEnv` patterns as written; `-pattern` removes earlier ones.
    SendEnv(Vec<String>),
    /// `SetEnv NAME=VALUE…`.
    SetEnv(Vec<String>),
    /// The rest of the line, as written (`none` included).
    RemoteCommand(String),
    PermitLocalCommand(bool),
    /// The rest of the line, as written.
    LocalCommand(String),
    /// `KnownHostsCommand`: the program and its arguments, as split (`none`
    /// included).
    KnownHostsCommand(Vec<String>),
    /// `ForwardAgent`: yes, no, a socket path or `$VAR`, as written.
    ForwardAgent(String),
    // Issue 14 (mux): connection sharing.
    ControlMaster(ControlMaster),
    /// `ControlPath` as written (`none` included); expanded by `Settings`.
    ControlPath(String),
    ControlPersist(ControlPersist),
    IgnoreUnknown(String),
    // Issue 14 (config)
    /// `Compression yes|no`.
    Compression(bool),
    /// `NumberOfPasswordPrompts N`.
    NumberOfPasswordPrompts(u32),
    /// A keyword sshfwd accepts and does not act on.
    Ignored(&'static str),
}

impl Directive {
    /// Parses the arguments of `keyword`. `raw` is the unsplit rest of the
    /// line, for the keywords that take a command. `Host`, `Match` and
    /// `Include` are handled by the reader and never reach here.
    pub(crate) fn parse(keyword: Keyword, args: &[String], raw: &str) -> Result<Directive, DirectiveError> {
        let name = keyword.name();
        let invalid = |value: &str| DirectiveError::InvalidValue { keyword: name, value: value.to_string() };
        let one = || single(name, args);
        let text = || one().map(str::to_string);
        let flag = || one().and_then(|v| value::parse_flag(v).ok_or_else(|| invalid(v)));
        let positive = || {
            one().and_then(|v| value::parse_count(v).filter(|&n| n > 0).map(|n| n as usize).ok_or_else(|| invalid(v)))
        };
        let time = || {
            one().and_then(|v| match v {
                "none" => Ok(None),
                v => value::parse_time(v).map(Some).ok_or_else(|| invalid(v)),
            })
        };
        Ok(match keyword {
            Keyword::HostName => Directive::HostName(text()?),
            Keyword::Port => {
                let v = one()?;
                Directive::Port(value::parse_port(v).ok_or_else(|| invalid(v))?)
            }
            Keyword::User => Directive::User(text()?),
            Keyword::IdentityFile => Directive::IdentityFile(text()?),
            Keyword::IdentitiesOnly => Directive::IdentitiesOnly(flag()?),
            Keyword::IdentityAgent => Directive::IdentityAgent(text()?),
            Keyword::UserKnownHostsFile => Directive::UserKnownHostsFile(file_list(name, args)?),
            Keyword::GlobalKnownHostsFile => Directive::GlobalKnownHostsFile(file_list(name, args)?),
            Keyword::StrictHostKeyChecking => {
                let v = one()?;
                Directive::StrictHostKeyChecking(StrictHostKeyChecking::parse(v).ok_or_else(|| invalid(v))?)
            }
            Keyword::HashKnownHosts => Directive::HashKnownHosts(flag()?),
            Keyword::BatchMode => Directive::BatchMode(flag()?),
            Keyword::ConnectTimeout => Directive::ConnectTimeout(time()?),
            Keyword::ServerAliveInterval => Directive::ServerAliveInterval(time()?),
            Keyword::ServerAliveCountMax => {
                let v = one()?;
                Directive::ServerAliveCountMax(value::parse_count(v).ok_or_else(|| invalid(v))?)
            }
            Keyword::ExitOnForwardFailure => Directive::ExitOnForwardFailure(flag()?),
            Keyword::GatewayPorts => Directive::GatewayPorts(flag()?),
            Keyword::LocalForward => Directive::Forward(ForwardSpec::parse_config(ForwardKind::Local, args)?),
            Keyword::RemoteForward => Directive::Forward(ForwardSpec::parse_config(ForwardKind::Remote, args)?),
            Keyword::DynamicForward => Directive::Forward(ForwardSpec::parse_config(ForwardKind::Dynamic, args)?),
            Keyword::ClearAllForwardings => Directive::ClearAllForwardings(flag()?),
            Keyword::PasswordAuthentication => Directive::PasswordAuthentication(flag()?),
            Keyword::PubkeyAuthentication => {
                let v = one()?;
                Directive::PubkeyAuthentication(value::parse_pubkey_auth(v).ok_or_else(|| invalid(v))?)
            }
            Keyword::KbdInteractiveAuthentication => Directive::KbdInteractiveAuthentication(flag()?),
            Keyword::Ciphers => Directive::Ciphers(algorithms(name, args)?),
            Keyword::KexAlgorithms => Directive::KexAlgorithms(algorithms(name, args)?),
            Keyword::Macs => Directive::Macs(algorithms(name, args)?),
            Keyword::HostKeyAlgorithms => Directive::HostKeyAlgorithms(algorithms(name, args)?),
            Keyword::LogLevel => {
                let v = one()?;
                Directive::LogLevel(LogLevel::parse(v).ok_or_else(|| invalid(v))?)
            }
            Keyword::HostKeyAlias => Directive::HostKeyAlias(text()?),
            // Both take the rest of the line as written (OpenSSH
            // `parse_command`); ProxyJump stops at a comment.
            Keyword::ProxyJump => Directive::ProxyJump(proxy_jump(raw)),
            Keyword::ProxyCommand => Directive::ProxyCommand(raw.to_string()),
            Keyword::FtpDataTimeout => {
                let v = one()?;
                Directive::FtpDataTimeout(value::parse_time(v).ok_or_else(|| invalid(v))?)
            }
            Keyword::FtpPassiveAddress => {
                let v = one()?;
                Directive::FtpPassiveAddress(FtpPassiveAddress::parse(v).ok_or_else(|| invalid(v))?)
            }
            Keyword::FtpAllowForeignPassive => Directive::FtpAllowForeignPassive(flag()?),
            Keyword::FtpAllowThirdPartyActive => Directive::FtpAllowThirdPartyActive(flag()?),
            Keyword::FtpTls => {
                let v = one()?;
                Directive::FtpTls(FtpTls::parse(v).ok_or_else(|| invalid(v))?)
            }
            Keyword::FtpToSftp => Directive::Forward(ForwardSpec::parse_config(ForwardKind::FtpToSftp, args)?),
            Keyword::FtpToSftpLogin => {
                let v = one()?;
                Directive::FtpToSftpLogin(FtpToSftpLogin::parse(v).ok_or_else(|| invalid(v))?)
            }
            Keyword::FtpToSftpPasswordFile => Directive::FtpToSftpPasswordFile(one()?.to_string()),
            Keyword::Reconnect => Directive::Reconnect(flag()?),
            Keyword::ReconnectMaxDelay => {
                let v = one()?;
                match value::parse_time(v) {
                    Some(t) if !t.is_zero() => Directive::ReconnectMaxDelay(t),
                    _ => return Err(invalid(v)),
                }
            }
            Keyword::FtpAuditLog => Directive::FtpAuditLog(one()?.to_string()),
            Keyword::FtpMaxDataChannels => Directive::FtpMaxDataChannels(positive()?),
            Keyword::MaxForwardedConnections => Directive::MaxForwardedConnections(positive()?),
            Keyword::FtpActiveBindAddress => {
                let v = one()?;
                // PORT/EPRT name this address: "any" cannot be connected to.
                let address = v.parse::<std::net::IpAddr>().ok().filter(|a| !a.is_unspecified());
                Directive::FtpActiveBindAddress(address.ok_or_else(|| invalid(v))?)
            }
            Keyword::RefuseConnection => Directive::RefuseConnection(text()?),
            Keyword::SyslogFacility => {
                let v = one()?;
                Directive::SyslogFacility(SyslogFacility::parse(v).ok_or_else(|| invalid(v))?)
            }
            Keyword::PerSourceMaxConnections => {
                let v = one()?;
                match v {
                    "none" | "0" => Directive::PerSourceMaxConnections(None),
                    v => Directive::PerSourceMaxConnections(Some(v.parse().map_err(|_| invalid(v))?)),
                }
            }
            Keyword::FtpLoginTimeout => Directive::FtpLoginTimeout(time()?.filter(|t| !t.is_zero())),
            Keyword::PerSourcePenaltyExemptList => {
                let blocks = args.iter().flat_map(|a| a.split(',')).filter(|a| !a.is_empty());
                let blocks: Option<Vec<AddressBlock>> = blocks.map(AddressBlock::parse).collect();
                Directive::PerSourcePenaltyExemptList(blocks.ok_or_else(|| invalid(&args.join(" ")))?)
            }
            // Issue 14 (proxy)
            Keyword::AddressFamily => {
                let v = one()?;
                Directive::AddressFamily(AddressFamily::parse(v).ok_or_else(|| invalid(v))?)
            }
            Keyword::BindAddress => Directive::BindAddress(text()?),
            Keyword::BindInterface => Directive::BindInterface(text()?),
            Keyword::ConnectionAttempts => {
                let v = one()?;
                Directive::ConnectionAttempts(value::parse_count(v).ok_or_else(|| invalid(v))?)
            }
            Keyword::TcpKeepAlive => Directive::TcpKeepAlive(flag()?),
            // Issue 14 (fwd)
            Keyword::StreamLocalBindMask => {
                let v = one()?;
                let mask = u32::from_str_radix(v, 8).ok().filter(|&m| m <= 0o777 && !v.is_empty());
                Directive::StreamLocalBindMask(mask.ok_or_else(|| invalid(v))?)
            }
            Keyword::StreamLocalBindUnlink => Directive::StreamLocalBindUnlink(flag()?),
            Keyword::PermitRemoteOpen => {
                Directive::PermitRemoteOpen(PermitOpen::parse(args).ok_or_else(|| invalid(&args.join(" ")))?)
            }
            // Issue 14 (proc).
            Keyword::ForkAfterAuthentication => Directive::ForkAfterAuthentication(flag()?),
            Keyword::StdinNull => Directive::StdinNull(flag()?),
            Keyword::SessionType => {
                let v = one()?;
                Directive::SessionType(SessionType::parse(v).ok_or_else(|| invalid(v))?)
            }
            Keyword::SendEnv => {
                // OpenSSH: "Invalid environment name".
                match args.iter().find(|a| a.is_empty() || a.contains('=')) {
                    Some(bad) => return Err(invalid(bad)),
                    None => Directive::SendEnv(args.to_vec()),
                }
            }
            Keyword::SetEnv => match args.iter().find(|a| !a.contains('=') || a.starts_with('=')) {
                Some(bad) => return Err(invalid(bad)),
                None => Directive::SetEnv(args.to_vec()),
            },
            Keyword::RemoteCommand => Directive::RemoteCommand(raw.to_string()),
            Keyword::PermitLocalCommand => Directive::PermitLocalCommand(flag()?),
            Keyword::LocalCommand => Directive::LocalCommand(raw.to_string()),
            Keyword::KnownHostsCommand => Directive::KnownHostsCommand(args.to_vec()),
            Keyword::ForwardAgent => Directive::ForwardAgent(text()?),
            Keyword::IgnoreUnknown => Directive::IgnoreUnknown(text()?),
            // Issue 14 (config)
            Keyword::Compression => Directive::Compression(flag()?),
            Keyword::NumberOfPasswordPrompts => {
                let v = one()?;
                Directive::NumberOfPasswordPrompts(value::parse_count(v).ok_or_else(|| invalid(v))?)
            }
            // Issue 14 (mux)
            Keyword::ControlMaster => {
                let v = one()?;
                Directive::ControlMaster(ControlMaster::parse(v).ok_or_else(|| invalid(v))?)
            }
            Keyword::ControlPath => Directive::ControlPath(text()?),
            Keyword::ControlPersist => {
                let v = one()?;
                Directive::ControlPersist(ControlPersist::parse(v).ok_or_else(|| invalid(v))?)
            }
            Keyword::Ignored(name) => Directive::Ignored(name),
            Keyword::Host | Keyword::Match | Keyword::Include => {
                return Err(DirectiveError::Match(format!("{name} handled elsewhere")))
            }
        })
    }
}

/// The only argument of a single-valued keyword.
fn single<'a>(keyword: &'static str, args: &'a [String]) -> Result<&'a str, DirectiveError> {
    match args {
        [value] => Ok(value),
        [] => Err(DirectiveError::InvalidValue { keyword, value: String::new() }),
        _ => Err(DirectiveError::ExtraArguments { keyword }),
    }
}

/// `UserKnownHostsFile a b`: one or more files, or `none` alone.
fn file_list(keyword: &'static str, args: &[String]) -> Result<Vec<String>, DirectiveError> {
    if args.len() > 1 && args.iter().any(|a| a.eq_ignore_ascii_case("none")) {
        return Err(DirectiveError::NoneNotAlone { keyword });
    }
    if let Some(empty) = args.iter().find(|a| a.is_empty()) {
        return Err(DirectiveError::InvalidValue { keyword, value: empty.clone() });
    }
    Ok(args.to_vec())
}

/// An algorithm list, kept as written (`+`, `-` and `^` prefixes included);
/// the SSH layer resolves it against what it implements.
fn algorithms(keyword: &'static str, args: &[String]) -> Result<String, DirectiveError> {
    let list = single(keyword, args)?;
    let names = list.trim_start_matches(['+', '-', '^']);
    if names.is_empty() || names.split(',').any(|n| n.is_empty() || n.contains(char::is_whitespace)) {
        return Err(DirectiveError::InvalidValue { keyword, value: list.to_string() });
    }
    Ok(list.to_string())
}

/// The ProxyJump value up to a comment, trimmed.
fn proxy_jump(raw: &str) -> String {
    raw.split('#').next().unwrap_or_default().trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward_spec::{Forwarding, Listen};

    fn parse(keyword: &str, args: &[&str]) -> Result<Directive, DirectiveError> {
        let keyword = Keyword::lookup(keyword).unwrap();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Directive::parse(keyword, &args, &args.join(" "))
    }

    fn invalid(keyword: &'static str, value: &str) -> Result<Directive, DirectiveError> {
        Err(DirectiveError::InvalidValue { keyword, value: value.into() })
    }

    #[test]
    fn parses_values() {
        let cases = [
            (parse("Port", &["2222"]), Ok(Directive::Port(2222))),
            (parse("port", &["0"]), invalid("Port", "0")),
            (parse("Port", &["22", "23"]), Err(DirectiveError::ExtraArguments { keyword: "Port" })),
            (parse("HostName", &["%h.example"]), Ok(Directive::HostName("%h.example".into()))),
            (
                parse("StrictHostKeyChecking", &["accept-new"]),
                Ok(Directive::StrictHostKeyChecking(StrictHostKeyChecking::AcceptNew)),
            ),
            (parse("StrictHostKeyChecking", &["off"]), Ok(Directive::StrictHostKeyChecking(StrictHostKeyChecking::No))),
            (parse("StrictHostKeyChecking", &["maybe"]), invalid("StrictHostKeyChecking", "maybe")),
            (parse("BatchMode", &["yes"]), Ok(Directive::BatchMode(true))),
            (parse("BatchMode", &["on"]), invalid("BatchMode", "on")),
            // Issue 14 (proxy)
            (parse("AddressFamily", &["INET6"]), Ok(Directive::AddressFamily(AddressFamily::Inet6))),
            (parse("AddressFamily", &["ipv4"]), invalid("AddressFamily", "ipv4")),
            (parse("BindAddress", &["127.0.0.2"]), Ok(Directive::BindAddress("127.0.0.2".into()))),
            (parse("BindInterface", &["lo"]), Ok(Directive::BindInterface("lo".into()))),
            (parse("ConnectionAttempts", &["3"]), Ok(Directive::ConnectionAttempts(3))),
            (parse("ConnectionAttempts", &["x"]), invalid("ConnectionAttempts", "x")),
            (parse("TCPKeepAlive", &["no"]), Ok(Directive::TcpKeepAlive(false))),
            (parse("KeepAlive", &["yes"]), Ok(Directive::TcpKeepAlive(true))),
            (parse("ConnectTimeout", &["1m"]), Ok(Directive::ConnectTimeout(Some(Duration::from_secs(60))))),
            (parse("ConnectTimeout", &["none"]), Ok(Directive::ConnectTimeout(None))),
            (parse("ConnectTimeout", &["soon"]), invalid("ConnectTimeout", "soon")),
            (parse("ServerAliveCountMax", &["5"]), Ok(Directive::ServerAliveCountMax(5))),
            (
                parse("UserKnownHostsFile", &["~/a", "/b"]),
                Ok(Directive::UserKnownHostsFile(vec!["~/a".into(), "/b".into()])),
            ),
            (parse("UserKnownHostsFile", &["none"]), Ok(Directive::UserKnownHostsFile(vec!["none".into()]))),
            (
                parse("GlobalKnownHostsFile", &["/a", "none"]),
                Err(DirectiveError::NoneNotAlone { keyword: "GlobalKnownHostsFile" }),
            ),
            (parse("Ciphers", &["+aes128-cbc"]), Ok(Directive::Ciphers("+aes128-cbc".into()))),
            (
                parse("KexAlgorithms", &["-diffie-hellman-group1-sha1,ecdh-sha2-nistp256"]),
                Ok(Directive::KexAlgorithms("-diffie-hellman-group1-sha1,ecdh-sha2-nistp256".into())),
            ),
            (parse("MACs", &["a,,b"]), invalid("MACs", "a,,b")),
            (parse("HostKeyAlgorithms", &["^"]), invalid("HostKeyAlgorithms", "^")),
            (parse("LogLevel", &["debug2"]), Ok(Directive::LogLevel(LogLevel::Debug2))),
            (parse("LogLevel", &["loud"]), invalid("LogLevel", "loud")),
            (parse("PubkeyAuthentication", &["unbound"]), Ok(Directive::PubkeyAuthentication(true))),
            (parse("ChallengeResponseAuthentication", &["no"]), Ok(Directive::KbdInteractiveAuthentication(false))),
            (parse("FtpDataTimeout", &["45"]), Ok(Directive::FtpDataTimeout(Duration::from_secs(45)))),
            (parse("FtpPassiveAddress", &["reply"]), Ok(Directive::FtpPassiveAddress(FtpPassiveAddress::Reply))),
            (parse("FtpTls", &["pass"]), Ok(Directive::FtpTls(FtpTls::Pass))),
            (parse("FtpToSftpLogin", &["passthrough"]), Ok(Directive::FtpToSftpLogin(FtpToSftpLogin::Passthrough))),
            (parse("FtpToSftpLogin", &["Session"]), Ok(Directive::FtpToSftpLogin(FtpToSftpLogin::Session))),
            (parse("FtpToSftpLogin", &["sftp"]), invalid("FtpToSftpLogin", "sftp")),
            (parse("FtpToSftpPasswordFile", &["~/pw"]), Ok(Directive::FtpToSftpPasswordFile("~/pw".into()))),
            (parse("Reconnect", &["yes"]), Ok(Directive::Reconnect(true))),
            (parse("ReconnectMaxDelay", &["1m"]), Ok(Directive::ReconnectMaxDelay(Duration::from_secs(60)))),
            (parse("ReconnectMaxDelay", &["0"]), invalid("ReconnectMaxDelay", "0")),
            (parse("FtpAuditLog", &["-"]), Ok(Directive::FtpAuditLog("-".into()))),
            (parse("FtpTls", &["require"]), invalid("FtpTls", "require")),
            (parse("FtpAllowForeignPassive", &["yes"]), Ok(Directive::FtpAllowForeignPassive(true))),
            (parse("SyslogFacility", &["LOCAL3"]), Ok(Directive::SyslogFacility(SyslogFacility::Local(3)))),
            (parse("SyslogFacility", &["mail"]), invalid("SyslogFacility", "mail")),
            (parse("FtpMaxDataChannels", &["20000"]), Ok(Directive::FtpMaxDataChannels(20000))),
            (parse("FtpMaxDataChannels", &["0"]), invalid("FtpMaxDataChannels", "0")),
            (parse("FtpMaxDataChannels", &["-1"]), invalid("FtpMaxDataChannels", "-1")),
            (parse("MaxForwardedConnections", &["12000"]), Ok(Directive::MaxForwardedConnections(12000))),
            (parse("MaxForwardedConnections", &["many"]), invalid("MaxForwardedConnections", "many")),
            (
                parse("FtpActiveBindAddress", &["10.0.0.2"]),
                Ok(Directive::FtpActiveBindAddress(std::net::IpAddr::from([10, 0, 0, 2]))),
            ),
            (
                parse("FtpActiveBindAddress", &["::1"]),
                Ok(Directive::FtpActiveBindAddress(std::net::Ipv6Addr::LOCALHOST.into())),
            ),
            (parse("FtpActiveBindAddress", &["gw.example"]), invalid("FtpActiveBindAddress", "gw.example")),
            (parse("FtpActiveBindAddress", &["0.0.0.0"]), invalid("FtpActiveBindAddress", "0.0.0.0")),
            (parse("PerSourceMaxConnections", &["16"]), Ok(Directive::PerSourceMaxConnections(Some(16)))),
            (parse("PerSourceMaxConnections", &["none"]), Ok(Directive::PerSourceMaxConnections(None))),
            (parse("PerSourceMaxConnections", &["0"]), Ok(Directive::PerSourceMaxConnections(None))),
            (parse("PerSourceMaxConnections", &["-1"]), invalid("PerSourceMaxConnections", "-1")),
            (parse("FtpLoginTimeout", &["2m"]), Ok(Directive::FtpLoginTimeout(Some(Duration::from_secs(120))))),
            (parse("FtpLoginTimeout", &["0"]), Ok(Directive::FtpLoginTimeout(None))),
            (parse("FtpLoginTimeout", &["soon"]), invalid("FtpLoginTimeout", "soon")),
            (
                parse("PerSourcePenaltyExemptList", &["10.0.0.0/8,::1", "192.0.2.7"]),
                Ok(Directive::PerSourcePenaltyExemptList(vec![
                    AddressBlock { addr: "10.0.0.0".parse().unwrap(), prefix: 8 },
                    AddressBlock { addr: "::1".parse().unwrap(), prefix: 128 },
                    AddressBlock { addr: "192.0.2.7".parse().unwrap(), prefix: 32 },
                ])),
            ),
            (
                parse("PerSourcePenaltyExemptList", &["10.0.0.0/33"]),
                invalid("PerSourcePenaltyExemptList", "10.0.0.0/33"),
            ),
            // Issue 14 (fwd)
            (parse("StreamLocalBindMask", &["0177"]), Ok(Directive::StreamLocalBindMask(0o177))),
            (parse("StreamLocalBindMask", &["022"]), Ok(Directive::StreamLocalBindMask(0o022))),
            (parse("StreamLocalBindMask", &["0999"]), invalid("StreamLocalBindMask", "0999")),
            (parse("StreamLocalBindMask", &["01777"]), invalid("StreamLocalBindMask", "01777")),
            (parse("StreamLocalBindUnlink", &["yes"]), Ok(Directive::StreamLocalBindUnlink(true))),
            (parse("PermitRemoteOpen", &["any"]), Ok(Directive::PermitRemoteOpen(PermitOpen::Any))),
            (parse("PermitRemoteOpen", &["none"]), Ok(Directive::PermitRemoteOpen(PermitOpen::None))),
            (parse("PermitRemoteOpen", &["any", "h:1"]), invalid("PermitRemoteOpen", "any h:1")),
            (parse("PermitRemoteOpen", &["h"]), invalid("PermitRemoteOpen", "h")),
            (parse("ForwardAgent", &["yes"]), Ok(Directive::ForwardAgent("yes".into()))),
            (parse("ForwardX11", &["yes"]), Ok(Directive::Ignored("ForwardX11"))),
            (parse("Compression", &["yes"]), Ok(Directive::Compression(true))),
            (parse("Compression", &["fast"]), invalid("Compression", "fast")),
            (parse("NumberOfPasswordPrompts", &["1"]), Ok(Directive::NumberOfPasswordPrompts(1))),
            (parse("NumberOfPasswordPrompts", &["x"]), invalid("NumberOfPasswordPrompts", "x")),
            // Issue 14 (mux)
            (parse("ControlMaster", &["autoask"]), Ok(Directive::ControlMaster(ControlMaster::AutoAsk))),
            (parse("ControlMaster", &["yes"]), Ok(Directive::ControlMaster(ControlMaster::Yes))),
            (parse("ControlMaster", &["maybe"]), invalid("ControlMaster", "maybe")),
            (parse("ControlPath", &["~/.ssh/cm-%C"]), Ok(Directive::ControlPath("~/.ssh/cm-%C".into()))),
            (parse("ControlPersist", &["yes"]), Ok(Directive::ControlPersist(ControlPersist::Forever))),
            (parse("ControlPersist", &["0"]), Ok(Directive::ControlPersist(ControlPersist::Forever))),
            (parse("ControlPersist", &["no"]), Ok(Directive::ControlPersist(ControlPersist::No))),
            (
                parse("ControlPersist", &["1m30s"]),
                Ok(Directive::ControlPersist(ControlPersist::For(Duration::from_secs(90)))),
            ),
            (parse("ControlPersist", &["soon"]), invalid("ControlPersist", "soon")),
            // Ignored keywords take whatever they are given.
            (parse("Tunnel", &["point-to-point", "x"]), Ok(Directive::Ignored("Tunnel"))),
            // Issue 14 (proc).
            (parse("ForkAfterAuthentication", &["yes"]), Ok(Directive::ForkAfterAuthentication(true))),
            (parse("StdinNull", &["maybe"]), invalid("StdinNull", "maybe")),
            (parse("SessionType", &["Subsystem"]), Ok(Directive::SessionType(SessionType::Subsystem))),
            (parse("SessionType", &["shell"]), invalid("SessionType", "shell")),
            (parse("SendEnv", &["LANG", "-LC_*"]), Ok(Directive::SendEnv(vec!["LANG".into(), "-LC_*".into()]))),
            (parse("SendEnv", &["A=b"]), invalid("SendEnv", "A=b")),
            (parse("SetEnv", &["A=b", "C="]), Ok(Directive::SetEnv(vec!["A=b".into(), "C=".into()]))),
            (parse("SetEnv", &["A"]), invalid("SetEnv", "A")),
            (parse("RemoteCommand", &["ls", "-l"]), Ok(Directive::RemoteCommand("ls -l".into()))),
            (parse("PermitLocalCommand", &["yes"]), Ok(Directive::PermitLocalCommand(true))),
            (parse("LocalCommand", &["echo", "%h"]), Ok(Directive::LocalCommand("echo %h".into()))),
        ];
        for (i, (got, want)) in cases.into_iter().enumerate() {
            assert_eq!(got, want, "case {i}");
        }
    }

    #[test]
    fn parses_forwards() {
        let got = parse("LocalForward", &["ftp/2121", "server:21"]).unwrap();
        let Directive::Forward(spec) = got else {
            panic!("not a forward: {got:?}");
        };
        assert!(matches!(spec, ForwardSpec::Local(Forwarding { ftp: true, .. })));
        assert!(matches!(parse("LocalForward", &["2121"]), Err(DirectiveError::Forward(_))));
        assert!(matches!(
            parse("DynamicForward", &["localhost:1080"]),
            Ok(Directive::Forward(ForwardSpec::Dynamic(Listen { port: 1080, .. })))
        ));
        // Issue 14 (fwd): one argument is remote dynamic forwarding; either
        // side may be a unix socket.
        assert!(matches!(
            parse("RemoteForward", &["1080"]),
            Ok(Directive::Forward(ForwardSpec::RemoteDynamic(Listen { port: 1080, .. })))
        ));
        assert!(matches!(
            parse("LocalForward", &["/tmp/l.sock", "db:5432"]),
            Ok(Directive::Forward(ForwardSpec::LocalStream(_)))
        ));
        assert!(matches!(
            parse("RemoteForward", &["[/run/r:1]", "/tmp/l.sock"]),
            Ok(Directive::Forward(ForwardSpec::RemoteStream(_)))
        ));
    }

    #[test]
    fn proxy_commands_keep_the_raw_line() {
        let keyword = Keyword::lookup("ProxyCommand").unwrap();
        let got = Directive::parse(keyword, &["ssh".into()], "ssh -W %h:%p \"gw\"").unwrap();
        assert_eq!(got, Directive::ProxyCommand("ssh -W %h:%p \"gw\"".into()));
        let keyword = Keyword::lookup("ProxyJump").unwrap();
        let got = Directive::parse(keyword, &["gw".into()], "gw  # via gateway").unwrap();
        assert_eq!(got, Directive::ProxyJump("gw".into()));
    }
}
