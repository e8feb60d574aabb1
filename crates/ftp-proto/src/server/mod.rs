//! The FTP server side of the FTP→SFTP bridge, sans-IO: command parsing,
//! the per-connection state machine, virtual paths, listings and TYPE A
//! conversion. The driver (in sshfwd) owns the sockets and the SFTP
//! channel; it feeds lines and results in and performs the actions that
//! come out.

pub mod action;
pub mod ascii;
pub mod glob;
pub mod listing;
pub mod path;
pub mod reply;
pub mod request;
pub mod session;
pub mod telnet;

pub use action::{
    Action, DataChannel, FileOperation, FsError, ListFormat, LoginOutcome, NotAwaited, StatPurpose, StoreStart,
    Transfer, TransferError, TransferKind,
};
pub use ascii::{AsciiDecoder, AsciiEncoder};
pub use glob::Glob;
pub use listing::{Entry, Kind};
pub use path::VirtualPath;
pub use reply::Reply;
pub use request::{Password, Request, RequestError, TransferType};
pub use session::{Session, SessionConfig, FEATURES};
