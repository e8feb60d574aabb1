//! Ciphers, KexAlgorithms, MACs and HostKeyAlgorithms as OpenSSH spells them
//! (`a,b`, `+a` append, `-a` remove, `^a` put first; wildcards in the
//! removal list), turned into russh's preference lists.

use std::borrow::Cow;

use russh::keys::Algorithm;
use russh::{cipher, compression, kex, mac, Preferred};
use ssh_files::pattern::wildcard;

#[derive(Debug, thiserror::Error)]
pub enum AlgorithmError {
    #[error("{option}: no supported algorithm in \"{value}\"")]
    NoneSupported { option: &'static str, value: String },
}

/// The four algorithm options, as written by the user.
#[derive(Debug, Clone, Default)]
pub struct AlgorithmOptions {
    pub ciphers: Option<String>,
    pub kex: Option<String>,
    pub macs: Option<String>,
    pub host_key: Option<String>,
    /// `Compression yes` (`-C`): zlib first, as ssh offers it.
    pub compression: bool,
}

impl AlgorithmOptions {
    /// The lists sshfwd offers, as `-G` prints them.
    pub fn offered(&self) -> Result<Offered, AlgorithmError> {
        let preferred = self.preferred()?;
        let join = |names: Vec<String>| names.join(",");
        Ok(Offered {
            ciphers: join(names_of(&preferred.cipher)),
            kex: join(
                names_of(&preferred.kex)
                    .into_iter()
                    .filter(|n| !n.starts_with("ext-info") && !n.starts_with("kex-strict"))
                    .collect(),
            ),
            macs: join(names_of(&preferred.mac)),
            host_key: join(preferred.key.iter().map(|a| a.to_string()).collect()),
        })
    }

    pub fn preferred(&self) -> Result<Preferred, AlgorithmError> {
        let defaults = Preferred::default();
        let mut preferred = defaults.clone();
        if let Some(v) = &self.ciphers {
            let names = apply("Ciphers", v, &names_of(&defaults.cipher), &all_names(cipher::ALL_CIPHERS))?;
            preferred.cipher =
                Cow::Owned(names.iter().filter_map(|n| cipher::Name::try_from(n.as_str()).ok()).collect());
        }
        if let Some(v) = &self.kex {
            let names = apply("KexAlgorithms", v, &names_of(&defaults.kex), &all_names(kex::ALL_KEX_ALGORITHMS))?;
            let mut list: Vec<kex::Name> = names.iter().filter_map(|n| kex::Name::try_from(n.as_str()).ok()).collect();
            // The extension markers are not algorithms the user chooses; keep them.
            for marker in defaults
                .kex
                .iter()
                .filter(|n| n.as_ref().starts_with("ext-info") || n.as_ref().starts_with("kex-strict"))
            {
                if !list.contains(marker) {
                    list.push(*marker);
                }
            }
            preferred.kex = Cow::Owned(list);
        }
        if let Some(v) = &self.macs {
            let names = apply("MACs", v, &names_of(&defaults.mac), &all_names(mac::ALL_MAC_ALGORITHMS))?;
            preferred.mac = Cow::Owned(names.iter().filter_map(|n| mac::Name::try_from(n.as_str()).ok()).collect());
        }
        if let Some(v) = &self.host_key {
            let default_names: Vec<String> = defaults.key.iter().map(|a| a.to_string()).collect();
            let names = apply("HostKeyAlgorithms", v, &default_names, &default_names)?;
            preferred.key = Cow::Owned(names.iter().filter_map(|n| n.parse::<Algorithm>().ok()).collect());
        }
        preferred.compression = Cow::Borrowed(if self.compression { COMPRESSION_YES } else { COMPRESSION_NO });
        Ok(preferred)
    }
}

// Issue 14 (config): what `-Q` lists and `-c`/`-m` accept.

/// The algorithm lists sshfwd would offer, comma-separated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Offered {
    pub ciphers: String,
    pub kex: String,
    pub macs: String,
    pub host_key: String,
}

/// An algorithm option (`+`, `-`, `^` or a list) applied to a list that is
/// also all there is to choose from; empty when nothing is left.
pub fn apply_to_list(value: &str, list: &[&str]) -> Vec<String> {
    let list: Vec<String> = list.iter().map(|name| name.to_string()).collect();
    apply("", value, &list, &list).unwrap_or_default()
}

/// OpenSSH's compression offers (`compression_alg_list`): russh's default
/// offers zlib even when the user did not ask for compression.
const COMPRESSION_NO: &[compression::Name] = &[compression::NONE, compression::ZLIB_LEGACY, compression::ZLIB];
const COMPRESSION_YES: &[compression::Name] = &[compression::ZLIB_LEGACY, compression::ZLIB, compression::NONE];

/// OpenSSH 9.2's `ssh -Q cipher` order.
const OPENSSH_CIPHERS: &[&str] = &[
    "3des-cbc",
    "aes128-cbc",
    "aes192-cbc",
    "aes256-cbc",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
];

/// The ciphers whose MAC is built in (`ssh -Q cipher-auth`).
const AEAD_CIPHERS: &[&str] = &["aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com"];

/// OpenSSH 9.2's `ssh -Q mac` order.
const OPENSSH_MACS: &[&str] = &[
    "hmac-sha1",
    "hmac-sha1-96",
    "hmac-sha2-256",
    "hmac-sha2-512",
    "hmac-md5",
    "hmac-md5-96",
    "umac-64@openssh.com",
    "umac-128@openssh.com",
    "hmac-sha1-etm@openssh.com",
    "hmac-sha1-96-etm@openssh.com",
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "hmac-md5-etm@openssh.com",
    "hmac-md5-96-etm@openssh.com",
    "umac-64-etm@openssh.com",
    "umac-128-etm@openssh.com",
];

/// OpenSSH 9.2's `ssh -Q kex` order.
const OPENSSH_KEX: &[&str] = &[
    "diffie-hellman-group1-sha1",
    "diffie-hellman-group14-sha1",
    "diffie-hellman-group14-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group-exchange-sha1",
    "diffie-hellman-group-exchange-sha256",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "sntrup761x25519-sha512",
    "sntrup761x25519-sha512@openssh.com",
];

/// The key types sshfwd can use, in `ssh -Q key-plain` order: no
/// security-key (sk-) types, which need a FIDO device, and no ssh-dss,
/// which russh is built without.
const KEY_PLAIN: &[&str] =
    &["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"];

/// Signature algorithms, in `ssh -Q sig` order.
const SIGNATURES: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "rsa-sha2-256",
    "rsa-sha2-512",
];

/// What `-Q` can list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Cipher,
    /// Ciphers with their own authentication.
    CipherAuth,
    Mac,
    Kex,
    /// Key types (sshfwd uses no certificates: the same as `KeyPlain`).
    Key,
    KeyPlain,
    /// Certificate types: none.
    KeyCert,
    /// Signature algorithms of keys and certificates.
    KeySig,
    Sig,
    Compression,
}

impl Family {
    /// The names sshfwd supports that OpenSSH 9.2 knows, in its order.
    /// russh's others (mlkem768x25519-sha256, diffie-hellman-group15-sha512
    /// and -group17-sha512) can be configured but are not listed: scripts
    /// hand this list to a 9.2 sshd (the regression suite's kextype, rekey
    /// and dhgex do), which refuses names it does not know.
    pub fn names(self) -> Vec<&'static str> {
        match self {
            Family::Cipher => in_openssh_order(OPENSSH_CIPHERS, cipher::ALL_CIPHERS),
            Family::CipherAuth => {
                Family::Cipher.names().into_iter().filter(|name| AEAD_CIPHERS.contains(name)).collect()
            }
            Family::Mac => in_openssh_order(OPENSSH_MACS, mac::ALL_MAC_ALGORITHMS),
            Family::Kex => in_openssh_order(OPENSSH_KEX, kex::ALL_KEX_ALGORITHMS),
            Family::Key | Family::KeyPlain => KEY_PLAIN.to_vec(),
            Family::KeyCert => Vec::new(),
            Family::KeySig | Family::Sig => SIGNATURES.to_vec(),
            Family::Compression => COMPRESSION_NO.iter().map(|name| name.as_ref()).collect(),
        }
    }
}

/// The names of `openssh` that are among `ours`, in OpenSSH's order.
fn in_openssh_order<T: AsRef<str>>(openssh: &[&'static str], ours: &[&T]) -> Vec<&'static str> {
    openssh.iter().copied().filter(|name| ours.iter().any(|ours| ours.as_ref() == *name)).collect()
}

/// Whether every name of a `-c`/`-m` list (OpenSSH `ciphers_valid`,
/// `mac_valid`: no wildcards) is one sshfwd supports.
pub fn valid_list(family: Family, list: &str) -> bool {
    let names = family.names();
    let list = list.strip_prefix(['+', '^']).unwrap_or(list);
    !list.is_empty() && list.split(',').all(|name| names.contains(&name))
}

fn names_of<T: AsRef<str>>(list: &[T]) -> Vec<String> {
    list.iter().map(|n| n.as_ref().to_owned()).collect()
}

fn all_names<T: AsRef<str>>(list: &[&T]) -> Vec<String> {
    list.iter().map(|n| n.as_ref().to_owned()).collect()
}

/// Applies one option value to the default list, keeping only names that
/// are supported.
fn apply(
    option: &'static str,
    value: &str,
    defaults: &[String],
    supported: &[String],
) -> Result<Vec<String>, AlgorithmError> {
    let mut chars = value.chars();
    let (mode, list) = match chars.next() {
        Some(c @ ('+' | '-' | '^')) => (c, chars.as_str()),
        _ => ('=', value),
    };
    let items: Vec<&str> = list.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    let matching =
        |pattern: &str| -> Vec<String> { supported.iter().filter(|n| wildcard(n, pattern)).cloned().collect() };
    let mut result: Vec<String> = match mode {
        '+' => {
            let mut r = defaults.to_vec();
            for item in &items {
                for n in matching(item) {
                    if !r.contains(&n) {
                        r.push(n);
                    }
                }
            }
            r
        }
        '-' => defaults.iter().filter(|n| !items.iter().any(|p| wildcard(n, p))).cloned().collect(),
        '^' => {
            let mut r: Vec<String> = items.iter().flat_map(|p| matching(p)).collect();
            r.extend(defaults.iter().filter(|n| !r.contains(n)).cloned().collect::<Vec<_>>());
            r
        }
        _ => items.iter().flat_map(|p| matching(p)).collect(),
    };
    result.dedup();
    if result.is_empty() {
        return Err(AlgorithmError::NoneSupported { option, value: value.to_owned() });
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn option_forms() {
        let defaults = s(&["a", "b", "c"]);
        let supported = s(&["a", "b", "c", "d", "d-x"]);
        let cases: &[(&str, &[&str])] = &[
            ("d,a", &["d", "a"]),
            ("+d", &["a", "b", "c", "d"]),
            ("-b", &["a", "c"]),
            ("^c", &["c", "a", "b"]),
            ("d*", &["d", "d-x"]),
            ("a,unknown", &["a"]),
            ("-d*", &["a", "b", "c"]),
            ("^d?x", &["d-x", "a", "b", "c"]),
        ];
        for (value, expected) in cases {
            assert_eq!(apply("X", value, &defaults, &supported).unwrap(), s(expected), "{value}");
        }
        assert!(apply("X", "nope", &defaults, &supported).is_err());
        // Removing every default leaves nothing to offer.
        assert!(apply("X", "-?", &defaults, &supported).is_err());
    }

    #[test]
    fn queries_list_what_russh_supports_in_opensshs_order() {
        // All of OpenSSH's but 3des-cbc (russh is built without "des").
        assert_eq!(OPENSSH_CIPHERS.first(), Some(&"3des-cbc"));
        assert_eq!(Family::Cipher.names(), OPENSSH_CIPHERS.get(1..).unwrap());
        assert_eq!(Family::CipherAuth.names(), AEAD_CIPHERS);
        assert_eq!(
            Family::Mac.names(),
            [
                "hmac-sha1",
                "hmac-sha2-256",
                "hmac-sha2-512",
                "hmac-sha1-etm@openssh.com",
                "hmac-sha2-256-etm@openssh.com",
                "hmac-sha2-512-etm@openssh.com"
            ]
        );
        let kex = Family::Kex.names();
        assert_eq!(kex.first(), Some(&"diffie-hellman-group1-sha1"));
        assert!(!kex.contains(&"sntrup761x25519-sha512") && !kex.contains(&"none"));
        assert!(!kex.contains(&"mlkem768x25519-sha256"), "a 9.2 sshd refuses a list naming it");
        assert_eq!(kex.last(), Some(&"curve25519-sha256@libssh.org"));
        assert!(kex.contains(&"curve25519-sha256"));
        assert_eq!(Family::Compression.names(), ["none", "zlib@openssh.com", "zlib"]);
        // Every key type listed parses as an algorithm russh knows.
        for name in Family::KeyPlain.names().into_iter().chain(Family::Sig.names()) {
            assert!(name.parse::<Algorithm>().is_ok(), "{name}");
        }
    }

    #[test]
    fn cipher_and_mac_specs_are_checked_name_by_name() {
        assert!(valid_list(Family::Cipher, "aes128-ctr,aes256-gcm@openssh.com"));
        assert!(valid_list(Family::Cipher, "+aes128-cbc"));
        assert!(!valid_list(Family::Cipher, "aes128-ctr,3des-cbc"));
        assert!(!valid_list(Family::Cipher, "aes*"));
        assert!(valid_list(Family::Mac, "hmac-sha2-256"));
        assert!(!valid_list(Family::Mac, "umac-64@openssh.com"));
    }

    #[test]
    fn compression_is_offered_only_when_asked_for_first() {
        let off = AlgorithmOptions::default().preferred().unwrap();
        assert_eq!(off.compression.first().map(|n| n.as_ref()), Some("none"));
        let on = AlgorithmOptions { compression: true, ..Default::default() }.preferred().unwrap();
        assert_eq!(on.compression.first().map(|n| n.as_ref()), Some("zlib@openssh.com"));
    }

    #[test]
    fn ciphers_map_to_russh_names() {
        let options = AlgorithmOptions { ciphers: Some("aes128-gcm@openssh.com".into()), ..Default::default() };
        let p = options.preferred().unwrap();
        assert_eq!(p.cipher.len(), 1);
        assert_eq!(p.cipher[0].as_ref(), "aes128-gcm@openssh.com");
    }
}
