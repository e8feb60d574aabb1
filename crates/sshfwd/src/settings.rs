//! The validated whole of one run: which [`Mode`], and for a connection
//! the command line merged over the ssh_config files (command line first,
//! first value wins), defaults applied, tokens expanded. No networking here.

use ssh_files::config::{
    self, AddressFamily, ConfigSources, ControlMaster, FtpSettings, HostOptions, IdentityAgent, LogLevel, SessionType,
};
use ssh_files::forward_spec::{ForwardKind, ForwardSpec, ForwardSpecError};

use crate::cli::{Args, Destination, DestinationError};
use crate::ftp_check::{Endpoint, EndpointError};
use crate::jump_list::{self, JumpListError};
use crate::stdio_forward::{StdioTarget, StdioTargetError};

use crate::logging::{adjusted, LogTarget, SyslogFacility};
use crate::ssh::{
    AgentSource, AlgorithmOptions, AuthOptions, ConnectOptions, HostKeyPolicy, IdentityFile, JumpHost,
    ReconnectOptions, SocketOptions, Transport,
};

/// Jump hosts reached through jump hosts of their own, at most this deep
/// (a configuration that sends every host through a jump host, itself
/// included, would otherwise never end).
const MAX_JUMP_DEPTH: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{}", crate::cli::usage())]
    NoDestination,
    #[error("{0}")]
    Destination(#[from] DestinationError),
    #[error("{0}")]
    Forward(#[from] ForwardSpecError),
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    #[error("{0}")]
    Expand(#[from] config::SettingsError),
    #[error("sshfwd: no command given and -N not set: interactive shells are not supported; give a command or use -N")]
    NoCommand,
    #[error("sshfwd: {0} is not supported")]
    Unsupported(&'static str),
    #[error("{0}")]
    FtpCheck(#[from] EndpointError),
    /// `-y` and `-E` together (OpenSSH's words).
    #[error("Can't specify both -y and -E")]
    LogTargets,
    // Issue 14 (proxy)
    #[error("{0}")]
    JumpList(#[from] JumpListError),
    /// A jump host that is the destination itself, or jump hosts nested
    /// deeper than [`MAX_JUMP_DEPTH`].
    #[error("jumphost loop via {0}")]
    JumpLoop(String),
    #[error("{0}")]
    StdioForward(#[from] StdioTargetError),
    // Issue 14 (proc).
    /// A command on the command line and a `RemoteCommand` as well.
    #[error("Cannot execute command-line and remote command.")]
    CommandAndRemoteCommand,
    /// `-f` with nothing to run and a session to run it in.
    #[error("Cannot fork into background without a command to execute.")]
    ForkWithoutCommand,
    // Issue 14 (config)
    /// `-c` naming a cipher sshfwd does not support (OpenSSH's words).
    #[error("Unknown cipher type '{0}'")]
    CipherSpec(String),
    /// `-m` naming a MAC sshfwd does not support (OpenSSH's words).
    #[error("Unknown mac type '{0}'")]
    MacSpec(String),
    /// `-e` with something that is not one character, `^X` or `none`.
    #[error("Bad escape character '{0}'.")]
    EscapeChar(String),
    /// `-1` (OpenSSH's words).
    #[error("SSH protocol v.1 is no longer supported")]
    ProtocolOne,
    /// A user given on the command line with shell metacharacters or
    /// control characters (OpenSSH's check since CVE-2023-51385).
    #[error("remote username contains invalid characters")]
    InvalidUser,
    /// A destination host with shell metacharacters, spaces or control
    /// characters, or a leading '-'.
    #[error("hostname contains invalid characters")]
    InvalidHost,
    /// The algorithm options leave nothing to offer (for `-G`).
    #[error("{0}")]
    Algorithms(#[from] crate::ssh::AlgorithmError),
    /// A `-O` argument that is not a multiplexing command.
    #[error("{0}")]
    ControlCommand(#[from] crate::mux::ControlCommandError),
}

/// What one run of sshfwd does, chosen once from the command line.
#[derive(Debug)]
pub enum Mode {
    /// Connect, set up the forwardings, and run the command (or wait, -N).
    Connect(Box<Settings>),
    /// `--ftp-check`: diagnose an FTP endpoint; no SSH involved.
    FtpCheck { endpoint: Endpoint, log_level: LogLevel, log_target: LogTarget },
    /// `--demo`: the whole FTP-over-SSH path in-process on loopback.
    Demo { once: bool, log_level: LogLevel, log_target: LogTarget },
    /// `-V`: print the version.
    Version,
    /// `-Q`: list what sshfwd supports.
    Query(String),
    /// `-G`: print the resolved configuration.
    PrintConfig(Box<crate::print_config::ConfigDump>),
}

impl Mode {
    pub fn from_args(args: &Args) -> Result<Mode, SettingsError> {
        if let Some(endpoint) = &args.ftp_check {
            let log_level = adjusted(LogLevel::Info, args.quiet, args.verbose);
            let log_target = log_target(args, SyslogFacility::User)?;
            return Ok(Mode::FtpCheck { endpoint: endpoint.parse()?, log_level, log_target });
        }
        if args.demo {
            // The demo logs each session and data channel unless asked for less.
            let level = if args.once { LogLevel::Info } else { LogLevel::Debug1 };
            let log_level = adjusted(level, args.quiet, args.verbose);
            return Ok(Mode::Demo { once: args.once, log_level, log_target: log_target(args, SyslogFacility::User)? });
        }
        if args.protocol1 {
            return Err(SettingsError::ProtocolOne);
        }
        if args.version {
            return Ok(Mode::Version);
        }
        if let Some(query) = &args.query {
            return Ok(Mode::Query(query.clone()));
        }
        if args.print_config {
            return Resolution::from_args(args)?.into_dump(args).map(|dump| Mode::PrintConfig(Box::new(dump)));
        }
        Settings::from_args(args).map(|settings| Mode::Connect(Box::new(settings)))
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub connect: ConnectOptions,
    /// The host as the user named it, for messages.
    pub display_host: String,
    pub forwards: Vec<ForwardSpec>,
    pub gateway_ports: bool,
    pub exit_on_forward_failure: bool,
    /// `None` with -N.
    pub command: Option<String>,
    pub log_level: LogLevel,
    /// Where diagnostics go: stderr, `-E`'s file or `-y`'s syslog.
    pub log_target: LogTarget,
    pub ftp: FtpSettings,
    /// Valid OpenSSH options that sshfwd ignores, for -v.
    pub ignored_options: Vec<String>,
    /// What happens when the connection is lost.
    pub reconnect: ReconnectOptions,
    /// `-W host:port`: standard input and output forwarded there, instead
    /// of a command.
    pub stdio_forward: Option<StdioTarget>,
    // Issue 14 (fwd)
    /// `StreamLocalBindMask`, `StreamLocalBindUnlink`.
    pub stream_local_bind: ssh_files::forward_spec::StreamLocalBind,
    /// `PermitRemoteOpen`.
    pub permit_remote_open: ssh_files::forward_spec::PermitOpen,
    // Issue 14 (proc): the session and the process.
    /// `-f`: go to the background once the forwardings are up.
    pub fork: bool,
    /// `-n`: the remote command reads /dev/null, not our stdin.
    pub stdin_null: bool,
    /// `-s`: `command` names a subsystem.
    pub subsystem: bool,
    /// The variables to send before the command (SendEnv, then SetEnv).
    pub environment: Vec<(String, String)>,
    /// `LocalCommand`, expanded, when `PermitLocalCommand yes`.
    pub local_command: Option<String>,
    /// Flags and keywords that ssh would act on and sshfwd does not, for a
    /// warning each.
    pub warnings: Vec<String>,
    /// Connection sharing (ControlMaster, ControlPath, ControlPersist,
    /// `-M`, `-S`, `-O`).
    pub control: crate::mux::Control,
}

/// The command line merged over the configuration files, before it is
/// turned into what a connection needs.
struct Resolution {
    settings: config::Settings,
    resolved: config::Resolved,
    /// The identity files as written, for `-G`.
    identity_files: Vec<String>,
    /// `ClearAllForwardings`, for `-G` (the settings only keep its effect).
    clear_all_forwardings: bool,
    home: std::path::PathBuf,
    local_user: String,
    /// Where the configuration came from, for the jump hosts' own.
    sources: ConfigSources,
}

impl Resolution {
    fn from_args(args: &Args) -> Result<Resolution, SettingsError> {
        let destination: Destination = args.destination.as_deref().ok_or(SettingsError::NoDestination)?.parse()?;
        let home = home_dir();
        let local_user = local_user();
        let mut sources = ConfigSources::new(home.clone(), local_user.clone());
        sources.cli_options = args.options.clone();
        sources.user_file = args.config_file.clone();
        (sources.user, sources.port) = user_and_port(args, &destination)?;
        if !valid_host(&destination.host) {
            return Err(SettingsError::InvalidHost);
        }
        let resolved = config::resolve(&sources, &destination.host)?;
        let option_user = resolved.raw.iter().find(|r| r.keyword == "User" && r.origin.line == 0);
        let command_line_users = sources.user.iter().chain(option_user.map(|r| &r.value));
        if command_line_users.into_iter().any(|user| !valid_user(user)) {
            return Err(SettingsError::InvalidUser);
        }
        let options = with_command_line(resolved.options.clone(), args)?;
        let clear_all_forwardings = options.clear_all_forwardings.unwrap_or(false);
        let identity_files = match options.identity_files.is_empty() {
            true => config::DEFAULT_IDENTITY_FILES.iter().map(|f| f.to_string()).collect(),
            false => options.identity_files.clone(),
        };
        let settings = config::Settings::new(&destination.host, options, &home, &local_user)?;
        Ok(Resolution { settings, resolved, identity_files, clear_all_forwardings, home, local_user, sources })
    }

    /// What `-G` prints.
    fn into_dump(self, args: &Args) -> Result<crate::print_config::ConfigDump, SettingsError> {
        let s = &self.settings;
        Ok(crate::print_config::ConfigDump {
            offered: algorithm_options(s).offered()?,
            log_level: adjusted(s.log_level, args.quiet, args.verbose),
            settings: self.settings,
            raw: self.resolved.raw,
            identity_files: self.identity_files,
            clear_all_forwardings: self.clear_all_forwardings,
            home: self.home,
            local_user: self.local_user,
        })
    }
}

/// The warning for each flag and keyword ssh would act on and sshfwd
/// does not (OpenSSH's own words where it has them).
fn warnings(args: &Args, ignored: &[config::IgnoredKeyword]) -> Vec<String> {
    let mut warnings = Vec::new();
    if args.forward_x11 || args.forward_x11_trusted {
        warnings.push("X11 forwarding is not supported: ignored".to_string());
    }
    if args.gssapi {
        warnings.push("-K: GSSAPI authentication is not supported: ignored".to_string());
    }
    if args.tty > 0 {
        warnings.push("-t: sshfwd allocates no terminal".to_string());
    }
    if args.pkcs11.is_some() {
        warnings.push("no support for PKCS#11.".to_string());
    }
    let mut seen: Vec<&str> = Vec::new();
    for keyword in ignored.iter().filter(|i| i.changes_behaviour) {
        if !seen.contains(&keyword.keyword.as_str()) {
            seen.push(&keyword.keyword);
            warnings.push(format!("{}: {} is not supported: ignored", keyword.origin, keyword.keyword));
        }
    }
    warnings
}

impl Settings {
    pub fn from_args(args: &Args) -> Result<Settings, SettingsError> {
        let stdio_forward = match &args.stdio_forward {
            Some(spec) => Some(spec.parse::<StdioTarget>()?),
            None => None,
        };
        let Resolution { settings: s, resolved, sources, .. } = Resolution::from_args(args)?;
        if args.tunnel.is_some() {
            return Err(SettingsError::Unsupported("tunnel device forwarding (-w)"));
        }
        // Jump hosts get the configuration files, not the `-o` options (as
        // the `ssh -W` OpenSSH runs for each).
        let mut hop_sources = sources.clone();
        hop_sources.cli_options.clear();
        (hop_sources.user, hop_sources.port) = (None, None);
        let connect = connect_options(&s, transport(&s, &hop_sources, 0)?);
        let control_command = args.control_command.as_deref().map(str::parse).transpose()?;
        // -W and -O run no session here.
        let session = Session::from_args(args, &s, stdio_forward.is_some() || control_command.is_some())?;

        Ok(Settings {
            connect,
            display_host: s.host_name.clone(),
            // -W implies ClearAllForwardings.
            forwards: if stdio_forward.is_some() { Vec::new() } else { s.forwards.clone() },
            gateway_ports: s.gateway_ports,
            exit_on_forward_failure: s.exit_on_forward_failure,
            command: session.command,
            log_level: adjusted(s.log_level, args.quiet, args.verbose),
            log_target: log_target(args, s.syslog_facility)?,
            ftp: s.ftp.clone(),
            reconnect: ReconnectOptions { enabled: s.reconnect, max_delay: s.reconnect_max_delay },
            stream_local_bind: s.stream_local_bind,
            permit_remote_open: s.permit_remote_open.clone(),
            ignored_options: resolved
                .ignored
                .iter()
                .filter(|i| !i.changes_behaviour)
                .map(|i| format!("{}: ignored option {}", i.origin, i.keyword))
                .collect(),
            stdio_forward,
            fork: session.fork,
            stdin_null: session.stdin_null,
            subsystem: session.session_type == SessionType::Subsystem,
            environment: environment(std::env::vars_os(), &s.send_env, &s.set_env),
            local_command: s.local_command.clone(),
            warnings: warnings(args, &resolved.ignored),
            control: crate::mux::Control {
                master: s.control_master,
                path: s.control_path.clone(),
                persist: s.control_persist,
                command: control_command,
            },
        })
    }
}

// Issue 14 (proc).
/// What runs on the server, from the flags over the configuration.
struct Session {
    /// `None` with -N or `SessionType none`.
    command: Option<String>,
    session_type: SessionType,
    fork: bool,
    stdin_null: bool,
}

impl Session {
    /// OpenSSH's checks, in its order: a command twice, then `-f` with
    /// nothing to run. The flags (-N, -s, -f, -n) win over the files.
    fn from_args(args: &Args, s: &config::Settings, no_session: bool) -> Result<Session, SettingsError> {
        // -W runs no session (ssh sets SessionType none for it), nor does -O.
        let session_type = match (args.no_command || no_session, args.subsystem) {
            (true, _) => SessionType::None,
            (false, true) => SessionType::Subsystem,
            (false, false) => s.session_type,
        };
        let fork = args.fork || s.fork_after_authentication;
        let stdin_null = fork || args.stdin_null || s.stdin_null;
        let command = match (args.command.is_empty(), &s.remote_command) {
            (false, Some(_)) => return Err(SettingsError::CommandAndRemoteCommand),
            (false, None) => Some(args.command.join(" ")),
            (true, remote) => remote.clone(),
        };
        if fork && command.is_none() && session_type != SessionType::None {
            return Err(SettingsError::ForkWithoutCommand);
        }
        let command = match session_type {
            SessionType::None => None,
            _ => Some(command.ok_or(SettingsError::NoCommand)?),
        };
        Ok(Session { command, session_type, fork, stdin_null })
    }
}

/// The variables `SendEnv`'s patterns pick from `variables` (names that are
/// not UTF-8 cannot be sent), then `SetEnv`'s.
fn environment(
    variables: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    send_env: &[String],
    set_env: &[(String, String)],
) -> Vec<(String, String)> {
    let mut sent: Vec<(String, String)> = variables
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .filter(|(name, _)| send_env.iter().any(|pattern| ssh_files::pattern::wildcard(name, pattern)))
        .collect();
    sent.extend(set_env.iter().cloned());
    sent
}

/// The way to the server `s` describes: through its ProxyJump hops (each
/// with its own configuration from `hop_sources`; the first hop's own
/// ProxyJump or ProxyCommand applies, nested up to [`MAX_JUMP_DEPTH`]),
/// its ProxyCommand, or a TCP connection of our own.
fn transport(s: &config::Settings, hop_sources: &ConfigSources, depth: usize) -> Result<Transport, SettingsError> {
    let hops = match &s.proxy_jump {
        Some(list) => jump_list::parse(list)?,
        None => Vec::new(),
    };
    if let Some(last) = hops.last() {
        let loops = last.host == s.host_name
            && last.port.unwrap_or(22) == s.port
            && last.user.as_deref().unwrap_or(&s.user) == s.user;
        if loops || depth >= MAX_JUMP_DEPTH {
            return Err(SettingsError::JumpLoop(last.host.clone()));
        }
    }
    let mut via: Option<JumpHost> = None;
    for hop in hops {
        let mut options = config::resolve(hop_sources, &hop.host)?.options;
        options.port = hop.port.or(options.port);
        options.user = hop.user.clone().or(options.user);
        let hop_settings = config::Settings::new(&hop.host, options, &hop_sources.home, &hop_sources.local_user)?;
        // Only the first hop is reached its own way; the others through
        // the hop before them.
        let hop_transport = match via.take() {
            Some(previous) => Transport::Jump(Box::new(previous)),
            None => transport(&hop_settings, hop_sources, depth + 1)?,
        };
        let name = match hop.port {
            Some(port) => format!("{}:{port}", hop.host),
            None => hop.host.clone(),
        };
        via = Some(JumpHost { name, options: connect_options(&hop_settings, hop_transport) });
    }
    if let Some(last) = via {
        return Ok(Transport::Jump(Box::new(last)));
    }
    if let Some(command) = s.proxy_command_line()? {
        return Ok(Transport::Command(command));
    }
    Ok(Transport::Direct(SocketOptions {
        address_family: s.address_family,
        bind_address: s.bind_address.clone(),
        bind_interface: s.bind_interface.clone(),
        connection_attempts: s.connection_attempts,
        keepalive: s.tcp_keep_alive,
    }))
}

/// The algorithms `s` asks for: what a connection offers and what `-G`
/// prints.
fn algorithm_options(s: &config::Settings) -> AlgorithmOptions {
    AlgorithmOptions {
        ciphers: s.ciphers.clone(),
        kex: s.kex_algorithms.clone(),
        macs: s.macs.clone(),
        host_key: s.host_key_algorithms.clone(),
        compression: s.compression,
    }
}

/// How to connect to and log in to the host `s` describes, over `transport`.
fn connect_options(s: &config::Settings, transport: Transport) -> ConnectOptions {
    let explicit = !s.identity_files_are_defaults;
    let (known_host, known_port) = s.known_hosts_host();
    ConnectOptions {
        host: s.host_name.clone(),
        port: s.port,
        connect_timeout: s.connect_timeout,
        server_alive_interval: s.server_alive_interval,
        server_alive_count_max: s.server_alive_count_max,
        algorithms: algorithm_options(s),
        host_key: HostKeyPolicy {
            host: known_host.to_owned(),
            port: known_port,
            user_files: s.user_known_hosts_files.clone(),
            global_files: s.global_known_hosts_files.clone(),
            strict: s.strict_host_key_checking,
            hash_known_hosts: s.hash_known_hosts,
            command: s.known_hosts_command.clone(),
        },
        auth: AuthOptions {
            user: s.user.clone(),
            identity_files: s.identity_files.iter().map(|p| IdentityFile { path: p.clone(), explicit }).collect(),
            identities_only: s.identities_only,
            agent: match &s.identity_agent {
                IdentityAgent::Environment => AgentSource::Environment,
                IdentityAgent::None => AgentSource::Disabled,
                IdentityAgent::Path(p) => AgentSource::Socket(p.clone()),
            },
            pubkey: s.pubkey_authentication,
            // No prompts at all leaves nothing to try with a password.
            password: s.password_authentication && s.number_of_password_prompts > 0,
            kbd_interactive: s.kbd_interactive_authentication,
            password_prompts: s.number_of_password_prompts,
            supplied_password: None,
        },
        batch_mode: s.batch_mode,
        forward_agent: s.forward_agent.clone(),
        transport,
    }
}

/// The user and port that -l, -p and the destination set, when one of
/// them comes before any `-o` setting the same (ssh takes the first value
/// in command-line order); `None` leaves it to `-o` and the files.
fn user_and_port(args: &Args, destination: &Destination) -> Result<(Option<String>, Option<u16>), SettingsError> {
    let positions = &args.positions;
    let port = args.port.first().map(|p| crate::cli::parse_port(p)).transpose()?;
    let ports = [(positions.port, port), (positions.destination, destination.port)];
    let users = [(positions.login, args.login.first().cloned()), (positions.destination, destination.user.clone())];
    Ok((
        first_on_command_line(option_position(args, "User"), users),
        first_on_command_line(option_position(args, "Port"), ports),
    ))
}

/// Puts the other command-line flags over the configuration: -i files
/// come first; -L/-R/-D come before configured forwardings; -g sets
/// GatewayPorts; -c, -m and -C set their algorithms.
fn with_command_line(mut options: HostOptions, args: &Args) -> Result<HostOptions, SettingsError> {
    // -c and -m replace whatever -o set, wherever it stood.
    if let Some(spec) = args.cipher_spec.last() {
        if !crate::ssh::valid_list(crate::ssh::Family::Cipher, spec) {
            return Err(SettingsError::CipherSpec(spec.clone()));
        }
        options.ciphers = Some(spec.clone());
    }
    if let Some(spec) = args.mac_spec.last() {
        if !crate::ssh::valid_list(crate::ssh::Family::Mac, spec) {
            return Err(SettingsError::MacSpec(spec.clone()));
        }
        options.macs = Some(spec.clone());
    }
    if args.compression {
        options.compression = Some(true);
    }
    if let Some(escape) = &args.escape_char {
        let valid = escape == "none"
            || escape.chars().count() == 1
            || matches!(escape.as_bytes(), [b'^', c] if (64..128).contains(c));
        if !valid {
            return Err(SettingsError::EscapeChar(escape.clone()));
        }
    }
    let mut identity_files: Vec<String> =
        args.identity_files.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    identity_files.append(&mut options.identity_files);
    options.identity_files = identity_files;
    let mut forwards = Vec::new();
    for (kind, specs) in [
        (ForwardKind::Local, &args.local),
        (ForwardKind::Remote, &args.remote),
        (ForwardKind::Dynamic, &args.dynamic),
        (ForwardKind::FtpToSftp, &args.ftp_to_sftp),
    ] {
        for spec in specs {
            forwards.push(ForwardSpec::parse(kind, spec)?);
        }
    }
    forwards.append(&mut options.forwards);
    options.forwards = forwards;
    if args.gateway_ports {
        options.gateway_ports = Some(true);
    }
    // Issue 14 (proxy): these flags come before any file, so they win.
    // -A and -a win over the files, as in ssh (-a over -A).
    if args.forward_agent || args.no_forward_agent {
        options.forward_agent = Some(if args.no_forward_agent { "no" } else { "yes" }.to_string());
    }
    // -W: unless an option or a file said otherwise.
    if args.stdio_forward.is_some() {
        options.clear_all_forwardings.get_or_insert(true);
        options.exit_on_forward_failure.get_or_insert(true);
    }
    if let Some(jump) = &args.jump {
        options.proxy_jump = Some(jump.clone());
        options.proxy_command = None;
    }
    if args.ipv4 {
        options.address_family = Some(AddressFamily::Inet);
    } else if args.ipv6 {
        options.address_family = Some(AddressFamily::Inet6);
    }
    options.bind_address = args.bind_address.clone().or(options.bind_address);
    options.bind_interface = args.bind_interface.clone().or(options.bind_interface);
    // Issue 14 (mux): -M and -S win over the configuration, as in ssh.
    if args.control_master > 0 {
        let master = if args.control_master > 1 { ControlMaster::Ask } else { ControlMaster::Yes };
        options.control_master = Some(master);
    }
    if let Some(path) = &args.control_path {
        options.control_path = Some(path.clone());
    }
    Ok(options)
}

/// Characters a shell would act on, refused in users and hosts that
/// come from the command line (they reach `%r`/`%h` in commands).
const SHELL_METACHARACTERS: &str = "'`\"$\\;&<>|(){}";

/// OpenSSH's `valid_ruser`, with control characters refused too.
fn valid_user(user: &str) -> bool {
    let chars: Vec<char> = user.chars().collect();
    !user.starts_with('-')
        && !user.ends_with('\\')
        && !chars.iter().any(|&c| SHELL_METACHARACTERS.contains(c) || c.is_control())
        && !chars.windows(2).any(|pair| matches!(pair, [space, '-'] if space.is_whitespace()))
}

/// OpenSSH's `valid_hostname`.
fn valid_host(host: &str) -> bool {
    !host.starts_with('-')
        && !host.chars().any(|c| SHELL_METACHARACTERS.contains(c) || c.is_whitespace() || c.is_control())
}

/// Where the first `-o` setting `keyword` stood.
fn option_position(args: &Args, keyword: &str) -> Option<usize> {
    args.options
        .iter()
        .zip(&args.positions.options)
        .find(|(option, _)| config::option_keyword(option) == Some(keyword))
        .map(|(_, &at)| at)
}

/// The value a flag gives a parameter, when a flag (`-l`, `-p`, the
/// destination) sets it before any `-o` does; `None` leaves the parameter
/// to `-o` and the files. ssh sets each only while it is still unset.
fn first_on_command_line<T, const N: usize>(
    option_at: Option<usize>,
    flags: [(Option<usize>, Option<T>); N],
) -> Option<T> {
    let (at, value) = flags
        .into_iter()
        .filter_map(|(at, value)| Some((at.unwrap_or(usize::MAX), value?)))
        .min_by_key(|(at, _)| *at)?;
    match option_at {
        Some(option_at) if option_at < at => None,
        _ => Some(value),
    }
}

/// `-E log_file` or `-y` (which logs with `facility`), else stderr.
fn log_target(args: &Args, facility: SyslogFacility) -> Result<LogTarget, SettingsError> {
    match (&args.log_file, args.syslog) {
        (Some(_), true) => Err(SettingsError::LogTargets),
        (Some(file), false) => Ok(LogTarget::File(file.clone())),
        (None, true) => Ok(LogTarget::Syslog(facility)),
        (None, false) => Ok(LogTarget::Stderr),
    }
}

/// `$HOME`, else the password database's home of this process's user.
fn home_dir() -> std::path::PathBuf {
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(ssh_files::local::home)
        .unwrap_or_else(|| std::path::PathBuf::from("/"))
}

/// The local user's name as OpenSSH takes it: the password database entry
/// of the process's uid (through NSS); `$USER`, then the uid, for a uid
/// without an entry.
fn local_user() -> String {
    ssh_files::local::user_name()
        .or_else(|| std::env::var("USER").ok().filter(|user| !user.is_empty()))
        .unwrap_or_else(|| ssh_files::local::uid().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_env_picks_by_pattern_then_set_env() {
        let variables = [("LANG", "C"), ("LC_ALL", "C.UTF-8"), ("HOME", "/root"), ("_X", "1")]
            .map(|(name, value)| (name.into(), value.into()));
        let set_env = [("_Y".to_string(), "2".to_string())];
        let table: [(&[&str], &[&str]); 4] = [
            (&[], &["_Y"]),
            (&["LANG", "LC_*"], &["LANG", "LC_ALL", "_Y"]),
            (&["*"], &["LANG", "LC_ALL", "HOME", "_X", "_Y"]),
            (&["lang"], &["_Y"]),
        ];
        for (patterns, want) in table {
            let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
            let got = environment(variables.clone().into_iter(), &patterns, &set_env);
            let names: Vec<&str> = got.iter().map(|(name, _)| name.as_str()).collect();
            assert_eq!(names, want, "{patterns:?}");
        }
    }

    fn session(argv: &[&str], options: &[&str]) -> Result<Session, SettingsError> {
        let args = crate::cli::parse(argv.iter().map(std::ffi::OsString::from)).unwrap();
        let mut sources = ConfigSources::new("/nonexistent", "me");
        sources.cli_options = options.iter().map(|o| o.to_string()).collect();
        sources.system_file = "/nonexistent".into();
        let resolved = config::resolve(&sources, "h").unwrap();
        let s = config::Settings::new("h", resolved.options, std::path::Path::new("/nonexistent"), "me").unwrap();
        Session::from_args(&args, &s, false)
    }

    #[test]
    fn sessions_as_openssh_decides() {
        let ok = |argv: &[&str], options: &[&str]| session(argv, options).unwrap();
        let s = ok(&["sshfwd", "-f", "h", "true"], &[]);
        assert!(s.fork && s.stdin_null && s.command.as_deref() == Some("true"));
        let s = ok(&["sshfwd", "-fN", "h"], &[]);
        assert!(s.fork && s.command.is_none() && s.session_type == SessionType::None);
        let s = ok(&["sshfwd", "-n", "-s", "h", "sftp"], &[]);
        assert!(!s.fork && s.stdin_null && s.session_type == SessionType::Subsystem);
        let s = ok(&["sshfwd", "h"], &["RemoteCommand=echo %h"]);
        assert_eq!(s.command.as_deref(), Some("echo h"));
        let s = ok(&["sshfwd", "h", "ls"], &["RemoteCommand=none"]);
        assert_eq!(s.command.as_deref(), Some("ls"));
        let s = ok(&["sshfwd", "h"], &["SessionType=none", "StdinNull=yes"]);
        assert!(s.command.is_none() && s.stdin_null);
        let s = ok(&["sshfwd", "h", "x"], &["ForkAfterAuthentication=yes"]);
        assert!(s.fork);

        let err = |argv: &[&str], options: &[&str]| session(argv, options).err().map(|e| e.to_string());
        let fork = Some("Cannot fork into background without a command to execute.".to_string());
        assert_eq!(err(&["sshfwd", "-f", "h"], &[]), fork);
        assert_eq!(err(&["sshfwd", "h"], &["ForkAfterAuthentication=yes"]), fork);
        assert_eq!(
            err(&["sshfwd", "-f", "h", "ls"], &["RemoteCommand=ls"]),
            Some("Cannot execute command-line and remote command.".to_string())
        );
        assert!(matches!(session(&["sshfwd", "h"], &[]), Err(SettingsError::NoCommand)));
    }
    use std::ffi::OsString;

    /// User and port as -G would print them, for a command line.
    fn resolved_user_and_port(argv: &[&str]) -> (Option<String>, Option<u16>) {
        let mut full = vec!["sshfwd", "-F", "none"];
        full.extend_from_slice(argv);
        let args = crate::cli::parse(full.into_iter().map(OsString::from)).unwrap();
        let destination: Destination = args.destination.as_deref().unwrap().parse().unwrap();
        let mut sources = ConfigSources::new("/nonexistent", "me");
        sources.cli_options = args.options.clone();
        sources.user_file = args.config_file.clone();
        (sources.user, sources.port) = user_and_port(&args, &destination).unwrap();
        let options = config::resolve(&sources, &destination.host).unwrap().options;
        (options.user, options.port)
    }

    #[test]
    fn users_and_hosts_a_shell_would_misread_are_refused() {
        for good in ["root", "a.b-c", "user name", "x@y"] {
            assert!(valid_user(good), "{good}");
        }
        for bad in ["${FOO}", "a;b", "-oProxyCommand", "a -b", "x\u{7}y", "end\\", "a`b`"] {
            assert!(!valid_user(bad), "{bad}");
        }
        assert!(valid_host("host.example") && valid_host("::1"));
        for bad in ["-host", "ho st", "a;b", "h$x", "a\tb"] {
            assert!(!valid_host(bad), "{bad}");
        }
    }

    #[test]
    fn the_first_value_on_the_command_line_wins() {
        let table: &[(&[&str], Option<&str>, Option<u16>)] = &[
            (&["-o", "User=nobody", "-l", "root", "h"], Some("nobody"), None),
            (&["-l", "root", "-o", "User=nobody", "h"], Some("root"), None),
            (&["-o", "Port=1", "-p", "5242", "h"], None, Some(1)),
            (&["-p", "5242", "-o", "Port=1", "h"], None, Some(5242)),
            (&["-o", "user=foo", "-l", "bar", "baz@host"], Some("foo"), None),
            (&["-lbar", "baz@host"], Some("bar"), None),
            (&["baz@host", "-o", "user=foo", "-l", "bar", "baz@host"], Some("baz"), None),
            (&["-o", "Port=1", "ssh://u@h:2"], Some("u"), Some(1)),
            (&["ssh://u@h:2", "-p", "3"], Some("u"), Some(2)),
            (&["-l", "a", "-l", "b", "h"], Some("a"), None),
            (&["h"], None, None),
        ];
        for (argv, user, port) in table {
            let (got_user, got_port) = resolved_user_and_port(argv);
            assert_eq!(got_user.as_deref(), *user, "{argv:?}");
            assert_eq!(got_port, *port, "{argv:?}");
        }
    }
}
