//! One known_hosts line: `[@marker] hosts keytype base64key [comment]`.

use base64ct::{Base64, Encoding};
use thiserror::Error;

use super::hash::HashedHost;
use crate::pattern;

/// The marker before the host field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marker {
    None,
    /// `@revoked`: this key must never be accepted.
    Revoked,
    /// `@cert-authority`: the key signs host certificates.
    CertAuthority,
}

/// The host field: a pattern list or one hashed name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Hosts {
    Patterns(String),
    Hashed(HashedHost),
}

impl Hosts {
    /// Whether the field names `host` (lowercase, `host` or `[host]:port`).
    pub(crate) fn matches(&self, host: &str) -> bool {
        match self {
            Hosts::Patterns(patterns) => pattern::host_list(host, patterns).is_match(),
            Hosts::Hashed(hashed) => hashed.matches(host),
        }
    }
}

/// A well-formed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) marker: Marker,
    pub(crate) hosts: Hosts,
    /// The key type as written, e.g. `ssh-ed25519`.
    pub(crate) key_type: String,
    /// The decoded key blob.
    pub(crate) key: Vec<u8>,
}

/// Why a line was skipped. OpenSSH skips such lines too, with a debug note.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MalformedLine {
    /// A word starting with `@` that is not a known marker.
    #[error("unknown marker '{0}'")]
    UnknownMarker(String),
    /// Nothing after the marker.
    #[error("missing host field")]
    MissingHosts,
    /// `|1|…` that does not decode to a salt and a digest.
    #[error("bad hashed host field")]
    BadHash,
    /// No key type or no key after the hosts.
    #[error("missing key")]
    MissingKey,
    /// The key is not valid base64 (or is an SSH-1 `bits e n` key).
    #[error("bad key data")]
    BadKey,
}

/// Parses one line. `Ok(None)` for blank lines and comments.
pub(crate) fn parse(line: &str) -> Result<Option<Entry>, MalformedLine> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let mut words = line.split_ascii_whitespace();
    let mut first = words.next().ok_or(MalformedLine::MissingHosts)?;
    let marker = if first.starts_with('@') {
        let marker = match first {
            "@revoked" => Marker::Revoked,
            "@cert-authority" => Marker::CertAuthority,
            other => return Err(MalformedLine::UnknownMarker(other.to_string())),
        };
        first = words.next().ok_or(MalformedLine::MissingHosts)?;
        marker
    } else {
        Marker::None
    };
    let hosts = if HashedHost::looks_hashed(first) {
        Hosts::Hashed(HashedHost::parse(first).ok_or(MalformedLine::BadHash)?)
    } else {
        Hosts::Patterns(first.to_string())
    };
    let key_type = words.next().ok_or(MalformedLine::MissingKey)?;
    let key = words.next().ok_or(MalformedLine::MissingKey)?;
    let key = Base64::decode_vec(key).map_err(|_| MalformedLine::BadKey)?;
    // The rest is a comment. An SSH-1 key ("2048 35 1234…") fails above,
    // since its "type" is a number and its "key" a decimal exponent.
    if key_type.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MalformedLine::BadKey);
    }
    Ok(Some(Entry { marker, hosts, key_type: key_type.to_string(), key }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIKWSCtEqZRxitQUlSFBHXC1t4Xa+6DlzrKl7peCBqgHR";

    #[test]
    fn skips_blank_and_comment_lines() {
        for line in ["", "   ", "\t", "# comment", "   # indented comment"] {
            assert_eq!(parse(line), Ok(None), "{line:?}");
        }
    }

    #[test]
    fn parses_entries() {
        let entry = parse(&format!("host1,host2 ssh-ed25519 {KEY} a comment")).unwrap().unwrap();
        assert_eq!(entry.marker, Marker::None);
        assert_eq!(entry.hosts, Hosts::Patterns("host1,host2".into()));
        assert_eq!(entry.key_type, "ssh-ed25519");
        assert_eq!(entry.key, Base64::decode_vec(KEY).unwrap());

        let entry = parse(&format!("@revoked * ssh-ed25519 {KEY}")).unwrap().unwrap();
        assert_eq!(entry.marker, Marker::Revoked);
        let entry = parse(&format!("@cert-authority *.example.com ssh-ed25519 {KEY}\r")).unwrap().unwrap();
        assert_eq!(entry.marker, Marker::CertAuthority);
        let entry = parse(&format!("|1|AQIDBAUGBwgJCgsMDQ4PEBESExQ=|qvtG0DaqrsqPDhV2Ni+wmYohchA= ssh-ed25519 {KEY}"))
            .unwrap()
            .unwrap();
        assert!(entry.hosts.matches("example.com"));
    }

    #[test]
    fn reports_malformed_lines() {
        let cases = [
            (format!("@bogus host ssh-ed25519 {KEY}"), MalformedLine::UnknownMarker("@bogus".into())),
            ("@revoked".to_string(), MalformedLine::MissingHosts),
            ("host".to_string(), MalformedLine::MissingKey),
            ("host ssh-ed25519".to_string(), MalformedLine::MissingKey),
            ("host ssh-ed25519 not*base64".to_string(), MalformedLine::BadKey),
            (format!("|1|xx|yy ssh-ed25519 {KEY}"), MalformedLine::BadHash),
            // SSH-1 RSA keys: "bits exponent modulus".
            ("host 1024 35 1234567".to_string(), MalformedLine::BadKey),
        ];
        for (line, want) in cases {
            assert_eq!(parse(&line), Err(want), "{line:?}");
        }
    }
}
