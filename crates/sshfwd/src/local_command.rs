//! `LocalCommand` (with `PermitLocalCommand yes`): run on this machine once
//! the connection is up, through the user's shell, as ssh's
//! `ssh_local_cmd` does. Its failure is reported and does not end the run.

/// Runs `command` with `$SHELL -c` and waits for it; its exit status, or
/// `None` when it could not be started or a signal ended it.
pub async fn run(command: &str) -> Option<i32> {
    let shell = ssh_files::local::shell();
    tracing::debug!("Executing {} -c \"{command}\"", shell.to_string_lossy());
    match tokio::process::Command::new(&shell).arg("-c").arg(command).status().await {
        Ok(status) => status.code(),
        Err(e) => {
            tracing::error!("Couldn't execute {} -c \"{command}\": {e}", shell.to_string_lossy());
            None
        }
    }
}
