//! The server host key check against known_hosts files, with OpenSSH's
//! StrictHostKeyChecking semantics and wording. A connection never proceeds
//! past a failed check: a changed or revoked key is refused whatever the
//! setting says.

use std::path::PathBuf;

use russh::keys::{HashAlg, PublicKey};
pub use ssh_files::config::StrictHostKeyChecking;
use ssh_files::config::{HostKeyTokens, KnownHostsCommand};
use ssh_files::known_hosts::{self, CheckOutcome};

use super::prompt::Prompter;

/// Everything the check needs to know, fixed before connecting.
#[derive(Debug, Clone)]
pub struct HostKeyPolicy {
    /// The name the host is recorded under (HostName, or the host as given).
    pub host: String,
    pub port: u16,
    pub user_files: Vec<PathBuf>,
    pub global_files: Vec<PathBuf>,
    pub strict: StrictHostKeyChecking,
    pub hash_known_hosts: bool,
    /// `KnownHostsCommand`: a program whose output is read as more
    /// known_hosts lines.
    pub command: Option<KnownHostsCommand>,
}

#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    /// The key did not pass; the reason was already reported to the user.
    #[error("Host key verification failed.")]
    VerificationFailed,
}

impl HostKeyPolicy {
    /// Checks `key`; reports to the user as OpenSSH does and records a new
    /// key when the policy allows it.
    pub fn verify(&self, key: &PublicKey, prompter: &Prompter) -> Result<(), HostKeyError> {
        let openssh = key.to_openssh().map_err(|_| HostKeyError::VerificationFailed)?;
        let mut fields = openssh.split_whitespace();
        let (Some(key_type), Some(key_base64)) = (fields.next(), fields.next()) else {
            return Err(HostKeyError::VerificationFailed);
        };
        let label = key_label(key_type);
        let fingerprint = key.fingerprint(HashAlg::Sha256);
        let shown_host = known_hosts::host_key_name(&self.host, self.port);
        let files: Vec<PathBuf> = self.user_files.iter().chain(&self.global_files).cloned().collect();
        let command_output = self.command.as_ref().and_then(|command| {
            let tokens = HostKeyTokens {
                key_type,
                key_base64,
                fingerprint: &fingerprint.to_string(),
                lookup: &shown_host,
                reason: "HOSTNAME",
            };
            run_known_hosts_command(&command.argv(&tokens))
        });
        let output = command_output.as_ref().map(|(name, lines)| (name.as_path(), lines.as_slice()));
        let checked = known_hosts::check_with_output(&files, output, &self.host, self.port, key_type, key_base64);
        let outcome = match checked {
            Ok(check) => {
                for note in &check.notes {
                    tracing::debug!("{note}");
                }
                check.outcome
            }
            Err(e) => {
                tracing::debug!("reading known_hosts: {e}");
                CheckOutcome::Unknown { other_types: Vec::new() }
            }
        };
        match outcome {
            CheckOutcome::Known { file, line } => {
                tracing::debug!("Host '{shown_host}' is known and matches the {label} host key.");
                tracing::debug!("Found key in {}:{line}", file.display());
                Ok(())
            }
            CheckOutcome::Revoked { file, line } => {
                eprintln!("@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@");
                eprintln!("@       WARNING: REVOKED HOST KEY DETECTED!               @");
                eprintln!("@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@");
                eprintln!("The {label} host key for {shown_host} is marked as revoked.");
                eprintln!("This could mean that a stolen key is being used to");
                eprintln!("impersonate this host.");
                eprintln!("Revoked key in {}:{line}", file.display());
                Err(HostKeyError::VerificationFailed)
            }
            CheckOutcome::Changed { file, line, .. } => {
                eprintln!("@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@");
                eprintln!("@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @");
                eprintln!("@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@");
                eprintln!("IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!");
                eprintln!("Someone could be eavesdropping on you right now (man-in-the-middle attack)!");
                eprintln!("It is also possible that a host key has just been changed.");
                eprintln!("The fingerprint for the {label} key sent by the remote host is");
                eprintln!("{fingerprint}.");
                eprintln!("Offending {label} key in {}:{line}", file.display());
                eprintln!("Host key for {shown_host} has changed and sshfwd never connects past a changed key.");
                Err(HostKeyError::VerificationFailed)
            }
            CheckOutcome::Unknown { .. } => {
                self.unknown(key_type, key_base64, &label, &fingerprint.to_string(), prompter)
            }
        }
    }

    fn unknown(
        &self,
        key_type: &str,
        key_base64: &str,
        label: &str,
        fingerprint: &str,
        prompter: &Prompter,
    ) -> Result<(), HostKeyError> {
        let shown_host = known_hosts::host_key_name(&self.host, self.port);
        match self.strict {
            StrictHostKeyChecking::Yes => {
                eprintln!("No {label} host key is known for {shown_host} and you have requested strict checking.");
                return Err(HostKeyError::VerificationFailed);
            }
            StrictHostKeyChecking::Ask => {
                let question = format!(
                    "The authenticity of host '{shown_host} ({shown_host})' can't be established.\n\
                     {label} key fingerprint is {fingerprint}.\n\
                     This key is not known by any other names.\n\
                     Are you sure you want to continue connecting (yes/no/[fingerprint])? "
                );
                let answer = prompter.confirm(&question).unwrap_or_default();
                let answer = answer.trim();
                if !(answer.eq_ignore_ascii_case("yes") || answer == fingerprint) {
                    return Err(HostKeyError::VerificationFailed);
                }
            }
            StrictHostKeyChecking::AcceptNew | StrictHostKeyChecking::No => {}
        }
        match self.user_files.first() {
            Some(file) => {
                match known_hosts::append(file, &self.host, self.port, key_type, key_base64, self.hash_known_hosts) {
                    Ok(()) => tracing::warn!(
                        "Warning: Permanently added '{shown_host}' ({label}) to the list of known hosts."
                    ),
                    Err(e) => {
                        tracing::warn!("Failed to add the host to the list of known hosts ({}): {e}", file.display())
                    }
                }
            }
            None => tracing::warn!("No user known_hosts file to record '{shown_host}' in."),
        }
        Ok(())
    }
}

/// Runs a `KnownHostsCommand` (`argv` expanded) and returns its name and
/// what it printed; `None`, with the reason logged, when it could not run
/// or did not exit with 0 (OpenSSH then uses none of its output). The check
/// waits for it, as OpenSSH's does: the handshake cannot go on without it.
fn run_known_hosts_command(argv: &[String]) -> Option<(PathBuf, Vec<u8>)> {
    let (program, args) = argv.split_first()?;
    if !program.starts_with('/') {
        tracing::error!("KnownHostsCommand command \"{program}\" is not an absolute path");
        return None;
    }
    tracing::debug!("executing KnownHostsCommand: {}", argv.join(" "));
    let output = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output();
    match output {
        Ok(output) if output.status.success() => Some((PathBuf::from(program), output.stdout)),
        Ok(output) => {
            match output.status.code() {
                Some(code) => tracing::error!("KnownHostsCommand {program} exited with status {code}"),
                None => tracing::error!("KnownHostsCommand {program} exited on a signal"),
            }
            None
        }
        Err(e) => {
            tracing::error!("KnownHostsCommand {program}: {e}");
            None
        }
    }
}

/// OpenSSH's short upper-case name for a key type.
fn key_label(key_type: &str) -> String {
    match key_type {
        "ssh-ed25519" => "ED25519".into(),
        t if t.starts_with("ecdsa-sha2-") => "ECDSA".into(),
        "ssh-rsa" | "rsa-sha2-256" | "rsa-sha2-512" => "RSA".into(),
        "ssh-dss" => "DSA".into(),
        other => other.to_uppercase(),
    }
}
