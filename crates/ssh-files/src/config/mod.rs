//! ssh_config(5): read the sources for one host ([`resolve`]), then fill in
//! defaults and expand tokens ([`Settings::new`]).
//!
//! Sources are read in OpenSSH's order: `-o` options, then the user file
//! (`-F file`, or `~/.ssh/config`), then the system file (skipped with
//! `-F`). For each parameter the first value obtained wins; `IdentityFile`
//! and the forwardings accumulate.

mod directive;
mod error;
mod glob;
mod keyword;
mod lexer;
mod options;
mod reader;
mod settings;
mod tokens;
mod value;

use std::path::PathBuf;

pub use error::{ConfigError, ConfigFile, DirectiveError, Origin};
pub use options::HostOptions;
pub use settings::{
    AddressBlock, AddressFamily, HostKeyTokens, KnownHostsCommand, DEFAULT_FTP_LOGIN_TIMEOUT,
    DEFAULT_PER_SOURCE_MAX_CONNECTIONS,
};
pub use settings::{ControlMaster, ControlPersist};
pub use settings::{
    FtpAuditLog, FtpSettings, IdentityAgent, Settings, SettingsError, DEFAULT_FTP_DATA_TIMEOUT,
    DEFAULT_GLOBAL_KNOWN_HOSTS_FILES, DEFAULT_IDENTITY_FILES, DEFAULT_USER_KNOWN_HOSTS_FILES,
};
pub use tokens::ExpandError;
pub use value::SessionType;
pub use value::SyslogFacility;
pub use value::{FtpPassiveAddress, FtpTls, FtpToSftpLogin, LogLevel, StrictHostKeyChecking};

use reader::Reader;

/// The system-wide configuration file.
pub const SYSTEM_CONFIG_FILE: &str = "/etc/ssh/ssh_config";

/// Where configuration comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSources {
    /// Each `-o` argument, in order, e.g. `"Port=2222"` or `"User bob"`.
    pub cli_options: Vec<String>,
    /// `-F file`: replaces `~/.ssh/config` and skips the system file; must
    /// exist. `-F none` reads no file at all.
    pub user_file: Option<PathBuf>,
    /// The local user's home directory (`~`, `%d`).
    pub home: PathBuf,
    /// The local user's name (`%u`, the default remote user).
    pub local_user: String,
    /// The system file, [`SYSTEM_CONFIG_FILE`] by default. Relative
    /// `Include`s in it are resolved against its directory.
    pub system_file: PathBuf,
    // Issue 14 (config)
    /// The user set by a flag (`-l`, `user@host`) before any `-o User`:
    /// set before anything is read, so `Match user`, `%r` and `Match exec`
    /// see it, and no later `User` line replaces it (ssh does the same).
    pub user: Option<String>,
    /// The port set by `-p` or `ssh://host:port` before any `-o Port`.
    pub port: Option<u16>,
}

impl ConfigSources {
    /// No `-o`, no `-F`, the default system file.
    pub fn new(home: impl Into<PathBuf>, local_user: impl Into<String>) -> Self {
        ConfigSources {
            cli_options: Vec::new(),
            user_file: None,
            home: home.into(),
            local_user: local_user.into(),
            system_file: PathBuf::from(SYSTEM_CONFIG_FILE),
            user: None,
            port: None,
        }
    }
}

/// The options found for a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub options: HostOptions,
    /// Keywords that applied to this host but that sshfwd does not act on
    /// (valid OpenSSH keywords, or unknown ones covered by `IgnoreUnknown`),
    /// for the caller to log at `-v`.
    pub ignored: Vec<IgnoredKeyword>,
    /// Every option line that applied, in the order read, as written: what
    /// `-G` prints for the keywords sshfwd does not act on.
    pub raw: Vec<RawValue>,
}

/// One applicable option line, unparsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawValue {
    /// The canonical spelling of the keyword.
    pub keyword: &'static str,
    /// The arguments, joined by one space.
    pub value: String,
    /// The arguments one by one (SendEnv and SetEnv take several).
    pub args: Vec<String>,
    pub origin: Origin,
}

/// An ssh_config time (`90`, `1m30s`, `2h`), in seconds.
pub fn parse_seconds(text: &str) -> Option<u64> {
    value::parse_time(text).map(|time| time.as_secs())
}

/// The canonical spelling of the keyword an option line (`-o` argument)
/// sets, if it is one sshfwd or OpenSSH knows.
pub fn option_keyword(line: &str) -> Option<&'static str> {
    let line = lexer::split(line).ok()??;
    keyword::Keyword::lookup(line.keyword).map(keyword::Keyword::name)
}

/// A keyword accepted and ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredKeyword {
    /// As written (canonical spelling for known keywords).
    pub keyword: String,
    pub origin: Origin,
    /// Whether ssh would act differently with the value given: a warning
    /// rather than a note at `-v`.
    pub changes_behaviour: bool,
}

/// Reads all sources for `host` (as given on the command line) and returns
/// what they set. Errors name the file and line.
///
/// A `Match final` anywhere triggers a second pass, as in OpenSSH, in which
/// `Host` lines match the host name after `HostName` and `Match
/// final`/`canonical` hold.
pub fn resolve(sources: &ConfigSources, host: &str) -> Result<Resolved, ConfigError> {
    let mut reader = Reader::new(sources, host);
    reader.run()?;
    if reader.wants_final_pass {
        reader = reader.into_final_pass()?;
        reader.run()?;
    }
    Ok(Resolved { options: reader.options, ignored: reader.ignored, raw: reader.raw })
}

#[cfg(test)]
mod tests;
