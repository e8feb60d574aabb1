//! `authorized_keys` in OpenSSH's format (sshd(8) "AUTHORIZED_KEYS FILE
//! FORMAT"), with the options that matter to a forwarding gateway.
//!
//! Honoured: `restrict`, `port-forwarding`, `no-port-forwarding`,
//! `permitopen="host:port"`, `permitlisten="[host:]port"`,
//! `from="pattern-list"`, `command="…"` (a forced command: this server runs
//! none, so such a key gets no sftp either, as sshd would give it none).
//! Accepted and without effect, since this server has no pty, agent, X11
//! or user rc: `agent-forwarding`, `no-agent-forwarding`, `x11-forwarding`,
//! `no-x11-forwarding`, `pty`, `no-pty`, `user-rc`, `no-user-rc`,
//! `environment="…"`, `no-touch-required`.
//!
//! Any other option (`cert-authority`, `principals`, `tunnel`,
//! `expiry-time`, `verify-required`, unknown names) refuses the key line:
//! it is skipped with a warning naming the file and line, so a restriction
//! this server does not understand never turns into an unrestricted key.
//! Syntax errors (an unterminated quote, a bad key, a bad `permitopen`)
//! fail the whole file with its name and line number.

use std::net::IpAddr;
use std::path::Path;

use russh::keys::PublicKey;

use ssh_files::pattern::{wildcard_ignore_ascii_case, PatternList};

/// A syntax error or an unreadable file.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizedKeysError {
    /// A line that cannot be parsed; `origin` is `file:line`.
    #[error("{origin}: {reason}")]
    Syntax { origin: String, reason: String },
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The keys allowed to log in, in file order.
#[derive(Debug, Clone, Default)]
pub struct AuthorizedKeys {
    entries: Vec<AuthorizedKey>,
    refused: Vec<String>,
}

/// One usable key line.
#[derive(Debug, Clone)]
pub struct AuthorizedKey {
    /// The public key (its comment is ignored when matching).
    pub key: PublicKey,
    /// What a session authenticated with this key may do.
    pub options: KeyOptions,
    /// `file:line`, for log messages.
    pub origin: String,
}

/// The options of a key line, after parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOptions {
    /// Off after `restrict` or `no-port-forwarding`, on again after
    /// `port-forwarding` (options apply in order, as in sshd).
    pub port_forwarding: bool,
    /// Empty: any direct-tcpip destination.
    pub permit_open: Vec<PermitOpen>,
    /// Empty: any remote forwarding listen address.
    pub permit_listen: Vec<PermitListen>,
    /// The client addresses this key may be used from.
    pub from: Option<PatternList>,
    /// A forced command; this server runs none, and refuses sftp for it.
    pub command: Option<String>,
}

impl Default for KeyOptions {
    fn default() -> Self {
        Self { port_forwarding: true, permit_open: Vec::new(), permit_listen: Vec::new(), from: None, command: None }
    }
}

/// A port, or `*` for any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortSpec {
    Any,
    Port(u16),
}

impl PortSpec {
    fn parse(text: &str) -> Option<Self> {
        if text == "*" {
            Some(Self::Any)
        } else {
            text.parse().ok().map(Self::Port)
        }
    }

    fn matches(self, port: u32) -> bool {
        match self {
            Self::Any => true,
            Self::Port(p) => u32::from(p) == port,
        }
    }
}

/// One `permitopen` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermitOpen {
    /// `permitopen="any"`.
    Any,
    /// `host:port`; the host is compared literally (ignoring ASCII case)
    /// with the name the client asked for, as sshd does, and `*` matches
    /// any host.
    Target { host: String, port: PortSpec },
}

impl PermitOpen {
    fn parse(text: &str) -> Result<Self, String> {
        if text.eq_ignore_ascii_case("any") {
            return Ok(Self::Any);
        }
        let (host, port) =
            split_host_port(text).ok_or_else(|| format!("bad permitopen \"{text}\": expected host:port"))?;
        let port = PortSpec::parse(port).ok_or_else(|| format!("bad permitopen \"{text}\": bad port"))?;
        if host.is_empty() {
            return Err(format!("bad permitopen \"{text}\": empty host"));
        }
        Ok(Self::Target { host: host.to_ascii_lowercase(), port })
    }

    /// Whether a direct-tcpip request for `host:port` is allowed by this entry.
    pub fn allows(&self, host: &str, port: u32) -> bool {
        match self {
            Self::Any => true,
            Self::Target { host: allowed, port: allowed_port } => {
                allowed_port.matches(port) && (allowed == "*" || allowed.eq_ignore_ascii_case(host))
            }
        }
    }
}

/// One `permitlisten` entry: a host pattern (`*` when only a port was
/// given) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermitListen {
    pub host: String,
    pub port: PortSpec,
}

impl PermitListen {
    fn parse(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("bad permitlisten \"{text}\": {why}");
        let (host, port) = match split_host_port(text) {
            Some((host, port)) => (host, port),
            // A bare port: any listen host, as sshd reads it.
            None => ("*", text),
        };
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        let port = PortSpec::parse(port).ok_or_else(|| bad("bad port"))?;
        Ok(Self { host: host.to_ascii_lowercase(), port })
    }

    /// Whether a tcpip-forward request for `address:port` (the address as
    /// the client sent it: OpenSSH sends `localhost` when no bind address
    /// was given) is allowed by this entry.
    pub fn allows(&self, address: &str, port: u32) -> bool {
        self.port.matches(port) && wildcard_ignore_ascii_case(address, &self.host)
    }
}

/// `host:port` or `[v6]:port`; `None` without a colon.
fn split_host_port(text: &str) -> Option<(&str, &str)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        return Some((host, port));
    }
    text.rsplit_once(':')
}

/// How a key offered by a client fares against the file.
#[derive(Debug)]
pub enum Lookup<'a> {
    /// The first line with this key whose `from=` admits the client.
    Allowed(&'a AuthorizedKey),
    /// The key is listed, but no line admits the client's address.
    NotFromPermittedHost,
    /// The key is not listed.
    Unknown,
}

impl AuthorizedKeys {
    /// Parses the contents of an authorized_keys file; `source` names it in
    /// error and warning messages.
    pub fn parse(text: &str, source: &str) -> Result<Self, AuthorizedKeysError> {
        let mut keys = Self::default();
        for (index, line) in text.lines().enumerate() {
            let origin = format!("{source}:{}", index + 1);
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match parse_line(line) {
                Ok(ParsedLine::Key(parsed)) => {
                    let (key, options) = *parsed;
                    keys.entries.push(AuthorizedKey { key, options, origin });
                }
                Ok(ParsedLine::Refused(reason)) => {
                    tracing::warn!("{origin}: key refused: {reason}");
                    keys.refused.push(format!("{origin}: {reason}"));
                }
                Err(reason) => return Err(AuthorizedKeysError::Syntax { origin, reason }),
            }
        }
        Ok(keys)
    }

    /// Reads and parses an authorized_keys file.
    pub fn load(path: &Path) -> Result<Self, AuthorizedKeysError> {
        let name = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| AuthorizedKeysError::Io { path: name.clone(), source })?;
        Self::parse(&text, &name)
    }

    /// Adds a key allowed with `options` (for in-process use).
    pub fn push(&mut self, key: PublicKey, options: KeyOptions) {
        let origin = format!("in-memory key {}", self.entries.len() + 1);
        self.entries.push(AuthorizedKey { key, options, origin });
    }

    /// The usable key lines.
    pub fn entries(&self) -> &[AuthorizedKey] {
        &self.entries
    }

    /// Lines skipped for unsupported options, as `file:line: reason`.
    pub fn refused(&self) -> &[String] {
        &self.refused
    }

    /// Finds the line that lets `key` in from `client`.
    pub fn lookup(&self, key: &PublicKey, client: IpAddr) -> Lookup<'_> {
        let mut listed = false;
        for entry in &self.entries {
            if entry.key.key_data() != key.key_data() {
                continue;
            }
            listed = true;
            if entry.options.from.as_ref().is_none_or(|from| from.matches_address(client)) {
                return Lookup::Allowed(entry);
            }
        }
        if listed {
            Lookup::NotFromPermittedHost
        } else {
            Lookup::Unknown
        }
    }
}

enum ParsedLine {
    Key(Box<(PublicKey, KeyOptions)>),
    Refused(String),
}

/// Key type names that may start a line without options.
fn is_key_type(word: &str) -> bool {
    matches!(
        word,
        "ssh-ed25519"
            | "ssh-rsa"
            | "ssh-dss"
            | "ecdsa-sha2-nistp256"
            | "ecdsa-sha2-nistp384"
            | "ecdsa-sha2-nistp521"
            | "sk-ssh-ed25519@openssh.com"
            | "sk-ecdsa-sha2-nistp256@openssh.com"
    ) || word.ends_with("-cert-v01@openssh.com")
}

fn parse_line(line: &str) -> Result<ParsedLine, String> {
    let first = line.split_whitespace().next().unwrap_or_default();
    let (options, key_text) = if is_key_type(first) {
        (Vec::new(), line)
    } else {
        let (options, rest) = split_options(line)?;
        (options, rest.trim_start())
    };
    let key_type = key_text.split_whitespace().next().unwrap_or_default();
    if key_type.ends_with("-cert-v01@openssh.com") {
        return Ok(ParsedLine::Refused(format!("certificate key type {key_type} is not supported")));
    }
    if !is_key_type(key_type) {
        return Err(format!("unknown key type \"{key_type}\""));
    }
    let key = PublicKey::from_openssh(key_text).map_err(|e| format!("bad {key_type} key: {e}"))?;
    let mut parsed = KeyOptions::default();
    for (name, value) in options {
        let lower = name.to_ascii_lowercase();
        let need_value = |value: Option<String>| value.ok_or_else(|| format!("option {name} needs a value"));
        match lower.as_str() {
            "restrict" => parsed.port_forwarding = false,
            "port-forwarding" => parsed.port_forwarding = true,
            "no-port-forwarding" => parsed.port_forwarding = false,
            "permitopen" => parsed.permit_open.push(PermitOpen::parse(&need_value(value)?)?),
            "permitlisten" => parsed.permit_listen.push(PermitListen::parse(&need_value(value)?)?),
            "from" => {
                if parsed.from.is_some() {
                    return Err("option from given twice".to_owned());
                }
                parsed.from = Some(PatternList::parse(&need_value(value)?).map_err(|e| e.to_string())?);
            }
            "command" => parsed.command = Some(need_value(value)?),
            "agent-forwarding"
            | "no-agent-forwarding"
            | "x11-forwarding"
            | "no-x11-forwarding"
            | "pty"
            | "no-pty"
            | "user-rc"
            | "no-user-rc"
            | "no-touch-required" => {}
            "environment" => {
                need_value(value)?;
            }
            _ => return Ok(ParsedLine::Refused(format!("unsupported option \"{name}\""))),
        }
    }
    Ok(ParsedLine::Key(Box::new((key, parsed))))
}

/// Splits the leading option list (`name` or `name="value"`, separated by
/// commas, `\"` for a quote inside a value) from the rest of the line.
/// Option names with their values, in line order.
type OptionList = Vec<(String, Option<String>)>;

fn split_options(line: &str) -> Result<(OptionList, &str), String> {
    let mut options = Vec::new();
    let mut chars = line.char_indices().peekable();
    loop {
        let mut name = String::new();
        let mut value: Option<String> = None;
        // Name.
        while let Some(&(_, c)) = chars.peek() {
            if c == '=' || c == ',' || c.is_whitespace() {
                break;
            }
            name.push(c);
            chars.next();
        }
        if name.is_empty() {
            return Err("empty option name".to_owned());
        }
        if let Some(&(_, '=')) = chars.peek() {
            chars.next();
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!("option {name}: value must be in double quotes"));
            }
            let mut text = String::new();
            loop {
                match chars.next() {
                    None => return Err(format!("option {name}: missing closing quote")),
                    Some((_, '\\')) if chars.peek().map(|&(_, c)| c) == Some('"') => {
                        chars.next();
                        text.push('"');
                    }
                    Some((_, '"')) => break,
                    Some((_, c)) => text.push(c),
                }
            }
            value = Some(text);
        }
        options.push((name, value));
        match chars.next() {
            Some((_, ',')) => continue,
            Some((index, c)) if c.is_whitespace() => return Ok((options, line.get(index..).unwrap_or_default())),
            Some((_, c)) => return Err(format!("unexpected '{c}' in options")),
            None => return Err("options but no key".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFVccr6ToTCdOOGq+ZzBW3Ra8XX0IqPVwK6PgO4XJkd9 user@host";
    const OTHER: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPcNRYbp7aLcmkVxUz8N+RBG/aAvlCtyYW+mrcmD6p/B other";

    fn parse(text: &str) -> AuthorizedKeys {
        AuthorizedKeys::parse(text, "ak").unwrap()
    }

    fn key(text: &str) -> PublicKey {
        PublicKey::from_openssh(text).unwrap()
    }

    fn local() -> IpAddr {
        "127.0.0.1".parse().unwrap()
    }

    #[test]
    fn plain_key_allows_everything() {
        let keys = parse(&format!("# comment\n\n{KEY}\n"));
        let Lookup::Allowed(entry) = keys.lookup(&key(KEY), local()) else { panic!() };
        assert_eq!(entry.options, KeyOptions::default());
        assert_eq!(entry.origin, "ak:3");
        assert!(matches!(keys.lookup(&key(OTHER), local()), Lookup::Unknown));
    }

    #[test]
    fn restrict_then_port_forwarding_follows_sshd_order() {
        let keys = parse(&format!("restrict {KEY}\nrestrict,port-forwarding,permitopen=\"127.0.0.1:80\" {OTHER}"));
        assert!(!keys.entries()[0].options.port_forwarding);
        let second = &keys.entries()[1].options;
        assert!(second.port_forwarding);
        assert_eq!(second.permit_open, vec![PermitOpen::Target { host: "127.0.0.1".into(), port: PortSpec::Port(80) }]);
        let keys = parse(&format!("port-forwarding,restrict {KEY}"));
        assert!(!keys.entries()[0].options.port_forwarding);
        let keys = parse(&format!("no-port-forwarding {KEY}"));
        assert!(!keys.entries()[0].options.port_forwarding);
    }

    #[test]
    fn permitopen_forms() {
        let keys = parse(&format!(
            "permitopen=\"localhost:*\",permitopen=\"[::1]:22\",permitopen=\"Host.Example:8080\" {KEY}"
        ));
        let open = &keys.entries()[0].options.permit_open;
        assert!(open[0].allows("localhost", 1));
        assert!(open[1].allows("::1", 22));
        assert!(!open[1].allows("::1", 23));
        assert!(open[2].allows("host.example", 8080));
        assert!(!open[2].allows("127.0.0.1", 8080));
        assert!(PermitOpen::parse("any").unwrap().allows("x", 1));
        assert!(PermitOpen::parse("*:443").unwrap().allows("x", 443));
        assert!(AuthorizedKeys::parse(&format!("permitopen=\"nocolon\" {KEY}"), "ak").is_err());
        assert!(AuthorizedKeys::parse(&format!("permitopen=\"h:99999\" {KEY}"), "ak").is_err());
    }

    #[test]
    fn permitlisten_forms() {
        let bare = PermitListen::parse("8080").unwrap();
        assert!(bare.allows("localhost", 8080));
        assert!(bare.allows("0.0.0.0", 8080));
        assert!(!bare.allows("localhost", 8081));
        let hosted = PermitListen::parse("localhost:*").unwrap();
        assert!(hosted.allows("localhost", 0));
        assert!(!hosted.allows("127.0.0.1", 0));
        let v6 = PermitListen::parse("[::1]:0").unwrap();
        assert!(v6.allows("::1", 0));
    }

    #[test]
    fn from_restricts_the_client_address() {
        let keys = parse(&format!("from=\"10.0.0.*,!10.0.0.5\" {KEY}\nfrom=\"192.168.0.0/16\" {KEY}"));
        let k = key(KEY);
        assert!(matches!(keys.lookup(&k, "10.0.0.4".parse().unwrap()), Lookup::Allowed(e) if e.origin == "ak:1"));
        assert!(matches!(keys.lookup(&k, "192.168.3.4".parse().unwrap()), Lookup::Allowed(e) if e.origin == "ak:2"));
        assert!(matches!(keys.lookup(&k, "10.0.0.5".parse().unwrap()), Lookup::NotFromPermittedHost));
        assert!(matches!(keys.lookup(&k, local()), Lookup::NotFromPermittedHost));
    }

    #[test]
    fn unknown_options_refuse_the_line_only() {
        let keys = parse(&format!("tunnel=\"1\" {KEY}\nexpiry-time=\"20990101\" {KEY}\n{OTHER}"));
        assert_eq!(keys.entries().len(), 1);
        assert_eq!(keys.refused().len(), 2);
        assert!(keys.refused()[0].starts_with("ak:1: "), "{:?}", keys.refused());
        assert!(matches!(keys.lookup(&key(KEY), local()), Lookup::Unknown));
    }

    #[test]
    fn quoted_values_may_hold_commas_spaces_and_quotes() {
        let keys = parse(&format!("command=\"echo \\\"a, b\\\"\",no-pty {KEY}"));
        assert_eq!(keys.entries()[0].options.command.as_deref(), Some("echo \"a, b\""));
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let err = AuthorizedKeys::parse(&format!("{KEY}\nfrom=\"x {KEY}"), "/etc/ak").unwrap_err();
        assert!(err.to_string().starts_with("/etc/ak:2: "), "{err}");
        let err = AuthorizedKeys::parse("ssh-ed25519 !!!notbase64", "ak").unwrap_err();
        assert!(err.to_string().starts_with("ak:1: bad ssh-ed25519 key"), "{err}");
        let err = AuthorizedKeys::parse("frobnicate", "ak").unwrap_err();
        assert!(err.to_string().starts_with("ak:1: "), "{err}");
    }
}
