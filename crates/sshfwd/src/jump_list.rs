//! `ProxyJump`/`-J` lists as OpenSSH's `parse_jump` reads them:
//! `none`, or hops separated by commas, each `[user@]host[:port]` (an
//! IPv6 host in brackets) or `ssh://[user@]host[:port]`.

use crate::cli::{parse_port, Destination};

/// One hop, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JumpSpec {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JumpListError {
    /// A hop that is not `[user@]host[:port]` or an ssh:// URI.
    #[error("Invalid ProxyJump \"{0}\"")]
    Invalid(String),
}

/// The hops in the order they are passed through (the first is connected
/// to first); empty for `none`.
pub fn parse(list: &str) -> Result<Vec<JumpSpec>, JumpListError> {
    let list = list.trim();
    if list.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    let invalid = || JumpListError::Invalid(list.to_owned());
    list.split(',').map(|hop| parse_hop(hop).ok_or_else(invalid)).collect()
}

/// `host:port` or `[host]:port`, as `-W` takes it.
pub fn parse_host_port(text: &str) -> Option<(String, u16)> {
    match parse_hop(text)? {
        JumpSpec { user: None, host, port: Some(port) } if !text.starts_with("ssh://") => Some((host, port)),
        _ => None,
    }
}

fn parse_hop(text: &str) -> Option<JumpSpec> {
    if text.starts_with("ssh://") {
        let Destination { user, host, port } = text.parse().ok()?;
        return Some(JumpSpec { user, host, port });
    }
    let (user, rest) = match text.rsplit_once('@') {
        Some((user, rest)) if !user.is_empty() => (Some(user.to_owned()), rest),
        Some(_) => return None,
        None => (None, text),
    };
    let (host, port) = match rest.strip_prefix('[') {
        Some(bracketed) => {
            let (host, after) = bracketed.split_once(']')?;
            match after {
                "" => (host, None),
                after => (host, Some(after.strip_prefix(':')?)),
            }
        }
        None => match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        },
    };
    let port = port.map(parse_port).transpose().ok()?;
    let valid = !host.is_empty() && !host.contains(char::is_whitespace);
    valid.then(|| JumpSpec { user, host: host.to_owned(), port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(user: Option<&str>, host: &str, port: Option<u16>) -> JumpSpec {
        JumpSpec { user: user.map(str::to_string), host: host.into(), port }
    }

    #[test]
    fn parses_hop_lists() {
        let cases = [
            ("none", vec![]),
            ("NONE", vec![]),
            ("gw", vec![hop(None, "gw", None)]),
            ("me@gw:2222", vec![hop(Some("me"), "gw", Some(2222))]),
            ("a,b@c:23", vec![hop(None, "a", None), hop(Some("b"), "c", Some(23))]),
            ("[::1]:2200", vec![hop(None, "::1", Some(2200))]),
            ("u@[fe80::1]", vec![hop(Some("u"), "fe80::1", None)]),
            ("ssh://me@gw:2222", vec![hop(Some("me"), "gw", Some(2222))]),
            ("a@b@gw", vec![hop(Some("a@b"), "gw", None)]),
        ];
        for (list, want) in cases {
            assert_eq!(parse(list), Ok(want), "{list}");
        }
        for bad in ["", "a,,b", "gw:", "gw:0", "gw:x", "@gw", "[::1", "[::1]x", "ssh://", "a b"] {
            assert_eq!(parse(bad), Err(JumpListError::Invalid(bad.trim().into())), "{bad:?}");
        }
    }

    #[test]
    fn parses_stdio_targets() {
        assert_eq!(parse_host_port("h:22"), Some(("h".into(), 22)));
        assert_eq!(parse_host_port("[::1]:22"), Some(("::1".into(), 22)));
        for bad in ["h", "u@h:22", "ssh://h:22", "h:0", ":22", "[::1]"] {
            assert_eq!(parse_host_port(bad), None, "{bad}");
        }
    }
}
