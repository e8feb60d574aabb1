//! The bridge's own replies: a code and lines of text, rendered with CRLF
//! and RFC 959's multi-line form.

/// One reply to the FTP client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// At least one line; a reply of several is sent as `code-first`,
    /// ` middle` lines (starting with a space, as RFC 2389 and RFC 3659
    /// have it) and `code last`.
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply.
    pub fn new(code: u16, text: impl Into<String>) -> Self {
        Self { code, lines: vec![text.into()] }
    }

    /// A multi-line reply: `first`, then `middle` lines, then `last`.
    pub fn multi(code: u16, first: impl Into<String>, middle: Vec<String>, last: impl Into<String>) -> Self {
        let mut lines = vec![first.into()];
        lines.extend(middle);
        lines.push(last.into());
        Self { code, lines }
    }

    /// The bytes to write. CR and LF inside the text (a file name can hold
    /// them) become spaces, so no text can end the reply early or forge
    /// another one.
    pub fn to_bytes(&self) -> Vec<u8> {
        let clean = |line: &str| line.replace(['\r', '\n'], " ");
        let mut out = Vec::new();
        let count = self.lines.len();
        for (i, line) in self.lines.iter().enumerate() {
            let text = clean(line);
            let rendered = if count <= 1 || i + 1 == count {
                format!("{} {text}\r\n", self.code)
            } else if i == 0 {
                format!("{}-{text}\r\n", self.code)
            } else {
                format!(" {text}\r\n")
            };
            out.extend_from_slice(rendered.as_bytes());
        }
        if count == 0 {
            out.extend_from_slice(format!("{} \r\n", self.code).as_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::ReplyTracker;

    #[test]
    fn rendering() {
        assert_eq!(Reply::new(200, "ok").to_bytes(), b"200 ok\r\n");
        assert_eq!(
            Reply::multi(211, "Features:", vec!["EPSV".into(), "SIZE".into()], "End").to_bytes(),
            b"211-Features:\r\n EPSV\r\n SIZE\r\n211 End\r\n"
        );
        assert_eq!(Reply::new(550, "a\r\n200 forged").to_bytes(), b"550 a  200 forged\r\n");
        assert_eq!(Reply { code: 200, lines: Vec::new() }.to_bytes(), b"200 \r\n");
    }

    #[test]
    fn multi_line_replies_read_back_as_one() {
        let reply = Reply::multi(250, "Listing /x", vec!["type=dir; /x\n226 no".into()], "End");
        let mut tracker = ReplyTracker::default();
        let bytes = reply.to_bytes();
        let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
        let last: Vec<bool> = lines.iter().map(|l| tracker.classify(l).is_some_and(|p| p.last)).collect();
        assert_eq!(last, [false, false, true]);
    }
}
