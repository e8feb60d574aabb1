//! The sshfwd client against a real OpenSSH sshd on 127.0.0.1: key types,
//! encrypted keys, ssh-agent, password auth, host key checking, -L/-R/-D
//! forwarding (bulk data with SHA-256, half-close), ExitOnForwardFailure,
//! exit statuses, config precedence and errors, keepalive timeouts.

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::common::echo::{echo_round_trip, echo_server, TestServer};
use crate::common::sshd::{self, assert_exit, free_port, write_script, Agent, KeyType, Sshd, SshdOptions, TestUser};
use sha2::{Digest, Sha256};

/// Bound for a short run of sshfwd (connect, auth, a trivial command).
const RUN: Duration = Duration::from_secs(30);
/// Bound for a forwarding to come up.
const READY: Duration = Duration::from_secs(20);
/// Socket read/write timeout in the test's TCP peers.
const IO_TIMEOUT: Duration = Duration::from_secs(60);

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

// ---------------------------------------------------------------------------
// TCP peers used behind the forwardings.

/// splitmix64: a fast deterministic byte stream.
struct Prng(u64);

impl Prng {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }
}

/// Writes `len` bytes of the stream `seed`, then shuts the write half;
/// returns the SHA-256 of what was written.
fn send_stream(mut w: TcpStream, seed: u64, len: u64) -> Vec<u8> {
    let hash = write_stream(&mut w, seed, len, 256 * 1024, |_| {}).expect("send_stream write");
    w.shutdown(Shutdown::Write).expect("send_stream shutdown");
    hash
}

/// Writes `len` bytes of the stream `seed` in writes of up to `chunk`
/// bytes, calling `wrote(n)` after each; returns the SHA-256 of what was
/// written.
fn write_stream(
    w: &mut impl Write,
    seed: u64,
    len: u64,
    chunk: usize,
    mut wrote: impl FnMut(u64),
) -> std::io::Result<Vec<u8>> {
    let mut prng = Prng(seed);
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; chunk];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        prng.fill(&mut buf[..n]);
        hash.update(&buf[..n]);
        w.write_all(&buf[..n])?;
        left -= n as u64;
        wrote(n as u64);
    }
    Ok(hash.finalize().to_vec())
}

/// Reads until EOF; returns (byte count, SHA-256).
fn recv_stream(mut r: TcpStream) -> (u64, Vec<u8>) {
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(n) => n,
            // Reads with a timeout fail with EINTR after the process is
            // stopped and continued (signal(7)); `read` leaves the retry to us.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("recv_stream read: {e}"),
        };
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        total += n as u64;
    }
    (total, hash.finalize().to_vec())
}

const BULK_MAGIC: u64 = 0x5353_4846_5744_4154; // "SSHFWDAT"

/// What the bulk server saw on one connection.
struct BulkReport {
    received: u64,
    received_hash: Vec<u8>,
    sent_hash: Vec<u8>,
}

/// A server that reads a header (magic, length, seed), then at once sends
/// `length` bytes of stream `seed` and hashes everything it receives until
/// EOF. Connections that end before a header (readiness probes) are ignored.
fn bulk_server() -> (TestServer, mpsc::Receiver<BulkReport>) {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = TestServer::start(move |mut c| {
        let mut header = [0u8; 24];
        if c.read_exact(&mut header).is_err() {
            return;
        }
        let word = |i: usize| u64::from_le_bytes(header[i * 8..i * 8 + 8].try_into().unwrap());
        if word(0) != BULK_MAGIC {
            return;
        }
        let (len, seed) = (word(1), word(2));
        let w = c.try_clone().expect("clone");
        let sender = thread::spawn(move || send_stream(w, seed, len));
        let (received, received_hash) = recv_stream(c);
        let sent_hash = sender.join().expect("server sender");
        let _ = tx.lock().unwrap().send(BulkReport { received, received_hash, sent_hash });
    });
    (server, rx)
}

/// Moves `len` bytes each way through `addr` (a forwarding to a
/// bulk_server) at the same time, and checks both directions' SHA-256.
fn bulk_exchange(addr: SocketAddr, reports: &mpsc::Receiver<BulkReport>, len: u64) {
    let c = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect bulk");
    c.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    c.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let (up_seed, down_seed) = (0x1234_5678_u64, 0x9abc_def0_u64);
    let mut header = Vec::new();
    for w in [BULK_MAGIC, len, down_seed] {
        header.extend_from_slice(&w.to_le_bytes());
    }
    (&c).write_all(&header).expect("write header");
    let w = c.try_clone().unwrap();
    let start = Instant::now();
    let sender = thread::spawn(move || send_stream(w, up_seed, len));
    let (down_len, down_hash) = recv_stream(c);
    let up_hash = sender.join().expect("client sender");
    let report = reports.recv_timeout(IO_TIMEOUT).expect("bulk server report");
    eprintln!("bulk: {} MiB each way in {:?}", len >> 20, start.elapsed());
    assert_eq!(report.received, len, "bytes received by the server");
    assert_eq!(report.received_hash, up_hash, "SHA-256 client -> server");
    assert_eq!(down_len, len, "bytes received by the client");
    assert_eq!(down_hash, report.sent_hash, "SHA-256 server -> client");
}

/// A server that reads a request until EOF, then replies with 1 MiB derived
/// from it followed by the request itself, then closes.
fn half_close_server() -> TestServer {
    TestServer::start(|mut c| {
        let mut req = Vec::new();
        if c.read_to_end(&mut req).is_err() || req.is_empty() {
            return;
        }
        let reply = half_close_reply(&req);
        let _ = c.write_all(&reply);
        let _ = c.shutdown(Shutdown::Write);
    })
}

fn half_close_reply(req: &[u8]) -> Vec<u8> {
    let seed = u64::from_le_bytes(Sha256::digest(req)[..8].try_into().unwrap());
    let mut reply = vec![0u8; 1 << 20];
    Prng(seed).fill(&mut reply);
    reply.extend_from_slice(req);
    reply
}

fn half_close_exchange(addr: SocketAddr) {
    let req = b"REQUEST: the server answers only after it has seen EOF\n".repeat(100);
    let got = echo_round_trip(addr, &req);
    let want = half_close_reply(&req);
    assert_eq!(got.len(), want.len(), "reply length after half-close");
    assert!(got == want, "reply content after half-close differs");
}

/// The mirror image of the half-close exchange: the server speaks first and
/// shuts its write half; the client reads that to EOF and only then sends
/// its data, which must still reach the server whole.
fn server_first_server() -> (TestServer, mpsc::Receiver<(u64, Vec<u8>)>) {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = TestServer::start(move |mut c| {
        let mut go = [0u8; 1];
        if c.read_exact(&mut go).is_err() {
            return; // a readiness probe
        }
        let mut greeting = vec![0u8; 1 << 20];
        Prng(7).fill(&mut greeting);
        if c.write_all(&greeting).is_err() || c.shutdown(Shutdown::Write).is_err() {
            return;
        }
        let got = recv_stream(c);
        let _ = tx.lock().unwrap().send(got);
    });
    (server, rx)
}

fn server_first_exchange(addr: SocketAddr, reports: &mpsc::Receiver<(u64, Vec<u8>)>) {
    let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    c.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    c.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    c.write_all(b"G").unwrap();
    let mut greeting = Vec::new();
    c.read_to_end(&mut greeting).expect("read the server's data to EOF");
    let mut want = vec![0u8; 1 << 20];
    Prng(7).fill(&mut want);
    assert!(greeting == want, "server's data before its EOF: {} bytes, content differs or short", greeting.len());
    let len = 4 << 20;
    let sent = send_stream(c, 8, len);
    let (got_len, got_hash) = reports.recv_timeout(IO_TIMEOUT).expect("server report");
    assert_eq!(got_len, len, "bytes the server got after its own EOF");
    assert_eq!(got_hash, sent, "SHA-256 of what the server got after its EOF");
}

/// A server that, after a go byte, writes `FLOOD` bytes as fast as it can,
/// counting what its writes accepted, and reports the SHA-256 it sent.
const FLOOD: u64 = 256 << 20;

fn flood_server() -> (TestServer, Arc<std::sync::atomic::AtomicU64>, mpsc::Receiver<Vec<u8>>) {
    let written = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let w2 = written.clone();
    let server = TestServer::start(move |mut c| {
        let mut go = [0u8; 1];
        if c.read_exact(&mut go).is_err() {
            return;
        }
        let Ok(hash) = write_stream(&mut c, 99, FLOOD, 64 * 1024, |n| {
            w2.fetch_add(n, Ordering::SeqCst);
        }) else {
            return;
        };
        let _ = c.shutdown(Shutdown::Write);
        let _ = tx.lock().unwrap().send(hash);
    });
    (server, written, rx)
}

/// Waits until a flood_server's writes stop making progress (bounded: 30 s)
/// and returns how much they accepted.
fn wait_for_stall(written: &std::sync::atomic::AtomicU64) -> u64 {
    let mut last = u64::MAX;
    let mut still = 0;
    for _ in 0..150 {
        thread::sleep(Duration::from_millis(200));
        let now = written.load(Ordering::SeqCst);
        if now == last {
            still += 1;
            if still == 3 {
                break;
            }
        } else {
            still = 0;
        }
        last = now;
    }
    written.load(Ordering::SeqCst)
}

/// Connects to `addr` (a forwarding to a flood_server), reads nothing until
/// the flood stalls, checks that sshfwd (`pid`) did not soak it up, then
/// reads it all and checks the SHA-256.
fn slow_reader_exchange(
    addr: SocketAddr,
    pid: u32,
    written: &std::sync::atomic::AtomicU64,
    reports: &mpsc::Receiver<Vec<u8>>,
) {
    let rss_before = sshd::rss_kib(pid).expect("sshfwd RSS");
    let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    c.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    c.write_all(b"G").unwrap();
    let stalled_at = wait_for_stall(written);
    let rss_stalled = sshd::rss_kib(pid).expect("sshfwd RSS");
    eprintln!(
        "slow reader: server wrote {} MiB before stalling; sshfwd RSS {} -> {} MiB",
        stalled_at >> 20,
        rss_before >> 10,
        rss_stalled >> 10
    );
    assert!(stalled_at < FLOOD / 2, "{} MiB went out while nobody read: buffered without bound", stalled_at >> 20);
    assert!(
        rss_stalled < rss_before + 64 * 1024,
        "sshfwd's RSS grew from {} to {} MiB for a reader that does not read",
        rss_before >> 10,
        rss_stalled >> 10
    );
    let (len, hash) = recv_stream(c);
    let sent = reports.recv_timeout(IO_TIMEOUT).expect("flood server report");
    assert_eq!(len, FLOOD);
    assert_eq!(hash, sent, "SHA-256 after the slow reader caught up");
}

// ---------------------------------------------------------------------------
// 1. Key types.

fn auth_with_key(key_type: KeyType, sshd_extra: &[&str], client_options: &[&str]) {
    let sshd = Sshd::start_with(SshdOptions {
        extra: sshd_extra.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    });
    let key = sshd.add_client_key(&format!("user_{}", key_type.keygen_name()), key_type, "");
    let mut cmd = sshd.sshfwd().command(["exit", "0"]);
    cmd.identities = vec![key];
    cmd.options.extend(client_options.iter().map(|s| s.to_string()));
    let out = cmd.run(RUN);
    assert_exit(&out, 0);
    let log = sshd.log();
    assert!(log.contains("Accepted publickey for root"), "sshd did not log a publickey login:\n{log}");
}

#[test]
fn auth_ed25519_key() {
    auth_with_key(KeyType::Ed25519, &[], &[]);
}

#[test]
fn auth_ecdsa_key() {
    auth_with_key(KeyType::Ecdsa, &[], &[]);
}

#[test]
fn auth_rsa_key() {
    auth_with_key(KeyType::Rsa, &[], &[]);
}

#[test]
fn auth_rsa_key_sha2_512_only() {
    auth_with_key(KeyType::Rsa, &["PubkeyAcceptedAlgorithms rsa-sha2-512"], &[]);
}

/// sshd 9.2 advertises every algorithm it knows in server-sig-algs, whatever
/// PubkeyAcceptedAlgorithms says, so a client picks rsa-sha2-512 unless told
/// otherwise; OpenSSH's ssh is told with -o PubkeyAcceptedAlgorithms.
#[test]
#[ignore = "sshfwd accepts but ignores PubkeyAcceptedAlgorithms, so it signs with rsa-sha2-512, which this sshd refuses"]
fn auth_rsa_key_sha2_256_only() {
    auth_with_key(KeyType::Rsa, &["PubkeyAcceptedAlgorithms rsa-sha2-256"], &["PubkeyAcceptedAlgorithms=rsa-sha2-256"]);
}

#[test]
fn host_key_types_ecdsa_and_rsa_sha2() {
    let cases: [(KeyType, &[&str]); 3] = [
        (KeyType::Ecdsa, &[]),
        (KeyType::Rsa, &["HostKeyAlgorithms rsa-sha2-256"]),
        (KeyType::Rsa, &["HostKeyAlgorithms rsa-sha2-512"]),
    ];
    for (t, extra) in cases {
        let sshd = Sshd::start_with(SshdOptions {
            host_key_types: vec![t],
            extra: extra.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        });
        let out = sshd.sshfwd().command(["true"]).run(RUN);
        assert_exit(&out, 0);
    }
}

#[test]
fn wrong_key_is_denied() {
    let sshd = Sshd::start();
    let stranger = sshd::keygen(&sshd.dir().join("stranger"), KeyType::Ed25519, "");
    let mut cmd = sshd.sshfwd().command(["true"]);
    cmd.identities = vec![stranger];
    let out = cmd.run(RUN);
    assert_exit(&out, 255);
    assert!(out.stderr.contains("Permission denied (publickey)."), "stderr:\n{}", out.stderr);
}

// ---------------------------------------------------------------------------
// 2. Encrypted key.

#[test]
fn encrypted_key_with_askpass() {
    let sshd = Sshd::start();
    let key = sshd.add_client_key("user_encrypted", KeyType::Ed25519, "secret passphrase");
    let marker = sshd.dir().join("askpass_prompts");
    let askpass = write_script(
        &sshd.dir().join("askpass.sh"),
        &format!("printf '%s\\n' \"$1\" >> '{}'\necho 'secret passphrase'", marker.display()),
    );

    let mut cmd = sshd.sshfwd().command(["true"]);
    cmd.identities = vec![key.clone()];
    cmd.batch = Some(false);
    let out = cmd.clone().env("SSH_ASKPASS", &askpass).env("SSH_ASKPASS_REQUIRE", "force").run(RUN);
    assert_exit(&out, 0);
    let prompts = fs::read_to_string(&marker).expect("askpass was not run");
    assert!(prompts.contains(&key.display().to_string()), "the passphrase prompt should name the key: {prompts:?}");
    fs::remove_file(&marker).unwrap();

    // A wrong passphrase does not get in.
    let wrong = write_script(&sshd.dir().join("askpass_wrong.sh"), "echo wrong");
    let out = cmd.clone().env("SSH_ASKPASS", &wrong).env("SSH_ASKPASS_REQUIRE", "force").run(RUN);
    assert_exit(&out, 255);

    // BatchMode never asks, even with askpass forced.
    cmd.batch = Some(true);
    let out = cmd.env("SSH_ASKPASS", &askpass).env("SSH_ASKPASS_REQUIRE", "force").run(RUN);
    assert_exit(&out, 255);
    assert!(out.stderr.contains("Permission denied"), "stderr:\n{}", out.stderr);
    assert!(!marker.exists(), "askpass must not run in BatchMode");
}

// ---------------------------------------------------------------------------
// 3. ssh-agent.

#[test]
fn auth_through_ssh_agent() {
    let sshd = Sshd::start();
    let key = sshd.add_client_key("agent_key", KeyType::Ecdsa, "");
    let agent = Agent::start(sshd.dir());
    agent.add(&key);
    // Move the key away: only the agent holds it now.
    fs::remove_file(&key).unwrap();

    let mut cmd = sshd.sshfwd().command(["true"]);
    cmd.identities.clear();
    cmd.identities_only = false;
    let out = cmd.clone().env("SSH_AUTH_SOCK", agent.sock()).run(RUN);
    assert_exit(&out, 0);

    // Without the agent there is no key to offer.
    let out = cmd.run(RUN);
    assert_exit(&out, 255);
}

// ---------------------------------------------------------------------------
// 4. Password auth.

#[test]
#[cfg_attr(not(tests_as_root), ignore = "needs root: useradd, and sshd logging in another user")]
fn password_auth_with_askpass() {
    let password = "pw-Sshfwd-7431";
    let user = TestUser::create("sshfwdtest", password);
    let sshd = Sshd::start_with(SshdOptions { password_authentication: true, ..Default::default() });
    let askpass = write_script(&sshd.dir().join("askpass_pw.sh"), &format!("echo '{password}'"));

    let mut cmd = sshd.sshfwd().arg("-l").arg(&user.name).command(["id", "-un"]);
    cmd.identities.clear();
    cmd.batch = Some(false);
    cmd.options.push("PubkeyAuthentication=no".into());
    let out = cmd.clone().env("SSH_ASKPASS", &askpass).env("SSH_ASKPASS_REQUIRE", "force").run(RUN);
    assert_exit(&out, 0);
    assert_eq!(out.stdout.trim(), user.name, "remote `id -un`");
    assert!(sshd.log().contains(&format!("Accepted password for {}", user.name)), "sshd log:\n{}", sshd.log());

    // A wrong password is refused.
    let wrong = write_script(&sshd.dir().join("askpass_wrong.sh"), "echo nope");
    let out = cmd.clone().env("SSH_ASKPASS", &wrong).env("SSH_ASKPASS_REQUIRE", "force").run(RUN);
    assert_exit(&out, 255);
    assert!(out.stderr.contains("Permission denied (publickey,password)."), "stderr:\n{}", out.stderr);

    // BatchMode never asks for a password.
    cmd.batch = Some(true);
    let out = cmd.env("SSH_ASKPASS", &askpass).env("SSH_ASKPASS_REQUIRE", "force").run(RUN);
    assert_exit(&out, 255);
    drop(sshd);
}

// ---------------------------------------------------------------------------
// 5. StrictHostKeyChecking.

#[test]
fn strict_host_key_checking_values() {
    let sshd = Sshd::start();
    let dir = sshd.dir();
    let host_entry = format!("[127.0.0.1]:{}", sshd.port());
    let run = |strict: &str, kh: &std::path::Path, extra: &[&str]| {
        let mut cmd = sshd.sshfwd().command(["true"]);
        cmd.known_hosts = Some(kh.to_path_buf());
        cmd.strict = Some(strict.into());
        cmd.options.extend(extra.iter().map(|s| s.to_string()));
        cmd.run(RUN)
    };
    // `strict` with an unknown host (known_hosts kh_STRICT): refused, nothing recorded.
    let refused = |strict: &str, not_recorded: &str| {
        let kh = dir.join(format!("kh_{strict}"));
        let out = run(strict, &kh, &[]);
        assert_exit(&out, 255);
        assert!(out.stderr.contains("Host key verification failed."), "stderr:\n{}", out.stderr);
        assert!(!kh.exists() || fs::read_to_string(&kh).unwrap().is_empty(), "{not_recorded}");
    };
    // accept-new with `HashKnownHosts=hash` (known_hosts `name`): connects
    // and records the key (the text passes `check`); the entry is then
    // enough for `yes`.
    let accept_new = |name: &str, hash: &str, check: &dyn Fn(&str)| {
        let kh = dir.join(name);
        let out = run("accept-new", &kh, &[&format!("HashKnownHosts={hash}")]);
        assert_exit(&out, 0);
        check(&fs::read_to_string(&kh).expect("accept-new wrote known_hosts"));
        let out = run("yes", &kh, &[]);
        assert_exit(&out, 0);
    };

    // yes, unknown host: refused.
    refused("yes", "yes must not record the key");

    // no: connects.
    let kh = dir.join("kh_no");
    let out = run("no", &kh, &[]);
    assert_exit(&out, 0);

    // accept-new: connects and records [127.0.0.1]:PORT.
    accept_new("kh_accept_new", "no", &|text| {
        let want = format!("{host_entry} {}", sshd.host_key_line(KeyType::Ed25519));
        assert!(text.lines().any(|l| l.trim() == want), "known_hosts:\n{text}\nwanted line:\n{want}");
    });

    // accept-new with HashKnownHosts: a |1| entry that verifies.
    accept_new("kh_accept_new_hashed", "yes", &|text| {
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "known_hosts:\n{text}");
        assert!(lines[0].starts_with("|1|"), "hashed entry expected:\n{text}");
        assert!(!text.contains("127.0.0.1"), "hashed entry must not show the host:\n{text}");
        assert!(lines[0].ends_with(&sshd.host_key_line(KeyType::Ed25519)), "known_hosts:\n{text}");
    });

    // ask in BatchMode: cannot ask, so refused, nothing recorded.
    refused("ask", "ask must not record without an answer");

    // ask answered "no" through askpass: refused, nothing recorded.
    let ask = |answer: &str, kh: &std::path::Path| {
        let script = write_script(&dir.join(format!("askpass_{answer}.sh")), &format!("echo {answer}"));
        let mut cmd = sshd.sshfwd().command(["true"]).env("SSH_ASKPASS", script).env("SSH_ASKPASS_REQUIRE", "force");
        cmd.known_hosts = Some(kh.to_path_buf());
        cmd.strict = Some("ask".into());
        cmd.batch = Some(false);
        cmd.options.push("HashKnownHosts=no".into());
        cmd.run(RUN)
    };
    let kh = dir.join("kh_ask_no");
    let out = ask("no", &kh);
    assert_exit(&out, 255);
    assert!(!kh.exists() || fs::read_to_string(&kh).unwrap().is_empty(), "a refused key must not be recorded");
    // ask answered "yes": connects and records the key.
    let kh = dir.join("kh_ask_yes");
    let out = ask("yes", &kh);
    assert_exit(&out, 0);
    let text = fs::read_to_string(&kh).expect("ask + yes wrote known_hosts");
    assert!(text.contains(&host_entry), "known_hosts:\n{text}");
}

#[test]
fn changed_host_key_refused_even_with_strict_no() {
    let sshd = Sshd::start();
    let other = sshd::keygen(&sshd.dir().join("other_host_key"), KeyType::Ed25519, "");
    let kh = sshd.dir().join("kh_changed");
    fs::write(&kh, format!("# a comment line\n[127.0.0.1]:{} {}\n", sshd.port(), sshd::public_key_line(&other)))
        .unwrap();
    for strict in ["no", "accept-new", "yes"] {
        let mut cmd = sshd.sshfwd().command(["true"]);
        cmd.known_hosts = Some(kh.clone());
        cmd.strict = Some(strict.into());
        let out = cmd.run(RUN);
        assert_exit(&out, 255);
        assert!(out.stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"), "{strict}: stderr:\n{}", out.stderr);
        let where_ = format!("{}:2", kh.display());
        assert!(out.stderr.contains(&where_), "{strict}: stderr should name {where_}:\n{}", out.stderr);
        assert!(out.stderr.contains("Host key verification failed."), "{strict}: stderr:\n{}", out.stderr);
    }
    // The known_hosts file is left alone.
    let text = fs::read_to_string(&kh).unwrap();
    assert_eq!(text.lines().count(), 2, "known_hosts changed:\n{text}");
    assert!(!sshd.log().contains("Accepted publickey"), "sshfwd must not log in past a changed key");
}

// ---------------------------------------------------------------------------
// 6. Hashed and [host]:port entries.

#[test]
fn hashed_and_bracketed_known_hosts_entries() {
    let sshd = Sshd::start();
    let plain = sshd.dir().join("kh_plain");
    fs::write(&plain, format!("[127.0.0.1]:{} {}\n", sshd.port(), sshd.host_key_line(KeyType::Ed25519))).unwrap();
    let hashed = sshd.dir().join("kh_hashed");
    fs::copy(&plain, &hashed).unwrap();
    let out = std::process::Command::new("ssh-keygen").arg("-H").arg("-f").arg(&hashed).output().unwrap();
    assert!(out.status.success(), "ssh-keygen -H: {}", String::from_utf8_lossy(&out.stderr));
    let text = fs::read_to_string(&hashed).unwrap();
    assert!(text.starts_with("|1|"), "ssh-keygen -H output:\n{text}");

    for kh in [&plain, &hashed] {
        let mut cmd = sshd.sshfwd().command(["true"]);
        cmd.known_hosts = Some(kh.clone());
        let out = cmd.run(RUN);
        assert_exit(&out, 0);
    }

    // A plain entry for the host without the port does not match a
    // non-standard port.
    let bare = sshd.dir().join("kh_bare");
    fs::write(&bare, format!("127.0.0.1 {}\n", sshd.host_key_line(KeyType::Ed25519))).unwrap();
    let mut cmd = sshd.sshfwd().command(["true"]);
    cmd.known_hosts = Some(bare);
    let out = cmd.run(RUN);
    assert_exit(&out, 255);
}

// ---------------------------------------------------------------------------
// 7. Bulk data and half-close through -L and -R.

const BULK: u64 = 256 << 20;

#[test]
fn local_forward_bulk_256mib_each_way_and_half_close() {
    bulk_and_half_close(false);
}

#[test]
fn remote_forward_bulk_256mib_each_way_and_half_close() {
    bulk_and_half_close(true);
}

/// 256 MiB each way through one forwarding and half-close exchanges (before
/// and after it) through another, both `-R` when `remote`, else `-L`.
fn bulk_and_half_close(remote: bool) {
    let sshd = Sshd::start();
    let (bulk, reports) = bulk_server();
    let half = half_close_server();
    let (p_bulk, p_half, mut fwd) = if remote {
        // Port 0: the "Allocated port" message comes once sshfwd is ready for
        // connections (with fixed ports see remote_forward_accepts_first_connections).
        let forwards =
            [("-R", format!("0:127.0.0.1:{}", bulk.port())), ("-R", format!("127.0.0.1:0:127.0.0.1:{}", half.port()))];
        let mut fwd = sshd.sshfwd().forwards(&forwards).spawn();
        (allocated_port(&mut fwd, bulk.port()), allocated_port(&mut fwd, half.port()), fwd)
    } else {
        let (lp_bulk, lp_half) = (free_port(), free_port());
        let forwards = [
            ("-L", format!("{lp_bulk}:127.0.0.1:{}", bulk.port())),
            ("-L", format!("127.0.0.1:{lp_half}:127.0.0.1:{}", half.port())),
        ];
        let mut fwd = sshd.sshfwd().forwards(&forwards).spawn();
        fwd.wait_port(local(lp_bulk), READY);
        fwd.wait_port(local(lp_half), READY);
        (lp_bulk, lp_half, fwd)
    };
    half_close_exchange(local(p_half));
    bulk_exchange(local(p_bulk), &reports, BULK);
    half_close_exchange(local(p_half));
    assert!(fwd.try_status().is_none(), "sshfwd exited; stderr:\n{}", fwd.stderr());
}

// ---------------------------------------------------------------------------
// 8. -R with port 0.

#[test]
fn remote_forward_port_zero_allocation() {
    let sshd = Sshd::start();
    let echo = echo_server();
    let mut fwd = sshd.sshfwd().arg("-N").arg("-R").arg(format!("0:127.0.0.1:{}", echo.port())).spawn();
    let port = allocated_port(&mut fwd, echo.port());
    assert_ne!(port, 0);
    let msg = b"through an allocated remote port";
    assert_eq!(echo_round_trip(local(port), msg), msg);
    // Printed even with -q, as OpenSSH does (scripts read it).
    let mut quiet = sshd.sshfwd().arg("-q").arg("-N").arg("-R").arg(format!("0:127.0.0.1:{}", echo.port())).spawn();
    let port = allocated_port(&mut quiet, echo.port());
    assert_eq!(echo_round_trip(local(port), msg), msg);
}

/// Waits for `Allocated port N for remote forward to 127.0.0.1:TARGET` on
/// sshfwd's stderr and returns N.
/// An echo server, and sshfwd (with `-o` `options`) forwarding a free port
/// to it with `flag` (`-L` or `-R`): returns the server, the port (which
/// accepts connections on 127.0.0.1) and sshfwd.
fn echo_forward(sshd: &Sshd, flag: &str, options: &[&str]) -> (TestServer, u16, sshd::Running) {
    let echo = echo_server();
    let port = free_port();
    let forwards = [(flag, format!("{port}:127.0.0.1:{}", echo.port()))];
    let mut fwd = options.iter().fold(sshd.sshfwd(), |f, o| f.opt(*o)).forwards(&forwards).spawn();
    fwd.wait_port(local(port), READY);
    (echo, port, fwd)
}

fn allocated_port(fwd: &mut sshd::Running, target_port: u16) -> u16 {
    let suffix = format!(" for remote forward to 127.0.0.1:{target_port}");
    assert!(
        fwd.wait_stderr(&format!("{suffix}\n"), READY),
        "no allocation message for {target_port}; stderr:\n{}",
        fwd.stderr()
    );
    let stderr = fwd.stderr();
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("Allocated port ")?.strip_suffix(suffix.as_str())?.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("malformed allocation message; stderr:\n{stderr}"))
}

/// Busy threads that load the CPU while alive (stopped and joined on drop).
struct CpuLoad {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl CpuLoad {
    fn start(threads: usize) -> CpuLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..threads)
            .map(|_| {
                let stop = stop.clone();
                thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
                    }
                })
            })
            .collect();
        CpuLoad { stop, threads }
    }
}

impl Drop for CpuLoad {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// One echo exchange; any error or a short answer is a failure.
fn try_echo(addr: SocketAddr, msg: &[u8]) -> Result<(), String> {
    let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| format!("connect: {e}"))?;
    c.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    c.write_all(msg).map_err(|e| format!("write: {e}"))?;
    c.shutdown(Shutdown::Write).map_err(|e| format!("shutdown: {e}"))?;
    let mut got = Vec::new();
    c.read_to_end(&mut got).map_err(|e| format!("read: {e}"))?;
    if got == msg {
        Ok(())
    } else {
        Err(format!("got {} of {} bytes back", got.len(), msg.len()))
    }
}

/// A fixed-port -R, once working, keeps working for sequential and
/// concurrent connections.
#[test]
fn remote_forward_fixed_port_steady_state() {
    let sshd = Sshd::start();
    let (_echo, rport, fwd) = echo_forward(&sshd, "-R", &[]);
    // Ready once an exchange goes through (bounded).
    let ready = (0..100).any(|_| {
        if try_echo(local(rport), b"ready?").is_ok() {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
        false
    });
    assert!(ready, "-R {rport} never carried an exchange; stderr:\n{}", fwd.stderr());
    for i in 0..20 {
        try_echo(local(rport), format!("sequential {i}").repeat(100).as_bytes())
            .unwrap_or_else(|e| panic!("exchange {i}: {e}"));
    }
    let handles: Vec<_> = (0..10)
        .map(|i| thread::spawn(move || try_echo(local(rport), format!("concurrent {i}").repeat(5000).as_bytes())))
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        h.join().unwrap().unwrap_or_else(|e| panic!("concurrent exchange {i}: {e}"));
    }
}

/// sshd listens as soon as it answers tcpip-forward; a connection arriving
/// at once must be served, not refused.
#[test]
fn remote_forward_accepts_first_connections() {
    let sshd = Sshd::start();
    let echo = echo_server();
    let mut failures = Vec::new();
    // Load both cores, as a busy machine would: the race shows under load.
    let load = CpuLoad::start(2);
    for attempt in 0..10 {
        let rport = free_port();
        // -vvv logs every packet, which widens the window (as load does).
        let mut fwd =
            sshd.sshfwd().arg("-vvv").arg("-N").arg("-R").arg(format!("{rport}:127.0.0.1:{}", echo.port())).spawn();
        // Connect at the first moment sshd listens: spin on connect
        // (bounded by a deadline), keeping the first connection that works.
        let deadline = Instant::now() + READY;
        let mut first = None;
        while first.is_none() && Instant::now() < deadline {
            match TcpStream::connect(local(rport)) {
                Ok(c) => first = Some(c),
                Err(_) => {
                    if fwd.try_status().is_some() {
                        panic!("sshfwd exited; stderr:\n{}", fwd.stderr());
                    }
                }
            }
        }
        let mut c = first.unwrap_or_else(|| panic!("sshd never listened on {rport}"));
        c.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let result = c.write_all(b"first").and_then(|_| c.shutdown(Shutdown::Write)).and_then(|_| {
            let mut got = Vec::new();
            c.read_to_end(&mut got).map(|_| got)
        });
        match result {
            Ok(got) if got == b"first" => {}
            Ok(got) => failures.push(format!("attempt {attempt}: got {got:?}")),
            Err(e) => failures.push(format!("attempt {attempt}: {e}")),
        }
    }
    drop(load);
    assert!(failures.is_empty(), "early connections refused: {failures:?}\nsshd log:\n{}", sshd.log());
}

// ---------------------------------------------------------------------------
// 9. -D SOCKS5.

/// SOCKS5 CONNECT (no auth) to `target` through the proxy at `proxy`;
/// `target` is an IPv4 address or a domain name.
fn socks5_connect(proxy: SocketAddr, target: &str, port: u16) -> TcpStream {
    let mut c = TcpStream::connect_timeout(&proxy, Duration::from_secs(5)).expect("connect to SOCKS proxy");
    c.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    c.write_all(&[5, 1, 0]).unwrap();
    let mut reply = [0u8; 2];
    c.read_exact(&mut reply).expect("method reply");
    assert_eq!(reply, [5, 0], "SOCKS5 method selection");
    let mut req = vec![5, 1, 0];
    match target.parse::<std::net::Ipv4Addr>() {
        Ok(ip) => {
            req.push(1);
            req.extend_from_slice(&ip.octets());
        }
        Err(_) => {
            req.push(3);
            req.push(target.len() as u8);
            req.extend_from_slice(target.as_bytes());
        }
    }
    req.extend_from_slice(&port.to_be_bytes());
    c.write_all(&req).unwrap();
    let mut head = [0u8; 4];
    c.read_exact(&mut head).expect("CONNECT reply");
    assert_eq!(&head[..2], &[5, 0], "SOCKS5 CONNECT to {target}:{port} refused: {head:?}");
    let rest = match head[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => {
            let mut l = [0u8; 1];
            c.read_exact(&mut l).unwrap();
            l[0] as usize + 2
        }
        other => panic!("bad ATYP {other}"),
    };
    let mut skip = vec![0u8; rest];
    c.read_exact(&mut skip).unwrap();
    c
}

#[test]
fn dynamic_forward_socks5_ipv4_and_domain() {
    let sshd = Sshd::start();
    let echo = echo_server();
    let dport = free_port();
    let mut fwd = sshd.sshfwd().arg("-N").arg("-D").arg(dport.to_string()).spawn();
    fwd.wait_port(local(dport), READY);
    for target in ["127.0.0.1", "localhost"] {
        let mut c = socks5_connect(local(dport), target, echo.port());
        let msg = format!("hello via SOCKS5 to {target}").repeat(1000);
        c.write_all(msg.as_bytes()).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        assert!(got == msg.as_bytes(), "{target}: echo differs ({} bytes back)", got.len());
    }
}

// ---------------------------------------------------------------------------
// 10. ExitOnForwardFailure.

#[test]
fn exit_on_forward_failure() {
    let sshd = Sshd::start();
    let echo = echo_server();
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port();

    let forwards = [("-L", format!("{busy_port}:127.0.0.1:{}", echo.port()))];
    let out = sshd.sshfwd().opt("ExitOnForwardFailure=yes").forwards(&forwards).run(RUN);
    assert_exit(&out, 255);
    assert!(!out.stderr.trim().is_empty(), "a message is expected");
    assert!(out.stderr.contains(&busy_port.to_string()), "message should name the port:\n{}", out.stderr);

    // Without it: a warning, and the session goes on with the other -L.
    let ok_port = free_port();
    let forwards = [
        ("-L", format!("{busy_port}:127.0.0.1:{}", echo.port())),
        ("-L", format!("{ok_port}:127.0.0.1:{}", echo.port())),
    ];
    let mut fwd = sshd.sshfwd().forwards(&forwards).spawn();
    fwd.wait_port(local(ok_port), READY);
    assert_eq!(echo_round_trip(local(ok_port), b"still forwarding"), b"still forwarding");
    assert!(fwd.wait_stderr("Warning", Duration::from_secs(5)), "no warning; stderr:\n{}", fwd.stderr());
    assert!(fwd.try_status().is_none(), "sshfwd exited; stderr:\n{}", fwd.stderr());
    drop(busy);
}

#[test]
fn exit_on_forward_failure_remote_refused() {
    // The server refuses remote forwarding: with ExitOnForwardFailure
    // sshfwd exits 255.
    let sshd = Sshd::start_with(SshdOptions { extra: vec!["AllowTcpForwarding local".into()], ..Default::default() });
    let forwards = [("-R", format!("{}:127.0.0.1:9", free_port()))];
    let out = sshd.sshfwd().opt("ExitOnForwardFailure=yes").forwards(&forwards).run(RUN);
    assert_exit(&out, 255);
    assert!(out.stderr.contains("remote port forwarding failed"), "stderr:\n{}", out.stderr);

    // Without it: a warning, and the session goes on (a -L still works).
    let echo = echo_server();
    let lport = free_port();
    let forwards =
        [("-R", format!("{}:127.0.0.1:9", free_port())), ("-L", format!("{lport}:127.0.0.1:{}", echo.port()))];
    let mut fwd = sshd.sshfwd().forwards(&forwards).spawn();
    fwd.wait_port(local(lport), READY);
    assert_eq!(echo_round_trip(local(lport), b"local still works"), b"local still works");
    assert!(fwd.wait_stderr("Warning", Duration::from_secs(5)), "no warning; stderr:\n{}", fwd.stderr());
    assert!(fwd.try_status().is_none(), "sshfwd exited; stderr:\n{}", fwd.stderr());
}

// ---------------------------------------------------------------------------
// 11. Remote command exit status and stdout.

#[test]
fn remote_command_exit_status_and_output() {
    let sshd = Sshd::start();
    let out = sshd.sshfwd().command(["sh", "-c", "'echo out; exit 7'"]).run(RUN);
    assert_exit(&out, 7);
    assert_eq!(out.stdout, "out\n");

    let out = sshd.sshfwd().command(["true"]).run(RUN);
    assert_exit(&out, 0);

    // stdin is relayed, and its end reaches the remote command as EOF.
    let mut input = vec![0u8; 3 << 20];
    Prng(42).fill(&mut input);
    let mut cmd = sshd.sshfwd().command(["sha256sum"]);
    cmd.stdin = Some(input.clone());
    let out = cmd.run(RUN);
    assert_exit(&out, 0);
    let want: String = Sha256::digest(&input).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(out.stdout.split_whitespace().next(), Some(want.as_str()), "remote sha256sum of stdin");

    // Larger output arrives whole.
    let out = sshd.sshfwd().command(["seq", "1", "100000"]).run(RUN);
    assert_exit(&out, 0);
    let want: String = (1..=100000).map(|i| format!("{i}\n")).collect();
    assert!(out.stdout == want, "seq output differs ({} bytes)", out.stdout.len());
}

// ---------------------------------------------------------------------------
// 12. Config precedence and errors.

#[test]
fn config_precedence_and_bad_line() {
    let sshd = Sshd::start();
    let closed = free_port();
    let wrong = sshd.dir().join("config_wrong_port");
    fs::write(&wrong, format!("Host *\n    Port {closed}\n")).unwrap();
    let right = sshd.dir().join("config_right_port");
    fs::write(&right, format!("Host 127.0.0.1\n    Port {}\nHost *\n    Port {closed}\n", sshd.port())).unwrap();

    let base = |cfg: &std::path::Path| {
        let mut c = sshd.sshfwd().command(["true"]);
        c.port = None;
        c.config = Some(cfg.to_path_buf());
        c
    };
    // -F file alone with the wrong port: refused (the file is used).
    let out = base(&wrong).run(RUN);
    assert_exit(&out, 255);
    assert!(out.stderr.contains("Connection refused"), "stderr:\n{}", out.stderr);
    // -o Port over the -F file.
    let out = base(&wrong).opt(format!("Port={}", sshd.port())).run(RUN);
    assert_exit(&out, 0);
    // -F file with the right port (first matching Host wins).
    let out = base(&right).run(RUN);
    assert_exit(&out, 0);
    // -o with a wrong port over a right -F file.
    let out = base(&right).opt(format!("Port={closed}")).run(RUN);
    assert_exit(&out, 255);
    // -p over the file too.
    let mut c = base(&wrong);
    c.port = Some(sshd.port());
    assert_exit(&c.run(RUN), 0);

    // An unknown keyword: file and line named.
    let bad = sshd.dir().join("config_bad_keyword");
    fs::write(&bad, format!("Host *\n    Port {}\n    NoSuchKeywordHere yes\n", sshd.port())).unwrap();
    let connections_before = sshd.log().matches("Connection from").count();
    let out = base(&bad).run(RUN);
    assert_exit(&out, 255);
    let want = format!("{} line 3", bad.display());
    assert!(out.stderr.contains(&want), "stderr should contain {want:?}:\n{}", out.stderr);
    assert_eq!(sshd.log().matches("Connection from").count(), connections_before, "no connection with a bad config");

    // A bad value: file and line named.
    let bad = sshd.dir().join("config_bad_value");
    fs::write(&bad, format!("# comment\nHost *\n    Port {}\n    StrictHostKeyChecking perhaps\n", sshd.port()))
        .unwrap();
    let out = base(&bad).run(RUN);
    assert_exit(&out, 255);
    let want = format!("{} line 4", bad.display());
    assert!(out.stderr.contains(&want), "stderr should contain {want:?}:\n{}", out.stderr);

    // A bad -o option.
    let out = base(&right).opt("NoSuchKeywordHere=yes").run(RUN);
    assert_exit(&out, 255);
    assert!(out.stderr.contains("NoSuchKeywordHere"), "stderr:\n{}", out.stderr);
}

/// OpenSSH 10's RefuseConnection: an active one stops the run before any
/// connection, with the option's argument in the message, and exits 255.
#[test]
fn refuse_connection_refuses_before_connecting() {
    let sshd = Sshd::start();
    let config = sshd.dir().join("config_refuse");
    fs::write(
        &config,
        "Host elsewhere\n    RefuseConnection \"not here\"\nHost 127.0.0.1\n    RefuseConnection \"use the bastion\"\n",
    )
    .unwrap();
    let connections_before = sshd.log().matches("Connection from").count();
    let mut refused = sshd.sshfwd().command(["true"]);
    refused.config = Some(config.clone());
    let out = refused.run(RUN);
    assert_exit(&out, 255);
    let want = format!("{} line 4: RefuseConnection: use the bastion", config.display());
    assert!(out.stderr.contains(&want), "stderr should contain {want:?}:\n{}", out.stderr);
    assert_eq!(sshd.log().matches("Connection from").count(), connections_before, "refused, yet connected");

    // A RefuseConnection in a section that does not apply changes nothing.
    fs::write(&config, "Host elsewhere\n    RefuseConnection \"not here\"\n").unwrap();
    let mut allowed = sshd.sshfwd().command(["true"]);
    allowed.config = Some(config);
    assert_exit(&allowed.run(RUN), 0);
}

// ---------------------------------------------------------------------------
// 13. Dead server.

#[test]
fn server_alive_detects_stopped_server() {
    let sshd = Sshd::start();
    let (_echo, lport, mut fwd) = echo_forward(&sshd, "-L", &["ServerAliveInterval=1", "ServerAliveCountMax=2"]);
    assert_eq!(echo_round_trip(local(lport), b"alive"), b"alive");
    // Let at least one keepalive be answered: the session must survive it.
    assert!(
        fwd.wait_timeout(Duration::from_secs(3)).is_none(),
        "sshfwd exited while the server was alive; stderr:\n{}",
        fwd.stderr()
    );

    let sessions = sshd.session_pids();
    assert!(!sessions.is_empty(), "no sshd session process found");
    for pid in &sessions {
        sshd::signal(*pid, libc::SIGSTOP);
    }
    let started = Instant::now();
    let status = fwd.wait_timeout(Duration::from_secs(20));
    for pid in &sessions {
        sshd::signal(*pid, libc::SIGCONT);
    }
    let status = status.unwrap_or_else(|| panic!("sshfwd did not notice the dead server; stderr:\n{}", fwd.stderr()));
    let took = started.elapsed();
    eprintln!("dead server noticed after {took:?}");
    assert_eq!(status.code(), Some(255));
    // Interval 1 s, count 2: about 3 s, far from any TCP timeout.
    assert!(took < Duration::from_secs(10), "dead server noticed only after {took:?}");
    assert!(fwd.wait_stderr("not responding", Duration::from_secs(2)));
    let stderr = fwd.stderr();
    assert!(stderr.contains("Timeout, server") && stderr.contains("not responding"), "stderr:\n{stderr}");
}

// ---------------------------------------------------------------------------
// 14. Connection refused.

#[test]
fn connection_refused() {
    let port = free_port();
    let home = tempfile::tempdir().unwrap();
    let mut cmd = sshd::Sshfwd::new(home.path()).command(["true"]);
    cmd.port = Some(port);
    cmd.known_hosts = Some(home.path().join("known_hosts"));
    let out = cmd.run(RUN);
    assert_exit(&out, 255);
    // OpenSSH's wording after the program's own name.
    let want = format!("sshfwd: connect to host 127.0.0.1 port {port}: Connection refused");
    assert!(out.stderr.contains(&want), "stderr should contain {want:?}:\n{}", out.stderr);
}

#[test]
fn unresolvable_host_is_named_in_openssh_words() {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = sshd::Sshfwd::new(home.path()).command(["true"]);
    cmd.destination = "no-such-host.invalid".into();
    cmd.known_hosts = Some(home.path().join("known_hosts"));
    let out = cmd.run(RUN);
    assert_exit(&out, 255);
    let want = "sshfwd: Could not resolve hostname no-such-host.invalid: ";
    assert!(out.stderr.starts_with(want), "stderr should start with {want:?}:\n{}", out.stderr);
}

// ---------------------------------------------------------------------------
// More: signals, the default config file, IPv6.

#[test]
fn sigterm_shuts_down_cleanly() {
    let sshd = Sshd::start();
    let (_echo, lport, mut fwd) = echo_forward(&sshd, "-L", &[]);
    fwd.signal(libc::SIGTERM);
    let status = fwd.wait_timeout(Duration::from_secs(10)).expect("sshfwd did not stop on SIGTERM");
    assert_eq!(status.code(), Some(0), "ssh -N exits 0 on SIGTERM (no session, nothing failed)");
    // The listener is gone.
    assert!(TcpStream::connect_timeout(&local(lport), Duration::from_secs(1)).is_err(), "listener still open");
}

/// Waits (bounded) until sshd's log shows `n` ended sessions, with an SSH
/// disconnect ("Disconnected from user") or without ("Connection closed by").
fn wait_sessions_ended(sshd: &Sshd, n: usize) -> bool {
    (0..100).any(|_| {
        let log = sshd.log();
        if log.matches("Disconnected from user").count() + log.matches("Connection closed by").count() >= n {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
        false
    })
}

/// The issue asks for a clean shutdown (SSH_MSG_DISCONNECT) on SIGINT and
/// SIGTERM; sshfwd also sends one at a normal exit. sshd logs "Received
/// disconnect" for it and "Connection closed by" when the TCP connection
/// just drops.
#[test]
fn disconnect_is_sent_on_exit_and_on_sigterm() {
    let sshd = Sshd::start();
    let runs = 5;
    for _ in 0..runs {
        assert_exit(&sshd.sshfwd().command(["true"]).run(RUN), 0);
    }
    assert!(wait_sessions_ended(&sshd, runs), "sessions did not end:\n{}", sshd.log());
    assert_eq!(
        sshd.log().matches("Received disconnect from 127.0.0.1").count(),
        runs,
        "disconnects at normal exit:\n{}",
        sshd.log()
    );

    for i in 1..=runs {
        let lport = free_port();
        // Ready when the listener is (a probe connection would leave a
        // channel-open failure in flight, and sshd, writing it to a closed
        // socket, logs a broken pipe instead of the disconnect).
        let mut fwd = sshd.sshfwd().arg("-N").arg("-v").arg("-L").arg(format!("{lport}:127.0.0.1:9")).spawn();
        assert!(fwd.wait_stderr("Local connections to 127.0.0.1:", READY), "no listener reported");
        fwd.signal(libc::SIGTERM);
        assert!(fwd.wait_timeout(Duration::from_secs(10)).is_some(), "sshfwd did not stop on SIGTERM");
        assert!(wait_sessions_ended(&sshd, runs + i), "session did not end:\n{}", sshd.log());
    }
    assert_eq!(
        sshd.log().matches("Received disconnect from 127.0.0.1").count(),
        2 * runs,
        "disconnects on SIGTERM:\n{}",
        sshd.log()
    );
}

#[test]
fn default_config_file_in_home() {
    let sshd = Sshd::start();
    fs::write(
        sshd.home().join(".ssh/config"),
        format!(
            "Host test-alias\n    HostName 127.0.0.1\n    Port {}\n    IdentityFile ~/.ssh/id_alias\n",
            sshd.port()
        ),
    )
    .unwrap();
    fs::copy(sshd.client_key(), sshd.home().join(".ssh/id_alias")).unwrap();
    let mut cmd = sshd.sshfwd().command(["true"]);
    cmd.config = None;
    cmd.port = None;
    cmd.identities.clear();
    cmd.destination = "test-alias".into();
    let out = cmd.run(RUN);
    assert_exit(&out, 0);
}

#[test]
fn dynamic_forward_socks5_ipv6() {
    let Ok(listener) = TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback here: skipped");
        return;
    };
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let server = thread::spawn(move || {
        // Bounded accept: poll for up to 30 s.
        let mut conn = None;
        for _ in 0..600 {
            match listener.accept() {
                Ok((c, _)) => {
                    conn = Some(c);
                    break;
                }
                Err(_) => thread::sleep(Duration::from_millis(50)),
            }
        }
        let Some(mut c) = conn else { return };
        c.set_nonblocking(false).unwrap();
        c.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut buf = Vec::new();
        c.read_to_end(&mut buf).unwrap();
        c.write_all(&buf).unwrap();
    });
    let sshd = Sshd::start();
    let dport = free_port();
    let mut fwd = sshd.sshfwd().arg("-N").arg("-D").arg(format!("127.0.0.1:{dport}")).spawn();
    fwd.wait_port(local(dport), READY);
    let mut c = TcpStream::connect_timeout(&local(dport), Duration::from_secs(5)).unwrap();
    c.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    c.write_all(&[5, 1, 0]).unwrap();
    let mut reply = [0u8; 2];
    c.read_exact(&mut reply).unwrap();
    assert_eq!(reply, [5, 0]);
    let mut req = vec![5, 1, 0, 4];
    req.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
    req.extend_from_slice(&port.to_be_bytes());
    c.write_all(&req).unwrap();
    let mut head = [0u8; 4];
    c.read_exact(&mut head).unwrap();
    assert_eq!(&head[..2], &[5, 0], "CONNECT to [::1]:{port}: {head:?}");
    let skip = match head[3] {
        1 => 6,
        4 => 18,
        other => panic!("ATYP {other}"),
    };
    let mut rest = vec![0u8; skip];
    c.read_exact(&mut rest).unwrap();
    c.write_all(b"over IPv6").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"over IPv6");
    server.join().unwrap();
}

// ---------------------------------------------------------------------------
// Half-close with the server closing first; back-pressure.

#[test]
fn server_closes_first_local_and_remote() {
    let sshd = Sshd::start();
    let (server, reports) = server_first_server();
    let lport = free_port();
    let forwards =
        [("-L", format!("{lport}:127.0.0.1:{}", server.port())), ("-R", format!("0:127.0.0.1:{}", server.port()))];
    let mut fwd = sshd.sshfwd().forwards(&forwards).spawn();
    let rport = allocated_port(&mut fwd, server.port());
    fwd.wait_port(local(lport), READY);
    server_first_exchange(local(lport), &reports);
    server_first_exchange(local(rport), &reports);
}

#[test]
fn backpressure_slow_reader_local_forward() {
    let sshd = Sshd::start();
    let (server, written, reports) = flood_server();
    let lport = free_port();
    let mut fwd = sshd.sshfwd().arg("-N").arg("-L").arg(format!("{lport}:127.0.0.1:{}", server.port())).spawn();
    fwd.wait_port(local(lport), READY);
    slow_reader_exchange(local(lport), fwd.pid(), &written, &reports);
}

/// A stalled channel is stopped by its window while the others go on, as
/// with OpenSSH. Upstream russh (0.65) widens windows on receipt and parks
/// the whole session when one channel's queue is full (its issue #770);
/// vendor/russh widens them as data is read.
#[test]
fn slow_reader_does_not_stall_other_forwardings() {
    let sshd = Sshd::start();
    let (flood, written, _reports) = flood_server();
    let echo = echo_server();
    let (fport, eport) = (free_port(), free_port());
    let forwards =
        [("-L", format!("{fport}:127.0.0.1:{}", flood.port())), ("-L", format!("{eport}:127.0.0.1:{}", echo.port()))];
    let mut fwd = sshd.sshfwd().forwards(&forwards).spawn();
    fwd.wait_port(local(eport), READY);
    let mut stalled = TcpStream::connect_timeout(&local(fport), Duration::from_secs(5)).expect("connect");
    stalled.write_all(b"G").unwrap();
    let stalled_at = wait_for_stall(&written);
    assert!(stalled_at < FLOOD, "the flood did not stall");

    let mut c = TcpStream::connect_timeout(&local(eport), Duration::from_secs(5)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"still there?").unwrap();
    let mut got = [0u8; 12];
    let answer = c.read_exact(&mut got);
    drop(stalled);
    assert!(answer.is_ok(), "the echo forwarding stalled behind a reader that does not read: {answer:?}");
    assert_eq!(&got, b"still there?");
}

#[test]
fn backpressure_slow_reader_remote_forward() {
    let sshd = Sshd::start();
    let (server, written, reports) = flood_server();
    let mut fwd = sshd.sshfwd().arg("-N").arg("-R").arg(format!("0:127.0.0.1:{}", server.port())).spawn();
    let rport = allocated_port(&mut fwd, server.port());
    slow_reader_exchange(local(rport), fwd.pid(), &written, &reports);
}

// ---------------------------------------------------------------------------
// IPv6: destination literal and bind address.

#[test]
fn ipv6_destination_and_bind_address() {
    if TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here: skipped");
        return;
    }
    let sshd = Sshd::start_with(SshdOptions { ipv6: true, ..Default::default() });
    let kh = sshd.dir().join("kh_ipv6");
    let mut cmd = sshd.sshfwd().command(["true"]);
    cmd.destination = "::1".into();
    cmd.known_hosts = Some(kh.clone());
    cmd.strict = Some("accept-new".into());
    cmd.options.push("HashKnownHosts=no".into());
    assert_exit(&cmd.run(RUN), 0);
    let text = fs::read_to_string(&kh).expect("known_hosts written");
    assert!(text.starts_with(&format!("[::1]:{} ", sshd.port())), "known_hosts:\n{text}");
    assert!(sshd.log().contains("Connection from ::1"), "sshd log:\n{}", sshd.log());

    // ssh://user@[::1]:port and a -L bound on [::1].
    let echo = echo_server();
    let lport = free_port();
    let mut cmd = sshd.sshfwd().arg("-N").arg("-L").arg(format!("[::1]:{lport}:127.0.0.1:{}", echo.port()));
    cmd.port = None;
    cmd.known_hosts = Some(kh);
    cmd.destination = format!("ssh://root@[::1]:{}", sshd.port());
    let mut fwd = cmd.spawn();
    let addr: SocketAddr = format!("[::1]:{lport}").parse().unwrap();
    fwd.wait_port(addr, READY);
    assert_eq!(echo_round_trip(addr, b"six"), b"six");
    assert!(
        TcpStream::connect_timeout(&local(lport), Duration::from_millis(500)).is_err(),
        "-L [::1]:port must not listen on 127.0.0.1"
    );
}

/// The remote command's stderr reaches sshfwd's stderr, every time.
#[test]
fn remote_stderr_is_relayed_whole() {
    let sshd = Sshd::start();
    let _load = CpuLoad::start(2);
    let mut lost = 0;
    let mut example = None;
    let runs = 20;
    for _ in 0..runs {
        let out =
            sshd.sshfwd().opt("LogLevel=ERROR").command(["sh", "-c", "'echo out; echo err >&2; exit 3'"]).run(RUN);
        assert_exit(&out, 3);
        assert_eq!(out.stdout, "out\n");
        if out.stderr != "err\n" {
            lost += 1;
            example.get_or_insert(out.stderr);
        }
    }
    assert_eq!(lost, 0, "remote stderr lost in {lost} of {runs} runs; e.g. stderr was {example:?}");
}

// ---------------------------------------------------------------------------
// More options: no command, algorithms, host patterns and tokens, -g.

#[test]
fn no_command_without_n_fails_clearly() {
    let sshd = Sshd::start();
    let out = sshd.sshfwd().run(RUN);
    assert_exit(&out, 255);
    assert!(out.stderr.contains("-N"), "the message should point at -N:\n{}", out.stderr);
    assert!(!sshd.log().contains("Connection from"), "no connection without a command");
}

#[test]
fn algorithm_options_are_honoured() {
    let sshd = Sshd::start_with(SshdOptions {
        extra: vec![
            "Ciphers aes256-ctr,chacha20-poly1305@openssh.com".into(),
            "MACs hmac-sha2-512-etm@openssh.com".into(),
            "KexAlgorithms curve25519-sha256".into(),
        ],
        ..Default::default()
    });
    // Matching choices work.
    let out = sshd
        .sshfwd()
        .opt("Ciphers=aes256-ctr")
        .opt("MACs=hmac-sha2-512-etm@openssh.com")
        .opt("KexAlgorithms=curve25519-sha256")
        .command(["true"])
        .run(RUN);
    assert_exit(&out, 0);
    let out = sshd.sshfwd().opt("Ciphers=chacha20-poly1305@openssh.com").command(["true"]).run(RUN);
    assert_exit(&out, 0);
    // A cipher the server does not offer: no connection.
    let out = sshd.sshfwd().opt("Ciphers=aes128-gcm@openssh.com").command(["true"]).run(RUN);
    assert_exit(&out, 255);
    let out = sshd.sshfwd().opt("KexAlgorithms=ecdh-sha2-nistp256").command(["true"]).run(RUN);
    assert_exit(&out, 255);
    let log = sshd.log();
    assert!(
        log.contains("no matching cipher found") || log.contains("no matching key exchange method"),
        "sshd log:\n{log}"
    );
}

#[test]
fn host_patterns_include_and_identity_tokens() {
    let sshd = Sshd::start();
    let closed = free_port();
    let ssh = sshd.home().join(".ssh");
    fs::copy(sshd.client_key(), ssh.join("key_root@127.0.0.1")).unwrap();
    fs::write(ssh.join("included.conf"), format!("Host 127.0.0.1\n    Port {}\n", sshd.port())).unwrap();
    let cfg = sshd.dir().join("config_patterns");
    fs::write(
        &cfg,
        format!(
            "Host * !127.0.0.1\n    Port {closed}\n\
             Host *\n\
             Include {}\n\
             Host 127.0.0.?\n    IdentityFile ~/.ssh/key_%r@%h\n    IdentitiesOnly yes\n\
             Host *\n    Port {closed}\n",
            ssh.join("included.conf").display()
        ),
    )
    .unwrap();
    let mut cmd = sshd.sshfwd().command(["true"]);
    cmd.port = None;
    cmd.identities.clear();
    cmd.config = Some(cfg);
    let out = cmd.run(RUN);
    assert_exit(&out, 0);
}

#[test]
fn local_forward_bind_loopback_unless_gateway_ports() {
    let sshd = Sshd::start();
    let other_loopback = |port: u16| SocketAddr::from(([127, 0, 0, 2], port));
    let (echo, lport, fwd) = echo_forward(&sshd, "-L", &[]);
    assert!(
        TcpStream::connect_timeout(&other_loopback(lport), Duration::from_secs(1)).is_err(),
        "-L without -g must listen on loopback only"
    );
    drop(fwd);
    let gport = free_port();
    let mut fwd = sshd.sshfwd().arg("-g").arg("-N").arg("-L").arg(format!("{gport}:127.0.0.1:{}", echo.port())).spawn();
    fwd.wait_port(local(gport), READY);
    assert_eq!(echo_round_trip(other_loopback(gport), b"gateway"), b"gateway");
}
