//! The validated whole of one run: which [`Mode`], and for a connection
//! the command line merged over the ssh_config files (command line first,
//! first value wins), defaults applied, tokens expanded. No networking here.

use ssh_files::config::{self, ConfigSources, ControlMaster, FtpSettings, HostOptions, IdentityAgent, LogLevel};
use ssh_files::forward_spec::{ForwardKind, ForwardSpec, ForwardSpecError};

use crate::cli::{Args, Destination, DestinationError};
use crate::ftp_check::{Endpoint, EndpointError};

use crate::logging::{adjusted, LogTarget, SyslogFacility};
use crate::ssh::{
    AgentSource, AlgorithmOptions, AuthOptions, ConnectOptions, HostKeyPolicy, IdentityFile, ReconnectOptions,
};

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
    /// Connection sharing (ControlMaster, ControlPath, ControlPersist,
    /// `-M`, `-S`, `-O`).
    pub control: crate::mux::Control,
}

impl Settings {
    pub fn from_args(args: &Args) -> Result<Settings, SettingsError> {
        let destination: Destination = args.destination.as_deref().ok_or(SettingsError::NoDestination)?.parse()?;
        let control_command = args.control_command.as_deref().map(str::parse).transpose()?;
        let command = match (args.no_command, args.command.is_empty()) {
            (true, _) => None,
            // `-O` talks to a master; nothing runs here.
            _ if control_command.is_some() => None,
            (false, false) => Some(args.command.join(" ")),
            (false, true) => return Err(SettingsError::NoCommand),
        };
        let home = home_dir();
        let local_user = local_user();
        let mut sources = ConfigSources::new(home.clone(), local_user.clone());
        sources.cli_options = args.options.clone();
        sources.user_file = args.config_file.clone();
        let resolved = config::resolve(&sources, &destination.host)?;
        let options = with_command_line(resolved.options, args, &destination)?;
        let s = config::Settings::new(&destination.host, options, &home, &local_user)?;
        if s.proxy_jump.is_some() || s.proxy_command.is_some() {
            return Err(SettingsError::Unsupported("ProxyJump/ProxyCommand"));
        }

        let explicit = !s.identity_files_are_defaults;
        let (known_host, known_port) = s.known_hosts_host();
        let connect = ConnectOptions {
            host: s.host_name.clone(),
            port: s.port,
            connect_timeout: s.connect_timeout,
            server_alive_interval: s.server_alive_interval,
            server_alive_count_max: s.server_alive_count_max,
            algorithms: AlgorithmOptions {
                ciphers: s.ciphers.clone(),
                kex: s.kex_algorithms.clone(),
                macs: s.macs.clone(),
                host_key: s.host_key_algorithms.clone(),
            },
            host_key: HostKeyPolicy {
                host: known_host.to_owned(),
                port: known_port,
                user_files: s.user_known_hosts_files.clone(),
                global_files: s.global_known_hosts_files.clone(),
                strict: s.strict_host_key_checking,
                hash_known_hosts: s.hash_known_hosts,
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
                password: s.password_authentication,
                kbd_interactive: s.kbd_interactive_authentication,
                password_prompts: 3,
                supplied_password: None,
            },
            batch_mode: s.batch_mode,
        };

        Ok(Settings {
            connect,
            display_host: s.host_name.clone(),
            forwards: s.forwards.clone(),
            gateway_ports: s.gateway_ports,
            exit_on_forward_failure: s.exit_on_forward_failure,
            command,
            log_level: adjusted(s.log_level, args.quiet, args.verbose),
            log_target: log_target(args, s.syslog_facility)?,
            ftp: s.ftp.clone(),
            reconnect: ReconnectOptions { enabled: s.reconnect, max_delay: s.reconnect_max_delay },
            control: crate::mux::Control {
                master: s.control_master,
                path: s.control_path.clone(),
                persist: s.control_persist,
                command: control_command,
            },
            ignored_options: resolved
                .ignored
                .iter()
                .map(|i| format!("{}: ignored option {}", i.origin, i.keyword))
                .collect(),
        })
    }
}

/// Puts the command-line flags over the configuration: -p, -l and the
/// destination's user and port win; -i files come first; -L/-R/-D come
/// before configured forwardings; -g sets GatewayPorts.
fn with_command_line(
    mut options: HostOptions,
    args: &Args,
    destination: &Destination,
) -> Result<HostOptions, SettingsError> {
    if let Some(port) = &args.port {
        options.port = Some(crate::cli::parse_port(port)?);
    } else if let Some(port) = destination.port {
        options.port = Some(port);
    }
    if let Some(user) = args.login.clone().or(destination.user.clone()) {
        options.user = Some(user);
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
