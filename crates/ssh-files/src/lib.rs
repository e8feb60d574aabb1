//! OpenSSH's client files, as sshfwd reads them.
//!
//! - [`config`]: ssh_config(5). [`config::resolve`] reads `-o` options, the
//!   user file and the system file for one host and returns the options they
//!   set ([`config::HostOptions`], first value wins); the caller merges its
//!   `-p`/`-l`/`-i`/`-L`/`-R`/`-D` flags into those public fields, then
//!   [`config::Settings::new`] fills in OpenSSH's defaults and expands `~`,
//!   `%h`, `%r`… tokens.
//! - [`forward_spec`]: `-L`/`-R`/`-D` and `LocalForward`/`RemoteForward`/
//!   `DynamicForward` specifications, with sshfwd's `ftp/` prefix.
//! - [`known_hosts`]: look a host key up ([`known_hosts::check`]) and record
//!   one ([`known_hosts::append`]), hashed entries included.
//! - [`local`]: the local user and host as the OS reports them.
//!
//! Pure logic over the files: reading them with `std::fs` (and appending to
//! known_hosts) and the OS's user and host name lookups are the only I/O.
//! No networking of its own, no async.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod config;
pub mod forward_spec;
pub mod known_hosts;
pub mod local;
pub mod pattern;

pub use forward_spec::{
    ConnectTo, ForwardKind, ForwardSpec, ForwardSpecError, ForwardSpecReason, Forwarding, HostPort, Listen, ListenOn,
    LocalBind, OpenPattern, PermitOpen, StreamForwarding, StreamLocalBind,
};
