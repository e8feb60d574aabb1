//! Splits a byte stream into control lines. A line ends at LF (so CRLF and
//! the bare LF some peers send both work) and keeps its terminator, so
//! lines that are passed on are passed byte for byte.

/// The longest line accepted was exceeded: the peer is broken or hostile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("control line longer than {limit} bytes")]
pub struct LineTooLong {
    /// The cap that was exceeded.
    pub limit: usize,
}

/// Accumulates bytes and hands out complete lines.
#[derive(Debug)]
pub struct LineFramer {
    buffer: Vec<u8>,
    /// Bytes of `buffer` already known to hold no LF, so each byte is
    /// scanned once however the stream is cut.
    scanned: usize,
    limit: usize,
}

impl LineFramer {
    /// A framer that refuses lines longer than `limit` bytes, terminator
    /// included.
    pub fn new(limit: usize) -> Self {
        Self { buffer: Vec::new(), scanned: 0, limit }
    }

    /// Appends bytes as they arrived.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete line, with its terminator; `None` when more bytes
    /// are needed.
    pub fn next_line(&mut self) -> Result<Option<Vec<u8>>, LineTooLong> {
        let unscanned = self.buffer.get(self.scanned..).unwrap_or_default();
        match unscanned.iter().position(|&b| b == b'\n') {
            Some(offset) => {
                let end = self.scanned + offset + 1;
                if end > self.limit {
                    return Err(LineTooLong { limit: self.limit });
                }
                let rest = self.buffer.split_off(end);
                let line = std::mem::replace(&mut self.buffer, rest);
                self.scanned = 0;
                Ok(Some(line))
            }
            None => {
                self.scanned = self.buffer.len();
                if self.buffer.len() > self.limit {
                    return Err(LineTooLong { limit: self.limit });
                }
                Ok(None)
            }
        }
    }

    /// At end of stream: whatever unterminated bytes are left.
    pub fn finish(&mut self) -> Vec<u8> {
        self.scanned = 0;
        std::mem::take(&mut self.buffer)
    }

    /// The bytes after the last complete line handed out: an unterminated
    /// line, once `next_line` has returned `None`.
    pub fn pending(&self) -> &[u8] {
        &self.buffer
    }

    /// Bytes buffered and not yet handed out.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn drain(framer: &mut LineFramer) -> Vec<Vec<u8>> {
        let mut lines = Vec::new();
        while let Some(line) = framer.next_line().unwrap() {
            lines.push(line);
        }
        lines
    }

    #[test]
    fn crlf_bare_lf_and_pieces() {
        let mut f = LineFramer::new(100);
        f.push(b"USER a\r\nPA");
        assert_eq!(drain(&mut f), vec![b"USER a\r\n".to_vec()]);
        f.push(b"SS b\nNOOP");
        assert_eq!(drain(&mut f), vec![b"PASS b\n".to_vec()]);
        assert_eq!(f.finish(), b"NOOP".to_vec());
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn telnet_bytes_pass_untouched() {
        let mut f = LineFramer::new(100);
        f.push(b"\xff\xf4\xff\xf2ABOR\r\n");
        assert_eq!(drain(&mut f), vec![b"\xff\xf4\xff\xf2ABOR\r\n".to_vec()]);
    }

    #[test]
    fn overlong_line_is_refused_with_or_without_terminator() {
        let mut f = LineFramer::new(8);
        f.push(b"123456789");
        assert_eq!(f.next_line(), Err(LineTooLong { limit: 8 }));
        let mut f = LineFramer::new(8);
        f.push(b"12345678\n");
        assert_eq!(f.next_line(), Err(LineTooLong { limit: 8 }));
        let mut f = LineFramer::new(8);
        f.push(b"1234567\n");
        assert_eq!(f.next_line(), Ok(Some(b"1234567\n".to_vec())));
    }

    proptest! {
        /// However the stream is cut, the lines and the tail put back
        /// together are exactly the bytes that went in.
        #[test]
        fn framing_is_lossless(data in proptest::collection::vec(any::<u8>(), 0..2000), cuts in proptest::collection::vec(1usize..64, 0..50)) {
            let mut f = LineFramer::new(usize::MAX);
            let mut out = Vec::new();
            let mut rest = &data[..];
            for cut in cuts {
                let n = cut.min(rest.len());
                f.push(&rest[..n]);
                rest = &rest[n..];
                for line in drain(&mut f) {
                    prop_assert_eq!(line.last(), Some(&b'\n'));
                    out.extend(line);
                }
            }
            f.push(rest);
            for line in drain(&mut f) {
                out.extend(line);
            }
            out.extend(f.finish());
            prop_assert_eq!(out, data);
        }
    }
}
