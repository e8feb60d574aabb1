//! Hashed host names: `|1|base64(salt)|base64(HMAC-SHA1(salt, host))`
//! (OpenSSH `hostfile.c`, written by `HashKnownHosts yes` and `ssh-keygen -H`).

use base64ct::{Base64, Encoding};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// The magic that starts a hashed host field.
const MAGIC: &str = "|1|";

/// Salt and digest are both the size of a SHA-1 output.
pub(crate) const SALT_LEN: usize = 20;

/// A parsed `|1|salt|hash` host field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HashedHost {
    salt: Vec<u8>,
    digest: Vec<u8>,
}

impl HashedHost {
    /// Whether `field` is meant to be hashed (so a bad one is malformed rather
    /// than read as a pattern).
    pub(crate) fn looks_hashed(field: &str) -> bool {
        field.starts_with(MAGIC)
    }

    /// Parses a hashed host field; `None` when it is not well formed.
    pub(crate) fn parse(field: &str) -> Option<HashedHost> {
        let rest = field.strip_prefix(MAGIC)?;
        let (salt, digest) = rest.split_once('|')?;
        let salt = Base64::decode_vec(salt).ok()?;
        let digest = Base64::decode_vec(digest).ok()?;
        // OpenSSH's extract_salt insists on a salt of exactly this size.
        if salt.len() != SALT_LEN || digest.len() != SALT_LEN {
            return None;
        }
        Some(HashedHost { salt, digest })
    }

    /// Hashes `host` (already in its `host` or `[host]:port` form) with `salt`.
    pub(crate) fn new(host: &str, salt: &[u8]) -> Option<HashedHost> {
        let mut mac = Hmac::<Sha1>::new_from_slice(salt).ok()?;
        mac.update(host.as_bytes());
        Some(HashedHost { salt: salt.to_vec(), digest: mac.finalize().into_bytes().to_vec() })
    }

    /// Whether this entry is the hash of `host`, compared in constant time.
    pub(crate) fn matches(&self, host: &str) -> bool {
        match Hmac::<Sha1>::new_from_slice(&self.salt) {
            Ok(mut mac) => {
                mac.update(host.as_bytes());
                mac.verify_slice(&self.digest).is_ok()
            }
            Err(_) => false,
        }
    }

    /// The `|1|salt|hash` text.
    pub(crate) fn encode(&self) -> String {
        format!("{MAGIC}{}|{}", Base64::encode_string(&self.salt), Base64::encode_string(&self.digest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Salt 0x01..=0x14; digests computed with Python's hmac module:
    /// `hmac.new(salt, host, hashlib.sha1)`.
    const SALT_B64: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQ=";
    const VECTORS: [(&str, &str); 2] = [
        ("example.com", "|1|AQIDBAUGBwgJCgsMDQ4PEBESExQ=|qvtG0DaqrsqPDhV2Ni+wmYohchA="),
        ("[example.com]:2222", "|1|AQIDBAUGBwgJCgsMDQ4PEBESExQ=|uVLj+YL3GsbtNOcCoC7AMM/WVh0="),
    ];

    #[test]
    fn known_vectors() {
        let salt = Base64::decode_vec(SALT_B64).unwrap();
        for (host, field) in VECTORS {
            let hashed = HashedHost::new(host, &salt).unwrap();
            assert_eq!(hashed.encode(), field);
            let parsed = HashedHost::parse(field).unwrap();
            assert!(parsed.matches(host));
            assert!(!parsed.matches("other.com"));
        }
    }

    #[test]
    fn refuses_malformed_fields() {
        let cases = [
            "example.com",
            "|1|",
            "|1|AQIDBAUGBwgJCgsMDQ4PEBESExQ=",
            "|1|notbase64!|qvtG0DaqrsqPDhV2Ni+wmYohchA=",
            // A salt of the wrong length.
            "|1|AQID|qvtG0DaqrsqPDhV2Ni+wmYohchA=",
            "|2|AQIDBAUGBwgJCgsMDQ4PEBESExQ=|qvtG0DaqrsqPDhV2Ni+wmYohchA=",
        ];
        for field in cases {
            assert_eq!(HashedHost::parse(field), None, "{field}");
        }
    }
}
