//! The session-mode password: the first line of `FtpToSftpPasswordFile`,
//! or a random one made at start.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Letters and digits without the look-alikes (0/O, 1/l/I), so that a
/// password read off a terminal is typed right the first time.
const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// 20 characters of 57: about 116 bits.
const RANDOM_LENGTH: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("FtpToSftpPasswordFile {}: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    #[error("FtpToSftpPasswordFile {}: the first line is empty", path.display())]
    Empty { path: PathBuf },
    #[error("cannot make a random password: {0}")]
    Random(String),
}

/// The first line of `path`, without its line ending.
pub fn from_file(path: &Path) -> Result<String, PasswordError> {
    let read_error =
        |e: std::io::Error| PasswordError::Read { path: path.to_owned(), reason: sshfwd_net::io_reason(&e) };
    let text = std::fs::read_to_string(path).map_err(read_error)?;
    let password = text.lines().next().unwrap_or_default().trim_end_matches('\r');
    if password.is_empty() {
        return Err(PasswordError::Empty { path: path.to_owned() });
    }
    // As ssh warns about a private key others can read.
    if let Ok(metadata) = std::fs::metadata(path) {
        if metadata.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                "Warning: FtpToSftpPasswordFile {} is accessible by others (mode {:o}); chmod 600 it",
                path.display(),
                metadata.permissions().mode() & 0o777
            );
        }
    }
    Ok(password.to_owned())
}

/// A fresh random password.
pub fn random() -> Result<String, PasswordError> {
    let mut bytes = [0u8; RANDOM_LENGTH * 2];
    getrandom::fill(&mut bytes).map_err(|e| PasswordError::Random(e.to_string()))?;
    // Rejection sampling keeps every character equally likely: bytes at or
    // above the largest multiple of the alphabet's size are skipped.
    let limit = 256 - 256 % ALPHABET.len();
    let password: String = bytes
        .iter()
        .filter(|&&b| usize::from(b) < limit)
        .filter_map(|&b| ALPHABET.get(usize::from(b) % ALPHABET.len()))
        .map(|&c| char::from(c))
        .take(RANDOM_LENGTH)
        .collect();
    if password.len() < RANDOM_LENGTH {
        // 40 bytes with at most 4 % rejected each: practically never.
        return random();
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_passwords_are_long_distinct_and_from_the_alphabet() {
        let (a, b) = (random().unwrap(), random().unwrap());
        assert_eq!(a.len(), RANDOM_LENGTH);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)), "{a}");
    }

    #[test]
    fn the_file_gives_its_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        for (content, want) in [
            ("s3cret\n", Some("s3cret")),
            ("with space\r\nsecond\n", Some("with space")),
            ("pw", Some("pw")),
            ("\nlater\n", None),
            ("", None),
        ] {
            std::fs::write(&path, content).unwrap();
            assert_eq!(from_file(&path).ok().as_deref(), want, "{content:?}");
        }
        let missing = from_file(&dir.path().join("none")).unwrap_err().to_string();
        assert!(missing.contains("No such file or directory"), "{missing}");
    }
}
