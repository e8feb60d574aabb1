//! Address pattern lists: `authorized_keys` `from="…"` and sshd's
//! `Match Address` (OpenSSH `addrmatch.c`). Each entry is a wildcard
//! pattern over the address's text, or an address/prefix-length network.

use std::net::IpAddr;

use super::wildcard_ignore_ascii_case;

/// Why an address pattern list does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternListError {
    /// An empty entry (`a,,b`, a trailing comma, a lone `!`); `list` is the
    /// whole list.
    #[error("empty pattern in \"{list}\"")]
    Empty { list: String },
    /// An entry with a `/` that is not an address and a prefix length that
    /// fits it.
    #[error("bad address/prefix \"{entry}\"")]
    BadPrefix { entry: String },
}

/// A comma-separated list of address patterns, each possibly negated with
/// `!`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternList {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    negated: bool,
    pattern: AddressPattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum AddressPattern {
    /// `*`/`?` over the address as text, ignoring case (IPv6 hex digits).
    Wildcard(String),
    /// `address/bits`.
    Network { network: IpAddr, bits: u8 },
}

impl PatternList {
    /// Splits `list` at commas; entries with a `/` are parsed as networks
    /// here, once.
    pub fn parse(list: &str) -> Result<Self, PatternListError> {
        let mut entries = Vec::new();
        for raw in list.split(',') {
            let raw = raw.trim();
            let (negated, pattern) = match raw.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, raw),
            };
            if pattern.is_empty() {
                return Err(PatternListError::Empty { list: list.to_owned() });
            }
            let pattern = match pattern.split_once('/') {
                Some((address, bits)) => parse_network(address, bits)
                    .ok_or_else(|| PatternListError::BadPrefix { entry: pattern.to_owned() })?,
                None => AddressPattern::Wildcard(pattern.to_owned()),
            };
            entries.push(Entry { negated, pattern });
        }
        Ok(Self { entries })
    }

    /// OpenSSH's rule: a matching negated entry refuses whatever else
    /// matches; otherwise any matching positive entry accepts.
    pub fn matches_address(&self, address: IpAddr) -> bool {
        let text = address.to_string();
        let mut accepted = false;
        for entry in &self.entries {
            let hit = match &entry.pattern {
                AddressPattern::Wildcard(pattern) => wildcard_ignore_ascii_case(&text, pattern),
                AddressPattern::Network { network, bits } => in_network(address, *network, *bits),
            };
            if hit {
                if entry.negated {
                    return false;
                }
                accepted = true;
            }
        }
        accepted
    }
}

fn parse_network(address: &str, bits: &str) -> Option<AddressPattern> {
    let network: IpAddr = address.parse().ok()?;
    let bits: u8 = bits.parse().ok()?;
    let max = if network.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some(AddressPattern::Network { network, bits })
}

fn in_network(address: IpAddr, network: IpAddr, bits: u8) -> bool {
    let address = match (address, network) {
        // An IPv4 client seen through an IPv6 socket.
        (IpAddr::V6(v6), IpAddr::V4(_)) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        _ => address,
    };
    match (address, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn wildcards_ignore_case() {
        let list = PatternList::parse("127.0.0.?,FE80::*").unwrap();
        assert!(list.matches_address(address("127.0.0.1")));
        assert!(!list.matches_address(address("127.0.0.12")));
        assert!(list.matches_address(address("fe80::1")));
        assert!(!PatternList::parse("10.*").unwrap().matches_address(address("110.0.0.1")));
    }

    #[test]
    fn negation_wins() {
        let list = PatternList::parse("127.0.0.*,!127.0.0.2").unwrap();
        assert!(list.matches_address(address("127.0.0.1")));
        assert!(!list.matches_address(address("127.0.0.2")));
        assert!(!list.matches_address(address("10.0.0.1")));
        // Only negations: nothing is accepted (sshd agrees).
        let only_negative = PatternList::parse("!10.0.0.1").unwrap();
        assert!(!only_negative.matches_address(address("127.0.0.1")));
    }

    #[test]
    fn prefixes() {
        let list = PatternList::parse("10.0.0.0/8,::1/128").unwrap();
        assert!(list.matches_address(address("10.1.2.3")));
        assert!(!list.matches_address(address("11.1.2.3")));
        assert!(list.matches_address(address("::1")));
        assert!(list.matches_address(address("::ffff:10.0.0.1")));
        assert!(PatternList::parse("0.0.0.0/0").unwrap().matches_address(address("192.0.2.1")));
        assert_eq!(
            PatternList::parse("10.0.0.0/33"),
            Err(PatternListError::BadPrefix { entry: "10.0.0.0/33".to_owned() })
        );
        assert!(PatternList::parse("10.0.0.x/8").is_err());
        assert_eq!(PatternList::parse("a,,b"), Err(PatternListError::Empty { list: "a,,b".to_owned() }));
        assert!(PatternList::parse("!").is_err());
    }
}
