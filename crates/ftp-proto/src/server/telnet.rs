//! The Telnet layer under the FTP control connection (RFC 959 §4.1.3,
//! RFC 854), as far as a server must honour it: clients interrupt a
//! transfer with Telnet "Interrupt Process" and "Synch" before ABOR, and a
//! literal 0xFF travels doubled. The sequences are stripped from a framed
//! command line before it is parsed.
//!
//! How the bytes arrive depends on urgent data: BSD ftp and tnftp send
//! `IAC IP IAC` with MSG_OOB, then `DM ABOR`. With SO_OOBINLINE off (the
//! default on Linux) the urgent byte, the second IAC, is taken out of the
//! stream, which leaves `IAC IP DM ABOR`: a DM without its IAC (clients
//! that mark the DM urgent leave an IAC without its DM). Python's
//! ftplib sends `ABOR\r\n` itself as urgent data, which loses the LF
//! instead; see [`is_urgent_abort`].

use std::borrow::Cow;

/// Interpret As Command.
const IAC: u8 = 0xff;
/// Telnet commands that take an option byte (WILL, WONT, DO, DONT).
const WILL: u8 = 0xfb;
const DONT: u8 = 0xfe;
/// The first Telnet command code (SE); DM is 0xf2, IP 0xf4.
const FIRST_COMMAND: u8 = 0xf0;

/// `line` without Telnet sequences: `IAC IAC` becomes one 0xFF, `IAC
/// WILL|WONT|DO|DONT option` and any other `IAC command` go, and so do a
/// command byte whose IAC, or an IAC whose command byte, was taken out of
/// band.
/// Lines without 0xF0–0xFF bytes, all real commands, are not copied.
pub fn strip(line: &[u8]) -> Cow<'_, [u8]> {
    let start = line.iter().position(|&b| !(FIRST_COMMAND..IAC).contains(&b)).unwrap_or(line.len());
    let line = line.get(start..).unwrap_or_default();
    if !line.contains(&IAC) {
        return Cow::Borrowed(line);
    }
    let mut out = Vec::with_capacity(line.len());
    let mut bytes = line.iter().copied();
    while let Some(byte) = bytes.next() {
        if byte != IAC {
            out.push(byte);
            continue;
        }
        match bytes.next() {
            Some(IAC) => out.push(IAC),
            Some(WILL..=DONT) => {
                bytes.next();
            }
            // Not a command: the IAC's own command went out of band (a DM
            // sent as the urgent byte), and this byte is the line's.
            Some(byte @ ..FIRST_COMMAND) => out.push(byte),
            // Any other command (IP, DM, AO, …) or a lone IAC at the end.
            Some(_) | None => {}
        }
        // A DM whose IAC was taken out of band may follow an IP.
        if out.is_empty() {
            while bytes.clone().next().is_some_and(|b| (FIRST_COMMAND..IAC).contains(&b)) {
                bytes.next();
            }
        }
    }
    Cow::Owned(out)
}

/// Whether `tail`, the bytes after the last complete line, is an ABOR
/// whose LF never came: ftplib's `abort()` sends `ABOR\r\n` as urgent
/// data, and without SO_OOBINLINE the urgent byte (the LF) is taken out
/// of the stream, so the line would wait for its end forever.
pub fn is_urgent_abort(tail: &[u8]) -> bool {
    strip(tail).eq_ignore_ascii_case(b"ABOR\r")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn strip_table() {
        let cases: &[(&[u8], &[u8], &str)] = &[
            (b"ABOR\r\n", b"ABOR\r\n", "no Telnet: unchanged"),
            (b"\xff\xf4\xff\xf2ABOR\r\n", b"ABOR\r\n", "IAC IP IAC DM, all in band (SO_OOBINLINE)"),
            (b"\xff\xf4\xf2ABOR\r\n", b"ABOR\r\n", "IAC IP DM: the urgent IAC was taken out of band"),
            (b"\xf2ABOR\r\n", b"ABOR\r\n", "a lone DM"),
            (b"\xff\xf2ABOR\r\n", b"ABOR\r\n", "IAC DM"),
            (b"\xff\xf4\xffABOR\r\n", b"ABOR\r\n", "IAC IP IAC: the urgent DM was taken out of band"),
            (b"RETR a\xff\xffb\r\n", b"RETR a\xffb\r\n", "IAC IAC is a literal 0xFF"),
            (b"\xff\xfb\x01NOOP\r\n", b"NOOP\r\n", "IAC WILL ECHO: three bytes"),
            (b"\xff\xfd\x03\xff\xf1NOOP\r\n", b"NOOP\r\n", "IAC DO SGA, IAC NOP"),
            (b"NOOP\xff", b"NOOP", "a lone IAC at the end"),
            (b"CWD \xf0\x9f\x98\x80\r\n", b"CWD \xf0\x9f\x98\x80\r\n", "UTF-8 lead bytes inside the line stay"),
            (b"\xff\xf4\xff", b"", "IAC IP and the half of the next"),
            (b"", b"", "empty"),
        ];
        for &(line, want, why) in cases {
            assert_eq!(&*strip(line), want, "{why}: {line:?}");
        }
    }

    #[test]
    fn urgent_abort_tails() {
        for (tail, want) in [
            (&b"ABOR\r"[..], true),
            (b"abor\r", true),
            (b"\xff\xf4\xff\xf2ABOR\r", true),
            (b"ABOR", false),
            (b"ABOR\r\n", false),
            (b"NOOP\r", false),
            (b"", false),
        ] {
            assert_eq!(is_urgent_abort(tail), want, "{tail:?}");
        }
    }

    /// Doubles every IAC, as a client sends a literal 0xFF.
    fn escape(bytes: &[u8]) -> Vec<u8> {
        bytes.iter().flat_map(|&b| if b == IAC { vec![IAC, IAC] } else { vec![b] }).collect()
    }

    proptest! {
        /// Escaped data comes back as it was, with Interrupt Process and
        /// Synch sequences inserted anywhere, as long as it starts with a
        /// verb's byte (a line never starts with a Telnet command byte).
        #[test]
        fn escaped_text_survives_interrupts(
            first in 0u8..0xf0,
            rest in proptest::collection::vec(any::<u8>(), 0..64),
            inserts in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..3), 0..4),
        ) {
            let mut text = vec![first];
            text.extend(rest);
            // Sequences go between the text's bytes, never inside an escape.
            let mut at: Vec<(usize, usize)> =
                inserts.into_iter().map(|(index, which)| (index.index(text.len() + 1), which)).collect();
            at.sort();
            let mut wire = Vec::new();
            let mut done = 0;
            for (position, which) in at {
                wire.extend(escape(&text[done..position]));
                done = position;
                let sequence: &[u8] = [&b"\xff\xf4"[..], b"\xff\xf2", b"\xff\xfd\x01"][which];
                wire.extend_from_slice(sequence);
            }
            wire.extend(escape(&text[done..]));
            prop_assert_eq!(&*strip(&wire), &text[..]);
        }

        /// Lines with no IAC and no command byte in front come back as they are.
        #[test]
        fn never_panics_nor_grows(line in proptest::collection::vec(any::<u8>(), 0..64)) {
            let stripped = strip(&line);
            prop_assert!(stripped.len() <= line.len());
            if !line.contains(&IAC) && line.first().is_none_or(|&b| b < FIRST_COMMAND) {
                prop_assert_eq!(&*stripped, &line[..]);
            }
        }
    }
}
