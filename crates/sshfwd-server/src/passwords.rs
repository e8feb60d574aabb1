//! The optional password file: one `user:password` per line, `#` comments
//! and blank lines ignored, the password being everything after the first
//! colon. Plain text, so keep the file mode 0600 (a looser mode is warned
//! about). Comparison is constant-time.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use subtle::ConstantTimeEq;

/// A malformed or unreadable password file.
#[derive(Debug, thiserror::Error)]
pub enum PasswordFileError {
    /// A line without a colon or with an empty user; `origin` is `file:line`.
    #[error("{origin}: expected user:password")]
    Syntax { origin: String },
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Users and their passwords.
#[derive(Clone, Default)]
pub struct Passwords {
    users: HashMap<String, String>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords").field("users", &self.users.keys().collect::<Vec<_>>()).finish()
    }
}

impl Passwords {
    /// Parses the file's contents; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Self, PasswordFileError> {
        let mut users = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let origin = || format!("{source}:{}", index + 1);
            let (user, password) =
                line.split_once(':').ok_or_else(|| PasswordFileError::Syntax { origin: origin() })?;
            if user.is_empty() {
                return Err(PasswordFileError::Syntax { origin: origin() });
            }
            users.insert(user.to_owned(), password.to_owned());
        }
        Ok(Self { users })
    }

    /// Reads the file, warning when others may read it.
    pub fn load(path: &Path) -> Result<Self, PasswordFileError> {
        let name = path.display().to_string();
        let io = |source| PasswordFileError::Io { path: name.clone(), source };
        let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!("{name}: password file is accessible by others (mode {:o}); use chmod 600", mode & 0o777);
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        Self::parse(&text, &name)
    }

    /// Adds or replaces a user (for in-process use).
    pub fn insert(&mut self, user: impl Into<String>, password: impl Into<String>) {
        self.users.insert(user.into(), password.into());
    }

    /// Whether `password` is `user`'s. An empty password never matches
    /// (sshd's `PermitEmptyPasswords no`).
    pub fn check(&self, user: &str, password: &str) -> bool {
        if password.is_empty() {
            return false;
        }
        match self.users.get(user) {
            Some(expected) => bool::from(expected.as_bytes().ct_eq(password.as_bytes())),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_check() {
        let passwords = Passwords::parse("# users\nalice:s3cret:with:colons\n\nbob:\n", "pw").unwrap();
        assert!(passwords.check("alice", "s3cret:with:colons"));
        assert!(!passwords.check("alice", "s3cret"));
        assert!(!passwords.check("bob", ""));
        assert!(!passwords.check("carol", ""));
        let err = Passwords::parse("alice\n", "pw").unwrap_err();
        assert_eq!(err.to_string(), "pw:1: expected user:password");
        assert!(Passwords::parse(":x\n", "pw").is_err());
    }
}
