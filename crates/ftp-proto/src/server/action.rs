//! What the session asks its driver to do, and the results the driver
//! reports back.

use std::net::SocketAddr;

use super::glob::Glob;
use super::path::VirtualPath;
use super::reply::Reply;
use super::request::{Password, TransferType};

/// One thing for the driver to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write this reply to the client.
    Reply(Reply),
    /// Check these credentials; report with `handle_login`.
    Authenticate { user: String, password: Password },
    /// Listen for a data connection on the address the client reached the
    /// control connection on, replacing any earlier listener; report with
    /// `handle_passive`.
    OpenPassive,
    /// Drop the data listener: the client chose active mode instead.
    ClosePassive,
    /// A file operation; report with `handle_done`.
    File(FileOperation),
    /// Read a file's attributes (following symbolic links); report with
    /// `handle_stat`.
    Stat { path: VirtualPath, purpose: StatPurpose },
    /// Move data; report with `handle_transfer_started` once the file is
    /// open, then `handle_transfer_done`.
    Transfer(Transfer),
    /// Stop the running transfer (the client sent ABOR), then report it
    /// with `handle_transfer_done`.
    Abort,
    /// Close the control connection once the replies before are written.
    Close,
}

/// File operations that answer only success or failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOperation {
    /// Check that `path` is a directory the user may enter (CWD, CDUP).
    ChangeDir(VirtualPath),
    MakeDir(VirtualPath),
    RemoveDir(VirtualPath),
    Delete(VirtualPath),
    Rename {
        from: VirtualPath,
        to: VirtualPath,
    },
    /// SITE CHMOD: set the permission bits (`0o7777`).
    Chmod {
        mode: u32,
        path: VirtualPath,
    },
}

impl FileOperation {
    /// The path an error reply names.
    pub fn path(&self) -> &VirtualPath {
        match self {
            FileOperation::ChangeDir(path)
            | FileOperation::MakeDir(path)
            | FileOperation::RemoveDir(path)
            | FileOperation::Delete(path)
            | FileOperation::Chmod { path, .. } => path,
            FileOperation::Rename { from, .. } => from,
        }
    }
}

/// Why attributes are wanted: it decides the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatPurpose {
    /// SIZE: `213 <bytes>`, for plain files only.
    Size,
    /// MDTM: `213 YYYYMMDDHHMMSS`.
    Mdtm,
    /// MLST: the facts of one entry.
    Mlst,
    /// RNFR: the source must exist before RNTO is asked for.
    RenameFrom,
}

/// One data transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// How to reach the client.
    pub data: DataChannel,
    pub kind: TransferKind,
}

/// The data connection a transfer uses; each is used for one transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataChannel {
    /// Accept on the listener opened for PASV/EPSV.
    Passive,
    /// Connect to the address PORT/EPRT named (already checked against the
    /// bounce rules).
    Active(SocketAddr),
}

/// What a transfer moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferKind {
    /// RETR: the file from `offset` (REST), converted to CRLF in ASCII.
    Retrieve { path: VirtualPath, offset: u64, representation: TransferType },
    /// STOR or APPE.
    Store { path: VirtualPath, start: StoreStart, representation: TransferType },
    /// LIST, NLST or MLSD of a directory (or, for LIST and NLST, a file).
    List {
        path: VirtualPath,
        format: ListFormat,
        /// LIST and NLST: only the names of `path` that match (the last
        /// component of the argument was a pattern, `path` its directory).
        pattern: Option<Glob>,
        /// What NLST puts before each name: the directory part of a
        /// pattern argument as the client wrote it (`dir/` for `NLST
        /// dir/*.log`), so that `mget` can fetch the names it is given.
        prefix: String,
    },
}

impl TransferKind {
    pub fn path(&self) -> &VirtualPath {
        match self {
            TransferKind::Retrieve { path, .. }
            | TransferKind::Store { path, .. }
            | TransferKind::List { path, .. } => path,
        }
    }
}

/// Where an upload starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreStart {
    /// STOR: create or truncate.
    Truncate,
    /// REST n + STOR: keep the first n bytes and write from there.
    At(u64),
    /// APPE: write at the end, creating the file if needed.
    Append,
}

/// The listing format, rendered by [`super::listing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    /// LIST: `ls -l` lines.
    Long,
    /// NLST: names.
    Names,
    /// MLSD: RFC 3659 facts.
    Machine,
}

/// How an SSH file operation failed, as far as the FTP reply cares.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FsError {
    /// SFTP's NO_SUCH_FILE.
    #[error("no such file or directory")]
    NotFound,
    /// SFTP's PERMISSION_DENIED.
    #[error("permission denied")]
    PermissionDenied,
    /// The server's disk or quota is full.
    #[error("disk full")]
    DiskFull,
    /// The SSH connection or the SFTP channel is gone.
    #[error("connection lost")]
    ConnectionLost,
    /// The path names a file where a directory is needed.
    #[error("not a directory")]
    NotADirectory,
    /// The path names a directory where a file is needed.
    #[error("is a directory")]
    IsADirectory,
    /// The path already exists.
    #[error("file exists")]
    AlreadyExists,
    /// Any other failure, with the server's message.
    #[error("{0}")]
    Other(String),
}

/// The answer to [`Action::Authenticate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginOutcome {
    /// The user is in; sessions start in `home`.
    Accepted { home: VirtualPath },
    /// Wrong user or password.
    Refused,
    /// The SSH side could not be reached to decide; the session ends.
    Unavailable(String),
}

/// How a data transfer failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    /// The data connection could not be opened (425).
    #[error("cannot open data connection: {0}")]
    DataConnection(String),
    /// The data connection broke during the transfer (426).
    #[error("data connection broken")]
    DataBroken,
    /// The transfer was stopped by ABOR (426, then 226 for the ABOR).
    #[error("aborted")]
    Aborted,
    /// No byte moved on the data connection for the driver's idle limit:
    /// the client stopped reading or sending (426).
    #[error("data connection idle too long")]
    Idle,
    /// The file side failed.
    #[error(transparent)]
    File(#[from] FsError),
}

/// A result the session was not waiting for: the driver's bug, reported
/// rather than acted on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the session was not waiting for {0}")]
pub struct NotAwaited(pub &'static str);
