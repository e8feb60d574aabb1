//! `LocalCommand` (with `PermitLocalCommand yes`): run on this machine once
//! the connection is up, through the user's shell, as ssh's
//! `ssh_local_cmd` does. Its failure is reported and does not end the run.

/// The shell when `$SHELL` is unset or empty (ssh's `_PATH_BSHELL`).
const DEFAULT_SHELL: &str = "/bin/sh";

/// Runs `command` with `$SHELL -c` and waits for it; its exit status, or
/// `None` when it could not be started or a signal ended it.
pub async fn run(command: &str) -> Option<i32> {
    let shell = std::env::var_os("SHELL").filter(|shell| !shell.is_empty());
    let shell = shell.unwrap_or_else(|| DEFAULT_SHELL.into());
    tracing::debug!("Executing {} -c \"{command}\"", shell.to_string_lossy());
    match tokio::process::Command::new(&shell).arg("-c").arg(command).status().await {
        Ok(status) => status.code(),
        Err(e) => {
            tracing::error!("Couldn't execute {} -c \"{command}\": {e}", shell.to_string_lossy());
            None
        }
    }
}
