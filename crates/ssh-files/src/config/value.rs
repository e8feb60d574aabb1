//! Typed values of ssh_config options and their parsers (OpenSSH readconf.c
//! and misc.c: multistate tables, `convtime`, `a2port`).

use std::fmt;
use std::time::Duration;

/// `StrictHostKeyChecking`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrictHostKeyChecking {
    /// Never add keys; refuse unknown or changed hosts.
    Yes,
    /// Add unknown keys without asking (`no`, `off`, `false`). A changed key
    /// is still refused for forwarding.
    No,
    /// Ask before adding an unknown key (the default).
    Ask,
    /// Add unknown keys without asking, refuse changed ones.
    AcceptNew,
}

impl StrictHostKeyChecking {
    /// OpenSSH's `multistate_strict_hostkey`, compared without case.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().as_str() {
            "yes" | "true" => Self::Yes,
            "no" | "false" | "off" => Self::No,
            "ask" => Self::Ask,
            "accept-new" => Self::AcceptNew,
            _ => return None,
        })
    }
}

/// `LogLevel`. `DEBUG` is `DEBUG1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Quiet,
    Fatal,
    Error,
    Info,
    Verbose,
    Debug1,
    Debug2,
    Debug3,
}

impl LogLevel {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_uppercase().as_str() {
            "QUIET" => Self::Quiet,
            "FATAL" => Self::Fatal,
            "ERROR" => Self::Error,
            "INFO" => Self::Info,
            "VERBOSE" => Self::Verbose,
            "DEBUG" | "DEBUG1" => Self::Debug1,
            "DEBUG2" => Self::Debug2,
            "DEBUG3" => Self::Debug3,
            _ => return None,
        })
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Quiet => "QUIET",
            Self::Fatal => "FATAL",
            Self::Error => "ERROR",
            Self::Info => "INFO",
            Self::Verbose => "VERBOSE",
            Self::Debug1 => "DEBUG1",
            Self::Debug2 => "DEBUG2",
            Self::Debug3 => "DEBUG3",
        })
    }
}

/// sshfwd's `FtpPassiveAddress`: where the data connection of a passive
/// transfer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FtpPassiveAddress {
    /// To the host of the control connection, whatever the 227/229 reply says
    /// (the default: robust against servers behind NAT).
    ControlHost,
    /// To the address in the server's reply.
    Reply,
}

impl FtpPassiveAddress {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().as_str() {
            "control-host" => Self::ControlHost,
            "reply" => Self::Reply,
            _ => return None,
        })
    }
}

/// sshfwd's `FtpTls`: what to do when the client asks for `AUTH TLS`, which
/// would hide the data addresses from the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FtpTls {
    /// Answer the `AUTH` command with a refusal, so the client stays in clear
    /// text (the default).
    Refuse,
    /// Pass it through; data connections then cannot be forwarded.
    Pass,
}

impl FtpTls {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().as_str() {
            "refuse" => Self::Refuse,
            "pass" => Self::Pass,
            _ => return None,
        })
    }
}

/// sshfwd's `FtpToSftpLogin`: whose SSH login serves a bridged FTP session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FtpToSftpLogin {
    /// sshfwd's own connection; FTP clients log in with the SSH user name
    /// and the bridge's password (the default).
    Session,
    /// Each FTP login is an SSH login with the FTP user and password.
    Passthrough,
}

impl FtpToSftpLogin {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().as_str() {
            "session" => Self::Session,
            "passthrough" => Self::Passthrough,
            _ => return None,
        })
    }
}

// Issue 14 (proc).
/// `SessionType` (and `-N`, `-s`): what the session channel asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionType {
    /// No session at all: only forwardings (`-N`).
    None,
    /// The command is the name of a subsystem (`-s`).
    Subsystem,
    /// A command, or a shell without one (the default).
    Default,
}

impl SessionType {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().as_str() {
            "none" => Self::None,
            "subsystem" => Self::Subsystem,
            "default" => Self::Default,
            _ => return None,
        })
    }
}

/// `SyslogFacility`: where `-y` sends diagnostics. The names are
/// OpenSSH's (`log_facility_number`); the numbers are syslog(3)'s codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogFacility {
    Daemon,
    /// The default.
    User,
    Auth,
    AuthPriv,
    /// `LOCAL0` to `LOCAL7` (the number is below 8).
    Local(u8),
}

impl SyslogFacility {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let upper = text.to_ascii_uppercase();
        Some(match upper.as_str() {
            "DAEMON" => Self::Daemon,
            "USER" => Self::User,
            "AUTH" => Self::Auth,
            "AUTHPRIV" => Self::AuthPriv,
            local => {
                let digit = local.strip_prefix("LOCAL")?;
                match digit.parse::<u8>() {
                    Ok(n) if n < 8 && digit.len() == 1 => Self::Local(n),
                    _ => return None,
                }
            }
        })
    }

    /// The facility's code, to be multiplied by 8 in a message's priority.
    pub fn code(self) -> u8 {
        match self {
            Self::User => 1,
            Self::Daemon => 3,
            Self::Auth => 4,
            Self::AuthPriv => 10,
            Self::Local(n) => 16 + n.min(7),
        }
    }
}

/// A yes/no flag: OpenSSH's `multistate_flag`, compared without case.
pub(crate) fn parse_flag(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "yes" | "true" => Some(true),
        "no" | "false" => Some(false),
        _ => None,
    }
}

/// `PubkeyAuthentication`: a flag, or `unbound`/`host-bound` (both mean yes
/// here, since sshfwd makes no host-bound signatures itself).
pub(crate) fn parse_pubkey_auth(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "unbound" | "host-bound" => Some(true),
        other => parse_flag(other),
    }
}

/// A time: OpenSSH's `convtime`, seconds with optional unit suffixes that
/// may be chained: `90`, `90s`, `1m30s`, `2h`, `1d`, `1w`.
pub(crate) fn parse_time(text: &str) -> Option<Duration> {
    if text.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return None;
        }
        let value: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let mut units = rest.chars();
        let multiplier = match units.next() {
            None => 1,
            Some('s' | 'S') => 1,
            Some('m' | 'M') => 60,
            Some('h' | 'H') => 60 * 60,
            Some('d' | 'D') => 24 * 60 * 60,
            Some('w' | 'W') => 7 * 24 * 60 * 60,
            Some(_) => return None,
        };
        rest = units.as_str();
        total = total.checked_add(value.checked_mul(multiplier)?)?;
    }
    // OpenSSH keeps times in an int.
    if total > i32::MAX as u64 {
        return None;
    }
    Some(Duration::from_secs(total))
}

/// A TCP port to connect to: 1 to 65535.
pub(crate) fn parse_port(text: &str) -> Option<u16> {
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|&p| p != 0)
}

/// A non-negative integer.
pub(crate) fn parse_count(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_facilities() {
        use SyslogFacility::*;
        let cases = [
            ("USER", Some(User), 1),
            ("daemon", Some(Daemon), 3),
            ("Auth", Some(Auth), 4),
            ("AUTHPRIV", Some(AuthPriv), 10),
            ("LOCAL0", Some(Local(0)), 16),
            ("local7", Some(Local(7)), 23),
            ("LOCAL8", None, 0),
            ("LOCAL07", None, 0),
            ("LOCAL", None, 0),
            ("kern", None, 0),
        ];
        for (text, want, code) in cases {
            assert_eq!(SyslogFacility::parse(text), want, "{text}");
            if let Some(facility) = want {
                assert_eq!(facility.code(), code, "{text}");
            }
        }
    }

    #[test]
    fn strict_host_key_checking_values() {
        use StrictHostKeyChecking::*;
        let cases = [
            ("yes", Some(Yes)),
            ("TRUE", Some(Yes)),
            ("no", Some(No)),
            ("false", Some(No)),
            // `off` is an OpenSSH synonym for `no`.
            ("off", Some(No)),
            ("ask", Some(Ask)),
            ("Accept-New", Some(AcceptNew)),
            ("on", None),
            ("maybe", None),
        ];
        for (text, want) in cases {
            assert_eq!(StrictHostKeyChecking::parse(text), want, "{text}");
        }
    }

    #[test]
    fn log_levels() {
        assert_eq!(LogLevel::parse("debug"), Some(LogLevel::Debug1));
        assert_eq!(LogLevel::parse("DEBUG3"), Some(LogLevel::Debug3));
        assert_eq!(LogLevel::parse("Verbose"), Some(LogLevel::Verbose));
        assert_eq!(LogLevel::parse("trace"), None);
        assert!(LogLevel::Quiet < LogLevel::Debug1);
    }

    #[test]
    fn flags() {
        assert_eq!(parse_flag("Yes"), Some(true));
        assert_eq!(parse_flag("true"), Some(true));
        assert_eq!(parse_flag("NO"), Some(false));
        assert_eq!(parse_flag("off"), None);
        assert_eq!(parse_flag("1"), None);
        assert_eq!(parse_pubkey_auth("host-bound"), Some(true));
        assert_eq!(parse_pubkey_auth("no"), Some(false));
    }

    #[test]
    fn times() {
        let cases = [
            ("0", Some(0)),
            ("30", Some(30)),
            ("30s", Some(30)),
            ("5m", Some(300)),
            ("1m30s", Some(90)),
            ("1h", Some(3600)),
            ("1H2M3S", Some(3723)),
            ("1d", Some(86400)),
            ("1w", Some(604800)),
            ("", None),
            ("s", None),
            ("-1", None),
            ("10x", None),
            ("1.5", None),
            ("99999999999", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_time(text), want.map(Duration::from_secs), "{text:?}");
        }
    }

    #[test]
    fn ports_and_counts() {
        assert_eq!(parse_port("22"), Some(22));
        assert_eq!(parse_port("65535"), Some(65535));
        assert_eq!(parse_port("0"), None);
        assert_eq!(parse_port("65536"), None);
        assert_eq!(parse_port("ssh"), None);
        assert_eq!(parse_port("+22"), None);
        assert_eq!(parse_count("3"), Some(3));
        assert_eq!(parse_count("-3"), None);
        assert_eq!(parse_count(""), None);
    }
}
