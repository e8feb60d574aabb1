//! FTP server replies: where a multi-line reply starts and ends (RFC 959
//! §4.2), and the addresses in 227 (PASV) and 229 (EPSV) replies.

use std::net::SocketAddrV4;

use crate::command::trim_line_end;
use crate::numbers::{self, FieldError};

/// Why a 227 or 229 reply's address could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// The line does not start with the expected code.
    #[error("not a {0} reply")]
    WrongCode(u16),
    /// A 227 reply with no host-port in it.
    #[error("no h1,h2,h3,h4,p1,p2 address in the 227 reply")]
    NoHostPort,
    /// A 227 reply whose host-port has a bad number.
    #[error("bad address in the 227 reply: {0}")]
    BadHostPort(FieldError),
    /// A 229 reply with no `(|||port|)` in it.
    #[error("no (|||port|) in the 229 reply")]
    NoPort,
    /// A 229 reply whose port is 0 or above 65535.
    #[error("bad port in the 229 reply")]
    BadPort,
}

/// Where a line stands in the reply stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyLine {
    /// The code of the reply this line belongs to.
    pub code: u16,
    /// Whether the line itself starts with the code (`ddd ` or `ddd-`);
    /// only such lines carry a reply's meaning.
    pub coded: bool,
    /// Whether this line ends the reply.
    pub last: bool,
}

/// Follows replies across lines, so that text inside a multi-line reply is
/// never mistaken for a reply of its own.
#[derive(Debug, Default)]
pub struct ReplyTracker {
    open: Option<u16>,
}

impl ReplyTracker {
    /// Places one line; `None` for a line that is not a reply at all
    /// (garbage outside any reply).
    pub fn classify(&mut self, line: &[u8]) -> Option<ReplyLine> {
        let line = trim_line_end(line);
        let code_and_separator = code_of(line);
        match self.open {
            Some(open) => match code_and_separator {
                Some((code, b' ')) if code == open => {
                    self.open = None;
                    Some(ReplyLine { code, coded: true, last: true })
                }
                Some((code, b'-')) if code == open => Some(ReplyLine { code, coded: true, last: false }),
                _ => Some(ReplyLine { code: open, coded: false, last: false }),
            },
            None => match code_and_separator {
                Some((code, b'-')) => {
                    self.open = Some(code);
                    Some(ReplyLine { code, coded: true, last: false })
                }
                Some((code, _)) => Some(ReplyLine { code, coded: true, last: true }),
                None => None,
            },
        }
    }
}

/// `ddd` followed by space, `-` or the end of the line.
fn code_of(line: &[u8]) -> Option<(u16, u8)> {
    let digits = line.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) || digits.first() == Some(&b'0') {
        return None;
    }
    let separator = match line.get(3) {
        None => b' ',
        Some(&b) if b == b' ' || b == b'-' => b,
        Some(_) => return None,
    };
    let code = digits.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    Some((code, separator))
}

/// The address of a `227` line. The host-port is found wherever it is
/// (RFC 1123 §4.1.2.6: "scan for the first digit"), with or without
/// parentheses, with any text around it.
pub fn parse_pasv_reply(line: &[u8]) -> Result<SocketAddrV4, ReplyError> {
    let text = reply_text(line, 227)?;
    let mut first_error = None;
    let starts = (0..text.len()).filter(|&i| {
        text.get(i).is_some_and(u8::is_ascii_digit) && (i == 0 || !text.get(i - 1).is_some_and(u8::is_ascii_digit))
    });
    for start in starts {
        let candidate = host_port_span(text.get(start..).unwrap_or_default());
        match numbers::host_port(candidate) {
            Ok(address) => return Ok(address),
            Err(FieldError::NotSixNumbers) => {}
            Err(e) => {
                first_error.get_or_insert(ReplyError::BadHostPort(e));
            }
        }
    }
    Err(first_error.unwrap_or(ReplyError::NoHostPort))
}

/// The longest prefix made only of digits, commas and spaces, without
/// trailing spaces or commas.
fn host_port_span(text: &[u8]) -> &[u8] {
    let end = text.iter().position(|b| !(b.is_ascii_digit() || *b == b',' || *b == b' ')).unwrap_or(text.len());
    let span = text.get(..end).unwrap_or_default();
    let trimmed = span.iter().rposition(u8::is_ascii_digit).map_or(0, |i| i + 1);
    span.get(..trimmed).unwrap_or_default()
}

/// The port of a `229` line: `(<d><d><d>port<d>)` with any delimiter
/// (RFC 2428 §3), parentheses optional.
pub fn parse_epsv_reply(line: &[u8]) -> Result<u16, ReplyError> {
    let text = reply_text(line, 229)?;
    let mut result = Err(ReplyError::NoPort);
    for (i, window) in text.windows(3).enumerate() {
        let [a, b, c] = window else { continue };
        if a != b || b != c || !(33..=126).contains(a) || a.is_ascii_digit() {
            continue;
        }
        let rest = text.get(i + 3..).unwrap_or_default();
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || rest.get(digits) != Some(a) {
            continue;
        }
        match numbers::port(rest.get(..digits).unwrap_or_default()) {
            Ok(port) => return Ok(port),
            Err(_) => result = Err(ReplyError::BadPort),
        }
    }
    result
}

/// The text after `code` and its separator.
fn reply_text(line: &[u8], code: u16) -> Result<&[u8], ReplyError> {
    let line = trim_line_end(line);
    match code_of(line) {
        Some((c, _)) if c == code => Ok(line.get(4..).unwrap_or_default()),
        _ => Err(ReplyError::WrongCode(code)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasv_replies_seen_in_the_wild() {
        let ok = |s: &str, a: [u8; 4], p: u16| {
            assert_eq!(parse_pasv_reply(s.as_bytes()), Ok(SocketAddrV4::new(a.into(), p)), "{s}")
        };
        // proftpd: period after the parenthesis.
        ok("227 Entering Passive Mode (127,0,0,1,144,235).\r\n", [127, 0, 0, 1], 37099);
        // pyftpdlib, vsftpd: no period.
        ok("227 Entering passive mode (10,0,0,5,195,80).\r\n", [10, 0, 0, 5], 50000);
        ok("227 Entering Passive Mode (192,168,1,2,4,1)\n", [192, 168, 1, 2], 1025);
        // No parentheses (RFC 959 leaves the format open).
        ok("227 Entering Passive Mode 192,168,1,2,4,1\r\n", [192, 168, 1, 2], 1025);
        ok("227 =192,168,1,2,4,1\r\n", [192, 168, 1, 2], 1025);
        ok("227 192,168,1,2,4,1", [192, 168, 1, 2], 1025);
        // Spaces after commas, digits in the text before the address.
        ok("227 Mode 2 on (10, 1, 2, 3, 4, 5)\r\n", [10, 1, 2, 3], 1029);
        ok("227-Entering Passive Mode (10,1,2,3,4,5)\r\n", [10, 1, 2, 3], 1029);
    }

    #[test]
    fn bad_pasv_replies() {
        assert_eq!(
            parse_pasv_reply(b"227 Entering Passive Mode (256,0,0,1,4,1)\r\n"),
            Err(ReplyError::BadHostPort(FieldError::AboveByte(256)))
        );
        assert_eq!(
            parse_pasv_reply(b"227 Entering Passive Mode (1,2,3,4,0,0)\r\n"),
            Err(ReplyError::BadHostPort(FieldError::PortOutOfRange(0)))
        );
        assert_eq!(parse_pasv_reply(b"227 Entering Passive Mode (1,2,3,4,5)\r\n"), Err(ReplyError::NoHostPort));
        assert_eq!(parse_pasv_reply(b"227 Entering Passive Mode (1,2,3,4,5"), Err(ReplyError::NoHostPort));
        assert_eq!(parse_pasv_reply(b"227 Entering Passive Mode\r\n"), Err(ReplyError::NoHostPort));
        assert_eq!(parse_pasv_reply(b"200 (1,2,3,4,5,6)\r\n"), Err(ReplyError::WrongCode(227)));
        assert_eq!(parse_pasv_reply(b""), Err(ReplyError::WrongCode(227)));
    }

    #[test]
    fn epsv_replies() {
        let ok = |s: &str, p: u16| assert_eq!(parse_epsv_reply(s.as_bytes()), Ok(p), "{s}");
        ok("229 Entering Extended Passive Mode (|||6446|)\r\n", 6446);
        ok("229 Entering extended passive mode (|||40001|).\r\n", 40001);
        ok("229 Entering Extended Passive Mode (!!!6446!)\r\n", 6446);
        ok("229 EPSV ok |||1025|\n", 1025);
        ok("229 Extended Passive Mode OK (|||65535|)", 65535);
        let bad = |s: &str, e: ReplyError| assert_eq!(parse_epsv_reply(s.as_bytes()), Err(e), "{s}");
        bad("229 Entering Extended Passive Mode (|||0|)\r\n", ReplyError::BadPort);
        bad("229 Entering Extended Passive Mode (|||70000|)\r\n", ReplyError::BadPort);
        bad("229 Entering Extended Passive Mode (|||6446\r\n", ReplyError::NoPort);
        bad("229 Entering Extended Passive Mode (||6446|)\r\n", ReplyError::NoPort);
        bad("229 Entering Extended Passive Mode (|!|6446|)\r\n", ReplyError::NoPort);
        bad("227 (|||6446|)\r\n", ReplyError::WrongCode(229));
    }

    #[test]
    fn multi_line_replies() {
        let mut t = ReplyTracker::default();
        let line = |code, coded, last| Some(ReplyLine { code, coded, last });
        assert_eq!(t.classify(b"220 ready\r\n"), line(220, true, true));
        assert_eq!(t.classify(b"211-Features:\r\n"), line(211, true, false));
        // Inside a 211 reply a "227 " line is only text.
        assert_eq!(t.classify(b"227 Entering Passive Mode (1,2,3,4,5,6)\r\n"), line(211, false, false));
        assert_eq!(t.classify(b" MLST\r\n"), line(211, false, false));
        assert_eq!(t.classify(b"211-more\r\n"), line(211, true, false));
        assert_eq!(t.classify(b"211 End\r\n"), line(211, true, true));
        assert_eq!(t.classify(b"227 Entering Passive Mode (1,2,3,4,5,6)\n"), line(227, true, true));
        assert_eq!(t.classify(b"garbage\r\n"), None);
        assert_eq!(t.classify(b"0123 no\r\n"), None);
        assert_eq!(t.classify(b"200\r\n"), line(200, true, true));
    }
}
