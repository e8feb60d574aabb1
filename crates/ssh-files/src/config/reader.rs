//! Reading the configuration sources for one host: `-o` options, then the
//! user file, then the system file, following `Host`, `Match` and `Include`
//! as OpenSSH's `read_config_file_depth` and `process_config_line_depth`.

use std::io;
use std::path::{Path, PathBuf};

use super::directive::Directive;
use super::error::{ConfigError, ConfigFile, DirectiveError, Origin};
use super::glob::glob;
use super::keyword::Keyword;
use super::lexer::{self, LexError};
use super::options::HostOptions;
use super::tokens::{self, Context};
use super::{ConfigSources, IgnoredKeyword, RawValue};
use crate::pattern;

/// OpenSSH's `READCONF_MAX_DEPTH`.
const MAX_INCLUDE_DEPTH: usize = 16;

/// Whose file a line is in: decides where relative `Include` paths point
/// and whether `~` may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// `-o`, `-F` or `~/.ssh/config`: relative to `~/.ssh`.
    User,
    /// The system-wide file: relative to its directory (`/etc/ssh`).
    System,
}

/// How a line is being read.
#[derive(Debug, Clone, Copy)]
struct Frame {
    scope: Scope,
    /// Inside an `Include` reached from a block that does not apply: `Host`
    /// and `Match` lines cannot make anything apply (`SSHCONF_NEVERMATCH`).
    never_match: bool,
    depth: usize,
}

/// One pass over all sources.
pub(crate) struct Reader<'a> {
    sources: &'a ConfigSources,
    /// The host as given.
    original_host: &'a str,
    /// What `Host` lines match: the host as given, or in the final pass
    /// the host name after `HostName`.
    host: String,
    final_pass: bool,
    pub(crate) options: HostOptions,
    pub(crate) ignored: Vec<IgnoredKeyword>,
    pub(crate) raw: Vec<RawValue>,
    /// A `Match final` was seen: a second, final pass is needed.
    pub(crate) wants_final_pass: bool,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(sources: &'a ConfigSources, original_host: &'a str) -> Self {
        Reader {
            sources,
            original_host,
            host: original_host.to_string(),
            final_pass: false,
            options: HostOptions { user: sources.user.clone(), port: sources.port, ..HostOptions::default() },
            ignored: Vec::new(),
            raw: Vec::new(),
            wants_final_pass: false,
        }
    }

    /// Turns this reader into the final pass: same options (first value still
    /// wins), `Host` lines now match the host name after `HostName`.
    pub(crate) fn into_final_pass(mut self) -> Result<Self, ConfigError> {
        self.host = self.match_host().map_err(|source| ConfigError::Expand {
            origin: Origin { file: ConfigFile::CommandLine, line: 0 },
            source,
        })?;
        self.final_pass = true;
        Ok(self)
    }

    /// Reads every source in order.
    pub(crate) fn run(&mut self) -> Result<(), ConfigError> {
        let top = Frame { scope: Scope::User, never_match: false, depth: 0 };
        let sources = self.sources;
        for option in &sources.cli_options {
            let origin = Origin { file: ConfigFile::CommandLine, line: 0 };
            let mut active = true;
            self.line(option, &origin, top, &mut active, true)?;
        }
        match &sources.user_file {
            // `-F none`: no configuration files at all.
            Some(path) if path.as_os_str() == "none" => return Ok(()),
            Some(path) => {
                let mut active = true;
                self.file(path, top, &mut active)
                    .map_err(|source| ConfigError::Read { path: path.clone(), source })??;
                return Ok(());
            }
            None => {
                let path = sources.home.join(".ssh").join("config");
                self.optional_file(&path, top)?;
            }
        }
        let system = Frame { scope: Scope::System, ..top };
        self.optional_file(&sources.system_file, system)
    }

    /// Reads a default file; a missing one is fine.
    fn optional_file(&mut self, path: &Path, frame: Frame) -> Result<(), ConfigError> {
        let mut active = true;
        match self.file(path, frame, &mut active) {
            Ok(result) => result,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(ConfigError::Read { path: path.to_path_buf(), source }),
        }
    }

    /// Reads one file. The outer error is the file's, the inner one a line's.
    fn file(&mut self, path: &Path, frame: Frame, active: &mut bool) -> io::Result<Result<(), ConfigError>> {
        let bytes = std::fs::read(path)?;
        let text = String::from_utf8_lossy(&bytes);
        for (index, line) in text.lines().enumerate() {
            let origin = Origin { file: ConfigFile::Path(path.to_path_buf()), line: index + 1 };
            if let Err(e) = self.line(line, &origin, frame, active, false) {
                return Ok(Err(e));
            }
        }
        Ok(Ok(()))
    }

    /// Processes one line; `active` is whether the current block applies.
    fn line(
        &mut self,
        text: &str,
        origin: &Origin,
        frame: Frame,
        active: &mut bool,
        command_line: bool,
    ) -> Result<(), ConfigError> {
        let line = match lexer::split(text) {
            Ok(Some(line)) => line,
            Ok(None) => return Ok(()),
            Err(LexError::InvalidQuotes) => return Err(ConfigError::InvalidQuotes { origin: origin.clone() }),
            Err(LexError::NoArgument) => {
                let keyword =
                    text.trim_start().split(|c: char| c.is_whitespace() || c == '=').next().unwrap_or_default();
                return Err(ConfigError::MissingArgument { origin: origin.clone(), keyword: keyword.to_string() });
            }
        };
        let Some(keyword) = Keyword::lookup(line.keyword) else {
            let ignorable = self
                .options
                .ignore_unknown
                .as_deref()
                .is_some_and(|patterns| pattern::list(&line.keyword.to_lowercase(), patterns, true).is_match());
            if !ignorable {
                return Err(ConfigError::UnknownKeyword { origin: origin.clone(), keyword: line.keyword.to_string() });
            }
            if *active {
                self.note_ignored(line.keyword, origin, false);
            }
            return Ok(());
        };
        if command_line && matches!(keyword, Keyword::Host | Keyword::Match | Keyword::Include) {
            return Err(ConfigError::NotOnCommandLine { origin: origin.clone(), keyword: keyword.name() });
        }
        match keyword {
            Keyword::Host => {
                let matched = self.host_matches(&line.args, origin)?;
                *active = matched && !frame.never_match;
            }
            Keyword::Match => {
                let matched = self.match_matches(&line.args, origin)?;
                *active = matched && !frame.never_match;
            }
            Keyword::Include => self.include(&line.args, origin, frame, active)?,
            keyword => {
                let directive = Directive::parse(keyword, &line.args, line.raw)
                    .map_err(|problem| ConfigError::Directive { origin: origin.clone(), problem })?;
                if *active {
                    self.note_raw(keyword.name(), &line.args, origin);
                    match directive {
                        Directive::Ignored(name) => {
                            self.note_ignored(name, origin, keyword.effect().changes_behaviour(&line.args))
                        }
                        Directive::RefuseConnection(message) => {
                            return Err(ConfigError::Refused { origin: origin.clone(), message });
                        }
                        directive => self.options.apply(directive),
                    }
                }
            }
        }
        Ok(())
    }

    fn note_ignored(&mut self, keyword: &str, origin: &Origin, changes_behaviour: bool) {
        let entry = IgnoredKeyword { keyword: keyword.to_string(), origin: origin.clone(), changes_behaviour };
        // The final pass reads the same lines again.
        if !self.ignored.contains(&entry) {
            self.ignored.push(entry);
        }
    }

    fn note_raw(&mut self, keyword: &'static str, args: &[String], origin: &Origin) {
        let entry = RawValue { keyword, value: args.join(" "), args: args.to_vec(), origin: origin.clone() };
        // `-o` lines all have line 0: only file lines can be read twice.
        let seen = origin.line > 0 && self.raw.iter().any(|r| r.keyword == keyword && r.origin == *origin);
        if !seen {
            self.raw.push(entry);
        }
    }

    /// `Host pattern…`: applies when a pattern matches and no negated one
    /// does. Patterns are compared without case.
    fn host_matches(&self, patterns: &[String], origin: &Origin) -> Result<bool, ConfigError> {
        let host = self.host.to_lowercase();
        let mut matched = false;
        for arg in patterns {
            if arg.is_empty() {
                return Err(ConfigError::Directive {
                    origin: origin.clone(),
                    problem: DirectiveError::InvalidValue { keyword: "Host", value: String::new() },
                });
            }
            let (negated, pattern) = match arg.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, arg.as_str()),
            };
            if pattern::wildcard(&host, &pattern.to_lowercase()) {
                if negated {
                    return Ok(false);
                }
                matched = true;
            }
        }
        Ok(matched)
    }

    /// `Match criteria…` (OpenSSH `match_cfg_line`). Supports `all`, `host`,
    /// `originalhost`, `user`, `localuser`, `canonical` and `final`, each
    /// negatable with `!`; the others are refused, never guessed.
    fn match_matches(&mut self, args: &[String], origin: &Origin) -> Result<bool, ConfigError> {
        let bad = |message: String| ConfigError::Directive {
            origin: origin.clone(),
            problem: DirectiveError::Match(message),
        };
        let mut result = true;
        let mut attributes = 0;
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let (negate, attribute) = match arg.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, arg.as_str()),
            };
            let attribute = attribute.to_ascii_lowercase();
            if attribute == "all" {
                if attributes > 1 || args.next().is_some() {
                    return Err(bad(format!("'{arg}' cannot be combined with other Match attributes")));
                }
                return Ok(result && !negate);
            }
            attributes += 1;
            // We never canonicalize, so both only hold in the final pass.
            if attribute == "canonical" || attribute == "final" {
                if attribute == "final" {
                    self.wants_final_pass = true;
                }
                if self.final_pass == negate {
                    result = false;
                }
                continue;
            }
            let Some(criteria) = args.next() else {
                return Err(bad(format!("missing Match criteria for {attribute}")));
            };
            let matched = match attribute.as_str() {
                "host" => {
                    let host =
                        self.match_host().map_err(|source| ConfigError::Expand { origin: origin.clone(), source })?;
                    pattern::host_list(&host, criteria).is_match()
                }
                "originalhost" => pattern::host_list(self.original_host, criteria).is_match(),
                "user" => pattern::list(self.remote_user(), criteria, false).is_match(),
                "localuser" => pattern::list(&self.sources.local_user, criteria, false).is_match(),
                "exec" => {
                    // OpenSSH skips the command once the line cannot match.
                    if !result {
                        continue;
                    }
                    self.match_exec(criteria, origin)?
                }
                "localnetwork" | "tagged" | "command" | "version" | "sessiontype" => {
                    return Err(ConfigError::Unsupported { origin: origin.clone(), what: format!("Match {attribute}") })
                }
                _ => return Err(bad(format!("unsupported Match attribute {attribute}"))),
            };
            if matched == negate {
                result = false;
            }
        }
        if attributes == 0 {
            return Err(bad("one or more attributes required for Match".to_string()));
        }
        Ok(result)
    }

    /// The host `Match host` compares: the final host name in the final
    /// pass, else `HostName` with `%h` expanded, else the host as given.
    fn match_host(&self) -> Result<String, tokens::ExpandError> {
        if self.final_pass {
            return Ok(self.host.clone());
        }
        match &self.options.host_name {
            Some(name) => tokens::expand(name, &[('h', tokens::TokenValue::Text(self.original_host))], false),
            None => Ok(self.original_host.to_string()),
        }
    }

    fn remote_user(&self) -> &str {
        self.options.user.as_deref().unwrap_or(&self.sources.local_user)
    }

    /// `Include path…`: tokens expanded, relative paths anchored, globs
    /// expanded; each file read with the current block state, which is
    /// restored afterwards.
    fn include(
        &mut self,
        args: &[String],
        origin: &Origin,
        frame: Frame,
        active: &mut bool,
    ) -> Result<(), ConfigError> {
        if frame.depth >= MAX_INCLUDE_DEPTH {
            return Err(ConfigError::IncludeDepth { origin: origin.clone() });
        }
        for arg in args {
            let path = self.include_path(arg, origin, frame.scope)?;
            let outer_active = *active;
            let inner =
                Frame { scope: frame.scope, never_match: frame.never_match || !outer_active, depth: frame.depth + 1 };
            for file in glob(&path) {
                match self.file(&file, inner, active) {
                    Ok(result) => result?,
                    // Gone since the glob: skip, as OpenSSH does on ENOENT.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(source) => return Err(ConfigError::Read { path: file, source }),
                }
                // A Match in the included file does not leak out of it.
                *active = outer_active;
            }
        }
        Ok(())
    }

    /// Expands the tokens of a connection, as they stand so far.
    fn expand(&self, text: &str, dollar: bool) -> Result<String, tokens::ExpandError> {
        let host = self.match_host()?;
        let jump = tokens::jump_host(self.options.proxy_jump.as_deref());
        let context = Context {
            home: &self.sources.home,
            local_user: &self.sources.local_user,
            host: &host,
            original_host: self.original_host,
            port: self.options.port.unwrap_or(22),
            remote_user: self.remote_user(),
            host_key_alias: self.options.host_key_alias.as_deref(),
            jump_host: &jump,
        };
        context.expand(text, dollar)
    }

    /// `Match exec command`: true when the command, tokens expanded and
    /// run by `$SHELL -c` (else /bin/sh) with stdin and stdout on
    /// /dev/null, exits 0 (OpenSSH `execute_in_shell`).
    fn match_exec(&self, command: &str, origin: &Origin) -> Result<bool, ConfigError> {
        let command =
            self.expand(command, false).map_err(|source| ConfigError::Expand { origin: origin.clone(), source })?;
        let status = std::process::Command::new(crate::local::shell())
            .arg("-c")
            .arg(&command)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .status();
        match status.ok().and_then(|status| status.code()) {
            Some(code) => Ok(code == 0),
            None => Err(ConfigError::MatchExec { origin: origin.clone(), command }),
        }
    }

    /// Expands and anchors one `Include` argument.
    fn include_path(&self, arg: &str, origin: &Origin, scope: Scope) -> Result<PathBuf, ConfigError> {
        let expand_error = |source| ConfigError::Expand { origin: origin.clone(), source };
        let expanded = self.expand(arg, true).map_err(expand_error)?;
        if expanded.starts_with('~') {
            if scope == Scope::System {
                return Err(ConfigError::BadIncludePath { origin: origin.clone(), path: expanded });
            }
            let path = tokens::expand_tilde(&expanded, &self.sources.home).map_err(expand_error)?;
            return Ok(PathBuf::from(path));
        }
        let path = PathBuf::from(&expanded);
        if path.is_absolute() {
            return Ok(path);
        }
        Ok(match scope {
            Scope::User => self.sources.home.join(".ssh").join(path),
            Scope::System => self.sources.system_file.parent().unwrap_or(Path::new("/etc/ssh")).join(path),
        })
    }
}
