//! Host keys: generation, the host key file, and
//! fingerprints printed the way OpenSSH prints them.
//!
//! All cryptography comes from russh's `ssh-key`; this module only moves
//! keys between memory and files.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use russh::keys::ssh_key::LineEnding;
use russh::keys::{Algorithm, HashAlg, PrivateKey, PublicKey};

/// Failure to generate, read or write a key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The random generator or the key encoder failed.
    #[error("cannot generate an ed25519 key: {0}")]
    Generate(russh::keys::ssh_key::Error),
    /// The key could not be encoded in OpenSSH format.
    #[error("cannot encode the key: {0}")]
    Encode(russh::keys::ssh_key::Error),
    /// The host key file exists but is not an unencrypted OpenSSH private key.
    #[error("{path}: not a usable OpenSSH private key: {reason}")]
    Parse { path: PathBuf, reason: String },
    /// The host key file is encrypted; a server cannot ask for a passphrase.
    #[error("{path}: the host key is encrypted; use a key without a passphrase")]
    Encrypted { path: PathBuf },
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Generates an in-memory ed25519 host key.
pub fn generate_host_key() -> Result<PrivateKey, KeyError> {
    let mut key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519).map_err(KeyError::Generate)?;
    key.set_comment("sshfwd-server host key");
    Ok(key)
}

/// Reads the host key at `path`, or generates one and writes it there
/// (OpenSSH format, mode 0600, with the public half beside it in
/// `path.pub`) when the file does not exist. The flag says whether the key
/// was generated.
pub fn load_or_generate_host_key(path: &Path) -> Result<(PrivateKey, bool), KeyError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let key = PrivateKey::from_openssh(&bytes)
                .map_err(|e| KeyError::Parse { path: path.to_owned(), reason: e.to_string() })?;
            if key.is_encrypted() {
                return Err(KeyError::Encrypted { path: path.to_owned() });
            }
            if let Ok(meta) = std::fs::metadata(path) {
                use std::os::unix::fs::PermissionsExt;
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    tracing::warn!(
                        "{}: host key is accessible by others (mode {mode:o}); use chmod 600",
                        path.display()
                    );
                }
            }
            Ok((key, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = generate_host_key()?;
            write_private_key(&key, path)?;
            let public = key.public_key().to_openssh().map_err(KeyError::Encode)?;
            let mut pub_path = path.as_os_str().to_owned();
            pub_path.push(".pub");
            let pub_path = PathBuf::from(pub_path);
            std::fs::write(&pub_path, format!("{public}\n"))
                .map_err(|source| KeyError::Io { path: pub_path, source })?;
            Ok((key, true))
        }
        Err(source) => Err(KeyError::Io { path: path.to_owned(), source }),
    }
}

/// Writes `key` to a new file at `path` in OpenSSH format with mode 0600.
/// Refuses to overwrite an existing file.
pub fn write_private_key(key: &PrivateKey, path: &Path) -> Result<(), KeyError> {
    let text = key.to_openssh(LineEnding::LF).map_err(KeyError::Encode)?;
    let io = |source| KeyError::Io { path: path.to_owned(), source };
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

/// `ssh-ed25519 SHA256:…`: the key's algorithm and SHA-256 fingerprint, as
/// `ssh-keygen -l` and sshd print them.
pub fn fingerprint(key: &PublicKey) -> String {
    format!("{} {}", key.algorithm().as_str(), key.fingerprint(HashAlg::Sha256))
}

/// sshd's short key type for log lines: `ED25519`, `RSA`, `ECDSA`, …
pub fn log_type(key: &PublicKey) -> &'static str {
    match key.algorithm() {
        Algorithm::Ed25519 => "ED25519",
        Algorithm::Rsa { .. } => "RSA",
        Algorithm::Ecdsa { .. } => "ECDSA",
        Algorithm::SkEd25519 => "ED25519-SK",
        Algorithm::SkEcdsaSha2NistP256 => "ECDSA-SK",
        Algorithm::Dsa => "DSA",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_host_key_is_written_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host_key");
        let (key, created) = load_or_generate_host_key(&path).unwrap();
        assert!(created);
        let (again, created) = load_or_generate_host_key(&path).unwrap();
        assert!(!created);
        assert_eq!(key.public_key().key_data(), again.public_key().key_data());
        let mode = std::fs::metadata(&path).unwrap().permissions();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.mode() & 0o777, 0o600);
        let public = std::fs::read_to_string(dir.path().join("host_key.pub")).unwrap();
        assert!(public.starts_with("ssh-ed25519 "));
    }

    #[test]
    fn fingerprint_looks_like_openssh() {
        let key = generate_host_key().unwrap();
        let printed = fingerprint(key.public_key());
        assert!(printed.starts_with("ssh-ed25519 SHA256:"), "{printed}");
        assert!(!printed.ends_with('='));
        assert_eq!(log_type(key.public_key()), "ED25519");
    }
}
