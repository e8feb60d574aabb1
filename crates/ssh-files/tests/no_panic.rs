//! Arbitrary input never panics: forwarding specs, `-o` lines (through the
//! whole resolver), pattern matching and known_hosts files.

use std::fs;

use ssh_files::config::{resolve, ConfigSources};
use ssh_files::known_hosts;
use ssh_files::pattern;
use ssh_files::{ForwardKind, ForwardSpec};

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A short string over characters that matter to the parsers.
    fn text(&mut self) -> String {
        const ALPHABET: &[char] = &[
            'a', 'b', 'z', '0', '1', '9', ':', '/', '[', ']', '\\', '"', '\'', '#', '=', ' ', '\t', '*', '?', '!', ',',
            '%', '$', '{', '}', '~', '@', '|', '.', '-', 'é', '\u{0}', '\r',
        ];
        let len = (self.next() % 24) as usize;
        (0..len).map(|_| ALPHABET[(self.next() % ALPHABET.len() as u64) as usize]).collect()
    }
}

#[test]
fn forward_specs_and_patterns() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let text = rng.text();
        for kind in [ForwardKind::Local, ForwardKind::Remote, ForwardKind::Dynamic, ForwardKind::FtpToSftp] {
            if let Ok(spec) = ForwardSpec::parse(kind, &text) {
                // What parses prints back to something that parses the same.
                assert_eq!(ForwardSpec::parse(kind, &spec.to_string()), Ok(spec), "{text:?}");
            }
        }
        let other = rng.text();
        let _ = pattern::wildcard(&text, &other);
        let _ = pattern::list(&text, &other, true);
    }
}

#[test]
fn command_line_options() {
    let dir = tempfile::tempdir().unwrap();
    let mut sources = ConfigSources::new(dir.path(), "me");
    sources.user_file = Some("none".into());
    let keywords = ["Port", "User", "HostName", "LocalForward", "IdentityFile", "ConnectTimeout", "Ciphers", "Bogus"];
    let mut rng = Rng(42);
    for _ in 0..5_000 {
        let keyword = keywords[(rng.next() % keywords.len() as u64) as usize];
        let separator = if rng.next() & 1 == 0 { "=" } else { " " };
        sources.cli_options = vec![format!("{keyword}{separator}{}", rng.text()), rng.text()];
        let _ = resolve(&sources, &rng.text());
    }
}

#[test]
fn known_hosts_lines() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("known_hosts");
    let mut rng = Rng(7);
    for _ in 0..500 {
        let lines: Vec<String> = (0..8)
            .map(|_| match rng.next() % 3 {
                0 => rng.text(),
                1 => format!("{} ssh-ed25519 {}", rng.text(), rng.text()),
                _ => format!("@revoked {} ssh-rsa AAAA", rng.text()),
            })
            .collect();
        fs::write(&file, lines.join("\n")).unwrap();
        let result = known_hosts::check(std::slice::from_ref(&file), "host", 22, "ssh-ed25519", "AAAA");
        assert!(result.is_ok());
    }
}
