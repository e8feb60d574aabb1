//! TYPE A conversion (RFC 959 §3.1.1.1): the wire carries CRLF line ends,
//! the SSH server's files carry LF. Both directions are streaming and keep
//! state across chunks, so a CRLF cut between two reads converts the same
//! as one that is not.

/// LF → CRLF, for RETR in ASCII. An LF already preceded by CR is left
/// alone, so files that already have CRLF line ends are not doubled.
#[derive(Debug, Default)]
pub struct AsciiEncoder {
    /// The last byte seen was a CR, possibly at the end of the last chunk.
    after_cr: bool,
}

impl AsciiEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the wire form of `input` to `output`.
    pub fn encode(&mut self, input: &[u8], output: &mut Vec<u8>) {
        output.reserve(input.len() + input.len() / 32);
        let mut rest = input;
        while let Some(lf) = rest.iter().position(|&b| b == b'\n') {
            let (before, after) = rest.split_at(lf);
            output.extend_from_slice(before);
            let preceded_by_cr = match before.last() {
                Some(&b) => b == b'\r',
                None => self.after_cr,
            };
            if !preceded_by_cr {
                output.push(b'\r');
            }
            output.push(b'\n');
            self.after_cr = false;
            rest = after.get(1..).unwrap_or_default();
        }
        output.extend_from_slice(rest);
        if let Some(&last) = rest.last() {
            self.after_cr = last == b'\r';
        }
    }
}

/// CRLF → LF, for STOR in ASCII. A CR not followed by LF is data and is
/// kept; a CR ending a chunk is held until the next byte shows which.
#[derive(Debug, Default)]
pub struct AsciiDecoder {
    /// A CR ended the last chunk and has not been written yet.
    held_cr: bool,
}

impl AsciiDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the file form of `input` to `output`.
    pub fn decode(&mut self, input: &[u8], output: &mut Vec<u8>) {
        output.reserve(input.len() + 1);
        let mut rest = input;
        if self.held_cr {
            if rest.is_empty() {
                return;
            }
            self.held_cr = false;
            if rest.first() != Some(&b'\n') {
                output.push(b'\r');
            }
        }
        while let Some(cr) = rest.iter().position(|&b| b == b'\r') {
            let (before, after) = rest.split_at(cr);
            output.extend_from_slice(before);
            match after.get(1) {
                Some(b'\n') => {}
                Some(_) => output.push(b'\r'),
                None => {
                    self.held_cr = true;
                    return;
                }
            }
            rest = after.get(1..).unwrap_or_default();
        }
        output.extend_from_slice(rest);
    }

    /// At the end of the upload: a CR held back is data after all.
    pub fn finish(&mut self, output: &mut Vec<u8>) {
        if std::mem::take(&mut self.held_cr) {
            output.push(b'\r');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        AsciiEncoder::new().encode(input, &mut out);
        out
    }

    fn decode(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut decoder = AsciiDecoder::new();
        decoder.decode(input, &mut out);
        decoder.finish(&mut out);
        out
    }

    #[test]
    fn encoding_table() {
        for (input, expected) in [
            (&b""[..], &b""[..]),
            (b"a\nb\n", b"a\r\nb\r\n"),
            (b"\n\n", b"\r\n\r\n"),
            (b"dos\r\n", b"dos\r\n"),
            (b"cr\ronly", b"cr\ronly"),
            (b"\r\r\n", b"\r\r\n"),
            (b"no newline", b"no newline"),
        ] {
            assert_eq!(encode(input), expected, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn decoding_table() {
        for (input, expected) in [
            (&b""[..], &b""[..]),
            (b"a\r\nb\r\n", b"a\nb\n"),
            (b"bare\nlf", b"bare\nlf"),
            (b"cr\ronly", b"cr\ronly"),
            (b"\r\r\n", b"\r\n"),
            (b"end\r", b"end\r"),
            (b"\r", b"\r"),
        ] {
            assert_eq!(decode(input), expected, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn crlf_split_between_chunks() {
        let mut out = Vec::new();
        let mut decoder = AsciiDecoder::new();
        decoder.decode(b"line\r", &mut out);
        assert_eq!(out, b"line");
        decoder.decode(b"", &mut out);
        decoder.decode(b"\nnext\r", &mut out);
        decoder.decode(b"x", &mut out);
        decoder.finish(&mut out);
        assert_eq!(out, b"line\nnext\rx");

        let mut out = Vec::new();
        let mut encoder = AsciiEncoder::new();
        encoder.encode(b"dos\r", &mut out);
        encoder.encode(b"", &mut out);
        encoder.encode(b"\nunix\n", &mut out);
        assert_eq!(out, b"dos\r\nunix\r\n");
    }

    /// Cuts `data` at the given sizes and feeds the pieces one by one.
    fn chunks(data: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut pieces = Vec::new();
        let mut rest = data;
        for &cut in cuts {
            let n = cut.min(rest.len());
            pieces.push(rest[..n].to_vec());
            rest = &rest[n..];
        }
        pieces.push(rest.to_vec());
        pieces
    }

    fn text() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'a'), any::<u8>()], 0..300)
    }

    proptest! {
        #[test]
        fn decode_undoes_encode_without_cr(data in text()) {
            let data: Vec<u8> = data.into_iter().filter(|&b| b != b'\r').collect();
            prop_assert_eq!(decode(&encode(&data)), data);
        }

        #[test]
        fn encoded_text_has_no_bare_lf(data in text()) {
            let encoded = encode(&data);
            for (i, &b) in encoded.iter().enumerate() {
                if b == b'\n' {
                    prop_assert!(i > 0 && encoded[i - 1] == b'\r');
                }
            }
        }

        #[test]
        fn chunking_changes_nothing(data in text(), cuts in proptest::collection::vec(0usize..20, 0..30)) {
            let mut encoder = AsciiEncoder::new();
            let mut decoder = AsciiDecoder::new();
            let (mut encoded, mut decoded) = (Vec::new(), Vec::new());
            for piece in chunks(&data, &cuts) {
                encoder.encode(&piece, &mut encoded);
                decoder.decode(&piece, &mut decoded);
            }
            decoder.finish(&mut decoded);
            prop_assert_eq!(encoded, encode(&data));
            prop_assert_eq!(decoded, decode(&data));
        }
    }
}
