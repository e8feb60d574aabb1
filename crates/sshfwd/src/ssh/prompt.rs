//! Asking the user for a secret or a yes/no answer, the way OpenSSH does:
//! through `SSH_ASKPASS` when `SSH_ASKPASS_REQUIRE` says so (or when there is
//! no terminal but a display), otherwise on the controlling terminal.
//!
//! Asking blocks until the user answers: async code uses
//! [`Prompter::ask_secret`] and [`Prompter::ask_confirm`], which wait on a
//! blocking thread, so that the single-thread runtime keeps serving the
//! SSH session and the forwardings meanwhile.

use std::io::{BufRead, Write};
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// BatchMode forbids asking anything.
    #[error("prompting is disabled by BatchMode")]
    Batch,
    /// Neither a terminal nor an askpass program is available.
    #[error("no terminal and no askpass program to ask with")]
    NoWayToAsk,
    /// The askpass program failed or was cancelled.
    #[error("askpass program {program} failed")]
    Askpass { program: String },
    #[error("reading from the terminal: {0}")]
    Terminal(#[from] std::io::Error),
    /// The blocking thread that asked was lost (it panicked).
    #[error("the prompt's thread failed: {0}")]
    Thread(#[from] tokio::task::JoinError),
}

/// A password given in advance (the FTP→SFTP bridge's passthrough login):
/// never printed, not even by `{:?}`.
#[derive(Clone)]
pub struct Secret(std::sync::Arc<str>);

impl Secret {
    pub fn new(text: &str) -> Self {
        Self(text.into())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// What the prompter may do, fixed once per connection.
#[derive(Debug, Clone)]
pub struct Prompter {
    batch: bool,
    /// Answers every secret prompt, and refuses every question, without
    /// asking anyone: a login made on someone else's behalf has no
    /// terminal to ask.
    answer: Option<Secret>,
}

enum Channel {
    Askpass(String),
    Terminal,
}

impl Prompter {
    pub fn new(batch: bool) -> Self {
        Self { batch, answer: None }
    }

    /// A prompter that answers every secret prompt with `password`.
    pub fn answering(password: Secret) -> Self {
        Self { batch: true, answer: Some(password) }
    }

    /// [`Prompter::secret`] on a blocking thread.
    pub async fn ask_secret(&self, prompt: String) -> Result<String, PromptError> {
        if let Some(answer) = &self.answer {
            return Ok(answer.0.to_string());
        }
        let prompter = self.clone();
        tokio::task::spawn_blocking(move || prompter.secret(&prompt)).await?
    }

    /// [`Prompter::confirm`] on a blocking thread.
    pub async fn ask_confirm(&self, prompt: String) -> Result<String, PromptError> {
        let prompter = self.clone();
        tokio::task::spawn_blocking(move || prompter.confirm(&prompt)).await?
    }

    /// Asks for a secret without echo; blocks until answered.
    pub fn secret(&self, prompt: &str) -> Result<String, PromptError> {
        if let Some(answer) = &self.answer {
            return Ok(answer.0.to_string());
        }
        match self.channel()? {
            Channel::Askpass(program) => askpass(&program, prompt, None),
            Channel::Terminal => Ok(rpassword::prompt_password(prompt)?),
        }
    }

    /// Asks a question whose answer is echoed (host key confirmation);
    /// blocks until answered.
    pub fn confirm(&self, prompt: &str) -> Result<String, PromptError> {
        match self.channel()? {
            Channel::Askpass(program) => askpass(&program, prompt, Some("confirm")),
            Channel::Terminal => {
                let mut tty = std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty")?;
                tty.write_all(prompt.as_bytes())?;
                tty.flush()?;
                let mut line = String::new();
                std::io::BufReader::new(tty).read_line(&mut line)?;
                Ok(line.trim_end_matches(['\r', '\n']).to_owned())
            }
        }
    }

    fn channel(&self) -> Result<Channel, PromptError> {
        if self.batch {
            return Err(PromptError::Batch);
        }
        let askpass = std::env::var("SSH_ASKPASS").ok().filter(|p| !p.is_empty());
        let require = std::env::var("SSH_ASKPASS_REQUIRE").unwrap_or_default();
        let has_display = std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
        match (require.as_str(), askpass) {
            ("never", _) => terminal_or_nothing(),
            ("force", Some(program)) => Ok(Channel::Askpass(program)),
            ("prefer", Some(program)) if has_display => Ok(Channel::Askpass(program)),
            (_, askpass) => match terminal_or_nothing() {
                Ok(c) => Ok(c),
                Err(e) => match askpass {
                    Some(program) if has_display => Ok(Channel::Askpass(program)),
                    _ => Err(e),
                },
            },
        }
    }
}

fn terminal_or_nothing() -> Result<Channel, PromptError> {
    match std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty") {
        Ok(_) => Ok(Channel::Terminal),
        Err(_) => Err(PromptError::NoWayToAsk),
    }
}

fn askpass(program: &str, prompt: &str, hint: Option<&str>) -> Result<String, PromptError> {
    let mut command = Command::new(program);
    command.arg(prompt).stdin(Stdio::null()).stderr(Stdio::inherit());
    if let Some(hint) = hint {
        command.env("SSH_ASKPASS_PROMPT", hint);
    }
    let output = command.output().map_err(|_| PromptError::Askpass { program: program.to_owned() })?;
    if !output.status.success() {
        return Err(PromptError::Askpass { program: program.to_owned() });
    }
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    use super::*;

    /// The askpass program answers only once another task on the same
    /// single-thread runtime has written the answer: a prompt that blocked
    /// the runtime's thread would never get it.
    #[test]
    fn askpass_waits_off_the_runtime_thread() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("answer");
        assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let script = dir.path().join("askpass");
        std::fs::write(&script, format!("#!/bin/sh\ncat '{}'\n", fifo.display())).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        // The only test in this crate that reads these variables.
        std::env::set_var("SSH_ASKPASS", &script);
        std::env::set_var("SSH_ASKPASS_REQUIRE", "force");

        let (done, result) = std::sync::mpsc::channel();
        let writer_fifo = fifo.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let answer = runtime.block_on(async {
                let writer = tokio::spawn(tokio::fs::write(writer_fifo, "s3cret\n"));
                let answer = Prompter::new(false).ask_secret("Password: ".into()).await;
                writer.await.unwrap().unwrap();
                answer
            });
            let _ = done.send(answer.map_err(|e| e.to_string()));
        });
        let answer = result.recv_timeout(Duration::from_secs(10));
        if answer.is_err() {
            // Let the askpass program finish before failing.
            let _ = std::fs::write(&fifo, "unblock\n");
        }
        let answer = answer.expect("the prompt blocked the runtime's only thread");
        assert_eq!(answer.as_deref(), Ok("s3cret"));
    }
}
