//! Where a configuration line came from, and what can be wrong with one.

use std::fmt;
use std::io;
use std::path::PathBuf;

use thiserror::Error;

use super::tokens::ExpandError;
use crate::forward_spec::ForwardSpecError;

/// The source of a configuration line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigFile {
    /// A `-o` option.
    CommandLine,
    /// A configuration file (possibly reached through `Include`).
    Path(PathBuf),
}

impl fmt::Display for ConfigFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigFile::CommandLine => f.write_str("command-line"),
            ConfigFile::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A file and a 1-based line number (0 for `-o` options, as in OpenSSH).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: ConfigFile,
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {}", self.file, self.line)
    }
}

/// A configuration that cannot be used. Messages follow OpenSSH's wording.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// A keyword that neither sshfwd nor OpenSSH knows (and that
    /// `IgnoreUnknown` does not cover).
    #[error("{origin}: Bad configuration option: {keyword}")]
    UnknownKeyword { origin: Origin, keyword: String },
    /// A keyword without a value.
    #[error("{origin}: no argument after keyword \"{keyword}\"")]
    MissingArgument { origin: Origin, keyword: String },
    /// A quote left open.
    #[error("{origin}: invalid quotes")]
    InvalidQuotes { origin: Origin },
    /// A keyword whose value is wrong.
    #[error("{origin}: {problem}")]
    Directive { origin: Origin, problem: DirectiveError },
    /// A valid construct sshfwd does not implement, e.g. `Match exec`.
    /// Refused rather than misapplied.
    #[error("{origin}: {what} is not supported")]
    Unsupported { origin: Origin, what: String },
    /// `Host`, `Match` or `Include` given with `-o`.
    #[error("{origin}: {keyword} directive not supported as a command-line option")]
    NotOnCommandLine { origin: Origin, keyword: &'static str },
    /// `Include` nested too deeply (OpenSSH's limit is 16).
    #[error("{origin}: too many recursive configuration includes")]
    IncludeDepth { origin: Origin },
    /// `Include ~/…` in a system-wide file.
    #[error("{origin}: bad include path {path}")]
    BadIncludePath { origin: Origin, path: String },
    /// A token in an `Include` path that cannot be expanded.
    #[error("{origin}: {source}")]
    Expand { origin: Origin, source: ExpandError },
    /// `RefuseConnection` in an active section: OpenSSH stops there, with
    /// the option's argument as the message.
    #[error("{origin}: RefuseConnection: {message}")]
    Refused { origin: Origin, message: String },
    // Issue 14 (config)
    /// `Match exec`: the shell could not be run, or the command died of a
    /// signal (OpenSSH's words).
    #[error("{origin}: match exec '{command}' error")]
    MatchExec { origin: Origin, command: String },
    /// A file that is required (`-F`) or included could not be read.
    #[error("can't open config file {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
}

/// What is wrong with one directive's value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DirectiveError {
    /// The value is not one this keyword accepts.
    #[error("invalid value \"{value}\" for {keyword}")]
    InvalidValue { keyword: &'static str, value: String },
    /// More arguments than the keyword takes.
    #[error("keyword {keyword} extra arguments at end of line")]
    ExtraArguments { keyword: &'static str },
    /// `none` given together with other values.
    #[error("keyword {keyword} \"none\" argument must appear alone")]
    NoneNotAlone { keyword: &'static str },
    /// A bad `LocalForward`, `RemoteForward` or `DynamicForward`.
    #[error(transparent)]
    Forward(#[from] ForwardSpecError),
    /// A `Match` line that cannot be evaluated.
    #[error("bad Match condition: {0}")]
    Match(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_follow_openssh() {
        let origin = Origin { file: ConfigFile::Path("/home/u/.ssh/config".into()), line: 12 };
        let err = ConfigError::UnknownKeyword { origin: origin.clone(), keyword: "frobnicate".into() };
        assert_eq!(err.to_string(), "/home/u/.ssh/config line 12: Bad configuration option: frobnicate");
        let err = ConfigError::Directive {
            origin: Origin { line: 3, ..origin },
            problem: DirectiveError::InvalidValue { keyword: "StrictHostKeyChecking", value: "maybe".into() },
        };
        assert_eq!(err.to_string(), "/home/u/.ssh/config line 3: invalid value \"maybe\" for StrictHostKeyChecking");
        let err = ConfigError::UnknownKeyword {
            origin: Origin { file: ConfigFile::CommandLine, line: 0 },
            keyword: "frobnicate".into(),
        };
        assert_eq!(err.to_string(), "command-line line 0: Bad configuration option: frobnicate");
    }
}
