//! What can go wrong, sorted into the kinds an FTP front end answers
//! differently (550, 452, 421, …).

use std::io;

use crate::wire::{code, Status, WireError};

/// An SFTP operation's failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server has no such file or directory (SSH_FX_NO_SUCH_FILE).
    #[error("no such file: {path}")]
    NoSuchFile {
        /// The path the operation named.
        path: String,
    },
    /// The server refused access (SSH_FX_PERMISSION_DENIED).
    #[error("permission denied: {path}")]
    PermissionDenied {
        /// The path the operation named.
        path: String,
    },
    /// The server's disk or the user's quota is full. SFTP v3 has no code for
    /// it: see [`Error::from_status`] for how it is told.
    #[error("disk full: {path}")]
    DiskFull {
        /// The path the operation named.
        path: String,
    },
    /// The server does not implement the operation (SSH_FX_OP_UNSUPPORTED).
    #[error("operation unsupported: {path}")]
    Unsupported {
        /// The path the operation named.
        path: String,
    },
    /// Any other refusal, with the server's own words.
    #[error("sftp failure on {path}: {message}")]
    Failure {
        /// The path the operation named.
        path: String,
        /// The status code (SSH_FX_FAILURE is 4).
        code: u32,
        /// The server's message, which OpenSSH leaves generic ("Failure").
        message: String,
    },
    /// The stream to the server ended or failed. Every request in flight
    /// gets this at once, and so does every later one.
    #[error("sftp connection lost")]
    ConnectionLost,
    /// The server sent something this client cannot accept.
    #[error("sftp protocol error: {0}")]
    Protocol(String),
    /// The local side of a transfer (the sink of a download or the source of
    /// an upload) failed; the server is fine.
    #[error("local i/o: {0}")]
    Local(#[source] io::Error),
}

impl Error {
    /// Maps a non-OK status for an operation on `path`.
    ///
    /// A full disk is told by the later drafts' codes
    /// (NO_SPACE_ON_FILESYSTEM, QUOTA_EXCEEDED) or by SSH_FX_FAILURE with
    /// ENOSPC's or EDQUOT's text, which servers built on `io::Error` send
    /// (sshfwd-server does). OpenSSH's sftp-server sends the bare word
    /// "Failure" for ENOSPC; uploads then ask the server's free space
    /// (statvfs@openssh.com) before they report a failure, see `transfer`.
    pub fn from_status(status: Status, path: &str) -> Self {
        let path = path.to_owned();
        match status.code {
            code::NO_SUCH_FILE => Error::NoSuchFile { path },
            code::PERMISSION_DENIED => Error::PermissionDenied { path },
            code::OP_UNSUPPORTED => Error::Unsupported { path },
            code::NO_SPACE_ON_FILESYSTEM | code::QUOTA_EXCEEDED => Error::DiskFull { path },
            _ if says_disk_full(&status.message) => Error::DiskFull { path },
            code => Error::Failure { path, code, message: status.message },
        }
    }

    /// Whether this is a refusal that a full disk could explain, worth a
    /// statvfs to tell.
    pub(crate) fn is_generic_failure(&self) -> bool {
        matches!(self, Error::Failure { code: 4, .. })
    }
}

impl From<WireError> for Error {
    fn from(error: WireError) -> Self {
        Error::Protocol(error.to_string())
    }
}

/// ENOSPC's and EDQUOT's strerror texts, and the usual words for them.
fn says_disk_full(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    ["no space left", "disk quota exceeded", "disk full", "quota exceeded", "enospc", "edquot"]
        .iter()
        .any(|needle| message.contains(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_kinds() {
        let cases: &[(u32, &str, &str)] = &[
            (2, "No such file", "no such file: /p"),
            (3, "Permission denied", "permission denied: /p"),
            (8, "Operation unsupported", "operation unsupported: /p"),
            (14, "", "disk full: /p"),
            (15, "", "disk full: /p"),
            // sshfwd-server forwards io::Error's text.
            (4, "No space left on device (os error 28)", "disk full: /p"),
            (4, "Disk quota exceeded (os error 122)", "disk full: /p"),
            // OpenSSH's sftp-server: the generic word only.
            (4, "Failure", "sftp failure on /p: Failure"),
            (99, "odd", "sftp failure on /p: odd"),
        ];
        for &(code, message, want) in cases {
            let error = Error::from_status(Status { code, message: message.into() }, "/p");
            assert_eq!(error.to_string(), want, "code {code} {message:?}");
        }
    }
}
