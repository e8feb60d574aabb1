//! Ciphers, KexAlgorithms, MACs and HostKeyAlgorithms as OpenSSH spells them
//! (`a,b`, `+a` append, `-a` remove, `^a` put first; wildcards in the
//! removal list), turned into russh's preference lists.

use std::borrow::Cow;

use russh::keys::Algorithm;
use russh::{cipher, kex, mac, Preferred};
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
}

impl AlgorithmOptions {
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
        Ok(preferred)
    }
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
    fn ciphers_map_to_russh_names() {
        let options = AlgorithmOptions { ciphers: Some("aes128-gcm@openssh.com".into()), ..Default::default() };
        let p = options.preferred().unwrap();
        assert_eq!(p.cipher.len(), 1);
        assert_eq!(p.cipher[0].as_ref(), "aes128-gcm@openssh.com");
    }
}
