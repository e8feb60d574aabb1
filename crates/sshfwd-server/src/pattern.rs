//! OpenSSH's patterns (`ssh_config(5)` PATTERNS): `*` and `?` wildcards,
//! comma-separated lists with `!` negation, and address/prefix-length
//! entries for client addresses.

use std::net::IpAddr;

/// Whether `text` matches the wildcard `pattern` (`*`: any run of
/// characters, `?`: exactly one), ignoring ASCII case.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let text: Vec<char> = text.chars().map(|c| c.to_ascii_lowercase()).collect();
    // Iterative matcher with one backtrack point (the last `*`): linear in
    // practice, never recursive.
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || Some(&c) == text.get(t) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern.get(p..).is_some_and(|rest| rest.iter().all(|&c| c == '*'))
}

/// A comma-separated list of patterns, each possibly negated with `!`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternList {
    entries: Vec<(bool, String)>,
}

impl PatternList {
    /// Splits `list` at commas. Empty entries are refused.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut entries = Vec::new();
        for raw in list.split(',') {
            let raw = raw.trim();
            let (negated, pattern) = match raw.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, raw),
            };
            if pattern.is_empty() {
                return Err(format!("empty pattern in \"{list}\""));
            }
            if pattern.contains('/') {
                parse_cidr(pattern)?;
            }
            entries.push((negated, pattern.to_owned()));
        }
        Ok(Self { entries })
    }

    /// OpenSSH's rule: a matching negated entry refuses whatever else
    /// matches; otherwise any matching positive entry accepts.
    pub fn matches_address(&self, address: IpAddr) -> bool {
        let text = address.to_string();
        let mut accepted = false;
        for (negated, pattern) in &self.entries {
            let hit = if pattern.contains('/') {
                parse_cidr(pattern).is_ok_and(|(network, bits)| in_network(address, network, bits))
            } else {
                wildcard_match(pattern, &text)
            };
            if hit {
                if *negated {
                    return false;
                }
                accepted = true;
            }
        }
        accepted
    }
}

fn parse_cidr(text: &str) -> Result<(IpAddr, u8), String> {
    let bad = || format!("bad address/prefix \"{text}\"");
    let (address, bits) = text.split_once('/').ok_or_else(bad)?;
    let address: IpAddr = address.parse().map_err(|_| bad())?;
    let bits: u8 = bits.parse().map_err(|_| bad())?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    if bits > max {
        return Err(bad());
    }
    Ok((address, bits))
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

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("127.0.0.*", "127.0.0.1"));
        assert!(wildcard_match("127.0.0.?", "127.0.0.1"));
        assert!(!wildcard_match("127.0.0.?", "127.0.0.12"));
        assert!(wildcard_match("*.example.COM", "gw.example.com"));
        assert!(wildcard_match("a*b*c", "axxbyyc"));
        assert!(!wildcard_match("a*b*c", "axxbyy"));
        assert!(!wildcard_match("10.*", "110.0.0.1"));
    }

    #[test]
    fn negation_wins() {
        let list = PatternList::parse("127.0.0.*,!127.0.0.2").unwrap();
        assert!(list.matches_address("127.0.0.1".parse().unwrap()));
        assert!(!list.matches_address("127.0.0.2".parse().unwrap()));
        assert!(!list.matches_address("10.0.0.1".parse().unwrap()));
        // Only negations: nothing is accepted (sshd agrees).
        let only_negative = PatternList::parse("!10.0.0.1").unwrap();
        assert!(!only_negative.matches_address("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn prefixes() {
        let list = PatternList::parse("10.0.0.0/8,::1/128").unwrap();
        assert!(list.matches_address("10.1.2.3".parse().unwrap()));
        assert!(!list.matches_address("11.1.2.3".parse().unwrap()));
        assert!(list.matches_address("::1".parse().unwrap()));
        assert!(list.matches_address("::ffff:10.0.0.1".parse().unwrap()));
        assert!(PatternList::parse("10.0.0.0/33").is_err());
        assert!(PatternList::parse("a,,b").is_err());
    }
}
