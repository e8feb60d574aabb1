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
    disable_version_flag = true,
    // ssh takes the last of a repeated -E, -F, -S, -b...
    args_override_self = true,
    override_usage = "sshfwd [-46aACfGgKkMNnqsTtVvXxYy] [-B bind_interface] [-b bind_address]\n              [-c cipher_spec] [-D [bind_address:]port] [-E log_file]\n              [-e escape_char] [-F configfile] [-I pkcs11] [-i identity_file]\n              [-J destination] [-L [ftp/][bind_address:]port:host:hostport]\n              [-l login_name] [-m mac_spec] [-O ctl_cmd] [-o option] [-p port]\n              [-Q query_option] [-R [ftp/][bind_address:]port:host:hostport]\n              [-S ctl_path] [-W host:port] [-w local_tun[:remote_tun]]\n              [--ftp-to-sftp [bind_address:]port] destination [command ...]"
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
    /// Port to connect to on the remote host (the first -p counts).
    #[arg(short = 'p', value_name = "port")]
    pub port: Vec<String>,
    /// User to log in as on the remote machine (the first -l counts).
    #[arg(short = 'l', value_name = "login_name")]
    pub login: Vec<String>,
    /// Identity (private key) file; may be repeated.
    #[arg(short = 'i', value_name = "identity_file")]
    pub identity_files: Vec<PathBuf>,
    /// Append diagnostics to log_file instead of standard error.
    #[arg(short = 'E', value_name = "log_file")]
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
    /// Local forwarding: [ftp/][bind_address:]port:host:hostport; either
    /// side may be a unix socket path instead (local_socket:host:hostport,
    /// [bind_address:]port:remote_socket, local_socket:remote_socket).
    #[arg(short = 'L', value_name = "spec")]
    pub local: Vec<String>,
    /// Remote forwarding: [ftp/][bind_address:]port:host:hostport; either
    /// side may be a unix socket path instead; [bind_address:]port alone is
    /// remote dynamic (SOCKS) forwarding.
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
    // Issue 14 (proxy): reaching the server, and the socket.
    /// Connect through jump hosts: [user@]host[:port] or ssh:// URIs,
    /// separated by commas; `none` for none (ProxyJump).
    #[arg(short = 'J', value_name = "destination")]
    pub jump: Option<String>,
    /// Forward standard input and output to host:port through the server
    /// (no command, no other forwarding).
    #[arg(short = 'W', value_name = "host:port")]
    pub stdio_forward: Option<String>,
    /// Use IPv4 addresses only (AddressFamily inet).
    #[arg(short = '4', overrides_with = "ipv6")]
    pub ipv4: bool,
    /// Use IPv6 addresses only (AddressFamily inet6).
    #[arg(short = '6', overrides_with = "ipv4")]
    pub ipv6: bool,
    /// Connect from this local address (BindAddress).
    #[arg(short = 'b', value_name = "bind_address")]
    pub bind_address: Option<String>,
    /// Connect from this interface's address (BindInterface).
    #[arg(short = 'B', value_name = "bind_interface")]
    pub bind_interface: Option<String>,
    // Issue 14 (proc): the session and the process.
    /// Go to the background once authenticated and every forwarding is set
    /// up (ForkAfterAuthentication); implies -n.
    #[arg(short = 'f')]
    pub fork: bool,
    /// Read standard input from /dev/null (StdinNull).
    #[arg(short = 'n')]
    pub stdin_null: bool,
    /// The command is the name of a subsystem, such as sftp (SessionType
    /// subsystem).
    #[arg(short = 's')]
    pub subsystem: bool,
    // Issue 14 (config)
    /// Print the configuration resolved for the destination, as `ssh -G`
    /// does, and exit without connecting.
    #[arg(short = 'G')]
    pub print_config: bool,
    /// List the algorithms sshfwd supports: cipher, cipher-auth, mac, kex,
    /// key, key-cert, key-plain, key-sig, sig, compression,
    /// protocol-version, help.
    #[arg(short = 'Q', value_name = "query_option")]
    pub query: Option<String>,
    /// Ciphers, in order of preference (as the Ciphers option).
    #[arg(short = 'c', value_name = "cipher_spec")]
    pub cipher_spec: Vec<String>,
    /// MACs, in order of preference (as the MACs option).
    #[arg(short = 'm', value_name = "mac_spec")]
    pub mac_spec: Vec<String>,
    /// Request compression (zlib@openssh.com, zlib).
    #[arg(short = 'C')]
    pub compression: bool,
    /// Print the version and exit.
    #[arg(short = 'V', long = "version")]
    pub version: bool,
    /// Forward the agent (ForwardAgent yes).
    #[arg(short = 'A')]
    pub forward_agent: bool,
    /// Do not forward the agent (ForwardAgent no).
    #[arg(short = 'a')]
    pub no_forward_agent: bool,
    /// X11 forwarding (not supported: a warning).
    #[arg(short = 'X')]
    pub forward_x11: bool,
    /// Trusted X11 forwarding (not supported: a warning).
    #[arg(short = 'Y')]
    pub forward_x11_trusted: bool,
    /// Disable X11 forwarding (sshfwd never forwards X11).
    #[arg(short = 'x')]
    pub no_forward_x11: bool,
    /// Disable GSSAPI credential delegation (sshfwd never delegates).
    #[arg(short = 'k')]
    pub no_gssapi_delegation: bool,
    /// GSSAPI authentication and delegation (not supported: a warning).
    #[arg(short = 'K')]
    pub gssapi: bool,
    /// Force pseudo-terminal allocation (sshfwd allocates none: a warning).
    #[arg(short = 't', action = ArgAction::Count)]
    pub tty: u8,
    /// Escape character (sshfwd reads no escapes: it allocates no terminal).
    #[arg(short = 'e', value_name = "escape_char")]
    pub escape_char: Option<String>,
    /// PKCS#11 provider (not supported: a warning).
    #[arg(short = 'I', value_name = "pkcs11")]
    pub pkcs11: Option<String>,
    /// Tunnel device forwarding (not supported: refused).
    #[arg(short = 'w', value_name = "local_tun[:remote_tun]")]
    pub tunnel: Option<String>,
    /// Deprecated in OpenSSH and ignored there too.
    #[arg(short = 'P', hide = true)]
    pub deprecated_p: bool,
    /// Protocol version 2 (the only one).
    #[arg(short = '2', hide = true)]
    pub protocol2: bool,
    /// Protocol version 1: refused, as ssh does.
    #[arg(short = '1', hide = true)]
    pub protocol1: bool,
    /// Where -l, -p, -o, -c, -m and the destination stood: ssh applies them
    /// in command-line order.
    #[arg(skip)]
    pub positions: Positions,
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
    /// Where the destination stood when options followed it (see
    /// `options_first`): its place in ssh's order of first values.
    #[arg(long = DESTINATION_MARK, hide = true)]
    pub destination_mark: bool,
    /// [user@]host or ssh://[user@]host[:port].
    #[arg(value_name = "destination")]
    pub destination: Option<String>,
    /// The command to run on the remote host.
    #[arg(value_name = "command", trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// The hidden flag that marks where the destination stood.
const DESTINATION_MARK: &str = "sshfwd-destination-was-here";

/// Parses the command line. `--help` and `--version` come back as errors
/// too (clap's way): [`clap::Error::use_stderr`] tells them apart.
pub fn parse<I: IntoIterator<Item = OsString>>(argv: I) -> Result<Args, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let command = Args::command();
    let argv = options_first(&command, argv.into_iter().collect());
    let matches = command.try_get_matches_from(argv)?;
    let mut args = Args::from_arg_matches(&matches)?;
    let indices = |id: &str| -> Vec<usize> { matches.indices_of(id).map(Iterator::collect).unwrap_or_default() };
    args.positions = Positions {
        login: indices("login").first().copied(),
        port: indices("port").first().copied(),
        destination: indices("destination_mark").first().or(indices("destination").first()).copied(),
        options: indices("options"),
        cipher_spec: indices("cipher_spec").last().copied(),
        mac_spec: indices("mac_spec").last().copied(),
    };
    Ok(args)
}

/// The arguments with the options that follow the destination moved in
/// front of it: ssh reads options up to the command, before and after the
/// destination (`ssh host -v ls -l`: `-v` is sshfwd's, `-l` the command's),
/// while clap takes everything after the destination as the command. A
/// getopt-style scan: flags that take a value take the rest of their
/// cluster or the next argument; `--` ends the options.
fn options_first(command: &clap::Command, argv: Vec<OsString>) -> Vec<OsString> {
    let takes_value = |short: char| {
        command.get_arguments().any(|arg| arg.get_short() == Some(short) && arg.get_action().takes_values())
    };
    let long_takes_value =
        |long: &str| command.get_arguments().any(|arg| arg.get_long() == Some(long) && arg.get_action().takes_values());
    // How many arguments the option starting at `at` spans; `None` when
    // `at` is not an option.
    let option_len = |at: usize| -> Option<usize> {
        let text = argv.get(at)?.to_str()?;
        if let Some(long) = text.strip_prefix("--") {
            if long.is_empty() {
                return None;
            }
            return Some(if !long.contains('=') && long_takes_value(long) { 2 } else { 1 });
        }
        let cluster = text.strip_prefix('-').filter(|c| !c.is_empty())?;
        for (i, short) in cluster.char_indices() {
            if takes_value(short) {
                let rest = cluster.len() - i - short.len_utf8();
                return Some(if rest > 0 { 1 } else { 2 });
            }
        }
        Some(1)
    };
    let mut at = 1;
    while let Some(len) = option_len(at) {
        at += len;
    }
    let destination = at;
    if argv.get(destination).is_none_or(|arg| arg == "--") {
        return argv;
    }
    let mut after = destination + 1;
    while let Some(len) = option_len(after) {
        after += len;
    }
    if after == destination + 1 {
        return argv;
    }
    let mut reordered: Vec<OsString> = argv.get(..destination).unwrap_or_default().to_vec();
    // The options that followed the destination come after it in ssh's
    // order of first values (`user@host -l x` logs in as user).
    reordered.push(format!("--{DESTINATION_MARK}").into());
    reordered.extend(argv.get(destination + 1..after.min(argv.len())).unwrap_or_default().iter().cloned());
    reordered.extend(argv.get(destination..destination + 1).unwrap_or_default().iter().cloned());
    let mut rest = argv.get(after.min(argv.len())..).unwrap_or_default().iter();
    // A `--` after the destination's options only ends them; a command
    // that starts with `-` gets one so that clap takes it as the command.
    if rest.clone().next().is_some_and(|first| first == "--") {
        rest.next();
    }
    if rest.clone().next().is_some_and(|first| first.to_string_lossy().starts_with('-')) {
        reordered.push("--".into());
    }
    reordered.extend(rest.cloned());
    reordered
}

/// Where some arguments stood on the command line (clap's indices). ssh
/// applies its flags in order: -l, -p, -o and the destination's user and
/// port set a parameter only if it is still unset, -c and -m replace it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Positions {
    /// The first -l.
    pub login: Option<usize>,
    /// The first -p.
    pub port: Option<usize>,
    pub destination: Option<usize>,
    /// Every -o, in order.
    pub options: Vec<usize>,
    /// The last -c.
    pub cipher_spec: Option<usize>,
    /// The last -m.
    pub mac_spec: Option<usize>,
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
    fn options_after_the_destination_are_sshfwd_s_until_the_command() {
        let parsed = |argv: &[&str]| parse(argv.iter().map(OsString::from)).unwrap();
        let args = parsed(&["sshfwd", "-N", "host", "-E", "log", "-v"]);
        assert_eq!(args.destination.as_deref(), Some("host"));
        assert_eq!(args.log_file.as_deref(), Some(std::path::Path::new("log")));
        assert_eq!(args.verbose, 1);
        assert!(args.command.is_empty());
        let args = parsed(&["sshfwd", "host", "-p2222", "ls", "-l"]);
        assert_eq!(args.port, vec!["2222"]);
        assert_eq!(args.command, vec!["ls", "-l"]);
        let args = parsed(&["sshfwd", "host", "-v", "--", "-x", "y"]);
        assert_eq!(args.verbose, 1);
        assert_eq!(args.command, vec!["-x", "y"]);
        let args = parsed(&["sshfwd", "-Nn2", "-MSctl", "-F", "cfg", "-oSendEnv=X", "somehost", "-E", "f"]);
        assert_eq!(args.destination.as_deref(), Some("somehost"));
        assert_eq!(args.control_path.as_deref(), Some("ctl"));
        assert!(args.command.is_empty());
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
