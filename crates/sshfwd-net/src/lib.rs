//! Socket helpers shared by the `sshfwd` client and `sshfwd-server`:
//! - [`bind`]: which addresses a listener binds, and binding them so that
//!   the IPv4 and IPv6 wildcards coexist on one port;
//! - [`accept`]: the one accept-and-shutdown loop every listener runs (a
//!   connection cap with a refusal hook, a task tracker, cancellation);
//! - [`admission`]: who may start a login (sshd's MaxStartups,
//!   PerSourceMaxStartups and PerSourcePenalties);
//! - [`io_reason`]: OpenSSH's wording for a socket error.
//!
//! No SSH and no FTP here: the callers bring those through
//! [`accept::Service`].
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

pub mod accept;
pub mod admission;
pub mod bind;
mod reason;

pub use accept::{accept_from, AcceptOptions, Service};
pub use bind::{bind_all, listen, resolve, BindError, ListenAddress};
pub use reason::io_reason;
