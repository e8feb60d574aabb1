//! `sshfwd-server`: a small SSH server for forwarding gateways and SFTP,
//! built on russh's server side.
//!
//! It offers what a forwarding gateway needs and nothing else:
//! - public-key authentication against an OpenSSH `authorized_keys` file,
//!   whose `restrict`, `port-forwarding`, `no-port-forwarding`,
//!   `permitopen`, `permitlisten`, `from` and `command` options are honoured
//!   (see [`authorized_keys`]); password authentication only when a
//!   password list is configured (see [`passwords`]);
//! - `direct-tcpip` channels (`ssh -L`, `-D`) subject to `permitopen`;
//! - `tcpip-forward` / `cancel-tcpip-forward` (`ssh -R`) with port 0
//!   allocation, subject to `permitlisten`, bound to loopback unless
//!   [`ServerConfig::gateway_ports`] is set;
//! - the `sftp` subsystem, confined to [`ServerConfig::sftp_root`];
//! - no shell, no exec, no pty: refused with a message on the channel's
//!   stderr and exit status 1.
//!
//! Embedding it: [`spawn`] binds an address (port 0 picks one) and serves
//! in the background; [`serve`] runs on a listener the caller bound.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use sshfwd_server::{KeyOptions, PublicKey, ServerConfig};
//! let client = PublicKey::read_openssh_file(std::path::Path::new("id_ed25519.pub"))?;
//! let mut config = ServerConfig::new(sshfwd_server::generate_host_key()?);
//! config.authorized_keys.push(client, KeyOptions::default());
//! let server = sshfwd_server::spawn(config, "127.0.0.1:0".parse()?).await?;
//! println!("listening on {}, host key {}", server.local_addr(), sshfwd_server::fingerprint(server.host_key()));
//! // ... connect with the client's private key, after checking the host key ...
//! server.stop().await?;
//! # Ok(()) }
//! ```
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod authorized_keys;
mod config;
mod error;
mod forward;
pub mod keys;
mod login;
pub mod passwords;
mod server;
mod session;
pub mod sftp;

pub use authorized_keys::{AuthorizedKey, AuthorizedKeys, AuthorizedKeysError, KeyOptions, PermitListen, PermitOpen};
pub use config::ServerConfig;
pub use error::ServerError;
pub use keys::{fingerprint, generate_host_key, load_or_generate_host_key, write_private_key, KeyError};
pub use passwords::{PasswordFileError, Passwords};
pub use russh::keys::{PrivateKey, PublicKey};
pub use server::{serve, spawn, RunningServer};
pub use ssh_files::pattern::{PatternList, PatternListError};
pub use sshfwd_net::admission::{AdmissionPolicy, MaxStartups, Network, Penalties};
pub use tokio_util::sync::CancellationToken;
