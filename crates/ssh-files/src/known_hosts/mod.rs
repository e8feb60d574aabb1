//! OpenSSH known_hosts files: look a host key up ([`check`]) and record a new
//! one ([`append`]).
//!
//! Host lookups use `host` for port 22 and `[host]:port` otherwise, lowercase,
//! exactly as OpenSSH writes them. `ssh-rsa`, `rsa-sha2-256` and
//! `rsa-sha2-512` name the same (RSA) key type.

mod append;
mod check;
mod hash;
mod line;

use std::io;
use std::path::PathBuf;

use thiserror::Error;

pub use append::append;
pub use check::{check, check_with_output};
pub use line::MalformedLine;

/// What the known_hosts files say about a host key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// An entry for this host has this very key.
    Known { file: PathBuf, line: usize },
    /// The key is listed under `@revoked`. Wins over everything else.
    Revoked { file: PathBuf, line: usize },
    /// The host has an entry of the same key type with a different key: the
    /// host key changed (or someone is in the middle).
    Changed {
        file: PathBuf,
        line: usize,
        /// The key type of that entry.
        known_type: String,
    },
    /// No entry of this key type for the host.
    Unknown {
        /// Key types the host does have entries for (deduplicated, in file
        /// order), so the caller can say "but a key of type X is known".
        other_types: Vec<String>,
    },
}

/// The outcome of [`check`] with what was noticed on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub outcome: CheckOutcome,
    /// Lines skipped and unsupported entries, for the caller to log.
    pub notes: Vec<Note>,
}

/// Something [`check`] skipped.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Note {
    /// A line that could not be parsed (OpenSSH skips these too).
    #[error("{}:{line}: skipped malformed line: {reason}", file.display())]
    Malformed { file: PathBuf, line: usize, reason: MalformedLine },
    /// A `@cert-authority` entry for the host: certificates are not supported,
    /// so it was ignored.
    #[error("{}:{line}: @cert-authority entry ignored (host certificates are not supported)", file.display())]
    CertAuthorityIgnored { file: PathBuf, line: usize },
    /// A file that exists but could not be read. Missing files are not noted.
    #[error("{}: cannot read: {error}", file.display())]
    Unreadable { file: PathBuf, error: String },
}

/// Errors of [`check`] and [`append`].
#[derive(Debug, Error)]
pub enum KnownHostsError {
    /// The key given by the caller is not valid base64.
    #[error("host key is not valid base64")]
    BadKey,
    /// The key type given by the caller is empty or contains whitespace.
    #[error("bad key type '{0}'")]
    BadKeyType(String),
    /// The host name is empty or contains whitespace or a comma.
    #[error("bad host name '{0}'")]
    BadHost(String),
    /// The random salt for a hashed entry could not be drawn.
    #[error("cannot get random bytes for the host hash salt")]
    Random,
    /// Creating or writing the file failed.
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
}

/// The name OpenSSH looks up for a host and port: `host` for port 22 (and 0),
/// `[host]:port` otherwise, lowercased.
pub fn host_key_name(host: &str, port: u16) -> String {
    let host = host.to_lowercase();
    match port {
        0 | 22 => host,
        _ => format!("[{host}]:{port}"),
    }
}

/// Folds key type names that share a key: the RSA signature algorithms
/// `rsa-sha2-256` and `rsa-sha2-512` use `ssh-rsa` keys.
pub fn key_type_family(key_type: &str) -> &str {
    match key_type {
        "rsa-sha2-256" | "rsa-sha2-512" => "ssh-rsa",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_key_names() {
        assert_eq!(host_key_name("Example.COM", 22), "example.com");
        assert_eq!(host_key_name("example.com", 0), "example.com");
        assert_eq!(host_key_name("example.com", 2222), "[example.com]:2222");
        assert_eq!(host_key_name("::1", 2222), "[::1]:2222");
    }

    #[test]
    fn key_type_families() {
        assert_eq!(key_type_family("rsa-sha2-512"), "ssh-rsa");
        assert_eq!(key_type_family("rsa-sha2-256"), "ssh-rsa");
        assert_eq!(key_type_family("ssh-rsa"), "ssh-rsa");
        assert_eq!(key_type_family("ssh-ed25519"), "ssh-ed25519");
    }
}
