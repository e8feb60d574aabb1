//! OpenSSH's client files, as sshfwd reads them: `ssh_config` (parsed and
//! resolved for one host), forwarding specifications, and `known_hosts`.
//!
//! Pure logic over the files: reading them with `std::fs` is the only I/O.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod config;
pub mod forward_spec;
pub mod known_hosts;
pub mod pattern;

pub use forward_spec::{
    ForwardKind, ForwardSpec, ForwardSpecError, ForwardSpecReason, HostPort, LocalBind,
};
