//! Shell patterns in LIST and NLST arguments (`LIST *.csv`, `NLST
//! dir/*.log`, as `mget` sends them): `*`, `?` and `[...]` in the last
//! component of a path, matched against the names of its directory, with
//! no recursion. Like the shell, a wildcard does not match a leading `.`.

/// A pattern over one path component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(Vec<Token>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`: any one character.
    One,
    /// `*`: any run of characters, the empty one included.
    Any,
    /// `[...]`: one character in (or, with `!` or `^`, not in) the ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Glob {
    /// The pattern `component` spells, or `None` when it has no wildcard
    /// and names one file. A `[` with no closing `]` is a literal.
    pub fn new(component: &str) -> Option<Self> {
        let chars: Vec<char> = component.chars().collect();
        let mut tokens = Vec::with_capacity(chars.len());
        let mut wild = false;
        let mut index = 0;
        while let Some(&c) = chars.get(index) {
            index += 1;
            let token = match c {
                '*' => Token::Any,
                '?' => Token::One,
                '[' => match class(chars.get(index..).unwrap_or_default()) {
                    Some((token, used)) => {
                        index += used;
                        token
                    }
                    None => Token::Literal('['),
                },
                c => Token::Literal(c),
            };
            wild |= !matches!(token, Token::Literal(_));
            // `**` is `*`, and collapsing it keeps matching linear.
            if !(token == Token::Any && tokens.last() == Some(&Token::Any)) {
                tokens.push(token);
            }
        }
        wild.then_some(Self(tokens))
    }

    /// Whether `name` matches the whole pattern.
    pub fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        if name.first() == Some(&'.') && self.0.first().is_some_and(|t| !matches!(t, Token::Literal('.'))) {
            return false;
        }
        // The classic backtracking over the last `*` only: a later `*`
        // can absorb whatever an earlier one would have, so the match is
        // O(pattern × name) at worst.
        let (mut p, mut n) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while n < name.len() {
            match (self.0.get(p), name.get(n)) {
                (Some(Token::Any), _) => {
                    star = Some((p, n));
                    p += 1;
                }
                (Some(token), Some(&c)) if token.matches_one(c) => {
                    p += 1;
                    n += 1;
                }
                _ => match star {
                    Some((star_p, star_n)) => {
                        p = star_p + 1;
                        n = star_n + 1;
                        star = Some((star_p, star_n + 1));
                    }
                    None => return false,
                },
            }
        }
        self.0.get(p..).unwrap_or_default().iter().all(|t| *t == Token::Any)
    }
}

impl Token {
    fn matches_one(&self, c: char) -> bool {
        match self {
            Token::Literal(l) => *l == c,
            Token::One => true,
            Token::Any => false,
            Token::Class { negated, ranges } => ranges.iter().any(|&(low, high)| (low..=high).contains(&c)) != *negated,
        }
    }
}

/// The class after a `[`, and the characters it used, its `]` included;
/// `None` when no `]` closes it. A `]` right after `[` or `[!` is a
/// member, as in the shell.
fn class(chars: &[char]) -> Option<(Token, usize)> {
    let mut index = 0;
    let negated = matches!(chars.first(), Some('!' | '^'));
    if negated {
        index += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let &c = chars.get(index)?;
        index += 1;
        if c == ']' && !first {
            return Some((Token::Class { negated, ranges }, index));
        }
        first = false;
        match (chars.get(index), chars.get(index + 1)) {
            (Some('-'), Some(&high)) if high != ']' => {
                index += 2;
                ranges.push((c, high));
            }
            _ => ranges.push((c, c)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn matching_table() {
        for (pattern, name, want) in [
            ("*.txt", "a.txt", true),
            ("*.txt", ".txt", false),
            ("*.txt", "a.txt.gz", false),
            ("*", "anything at all", true),
            ("*", "", true),
            ("*", ".hidden", false),
            (".*", ".hidden", true),
            ("?", "ü", true),
            ("?", "ab", false),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
            ("**x", "abx", true),
            ("[abc].log", "b.log", true),
            ("[abc].log", "d.log", false),
            ("[a-c]?", "cz", true),
            ("[!a-c]*", "d1", true),
            ("[^a-c]*", "a1", false),
            ("[]]", "]", true),
            ("[!]]", "x", true),
            ("x[-]y", "x-y", true),
            ("[a-]", "-", true),
            ("日本*", "日本語.txt", true),
        ] {
            let glob = Glob::new(pattern).unwrap_or_else(|| panic!("{pattern} is a pattern"));
            assert_eq!(glob.matches(name), want, "{pattern} against {name:?}");
        }
    }

    #[test]
    fn names_without_wildcards_are_not_patterns() {
        for name in ["a.txt", "dir", "", "[unclosed", "x]", "a b"] {
            assert_eq!(Glob::new(name), None, "{name}");
        }
        assert!(Glob::new("[unclosed*").is_some_and(|g| g.matches("[unclosed.x")));
    }

    proptest! {
        /// A name matches the pattern made of it with any part replaced by
        /// `*` or any character by `?`.
        #[test]
        fn names_match_their_generalisations(name in "[a-z.ü ]{0,12}", cut in any::<prop::sample::Index>(), len in 0usize..4) {
            let chars: Vec<char> = name.chars().collect();
            let at = cut.index(chars.len() + 1);
            let end = (at + len).min(chars.len());
            let head: String = chars[..at].iter().collect();
            let tail: String = chars[end..].iter().collect();
            let star = Glob::new(&format!("{head}*{tail}")).unwrap();
            let leading_dot = name.starts_with('.') && at == 0;
            prop_assert_eq!(star.matches(&name), !leading_dot);
            if end > at {
                let marks = "?".repeat(end - at);
                let one = Glob::new(&format!("{head}{marks}{tail}")).unwrap();
                prop_assert_eq!(one.matches(&name), !leading_dot);
            }
        }

        /// Matching agrees with a plain recursive matcher, and any text is
        /// a pattern or a name without panicking.
        #[test]
        fn agrees_with_a_reference(pattern in "[ab*?]{0,10}", name in "[ab]{0,10}") {
            fn reference(p: &[char], n: &[char]) -> bool {
                match (p.first(), n.first()) {
                    (None, _) => n.is_empty(),
                    (Some('*'), _) => reference(&p[1..], n) || (!n.is_empty() && reference(p, &n[1..])),
                    (Some('?'), Some(_)) => reference(&p[1..], &n[1..]),
                    (Some(c), Some(d)) if c == d => reference(&p[1..], &n[1..]),
                    _ => false,
                }
            }
            let p: Vec<char> = pattern.chars().collect();
            let n: Vec<char> = name.chars().collect();
            match Glob::new(&pattern) {
                Some(glob) => prop_assert_eq!(glob.matches(&name), reference(&p, &n)),
                None => prop_assert!(!pattern.contains(['*', '?'])),
            }
        }

        #[test]
        fn any_text_is_safe(pattern in ".{0,20}", name in ".{0,20}") {
            if let Some(glob) = Glob::new(&pattern) {
                let _ = glob.matches(&name);
            }
        }
    }
}
