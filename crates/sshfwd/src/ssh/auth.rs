//! User authentication in OpenSSH's order: agent keys, identity files,
//! keyboard-interactive, password. Each method is tried only while the
//! server still lists it.

use std::path::PathBuf;
use std::sync::Arc;

use russh::client::{AuthResult, Handle, KeyboardInteractiveAuthResponse};
use russh::keys::agent::client::AgentClient;
use russh::keys::agent::AgentIdentity;
use russh::keys::{PrivateKeyWithHashAlg, PublicKey};
use russh::{MethodKind, MethodSet};

use super::handler::ClientHandler;
use super::prompt::Prompter;

/// Where to find the ssh-agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentSource {
    /// `SSH_AUTH_SOCK`.
    Environment,
    Socket(PathBuf),
    /// IdentityAgent none.
    Disabled,
}

#[derive(Debug, Clone)]
pub struct AuthOptions {
    pub user: String,
    /// Identity files in the order to try; `explicit` ones produce a warning
    /// when missing, defaults are skipped silently.
    pub identity_files: Vec<IdentityFile>,
    pub identities_only: bool,
    pub agent: AgentSource,
    pub pubkey: bool,
    pub password: bool,
    pub kbd_interactive: bool,
    pub password_prompts: u32,
    /// The password to answer every prompt with, instead of asking.
    pub supplied_password: Option<super::prompt::Secret>,
}

#[derive(Debug, Clone)]
pub struct IdentityFile {
    pub path: PathBuf,
    pub explicit: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Every method failed; lists what the server would still accept.
    #[error("{user}@{host}: Permission denied ({methods}).")]
    Denied { user: String, host: String, methods: String },
    #[error(transparent)]
    Ssh(#[from] russh::Error),
}

/// Tracks what the server still accepts, from its last failure reply.
struct Remaining(Option<MethodSet>);

impl Remaining {
    fn allows(&self, kind: MethodKind) -> bool {
        self.0.as_ref().is_none_or(|set| set.contains(&kind))
    }

    fn update(&mut self, result: &AuthResult) -> bool {
        match result {
            AuthResult::Success => true,
            AuthResult::Failure { remaining_methods, .. } => {
                self.0 = Some(remaining_methods.clone());
                false
            }
        }
    }

    fn describe(&self) -> String {
        match &self.0 {
            Some(set) => set.iter().map(<&str>::from).collect::<Vec<_>>().join(","),
            None => "none".into(),
        }
    }
}

pub async fn authenticate(
    handle: &mut Handle<ClientHandler>,
    options: &AuthOptions,
    host: &str,
    prompter: &Prompter,
) -> Result<(), AuthError> {
    let mut remaining = Remaining(None);
    // Learn the server's methods; a server that accepts "none" lets us in.
    let probe = handle.authenticate_none(&options.user).await?;
    if remaining.update(&probe) {
        return Ok(());
    }

    if options.pubkey
        && remaining.allows(MethodKind::PublicKey)
        && try_public_keys(handle, options, prompter, &mut remaining).await?
    {
        return Ok(());
    }
    if options.kbd_interactive
        && remaining.allows(MethodKind::KeyboardInteractive)
        && try_keyboard_interactive(handle, options, host, prompter, &mut remaining).await?
    {
        return Ok(());
    }
    if options.password && remaining.allows(MethodKind::Password) {
        for _ in 0..options.password_prompts.max(1) {
            let Ok(password) = prompter.ask_secret(format!("{}@{}'s password: ", options.user, host)).await else {
                break;
            };
            let result = handle.authenticate_password(&options.user, password).await?;
            if remaining.update(&result) {
                return Ok(());
            }
            // A supplied password is not asked again: nobody to tell.
            if options.supplied_password.is_none() {
                tracing::info!("Permission denied, please try again.");
            }
        }
    }
    Err(AuthError::Denied { user: options.user.clone(), host: host.to_owned(), methods: remaining.describe() })
}

async fn try_public_keys(
    handle: &mut Handle<ClientHandler>,
    options: &AuthOptions,
    prompter: &Prompter,
    remaining: &mut Remaining,
) -> Result<bool, AuthError> {
    let rsa_hash = handle.best_supported_rsa_hash().await?.flatten();
    let file_publics: Vec<Option<PublicKey>> = options.identity_files.iter().map(|f| file_public(&f.path)).collect();
    // Files whose key the agent holds: signed for by the agent, so neither
    // read nor offered again (the private part may be only in the agent).
    let mut offered_by_agent = Vec::new();

    if let Some(mut agent) = connect_agent(&options.agent).await {
        let identities = agent.request_identities().await.unwrap_or_default();
        for identity in identities {
            let AgentIdentity::PublicKey { key, comment } = identity else { continue };
            let files = file_publics.iter().flatten().filter(|p| p.key_data() == key.key_data()).count();
            if options.identities_only && files == 0 {
                continue;
            }
            offered_by_agent.push(key.key_data().clone());
            tracing::debug!("Offering public key: {comment} {} agent", key.fingerprint(russh::keys::HashAlg::Sha256));
            let hash = if key.algorithm().is_rsa() { rsa_hash } else { None };
            match handle.authenticate_publickey_with(&options.user, key, hash, &mut agent).await {
                Ok(result) if remaining.update(&result) => return Ok(true),
                Ok(_) => {}
                Err(e) => tracing::debug!("agent could not sign: {e}"),
            }
        }
    }

    for (file, public) in options.identity_files.iter().zip(&file_publics) {
        if public.as_ref().is_some_and(|public| offered_by_agent.contains(public.key_data())) {
            continue;
        }
        if !file.path.exists() {
            if file.explicit {
                tracing::warn!(
                    "Warning: Identity file {} not accessible: No such file or directory.",
                    file.path.display()
                );
            }
            continue;
        }
        // The passphrase prompt and bcrypt's deliberately slow key
        // derivation would stall the runtime's only thread.
        let (path, key_prompter) = (file.path.clone(), prompter.clone());
        let Ok(Some(key)) = tokio::task::spawn_blocking(move || load_identity(&path, &key_prompter)).await else {
            continue;
        };
        tracing::debug!(
            "Offering public key: {} {}",
            file.path.display(),
            key.fingerprint(russh::keys::HashAlg::Sha256)
        );
        let key = PrivateKeyWithHashAlg::new(Arc::new(key), rsa_hash);
        let result = handle.authenticate_publickey(&options.user, key).await?;
        if remaining.update(&result) {
            return Ok(true);
        }
        if !remaining.allows(MethodKind::PublicKey) {
            break;
        }
    }
    Ok(false)
}

/// The public half of an identity file: `FILE.pub`, or the file itself when
/// it is a public key (`-i key.pub`), as ssh reads them.
fn file_public(path: &std::path::Path) -> Option<PublicKey> {
    russh::keys::load_public_key(pub_path(path)).or_else(|_| russh::keys::load_public_key(path)).ok()
}

fn pub_path(path: &std::path::Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

async fn connect_agent(
    source: &AgentSource,
) -> Option<AgentClient<Box<dyn russh::keys::agent::client::AgentStream + Send + Unpin>>> {
    let result = match source {
        AgentSource::Disabled => return None,
        AgentSource::Environment => {
            std::env::var_os("SSH_AUTH_SOCK")?;
            AgentClient::connect_env().await.map(AgentClient::dynamic)
        }
        AgentSource::Socket(path) => AgentClient::connect_uds(path).await.map(AgentClient::dynamic),
    };
    match result {
        Ok(agent) => Some(agent),
        Err(e) => {
            tracing::debug!("ssh-agent not available: {e}");
            None
        }
    }
}

/// Loads a private key, asking for its passphrase when it is encrypted
/// (up to three times, like OpenSSH). Blocks: run it off the async threads.
fn load_identity(path: &std::path::Path, prompter: &Prompter) -> Option<russh::keys::PrivateKey> {
    match russh::keys::load_secret_key(path, None) {
        Ok(key) => return Some(key),
        Err(russh::keys::Error::KeyIsEncrypted) => {}
        Err(e) => {
            tracing::warn!("Load key \"{}\": {e}", path.display());
            return None;
        }
    }
    for _ in 0..3 {
        let passphrase = match prompter.secret(&format!("Enter passphrase for key '{}': ", path.display())) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!("no passphrase for {}: {e}", path.display());
                return None;
            }
        };
        match russh::keys::load_secret_key(path, Some(&passphrase)) {
            Ok(key) => return Some(key),
            Err(_) => {
                tracing::info!("Load key \"{}\": incorrect passphrase supplied to decrypt private key", path.display())
            }
        }
    }
    None
}

async fn try_keyboard_interactive(
    handle: &mut Handle<ClientHandler>,
    options: &AuthOptions,
    host: &str,
    prompter: &Prompter,
    remaining: &mut Remaining,
) -> Result<bool, AuthError> {
    let mut response = handle.authenticate_keyboard_interactive_start(&options.user, None).await?;
    // Each round answers one set of prompts; a server asking forever is cut off.
    for _ in 0..16 {
        match response {
            KeyboardInteractiveAuthResponse::Success => return Ok(true),
            KeyboardInteractiveAuthResponse::Failure { remaining_methods, partial_success } => {
                remaining.update(&AuthResult::Failure { remaining_methods, partial_success });
                return Ok(false);
            }
            KeyboardInteractiveAuthResponse::InfoRequest { name, instructions, prompts } => {
                if !name.is_empty() {
                    tracing::info!("{name}");
                }
                if !instructions.is_empty() {
                    tracing::info!("{instructions}");
                }
                let mut answers = Vec::with_capacity(prompts.len());
                for p in prompts {
                    let text = if p.prompt.is_empty() {
                        format!("({}@{}) Password: ", options.user, host)
                    } else {
                        format!("({}@{}) {}", options.user, host, p.prompt)
                    };
                    let answer =
                        if p.echo { prompter.ask_confirm(text).await } else { prompter.ask_secret(text).await };
                    match answer {
                        Ok(a) => answers.push(a),
                        Err(_) => return Ok(false),
                    }
                }
                response = handle.authenticate_keyboard_interactive_respond(answers).await?;
            }
        }
    }
    Ok(false)
}
