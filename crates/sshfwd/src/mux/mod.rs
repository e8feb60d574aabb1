//! Connection sharing as OpenSSH does it (ControlMaster, ControlPath,
//! ControlPersist, `-M`, `-S`, `-O`), speaking OpenSSH's mux protocol so
//! that `ssh -O check` works against an sshfwd master and the other way
//! round. `protocol` is the sans-IO wire format, `stream` frames it over a
//! socket, `master` serves the control socket, `forwards` converts and
//! keeps the forwardings asked for through it, `session` runs a shared
//! session, `client` is `-O`.
//!
//! A master runs the commands of OpenSSH clients that come through its
//! socket (`session`); sshfwd's own client does not ask for shared
//! sessions yet: one that finds a master connects on its own.

pub mod client;
pub mod forwards;
pub mod master;
pub mod protocol;
pub mod session;
pub mod stream;

use std::path::PathBuf;

use ssh_files::config::{ControlMaster, ControlPersist};

pub use client::ControlError;
pub use master::Master;

/// The connection-sharing part of one run's settings.
#[derive(Debug, Clone, Default)]
pub struct Control {
    /// `ControlMaster`, or `-M` (yes; twice: ask, served as yes).
    pub master: ControlMaster,
    /// `ControlPath` or `-S`, expanded; `None` for none.
    pub path: Option<PathBuf>,
    pub persist: ControlPersist,
    /// `-O ctl_cmd`: this run only talks to a master.
    pub command: Option<ControlCommand>,
}

impl Control {
    /// The socket this run listens on as a master, if it is one.
    pub fn master_path(&self) -> Option<&PathBuf> {
        self.path.as_ref().filter(|_| self.master.listens())
    }
}

/// What `-O` asks a master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlCommand {
    /// `check`: is it running, and its pid.
    Check,
    /// `forward`: add the command line's forwardings.
    Forward,
    /// `cancel`: remove them.
    Cancel,
    /// `exit`: stop the master.
    Exit,
    /// `stop`: stop accepting control connections.
    Stop,
}

/// A `-O` argument sshfwd does not take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlCommandError {
    /// Not one of OpenSSH's words (its message).
    #[error("Invalid multiplex command.")]
    Invalid,
    /// `proxy`: the master would have to relay raw SSH connection
    /// messages, which sshfwd's master does not do.
    #[error("sshfwd: -O proxy is not supported: an sshfwd master does not relay SSH connection messages")]
    Proxy,
}

impl std::str::FromStr for ControlCommand {
    type Err = ControlCommandError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "check" => Ok(ControlCommand::Check),
            "forward" => Ok(ControlCommand::Forward),
            "cancel" => Ok(ControlCommand::Cancel),
            "exit" => Ok(ControlCommand::Exit),
            "stop" => Ok(ControlCommand::Stop),
            "proxy" => Err(ControlCommandError::Proxy),
            _ => Err(ControlCommandError::Invalid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_commands() {
        let table = [
            ("check", Ok(ControlCommand::Check)),
            ("forward", Ok(ControlCommand::Forward)),
            ("cancel", Ok(ControlCommand::Cancel)),
            ("exit", Ok(ControlCommand::Exit)),
            ("stop", Ok(ControlCommand::Stop)),
            ("proxy", Err(ControlCommandError::Proxy)),
            ("Check", Err(ControlCommandError::Invalid)),
            ("", Err(ControlCommandError::Invalid)),
        ];
        for (text, want) in table {
            assert_eq!(text.parse::<ControlCommand>(), want, "{text}");
        }
    }
}
