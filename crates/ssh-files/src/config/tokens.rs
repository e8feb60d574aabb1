//! `~`, `%x` and `${VAR}` expansion in path-like option values (OpenSSH
//! `tilde_expand_filename`, `percent_expand`, `dollar_expand`).

use std::path::Path;

use thiserror::Error;

use crate::local;

/// Why a value could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExpandError {
    /// `%x` for an `x` this option does not know.
    #[error("unknown token %{token} in \"{text}\"")]
    UnknownToken { token: char, text: String },
    /// A `%` at the very end.
    #[error("trailing % in \"{0}\"")]
    TrailingPercent(String),
    /// `${NAME}` where NAME is not set.
    #[error("environment variable ${{{0}}} is not set")]
    UnsetVariable(String),
    /// `${` without `}`.
    #[error("unterminated ${{ in \"{0}\"")]
    UnterminatedVariable(String),
    /// `~user/…` for a user the password database does not know.
    #[error("No such user {user} in \"{text}\"")]
    NoSuchUser { user: String, text: String },
    /// A token whose value could not be found on this machine (such as `%l`
    /// without a readable host name).
    #[error("no value for token %{0}")]
    Unavailable(char),
}

/// A token's value; computed only when the token is used.
pub(crate) enum TokenValue<'a> {
    Text(&'a str),
    Owned(String),
    Lazy(&'a dyn Fn() -> Option<String>),
}

/// Expands `%x` tokens from `tokens` and `%%`; with `dollar`, also
/// `${NAME}` from the environment.
pub(crate) fn expand(text: &str, tokens: &[(char, TokenValue<'_>)], dollar: bool) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '%' => match chars.next() {
                None => return Err(ExpandError::TrailingPercent(text.to_string())),
                Some((_, '%')) => out.push('%'),
                Some((_, token)) => {
                    let value = tokens
                        .iter()
                        .find(|(t, _)| *t == token)
                        .ok_or_else(|| ExpandError::UnknownToken { token, text: text.to_string() })?;
                    match &value.1 {
                        TokenValue::Text(s) => out.push_str(s),
                        TokenValue::Owned(s) => out.push_str(s),
                        TokenValue::Lazy(f) => out.push_str(&f().ok_or(ExpandError::Unavailable(token))?),
                    }
                }
            },
            '$' if dollar && text[at + 1..].starts_with('{') => {
                let start = at + 2;
                let len = text[start..].find('}').ok_or_else(|| ExpandError::UnterminatedVariable(text.to_string()))?;
                let name = &text[start..start + len];
                let value = std::env::var(name).map_err(|_| ExpandError::UnsetVariable(name.to_string()))?;
                out.push_str(&value);
                // Skip the name and the closing brace.
                for _ in 0..=name.chars().count() + 1 {
                    chars.next();
                }
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Replaces a leading `~` or `~/` with `home`, and `~user` with that
/// user's home directory (OpenSSH `tilde_expand`).
pub(crate) fn expand_tilde(text: &str, home: &Path) -> Result<String, ExpandError> {
    let Some(rest) = text.strip_prefix('~') else {
        return Ok(text.to_string());
    };
    let (user, rest) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let home = match user {
        "" => home.to_path_buf(),
        user => local::user_home(user)
            .ok_or_else(|| ExpandError::NoSuchUser { user: user.to_string(), text: text.to_string() })?,
    };
    let home = home.display().to_string();
    // A bare `~` becomes the directory with a slash, as OpenSSH's
    // `tilde_expand` makes it.
    let slash = if rest.is_empty() && !home.ends_with('/') { "/" } else { "" };
    Ok(format!("{home}{slash}{rest}"))
}

/// `%l`.
fn local_hostname() -> Option<String> {
    local::host_name()
}

/// `%i`.
fn local_uid() -> Option<String> {
    Some(local::uid().to_string())
}

/// What the `%` tokens of a connection stand for (OpenSSH's
/// `default_client_percent_expand` set).
pub(crate) struct Context<'a> {
    /// `%d`
    pub(crate) home: &'a Path,
    /// `%u`
    pub(crate) local_user: &'a str,
    /// `%h`: the host name after `HostName`.
    pub(crate) host: &'a str,
    /// `%n`: the host as given on the command line.
    pub(crate) original_host: &'a str,
    /// `%p`
    pub(crate) port: u16,
    /// `%r`
    pub(crate) remote_user: &'a str,
    /// `%k`: `HostKeyAlias`, or the host.
    pub(crate) host_key_alias: Option<&'a str>,
    /// `%j`: the `ProxyJump` host, or empty.
    pub(crate) jump_host: &'a str,
}

impl Context<'_> {
    /// Expands `%` tokens (`%C %d %h %i %j %k %L %l %n %p %r %u %%`) and, with
    /// `dollar`, `${VAR}`.
    pub(crate) fn expand(&self, text: &str, dollar: bool) -> Result<String, ExpandError> {
        self.expand_with(text, dollar, Vec::new())
    }

    /// [`Context::expand`] with tokens of the option's own (`%T` for
    /// LocalCommand).
    pub(crate) fn expand_with(
        &self,
        text: &str,
        dollar: bool,
        extra: Vec<(char, TokenValue<'_>)>,
    ) -> Result<String, ExpandError> {
        let short_hostname = || local_hostname().map(|h| h.split('.').next().unwrap_or_default().to_string());
        // %C: SHA-1 of %l%h%p%r%j in hex, as OpenSSH's ssh_connection_hash.
        let connection_hash = || {
            use sha1::{Digest, Sha1};
            let mut hash = Sha1::new();
            hash.update(local_hostname()?.as_bytes());
            hash.update(self.host.as_bytes());
            hash.update(self.port.to_string().as_bytes());
            hash.update(self.remote_user.as_bytes());
            hash.update(self.jump_host.as_bytes());
            Some(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
        };
        let tokens = [
            ('C', TokenValue::Lazy(&connection_hash)),
            ('d', TokenValue::Owned(self.home.display().to_string())),
            ('h', TokenValue::Text(self.host)),
            ('i', TokenValue::Lazy(&local_uid)),
            ('j', TokenValue::Text(self.jump_host)),
            ('k', TokenValue::Text(self.host_key_alias.unwrap_or(self.host))),
            ('L', TokenValue::Lazy(&short_hostname)),
            ('l', TokenValue::Lazy(&local_hostname)),
            ('n', TokenValue::Text(self.original_host)),
            ('p', TokenValue::Owned(self.port.to_string())),
            ('r', TokenValue::Text(self.remote_user)),
            ('u', TokenValue::Text(self.local_user)),
        ];
        let mut tokens = Vec::from(tokens);
        tokens.extend(extra);
        expand(text, &tokens, dollar)
    }

    /// `~` then tokens then `${VAR}`, as OpenSSH does for IdentityFile,
    /// UserKnownHostsFile and IdentityAgent.
    pub(crate) fn expand_path(&self, text: &str) -> Result<String, ExpandError> {
        self.expand(&expand_tilde(text, self.home)?, true)
    }
}

/// The host that `%j` names: the last hop of a `ProxyJump` list, without
/// user, port or `ssh://`; empty for none.
pub(crate) fn jump_host(proxy_jump: Option<&str>) -> String {
    let Some(jump) = proxy_jump.filter(|j| !j.eq_ignore_ascii_case("none")) else {
        return String::new();
    };
    let last = jump.rsplit(',').next().unwrap_or_default().trim();
    let last = last.strip_prefix("ssh://").unwrap_or(last);
    let host = last.rsplit_once('@').map_or(last, |(_, host)| host);
    if let Some(bracketed) = host.strip_prefix('[') {
        return bracketed.split(']').next().unwrap_or_default().to_string();
    }
    host.split(':').next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_percent_tokens() {
        let lazy = || Some("lazy".to_string());
        let tokens =
            [('h', TokenValue::Text("host")), ('p', TokenValue::Owned("22".into())), ('l', TokenValue::Lazy(&lazy))];
        let cases = [
            ("plain", Ok("plain".to_string())),
            ("%h:%p", Ok("host:22".to_string())),
            ("100%%", Ok("100%".to_string())),
            ("%l", Ok("lazy".to_string())),
            ("%x", Err(ExpandError::UnknownToken { token: 'x', text: "%x".into() })),
            ("a%", Err(ExpandError::TrailingPercent("a%".into()))),
        ];
        for (text, want) in cases {
            assert_eq!(expand(text, &tokens, false), want, "{text}");
        }
    }

    #[test]
    fn expands_environment_variables() {
        std::env::set_var("SSH_FILES_TEST_VAR", "value");
        assert_eq!(expand("a/${SSH_FILES_TEST_VAR}/b", &[], true), Ok("a/value/b".into()));
        // Without `dollar`, or without braces, the text stays.
        assert_eq!(expand("${SSH_FILES_TEST_VAR}", &[], false), Ok("${SSH_FILES_TEST_VAR}".into()));
        assert_eq!(expand("$HOME", &[], true), Ok("$HOME".into()));
        assert_eq!(
            expand("${SSH_FILES_TEST_UNSET}", &[], true),
            Err(ExpandError::UnsetVariable("SSH_FILES_TEST_UNSET".into()))
        );
        assert_eq!(expand("${OPEN", &[], true), Err(ExpandError::UnterminatedVariable("${OPEN".into())));
    }

    #[test]
    fn expands_connection_tokens() {
        let ctx = Context {
            home: Path::new("/home/u"),
            local_user: "u",
            host: "real.example",
            original_host: "alias",
            port: 2222,
            remote_user: "r",
            host_key_alias: None,
            jump_host: "",
        };
        assert_eq!(
            ctx.expand("%d %h %n %p %r %u %k %%", false),
            Ok("/home/u real.example alias 2222 r u real.example %".into())
        );
        assert_eq!(ctx.expand_path("~/.ssh/id_%h_%r"), Ok("/home/u/.ssh/id_real.example_r".into()));
        if local_hostname().is_some() {
            let hash = ctx.expand("%C", false).unwrap();
            assert_eq!(hash.len(), 40);
        }
        assert!(matches!(ctx.expand("%z", false), Err(ExpandError::UnknownToken { token: 'z', .. })));
    }

    #[test]
    fn jump_hosts() {
        let cases = [
            (None, ""),
            (Some("none"), ""),
            (Some("gw"), "gw"),
            (Some("user@gw:2222"), "gw"),
            (Some("a,user@b"), "b"),
            (Some("ssh://u@[::1]:22"), "::1"),
        ];
        for (jump, want) in cases {
            assert_eq!(jump_host(jump), want, "{jump:?}");
        }
    }

    #[test]
    fn expands_tilde() {
        let home = Path::new("/home/u");
        assert_eq!(expand_tilde("~", home), Ok("/home/u/".into()));
        assert_eq!(expand_tilde("~/.ssh/id", home), Ok("/home/u/.ssh/id".into()));
        assert_eq!(expand_tilde("/abs/~", home), Ok("/abs/~".into()));
        assert_eq!(expand_tilde("rel", home), Ok("rel".into()));
        let root = local::user_home("root").unwrap().display().to_string();
        assert_eq!(expand_tilde("~root/.ssh/id", home), Ok(format!("{root}/.ssh/id")));
        assert_eq!(expand_tilde("~root", home), Ok(format!("{root}/")));
        assert_eq!(
            expand_tilde("~no-such-user-for-ssh-files-tests/x", home),
            Err(ExpandError::NoSuchUser {
                user: "no-such-user-for-ssh-files-tests".into(),
                text: "~no-such-user-for-ssh-files-tests/x".into()
            })
        );
    }
}
