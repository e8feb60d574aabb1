//! Recording a host key: one new line at the end of a known_hosts file.

use std::fs::{DirBuilder, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use base64ct::{Base64, Encoding};

use super::hash::{HashedHost, SALT_LEN};
use super::{host_key_name, key_type_family, KnownHostsError};

/// Appends `host`'s key to `file`, as `ssh` does on first connection.
///
/// Creates the file, and its missing parent directories with mode 0700, when
/// needed. Writes `host` for port 22 and `[host]:port` otherwise, lowercase;
/// with `hash`, the name is stored as `|1|salt|hash` (`HashKnownHosts yes`).
/// A newline is added first if the file does not end with one. An
/// `rsa-sha2-*` key type is written as `ssh-rsa`, the type of the key.
pub fn append(
    file: &Path,
    host: &str,
    port: u16,
    key_type: &str,
    key_base64: &str,
    hash: bool,
) -> Result<(), KnownHostsError> {
    let key_base64 = key_base64.trim();
    Base64::decode_vec(key_base64).map_err(|_| KnownHostsError::BadKey)?;
    if key_type.is_empty() || key_type.chars().any(char::is_whitespace) {
        return Err(KnownHostsError::BadKeyType(key_type.to_string()));
    }
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == ',') {
        return Err(KnownHostsError::BadHost(host.to_string()));
    }
    let name = host_key_name(host, port);
    let hosts = if hash {
        let mut salt = [0u8; SALT_LEN];
        getrandom::fill(&mut salt).map_err(|_| KnownHostsError::Random)?;
        HashedHost::new(&name, &salt).ok_or(KnownHostsError::Random)?.encode()
    } else {
        name
    };
    let entry = format!("{hosts} {} {key_base64}\n", key_type_family(key_type));
    write_entry(file, &entry).map_err(|source| KnownHostsError::Write { path: file.to_path_buf(), source })
}

fn write_entry(file: &Path, entry: &str) -> io::Result<()> {
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            DirBuilder::new().recursive(true).mode(0o700).create(parent)?;
        }
    }
    let mut f = OpenOptions::new().read(true).append(true).create(true).open(file)?;
    let mut text = String::with_capacity(entry.len() + 1);
    if f.metadata()?.len() > 0 {
        f.seek(SeekFrom::End(-1))?;
        let mut last = [0u8; 1];
        f.read_exact(&mut last)?;
        if last[0] != b'\n' {
            text.push('\n');
        }
    }
    text.push_str(entry);
    // One write in append mode: concurrent writers do not interleave lines.
    f.write_all(text.as_bytes())?;
    f.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::known_hosts::{check, CheckOutcome};
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;
    use std::process::Command;

    const ED_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIKWSCtEqZRxitQUlSFBHXC1t4Xa+6DlzrKl7peCBqgHR";
    const RSA: &str = "AAAAB3NzaC1yc2EAAAADAQABAAAAgQC8AqLQaBFrIbATGNh3ETl9/W8wP7IMx9RCEQiY8wusQfmCSl909KrRAkkGap8Lf1bKrzl/6L5DWi40lO1t5nVIA8MQSQl5Je4hVsE7FhFe61sZK4X7Xhxjq7+8Ht8muIDBOvKImKmi3urfD+6KdBSKXogQy17Vb+0JhERFu9KtMQ==";

    fn ssh_keygen() -> Option<PathBuf> {
        let path = PathBuf::from("/usr/bin/ssh-keygen");
        if path.exists() {
            Some(path)
        } else {
            eprintln!("ssh-keygen not installed; skipping the cross-check");
            None
        }
    }

    #[test]
    fn creates_file_and_private_parent_dir() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("new/.ssh/known_hosts");
        append(&file, "Host.Example", 22, "ssh-ed25519", ED_A, false).unwrap();
        append(&file, "host.example", 2222, "rsa-sha2-512", RSA, false).unwrap();
        assert_eq!(
            fs::read_to_string(&file).unwrap(),
            format!("host.example ssh-ed25519 {ED_A}\n[host.example]:2222 ssh-rsa {RSA}\n")
        );
        let mode = fs::metadata(file.parent().unwrap()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn adds_missing_final_newline_first() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known_hosts");
        fs::write(&file, "# no newline at end").unwrap();
        append(&file, "h", 22, "ssh-ed25519", ED_A, false).unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), format!("# no newline at end\nh ssh-ed25519 {ED_A}\n"));
    }

    #[test]
    fn hashed_entries_are_found_again() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known_hosts");
        append(&file, "server.example", 2222, "ssh-ed25519", ED_A, true).unwrap();
        let text = fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("|1|"), "{text}");
        assert!(!text.contains("server"), "{text}");
        let found = check(std::slice::from_ref(&file), "server.example", 2222, "ssh-ed25519", ED_A).unwrap();
        assert_eq!(found.outcome, CheckOutcome::Known { file, line: 1 });
    }

    #[test]
    fn refuses_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known_hosts");
        assert!(matches!(append(&file, "h", 22, "ssh-ed25519", "!!", false), Err(KnownHostsError::BadKey)));
        assert!(matches!(append(&file, "h", 22, "ssh ed25519", ED_A, false), Err(KnownHostsError::BadKeyType(_))));
        assert!(matches!(append(&file, "a,b", 22, "ssh-ed25519", ED_A, false), Err(KnownHostsError::BadHost(_))));
        assert!(!file.exists());
    }

    /// Our hashed lines are found by OpenSSH, and its hashed lines by us.
    #[test]
    fn interoperates_with_ssh_keygen() {
        let Some(keygen) = ssh_keygen() else { return };
        let dir = tempfile::tempdir().unwrap();

        // Ours, read by ssh-keygen -F.
        let ours = dir.path().join("ours");
        append(&ours, "ours.example", 2222, "ssh-ed25519", ED_A, true).unwrap();
        let out = Command::new(&keygen).args(["-F", "[ours.example]:2222", "-f"]).arg(&ours).output().unwrap();
        assert!(out.status.success(), "ssh-keygen -F did not find our entry");
        assert!(String::from_utf8_lossy(&out.stdout).contains(ED_A));

        // Theirs: plain entries hashed by ssh-keygen -H, read by check.
        let theirs = dir.path().join("theirs");
        fs::write(&theirs, format!("theirs.example ssh-ed25519 {ED_A}\n[theirs.example]:2200 ssh-rsa {RSA}\n"))
            .unwrap();
        let out = Command::new(&keygen).arg("-H").arg("-f").arg(&theirs).output().unwrap();
        assert!(out.status.success());
        let text = fs::read_to_string(&theirs).unwrap();
        assert!(!text.contains("theirs.example"), "{text}");
        let files = [theirs.clone()];
        assert_eq!(
            check(&files, "theirs.example", 22, "ssh-ed25519", ED_A).unwrap().outcome,
            CheckOutcome::Known { file: theirs.clone(), line: 1 }
        );
        assert_eq!(
            check(&files, "theirs.example", 2200, "rsa-sha2-256", RSA).unwrap().outcome,
            CheckOutcome::Known { file: theirs, line: 2 }
        );
    }
}
