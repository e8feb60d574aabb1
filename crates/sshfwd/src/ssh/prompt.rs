//! Asking the user for a secret or a yes/no answer, the way OpenSSH does:
//! through `SSH_ASKPASS` when `SSH_ASKPASS_REQUIRE` says so (or when there is
//! no terminal but a display), otherwise on the controlling terminal.

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
}

/// What the prompter may do, fixed once per run.
#[derive(Debug, Clone)]
pub struct Prompter {
    batch: bool,
}

enum Channel {
    Askpass(String),
    Terminal,
}

impl Prompter {
    pub fn new(batch: bool) -> Self {
        Self { batch }
    }

    /// Asks for a secret without echo.
    pub fn secret(&self, prompt: &str) -> Result<String, PromptError> {
        match self.channel()? {
            Channel::Askpass(program) => askpass(&program, prompt, None),
            Channel::Terminal => Ok(rpassword::prompt_password(prompt)?),
        }
    }

    /// Asks a question whose answer is echoed (host key confirmation).
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
