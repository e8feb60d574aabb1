//! A pipelined SFTP v3 client over any byte stream, for sshfwd's FTP→SFTP
//! bridge.
//!
//! russh-sftp's `File` sends one READ at a time, so its speed is one chunk
//! per round trip. This client keeps a window of READs or WRITEs in flight
//! (OpenSSH's 64 × 32 KiB by default), takes their replies in order, and
//! re-asks for the rest of a short read. It runs over any
//! `AsyncRead + AsyncWrite` (an SSH channel, or a pipe to `sftp-server`), and
//! its errors say what an FTP server needs to answer: no such file,
//! permission denied, disk full, connection lost.
//!
//! russh-sftp provides the packet types for paths and attributes; the data
//! path (READ, WRITE, DATA, STATUS, handles) is encoded here, see `wire`.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

mod connection;
mod error;
mod metadata;
mod session;
mod transfer;
mod wire;

pub use error::Error;
pub use metadata::{DirEntry, Metadata};
pub use session::{Config, SftpSession, UploadMode};
pub use transfer::TransferError;
pub use wire::{Status, WireError};
