//! Resolution over real files: sources, Host, Match, Include, errors.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::forward_spec::{ForwardKind, ForwardSpec};

/// A home directory and a system directory in a temporary tree.
struct Fixture {
    _dir: tempfile::TempDir,
    sources: ConfigSources,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        fs::create_dir_all(home.join(".ssh")).unwrap();
        fs::create_dir_all(dir.path().join("etc")).unwrap();
        let mut sources = ConfigSources::new(&home, "me");
        sources.system_file = dir.path().join("etc/ssh_config");
        Fixture { _dir: dir, sources }
    }

    fn home(&self) -> &Path {
        &self.sources.home
    }

    fn user_config(&self, text: &str) -> PathBuf {
        self.write(&self.home().join(".ssh/config"), text)
    }

    fn system_config(&self, text: &str) -> PathBuf {
        self.write(&self.sources.system_file.clone(), text)
    }

    fn write(&self, path: &Path, text: &str) -> PathBuf {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(path, text).unwrap();
        path.to_path_buf()
    }

    fn resolve(&self, host: &str) -> Resolved {
        resolve(&self.sources, host).unwrap()
    }

    fn error(&self, host: &str) -> String {
        resolve(&self.sources, host).unwrap_err().to_string()
    }
}

#[test]
fn no_files_at_all_is_fine() {
    let fx = Fixture::new();
    let resolved = fx.resolve("host");
    assert_eq!(resolved.options, HostOptions::default());
    assert!(resolved.ignored.is_empty());
}

#[test]
fn first_obtained_value_wins_across_sources() {
    let mut fx = Fixture::new();
    fx.user_config(
        "# user config\n\
         Host web\n\
         \x20   HostName web.example.com\n\
         \x20   Port 2200\n\
         \n\
         Host *\n\
         \x20   Port 22\n\
         \x20   User everyone\n\
         \x20   ServerAliveInterval 30\n",
    );
    fx.system_config("Host *\n  User system\n  ConnectTimeout 10\n  ServerAliveInterval 99\n");
    fx.sources.cli_options = vec!["Port=2222".into(), "User bob".into(), "User = ignored".into()];
    let o = fx.resolve("web").options;
    assert_eq!(o.port, Some(2222));
    assert_eq!(o.user.as_deref(), Some("bob"));
    assert_eq!(o.host_name.as_deref(), Some("web.example.com"));
    assert_eq!(o.server_alive_interval, Some(Duration::from_secs(30)));
    assert_eq!(o.connect_timeout, Some(Duration::from_secs(10)));

    fx.sources.cli_options.clear();
    let o = fx.resolve("other").options;
    assert_eq!(o.port, Some(22));
    assert_eq!(o.user.as_deref(), Some("everyone"));
    assert_eq!(o.host_name, None);
}

#[test]
fn dash_f_replaces_user_file_and_skips_system_file() {
    let mut fx = Fixture::new();
    fx.user_config("User from-default-user-file\n");
    fx.system_config("Port 2022\n");
    let custom = fx.write(&fx.home().join("custom"), "User custom\n");
    fx.sources.user_file = Some(custom);
    let o = fx.resolve("h").options;
    assert_eq!(o.user.as_deref(), Some("custom"));
    assert_eq!(o.port, None);

    fx.sources.user_file = Some(PathBuf::from("none"));
    assert_eq!(fx.resolve("h").options, HostOptions::default());

    let missing = fx.home().join("missing");
    fx.sources.user_file = Some(missing.clone());
    assert!(fx.error("h").starts_with(&format!("can't open config file {}", missing.display())));
}

#[test]
fn host_patterns() {
    let fx = Fixture::new();
    fx.user_config(
        "Host *.example.com !secret.example.com\n  User a\n\
         Host db? DB-*\n  User b\n\
         Host !nothing\n  User never\n\
         Host *\n  User fallback\n",
    );
    let cases = [
        ("www.example.com", "a"),
        ("WWW.Example.COM", "a"),
        ("secret.example.com", "fallback"),
        ("db1", "b"),
        ("db12", "fallback"),
        ("db-main", "b"),
        // A line of negations only never matches.
        ("something", "fallback"),
    ];
    for (host, user) in cases {
        assert_eq!(fx.resolve(host).options.user.as_deref(), Some(user), "{host}");
    }
}

#[test]
fn lines_before_any_host_apply_to_every_host() {
    let fx = Fixture::new();
    fx.user_config("User top\nHost x\n  User x\n");
    assert_eq!(fx.resolve("x").options.user.as_deref(), Some("top"));
}

#[test]
fn cumulative_and_list_options() {
    let mut fx = Fixture::new();
    fx.user_config(
        "Host h\n\
         \x20 IdentityFile ~/.ssh/a\n\
         \x20 LocalForward ftp/2121 ftp.example.com:21\n\
         \x20 UserKnownHostsFile ~/.ssh/kh1 ~/.ssh/kh2\n\
         Host *\n\
         \x20 IdentityFile ~/.ssh/b\n\
         \x20 IdentityFile ~/.ssh/a\n\
         \x20 DynamicForward 1080\n\
         \x20 RemoteForward 0 localhost:22\n\
         \x20 UserKnownHostsFile ~/.ssh/other\n",
    );
    fx.sources.cli_options = vec!["IdentityFile=~/.ssh/cli".into()];
    let o = fx.resolve("h").options;
    assert_eq!(o.identity_files, vec!["~/.ssh/cli", "~/.ssh/a", "~/.ssh/b"]);
    assert_eq!(o.user_known_hosts_files, Some(vec!["~/.ssh/kh1".to_string(), "~/.ssh/kh2".to_string()]));
    let forwards: Vec<String> = o.forwards.iter().map(ToString::to_string).collect();
    assert_eq!(forwards, vec!["ftp/2121:ftp.example.com:21", "1080", "0:localhost:22"]);
    let kinds: Vec<ForwardKind> = o.forwards.iter().map(ForwardSpec::kind).collect();
    assert_eq!(kinds, [ForwardKind::Local, ForwardKind::Dynamic, ForwardKind::Remote]);
}

#[test]
fn match_criteria() {
    let fx = Fixture::new();
    fx.user_config(
        "Match originalhost alias\n  HostName real.example.com\n\
         Match host real.example.com\n  Port 1001\n\
         Match host *.example.com !originalhost alias\n  Port 1002\n\
         Match user root\n  IdentityFile ~/.ssh/root\n\
         Match localuser me host other\n  User via-localuser\n\
         Match !localuser me\n  User never\n\
         Match all\n  Port 1003\n",
    );
    let o = fx.resolve("alias").options;
    assert_eq!(o.host_name.as_deref(), Some("real.example.com"));
    // `Match host` sees the host name after HostName.
    assert_eq!(o.port, Some(1001));
    assert!(o.identity_files.is_empty());

    let o = fx.resolve("x.example.com").options;
    assert_eq!(o.port, Some(1002));

    let o = fx.resolve("other").options;
    assert_eq!(o.user.as_deref(), Some("via-localuser"));
    assert_eq!(o.port, Some(1003));
}

#[test]
fn match_user_sees_the_user_set_so_far() {
    let mut fx = Fixture::new();
    fx.user_config("Match user root\n  Port 2\nMatch all\n  Port 3\n");
    fx.sources.cli_options = vec!["User root".into()];
    assert_eq!(fx.resolve("h").options.port, Some(2));
    fx.sources.cli_options.clear();
    assert_eq!(fx.resolve("h").options.port, Some(3));
}

#[test]
fn match_final_reads_again_with_the_final_host_name() {
    let fx = Fixture::new();
    fx.user_config(
        "Host short\n  HostName long.example.com\n\
         Host long.example.com\n  User by-final-host\n\
         Match final host long.example.com\n  Port 2222\n",
    );
    let o = fx.resolve("short").options;
    assert_eq!(o.port, Some(2222));
    assert_eq!(o.user.as_deref(), Some("by-final-host"));
}

#[test]
fn unsupported_match_is_an_error_naming_file_and_line() {
    let fx = Fixture::new();
    let path = fx.user_config("Host a\n  User a\nMatch host x localnetwork 10.0.0.0/8\n  User b\n");
    assert_eq!(fx.error("a"), format!("{} line 3: Match localnetwork is not supported", path.display()));
    fx.user_config("Match all host x\n");
    assert!(fx.error("a").contains("line 1: bad Match condition: 'all' cannot be combined"));
    fx.user_config("Match host\n");
    assert!(fx.error("a").contains("missing Match criteria for host"));
    fx.user_config("Match bogus x\n");
    assert!(fx.error("a").contains("unsupported Match attribute bogus"));
}

#[test]
fn include_relative_glob_and_scoping() {
    let fx = Fixture::new();
    let ssh = fx.home().join(".ssh");
    fx.write(&ssh.join("conf.d/10-a.conf"), "Host a\n  User from-a\n");
    // A Match in an included file must not leak into the including file.
    fx.write(&ssh.join("conf.d/20-b.conf"), "Match host nothing\n  User never\n");
    fx.write(&ssh.join("conf.d/.hidden.conf"), "User hidden\n");
    fx.write(&ssh.join("inactive.conf"), "Host *\n  Port 9999\n");
    fx.write(&ssh.join("extra"), "Port 2000\n");
    fx.user_config(
        "Include conf.d/*.conf\n\
         Port 1000\n\
         Host z\n  Include inactive.conf\n\
         Host a\n  Include ~/.ssh/extra missing-file\n",
    );
    let o = fx.resolve("a").options;
    assert_eq!(o.user.as_deref(), Some("from-a"));
    assert_eq!(o.port, Some(1000));
    let o = fx.resolve("b").options;
    assert_eq!(o.user, None);
    // Host * inside a file included from an inapplicable block stays off.
    assert_eq!(o.port, Some(1000));
}

#[test]
fn include_in_the_system_file() {
    let fx = Fixture::new();
    let etc = fx.sources.system_file.parent().unwrap().to_path_buf();
    fx.write(&etc.join("ssh_config.d/x.conf"), "User sys-include\n");
    fx.system_config("Include ssh_config.d/*.conf\n");
    assert_eq!(fx.resolve("h").options.user.as_deref(), Some("sys-include"));

    let path = fx.system_config("Include ~/x\n");
    assert_eq!(fx.error("h"), format!("{} line 1: bad include path ~/x", path.display()));
}

#[test]
fn include_tokens_and_depth_limit() {
    let fx = Fixture::new();
    let ssh = fx.home().join(".ssh");
    fx.write(&ssh.join("hosts/server"), "Port 4242\n");
    fx.user_config("Include hosts/%n\n");
    assert_eq!(fx.resolve("server").options.port, Some(4242));

    let path = fx.user_config("Include config\n");
    let err = fx.error("h");
    assert_eq!(err, format!("{} line 1: too many recursive configuration includes", path.display()));
}

#[test]
fn errors_name_file_and_line() {
    let fx = Fixture::new();
    let path = fx.user_config("Host x\n\n  Frobnicate yes\n");
    assert_eq!(fx.error("h"), format!("{} line 3: Bad configuration option: Frobnicate", path.display()));
    // Values are checked even where the block does not apply.
    fx.user_config("Host x\n  StrictHostKeyChecking maybe\n");
    assert_eq!(fx.error("h"), format!("{} line 2: invalid value \"maybe\" for StrictHostKeyChecking", path.display()));
    fx.user_config("Port\n");
    assert_eq!(fx.error("h"), format!("{} line 1: no argument after keyword \"Port\"", path.display()));
    fx.user_config("User \"open\n");
    assert_eq!(fx.error("h"), format!("{} line 1: invalid quotes", path.display()));
    fx.user_config("Port 22 23\n");
    assert_eq!(fx.error("h"), format!("{} line 1: keyword Port extra arguments at end of line", path.display()));
    fx.user_config("LocalForward 8080\n");
    assert_eq!(
        fx.error("h"),
        format!("{} line 1: bad local forwarding specification '8080': wrong number of fields", path.display())
    );
}

#[test]
fn refuse_connection_stops_at_an_active_line_with_its_message() {
    let mut fx = Fixture::new();
    let path = fx.user_config(
        "Host old\n  RefuseConnection \"old is retired, use new\"\n\
         Host *\n  Port 2222\n  RefuseConnection never-reached-for-new\n",
    );
    assert_eq!(fx.error("old"), format!("{} line 2: RefuseConnection: old is retired, use new", path.display()));
    // Only an active section refuses; a later line (line 5) for everyone.
    assert_eq!(fx.error("new"), format!("{} line 5: RefuseConnection: never-reached-for-new", path.display()));
    fx.user_config("Host old\n  RefuseConnection retired\n");
    assert_eq!(fx.resolve("new").options, HostOptions::default());
    fx.sources.cli_options = vec!["RefuseConnection=\"not today\"".into()];
    assert_eq!(fx.error("new"), "command-line line 0: RefuseConnection: not today");
}

#[test]
fn command_line_errors() {
    let mut fx = Fixture::new();
    fx.sources.cli_options = vec!["Frobnicate=yes".into()];
    assert_eq!(fx.error("h"), "command-line line 0: Bad configuration option: Frobnicate");
    fx.sources.cli_options = vec!["BatchMode=maybe".into()];
    assert_eq!(fx.error("h"), "command-line line 0: invalid value \"maybe\" for BatchMode");
    fx.sources.cli_options = vec!["Host=x".into()];
    assert_eq!(fx.error("h"), "command-line line 0: Host directive not supported as a command-line option");
    fx.sources.cli_options = vec!["Include x".into()];
    assert!(fx.error("h").contains("Include directive not supported"));
}

#[test]
fn ignored_keywords_are_reported_with_origin() {
    let mut fx = Fixture::new();
    let path = fx.user_config(
        "Host h\n  ForwardX11 yes\n  visualhostkey yes\n\
         Host other\n  Compression yes\n",
    );
    fx.sources.cli_options = vec!["VisualHostKey=no".into()];
    let ignored = fx.resolve("h").ignored;
    let got: Vec<(String, String)> = ignored.iter().map(|i| (i.keyword.clone(), i.origin.to_string())).collect();
    assert_eq!(
        got,
        vec![
            ("VisualHostKey".to_string(), "command-line line 0".to_string()),
            ("ForwardX11".to_string(), format!("{} line 2", path.display())),
            ("VisualHostKey".to_string(), format!("{} line 3", path.display())),
        ]
    );
}

#[test]
fn ignore_unknown_accepts_listed_unknown_keywords() {
    let fx = Fixture::new();
    fx.user_config("IgnoreUnknown UseKeychain,Frob*\nUseKeychain yes\nfrobnicate 1\nUser u\n");
    let resolved = fx.resolve("h");
    assert_eq!(resolved.options.user.as_deref(), Some("u"));
    let names: Vec<&str> = resolved.ignored.iter().map(|i| i.keyword.as_str()).collect();
    assert_eq!(names, vec!["UseKeychain", "frobnicate"]);
    // Only from the line on that sets it.
    fx.user_config("UseKeychain yes\nIgnoreUnknown UseKeychain\n");
    assert!(fx.error("h").contains("line 1: Bad configuration option: UseKeychain"));
}

#[test]
fn typed_ftp_and_other_options_from_config() {
    let fx = Fixture::new();
    fx.user_config(
        "Host *\n\
         \x20 FtpDataTimeout 1m\n\
         \x20 FtpPassiveAddress reply\n\
         \x20 FtpAllowForeignPassive yes\n\
         \x20 FtpAllowThirdPartyActive no\n\
         \x20 FtpTls pass\n\
         \x20 Ciphers ^aes128-gcm@openssh.com\n\
         \x20 KbdInteractiveAuthentication=no\n\
         \x20 ChallengeResponseAuthentication yes\n\
         \x20 LogLevel VERBOSE\n\
         \x20 StrictHostKeyChecking accept-new\n\
         \x20 ProxyJump gw.example.com\n",
    );
    let o = fx.resolve("h").options;
    assert_eq!(o.ftp_data_timeout, Some(Duration::from_secs(60)));
    assert_eq!(o.ftp_passive_address, Some(FtpPassiveAddress::Reply));
    assert_eq!(o.ftp_allow_foreign_passive, Some(true));
    assert_eq!(o.ftp_allow_third_party_active, Some(false));
    assert_eq!(o.ftp_tls, Some(FtpTls::Pass));
    assert_eq!(o.ciphers.as_deref(), Some("^aes128-gcm@openssh.com"));
    assert_eq!(o.kbd_interactive_authentication, Some(false));
    assert_eq!(o.log_level, Some(LogLevel::Verbose));
    assert_eq!(o.strict_host_key_checking, Some(StrictHostKeyChecking::AcceptNew));
    assert_eq!(o.proxy_jump.as_deref(), Some("gw.example.com"));
}

#[test]
fn resolve_then_merge_cli_flags_then_settings() {
    let fx = Fixture::new();
    fx.user_config("Host web\n  HostName %h.example.com\n  User www\n  IdentityFile ~/.ssh/id_%r\n  Port 2200\n");
    let mut options = fx.resolve("web").options;
    // What the CLI does with -p, -l, -i and -L.
    options.port = Some(2222);
    options.user = Some("admin".into());
    options.identity_files.insert(0, "/keys/cli".into());
    options.forwards.insert(0, ForwardSpec::parse(ForwardKind::Local, "8080:localhost:80").unwrap());
    let s = Settings::new("web", options, fx.home(), "me").unwrap();
    assert_eq!(s.host_name, "web.example.com");
    assert_eq!(s.port, 2222);
    assert_eq!(s.user, "admin");
    assert_eq!(s.identity_files, vec![PathBuf::from("/keys/cli"), fx.home().join(".ssh/id_admin")]);
    assert_eq!(s.forwards.len(), 1);
}

// Issue 14 (config)
#[test]
fn match_exec_runs_the_command_with_tokens_expanded() {
    let fx = Fixture::new();
    let marker = fx.home().join("ran");
    let table: &[(&str, Option<&str>)] = &[
        ("Match exec true\n  User yes\n", Some("yes")),
        ("Match exec false\n  User yes\n", None),
        ("Match !exec false\n  User negated\n", Some("negated")),
        ("Match exec \"test %h = target && test %p = 2200\"\n  User tokens\n", Some("tokens")),
        ("Match exec \"exit 3\"\n  User three\n", None),
    ];
    for (config, user) in table {
        fx.user_config(config);
        let mut sources = fx.sources.clone();
        sources.cli_options = vec!["Port 2200".into()];
        let o = resolve(&sources, "target").unwrap().options;
        assert_eq!(o.user.as_deref(), *user, "{config}");
    }
    // A failed earlier criterion skips the command, as OpenSSH does.
    let touch = format!("Match host other exec \"touch {}\"\n  User no\n", marker.display());
    fx.user_config(&touch);
    assert_eq!(fx.resolve("target").options.user, None);
    assert!(!marker.exists());
}

#[test]
fn raw_values_and_warnings_of_ignored_keywords() {
    let fx = Fixture::new();
    let path = fx.user_config("Host *\n  IPQoS af21 cs1\n  Tunnel yes\n  ForwardX11 no\n");
    let mut sources = fx.sources.clone();
    sources.cli_options = vec!["ipqos=cs1".into()];
    let resolved = resolve(&sources, "h").unwrap();
    let raw: Vec<(&str, &str)> = resolved.raw.iter().map(|r| (r.keyword, r.value.as_str())).collect();
    assert_eq!(raw, [("IPQoS", "cs1"), ("IPQoS", "af21 cs1"), ("Tunnel", "yes"), ("ForwardX11", "no")]);
    let warned: Vec<String> = resolved
        .ignored
        .iter()
        .filter(|i| i.changes_behaviour)
        .map(|i| format!("{} {}", i.origin, i.keyword))
        .collect();
    assert_eq!(warned, [format!("{} line 3 Tunnel", path.display())]);
    assert_eq!(option_keyword("user=foo"), Some("User"));
    assert_eq!(option_keyword("  Ciphers aes128-ctr"), Some("Ciphers"));
    assert_eq!(option_keyword("bogus x"), None);
}
