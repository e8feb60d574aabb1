//! The demo client's key pair and the files an OpenSSH-style client reads:
//! its private key and a known_hosts line for the server.

use std::net::SocketAddr;
use std::path::Path;

use russh::keys::{Algorithm, PrivateKey, PublicKey};
use sshfwd_server::KeyError;

/// A freshly generated key pair for the demo's client.
pub struct ClientKeyPair {
    /// The private half, for the SSH client's authentication.
    pub private: PrivateKey,
    /// The public half, for the server's authorized keys.
    pub public: PublicKey,
}

impl ClientKeyPair {
    /// Generates an ed25519 key pair.
    pub fn generate() -> Result<Self, KeyError> {
        let mut private = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519).map_err(KeyError::Generate)?;
        private.set_comment("sshfwd demo client");
        let public = private.public_key().clone();
        Ok(ClientKeyPair { private, public })
    }

    /// Writes the private key to a new file at `path` in OpenSSH format,
    /// mode 0600 from the start, as OpenSSH clients insist. Refuses to
    /// overwrite an existing file.
    pub fn write_private(&self, path: &Path) -> Result<(), KeyError> {
        sshfwd_server::write_private_key(&self.private, path)
    }
}

/// A known_hosts line for `key` at `address`, as OpenSSH writes it:
/// `[127.0.0.1]:2222 ssh-ed25519 AAAA…` (the bare host for port 22).
pub fn known_hosts_line(address: SocketAddr, key: &PublicKey) -> Result<String, KeyError> {
    let mut public = key.clone();
    public.set_comment("");
    let text = public.to_openssh().map_err(KeyError::Encode)?;
    let host = match (address.ip(), address.port()) {
        (ip, 22) => ip.to_string(),
        (ip, port) => format!("[{ip}]:{port}"),
    };
    Ok(format!("{host} {}", text.trim_end()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hosts_line_looks_like_openssh() {
        let pair = ClientKeyPair::generate().unwrap();
        let line = known_hosts_line("127.0.0.1:2222".parse().unwrap(), &pair.public).unwrap();
        assert!(line.starts_with("[127.0.0.1]:2222 ssh-ed25519 AAAA"), "{line}");
        assert!(!line.ends_with(' '), "{line:?}");
        let line = known_hosts_line("[::1]:22".parse().unwrap(), &pair.public).unwrap();
        assert!(line.starts_with("::1 ssh-ed25519 "), "{line}");
    }

    #[test]
    fn private_key_is_written_once_with_mode_0600_and_reads_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("id");
        let pair = ClientKeyPair::generate().unwrap();
        pair.write_private(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let read = PrivateKey::from_openssh(std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(read.public_key().key_data(), pair.public.key_data());
        assert!(matches!(pair.write_private(&path), Err(KeyError::Io { .. })));
    }
}
