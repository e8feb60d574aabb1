//! OpenSSH wildcard patterns (`*`, `?`) and comma-separated pattern lists with
//! `!` negation, as used by `Host`, `Match` and known_hosts host fields
//! (OpenSSH `match.c`).

/// The result of matching a string against a pattern list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListMatch {
    /// No pattern matched.
    None,
    /// At least one positive pattern matched and no negated one did.
    Positive,
    /// A negated pattern matched: the list as a whole must not match, whatever
    /// else it contains.
    Negated,
}

impl ListMatch {
    /// Whether the list matched (a positive match and no negated one).
    pub fn is_match(self) -> bool {
        self == ListMatch::Positive
    }
}

/// Matches `text` against one wildcard `pattern`: `*` is any run of
/// characters (possibly empty), `?` is exactly one; everything else is
/// literal and case-sensitive.
pub fn wildcard(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    // Iterative matcher with one backtrack point: the position after the
    // last `*` and the text position it currently absorbs up to. O(n*m) at
    // worst, never exponential.
    let (mut t, mut p) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                p += 1;
                star = Some((p, t));
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// Matches `text` against a comma-separated pattern list such as
/// `*.example.com,!bad.example.com`. With `lowercase`, each pattern is
/// lowercased first (OpenSSH's `dolower`, used for host names, whose caller
/// also lowercases the text).
pub fn list(text: &str, patterns: &str, lowercase: bool) -> ListMatch {
    let mut result = ListMatch::None;
    for pattern in patterns.split(',') {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        let matched = if lowercase { wildcard(text, &pattern.to_lowercase()) } else { wildcard(text, pattern) };
        if matched {
            if negated {
                return ListMatch::Negated;
            }
            result = ListMatch::Positive;
        }
    }
    result
}

/// Matches a host name against a pattern list, ignoring case (OpenSSH
/// `match_hostname`).
pub fn host_list(host: &str, patterns: &str) -> ListMatch {
    list(&host.to_lowercase(), patterns, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_table() {
        let cases = [
            ("host", "host", true),
            ("host", "hos", false),
            ("host", "hostx", false),
            ("host", "*", true),
            ("", "*", true),
            ("", "", true),
            ("", "?", false),
            ("a.example.com", "*.example.com", true),
            ("example.com", "*.example.com", false),
            ("host1", "host?", true),
            ("host12", "host?", false),
            ("abcabcabd", "*abd", true),
            ("abcabcabd", "a*c*d", true),
            ("abcabcabe", "a*c*d", false),
            ("[h]:2222", "[h]:2222", true),
            ("[h.example]:2222", "[*.example]:*", true),
            ("Host", "host", false),
            ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "*a*a*a*a*a*a*a*a*c", false),
        ];
        for (text, pattern, want) in cases {
            assert_eq!(wildcard(text, pattern), want, "{text:?} vs {pattern:?}");
        }
    }

    #[test]
    fn list_table() {
        use ListMatch::*;
        let cases = [
            ("a.example.com", "*.example.com", Positive),
            ("a.example.com", "x,*.example.com", Positive),
            ("a.example.com", "*.example.com,!a.example.com", Negated),
            // A negation wins wherever it appears in the list.
            ("a.example.com", "!a.example.com,*", Negated),
            ("b.example.com", "*,!a.example.com", Positive),
            // Only negations and none matched: no positive match either.
            ("b.example.com", "!a.example.com", None),
            ("other", "x,y", None),
        ];
        for (text, patterns, want) in cases {
            assert_eq!(list(text, patterns, false), want, "{text:?} vs {patterns:?}");
        }
    }

    #[test]
    fn host_list_ignores_case() {
        assert!(host_list("Server.Example.COM", "*.example.com").is_match());
        assert!(host_list("server", "SERVER").is_match());
        assert!(!host_list("server", "other").is_match());
    }
}
