//! Issue 14 (config): the ssh_config and command-line surface against the
//! real thing: `-G` beside OpenSSH's `ssh -G` for the same files, `-Q`,
//! `-c`/`-m`/`-C` as the harness's sshd sees them negotiated, `Match exec`,
//! and the order of -l/-p/-o/user@host.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::netns::{run_with_timeout, RunOutput};
use crate::common::sshd::{Sshd, SshdOptions};

/// Bound for a run that prints and exits without connecting.
const QUICK: Duration = Duration::from_secs(20);
/// Bound for a run that logs in and runs `true`.
const RUN: Duration = Duration::from_secs(30);

/// Runs `program args` with `HOME=home`, no agent, bounded.
fn run_in(home: &Path, program: &str, args: &[&str]) -> RunOutput {
    let mut cmd = Command::new(program);
    cmd.args(args).env("HOME", home).env_remove("SSH_AUTH_SOCK").stdin(Stdio::null());
    run_with_timeout(&mut cmd, QUICK)
}

/// The home directory of the password database, which ssh expands `~`
/// with whatever `$HOME` says.
fn passwd_home() -> std::path::PathBuf {
    let out = Command::new("sh").args(["-c", "getent passwd $(id -u) | cut -d: -f6"]).output().unwrap();
    std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn sshfwd(home: &Path, args: &[&str]) -> RunOutput {
    run_in(home, env!("CARGO_BIN_EXE_sshfwd"), args)
}

/// `-G` output as keyword → values, in order per keyword.
fn parse_dump(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        let (keyword, value) = line.split_once(' ').unwrap_or((line, ""));
        map.entry(keyword.to_string()).or_default().push(value.to_string());
    }
    map
}

/// The keywords sshfwd acts on and prints its own value for; the others
/// are OpenSSH's defaults or the configured value as written.
const ACTED_ON: &[&str] = &[
    "host",
    "user",
    "hostname",
    "port",
    "batchmode",
    "compression",
    "exitonforwardfailure",
    "gatewayports",
    "hashknownhosts",
    "identitiesonly",
    "kbdinteractiveauthentication",
    "passwordauthentication",
    "pubkeyauthentication",
    "stricthostkeychecking",
    "serveralivecountmax",
    "serveraliveinterval",
    "hostkeyalias",
    "loglevel",
    "identityfile",
    "globalknownhostsfile",
    "userknownhostsfile",
    "connecttimeout",
    "syslogfacility",
    "localforward",
    "remoteforward",
    "dynamicforward",
    "clearallforwardings",
    "ipqos",
    "sendenv",
];

#[test]
fn print_config_matches_ssh_g() {
    let dir = tempfile::tempdir().unwrap();
    // With -F no file under ~ is read; `~` in values is expanded, and both
    // must expand it alike.
    let home = &passwd_home();
    let config = dir.path().join("config");
    fs::write(
        &config,
        "Host alias\n  HostName real.example\n  Port 2222\n  IdentityFile ~/.ssh/id_test\n  IdentitiesOnly yes\n\
         \x20 BatchMode yes\n  Compression yes\n  ServerAliveInterval 15\n  ServerAliveCountMax 5\n\
         \x20 ConnectTimeout 7\n  StrictHostKeyChecking accept-new\n  UserKnownHostsFile ~/kh_%h_%p\n\
         \x20 GlobalKnownHostsFile /dev/null\n  HostKeyAlias nick\n  LocalForward 8080 web:80\n\
         \x20 RemoteForward 9090 localhost:22\n  DynamicForward 1080\n  GatewayPorts yes\n\
         \x20 ExitOnForwardFailure yes\n  HashKnownHosts yes\n  PasswordAuthentication no\n\
         \x20 KbdInteractiveAuthentication no\n  LogLevel DEBUG2\n  IPQoS af21 cs1\n\
         Match exec \"test %h = real.example\"\n  SendEnv LANG LC_*\n  User matched\n\
         Host *\n  User fallback\n  SyslogFacility LOCAL3\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    // (OpenSSH 9.2 applies SyslogFacility even in a block that does not
    // match; sshfwd does not copy that, so the test sets it for all hosts.)
    for argv in [vec!["-G", "-F", config, "alias"], vec!["-G", "-F", config, "-l", "cli", "-p", "22", "other"]] {
        let ours = sshfwd(home, &argv);
        let theirs = run_in(home, "ssh", &argv);
        assert!(ours.success() && theirs.success(), "{}\n{}", ours.transcript(), theirs.transcript());
        let keywords = |text: &str| text.lines().map(|l| l.split(' ').next().unwrap_or("").to_string()).collect();
        let (ours_keywords, theirs_keywords): (Vec<String>, Vec<String>) =
            (keywords(&ours.stdout), keywords(&theirs.stdout));
        assert_eq!(ours_keywords, theirs_keywords, "the same keywords in the same order for {argv:?}");
        let (ours, theirs) = (parse_dump(&ours.stdout), parse_dump(&theirs.stdout));
        for keyword in ACTED_ON {
            assert_eq!(ours.get(*keyword), theirs.get(*keyword), "{keyword} for {argv:?}");
        }
    }
}

#[test]
fn print_config_prints_other_keywords_as_ssh_does() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let keywords = [
        "Host *",
        "AddKeysToAgent yes",
        "AddressFamily inet",
        "CanonicalizeHostname no",
        "CanonicalizeFallbackLocal no",
        "CheckHostIP yes",
        "ControlMaster auto",
        "ControlPersist yes",
        "ControlPath /tmp/cp-%h",
        "ForwardAgent yes",
        "ForwardX11 yes",
        "ForwardX11Trusted no",
        "RequestTTY yes",
        "SessionType none",
        "StdinNull yes",
        "ForkAfterAuthentication yes",
        "TCPKeepAlive no",
        "Tunnel yes",
        "VerifyHostKeyDNS yes",
        "UpdateHostKeys no",
        "VisualHostKey yes",
        "CanonicalizeMaxDots 3",
        "ConnectionAttempts 4",
        "ForwardX11Timeout 5m",
        "RequiredRSASize 2048",
        "BindAddress 127.0.0.1",
        "EscapeChar none",
        "RekeyLimit 1G 1h",
        "ConnectTimeout 1m",
        "FingerprintHash md5",
        "PermitLocalCommand yes",
        "LocalCommand echo hi",
        "RemoteCommand echo %h",
        "StreamLocalBindMask 0077",
        "CanonicalDomains a.example b.example",
        "LogVerbose kex.c:*",
        "PermitRemoteOpen h:1 h:2",
        "TunnelDevice 1:2",
        "IPQoS ef",
        "ServerAliveInterval 1m",
        "ProxyUseFdpass yes",
        "StrictHostKeyChecking no",
    ];
    fs::write(&config, keywords.iter().map(|line| format!(" {line}\n")).collect::<String>()).unwrap();
    let argv = ["-G", "-F", config.to_str().unwrap(), "h"];
    let home = &passwd_home();
    let (ours, theirs) = (sshfwd(home, &argv), run_in(home, "ssh", &argv));
    assert!(ours.success() && theirs.success(), "{}\n{}", ours.transcript(), theirs.transcript());
    // The algorithm lists are what each implementation offers.
    let offered = ["ciphers ", "kexalgorithms ", "macs ", "hostkeyalgorithms "];
    let lines = |text: &str| -> Vec<String> {
        text.lines().filter(|l| !offered.iter().any(|o| l.starts_with(o))).map(str::to_string).collect()
    };
    assert_eq!(lines(&ours.stdout), lines(&theirs.stdout));
}

#[test]
fn print_config_takes_the_first_value_in_command_line_order() {
    let dir = tempfile::tempdir().unwrap();
    let table: &[(&[&str], &str, &str)] = &[
        (&["-o", "User=nobody", "-l", "root", "h"], "user", "nobody"),
        (&["-l", "root", "-o", "User=nobody", "h"], "user", "root"),
        (&["-o", "Port=1", "-p", "5242", "h"], "port", "1"),
        (&["-p", "5242", "-o", "Port=1", "h"], "port", "5242"),
        (&["baz@h", "-o", "User=foo", "-l", "bar", "baz@h"], "user", "baz"),
        (&["-o", "User=foo", "-l", "bar", "baz@h"], "user", "foo"),
        (&["-o", "Port=7", "ssh://u@h:2"], "port", "7"),
        (&["ssh://u@h:2", "-p", "3"], "port", "2"),
    ];
    for (argv, keyword, want) in table {
        let mut full = vec!["-G", "-F", "none"];
        full.extend_from_slice(argv);
        let out = sshfwd(dir.path(), &full);
        assert!(out.success(), "{}", out.transcript());
        assert_eq!(parse_dump(&out.stdout)[*keyword], [want.to_string()], "{full:?}");
    }
}

#[test]
fn query_lists_what_sshfwd_can_use() {
    let dir = tempfile::tempdir().unwrap();
    let out = sshfwd(dir.path(), &["-Q", "key-plain"]);
    assert!(out.success(), "{}", out.transcript());
    // The regression suite makes a key of each type and logs in with it.
    assert_eq!(out.stdout, "ssh-ed25519\necdsa-sha2-nistp256\necdsa-sha2-nistp384\necdsa-sha2-nistp521\nssh-rsa\n");
    let help = sshfwd(dir.path(), &["-Q", "help"]);
    let theirs = run_in(dir.path(), "ssh", &["-Q", "help"]).stdout;
    // Debian's ssh adds kex-gss, for its GSSAPI key exchange patch.
    let theirs: Vec<&str> = theirs.lines().filter(|query| *query != "kex-gss").collect();
    assert_eq!(help.stdout.lines().collect::<Vec<_>>(), theirs);
    let bad = sshfwd(dir.path(), &["-Q", "nonsense"]);
    assert_eq!(bad.status.and_then(|s| s.code()), Some(255), "{}", bad.transcript());
    assert!(bad.stderr.contains("Unsupported query \"nonsense\""), "{}", bad.stderr);
    // Every cipher and MAC listed is one OpenSSH knows too.
    for query in ["cipher", "mac"] {
        let ours = sshfwd(dir.path(), &["-Q", query]).stdout;
        let theirs = run_in(dir.path(), "ssh", &["-Q", query]).stdout;
        for name in ours.lines() {
            assert!(theirs.lines().any(|t| t == name), "{query} {name} unknown to ssh");
        }
    }
}

#[test]
fn cipher_mac_and_compression_flags_reach_the_server() {
    let sshd = Sshd::start_with(SshdOptions { extra: vec!["LogLevel DEBUG1".into()], ..SshdOptions::default() });
    let out = sshd.sshfwd().args(["-c", "aes128-ctr", "-m", "hmac-sha2-256", "-C"]).command(["true"]).run(RUN);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let log = sshd.log();
    assert!(
        log.contains("kex: client->server cipher: aes128-ctr MAC: hmac-sha2-256 compression: zlib@openssh.com"),
        "sshd log:\n{log}"
    );
    // Without -C nothing is compressed, as with ssh.
    let out = sshd.sshfwd().args(["-c", "aes256-gcm@openssh.com"]).command(["true"]).run(RUN);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        sshd.log().contains("cipher: aes256-gcm@openssh.com MAC: <implicit> compression: none"),
        "sshd log:\n{}",
        sshd.log()
    );
    let bad = sshd.sshfwd().args(["-c", "3des-cbc"]).command(["true"]).run(RUN);
    assert_eq!(bad.code, Some(255));
    assert!(bad.stderr.contains("Unknown cipher type '3des-cbc'"), "{}", bad.stderr);
}

#[test]
fn match_exec_chooses_the_block() {
    let sshd = Sshd::start();
    let config = sshd.dir().join("config-match-exec");
    for (command, expect_login) in [("true", true), ("false", false)] {
        // A matching block points at the real port; the fallback at a closed one.
        fs::write(
            &config,
            format!("Match exec \"{command}\"\n  Port {}\nHost *\n  Port 1\n  ConnectTimeout 5\n", sshd.port()),
        )
        .unwrap();
        let mut cmd = sshd.sshfwd();
        cmd.config = Some(config.clone());
        cmd.port = None;
        let out = cmd.command(["true"]).run(RUN);
        assert_eq!(out.code == Some(0), expect_login, "Match exec {command}: {}", out.stderr);
    }
}

#[test]
fn ignored_keywords_that_matter_are_warned_about_with_their_line() {
    let sshd = Sshd::start();
    let config = sshd.dir().join("config-warn");
    fs::write(&config, format!("Host *\n  Port {}\n  RekeyLimit 1G\n  VisualHostKey yes\n", sshd.port())).unwrap();
    let mut cmd = sshd.sshfwd();
    cmd.config = Some(config.clone());
    let out = cmd.arg("-X").command(["true"]).run(RUN);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let line = format!("{} line 3: RekeyLimit is not supported: ignored", config.display());
    assert!(out.stderr.contains(&line), "{}", out.stderr);
    assert!(out.stderr.contains("X11 forwarding is not supported"), "{}", out.stderr);
    assert!(!out.stderr.contains("VisualHostKey"), "harmless keywords stay quiet: {}", out.stderr);
}

#[test]
fn number_of_password_prompts_is_how_often_a_password_is_asked() {
    let sshd = Sshd::start_with(SshdOptions { password_authentication: true, ..SshdOptions::default() });
    for (prompts, asked) in [(None, 3), (Some("1"), 1), (Some("0"), 0)] {
        let count = sshd.dir().join(format!("asked-{}", prompts.unwrap_or("default")));
        let askpass = crate::common::sshd::write_script(
            &sshd.dir().join(format!("askpass-{}.sh", prompts.unwrap_or("default"))),
            &format!("echo x >> {}; echo wrong", count.display()),
        );
        let mut cmd = sshd.sshfwd().arg("-l").arg("nobody-sshfwd-test").command(["true"]);
        cmd.identities.clear();
        cmd.batch = Some(false);
        cmd.options.push("PubkeyAuthentication=no".into());
        cmd.options.push("KbdInteractiveAuthentication=no".into());
        if let Some(prompts) = prompts {
            cmd.options.push(format!("NumberOfPasswordPrompts={prompts}"));
        }
        let out = cmd.env("SSH_ASKPASS", &askpass).env("SSH_ASKPASS_REQUIRE", "force").run(RUN);
        assert_eq!(out.code, Some(255), "{}", out.stderr);
        let lines = fs::read_to_string(&count).map(|text| text.lines().count()).unwrap_or(0);
        assert_eq!(lines, asked, "NumberOfPasswordPrompts {prompts:?}: {}", out.stderr);
    }
}
