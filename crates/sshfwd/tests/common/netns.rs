#![allow(dead_code)]
//! Network-namespace topology for the end-to-end FTP forwarding tests.
//!
//! A [`Topology`] is made of two or three namespaces joined by veth pairs:
//!
//! ```text
//!   cli 10.231.0.1 ──veth── 10.231.0.2 srv 10.232.0.1 ──veth── 10.232.0.2 ftp3
//!   (sshfwd, FTP clients)   (OpenSSH sshd on :22,         (FTP server reachable
//!                            FTP servers on 127.0.0.1)      only from srv)
//!        10.233.0.1
//!            │ veth (optional, gateway mode)
//!        10.233.0.2 lan (FTP clients on another host of the client's LAN)
//! ```
//!
//! No namespace forwards packets and cli has no route to 10.232.0.0/24, so an
//! FTP client in cli can reach an FTP server only through sshfwd's SSH
//! connection. Addresses exist only inside the namespaces made here (each
//! namespace has its own routing table, so concurrent topologies with the same
//! addresses do not meet). Every process is started with `ip netns exec`,
//! every wait is bounded, and [`Topology`]'s `Drop` kills what it started,
//! deletes its namespaces (which deletes the veths) and its temporary
//! directory, even when a test fails.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

pub const SSHFWD: &str = env!("CARGO_BIN_EXE_sshfwd");

/// Which SSH server runs on srv: every FTP forwarding test runs against
/// both (see `ftp_forward::against_both_ssh_servers`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SshServer {
    OpenSsh,
    SshfwdServer,
}

/// The sshfwd-server binary beside sshfwd's, built first when this test
/// run did not build it (`cargo test -p sshfwd` alone).
pub fn sshfwd_server_binary() -> String {
    static BUILT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let path = Path::new(SSHFWD).with_file_name("sshfwd-server");
            if !path.exists() {
                let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
                let status =
                    Command::new(cargo).args(["build", "-p", "sshfwd-server"]).status().expect("run cargo build");
                assert!(status.success(), "cargo build -p sshfwd-server failed");
            }
            path.to_str().expect("utf-8").to_owned()
        })
        .clone()
}

pub const CLI_IP: &str = "10.231.0.1";
pub const SRV_IP: &str = "10.231.0.2";
pub const SRV_IP_FTP3_SIDE: &str = "10.232.0.1";
pub const FTP3_IP: &str = "10.232.0.2";
/// A LAN beside the client host, for gateway mode (`-L ftp/CLI_LAN_IP:…`).
pub const CLI_LAN_IP: &str = "10.233.0.1";
pub const LAN_IP: &str = "10.233.0.2";

pub const FTP_USER: &str = "ftpuser";
pub const FTP_PASS: &str = "secret";

/// Test files every FTP server's home gets: name and size.
pub const SMALL_FILES: &[(&str, usize)] = &[("empty.bin", 0), ("one.bin", 1), ("mib.bin", 1 << 20)];
pub const BIG_FILE: (&str, usize) = ("big.bin", 64 << 20);

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The prefix of every namespace this test process makes.
pub fn namespace_prefix() -> String {
    format!("sfwd-{}-", std::process::id())
}

/// Deletes namespaces left by earlier runs of these tests that were killed
/// before they could clean up (`sfwd-<pid>-…` whose process is gone), with
/// whatever still runs inside them.
fn sweep_stale_namespaces() {
    for name in namespaces_with_prefix("sfwd-") {
        let Some(pid) =
            name.strip_prefix("sfwd-").and_then(|r| r.split('-').next()).and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("removing stale namespace {name} of a test run that was killed");
            Netns { name }.delete();
        }
    }
}

/// Names of the namespaces that exist now and start with `prefix`.
pub fn namespaces_with_prefix(prefix: &str) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().expect("ip netns list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------------------
// Small utilities

/// Runs a command to completion, panicking with its output when it fails.
pub fn sh(program: &str, args: &[&str]) {
    let out =
        Command::new(program).args(args).stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The outcome of a client run with a deadline.
#[derive(Debug)]
pub struct RunOutput {
    pub status: Option<ExitStatus>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl RunOutput {
    pub fn success(&self) -> bool {
        !self.timed_out && self.status.is_some_and(|s| s.success())
    }

    /// stdout and stderr together, for transcripts and failure messages.
    pub fn transcript(&self) -> String {
        format!(
            "status={:?} timed_out={} elapsed={:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.timed_out, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` with stdin closed, collecting its output, killing it after
/// `timeout`.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> RunOutput {
    let start = Instant::now();
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if start.elapsed() > timeout => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().ok();
            }
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(_) => break None,
        }
    };
    let stdout = String::from_utf8_lossy(&t_out.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&t_err.join().unwrap_or_default()).into_owned();
    RunOutput { status, timed_out, stdout, stderr, elapsed: start.elapsed() }
}

/// Deterministic pseudo-random content of `len` bytes, seeded by `seed`.
pub fn write_test_file(path: &Path, seed: &str, len: usize) {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for b in seed.bytes() {
        state = (state ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
    }
    let mut f = io::BufWriter::with_capacity(1 << 20, fs::File::create(path).expect("create test file"));
    let mut chunk = vec![0u8; 1 << 16];
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len());
        for word in chunk[..n].chunks_mut(8) {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let v = state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            word.copy_from_slice(&v[..word.len()]);
        }
        f.write_all(&chunk[..n]).expect("write test file");
        left -= n;
    }
    f.flush().expect("flush test file");
}

pub fn sha256_file(path: &Path) -> String {
    let mut f = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).expect("read for sha256");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex(&h.finalize())
}

pub fn sha256_bytes(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A topology with proftpd in srv (127.0.0.1:21) and two sshfwd in cli
/// forwarding to it: `plain`, `-L 127.0.0.1:2120:127.0.0.1:21` (not
/// FTP-aware), and `ftp`, `-L ftp/127.0.0.1:2121:127.0.0.1:21`. Returns the
/// topology, the server and the two sshfwd.
pub fn plain_and_ftp_forwards(ssh: SshServer) -> (Topology, FtpServer, usize, usize) {
    let mut topo = Topology::new(ssh, false);
    let server = topo.start_ftp(FtpKind::Proftpd, Host::Srv, "127.0.0.1", 21, false);
    let plain = topo.start_sshfwd("plain", &["-L", "127.0.0.1:2120:127.0.0.1:21"]);
    topo.wait_local_forward(plain, 2120);
    let ftp = topo.start_sshfwd("ftp", &["-L", "ftp/127.0.0.1:2121:127.0.0.1:21"]);
    topo.wait_local_forward(ftp, 2121);
    (topo, server, plain, ftp)
}

/// Polls `check` every 20 ms until it returns `Some` or `timeout` passes.
pub fn poll<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------
// Namespaces

/// One network namespace; deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    fn create(name: String) -> Netns {
        sh("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip netns exec NAME program`.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs `ip ARGS` inside the namespace.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        sh("ip", &all);
    }

    /// Runs `f` on a thread that has entered this namespace; sockets made
    /// there belong to the namespace and may be used from any thread.
    pub fn run_in<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.name);
        thread::spawn(move || {
            let file = fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
            // SAFETY: setns on a valid namespace fd changes only this thread's network namespace.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {path}: {}", io::Error::last_os_error());
            f()
        })
        .join()
        .expect("thread in namespace panicked")
    }

    /// A TCP connection made from inside the namespace.
    pub fn connect(&self, addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        self.run_in(move || TcpStream::connect_timeout(&addr, timeout))
    }

    /// Waits until something accepts connections on `addr` inside the namespace.
    pub fn wait_port(&self, addr: SocketAddr, timeout: Duration) -> bool {
        poll(timeout, || self.connect(addr, Duration::from_millis(500)).ok().map(|s| drop(s.shutdown(Shutdown::Both))))
            .is_some()
    }

    /// `ss -ltnH` inside the namespace: one line per listening TCP socket.
    pub fn listeners(&self, with_processes: bool) -> Vec<String> {
        let out = run_with_timeout(
            self.command("ss").arg(if with_processes { "-ltnpH" } else { "-ltnH" }),
            Duration::from_secs(10),
        );
        out.stdout.lines().map(str::to_owned).filter(|l| !l.trim().is_empty()).collect()
    }

    /// Local addresses (`ip:port`) of the listening TCP sockets.
    pub fn listening_addresses(&self) -> Vec<String> {
        let mut v: Vec<String> =
            self.listeners(false).iter().filter_map(|l| l.split_whitespace().nth(3).map(str::to_owned)).collect();
        v.sort();
        v
    }

    /// Kills every process still inside the namespace (only processes this
    /// test started can be there).
    fn kill_all(&self) {
        for _ in 0..50 {
            let out = Command::new("ip").args(["netns", "pids", &self.name]).output();
            let pids: Vec<i32> = match out {
                Ok(o) => String::from_utf8_lossy(&o.stdout).split_whitespace().filter_map(|p| p.parse().ok()).collect(),
                Err(_) => return,
            };
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                // SAFETY: plain kill(2) on a pid that lives in our own namespace.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.delete();
    }
}

impl Netns {
    /// Kills what runs inside and deletes the namespace (and its veths);
    /// idempotent.
    pub fn delete(&self) {
        if !Path::new(&format!("/run/netns/{}", self.name)).exists() {
            return;
        }
        self.kill_all();
        for _ in 0..50 {
            let ok = Command::new("ip")
                .args(["netns", "del", &self.name])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok || !Path::new(&format!("/run/netns/{}", self.name)).exists() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

// ---------------------------------------------------------------------------
// Processes

/// A long-running process (sshd, an FTP server, sshfwd) with its stderr in a
/// log file; killed and reaped on drop.
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for a line of the log containing `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> Option<String> {
        poll(timeout, || self.log_text().lines().find(|l| l.contains(needle)).map(str::to_owned))
    }

    pub fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let pid = self.child.id() as i32;
        // SAFETY: kill(2) on the pid of our own child, not yet reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        if poll(Duration::from_secs(3), || self.child.try_wait().ok().flatten()).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------
// The topology

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    Cli,
    Srv,
    Ftp3,
    Lan,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FtpKind {
    Proftpd,
    Pyftpdlib,
}

/// A running FTP server.
pub struct FtpServer {
    pub kind: FtpKind,
    pub host: Host,
    pub addr: SocketAddr,
    /// The user's home: test files are here, uploads land here.
    pub home: PathBuf,
    pub proc: usize,
}

pub struct Topology {
    pub n: u32,
    /// Processes, killed in reverse order before the namespaces go.
    procs: Vec<Option<Proc>>,
    pub cli: Netns,
    pub srv: Netns,
    pub ftp3: Option<Netns>,
    pub lan: Option<Netns>,
    pub dir: tempfile::TempDir,
    pub client_key: PathBuf,
    pub ssh: SshServer,
    pub sshd: usize,
}

impl Topology {
    /// cli and srv (and ftp3 when asked), with `ssh` running in srv. Panics
    /// when not root: namespaces need it, and a test that needs them must
    /// not pass without them (such tests are ignored for other users).
    pub fn new(ssh: SshServer, with_ftp3: bool) -> Topology {
        super::require_root("a network-namespace topology");
        static SWEEP: std::sync::Once = std::sync::Once::new();
        SWEEP.call_once(sweep_stale_namespaces);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let base = format!("{}{n}", namespace_prefix());
        let dir = tempfile::Builder::new().prefix("sshfwd-netns-").tempdir().expect("tempdir");
        let cli = Netns::create(format!("{base}-cli"));
        let srv = Netns::create(format!("{base}-srv"));
        let ftp3 = with_ftp3.then(|| Netns::create(format!("{base}-ftp3")));

        // veth pairs created directly inside the namespaces: their names
        // never exist in the initial namespace.
        sh(
            "ip",
            &[
                "link", "add", "veth-srv", "netns", &cli.name, "type", "veth", "peer", "name", "veth-cli", "netns",
                &srv.name,
            ],
        );
        cli.ip(&["addr", "add", &format!("{CLI_IP}/24"), "dev", "veth-srv"]);
        cli.ip(&["link", "set", "veth-srv", "up"]);
        srv.ip(&["addr", "add", &format!("{SRV_IP}/24"), "dev", "veth-cli"]);
        srv.ip(&["link", "set", "veth-cli", "up"]);
        if let Some(f3) = &ftp3 {
            sh(
                "ip",
                &[
                    "link",
                    "add",
                    "veth-ftp3",
                    "netns",
                    &srv.name,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "veth-srv",
                    "netns",
                    &f3.name,
                ],
            );
            srv.ip(&["addr", "add", &format!("{SRV_IP_FTP3_SIDE}/24"), "dev", "veth-ftp3"]);
            srv.ip(&["link", "set", "veth-ftp3", "up"]);
            f3.ip(&["addr", "add", &format!("{FTP3_IP}/24"), "dev", "veth-srv"]);
            f3.ip(&["link", "set", "veth-srv", "up"]);
        }

        let mut topo = Topology {
            n,
            procs: Vec::new(),
            cli,
            srv,
            ftp3,
            lan: None,
            dir,
            client_key: PathBuf::new(),
            ssh,
            sshd: usize::MAX,
        };
        topo.start_sshd();
        topo
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn ns(&self, host: Host) -> &Netns {
        match host {
            Host::Cli => &self.cli,
            Host::Srv => &self.srv,
            Host::Ftp3 => self.ftp3.as_ref().expect("topology without ftp3"),
            Host::Lan => self.lan.as_ref().expect("topology without lan"),
        }
    }

    /// Adds the `lan` namespace joined to cli (10.233.0.0/24); it has no
    /// route beyond cli.
    pub fn add_lan(&mut self) {
        let lan = Netns::create(format!("{}{}-lan", namespace_prefix(), self.n));
        sh(
            "ip",
            &[
                "link",
                "add",
                "veth-lan",
                "netns",
                &self.cli.name,
                "type",
                "veth",
                "peer",
                "name",
                "veth-cli",
                "netns",
                &lan.name,
            ],
        );
        self.cli.ip(&["addr", "add", &format!("{CLI_LAN_IP}/24"), "dev", "veth-lan"]);
        self.cli.ip(&["link", "set", "veth-lan", "up"]);
        lan.ip(&["addr", "add", &format!("{LAN_IP}/24"), "dev", "veth-cli"]);
        lan.ip(&["link", "set", "veth-cli", "up"]);
        self.lan = Some(lan);
    }

    pub fn proc(&self, index: usize) -> &Proc {
        self.procs[index].as_ref().expect("process already stopped")
    }

    pub fn proc_mut(&mut self, index: usize) -> &mut Proc {
        self.procs[index].as_mut().expect("process already stopped")
    }

    /// Stops one process (kill and reap) and forgets it.
    pub fn stop(&mut self, index: usize) {
        if let Some(mut p) = self.procs[index].take() {
            p.stop();
        }
    }

    /// Starts `program args` inside `host` with stderr (and stdout) in
    /// `DIR/<name>.log`; returns the process index.
    pub fn spawn(&mut self, host: Host, name: &str, program: &str, args: &[&str], env: &[(&str, &str)]) -> usize {
        let log = self.path(&format!("{name}.log"));
        let file = fs::File::create(&log).expect("log file");
        let mut cmd = self.ns(host).command(program);
        cmd.args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("dup log"))
            .stderr(file);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {program}: {e}"));
        self.procs.push(Some(Proc { name: name.to_owned(), child, log }));
        self.procs.len() - 1
    }

    fn keygen(&self, name: &str) -> PathBuf {
        let path = self.path(name);
        sh("ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path.to_str().expect("utf-8 path")]);
        path
    }

    fn start_sshd(&mut self) {
        fs::create_dir_all("/run/sshd").expect("mkdir /run/sshd");
        let host_key = self.keygen("ssh_host_ed25519_key");
        self.client_key = self.keygen("id_ed25519");
        let authorized = self.path("authorized_keys");
        fs::copy(self.client_key.with_extension("pub"), &authorized).expect("authorized_keys");
        let config = self.path("sshd_config");
        let d = self.dir.path().display();
        fs::write(
            &config,
            format!(
                "Port 22\nListenAddress {SRV_IP}\nHostKey {hk}\nPidFile {d}/sshd.pid\nAuthorizedKeysFile {ak}\n\
                 StrictModes no\nUsePAM no\nPermitRootLogin yes\nPubkeyAuthentication yes\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nAllowTcpForwarding yes\nGatewayPorts no\nUseDNS no\n\
                 MaxSessions 100\nMaxStartups 100:30:200\nLogLevel VERBOSE\nSubsystem sftp internal-sftp\n",
                hk = host_key.display(),
                ak = authorized.display()
            ),
        )
        .expect("sshd_config");
        let config = config.to_str().expect("utf-8").to_owned();
        self.sshd = match self.ssh {
            SshServer::OpenSsh => self.spawn(Host::Srv, "sshd", "/usr/sbin/sshd", &["-D", "-e", "-f", &config], &[]),
            SshServer::SshfwdServer => {
                let listen = format!("{SRV_IP}:22");
                let (hk, ak) = (host_key.display().to_string(), authorized.display().to_string());
                let args = ["--listen", &listen, "--host-key", &hk, "--authorized-keys", &ak, "-v"];
                self.spawn(Host::Srv, "sshfwd-server", &sshfwd_server_binary(), &args, &[])
            }
        };
        let addr: SocketAddr = format!("{SRV_IP}:22").parse().expect("addr");
        assert!(
            self.srv.wait_port(addr, Duration::from_secs(10)),
            "sshd did not start:\n{}",
            self.proc(self.sshd).log_text()
        );
    }

    /// Restarts the SSH server letting the client choose the address a
    /// remote forwarding listens on: OpenSSH's `GatewayPorts
    /// clientspecified`, sshfwd-server's `--gateway-ports`.
    pub fn restart_ssh_server_with_gateway_ports(&mut self) {
        self.stop(self.sshd);
        let config = self.path("sshd_config");
        let text = fs::read_to_string(&config).expect("sshd_config");
        fs::write(&config, text.replace("GatewayPorts no", "GatewayPorts clientspecified")).expect("sshd_config");
        let config = config.to_str().expect("utf-8").to_owned();
        self.sshd = match self.ssh {
            SshServer::OpenSsh => self.spawn(Host::Srv, "sshd-gw", "/usr/sbin/sshd", &["-D", "-e", "-f", &config], &[]),
            SshServer::SshfwdServer => {
                let listen = format!("{SRV_IP}:22");
                let hk = self.path("ssh_host_ed25519_key").display().to_string();
                let ak = self.path("authorized_keys").display().to_string();
                let args = ["--listen", &listen, "--host-key", &hk, "--authorized-keys", &ak, "--gateway-ports", "-v"];
                self.spawn(Host::Srv, "sshfwd-server-gw", &sshfwd_server_binary(), &args, &[])
            }
        };
        let addr: SocketAddr = format!("{SRV_IP}:22").parse().expect("addr");
        assert!(
            self.srv.wait_port(addr, Duration::from_secs(10)),
            "the SSH server did not restart:\n{}",
            self.proc(self.sshd).log_text()
        );
    }

    /// A fresh FTP home with the small test files (and the big one if asked).
    pub fn make_home(&self, name: &str, big: bool) -> PathBuf {
        let home = self.path(name);
        fs::create_dir_all(home.join("sub")).expect("mkdir home");
        for (file, len) in SMALL_FILES {
            write_test_file(&home.join(file), file, *len);
        }
        write_test_file(&home.join("sub/inner.txt"), "inner", 100);
        if big {
            write_test_file(&home.join(BIG_FILE.0), BIG_FILE.0, BIG_FILE.1);
        }
        home
    }

    /// Starts an FTP server of `kind` inside `host` on `ip:port` with a fresh
    /// home directory; waits until it accepts connections.
    pub fn start_ftp(&mut self, kind: FtpKind, host: Host, ip: &str, port: u16, big: bool) -> FtpServer {
        let tag = format!("{kind:?}-{host:?}-{port}").to_lowercase();
        let home = self.make_home(&format!("home-{tag}"), big);
        let proc = match kind {
            FtpKind::Proftpd => self.spawn_proftpd(&tag, host, ip, port, &home),
            FtpKind::Pyftpdlib => self.spawn_pyftpdlib(&tag, host, ip, port, &home),
        };
        let addr = SocketAddr::new(ip.parse().expect("ftp ip"), port);
        assert!(
            self.ns(host).wait_port(addr, Duration::from_secs(15)),
            "{kind:?} did not start on {addr}:\n{}",
            self.proc(proc).log_text()
        );
        FtpServer { kind, host, addr, home, proc }
    }

    fn spawn_proftpd(&mut self, tag: &str, host: Host, ip: &str, port: u16, home: &Path) -> usize {
        let d = self.path(&format!("proftpd-{tag}"));
        fs::create_dir_all(&d).expect("proftpd dir");
        let passwd = d.join("passwd");
        // crypt(3) through perl-base (Essential on Debian: always there).
        let hash = Command::new("perl")
            .args(["-e", "print crypt($ARGV[0], q($6$sfwdtest$))", FTP_PASS])
            .output()
            .expect("perl crypt");
        let hash = String::from_utf8_lossy(&hash.stdout).trim().to_owned();
        assert!(hash.starts_with("$6$"), "crypt failed: {hash:?}");
        fs::write(&passwd, format!("{FTP_USER}:{hash}:0:0::{}:/bin/sh\n", home.display())).expect("passwd");
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&passwd, fs::Permissions::from_mode(0o600)).expect("chmod passwd");
        let conf = d.join("proftpd.conf");
        let dd = d.display();
        fs::write(
            &conf,
            format!(
                "ServerType standalone\nServerName \"sshfwd-test\"\nDefaultServer on\nPort {port}\nDefaultAddress {ip}\n\
                 SocketBindTight on\nUseIPv6 off\nUser root\nGroup root\nRootLogin on\nAuthOrder mod_auth_file.c\n\
                 AuthUserFile {dd}/passwd\nRequireValidShell off\nPidFile {dd}/proftpd.pid\nScoreboardFile {dd}/scoreboard\n\
                 DelayTable none\nWtmpLog off\nUseReverseDNS off\nSystemLog {dd}/system.log\nTransferLog none\n\
                 AllowOverwrite on\nUseSendfile off\nMaxInstances 100\nTimeoutIdle 120\nPassivePorts 40000 60000\n\
                 <IfModule mod_ident.c>\nIdentLookups off\n</IfModule>\n"
            ),
        )
        .expect("proftpd.conf");
        let conf = conf.to_str().expect("utf-8").to_owned();
        self.spawn(host, &format!("proftpd-{tag}"), "/usr/sbin/proftpd", &["-n", "-q", "-c", &conf], &[])
    }

    fn spawn_pyftpdlib(&mut self, tag: &str, host: Host, ip: &str, port: u16, home: &Path) -> usize {
        let script = self.path("pyftpd_server.py");
        fs::write(&script, PYFTPD_SERVER).expect("server script");
        let (script, home, port) =
            (script.to_str().expect("utf-8").to_owned(), home.to_str().expect("utf-8").to_owned(), port.to_string());
        self.spawn(
            host,
            &format!("pyftpdlib-{tag}"),
            "python3",
            &["-u", &script, ip, &port, &home, FTP_USER, FTP_PASS],
            &[],
        )
    }

    /// Starts sshfwd inside cli with the given forwarding arguments
    /// (e.g. `["-L", "ftp/127.0.0.1:2121:127.0.0.1:21"]`) plus `extra`
    /// options, connecting to root@SRV_IP; returns its process index. The
    /// caller waits for readiness (see [`Topology::wait_local_forward`]).
    pub fn start_sshfwd(&mut self, name: &str, args: &[&str]) -> usize {
        let home = self.path(&format!("home-sshfwd-{name}"));
        fs::create_dir_all(&home).expect("sshfwd HOME");
        let key = self.client_key.to_str().expect("utf-8").to_owned();
        let home_s = home.to_str().expect("utf-8").to_owned();
        // SSHFWD_TEST_VERBOSITY=-vvv for more detail in the logs.
        let verbosity = std::env::var("SSHFWD_TEST_VERBOSITY").unwrap_or_else(|_| "-v".to_owned());
        let mut all: Vec<&str> = vec![
            "-N",
            &verbosity,
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ExitOnForwardFailure=yes",
            "-i",
            &key,
            "-p",
            "22",
        ];
        all.extend_from_slice(args);
        let dest = format!("root@{SRV_IP}");
        all.push(&dest);
        self.spawn(Host::Cli, &format!("sshfwd-{name}"), SSHFWD, &all, &[("HOME", &home_s)])
    }

    /// Waits until `port` on 127.0.0.1 in cli accepts connections while
    /// sshfwd `proc` runs.
    pub fn wait_local_forward(&mut self, proc: usize, port: u16) {
        self.wait_forward_at(proc, Host::Cli, format!("127.0.0.1:{port}").parse().expect("addr"));
    }

    /// Waits until 127.0.0.1:`port` in srv accepts (a remote forwarding).
    pub fn wait_remote_forward(&mut self, proc: usize, port: u16) {
        self.wait_forward_at(proc, Host::Srv, format!("127.0.0.1:{port}").parse().expect("addr"));
    }

    /// Waits until `addr` inside `host` accepts connections while sshfwd
    /// `proc` runs.
    pub fn wait_forward_at(&mut self, proc: usize, host: Host, addr: SocketAddr) {
        let ok = poll(Duration::from_secs(20), || {
            if !self.proc_mut(proc).is_running() {
                return Some(false);
            }
            self.ns(host).connect(addr, Duration::from_millis(500)).ok().map(|s| {
                let _ = s.shutdown(Shutdown::Both);
                true
            })
        });
        assert_eq!(ok, Some(true), "forward on {host:?} {addr} not ready:\n{}", self.proc(proc).log_text());
    }

    /// Writes a helper script (Python) into the topology's directory.
    pub fn script(&self, name: &str, text: &str) -> String {
        let p = self.path(name);
        if !p.exists() {
            fs::write(&p, text).expect("write script");
        }
        p.to_str().expect("utf-8").to_owned()
    }

    /// Runs a client program inside `host` with a deadline.
    pub fn run(&self, host: Host, program: &str, args: &[&str], timeout: Duration) -> RunOutput {
        run_with_timeout(self.ns(host).command(program).args(args).env("HOME", self.dir.path()), timeout)
    }

    /// All logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for p in self.procs.iter().flatten() {
            let text = p.log_text();
            let tail: Vec<&str> = text.lines().rev().take(80).collect();
            let _ = writeln!(s, "===== {} (last {} lines) =====", p.name, tail.len());
            for l in tail.iter().rev() {
                let _ = writeln!(s, "{l}");
            }
        }
        s
    }

    /// Tears everything down and asserts that no namespace of this topology
    /// is left.
    pub fn finish(mut self) {
        let base = format!("{}{}-", namespace_prefix(), self.n);
        self.teardown();
        let left = namespaces_with_prefix(&base);
        assert!(left.is_empty(), "namespaces left behind: {left:?}");
    }

    fn teardown(&mut self) {
        for p in self.procs.iter_mut().rev() {
            if let Some(mut p) = p.take() {
                p.stop();
            }
        }
        // The namespaces go again (harmlessly) when the struct is dropped.
        if let Some(lan) = &self.lan {
            lan.delete();
        }
        if let Some(f3) = &self.ftp3 {
            f3.delete();
        }
        self.srv.delete();
        self.cli.delete();
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for p in self.procs.iter_mut().rev() {
            if let Some(mut p) = p.take() {
                p.stop();
            }
        }
        // cli, srv and ftp3 are then dropped as fields (killing stragglers
        // and deleting the namespaces with their veths); the temp dir last.
    }
}

// ---------------------------------------------------------------------------
// A minimal raw FTP client for protocol-level tests (runs on a socket made
// inside a namespace).

pub struct RawFtp {
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl RawFtp {
    pub fn connect(ns: &Netns, addr: SocketAddr) -> io::Result<RawFtp> {
        let stream = ns.connect(addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_nodelay(true)?;
        let reader = BufReader::new(stream.try_clone()?);
        Ok(RawFtp { stream, reader })
    }

    /// Reads one (possibly multi-line) reply: returns its code and full text.
    pub fn reply(&mut self) -> io::Result<(u16, String)> {
        super::ftp_client::read_reply(&mut self.reader)
    }

    /// One raw line (up to and including LF), bytes as received.
    pub fn line_bytes(&mut self) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        if self.reader.read_until(b'\n', &mut v)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"));
        }
        Ok(v)
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Closes the control connection with a TCP reset (SO_LINGER 0), as a
    /// crashing client would.
    pub fn reset(self) {
        let linger = libc::linger { l_onoff: 1, l_linger: 0 };
        // SAFETY: setsockopt on our own open socket with a correctly sized value.
        unsafe {
            libc::setsockopt(
                self.stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
    }

    pub fn cmd(&mut self, line: &str) -> io::Result<(u16, String)> {
        self.send_raw(format!("{line}\r\n").as_bytes())?;
        self.reply()
    }

    pub fn login(&mut self, user: &str, pass: &str) -> io::Result<()> {
        let (c, t) = self.reply()?;
        if c != 220 {
            return Err(io::Error::other(format!("greeting: {t}")));
        }
        let (c, t) = self.cmd(&format!("USER {user}"))?;
        if c == 230 {
            return Ok(());
        }
        if c != 331 {
            return Err(io::Error::other(format!("USER: {t}")));
        }
        let (c, t) = self.cmd(&format!("PASS {pass}"))?;
        if c != 230 {
            return Err(io::Error::other(format!("PASS: {t}")));
        }
        Ok(())
    }
}

/// Parses the first `h1,h2,h3,h4,p1,p2` out of a 227 reply (any line of a
/// multi-line one), as Python's ftplib does.
pub fn parse_227(text: &str) -> Option<SocketAddr> {
    let bytes = text.as_bytes();
    for start in 0..bytes.len() {
        if !bytes[start].is_ascii_digit() || (start > 0 && bytes[start - 1].is_ascii_digit()) {
            continue;
        }
        let mut nums = Vec::with_capacity(6);
        let mut i = start;
        while nums.len() < 6 {
            let from = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let Some(n) = text.get(from..i).and_then(|d| d.parse::<u16>().ok()).filter(|n| *n <= 255) else { break };
            nums.push(n);
            if nums.len() < 6 {
                if bytes.get(i) != Some(&b',') {
                    break;
                }
                i += 1;
            }
        }
        if nums.len() == 6 {
            return Some(SocketAddr::from((
                [nums[0] as u8, nums[1] as u8, nums[2] as u8, nums[3] as u8],
                nums[4] * 256 + nums[5],
            )));
        }
    }
    None
}

/// Parses the port out of a 229 reply `(|||port|)`.
pub fn parse_229(text: &str) -> Option<u16> {
    let open = text.find('(')?;
    let close = text[open..].find(')')? + open;
    let inner = &text[open + 1..close];
    let delim = inner.chars().next()?;
    inner.split(delim).nth(3)?.parse().ok()
}

/// The pyftpdlib server the harness starts: `HOST PORT HOME USER PASS`.
/// Logs every command at DEBUG to stderr (the process log).
pub const PYFTPD_SERVER: &str = r#"
import logging, sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

host, port, home, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(asctime)s %(message)s")
auth = DummyAuthorizer()
auth.add_user(user, password, home, perm="elradfmwMT")

class Handler(FTPHandler):
    pass

Handler.authorizer = auth
Handler.timeout = 120
Handler.banner = "pyftpdlib ready"
server = FTPServer((host, port), Handler)
server.max_cons = 512
server.max_cons_per_ip = 0
print("READY", flush=True)
server.serve_forever()
"#;

// ---------------------------------------------------------------------------
// FTP clients: curl, lftp and Python's ftplib, driven the same way.

/// How the client opens data channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Pasv,
    Epsv,
    Port,
    Eprt,
}

pub const ALL_MODES: [Mode; 4] = [Mode::Pasv, Mode::Epsv, Mode::Port, Mode::Eprt];

impl Mode {
    pub fn verb(self) -> &'static str {
        match self {
            Mode::Pasv => "PASV",
            Mode::Epsv => "EPSV",
            Mode::Port => "PORT",
            Mode::Eprt => "EPRT",
        }
    }

    fn lower(self) -> &'static str {
        match self {
            Mode::Pasv => "pasv",
            Mode::Epsv => "epsv",
            Mode::Port => "port",
            Mode::Eprt => "eprt",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    Curl,
    Lftp,
    Ftplib,
}

impl Client {
    /// Whether the client can be made to use `mode` (lftp sends EPRT only
    /// on IPv6 control connections; the others do all four).
    pub fn supports(self, mode: Mode) -> bool {
        !(self == Client::Lftp && mode == Mode::Eprt)
    }

    /// Whether the client can list with MLSD (curl cannot).
    pub fn supports_mlsd(self) -> bool {
        self != Client::Curl
    }
}

/// One operation of an FTP session. Paths are absolute local paths.
#[derive(Clone, Debug)]
pub enum Op {
    Get { remote: String, local: PathBuf },
    Put { local: PathBuf, remote: String },
    List { out: PathBuf },
    Nlst { out: PathBuf },
    Mlsd { out: PathBuf },
}

impl Op {
    fn data_verb(&self) -> &'static str {
        match self {
            Op::Get { .. } => "RETR",
            Op::Put { .. } => "STOR",
            Op::List { .. } => "LIST",
            Op::Nlst { .. } => "NLST",
            Op::Mlsd { .. } => "MLSD",
        }
    }
}

/// The data-channel verbs (PASV, EPSV, PORT, EPRT) and transfer verbs the
/// client sent, in order, read from its debug transcript.
pub fn sent_verbs(client: Client, transcript: &str) -> Vec<String> {
    let marker = match client {
        Client::Curl => "> ",
        Client::Lftp => "---> ",
        Client::Ftplib => "*cmd* '",
    };
    transcript
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix(marker))
        .filter_map(|rest| rest.split(|c: char| !c.is_ascii_alphabetic()).next())
        .filter(|v| matches!(*v, "PASV" | "EPSV" | "PORT" | "EPRT" | "RETR" | "STOR" | "LIST" | "NLST" | "MLSD"))
        .map(str::to_owned)
        .collect()
}

/// Runs `ops` with `client` in `mode` against the FTP endpoint `endpoint`
/// (as seen from `host`); curl runs once per operation, lftp and ftplib do
/// all operations in one control session. Returns the combined transcript;
/// `Err` carries it when any run failed.
pub fn ftp_session(
    topo: &Topology,
    host: Host,
    client: Client,
    mode: Mode,
    endpoint: SocketAddr,
    ops: &[Op],
    timeout: Duration,
) -> Result<String, String> {
    assert!(client.supports(mode), "{client:?} cannot do {mode:?}");
    let mut transcript = String::new();
    let fail = |t: &mut String, out: &RunOutput, what: &str| -> bool {
        let _ = writeln!(t, "### {what}\n{}", out.transcript());
        !out.success()
    };
    match client {
        Client::Curl => {
            for op in ops {
                let url_base = format!("ftp://{FTP_USER}:{FTP_PASS}@{endpoint}/");
                let mut args: Vec<String> =
                    ["-sS", "-v", "--connect-timeout", "10", "--max-time"].iter().map(|s| s.to_string()).collect();
                args.push(timeout.as_secs().to_string());
                match mode {
                    Mode::Pasv => args.push("--disable-epsv".into()),
                    Mode::Epsv => args.push("--ftp-pasv".into()),
                    Mode::Port => args.extend(["-P".into(), "-".into(), "--disable-eprt".into()]),
                    Mode::Eprt => args.extend(["-P".into(), "-".into()]),
                }
                match op {
                    Op::Get { remote, local } => {
                        args.extend(["-o".into(), local.display().to_string(), format!("{url_base}{remote}")])
                    }
                    Op::Put { local, remote } => {
                        args.extend(["-T".into(), local.display().to_string(), format!("{url_base}{remote}")])
                    }
                    Op::List { out } => args.extend(["-o".into(), out.display().to_string(), url_base.clone()]),
                    Op::Nlst { out } => {
                        args.extend(["-l".into(), "-o".into(), out.display().to_string(), url_base.clone()])
                    }
                    Op::Mlsd { .. } => panic!("curl cannot MLSD"),
                }
                let a: Vec<&str> = args.iter().map(String::as_str).collect();
                let out = topo.run(host, "curl", &a, timeout + Duration::from_secs(5));
                if fail(&mut transcript, &out, &format!("curl {op:?}")) {
                    return Err(transcript);
                }
            }
        }
        Client::Lftp => {
            let mut script = format!(
                "set cmd:fail-exit yes; set net:max-retries 1; set net:persist-retries 0; set net:timeout 15; \
                 set net:reconnect-interval-base 1; set ftp:ssl-allow no; set ftp:use-feat yes; set ftp:use-mlsd yes; \
                 set ftp:passive-mode {}; set ftp:prefer-epsv {}; set xfer:clobber yes; \
                 open -u {FTP_USER},{FTP_PASS} ftp://{endpoint}; ",
                if matches!(mode, Mode::Pasv | Mode::Epsv) { "on" } else { "off" },
                if mode == Mode::Epsv { "yes" } else { "no" },
            );
            for op in ops {
                let _ = match op {
                    Op::Get { remote, local } => write!(script, "get {remote} -o {}; ", local.display()),
                    Op::Put { local, remote } => write!(script, "put {} -o {remote}; ", local.display()),
                    Op::List { out } => write!(script, "ls > {}; ", out.display()),
                    Op::Nlst { out } => write!(script, "nlist > {}; ", out.display()),
                    Op::Mlsd { out } => write!(script, "cls -1 > {}; ", out.display()),
                };
            }
            let out = topo.run(host, "lftp", &["-d", "-c", &script], timeout);
            if fail(&mut transcript, &out, "lftp") {
                return Err(transcript);
            }
        }
        Client::Ftplib => {
            let script = topo.script("ftpc.py", FTPLIB_CLIENT);
            let mut args = vec![
                script,
                endpoint.ip().to_string(),
                endpoint.port().to_string(),
                mode.lower().to_owned(),
                timeout.as_secs().to_string(),
            ];
            for op in ops {
                args.push(match op {
                    Op::Get { remote, local } => format!("get\t{remote}\t{}", local.display()),
                    Op::Put { local, remote } => format!("put\t{}\t{remote}", local.display()),
                    Op::List { out } => format!("list\t{}", out.display()),
                    Op::Nlst { out } => format!("nlst\t{}", out.display()),
                    Op::Mlsd { out } => format!("mlsd\t{}", out.display()),
                });
            }
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = topo.run(host, "python3", &a, timeout);
            if fail(&mut transcript, &out, "ftplib") {
                return Err(transcript);
            }
        }
    }
    // The data channels must have been opened with `mode` only (no silent
    // fallback to another mode), once per operation.
    let verbs = sent_verbs(client, &transcript);
    let channel_verbs: Vec<&String> =
        verbs.iter().filter(|v| matches!(v.as_str(), "PASV" | "EPSV" | "PORT" | "EPRT")).collect();
    if channel_verbs.iter().any(|v| *v != mode.verb()) || channel_verbs.len() < ops.len() {
        let _ =
            writeln!(transcript, "### expected only {} (at least {}x), client sent {verbs:?}", mode.verb(), ops.len());
        return Err(transcript);
    }
    for op in ops {
        if !verbs.iter().any(|v| v == op.data_verb()) {
            let _ = writeln!(transcript, "### {} was never sent: {verbs:?}", op.data_verb());
            return Err(transcript);
        }
    }
    Ok(transcript)
}

/// Python ftplib driver: `HOST PORT MODE TIMEOUT OP...`, each OP
/// tab-separated (`get REMOTE LOCAL`, `put LOCAL REMOTE`, `list OUT`,
/// `nlst OUT`, `mlsd OUT`). EPSV and EPRT are forced by overriding
/// `makepasv`/`makeport` (ftplib uses them only for IPv6 by default), and
/// the PASV reply's address is trusted so that the rewrite is exercised.
pub const FTPLIB_CLIENT: &str = r#"
import ftplib, socket, sys

host, port, mode, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])

class F(ftplib.FTP):
    trust_server_pasv_ipv4_address = True

    def makepasv(self):
        if mode == "epsv":
            return ftplib.parse229(self.sendcmd("EPSV"), self.sock.getpeername())
        return super().makepasv()

    def makeport(self):
        if mode == "eprt":
            sock = socket.create_server((self.sock.getsockname()[0], 0), family=self.af, backlog=1)
            h, p = sock.getsockname()[:2]
            self.sendeprt(h, p)
            sock.settimeout(self.timeout)
            return sock
        return super().makeport()

f = F(timeout=timeout)
f.set_debuglevel(1)
f.connect(host, port)
f.login("ftpuser", "secret")
f.set_pasv(mode in ("pasv", "epsv"))
for op in sys.argv[5:]:
    parts = op.split("\t")
    if parts[0] == "get":
        with open(parts[2], "wb") as out:
            f.retrbinary("RETR " + parts[1], out.write, blocksize=1 << 20)
    elif parts[0] == "put":
        with open(parts[1], "rb") as src:
            f.storbinary("STOR " + parts[2], src, blocksize=1 << 20)
    elif parts[0] == "list":
        lines = []
        f.retrlines("LIST", lines.append)
        open(parts[1], "w").write("\n".join(lines) + "\n")
    elif parts[0] == "nlst":
        open(parts[1], "w").write("\n".join(f.nlst()) + "\n")
    elif parts[0] == "mlsd":
        open(parts[1], "w").write("\n".join(name for name, facts in f.mlsd()) + "\n")
    else:
        raise SystemExit("bad op " + op)
f.quit()
print("FTPLIB OK")
"#;
