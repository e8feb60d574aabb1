//! A real OpenSSH `sshd` on 127.0.0.1 for integration tests, and a builder
//! that runs the `sshfwd` binary against it with an isolated HOME.
//!
//! Everything here is bounded: every wait has a timeout, every loop a
//! maximum number of rounds; processes started here are killed by PID when
//! their owner is dropped, and temp dirs are removed.
#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub const SSHD: &str = "/usr/sbin/sshd";
/// How long sshd may take to say "Server listening on".
pub const SSHD_START_TIMEOUT: Duration = Duration::from_secs(10);

/// A key algorithm for `ssh-keygen -t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Ed25519,
    Ecdsa,
    Rsa,
}

impl KeyType {
    pub fn keygen_name(self) -> &'static str {
        match self {
            KeyType::Ed25519 => "ed25519",
            KeyType::Ecdsa => "ecdsa",
            KeyType::Rsa => "rsa",
        }
    }
}

/// Runs `ssh-keygen -q -N passphrase -t type -f path` (and `-b 3072` for
/// RSA); returns the private key path. The public key is `path.pub`.
pub fn keygen(path: &Path, key_type: KeyType, passphrase: &str) -> PathBuf {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-N", passphrase, "-t", key_type.keygen_name(), "-C", "sshfwd-test", "-f"]).arg(path);
    if key_type == KeyType::Rsa {
        cmd.args(["-b", "3072"]);
    }
    let out = cmd.stdin(Stdio::null()).output().expect("run ssh-keygen");
    assert!(out.status.success(), "ssh-keygen failed: {}", String::from_utf8_lossy(&out.stderr));
    path.to_path_buf()
}

/// The `type base64` part of a public key file (comment dropped).
pub fn public_key_line(private_key: &Path) -> String {
    let text = fs::read_to_string(pub_path(private_key)).expect("read public key");
    text.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

pub fn pub_path(private_key: &Path) -> PathBuf {
    let mut p = private_key.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// Polls `addr` with TCP connects until one succeeds or `timeout` passes.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) -> bool {
    let interval = Duration::from_millis(50);
    let rounds = (timeout.as_millis() / interval.as_millis()).max(1);
    for _ in 0..rounds {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
            return true;
        }
        thread::sleep(interval);
    }
    false
}

/// Resident set size of a process in KiB, from /proc/<pid>/status.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Writes an executable shell script.
pub fn write_script(path: &Path, body: &str) -> PathBuf {
    fs::write(path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod script");
    path.to_path_buf()
}

/// Sends `signal` to `pid` (no-op if it is gone).
pub fn signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) with a PID we started (or a descendant of one).
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

/// All descendants of `pid` (children, grandchildren, ...), read from
/// /proc/<pid>/task/*/children; bounded depth and count.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    for _ in 0..8 {
        let mut next = Vec::new();
        for p in frontier {
            let Ok(tasks) = fs::read_dir(format!("/proc/{p}/task")) else { continue };
            for task in tasks.flatten() {
                let Ok(text) = fs::read_to_string(task.path().join("children")) else { continue };
                for c in text.split_whitespace().filter_map(|s| s.parse::<u32>().ok()) {
                    if !found.contains(&c) && found.len() < 1000 {
                        found.push(c);
                        next.push(c);
                    }
                }
            }
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    found
}

/// Collects a reader into a shared buffer from a thread; optionally sends
/// every line on a channel as well (send errors ignored).
/// Spawns `cmd` (a daemon kept in the foreground) with no stdin or stdout
/// and `stderr` as given; panics with `what` when it cannot start.
fn spawn_daemon(cmd: &mut Command, stderr: Stdio, what: &str) -> Child {
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr).spawn().expect(what)
}

fn drain(
    mut reader: impl Read + Send + 'static,
    buf: Arc<Mutex<Vec<u8>>>,
    lines: Option<mpsc::Sender<String>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        if let Some(tx) = lines {
            let mut r = BufReader::new(reader);
            let mut line = Vec::new();
            loop {
                line.clear();
                match r.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        buf.lock().unwrap().extend_from_slice(&line);
                        let _ = tx.send(String::from_utf8_lossy(&line).into_owned());
                    }
                }
            }
        } else {
            let mut chunk = [0u8; 8192];
            loop {
                match reader.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.lock().unwrap().extend_from_slice(&chunk[..n]),
                }
            }
        }
    })
}

/// What the test wants of its sshd.
#[derive(Debug, Clone)]
pub struct SshdOptions {
    pub host_key_types: Vec<KeyType>,
    pub password_authentication: bool,
    pub kbd_interactive_authentication: bool,
    pub gateway_ports: bool,
    /// Listen on [::1] too (same port).
    pub ipv6: bool,
    /// Extra sshd_config lines, put before the harness's own so that they
    /// override them (sshd keeps a keyword's first value); no `Match` here.
    pub extra: Vec<String>,
}

impl Default for SshdOptions {
    fn default() -> Self {
        SshdOptions {
            host_key_types: vec![KeyType::Ed25519],
            password_authentication: false,
            kbd_interactive_authentication: false,
            gateway_ports: false,
            ipv6: false,
            extra: Vec::new(),
        }
    }
}

/// A running sshd on 127.0.0.1 with its own temp dir; killed (with the
/// session processes it forked) on drop.
pub struct Sshd {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
    log: Arc<Mutex<Vec<u8>>>,
    host_keys: Vec<(KeyType, PathBuf)>,
    client_key: PathBuf,
    authorized_keys: PathBuf,
    home: PathBuf,
    /// The addresses it listens on (for a restart).
    addresses: usize,
}

/// How starting sshd went.
enum Launch {
    Ready(Child, Arc<Mutex<Vec<u8>>>),
    /// Its port was taken: try another.
    InUse(String),
    Failed(String),
}

/// Starts sshd with `cfg_path` and waits until it listens on `addresses`
/// addresses.
fn launch(cfg_path: &Path, addresses: usize) -> Launch {
    let mut child =
        spawn_daemon(Command::new(SSHD).arg("-D").arg("-e").arg("-f").arg(cfg_path), Stdio::piped(), "spawn sshd");
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let _ = drain(child.stderr.take().expect("sshd stderr"), log.clone(), Some(tx));
    let deadline = Instant::now() + SSHD_START_TIMEOUT;
    let mut listening = 0;
    let mut in_use = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("Server listening on") => {
                listening += 1;
                if listening == addresses {
                    return Launch::Ready(child, log);
                }
            }
            Ok(line) if line.contains("Address already in use") => {
                in_use = true;
                break;
            }
            Ok(_) => continue,
            Err(_) => break, // timeout, or sshd exited
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
    if in_use {
        Launch::InUse(text)
    } else {
        Launch::Failed(text)
    }
}

impl Sshd {
    /// An sshd with an ed25519 host key and public-key auth only.
    pub fn start() -> Sshd {
        Sshd::start_with(SshdOptions::default())
    }

    pub fn start_with(opts: SshdOptions) -> Sshd {
        fs::create_dir_all("/run/sshd").expect("mkdir /run/sshd");
        let dir = tempfile::Builder::new().prefix("sshfwd-sshd-").tempdir().expect("tempdir");
        let base = dir.path().to_path_buf();
        let mut host_keys = Vec::new();
        for t in &opts.host_key_types {
            let p = keygen(&base.join(format!("host_{}", t.keygen_name())), *t, "");
            host_keys.push((*t, p));
        }
        let client_key = keygen(&base.join("client_ed25519"), KeyType::Ed25519, "");
        let authorized_keys = base.join("authorized_keys");
        fs::write(&authorized_keys, format!("{}\n", public_key_line(&client_key))).expect("write authorized_keys");
        let home = base.join("home");
        fs::create_dir_all(home.join(".ssh")).expect("mkdir home/.ssh");

        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let yn = |b: bool| if b { "yes" } else { "no" };
            // sshd keeps the first value of a keyword: the test's lines go
            // first so that they override the defaults below.
            let mut cfg = String::new();
            for line in &opts.extra {
                cfg.push_str(line);
                cfg.push('\n');
            }
            cfg.push_str(&format!("Port {port}\nListenAddress 127.0.0.1\n"));
            if opts.ipv6 {
                cfg.push_str("ListenAddress ::1\n");
            }
            for (_, k) in &host_keys {
                cfg.push_str(&format!("HostKey {}\n", k.display()));
            }
            cfg.push_str(&format!(
                "PidFile {}\nAuthorizedKeysFile {}\nStrictModes no\nUsePAM no\nPermitRootLogin yes\n\
                 PubkeyAuthentication yes\nPasswordAuthentication {}\nKbdInteractiveAuthentication {}\n\
                 AllowTcpForwarding yes\nGatewayPorts {}\nLogLevel VERBOSE\nMaxStartups 100\n",
                base.join("sshd.pid").display(),
                authorized_keys.display(),
                yn(opts.password_authentication),
                yn(opts.kbd_interactive_authentication),
                yn(opts.gateway_ports),
            ));
            let cfg_path = base.join("sshd_config");
            fs::write(&cfg_path, cfg).expect("write sshd_config");
            let addresses = if opts.ipv6 { 2 } else { 1 };
            match launch(&cfg_path, addresses) {
                Launch::Ready(child, log) => {
                    return Sshd { dir, port, child, log, host_keys, client_key, authorized_keys, home, addresses }
                }
                Launch::InUse(log) => last_log = log,
                Launch::Failed(log) => {
                    last_log = log;
                    break;
                }
            }
        }
        panic!("sshd did not start:\n{last_log}");
    }

    /// Stops the listener and every session: connections are refused until
    /// [`Sshd::restart`].
    pub fn stop(&mut self) {
        for pid in descendants(self.pid()) {
            signal(pid, libc::SIGCONT);
            signal(pid, libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts sshd again on the same port with the same keys and config.
    pub fn restart(&mut self) {
        self.stop();
        match launch(&self.dir.path().join("sshd_config"), self.addresses) {
            Launch::Ready(child, log) => {
                self.child = child;
                self.log = log;
            }
            Launch::InUse(log) | Launch::Failed(log) => panic!("sshd did not restart:\n{log}"),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The temp dir holding the config, keys and the client's HOME.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The isolated HOME used by [`Sshd::sshfwd`] (it has an empty `.ssh`).
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// An unencrypted ed25519 client key listed in authorized_keys.
    pub fn client_key(&self) -> &Path {
        &self.client_key
    }

    /// Makes a new client key (in the temp dir) and authorizes it.
    pub fn add_client_key(&self, name: &str, key_type: KeyType, passphrase: &str) -> PathBuf {
        let key = keygen(&self.dir.path().join(name), key_type, passphrase);
        let mut text = fs::read_to_string(&self.authorized_keys).expect("read authorized_keys");
        text.push_str(&public_key_line(&key));
        text.push('\n');
        fs::write(&self.authorized_keys, text).expect("write authorized_keys");
        key
    }

    /// `type base64` of the host key of the given type.
    pub fn host_key_line(&self, key_type: KeyType) -> String {
        let (_, path) = self.host_keys.iter().find(|(t, _)| *t == key_type).expect("no host key of that type");
        public_key_line(path)
    }

    /// known_hosts lines `[127.0.0.1]:PORT type base64` for every host key.
    pub fn known_hosts_lines(&self) -> String {
        self.host_keys.iter().map(|(_, p)| format!("[127.0.0.1]:{} {}\n", self.port, public_key_line(p))).collect()
    }

    /// Everything sshd wrote on stderr so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().unwrap()).into_owned()
    }

    /// PIDs of the processes sshd forked for sessions (all depths).
    pub fn session_pids(&self) -> Vec<u32> {
        descendants(self.pid())
    }

    /// A builder for `sshfwd` against this server: `-p PORT`, `-i
    /// client_key` with IdentitiesOnly, BatchMode=yes, StrictHostKeyChecking
    /// =yes with a known_hosts file in the temp dir that trusts this server,
    /// no global known_hosts, `-F` an empty config file, HOME isolated,
    /// SSH_AUTH_SOCK removed. Destination `127.0.0.1`.
    pub fn sshfwd(&self) -> Sshfwd {
        let known_hosts = self.dir.path().join("known_hosts_trusted");
        if !known_hosts.exists() {
            fs::write(&known_hosts, self.known_hosts_lines()).expect("write known_hosts");
        }
        let config = self.dir.path().join("empty_config");
        if !config.exists() {
            fs::write(&config, "").expect("write config");
        }
        let mut b = Sshfwd::new(&self.home);
        b.port = Some(self.port);
        b.identities = vec![self.client_key.clone()];
        b.identities_only = true;
        b.known_hosts = Some(known_hosts);
        b.config = Some(config);
        b.strict = Some("yes".into());
        b
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let pid = self.pid();
        let kids = descendants(pid);
        for k in kids {
            signal(k, libc::SIGCONT);
            signal(k, libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- sshd log (port {}) ----\n{}---- end sshd log ----", self.port, self.log());
        }
    }
}

/// A command line for the sshfwd binary. Fields left `None` are not passed.
#[derive(Debug, Clone)]
pub struct Sshfwd {
    pub home: PathBuf,
    pub config: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    pub port: Option<u16>,
    pub identities: Vec<PathBuf>,
    pub identities_only: bool,
    pub batch: Option<bool>,
    pub strict: Option<String>,
    /// `-o` options, in order, after the ones above.
    pub options: Vec<String>,
    /// Other flags (-N, -L spec, ...), before the destination.
    pub flags: Vec<OsString>,
    pub destination: String,
    pub command: Vec<String>,
    pub env: Vec<(OsString, OsString)>,
    /// Environment variables removed (SSH_AUTH_SOCK, SSH_ASKPASS, DISPLAY... by default).
    pub env_remove: Vec<OsString>,
    /// Bytes written to sshfwd's stdin (then closed); `None`: /dev/null.
    pub stdin: Option<Vec<u8>>,
}

/// The end of a finished sshfwd run.
/// Fails the test unless the run exited with `code`, showing its output.
pub fn assert_exit(out: &Outcome, code: i32) {
    assert_eq!(
        out.code,
        Some(code),
        "expected exit {code}; timed out: {}; stderr:\n{}\nstdout:\n{}",
        out.timed_out,
        out.stderr,
        out.stdout
    );
}

#[derive(Debug)]
pub struct Outcome {
    /// `None` when killed by a signal (or by the timeout).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

impl Sshfwd {
    pub fn new(home: &Path) -> Sshfwd {
        Sshfwd {
            home: home.to_path_buf(),
            config: None,
            known_hosts: None,
            port: None,
            identities: Vec::new(),
            identities_only: false,
            batch: Some(true),
            strict: None,
            options: Vec::new(),
            flags: Vec::new(),
            destination: "127.0.0.1".into(),
            command: Vec::new(),
            env: Vec::new(),
            env_remove: [
                "SSH_AUTH_SOCK",
                "SSH_ASKPASS",
                "SSH_ASKPASS_REQUIRE",
                "DISPLAY",
                "WAYLAND_DISPLAY",
                "SSHFWD_LOG",
            ]
            .iter()
            .map(OsString::from)
            .collect(),
            stdin: None,
        }
    }

    /// Adds `-o option`.
    pub fn opt(mut self, option: impl Into<String>) -> Self {
        self.options.push(option.into());
        self
    }

    /// Adds a flag or flag argument before the destination.
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.flags.push(a.as_ref().to_owned());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Self {
        for a in args {
            self.flags.push(a.as_ref().to_owned());
        }
        self
    }

    /// `-N` and, per `(flag, spec)`, a forwarding (`-L spec`, `-R spec`, `-D spec`).
    pub fn forwards<S: AsRef<OsStr>>(self, forwards: &[(&str, S)]) -> Self {
        forwards.iter().fold(self.arg("-N"), |s, (flag, spec)| s.arg(flag).arg(spec))
    }

    /// The remote command (words joined by sshfwd with spaces).
    pub fn command<I: IntoIterator<Item = S>, S: Into<String>>(mut self, words: I) -> Self {
        self.command = words.into_iter().map(Into::into).collect();
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        let key = key.as_ref().to_owned();
        self.env_remove.retain(|k| *k != key);
        self.env.push((key, value.as_ref().to_owned()));
        self
    }

    /// The full argument list, for messages and for spawning.
    pub fn argv(&self) -> Vec<OsString> {
        let mut v: Vec<OsString> = Vec::new();
        if let Some(c) = &self.config {
            v.push("-F".into());
            v.push(c.into());
        }
        if let Some(p) = self.port {
            v.push("-p".into());
            v.push(p.to_string().into());
        }
        for i in &self.identities {
            v.push("-i".into());
            v.push(i.into());
        }
        let mut opts = Vec::new();
        if self.identities_only {
            opts.push("IdentitiesOnly=yes".to_string());
        }
        if let Some(b) = self.batch {
            opts.push(format!("BatchMode={}", if b { "yes" } else { "no" }));
        }
        if let Some(s) = &self.strict {
            opts.push(format!("StrictHostKeyChecking={s}"));
        }
        if let Some(k) = &self.known_hosts {
            opts.push(format!("UserKnownHostsFile={}", k.display()));
            opts.push("GlobalKnownHostsFile=/dev/null".to_string());
        }
        opts.extend(self.options.iter().cloned());
        for o in opts {
            v.push("-o".into());
            v.push(o.into());
        }
        v.extend(self.flags.iter().cloned());
        v.push(self.destination.clone().into());
        v.extend(self.command.iter().map(OsString::from));
        v
    }

    fn std_command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sshfwd"));
        cmd.args(self.argv());
        cmd.env("HOME", &self.home);
        for k in &self.env_remove {
            cmd.env_remove(k);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let stdin = if self.stdin.is_some() { Stdio::piped() } else { Stdio::null() };
        cmd.stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd
    }

    /// Starts sshfwd; stdout and stderr are collected in the background.
    pub fn spawn(&self) -> Running {
        let mut child = self.std_command().spawn().expect("spawn sshfwd");
        let mut drains = Vec::new();
        if let (Some(data), Some(mut pipe)) = (self.stdin.clone(), child.stdin.take()) {
            thread::spawn(move || {
                use std::io::Write;
                let _ = pipe.write_all(&data);
                // Dropping the pipe closes sshfwd's stdin.
            });
        }
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        drains.push(drain(child.stdout.take().expect("stdout"), stdout.clone(), None));
        drains.push(drain(child.stderr.take().expect("stderr"), stderr.clone(), None));
        Running { child, stdout, stderr, argv: self.argv(), status: None, drains }
    }

    /// Runs sshfwd to its end, killing it after `timeout`.
    pub fn run(&self, timeout: Duration) -> Outcome {
        let mut r = self.spawn();
        let status = r.wait_timeout(timeout);
        let timed_out = status.is_none();
        if timed_out {
            r.kill();
        }
        // Give the drain threads a bounded moment to see EOF.
        r.settle_output();
        Outcome { code: status.and_then(|s| s.code()), stdout: r.stdout(), stderr: r.stderr(), timed_out }
    }
}

/// A running sshfwd; killed (by PID) and reaped on drop.
pub struct Running {
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    argv: Vec<OsString>,
    status: Option<ExitStatus>,
    drains: Vec<thread::JoinHandle<()>>,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// The exit status if the process has ended by now.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits up to `timeout` for the process to end.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let interval = Duration::from_millis(20);
        let rounds = (timeout.as_millis() / interval.as_millis()).max(1);
        for _ in 0..rounds {
            if let Some(s) = self.try_status() {
                return Some(s);
            }
            thread::sleep(interval);
        }
        self.try_status()
    }

    /// Waits up to `timeout` for stderr to contain `needle`.
    pub fn wait_stderr(&mut self, needle: &str, timeout: Duration) -> bool {
        let interval = Duration::from_millis(20);
        let rounds = (timeout.as_millis() / interval.as_millis()).max(1);
        for _ in 0..rounds {
            if self.stderr().contains(needle) {
                return true;
            }
            if self.try_status().is_some() {
                self.settle_output();
                return self.stderr().contains(needle);
            }
            thread::sleep(interval);
        }
        false
    }

    /// Waits until a TCP connect to `addr` succeeds, failing early if
    /// sshfwd exits. Panics with sshfwd's stderr on failure.
    pub fn wait_port(&mut self, addr: SocketAddr, timeout: Duration) {
        let interval = Duration::from_millis(50);
        let rounds = (timeout.as_millis() / interval.as_millis()).max(1);
        for _ in 0..rounds {
            if let Some(s) = self.try_status() {
                self.settle_output();
                panic!("sshfwd exited ({s}) before {addr} was ready; stderr:\n{}", self.stderr());
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
                return;
            }
            thread::sleep(interval);
        }
        panic!("{addr} not ready after {timeout:?}; sshfwd {:?} stderr:\n{}", self.argv, self.stderr());
    }

    /// After the process ended: a bounded wait (2 s) for stdout and stderr
    /// to be read to EOF by the drain threads.
    fn settle_output(&self) {
        for _ in 0..200 {
            if self.drains.iter().all(|d| d.is_finished()) {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn kill(&mut self) {
        if self.try_status().is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    /// Sends a signal to the process (by PID) if it still runs.
    pub fn signal(&mut self, sig: i32) {
        if self.try_status().is_none() {
            signal(self.pid(), sig);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("---- sshfwd {:?} stderr ----\n{}---- end sshfwd stderr ----", self.argv, self.stderr());
        }
    }
}

/// An `ssh-agent -D -a SOCK` of the test's own; killed on drop.
pub struct Agent {
    child: Child,
    sock: PathBuf,
}

impl Agent {
    pub fn start(dir: &Path) -> Agent {
        let sock = dir.join("agent.sock");
        let _ = fs::remove_file(&sock);
        let child =
            spawn_daemon(Command::new("ssh-agent").arg("-D").arg("-a").arg(&sock), Stdio::null(), "spawn ssh-agent");
        let agent = Agent { child, sock };
        let interval = Duration::from_millis(20);
        for _ in 0..250 {
            if agent.sock.exists() {
                return agent;
            }
            thread::sleep(interval);
        }
        panic!("ssh-agent socket {} did not appear", agent.sock.display());
    }

    pub fn sock(&self) -> &Path {
        &self.sock
    }

    /// `ssh-add key` into this agent.
    pub fn add(&self, key: &Path) {
        let out = Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &self.sock)
            .env_remove("SSH_ASKPASS")
            .env_remove("DISPLAY")
            .stdin(Stdio::null())
            .output()
            .expect("run ssh-add");
        assert!(out.status.success(), "ssh-add failed: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A local Unix user made with `useradd -m` and a password; removed with
/// `userdel -r` on drop.
pub struct TestUser {
    pub name: String,
}

impl TestUser {
    pub fn create(prefix: &str, password: &str) -> TestUser {
        super::require_root("a test user (useradd)");
        let suffix = std::process::id().wrapping_mul(2_654_435_761) ^ rand_seed();
        let name = format!("{prefix}{:06x}", suffix & 0xff_ffff);
        let out = Command::new("useradd").args(["-m", "-s", "/bin/sh", &name]).output().expect("run useradd");
        assert!(out.status.success(), "useradd failed: {}", String::from_utf8_lossy(&out.stderr));
        let user = TestUser { name };
        let mut child = Command::new("chpasswd").stdin(Stdio::piped()).spawn().expect("run chpasswd");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("chpasswd stdin");
            writeln!(stdin, "{}:{password}", user.name).expect("write chpasswd");
        }
        assert!(child.wait().expect("wait chpasswd").success(), "chpasswd failed");
        user
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        // Declare the TestUser before the Sshd so that the sshd (and its
        // session processes running as this user) is dropped first.
        let _ = Command::new("userdel").args(["-r", &self.name]).stderr(Stdio::null()).status();
    }
}

fn rand_seed() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
}
