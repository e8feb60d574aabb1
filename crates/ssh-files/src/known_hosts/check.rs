//! Looking a host key up in known_hosts files.

use std::io;
use std::path::{Path, PathBuf};

use base64ct::{Base64, Encoding};

use super::line::{self, Marker};
use super::{host_key_name, key_type_family, Check, CheckOutcome, KnownHostsError, Note};

/// Looks `host`'s key up in `files`, in order. Missing files are skipped, as
/// are malformed lines (reported in [`Check::notes`]).
///
/// `key_type` may be a signature algorithm name (`rsa-sha2-512`); RSA
/// variants are folded. `key_base64` is the public key blob in base64, as in
/// a `.pub` file.
pub fn check(
    files: &[PathBuf],
    host: &str,
    port: u16,
    key_type: &str,
    key_base64: &str,
) -> Result<Check, KnownHostsError> {
    check_with_output(files, None, host, port, key_type, key_base64)
}

/// [`check`] over `files` and then known_hosts lines a program printed
/// (`KnownHostsCommand`), reported under `output`'s name.
pub fn check_with_output(
    files: &[PathBuf],
    output: Option<(&Path, &[u8])>,
    host: &str,
    port: u16,
    key_type: &str,
    key_base64: &str,
) -> Result<Check, KnownHostsError> {
    let key = Base64::decode_vec(key_base64.trim()).map_err(|_| KnownHostsError::BadKey)?;
    let wanted = Wanted { name: host_key_name(host, port), family: key_type_family(key_type), key: &key };
    let mut found = Found::default();
    let mut notes = Vec::new();
    for file in files {
        match std::fs::read(file) {
            Ok(contents) => {
                scan_file(file, &contents, &wanted, &mut found, &mut notes);
                if found.revoked.is_some() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => notes.push(Note::Unreadable { file: file.clone(), error: e.to_string() }),
        }
    }
    if let (Some((name, contents)), None) = (output, &found.revoked) {
        scan_file(name, contents, &wanted, &mut found, &mut notes);
    }
    Ok(Check { outcome: found.outcome(), notes })
}

/// What is being looked up.
struct Wanted<'a> {
    /// `host` or `[host]:port`, lowercase.
    name: String,
    family: &'a str,
    key: &'a [u8],
}

/// The first entry of each kind seen so far.
#[derive(Default)]
struct Found {
    revoked: Option<(PathBuf, usize)>,
    known: Option<(PathBuf, usize)>,
    changed: Option<(PathBuf, usize, String)>,
    other_types: Vec<String>,
}

impl Found {
    /// Revoked beats known, which beats changed (OpenSSH accepts a key
    /// listed anywhere, even when another line has an older key).
    fn outcome(self) -> CheckOutcome {
        if let Some((file, line)) = self.revoked {
            CheckOutcome::Revoked { file, line }
        } else if let Some((file, line)) = self.known {
            CheckOutcome::Known { file, line }
        } else if let Some((file, line, known_type)) = self.changed {
            CheckOutcome::Changed { file, line, known_type }
        } else {
            CheckOutcome::Unknown { other_types: self.other_types }
        }
    }
}

fn scan_file(file: &Path, contents: &[u8], wanted: &Wanted<'_>, found: &mut Found, notes: &mut Vec<Note>) {
    for (index, raw) in contents.split(|&b| b == b'\n').enumerate() {
        let number = index + 1;
        let entry = match line::parse(&String::from_utf8_lossy(raw)) {
            Ok(Some(entry)) => entry,
            Ok(None) => continue,
            Err(reason) => {
                notes.push(Note::Malformed { file: file.to_path_buf(), line: number, reason });
                continue;
            }
        };
        if !entry.hosts.matches(&wanted.name) {
            continue;
        }
        let here = || (file.to_path_buf(), number);
        match entry.marker {
            Marker::CertAuthority => notes.push(Note::CertAuthorityIgnored { file: file.to_path_buf(), line: number }),
            Marker::Revoked => {
                if entry.key == wanted.key {
                    found.revoked = Some(here());
                    return;
                }
            }
            Marker::None => {
                let family = key_type_family(&entry.key_type);
                if entry.key == wanted.key {
                    found.known.get_or_insert_with(here);
                } else if family == wanted.family {
                    found.changed.get_or_insert_with(|| (file.to_path_buf(), number, family.to_string()));
                } else if !found.other_types.iter().any(|t| t == family) {
                    found.other_types.push(family.to_string());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const ED_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIKWSCtEqZRxitQUlSFBHXC1t4Xa+6DlzrKl7peCBqgHR";
    const ED_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIEJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJC";
    const RSA: &str = "AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7";
    const ECDSA: &str = "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY=";

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, text).unwrap();
        path
    }

    fn known(file: &Path, line: usize) -> CheckOutcome {
        CheckOutcome::Known { file: file.to_path_buf(), line }
    }

    #[test]
    fn outcomes_table() {
        let dir = tempfile::tempdir().unwrap();
        let f = write(
            dir.path(),
            "known_hosts",
            &format!(
                "# comment\n\
                 \n\
                 plain.example ssh-ed25519 {ED_A}\n\
                 [plain.example]:2222 ssh-ed25519 {ED_B}\n\
                 *.wild.example,!bad.wild.example ssh-ed25519 {ED_A}\n\
                 rsa.example ssh-rsa {RSA} comment here\n\
                 multi.example ecdsa-sha2-nistp256 {ECDSA}\n\
                 multi.example ssh-rsa {RSA}\n\
                 UPPER.example ssh-ed25519 {ED_A}\n"
            ),
        );
        let files = [f.clone()];
        let cases = [
            ("plain.example", 22, "ssh-ed25519", ED_A, known(&f, 3)),
            // The same name on another port is another entry.
            ("plain.example", 2222, "ssh-ed25519", ED_B, known(&f, 4)),
            (
                "plain.example",
                2222,
                "ssh-ed25519",
                ED_A,
                CheckOutcome::Changed { file: f.clone(), line: 4, known_type: "ssh-ed25519".into() },
            ),
            ("plain.example", 2200, "ssh-ed25519", ED_A, CheckOutcome::Unknown { other_types: vec![] }),
            ("a.wild.example", 22, "ssh-ed25519", ED_A, known(&f, 5)),
            // Negated: the line does not apply.
            ("bad.wild.example", 22, "ssh-ed25519", ED_A, CheckOutcome::Unknown { other_types: vec![] }),
            // rsa-sha2-512 is negotiated for an ssh-rsa key.
            ("rsa.example", 22, "rsa-sha2-512", RSA, known(&f, 6)),
            (
                "rsa.example",
                22,
                "rsa-sha2-256",
                ED_A,
                CheckOutcome::Changed { file: f.clone(), line: 6, known_type: "ssh-rsa".into() },
            ),
            (
                "multi.example",
                22,
                "ssh-ed25519",
                ED_A,
                CheckOutcome::Unknown { other_types: vec!["ecdsa-sha2-nistp256".into(), "ssh-rsa".into()] },
            ),
            // Host names compare without case.
            ("upper.EXAMPLE", 22, "ssh-ed25519", ED_A, known(&f, 9)),
        ];
        for (host, port, key_type, key, want) in cases {
            let got = check(&files, host, port, key_type, key).unwrap();
            assert_eq!(got.outcome, want, "{host}:{port} {key_type}");
            assert!(got.notes.is_empty(), "{:?}", got.notes);
        }
    }

    #[test]
    fn revoked_wins_over_known() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a", &format!("host ssh-ed25519 {ED_A}\n"));
        let b = write(dir.path(), "b", &format!("x ssh-rsa {RSA}\n@revoked * ssh-ed25519 {ED_A}\n"));
        let got = check(&[a, b.clone()], "host", 22, "ssh-ed25519", ED_A).unwrap();
        assert_eq!(got.outcome, CheckOutcome::Revoked { file: b, line: 2 });
    }

    #[test]
    fn known_wins_over_changed_across_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a", &format!("host ssh-ed25519 {ED_B}\n"));
        let b = write(dir.path(), "b", &format!("\n\nhost ssh-ed25519 {ED_A}\n"));
        let missing = dir.path().join("missing");
        let got = check(&[missing, a, b.clone()], "host", 22, "ssh-ed25519", ED_A).unwrap();
        assert_eq!(got.outcome, known(&b, 3));
        assert!(got.notes.is_empty());
    }

    #[test]
    fn notes_malformed_lines_and_cert_authorities() {
        let dir = tempfile::tempdir().unwrap();
        let f = write(
            dir.path(),
            "f",
            &format!(
                "garbage\n\
                 @cert-authority *.example ssh-ed25519 {ED_B}\n\
                 @weird host ssh-ed25519 {ED_A}\n\
                 a.example ssh-ed25519 {ED_A}"
            ),
        );
        let got = check(std::slice::from_ref(&f), "a.example", 22, "ssh-ed25519", ED_A).unwrap();
        assert_eq!(got.outcome, known(&f, 4));
        assert_eq!(
            got.notes,
            vec![
                Note::Malformed { file: f.clone(), line: 1, reason: line::MalformedLine::MissingKey },
                Note::CertAuthorityIgnored { file: f.clone(), line: 2 },
                Note::Malformed {
                    file: f.clone(),
                    line: 3,
                    reason: line::MalformedLine::UnknownMarker("@weird".into())
                },
            ]
        );
    }

    #[test]
    fn hashed_entries_from_python_vector() {
        let dir = tempfile::tempdir().unwrap();
        let f = write(
            dir.path(),
            "f",
            &format!(
                "|1|AQIDBAUGBwgJCgsMDQ4PEBESExQ=|qvtG0DaqrsqPDhV2Ni+wmYohchA= ssh-ed25519 {ED_A}\n\
                 |1|AQIDBAUGBwgJCgsMDQ4PEBESExQ=|uVLj+YL3GsbtNOcCoC7AMM/WVh0= ssh-ed25519 {ED_B}\n"
            ),
        );
        let files = [f.clone()];
        assert_eq!(check(&files, "example.com", 22, "ssh-ed25519", ED_A).unwrap().outcome, known(&f, 1));
        assert_eq!(check(&files, "example.com", 2222, "ssh-ed25519", ED_B).unwrap().outcome, known(&f, 2));
        assert_eq!(
            check(&files, "other.com", 22, "ssh-ed25519", ED_A).unwrap().outcome,
            CheckOutcome::Unknown { other_types: vec![] }
        );
    }

    /// An entry hashed by a real `ssh-keygen -H` (OpenSSH 9.x).
    #[test]
    fn hashed_entry_from_ssh_keygen_fixture() {
        let dir = tempfile::tempdir().unwrap();
        let f = write(
            dir.path(),
            "f",
            &format!("|1|2h6Ldw8m6TvU+PZC1SeWea9uPlo=|15jlWVXA11woB3iN380AGUVBRaw= ssh-ed25519 {ED_A}\n"),
        );
        let got = check(std::slice::from_ref(&f), "example.com", 22, "ssh-ed25519", ED_A).unwrap();
        assert_eq!(got.outcome, known(&f, 1));
    }

    #[test]
    fn refuses_bad_caller_key() {
        let err = check(&[], "h", 22, "ssh-ed25519", "not base64!").unwrap_err();
        assert!(matches!(err, KnownHostsError::BadKey));
    }
}
