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
//! Embedding it (the caller owns the listener, so it can bind port 0 and
//! learn the port before serving):
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use sshfwd_server::{serve, AuthorizedKeys, KeyOptions, ServerConfig};
//! let host_key = sshfwd_server::generate_host_key()?;
//! let client = sshfwd_server::generate_client_key()?;
//! let mut config = ServerConfig::new(host_key);
//! config.authorized_keys.push(client.public.clone(), KeyOptions::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let port = listener.local_addr()?.port();
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! let server = tokio::spawn(serve(config, listener, shutdown.clone()));
//! // ... connect to 127.0.0.1:port with client.private ...
//! shutdown.cancel();
//! server.await??;
//! # let _ = port; Ok(()) }
//! ```
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod authorized_keys;
mod forward;
pub mod keys;
pub mod passwords;
mod pattern;
mod server;
mod session;
pub mod sftp;

pub use authorized_keys::{AuthorizedKey, AuthorizedKeys, AuthorizedKeysError, KeyOptions, PermitListen, PermitOpen};
pub use keys::{
    fingerprint, generate_client_key, generate_host_key, load_or_generate_host_key, write_private_key, ClientKeyPair,
    KeyError,
};
pub use passwords::{PasswordFileError, Passwords};
pub use pattern::PatternList;
pub use russh::keys::{PrivateKey, PublicKey};
pub use server::{serve, ServerConfig, ServerError};
pub use tokio_util::sync::CancellationToken;
