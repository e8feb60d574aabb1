//! Port forwarding specifications: `-L`, `-R`, `-D` on the command line and
//! `LocalForward`, `RemoteForward`, `DynamicForward` in ssh_config, plus
//! sshfwd's `ftp/` prefix. Mirrors OpenSSH's `parse_forward` (readconf.c).

use std::fmt;

use thiserror::Error;

/// OpenSSH refuses host names of `NI_MAXHOST` bytes or more.
const MAX_HOST_LEN: usize = 1024;

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
    /// here. (OpenSSH's reverse SOCKS, `-R [bind:]port` without a target, is
    /// refused at parse time: sshfwd does not implement it.)
    Remote(Forwarding),
    /// `-D`: a local SOCKS proxy; the target is chosen per connection.
    Dynamic(Listen),
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
    /// by `ftp/` (not for dynamic forwardings).
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
            ForwardSpec::Local(_) => ForwardKind::Local,
            ForwardSpec::Remote(_) => ForwardKind::Remote,
            ForwardSpec::Dynamic(_) => ForwardKind::Dynamic,
            ForwardSpec::FtpToSftp(_) => ForwardKind::FtpToSftp,
        }
    }

    pub fn listen(&self) -> &Listen {
        match self {
            ForwardSpec::Local(forwarding) | ForwardSpec::Remote(forwarding) => &forwarding.listen,
            ForwardSpec::Dynamic(listen) | ForwardSpec::FtpToSftp(listen) => listen,
        }
    }

    /// Whether the forwarded traffic is FTP (the `ftp/` prefix).
    pub fn is_ftp(&self) -> bool {
        match self {
            ForwardSpec::Local(forwarding) | ForwardSpec::Remote(forwarding) => forwarding.ftp,
            ForwardSpec::Dynamic(_) | ForwardSpec::FtpToSftp(_) => false,
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
            ForwardSpec::Dynamic(listen) | ForwardSpec::FtpToSftp(listen) => listen.fmt(f),
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

/// Writes a host, bracketed when it contains a colon (IPv6).
fn write_host(f: &mut fmt::Formatter<'_>, host: &str) -> fmt::Result {
    if host.contains(':') {
        write!(f, "[{host}]")
    } else {
        f.write_str(host)
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
    /// A field names a unix socket path (it contains `/`).
    #[error("unix sockets not supported")]
    UnixSocket,
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
    /// `-R [bind:]port` without a target: OpenSSH's reverse SOCKS proxy,
    /// which sshfwd does not implement.
    #[error("remote forwarding without a target (reverse SOCKS) is not supported")]
    ReverseDynamic,
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
    if !spec.contains(':') && spec.contains('/') && !spec.starts_with('/') {
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
    if fields.iter().any(|f| f.is_path) {
        return Err(ForwardSpecReason::UnixSocket);
    }
    let texts: Vec<&str> = fields.iter().map(|f| f.text.as_str()).collect();
    match kind {
        ForwardKind::Local => forwarding(kind, ftp, &texts).map(ForwardSpec::Local),
        ForwardKind::Remote => forwarding(kind, ftp, &texts).map(ForwardSpec::Remote),
        ForwardKind::Dynamic | ForwardKind::FtpToSftp => {
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
        // Like OpenSSH, -R with only a listen part means reverse SOCKS.
        [_] | [_, _] if kind == ForwardKind::Remote => {
            return Err(if ftp { ForwardSpecReason::FtpWithoutTarget } else { ForwardSpecReason::ReverseDynamic });
        }
        _ => return Err(ForwardSpecReason::FieldCount),
    };
    let listen = listen(kind, bind.copied(), port)?;
    if host.is_empty() {
        return Err(ForwardSpecReason::EmptyHost);
    }
    check_host(host)?;
    let target_port = parse_port(host_port)?;
    if target_port == 0 {
        return Err(ForwardSpecReason::ZeroTargetPort);
    }
    Ok(Forwarding { ftp, listen, target: HostPort { host: host.to_string(), port: target_port } })
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
            (Local, "8080:/tmp/sock", R::UnixSocket),
            (Local, "/tmp/a:/tmp/b", R::UnixSocket),
            (Local, "[/tmp/sock]:host:80", R::UnixSocket),
            (Remote, "/tmp/sock:host:80", R::UnixSocket),
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
            // -R with only a listen part is OpenSSH's reverse SOCKS (7.6+).
            (Remote, "1080", R::ReverseDynamic),
            (Remote, "0.0.0.0:1080", R::ReverseDynamic),
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
        let err = ForwardSpec::parse(Local, "8080:/run/s").unwrap_err();
        assert_eq!(err.to_string(), "bad local forwarding specification '8080:/run/s': unix sockets not supported");
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
        assert!(ForwardSpec::parse_config(Remote, &args(&["1080"])).is_err());
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
        assert_eq!((local.kind(), local.is_ftp(), local.listen().port), (Local, true, 1));
        let remote = ForwardSpec::parse(Remote, "*:0:h:2").unwrap();
        assert_eq!((remote.kind(), remote.is_ftp(), remote.listen().port), (Remote, false, 0));
        let dynamic = ForwardSpec::parse(Dynamic, "1080").unwrap();
        assert_eq!((dynamic.kind(), dynamic.is_ftp(), dynamic.listen().port), (Dynamic, false, 1080));
    }

    #[test]
    fn bind_addresses() {
        let local = |text| ForwardSpec::parse(Local, text).unwrap().listen().clone();
        assert_eq!(local("80:h:80").local_bind(false), LocalBind::Loopback);
        assert_eq!(local("80:h:80").local_bind(true), LocalBind::Any);
        assert_eq!(local("localhost:80:h:80").local_bind(true), LocalBind::Loopback);
        assert_eq!(local("*:80:h:80").local_bind(false), LocalBind::Any);
        assert_eq!(local(":80:h:80").local_bind(false), LocalBind::Any);
        assert_eq!(local("10.0.0.1:80:h:80").local_bind(false), LocalBind::Address("10.0.0.1".into()));

        let remote = |text| ForwardSpec::parse(Remote, text).unwrap().listen().clone();
        assert_eq!(remote("80:h:80").remote_bind_address(), "localhost");
        assert_eq!(remote("*:80:h:80").remote_bind_address(), "");
        assert_eq!(remote(":80:h:80").remote_bind_address(), "");
        assert_eq!(remote("0.0.0.0:80:h:80").remote_bind_address(), "0.0.0.0");
    }
}
