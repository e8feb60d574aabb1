//! The command line, as OpenSSH's ssh(1) spells it. This layer holds only
//! what the user typed; `settings` turns it into a validated whole.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{ArgAction, Parser};

/// sshfwd: SSH port forwarding that understands FTP.
#[derive(Debug, Parser)]
#[command(
    name = "sshfwd",
    version,
    disable_help_flag = true,
    override_usage = "sshfwd [-gMNqTvy] [-D [bind_address:]port] [-E log_file] [-F configfile]\n              [-i identity_file] [-L [ftp/][bind_address:]port:host:hostport]\n              [-l login_name] [-O ctl_cmd] [-o option] [-p port]\n              [-R [ftp/][bind_address:]port:host:hostport] [-S ctl_path]\n              [--ftp-to-sftp [bind_address:]port] destination [command ...]"
)]
pub struct Args {
    /// Do not execute a remote command: only forward ports.
    #[arg(short = 'N')]
    pub no_command: bool,
    /// Disable pseudo-terminal allocation (sshfwd never allocates one).
    #[arg(short = 'T')]
    pub no_tty: bool,
    /// Allow remote hosts to connect to local forwarded ports (GatewayPorts).
    #[arg(short = 'g')]
    pub gateway_ports: bool,
    /// Quiet mode: suppress warnings and diagnostics.
    #[arg(short = 'q')]
    pub quiet: bool,
    /// Verbose mode; repeat for more detail.
    #[arg(short = 'v', action = ArgAction::Count)]
    pub verbose: u8,
    /// Port to connect to on the remote host.
    #[arg(short = 'p', value_name = "port")]
    pub port: Option<String>,
    /// User to log in as on the remote machine.
    #[arg(short = 'l', value_name = "login_name")]
    pub login: Option<String>,
    /// Identity (private key) file; may be repeated.
    #[arg(short = 'i', value_name = "identity_file")]
    pub identity_files: Vec<PathBuf>,
    /// Append diagnostics to log_file instead of standard error.
    #[arg(short = 'E', value_name = "log_file", overrides_with = "log_file")]
    pub log_file: Option<PathBuf>,
    /// Send diagnostics to syslog (facility SyslogFacility, default USER).
    #[arg(short = 'y')]
    pub syslog: bool,
    /// Per-user configuration file (default ~/.ssh/config).
    #[arg(short = 'F', value_name = "configfile")]
    pub config_file: Option<PathBuf>,
    /// An option in the configuration file's format, e.g. -o Port=2222.
    #[arg(short = 'o', value_name = "option")]
    pub options: Vec<String>,
    /// Local forwarding: [ftp/][bind_address:]port:host:hostport.
    #[arg(short = 'L', value_name = "spec")]
    pub local: Vec<String>,
    /// Remote forwarding: [ftp/][bind_address:]port:host:hostport.
    #[arg(short = 'R', value_name = "spec")]
    pub remote: Vec<String>,
    /// Dynamic (SOCKS) forwarding: [bind_address:]port.
    #[arg(short = 'D', value_name = "spec")]
    pub dynamic: Vec<String>,
    /// FTP-to-SFTP bridge: an FTP server on [bind_address:]port whose files
    /// are the SSH server's, over SFTP (see FtpToSftpLogin).
    #[arg(long = "ftp-to-sftp", value_name = "[bind_address:]port")]
    pub ftp_to_sftp: Vec<String>,
    /// Diagnose an FTP endpoint (typically a running `-L ftp/` forward):
    /// log in and try a listing in EPSV, PASV, EPRT and PORT.
    #[arg(long = "ftp-check", value_name = "[user[:password]@]host:port")]
    pub ftp_check: Option<String>,
    /// Run the whole FTP-over-SSH path in-process on loopback, self-check it,
    /// and stay up until Ctrl-C.
    #[arg(long = "demo")]
    pub demo: bool,
    /// With --demo: exit after the self-check (status says whether it passed).
    #[arg(long = "once", requires = "demo")]
    pub once: bool,
    // Issue 14 (mux): connection sharing.
    /// Master mode for connection sharing (ControlMaster yes; twice: ask).
    #[arg(short = 'M', action = ArgAction::Count)]
    pub control_master: u8,
    /// The control socket for connection sharing (ControlPath).
    #[arg(short = 'S', value_name = "ctl_path")]
    pub control_path: Option<String>,
    /// Ask a running master: check, forward, cancel, exit or stop.
    #[arg(short = 'O', value_name = "ctl_cmd")]
    pub control_command: Option<String>,
    /// Print help.
    #[arg(short = 'h', long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    /// [user@]host or ssh://[user@]host[:port].
    #[arg(value_name = "destination")]
    pub destination: Option<String>,
    /// The command to run on the remote host.
    #[arg(value_name = "command", trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Parses the command line. `--help` and `--version` come back as errors
/// too (clap's way): [`clap::Error::use_stderr`] tells them apart.
pub fn parse<I: IntoIterator<Item = OsString>>(argv: I) -> Result<Args, clap::Error> {
    Args::try_parse_from(argv)
}

/// OpenSSH-style usage text, for a missing destination.
pub fn usage() -> String {
    use clap::CommandFactory;
    let mut text = Args::command().render_usage().to_string();
    text = text.replacen("Usage: ", "usage: ", 1);
    text
}

/// `[user@]host` or `ssh://[user@]host[:port]`, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DestinationError {
    #[error("Bad destination: {0}")]
    Bad(String),
    #[error("Bad port '{0}'")]
    Port(String),
}

impl std::str::FromStr for Destination {
    type Err = DestinationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some(rest) = text.strip_prefix("ssh://") {
            let rest = rest.trim_end_matches('/');
            let (user, hostport) = split_user(rest);
            let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
                let (host, after) = inner.split_once(']').ok_or_else(|| DestinationError::Bad(text.into()))?;
                let port = match after.strip_prefix(':') {
                    Some(p) => Some(parse_port(p)?),
                    None if after.is_empty() => None,
                    None => return Err(DestinationError::Bad(text.into())),
                };
                (host.to_owned(), port)
            } else {
                match hostport.split_once(':') {
                    Some((h, p)) => (h.to_owned(), Some(parse_port(p)?)),
                    None => (hostport.to_owned(), None),
                }
            };
            if host.is_empty() {
                return Err(DestinationError::Bad(text.into()));
            }
            return Ok(Destination { user, host, port });
        }
        let (user, host) = split_user(text);
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        if host.is_empty() {
            return Err(DestinationError::Bad(text.into()));
        }
        Ok(Destination { user, host: host.to_owned(), port: None })
    }
}

fn split_user(text: &str) -> (Option<String>, &str) {
    match text.rsplit_once('@') {
        Some((user, host)) => (Some(user.to_owned()), host),
        None => (None, text),
    }
}

pub fn parse_port(text: &str) -> Result<u16, DestinationError> {
    match text.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(DestinationError::Port(text.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        let cases: &[(&str, Option<&str>, &str, Option<u16>)] = &[
            ("host", None, "host", None),
            ("me@host", Some("me"), "host", None),
            ("me@::1", Some("me"), "::1", None),
            ("[::1]", None, "::1", None),
            ("ssh://me@host:2222", Some("me"), "host", Some(2222)),
            ("ssh://host", None, "host", None),
            ("ssh://[::1]:22", None, "::1", Some(22)),
            ("ssh://me@[fe80::1]", Some("me"), "fe80::1", None),
            ("a@b@host", Some("a@b"), "host", None),
        ];
        for (text, user, host, port) in cases {
            let d: Destination = text.parse().unwrap();
            assert_eq!(d.user.as_deref(), *user, "{text}");
            assert_eq!(d.host, *host, "{text}");
            assert_eq!(d.port, *port, "{text}");
        }
        for bad in ["", "me@", "ssh://", "ssh://host:x", "ssh://host:0", "ssh://[::1"] {
            assert!(bad.parse::<Destination>().is_err(), "{bad}");
        }
    }

    #[test]
    fn command_after_destination_keeps_its_flags() {
        let args = parse(["sshfwd", "-N", "host", "ls", "-l"].map(OsString::from)).unwrap();
        assert_eq!(args.destination.as_deref(), Some("host"));
        assert_eq!(args.command, vec!["ls", "-l"]);
        assert!(args.no_command);
    }

    #[test]
    fn a_repeated_log_file_is_the_last_one() {
        let args = parse(["sshfwd", "-E", "a.log", "-Eb.log", "host"].map(OsString::from)).unwrap();
        assert_eq!(args.log_file, Some(PathBuf::from("b.log")));
    }

    #[test]
    fn help_goes_to_stdout_and_usage_errors_to_stderr() {
        let help = parse(["sshfwd", "-h"].map(OsString::from)).unwrap_err();
        assert!(!help.use_stderr());
        let missing_value = parse(["sshfwd", "-p"].map(OsString::from)).unwrap_err();
        assert!(missing_value.use_stderr());
    }
}
