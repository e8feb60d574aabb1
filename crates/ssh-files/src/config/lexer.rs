//! Splitting one ssh_config line into a keyword and its arguments, like
//! OpenSSH's `strdelim` and `argv_split` (misc.c).

/// A line that holds a directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line<'a> {
    /// The keyword as written (callers compare it without case).
    pub(crate) keyword: &'a str,
    /// The arguments with quotes and escapes removed, up to a `#` comment.
    pub(crate) args: Vec<String>,
    /// The text after the keyword and its separator, untouched (for the
    /// command-valued keywords, which take the rest of the line).
    pub(crate) raw: &'a str,
}

/// Why a line could not be split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LexError {
    /// A keyword with nothing after it.
    NoArgument,
    /// A quote that is not closed.
    InvalidQuotes,
}

const WHITESPACE: &[char] = &[' ', '\t', '\r', '\n'];

/// Splits a line. `Ok(None)` for blank lines and comments.
///
/// The keyword ends at whitespace or `=`: `Port 22`, `Port=22` and
/// `Port = 22` are the same. Arguments are separated by blanks; `"…"` and
/// `'…'` quote, `\` escapes a quote, a backslash or (outside quotes) a space,
/// and a `#` at the start of an argument ends the line.
pub(crate) fn split(line: &str) -> Result<Option<Line<'_>>, LexError> {
    let line = line.trim_end_matches(|c| WHITESPACE.contains(&c) || c == '\x0c').trim_start_matches(WHITESPACE);
    let keyword_end = line.find(|c| WHITESPACE.contains(&c) || c == '=').unwrap_or(line.len());
    let (keyword, rest) = line.split_at(keyword_end);
    if keyword.is_empty() || keyword.starts_with('#') {
        return Ok(None);
    }
    // Only one `=` may separate the keyword from its value.
    let (had_equals, rest) = match rest.strip_prefix('=') {
        Some(after) => (true, after),
        None => (false, rest),
    };
    let mut rest = rest.trim_start_matches(WHITESPACE);
    if !had_equals {
        if let Some(after) = rest.strip_prefix('=') {
            rest = after.trim_start_matches(WHITESPACE);
        }
    }
    let args = split_args(rest)?;
    if args.is_empty() {
        return Err(LexError::NoArgument);
    }
    Ok(Some(Line { keyword, args, raw: rest }))
}

/// OpenSSH's `argv_split` with `terminate_on_comment`.
fn split_args(text: &str) -> Result<Vec<String>, LexError> {
    let mut args = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|&c| c == ' ' || c == '\t').is_some() {}
        match chars.peek() {
            None | Some('#') => return Ok(args),
            Some(_) => {}
        }
        let mut arg = String::new();
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match (c, quote) {
                ('\\', _) => match chars.peek() {
                    Some(&next) if next == '\'' || next == '"' || next == '\\' || (next == ' ' && quote.is_none()) => {
                        arg.push(next);
                        chars.next();
                    }
                    // An unknown escape is kept as written.
                    _ => arg.push('\\'),
                },
                (' ' | '\t', None) => break,
                ('"' | '\'', None) => quote = Some(c),
                (c, Some(q)) if c == q => quote = None,
                (c, _) => arg.push(c),
            }
        }
        if quote.is_some() {
            return Err(LexError::InvalidQuotes);
        }
        args.push(arg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(line: &str) -> Option<(String, Vec<String>)> {
        split(line).unwrap().map(|l| (l.keyword.to_string(), l.args))
    }

    fn some(keyword: &str, args: &[&str]) -> Option<(String, Vec<String>)> {
        Some((keyword.to_string(), args.iter().map(|s| s.to_string()).collect()))
    }

    #[test]
    fn splits_lines() {
        let cases = [
            ("", None),
            ("   \t ", None),
            ("# a comment", None),
            ("   # indented", None),
            ("Port 22", some("Port", &["22"])),
            ("Port=22", some("Port", &["22"])),
            ("Port = 22", some("Port", &["22"])),
            ("Port =22", some("Port", &["22"])),
            ("  port\t22  \r", some("port", &["22"])),
            ("Port 22 # trailing comment", some("Port", &["22"])),
            ("Port 22 #", some("Port", &["22"])),
            // `#` inside an argument is not a comment.
            ("User a#b", some("User", &["a#b"])),
            ("IdentityFile \"/path/with space/id\"", some("IdentityFile", &["/path/with space/id"])),
            ("IdentityFile '/a b'", some("IdentityFile", &["/a b"])),
            ("IdentityFile /a\\ b", some("IdentityFile", &["/a b"])),
            ("IdentityFile a\"b c\"d", some("IdentityFile", &["ab cd"])),
            ("IdentityFile \"a\\\"b\"", some("IdentityFile", &["a\"b"])),
            ("IdentityFile a\\xb", some("IdentityFile", &["a\\xb"])),
            ("IdentityFile \"\"", some("IdentityFile", &[""])),
            ("Host a b  c", some("Host", &["a", "b", "c"])),
            ("LocalForward 8080 localhost:80", some("LocalForward", &["8080", "localhost:80"])),
            // A second `=` is part of the value.
            ("SetEnv=A=b", some("SetEnv", &["A=b"])),
            ("Port==22", some("Port", &["=22"])),
            // Form feed is allowed at the end of a line.
            ("Port 22\x0c", some("Port", &["22"])),
        ];
        for (line, want) in cases {
            assert_eq!(parts(line), want, "{line:?}");
        }
    }

    #[test]
    fn keeps_the_raw_rest_of_the_line() {
        let line = split("ProxyCommand ssh -W %h:%p \"gw\"").unwrap().unwrap();
        assert_eq!(line.raw, "ssh -W %h:%p \"gw\"");
    }

    #[test]
    fn reports_errors() {
        assert_eq!(split("Port"), Err(LexError::NoArgument));
        assert_eq!(split("Port   "), Err(LexError::NoArgument));
        assert_eq!(split("Port #22"), Err(LexError::NoArgument));
        assert_eq!(split("Port ="), Err(LexError::NoArgument));
        assert_eq!(split("User \"open"), Err(LexError::InvalidQuotes));
        assert_eq!(split("User 'open"), Err(LexError::InvalidQuotes));
    }
}
