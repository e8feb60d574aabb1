//! OpenSSH wildcard patterns (`*`, `?`) and comma-separated pattern lists with
//! `!` negation, as used by `Host`, `Match` and known_hosts host fields
//! (OpenSSH `match.c`), by algorithm lists, and by `authorized_keys`
//! `from=` address lists ([`PatternList`], which adds address/prefix-length
//! entries as OpenSSH `addrmatch.c` does).
//!
//! This is the workspace's only wildcard matcher.

mod address_list;

pub use address_list::{PatternList, PatternListError};

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
/// literal and case-sensitive (OpenSSH `match_pattern`).
pub fn wildcard(text: &str, pattern: &str) -> bool {
    matches(text, pattern, |a, b| a == b)
}

/// [`wildcard`], ignoring ASCII case: for host names and addresses, which
/// OpenSSH compares lowercased.
pub fn wildcard_ignore_ascii_case(text: &str, pattern: &str) -> bool {
    matches(text, pattern, |a, b| a.eq_ignore_ascii_case(&b))
}

/// The one wildcard matcher. Iterative, with one backtrack point: the
/// position after the last `*` seen and how far into the text that `*`
/// reaches. Retrying from the last `*` alone is enough, because whatever an
/// earlier `*` could absorb the last one can absorb too. At most
/// O(text × pattern) steps, never exponential, never recursive.
fn matches(text: &str, pattern: &str, same: impl Fn(char, char) -> bool) -> bool {
    let text: Vec<char> = text.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    let (mut t, mut p) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while let Some(&c) = text.get(t) {
        match pattern.get(p) {
            Some('*') => {
                p += 1;
                star = Some((p, t));
            }
            Some(&wanted) if wanted == '?' || same(c, wanted) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((after_star, reach)) => {
                    p = after_star;
                    t = reach + 1;
                    star = Some((after_star, reach + 1));
                }
                None => return false,
            },
        }
    }
    pattern.get(p..).is_some_and(|rest| rest.iter().all(|&c| c == '*'))
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
            ("h", "?*", true),
            ("axxbyyc", "a*b*c", true),
            ("axxbyy", "a*b*c", false),
            ("110.0.0.1", "10.*", false),
            ("127.0.0.1", "127.0.0.?", true),
            ("127.0.0.12", "127.0.0.?", false),
            ("", "**", true),
            ("abc", "a**c", true),
            ("ab", "*?*?*?", false),
            ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "*a*a*a*a*a*a*a*a*c", false),
        ];
        for (text, pattern, want) in cases {
            assert_eq!(wildcard(text, pattern), want, "{text:?} vs {pattern:?}");
        }
    }

    #[test]
    fn ignoring_ascii_case() {
        assert!(wildcard_ignore_ascii_case("gw.example.com", "*.example.COM"));
        assert!(wildcard_ignore_ascii_case("FE80::1", "fe80::*"));
        assert!(!wildcard_ignore_ascii_case("10.0.0.1", "10.*.2"));
        assert!(!wildcard("gw.example.com", "*.example.COM"));
    }

    /// A recursive matcher takes exponential time here: every `*` may end at
    /// each of the many `a`s before the final `b` fails.
    #[test]
    fn many_stars_against_a_long_mismatch_are_fast() {
        let text = "a".repeat(20_000);
        let started = std::time::Instant::now();
        assert!(!wildcard(&text, "*a*a*a*a*a*a*a*a*b"));
        assert!(!wildcard_ignore_ascii_case(&text, "*a*a*a*a*a*a*a*a*b"));
        let elapsed = started.elapsed();
        assert!(elapsed < std::time::Duration::from_millis(100), "took {elapsed:?}");
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
