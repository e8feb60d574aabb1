//! Port forwarding specifications: `-L`, `-R`, `-D` on the command line and
//! `LocalForward`, `RemoteForward`, `DynamicForward` in ssh_config, plus
//! sshfwd's `ftp/` prefix. Mirrors OpenSSH's `parse_forward` (readconf.c).

use std::fmt;

use thiserror::Error;

/// OpenSSH refuses host names of `NI_MAXHOST` bytes or more.
const MAX_HOST_LEN: usize = 1024;

/// A unix socket path must fit `sockaddr_un.sun_path` (108 bytes on Linux,
/// with its NUL), as OpenSSH's `PATH_MAX_SUN`.
const MAX_PATH_LEN: usize = 107;

/// The prefix that marks a forwarding whose traffic is FTP.
const FTP_PREFIX: &str = "ftp/";

/// Which kind of forwarding a specification was given as (`-L`, `-R` or
/// `-D`); what [`ForwardSpec::parse`] is told to expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForwardKind {
    /// `-L`: listen locally, connect from the server to the target.
    Local,
    /// `-R`: the server listens, connections come back to the target from here.
    Remote,
    /// `-D`: a local SOCKS proxy.
    Dynamic,
    /// `--ftp-to-sftp`: a local FTP server whose files are the SSH
    /// server's, over SFTP.
    FtpToSftp,
}

impl fmt::Display for ForwardKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ForwardKind::Local => "local",
            ForwardKind::Remote => "remote",
            ForwardKind::Dynamic => "dynamic",
            ForwardKind::FtpToSftp => "FTP-to-SFTP",
        })
    }
}

/// A host and a port; IPv6 literals are kept without brackets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_host(f, &self.host)?;
        write!(f, ":{}", self.port)
    }
}

/// Where a local listener binds, once `GatewayPorts` is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalBind {
    /// The loopback addresses only (`localhost`, or no address without
    /// `GatewayPorts`).
    Loopback,
    /// Every interface (`*`, an empty address, or no address with
    /// `GatewayPorts yes`).
    Any,
    /// This address or name.
    Address(String),
}

/// One parsed forwarding. Each kind carries exactly what it needs, so a
/// forwarding with a target always has one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ForwardSpec {
    /// `-L`: listen here, connect from the server to the target.
    Local(Forwarding),
    /// `-R`: the server listens, connections come back to the target from
    /// here.
    Remote(Forwarding),
    /// `-L` with a unix socket on at least one side: listen here (on a port
    /// or a socket), connect from the server (to a host or a socket).
    LocalStream(StreamForwarding),
    /// `-R` with a unix socket on at least one side: the server listens (on
    /// a port or a socket), connections go to a host or a socket from here.
    RemoteStream(StreamForwarding),
    /// `-D`: a local SOCKS proxy; the target is chosen per connection.
    Dynamic(Listen),
    /// `-R [bind:]port` alone (OpenSSH 7.6+): the server listens, and each
    /// connection is a SOCKS request answered here, which connects from here.
    RemoteDynamic(Listen),
    /// `--ftp-to-sftp`: a local FTP server bridged to the server's SFTP.
    FtpToSftp(Listen),
}

/// A forwarding to a fixed target (`-L`, `-R`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Forwarding {
    /// The spec carried the `ftp/` prefix: the forwarded traffic is an FTP
    /// control connection.
    pub ftp: bool,
    pub listen: Listen,
    /// Where connections go.
    pub target: HostPort,
}

/// A forwarding with a unix socket on one side or both; never FTP (an FTP
/// forwarding rewrites addresses, which a socket path has none of).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamForwarding {
    pub listen: ListenOn,
    pub target: ConnectTo,
}

/// Where a forwarding listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListenOn {
    Port(Listen),
    /// A unix socket path, as given.
    Path(String),
}

/// Where a forwarding's connections go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConnectTo {
    Host(HostPort),
    /// A unix socket path, as given.
    Path(String),
}

/// The listening side of a forwarding.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Listen {
    /// The listen address as given; `None` when absent. An empty address is
    /// stored as `*` (both mean every interface).
    pub bind: Option<String>,
    /// The listen port; 0 (server picks) only for [`ForwardSpec::Remote`].
    pub port: u16,
}

impl ForwardSpec {
    /// Parses the command-line form, e.g. `-L [bind:]port:host:hostport`,
    /// `-R [bind:]port:host:hostport`, `-D [bind:]port`, optionally prefixed
    /// by `ftp/` (not for dynamic forwardings). For `-L` and `-R` either side
    /// may be a unix socket path (a field with `/`; `[path]` when it has a
    /// `:`), and `-R [bind:]port` alone is remote dynamic forwarding.
    pub fn parse(kind: ForwardKind, spec: &str) -> Result<ForwardSpec, ForwardSpecError> {
        let error = |reason| ForwardSpecError { kind, spec: spec.to_string(), reason };
        let (ftp, body) = match spec.strip_prefix(FTP_PREFIX) {
            Some(rest) => (true, rest),
            None => (false, spec),
        };
        let fields = split_fields(body.trim_start()).map_err(error)?;
        from_fields(kind, ftp, &fields).map_err(error)
    }

    /// Parses the ssh_config form: `LocalForward [bind:]port host:hostport`
    /// (two arguments), `RemoteForward [bind:]port host:hostport`,
    /// `DynamicForward [bind:]port`. OpenSSH joins the two arguments with `:`
    /// and parses the result like the command-line form.
    pub fn parse_config(kind: ForwardKind, args: &[String]) -> Result<ForwardSpec, ForwardSpecError> {
        match (kind, args) {
            (_, [listen]) => ForwardSpec::parse(kind, listen),
            (ForwardKind::Local | ForwardKind::Remote, [listen, target]) => {
                ForwardSpec::parse(kind, &format!("{listen}:{target}"))
            }
            _ => Err(ForwardSpecError { kind, spec: args.join(" "), reason: ForwardSpecReason::FieldCount }),
        }
    }

    pub fn kind(&self) -> ForwardKind {
        match self {
            ForwardSpec::Local(_) | ForwardSpec::LocalStream(_) => ForwardKind::Local,
            ForwardSpec::Remote(_) | ForwardSpec::RemoteStream(_) | ForwardSpec::RemoteDynamic(_) => {
                ForwardKind::Remote
            }
            ForwardSpec::Dynamic(_) => ForwardKind::Dynamic,
            ForwardSpec::FtpToSftp(_) => ForwardKind::FtpToSftp,
        }
    }

    /// The listening port, unless the forwarding listens on a unix socket.
    pub fn listen(&self) -> Option<&Listen> {
        match self {
            ForwardSpec::Local(forwarding) | ForwardSpec::Remote(forwarding) => Some(&forwarding.listen),
            ForwardSpec::LocalStream(stream) | ForwardSpec::RemoteStream(stream) => match &stream.listen {
                ListenOn::Port(listen) => Some(listen),
                ListenOn::Path(_) => None,
            },
            ForwardSpec::Dynamic(listen) | ForwardSpec::RemoteDynamic(listen) | ForwardSpec::FtpToSftp(listen) => {
                Some(listen)
            }
        }
    }

    /// Whether the forwarded traffic is FTP (the `ftp/` prefix).
    pub fn is_ftp(&self) -> bool {
        match self {
            ForwardSpec::Local(forwarding) | ForwardSpec::Remote(forwarding) => forwarding.ftp,
            _ => false,
        }
    }
}

impl Listen {
    /// Where a local listener (`-L`, `-D`) binds. Follows OpenSSH's
    /// `channel_fwd_bind_addr` for the client side: an explicit address is
    /// always honoured, no address means loopback unless `GatewayPorts`.
    pub fn local_bind(&self, gateway_ports: bool) -> LocalBind {
        match self.bind.as_deref() {
            None if gateway_ports => LocalBind::Any,
            None | Some("localhost") => LocalBind::Loopback,
            Some("*") => LocalBind::Any,
            Some(address) => LocalBind::Address(address.to_string()),
        }
    }

    /// The address to send in a `tcpip-forward` request for `-R`: OpenSSH
    /// sends `localhost` when none was given and an empty string for `*`.
    pub fn remote_bind_address(&self) -> &str {
        match self.bind.as_deref() {
            None => "localhost",
            Some("*") => "",
            Some(address) => address,
        }
    }
}

impl fmt::Display for ForwardSpec {
    /// The canonical command-line form, e.g. `ftp/[::1]:2121:server:21`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardSpec::Local(forwarding) | ForwardSpec::Remote(forwarding) => forwarding.fmt(f),
            ForwardSpec::LocalStream(stream) | ForwardSpec::RemoteStream(stream) => stream.fmt(f),
            ForwardSpec::Dynamic(listen) | ForwardSpec::RemoteDynamic(listen) | ForwardSpec::FtpToSftp(listen) => {
                listen.fmt(f)
            }
        }
    }
}

impl fmt::Display for Forwarding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ftp {
            f.write_str(FTP_PREFIX)?;
        }
        write!(f, "{}:{}", self.listen, self.target)
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(bind) = &self.bind {
            write_host(f, bind)?;
            f.write_str(":")?;
        }
        write!(f, "{}", self.port)
    }
}

impl fmt::Display for StreamForwarding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.listen {
            ListenOn::Port(listen) => listen.fmt(f)?,
            ListenOn::Path(path) => write_path(f, path)?,
        }
        f.write_str(":")?;
        match &self.target {
            ConnectTo::Host(target) => target.fmt(f),
            ConnectTo::Path(path) => write_path(f, path),
        }
    }
}

impl fmt::Display for ListenOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenOn::Port(listen) => listen.fmt(f),
            ListenOn::Path(path) => f.write_str(path),
        }
    }
}

impl fmt::Display for ConnectTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectTo::Host(target) => target.fmt(f),
            ConnectTo::Path(path) => f.write_str(path),
        }
    }
}

/// Writes a socket path so that it parses back: `\` and `:` escaped, and a
/// leading `[` (which would open a bracketed field).
fn write_path(f: &mut fmt::Formatter<'_>, path: &str) -> fmt::Result {
    for (at, c) in path.char_indices() {
        if c == '\\' || c == ':' || (at == 0 && c == '[') {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    Ok(())
}

/// Writes a host, bracketed when it contains a colon (IPv6).
fn write_host(f: &mut fmt::Formatter<'_>, host: &str) -> fmt::Result {
    if host.contains(':') {
        write!(f, "[{host}]")
    } else {
        f.write_str(host)
    }
}

/// How local unix socket listeners are made: `StreamLocalBindMask` (the
/// umask while binding; OpenSSH's default 0177 leaves the socket to its
/// owner) and `StreamLocalBindUnlink` (remove an existing file first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLocalBind {
    pub mask: u32,
    pub unlink: bool,
}

impl Default for StreamLocalBind {
    fn default() -> Self {
        StreamLocalBind { mask: 0o177, unlink: false }
    }
}

/// `PermitRemoteOpen`: where remote dynamic forwarding (`-R port` alone)
/// may connect on the server's behalf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermitOpen {
    /// `any`, the default.
    Any,
    /// `none`: every request is refused.
    None,
    /// Only these `host:port` pairs (`*` for any host or any port).
    Only(Vec<OpenPattern>),
}

/// One `host:port` of `PermitRemoteOpen`; `None` stands for `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPattern {
    pub host: Option<String>,
    pub port: Option<u16>,
}

impl PermitOpen {
    /// `any`, `none` (each alone), or `host:port` words with IPv6
    /// addresses in brackets, as OpenSSH's readconf.c reads them.
    pub fn parse(args: &[String]) -> Option<PermitOpen> {
        match args {
            [] => None,
            [word] if word == "any" => Some(PermitOpen::Any),
            [word] if word == "none" => Some(PermitOpen::None),
            words => words.iter().map(|w| OpenPattern::parse(w)).collect::<Option<Vec<_>>>().map(PermitOpen::Only),
        }
    }

    /// Whether a request to `host:port` may be connected. Host names are
    /// compared as given, without case, as OpenSSH does (no resolution).
    pub fn allows(&self, host: &str, port: u16) -> bool {
        match self {
            PermitOpen::Any => true,
            PermitOpen::None => false,
            PermitOpen::Only(patterns) => patterns.iter().any(|p| {
                p.host.as_deref().is_none_or(|h| h.eq_ignore_ascii_case(host)) && p.port.is_none_or(|n| n == port)
            }),
        }
    }
}

impl OpenPattern {
    fn parse(word: &str) -> Option<OpenPattern> {
        let (host, port) = match word.strip_prefix('[') {
            Some(rest) => rest.split_once("]:")?,
            None => word.rsplit_once(':').filter(|(host, _)| !host.contains(':'))?,
        };
        if host.is_empty() || check_host(host).is_err() {
            return None;
        }
        let port = match port {
            "*" => None,
            port => Some(parse_port(port).ok().filter(|&p| p != 0)?),
        };
        Some(OpenPattern { host: Some(host.to_string()).filter(|h| h != "*"), port })
    }
}

/// A forwarding specification that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("bad {kind} forwarding specification '{spec}': {reason}")]
pub struct ForwardSpecError {
    pub kind: ForwardKind,
    /// The specification as given.
    pub spec: String,
    pub reason: ForwardSpecReason,
}

/// Why a forwarding specification was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ForwardSpecReason {
    /// A unix socket path (a field with `/`) where a host or a port
    /// belongs, or in a kind that takes none (`-D`, the bridge).
    #[error("unix socket path not allowed here")]
    UnixSocket,
    /// A unix socket path longer than `sun_path` holds.
    #[error("unix socket path too long")]
    PathTooLong,
    /// `ftp/` with a unix socket on either side: FTP forwarding rewrites
    /// addresses and ports, which a socket path has none of.
    #[error("the ftp/ prefix needs TCP on both sides, not a unix socket")]
    FtpUnixSocket,
    /// A port is not a number from 0 to 65535.
    #[error("bad port '{0}'")]
    BadPort(String),
    /// Port 0 ("pick one") only makes sense when the server listens.
    #[error("listen port 0 is only allowed for remote forwarding")]
    ZeroListenPort,
    /// Nothing can be reached at port 0.
    #[error("target port must not be 0")]
    ZeroTargetPort,
    /// The number of `:`-separated fields fits no form of this kind.
    #[error("wrong number of fields")]
    FieldCount,
    /// A `[` without its `]`, or a `]` not followed by `:` or the end.
    #[error("unbalanced brackets")]
    Brackets,
    /// A backslash at the very end of the specification.
    #[error("trailing backslash")]
    TrailingBackslash,
    /// The target host is empty.
    #[error("empty target host")]
    EmptyHost,
    /// A host name with characters no host name has.
    #[error("bad host name '{0}'")]
    BadHost(String),
    /// A host name is longer than OpenSSH accepts.
    #[error("host name too long")]
    HostTooLong,
    /// `ftp/` given on a forwarding without a fixed target.
    #[error("the ftp/ prefix needs a target host:hostport")]
    FtpWithoutTarget,
}

/// One field of a specification.
#[derive(Debug)]
struct Field {
    text: String,
    /// Contains `/`: OpenSSH reads it as a unix socket path.
    is_path: bool,
}

/// Splits on `:` like OpenSSH's `parse_fwd_field`: a field in brackets is
/// taken literally, elsewhere `\` escapes the next character. As a legacy
/// form, a spec with no `:` at all may use `/` as the separator
/// (`port/host/hostport`).
fn split_fields(spec: &str) -> Result<Vec<Field>, ForwardSpecReason> {
    if !spec.contains(':') && spec.contains('/') && !spec.starts_with(['/', '[']) {
        return Ok(spec.split('/').map(|text| Field { text: text.to_string(), is_path: false }).collect());
    }
    let mut fields = Vec::new();
    // `None` once the last field had no separator after it. A trailing `:`
    // yields a last, empty field, so `8080:host:` reports the bad port.
    let mut rest = Some(spec);
    while let Some(input) = rest {
        // OpenSSH reads at most four fields; anything after is garbage.
        if fields.len() == 4 {
            return Err(ForwardSpecReason::FieldCount);
        }
        let (field, after) = next_field(input)?;
        fields.push(field);
        rest = after;
    }
    Ok(fields)
}

/// Reads one field; returns it with the text after its separator, or `None`
/// when the input ended without one.
fn next_field(input: &str) -> Result<(Field, Option<&str>), ForwardSpecReason> {
    if let Some(inner) = input.strip_prefix('[') {
        let close = inner.find(']').ok_or(ForwardSpecReason::Brackets)?;
        let (text, after) = inner.split_at(close);
        let after = &after[1..];
        let rest = match after.strip_prefix(':') {
            Some(rest) => Some(rest),
            None if after.is_empty() => None,
            None => return Err(ForwardSpecReason::Brackets),
        };
        let field = Field { text: text.to_string(), is_path: text.contains('/') };
        return Ok((field, rest));
    }
    let mut text = String::new();
    let mut is_path = false;
    let mut chars = input.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, escaped)) => text.push(escaped),
                None => return Err(ForwardSpecReason::TrailingBackslash),
            },
            ':' => return Ok((Field { text, is_path }, Some(&input[at + 1..]))),
            '/' => {
                is_path = true;
                text.push(c);
            }
            _ => text.push(c),
        }
    }
    Ok((Field { text, is_path }, None))
}

/// Builds the spec from its fields; `ftp` is whether the `ftp/` prefix was
/// there.
fn from_fields(kind: ForwardKind, ftp: bool, fields: &[Field]) -> Result<ForwardSpec, ForwardSpecReason> {
    let has_path = fields.iter().any(|f| f.is_path);
    if has_path && kind != ForwardKind::Dynamic && kind != ForwardKind::FtpToSftp {
        if ftp {
            return Err(ForwardSpecReason::FtpUnixSocket);
        }
        let stream = stream_forwarding(kind, fields)?;
        return Ok(if kind == ForwardKind::Local {
            ForwardSpec::LocalStream(stream)
        } else {
            ForwardSpec::RemoteStream(stream)
        });
    }
    if has_path {
        return Err(ForwardSpecReason::UnixSocket);
    }
    let texts: Vec<&str> = fields.iter().map(|f| f.text.as_str()).collect();
    match (kind, texts.as_slice()) {
        // Like OpenSSH, -R with only a listen part means remote SOCKS.
        (ForwardKind::Remote, [_] | [_, _]) if ftp => Err(ForwardSpecReason::FtpWithoutTarget),
        (ForwardKind::Remote, [port]) => Ok(ForwardSpec::RemoteDynamic(listen(kind, None, port)?)),
        (ForwardKind::Remote, [bind, port]) => Ok(ForwardSpec::RemoteDynamic(listen(kind, Some(*bind), port)?)),
        (ForwardKind::Local, _) => forwarding(kind, ftp, &texts).map(ForwardSpec::Local),
        (ForwardKind::Remote, _) => forwarding(kind, ftp, &texts).map(ForwardSpec::Remote),
        (ForwardKind::Dynamic | ForwardKind::FtpToSftp, _) => {
            let listen = match texts.as_slice() {
                [port] => listen(kind, None, port)?,
                [bind, port] => listen(kind, Some(*bind), port)?,
                _ => return Err(ForwardSpecReason::FieldCount),
            };
            if ftp {
                return Err(ForwardSpecReason::FtpWithoutTarget);
            }
            Ok(if kind == ForwardKind::Dynamic { ForwardSpec::Dynamic(listen) } else { ForwardSpec::FtpToSftp(listen) })
        }
    }
}

/// `[bind:]port:host:hostport`, for `-L` and `-R`.
fn forwarding(kind: ForwardKind, ftp: bool, texts: &[&str]) -> Result<Forwarding, ForwardSpecReason> {
    let (bind, port, host, host_port) = match texts {
        [port, host, host_port] => (None, port, host, host_port),
        [bind, port, host, host_port] => (Some(bind), port, host, host_port),
        _ => return Err(ForwardSpecReason::FieldCount),
    };
    let listen = listen(kind, bind.copied(), port)?;
    Ok(Forwarding { ftp, listen, target: target(host, host_port)? })
}

/// `-L`/`-R` with a socket path on one side or both, in OpenSSH's forms:
/// `path:path`, `[bind:]port:path`, `path:host:hostport`.
fn stream_forwarding(kind: ForwardKind, fields: &[Field]) -> Result<StreamForwarding, ForwardSpecReason> {
    let (listen_on, connect_to) = match fields {
        [from, to] if from.is_path && to.is_path => (ListenOn::Path(path(from)?), ConnectTo::Path(path(to)?)),
        [port, to] if to.is_path && !port.is_path => {
            (ListenOn::Port(listen(kind, None, &port.text)?), ConnectTo::Path(path(to)?))
        }
        [bind, port, to] if to.is_path && !bind.is_path && !port.is_path => {
            (ListenOn::Port(listen(kind, Some(&bind.text), &port.text)?), ConnectTo::Path(path(to)?))
        }
        [from, host, port] if from.is_path && !host.is_path && !port.is_path => {
            (ListenOn::Path(path(from)?), ConnectTo::Host(target(&host.text, &port.text)?))
        }
        [_] | [_, _] | [_, _, _] | [_, _, _, _] => return Err(ForwardSpecReason::UnixSocket),
        _ => return Err(ForwardSpecReason::FieldCount),
    };
    Ok(StreamForwarding { listen: listen_on, target: connect_to })
}

/// A socket path field, refused when too long for `sun_path`.
fn path(field: &Field) -> Result<String, ForwardSpecReason> {
    if field.text.len() > MAX_PATH_LEN {
        return Err(ForwardSpecReason::PathTooLong);
    }
    Ok(field.text.clone())
}

/// `host:hostport`, the target of `-L` and `-R`.
fn target(host: &str, host_port: &str) -> Result<HostPort, ForwardSpecReason> {
    if host.is_empty() {
        return Err(ForwardSpecReason::EmptyHost);
    }
    check_host(host)?;
    let port = parse_port(host_port)?;
    if port == 0 {
        return Err(ForwardSpecReason::ZeroTargetPort);
    }
    Ok(HostPort { host: host.to_string(), port })
}

/// `[bind:]port`: the listening side of any kind.
fn listen(kind: ForwardKind, bind: Option<&str>, port: &str) -> Result<Listen, ForwardSpecReason> {
    let port = parse_port(port)?;
    if port == 0 && kind != ForwardKind::Remote {
        return Err(ForwardSpecReason::ZeroListenPort);
    }
    let bind = bind.map(|b| if b.is_empty() { "*" } else { b });
    if let Some(bind) = bind {
        check_host(bind)?;
    }
    Ok(Listen { bind: bind.map(str::to_string), port })
}

/// Refuses host names no resolver accepts: too long, or with blanks,
/// control characters, brackets or backslashes (which would also not print
/// back unambiguously).
fn check_host(host: &str) -> Result<(), ForwardSpecReason> {
    if host.len() > MAX_HOST_LEN {
        return Err(ForwardSpecReason::HostTooLong);
    }
    if host.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '[' | ']' | '\\')) {
        return Err(ForwardSpecReason::BadHost(host.to_string()));
    }
    Ok(())
}

/// A decimal port, 0 to 65535. (OpenSSH also accepts service names from
/// /etc/services; we do not.)
fn parse_port(text: &str) -> Result<u16, ForwardSpecReason> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ForwardSpecReason::BadPort(text.to_string()));
    }
    text.parse().map_err(|_| ForwardSpecReason::BadPort(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ForwardKind::*;
    use ForwardSpecReason as R;

    fn spec(kind: ForwardKind, ftp: bool, bind: Option<&str>, port: u16, target: Option<(&str, u16)>) -> ForwardSpec {
        let listen = Listen { bind: bind.map(str::to_string), port };
        let target = target.map(|(host, port)| HostPort { host: host.to_string(), port });
        match (kind, target) {
            (Local, Some(target)) => ForwardSpec::Local(Forwarding { ftp, listen, target }),
            (Remote, Some(target)) => ForwardSpec::Remote(Forwarding { ftp, listen, target }),
            (Dynamic, None) => ForwardSpec::Dynamic(listen),
            (FtpToSftp, None) => ForwardSpec::FtpToSftp(listen),
            (kind, target) => panic!("no such spec: {kind} {target:?}"),
        }
    }

    fn path_on(path: &str) -> ListenOn {
        ListenOn::Path(path.into())
    }

    fn path_to(path: &str) -> ConnectTo {
        ConnectTo::Path(path.into())
    }

    fn port_on(bind: Option<&str>, port: u16) -> ListenOn {
        ListenOn::Port(Listen { bind: bind.map(str::to_string), port })
    }

    fn host_to(host: &str, port: u16) -> ConnectTo {
        ConnectTo::Host(HostPort { host: host.into(), port })
    }

    fn stream(kind: ForwardKind, listen: ListenOn, target: ConnectTo) -> ForwardSpec {
        let stream = StreamForwarding { listen, target };
        match kind {
            Local => ForwardSpec::LocalStream(stream),
            Remote => ForwardSpec::RemoteStream(stream),
            kind => panic!("no stream forwarding for {kind}"),
        }
    }

    /// ssh(1)'s unix socket forms (forwarding.sh's chain among them) and
    /// remote dynamic forwarding.
    #[test]
    fn parses_unix_socket_and_remote_dynamic_forms() {
        let cases = [
            (Remote, "4201:[/o/unix-1.fwd]", stream(Remote, port_on(None, 4201), path_to("/o/unix-1.fwd"))),
            (
                Local,
                "[/o/unix-1.fwd]:[/o/unix-2.fwd]",
                stream(Local, path_on("/o/unix-1.fwd"), path_to("/o/unix-2.fwd")),
            ),
            (Remote, "/o/unix-2.fwd:/o/unix-3.fwd", stream(Remote, path_on("/o/unix-2.fwd"), path_to("/o/unix-3.fwd"))),
            (
                Local,
                "[/o/unix-3.fwd]:127.0.0.1:4242",
                stream(Local, path_on("/o/unix-3.fwd"), host_to("127.0.0.1", 4242)),
            ),
            (
                Local,
                "localhost:8080:/run/db.sock",
                stream(Local, port_on(Some("localhost"), 8080), path_to("/run/db.sock")),
            ),
            (Remote, "0:/run/x", stream(Remote, port_on(None, 0), path_to("/run/x"))),
            // Relative paths count as paths once they contain a `/`.
            (Local, "./s:[::1]:80", stream(Local, path_on("./s"), host_to("::1", 80))),
            // A bracketed path may hold a colon.
            (Local, "[/tmp/a:b]:/c", stream(Local, path_on("/tmp/a:b"), path_to("/c"))),
            // An escaped slash is no path.
            (Local, "8080:a\\/b:80", spec(Local, false, None, 8080, Some(("a/b", 80)))),
            (Remote, "8080", ForwardSpec::RemoteDynamic(Listen { bind: None, port: 8080 })),
            (Remote, "0", ForwardSpec::RemoteDynamic(Listen { bind: None, port: 0 })),
            (
                Remote,
                "localhost:1080",
                ForwardSpec::RemoteDynamic(Listen { bind: Some("localhost".into()), port: 1080 }),
            ),
            (Remote, ":1080", ForwardSpec::RemoteDynamic(Listen { bind: Some("*".into()), port: 1080 })),
        ];
        for (kind, text, want) in cases {
            assert_eq!(ForwardSpec::parse(kind, text), Ok(want), "{kind} {text:?}");
        }
        let long = format!("/{}", "x".repeat(MAX_PATH_LEN));
        assert_eq!(ForwardSpec::parse(Local, &format!("1:{long}")).unwrap_err().reason, R::PathTooLong);
        let fits = format!("/{}", "x".repeat(MAX_PATH_LEN - 1));
        assert!(ForwardSpec::parse(Local, &format!("1:{fits}")).is_ok());
    }

    #[test]
    fn parses_valid_forms() {
        let cases = [
            (Local, "8080:localhost:80", spec(Local, false, None, 8080, Some(("localhost", 80)))),
            (Local, "127.0.0.1:8080:db:5432", spec(Local, false, Some("127.0.0.1"), 8080, Some(("db", 5432)))),
            (Local, "*:8080:db:5432", spec(Local, false, Some("*"), 8080, Some(("db", 5432)))),
            // An empty bind address means every interface, like `*`.
            (Local, ":8080:db:5432", spec(Local, false, Some("*"), 8080, Some(("db", 5432)))),
            (Local, "localhost:8080:db:5432", spec(Local, false, Some("localhost"), 8080, Some(("db", 5432)))),
            (Local, "[::1]:8080:[::1]:80", spec(Local, false, Some("::1"), 8080, Some(("::1", 80)))),
            (Local, "8080:[2001:db8::1]:21", spec(Local, false, None, 8080, Some(("2001:db8::1", 21)))),
            // Legacy separator.
            (Local, "8080/server/80", spec(Local, false, None, 8080, Some(("server", 80)))),
            (Local, "lo/8080/server/80", spec(Local, false, Some("lo"), 8080, Some(("server", 80)))),
            // Backslash escapes the next character outside brackets.
            (Local, "8080:we\\ird:80", spec(Local, false, None, 8080, Some(("weird", 80)))),
            (Local, "ftp/2121:ftp.example.com:21", spec(Local, true, None, 2121, Some(("ftp.example.com", 21)))),
            (Local, "ftp/0.0.0.0:2121:ftp:21", spec(Local, true, Some("0.0.0.0"), 2121, Some(("ftp", 21)))),
            (Remote, "9000:localhost:22", spec(Remote, false, None, 9000, Some(("localhost", 22)))),
            // -R may let the server pick the port.
            (Remote, "0:localhost:22", spec(Remote, false, None, 0, Some(("localhost", 22)))),
            (Remote, "*:0:localhost:22", spec(Remote, false, Some("*"), 0, Some(("localhost", 22)))),
            (Remote, "ftp/2121:[::1]:21", spec(Remote, true, None, 2121, Some(("::1", 21)))),
            (Dynamic, "1080", spec(Dynamic, false, None, 1080, None)),
            (Dynamic, "[::1]:1080", spec(Dynamic, false, Some("::1"), 1080, None)),
            (Dynamic, "*:1080", spec(Dynamic, false, Some("*"), 1080, None)),
            (FtpToSftp, "2121", spec(FtpToSftp, false, None, 2121, None)),
            (FtpToSftp, "0.0.0.0:2121", spec(FtpToSftp, false, Some("0.0.0.0"), 2121, None)),
        ];
        for (kind, text, want) in cases {
            assert_eq!(ForwardSpec::parse(kind, text), Ok(want), "{kind} {text:?}");
        }
    }

    #[test]
    fn refuses_invalid_forms() {
        let cases = [
            // A path where a host or a port belongs.
            (Local, "8080:/tmp/sock:80", R::UnixSocket),
            (Local, "a:8080:/b:80", R::UnixSocket),
            (Local, "/tmp/sock:80", R::UnixSocket),
            (Local, "/tmp/sock", R::UnixSocket),
            (Remote, "/tmp/sock", R::UnixSocket),
            (Dynamic, "/tmp/socks", R::UnixSocket),
            (FtpToSftp, "[/tmp/ftp]", R::UnixSocket),
            (Local, "/a:/b:c", R::UnixSocket),
            (Local, "ftp/[/tmp/a]:host:21", R::FtpUnixSocket),
            (Remote, "ftp/2121:/tmp/ftp.sock", R::FtpUnixSocket),
            (Local, "0:/tmp/sock", R::ZeroListenPort),
            (Local, "/tmp/sock:host:0", R::ZeroTargetPort),
            (Local, "[/tmp/a:/tmp/b", R::Brackets),
            (Local, "8080", R::FieldCount),
            (Local, "a:8080", R::FieldCount),
            (Local, "a:b:c:d:e", R::FieldCount),
            (Dynamic, "a:1080:host", R::FieldCount),
            (Local, "x:y", R::FieldCount),
            (Local, "0:host:80", R::ZeroListenPort),
            (Dynamic, "0", R::ZeroListenPort),
            (Local, "8080:host:0", R::ZeroTargetPort),
            (Local, "http:host:80", R::BadPort("http".into())),
            (Local, "70000:host:80", R::BadPort("70000".into())),
            (Local, "8080:host:-1", R::BadPort("-1".into())),
            (Local, "8080:host:", R::BadPort("".into())),
            (Local, "8080::80", R::EmptyHost),
            (Local, "[::1:8080:h:80", R::Brackets),
            (Local, "[::1]x:8080:h:80", R::Brackets),
            (Local, "8080:h:80\\", R::TrailingBackslash),
            (Local, "8080:a b:80", R::BadHost("a b".into())),
            (Local, "8080:a\\\\b:80", R::BadHost("a\\b".into())),
            (Local, "x\\y/8080/h/80", R::BadHost("x\\y".into())),
            (Dynamic, "ftp/1080", R::FtpWithoutTarget),
            (FtpToSftp, "0", R::ZeroListenPort),
            (FtpToSftp, "2121:host:21", R::FieldCount),
            (Remote, "ftp/1080", R::FtpWithoutTarget),
            (Remote, "ftp/*:1080", R::FtpWithoutTarget),
            (Remote, "http", R::BadPort("http".into())),
        ];
        for (kind, text, reason) in cases {
            let err = ForwardSpec::parse(kind, text).unwrap_err();
            assert_eq!(err.reason, reason, "{kind} {text:?}");
            assert_eq!(err.spec, text);
        }
    }

    #[test]
    fn error_message_names_kind_spec_and_reason() {
        let err = ForwardSpec::parse(Local, "x:y").unwrap_err();
        assert_eq!(err.to_string(), "bad local forwarding specification 'x:y': wrong number of fields");
        let err = ForwardSpec::parse(Local, "8080:/run/s:1").unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad local forwarding specification '8080:/run/s:1': unix socket path not allowed here"
        );
    }

    #[test]
    fn parses_config_form() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cases = [
            (Local, args(&["8080", "db:5432"]), spec(Local, false, None, 8080, Some(("db", 5432)))),
            (Local, args(&["[::1]:8080", "[::1]:80"]), spec(Local, false, Some("::1"), 8080, Some(("::1", 80)))),
            (Local, args(&["ftp/2121", "server:21"]), spec(Local, true, None, 2121, Some(("server", 21)))),
            (Remote, args(&["9000", "localhost:22"]), spec(Remote, false, None, 9000, Some(("localhost", 22)))),
            (Dynamic, args(&["localhost:1080"]), spec(Dynamic, false, Some("localhost"), 1080, None)),
        ];
        for (kind, args, want) in cases {
            assert_eq!(ForwardSpec::parse_config(kind, &args), Ok(want), "{kind} {args:?}");
        }
        assert!(ForwardSpec::parse_config(Local, &args(&["8080"])).is_err());
        assert_eq!(
            ForwardSpec::parse_config(Remote, &args(&["1080"])),
            Ok(ForwardSpec::RemoteDynamic(Listen { bind: None, port: 1080 }))
        );
        assert_eq!(
            ForwardSpec::parse_config(Local, &args(&["/tmp/l.sock", "/run/r.sock"])),
            Ok(stream(Local, path_on("/tmp/l.sock"), path_to("/run/r.sock")))
        );
        assert!(ForwardSpec::parse_config(Dynamic, &args(&["1080", "x:1"])).is_err());
        assert!(ForwardSpec::parse_config(Local, &args(&["1", "h:2", "3"])).is_err());
    }

    #[test]
    fn display_is_canonical_and_round_trips() {
        let cases = [
            (Local, "8080:localhost:80", "8080:localhost:80"),
            (Local, ":8080:db:5432", "*:8080:db:5432"),
            (Local, "8080/server/80", "8080:server:80"),
            (Local, "[::1]:8080:[::1]:80", "[::1]:8080:[::1]:80"),
            (Local, "ftp/2121:[2001:db8::1]:21", "ftp/2121:[2001:db8::1]:21"),
            (Remote, "0:localhost:22", "0:localhost:22"),
            (Remote, "[::1]:0:h:22", "[::1]:0:h:22"),
            (Dynamic, "localhost:1080", "localhost:1080"),
            (Remote, "1080", "1080"),
            (Remote, ":1080", "*:1080"),
            (Local, "[/tmp/a]:[/tmp/b]", "/tmp/a:/tmp/b"),
            (Local, "[/tmp/a:b]:h:80", "/tmp/a\\:b:h:80"),
            (Remote, "[::1]:80:[/x]", "[::1]:80:/x"),
            (Remote, "[[x/y]:/z", "\\[x/y:/z"),
            (Remote, "/a\\\\b:/c", "/a\\\\b:/c"),
        ];
        for (kind, text, canonical) in cases {
            let parsed = ForwardSpec::parse(kind, text).unwrap();
            assert_eq!(parsed.to_string(), canonical);
            assert_eq!(ForwardSpec::parse(kind, canonical).unwrap(), parsed);
        }
    }

    #[test]
    fn accessors_see_through_the_kinds() {
        let local = ForwardSpec::parse(Local, "ftp/1:h:2").unwrap();
        assert_eq!((local.kind(), local.is_ftp(), local.listen().map(|l| l.port)), (Local, true, Some(1)));
        let remote = ForwardSpec::parse(Remote, "*:0:h:2").unwrap();
        assert_eq!((remote.kind(), remote.is_ftp(), remote.listen().map(|l| l.port)), (Remote, false, Some(0)));
        let dynamic = ForwardSpec::parse(Dynamic, "1080").unwrap();
        assert_eq!((dynamic.kind(), dynamic.is_ftp(), dynamic.listen().map(|l| l.port)), (Dynamic, false, Some(1080)));
        let socket = ForwardSpec::parse(Remote, "/a:/b").unwrap();
        assert_eq!((socket.kind(), socket.is_ftp(), socket.listen()), (Remote, false, None));
        let remote_dynamic = ForwardSpec::parse(Remote, "1080").unwrap();
        assert_eq!(remote_dynamic.kind(), Remote);
    }

    #[test]
    fn permit_remote_open() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // dynamic-forward.sh's lists.
        let explicit = PermitOpen::parse(&words(&["127.0.0.1:4242", "[::1]:4242", "localhost:4242"])).unwrap();
        let cases = [
            (&explicit, "127.0.0.1", 4242, true),
            (&explicit, "::1", 4242, true),
            (&explicit, "LOCALHOST", 4242, true),
            (&explicit, "127.0.0.1", 1, false),
            (&explicit, "127.0.0.2", 4242, false),
            (&PermitOpen::Any, "anything", 1, true),
            (&PermitOpen::None, "127.0.0.1", 4242, false),
        ];
        for (permit, host, port, allowed) in cases {
            assert_eq!(permit.allows(host, port), allowed, "{permit:?} {host}:{port}");
        }
        let wild = PermitOpen::parse(&words(&["*:22", "db:*"])).unwrap();
        assert!(wild.allows("any.host", 22) && wild.allows("db", 5432) && !wild.allows("web", 80));
        for bad in [&["any", "h:1"][..], &["h"], &["h:0"], &["::1:22"], &["[::1]"], &[":22"], &[]] {
            assert_eq!(PermitOpen::parse(&words(bad)), None, "{bad:?}");
        }
    }

    #[test]
    fn bind_addresses() {
        let local = |text| ForwardSpec::parse(Local, text).unwrap().listen().cloned().unwrap();
        assert_eq!(local("80:h:80").local_bind(false), LocalBind::Loopback);
        assert_eq!(local("80:h:80").local_bind(true), LocalBind::Any);
        assert_eq!(local("localhost:80:h:80").local_bind(true), LocalBind::Loopback);
        assert_eq!(local("*:80:h:80").local_bind(false), LocalBind::Any);
        assert_eq!(local(":80:h:80").local_bind(false), LocalBind::Any);
        assert_eq!(local("10.0.0.1:80:h:80").local_bind(false), LocalBind::Address("10.0.0.1".into()));

        let remote = |text| ForwardSpec::parse(Remote, text).unwrap().listen().cloned().unwrap();
        assert_eq!(remote("80:h:80").remote_bind_address(), "localhost");
        assert_eq!(remote("*:80:h:80").remote_bind_address(), "");
        assert_eq!(remote(":80:h:80").remote_bind_address(), "");
        assert_eq!(remote("0.0.0.0:80:h:80").remote_bind_address(), "0.0.0.0");
    }
}
