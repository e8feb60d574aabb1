//! The FTP→SFTP bridge under test: an SFTP peer (OpenSSH's sshd with
//! internal-sftp, or sshfwd-server) serving a temp directory, and `sshfwd
//! --ftp-to-sftp` in front of it on loopback. No FTP server runs anywhere:
//! every FTP reply comes from sshfwd.
//!
//! Everything is bounded and owned: processes are killed by PID on drop,
//! temp dirs removed.
#![allow(dead_code)]

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::netns::{poll, sshfwd_server_binary, Proc};
use super::sshd::{self, free_port, keygen, public_key_line, KeyType, Sshd, SshdOptions};

/// How long the peer and the bridge may take to come up.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Which SSH server holds the files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// OpenSSH's sshd with `Subsystem sftp internal-sftp -d FILES`: the FTP
    /// login directory is FILES, but `/` is the real root (no jail).
    OpenSsh,
    /// sshfwd-server with `--sftp-root FILES`: FILES is `/`.
    SshfwdServer,
}

/// What the test wants of its peer.
#[derive(Clone, Debug, Default)]
pub struct PeerOptions {
    /// `internal-sftp -R` (OpenSSH only): every write fails with permission denied.
    pub read_only: bool,
    /// Users for password logins (sshfwd-server's `--password-file`).
    pub passwords: Vec<(String, String)>,
    /// sshd's MaxSessions (session channels per connection); `None`: 1000,
    /// so that the harness, not the server, bounds the FTP sessions.
    pub max_sessions: Option<u32>,
    /// OpenSSH only: password authentication of system users (their
    /// passwords in /etc/shadow, as made by `TestUser`).
    pub system_passwords: bool,
}

/// A running SFTP peer on 127.0.0.1.
pub struct SftpPeer {
    pub kind: Peer,
    dir: tempfile::TempDir,
    /// The FTP login directory, as a local path: what the FTP client sees
    /// as its starting directory.
    pub files: PathBuf,
    pub port: u16,
    /// A known_hosts file that trusts this peer's host key.
    pub known_hosts: PathBuf,
    pub client_key: PathBuf,
    /// The SSH user sshfwd logs in as in session mode.
    pub user: String,
    sshd: Option<Sshd>,
    server: Option<Proc>,
    host_key: PathBuf,
    authorized_keys: PathBuf,
    password_file: Option<PathBuf>,
}

impl SftpPeer {
    pub fn start(kind: Peer) -> SftpPeer {
        SftpPeer::start_with(kind, PeerOptions::default())
    }

    pub fn start_with(kind: Peer, opts: PeerOptions) -> SftpPeer {
        let dir = tempfile::Builder::new().prefix("sshfwd-bridge-").tempdir().expect("tempdir");
        let files = dir.path().join("files");
        fs::create_dir_all(&files).expect("mkdir files");
        match kind {
            Peer::OpenSsh => {
                assert!(opts.passwords.is_empty(), "password users are for sshfwd-server only");
                let read_only = if opts.read_only { " -R" } else { "" };
                let sshd = Sshd::start_with(SshdOptions {
                    password_authentication: opts.system_passwords,
                    extra: vec![
                        format!("Subsystem sftp internal-sftp -d {}{read_only}", files.display()),
                        // One SFTP channel per FTP session on one connection.
                        format!("MaxSessions {}", opts.max_sessions.unwrap_or(1000)),
                    ],
                    ..Default::default()
                });
                let known_hosts = dir.path().join("known_hosts");
                fs::write(&known_hosts, sshd.known_hosts_lines()).expect("write known_hosts");
                let client_key = sshd.dir().join("client_ed25519");
                SftpPeer {
                    kind,
                    files,
                    port: sshd.port(),
                    known_hosts,
                    client_key,
                    user: current_user(),
                    sshd: Some(sshd),
                    server: None,
                    host_key: PathBuf::new(),
                    authorized_keys: PathBuf::new(),
                    password_file: None,
                    dir,
                }
            }
            Peer::SshfwdServer => {
                assert!(!opts.read_only, "sshfwd-server has no read-only mode");
                let host_key = keygen(&dir.path().join("host_ed25519"), KeyType::Ed25519, "");
                let client_key = keygen(&dir.path().join("client_ed25519"), KeyType::Ed25519, "");
                let authorized_keys = dir.path().join("authorized_keys");
                fs::write(&authorized_keys, format!("{}\n", public_key_line(&client_key))).expect("authorized_keys");
                let password_file = (!opts.passwords.is_empty()).then(|| {
                    let path = dir.path().join("passwords");
                    let text: String = opts.passwords.iter().map(|(u, p)| format!("{u}:{p}\n")).collect();
                    fs::write(&path, text).expect("password file");
                    use std::os::unix::fs::PermissionsExt;
                    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod password file");
                    path
                });
                let mut peer = SftpPeer {
                    kind,
                    files,
                    port: 0,
                    known_hosts: dir.path().join("known_hosts"),
                    client_key,
                    user: "ann".into(),
                    sshd: None,
                    server: None,
                    host_key,
                    authorized_keys,
                    password_file,
                    dir,
                };
                peer.start_server(0);
                fs::write(
                    &peer.known_hosts,
                    format!("[127.0.0.1]:{} {}\n", peer.port, public_key_line(&peer.host_key)),
                )
                .expect("known_hosts");
                peer
            }
        }
    }

    /// Starts sshfwd-server on `port` (0: any) and records the port.
    fn start_server(&mut self, port: u16) {
        let log = self.dir.path().join(format!("sshfwd-server-{}.log", self.port));
        let file = fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(sshfwd_server_binary());
        cmd.args(["--listen", &format!("127.0.0.1:{port}"), "-v", "--host-key"])
            .arg(&self.host_key)
            .arg("--authorized-keys")
            .arg(&self.authorized_keys)
            .arg("--sftp-root")
            .arg(&self.files);
        if let Some(p) = &self.password_file {
            // Passthrough: every SSH login comes from the bridge's address, so
            // the server must not penalise that address for the FTP users'
            // wrong passwords (the bridge penalises the FTP clients itself),
            // as the README tells operators.
            cmd.arg("--password-file").arg(p).args(["--per-source-penalty-exempt-list", "127.0.0.1"]);
        }
        cmd.stdin(Stdio::null()).stdout(file.try_clone().expect("dup log")).stderr(file);
        let child = cmd.spawn().expect("spawn sshfwd-server");
        let proc = Proc { name: "sshfwd-server".into(), child, log };
        let line = proc.wait_log("Server listening on", START_TIMEOUT);
        let line = line.unwrap_or_else(|| panic!("sshfwd-server did not start:\n{}", proc.log_text()));
        // "Server listening on 127.0.0.1 port N."
        self.port = line
            .rsplit("port ")
            .next()
            .and_then(|p| p.trim().trim_end_matches('.').parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        self.server = Some(proc);
    }

    /// Kills the peer's SSH sessions (not its listener) with SIGKILL, as a
    /// crash or a network cut would: OpenSSH's session processes (children
    /// of the listening sshd); for sshfwd-server, which serves every
    /// session in one process, the server itself. Returns how many
    /// processes were killed.
    pub fn kill_sessions(&mut self) -> usize {
        match (&self.sshd, &mut self.server) {
            (Some(sshd), _) => {
                let pids = sshd.session_pids();
                for pid in &pids {
                    sshd::signal(*pid, libc::SIGKILL);
                }
                pids.len()
            }
            (None, Some(server)) => {
                let _ = server.child.kill();
                let _ = server.child.wait();
                1
            }
            (None, None) => 0,
        }
    }

    /// After [`SftpPeer::kill_sessions`]: makes the peer serve again, on the
    /// same port with the same host key (sshd never stopped listening).
    pub fn restore(&mut self) {
        if self.kind == Peer::SshfwdServer {
            let port = self.port;
            self.server = None;
            self.start_server(port);
        }
    }

    /// After [`SftpPeer::kill_sessions`] (sshfwd-server only): serves again
    /// on the same port, but with a new host key, as a spoofed server would.
    pub fn restore_with_new_host_key(&mut self) {
        assert_eq!(self.kind, Peer::SshfwdServer, "sshfwd-server only");
        let _ = fs::remove_file(&self.host_key);
        let _ = fs::remove_file(sshd::pub_path(&self.host_key));
        keygen(&self.host_key, KeyType::Ed25519, "");
        self.restore();
    }

    /// The peer's process IDs: its listener and every descendant.
    pub fn pids(&self) -> Vec<u32> {
        let root = match (&self.sshd, &self.server) {
            (Some(sshd), _) => sshd.pid(),
            (None, Some(server)) => server.pid(),
            (None, None) => return Vec::new(),
        };
        let mut all = vec![root];
        all.extend(sshd::descendants(root));
        all
    }

    /// The peer's log so far.
    pub fn log(&self) -> String {
        match (&self.sshd, &self.server) {
            (Some(sshd), _) => sshd.log(),
            (None, Some(server)) => server.log_text(),
            (None, None) => String::new(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.files.join(name)
    }

    /// A scratch directory beside (not inside) the served files.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        fs::create_dir_all(&p).expect("mkdir scratch");
        p
    }

    /// A builder for sshfwd against this peer: the sshd harness's defaults
    /// (isolated HOME, empty config, strict host-key checking against the
    /// peer's key) with destination `USER@127.0.0.1`.
    pub fn sshfwd(&self) -> sshd::Sshfwd {
        let home = self.dir.path().join("home");
        fs::create_dir_all(home.join(".ssh")).expect("mkdir home/.ssh");
        let config = self.dir.path().join("empty_config");
        fs::write(&config, "").expect("write config");
        let mut b = sshd::Sshfwd::new(&home);
        b.port = Some(self.port);
        b.identities = vec![self.client_key.clone()];
        b.identities_only = true;
        b.known_hosts = Some(self.known_hosts.clone());
        b.config = Some(config);
        b.strict = Some("yes".into());
        b.destination = format!("{}@127.0.0.1", self.user);
        b
    }
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("run id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// How the bridge logs its FTP clients in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Login {
    /// The SSH user with this password (from `FtpToSftpPasswordFile`), or,
    /// with `None`, the random one sshfwd prints.
    Session(Option<String>),
    /// Each FTP login is an SSH password login of its own.
    Passthrough,
}

/// `sshfwd -N -v --ftp-to-sftp 127.0.0.1:PORT` in front of a peer.
pub struct Bridge {
    pub running: sshd::Running,
    pub addr: SocketAddr,
    /// The FTP user and password of session mode (empty in passthrough).
    pub user: String,
    pub password: String,
}

impl Bridge {
    /// A session-mode bridge with a password file.
    pub fn start(peer: &SftpPeer) -> Bridge {
        Bridge::start_with(peer, Login::Session(Some("bridge pass 1".into())), &[])
    }

    /// A bridge with `login`, and `extra` arguments before the destination.
    pub fn start_with(peer: &SftpPeer, login: Login, extra: &[&str]) -> Bridge {
        let port = free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut b = peer.sshfwd().args(["-N", "-v", "--ftp-to-sftp"]).arg(addr.to_string()).args(extra);
        let mut password = String::new();
        match &login {
            Login::Session(Some(p)) => {
                let file = peer.scratch("bridge").join("password");
                fs::write(&file, format!("{p}\n")).expect("write password file");
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).expect("chmod password file");
                b = b.opt(format!("FtpToSftpPasswordFile={}", file.display()));
                password = p.clone();
            }
            Login::Session(None) => {}
            Login::Passthrough => {
                b = b.opt("FtpToSftpLogin=passthrough");
                // No credentials of sshfwd's own: no key, no user.
                b.identities.clear();
                b.batch = None;
                b.destination = "127.0.0.1".into();
            }
        }
        let user = if login == Login::Passthrough { String::new() } else { peer.user.clone() };
        let mut running = b.spawn();
        if !running.wait_stderr("bridge listening on", START_TIMEOUT) {
            panic!("the bridge did not say it listens; sshfwd stderr:\n{}", running.stderr());
        }
        if login == Login::Session(None) {
            let found = poll(START_TIMEOUT, || {
                running
                    .stderr()
                    .lines()
                    .find_map(|l| l.split("FTP-to-SFTP bridge password: ").nth(1).map(str::to_owned))
            });
            password = found.unwrap_or_else(|| panic!("no password line; stderr:\n{}", running.stderr()));
            password = password.trim().to_owned();
        }
        running.wait_port(addr, START_TIMEOUT);
        Bridge { running, addr, user, password }
    }

    /// `ftp://USER:PASSWORD@ADDR/path` (user and password percent-encoded).
    pub fn url(&self, path: &str) -> String {
        format!("ftp://{}:{}@{}/{path}", encode(&self.user), encode(&self.password), self.addr)
    }

    pub fn stderr(&self) -> String {
        self.running.stderr()
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Every regular file under `root`, as paths relative to it, sorted.
pub fn tree_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display())) {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(root).expect("under root").to_path_buf());
            }
        }
    }
    out.sort();
    out
}
