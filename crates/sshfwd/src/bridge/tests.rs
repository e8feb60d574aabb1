//! End to end: real FTP clients (curl, Python's ftplib) against
//! `serve_session` over OpenSSH's sftp-server on a pipe.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use sftp_client::{Config, SftpSession};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};

use super::{serve_session, BridgeOptions, Credentials, FixedCredentials, Hold, LoggedIn, LoginError, SftpLogin};

const SFTP_SERVER: &str = "/usr/lib/openssh/sftp-server";
const USER: &str = "ann";
const PASSWORD: &str = "s3cret pass";

/// The bound on any one client run: no test waits forever.
const STEP: Duration = Duration::from_secs(60);

/// Session mode over one SFTP session made in advance.
struct OneSession {
    credentials: FixedCredentials,
    sftp: Arc<SftpSession>,
}

impl SftpLogin for OneSession {
    fn login<'a>(
        &'a self,
        user: &'a str,
        password: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<LoggedIn, LoginError>> + Send + 'a>> {
        Box::pin(async move {
            match self.credentials.verify(user, password) {
                true => Ok(LoggedIn { sftp: self.sftp.clone(), hold: Hold::Nothing }),
                false => Err(LoginError::Refused),
            }
        })
    }
}

/// A bridge on 127.0.0.1 serving `dir` through sftp-server.
struct Bridge {
    address: std::net::SocketAddr,
    dir: PathBuf,
    _temp: tempfile::TempDir,
    server: Child,
}

impl Bridge {
    async fn start() -> Self {
        Self::start_with(BridgeOptions { data_timeout: Duration::from_secs(20), ..BridgeOptions::default() }).await
    }

    async fn start_with(options: BridgeOptions) -> Self {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().canonicalize().unwrap();
        let mut command = Command::new(SFTP_SERVER);
        command.arg("-d").arg(&dir);
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit()).kill_on_drop(true);
        let mut server = command.spawn().expect("start sftp-server (package openssh-sftp-server)");
        let pipe = tokio::io::join(server.stdout.take().unwrap(), server.stdin.take().unwrap());
        let sftp = tokio::time::timeout(STEP, SftpSession::open(pipe, Config::default())).await.unwrap().unwrap();
        let sftp = Arc::new(sftp);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let login: Arc<dyn SftpLogin> =
            Arc::new(OneSession { credentials: FixedCredentials::new(USER, PASSWORD), sftp });
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_session(stream, login.clone(), options.clone()));
            }
        });
        Bridge { address, dir, _temp: temp, server }
    }

    /// curl takes the URL's path relative to the login directory, which
    /// sftp-server's `-d` makes `dir`.
    fn url(&self, path: &str) -> String {
        format!("ftp://{USER}:{}@{}/{path}", PASSWORD.replace(' ', "%20"), self.address)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Runs a client to completion within [`STEP`]; its stdout, or a panic with
/// its stderr.
async fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).stdin(Stdio::null()).kill_on_drop(true).output();
    let output = tokio::time::timeout(STEP, output)
        .await
        .unwrap_or_else(|_| panic!("{program} {args:?} did not finish within {STEP:?}"))
        .unwrap_or_else(|e| panic!("{program} is needed for this test: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Deterministic bytes that no chunk boundary lines up with (xorshift).
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_of(path: &Path) -> String {
    sha256(&std::fs::read(path).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_lists_downloads_uploads_and_resumes() {
    let bridge = Bridge::start().await;
    let local = tempfile::tempdir().unwrap();
    // Sizes around the 32 KiB chunk and the window, and an empty file.
    let files: Vec<(String, Vec<u8>)> = [0usize, 1, 32 * 1024, 3 * 1024 * 1024 + 17]
        .iter()
        .map(|&len| (format!("file {len}.bin"), data(len, len as u64 + 1)))
        .collect();
    for (name, bytes) in &files {
        std::fs::write(bridge.path(name), bytes).unwrap();
    }
    std::fs::create_dir(bridge.path("sub")).unwrap();

    let listing = run("curl", &["-sS", &bridge.url("")]).await;
    for (name, _) in &files {
        assert!(listing.lines().any(|line| line.ends_with(name.as_str())), "{name} in\n{listing}");
    }
    assert!(listing.lines().any(|line| line.starts_with('d') && line.ends_with(" sub")), "{listing}");
    let names = run("curl", &["-sS", "--list-only", &bridge.url("")]).await;
    assert_eq!(names.lines().count(), files.len() + 1, "{names}");

    // EPSV (curl's default), PASV, and EPRT (active).
    let modes: [&[&str]; 3] = [&[], &["--disable-epsv"], &["-P", "127.0.0.1"]];
    for (index, mode) in modes.iter().enumerate() {
        for (name, bytes) in &files {
            let out = local.path().join(format!("{index}-{name}"));
            let url = bridge.url(&name.replace(' ', "%20"));
            let mut args = vec!["-sS", "-o", out.to_str().unwrap(), &url];
            args.extend_from_slice(mode);
            run("curl", &args).await;
            assert_eq!(sha256_of(&out), sha256(bytes), "download {name} with {mode:?}");
        }
    }

    // Upload, then resume an interrupted download (REST + RETR).
    let upload = data(2 * 1024 * 1024 + 5, 99);
    let source = local.path().join("upload.bin");
    std::fs::write(&source, &upload).unwrap();
    run("curl", &["-sS", "-T", source.to_str().unwrap(), &bridge.url("sub/up.bin")]).await;
    assert_eq!(sha256_of(&bridge.path("sub/up.bin")), sha256(&upload));

    let partial = local.path().join("partial.bin");
    std::fs::write(&partial, upload.get(..1_000_000).unwrap()).unwrap();
    run("curl", &["-sS", "-C", "-", "-o", partial.to_str().unwrap(), &bridge.url("sub/up.bin")]).await;
    assert_eq!(sha256_of(&partial), sha256(&upload), "resumed download");

    // Resume an interrupted upload: curl asks SIZE, then APPE the rest.
    std::fs::write(bridge.path("sub/half.bin"), upload.get(..700_001).unwrap()).unwrap();
    run("curl", &["-sS", "-C", "-", "-T", source.to_str().unwrap(), &bridge.url("sub/half.bin")]).await;
    assert_eq!(sha256_of(&bridge.path("sub/half.bin")), sha256(&upload), "resumed upload");

    // A missing file is an error for the client, and the bridge goes on.
    let output = Command::new("curl").args(["-sS", "-o", "/dev/null", &bridge.url("nope")]).output().await.unwrap();
    // 78: curl's "remote file not found", which it gives for a 550 to RETR.
    assert_eq!(output.status.code(), Some(78), "{output:?}");
    run("curl", &["-sS", &bridge.url("")]).await;
}

/// ftplib: MLSD, SIZE, MDTM, MKD/RMD, RNFR/RNTO, DELE, TYPE A both ways,
/// REST+STOR, error replies and a wrong password.
const FTPLIB_SCRIPT: &str = r#"
import ftplib, io, sys
host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

bad = ftplib.FTP()
bad.connect(host, port, timeout=20)
try:
    bad.login(user, "wrong")
    raise SystemExit("wrong password accepted")
except ftplib.error_perm as e:
    assert str(e).startswith("530"), e
bad.close()

ftp = ftplib.FTP()
ftp.connect(host, port, timeout=20)
ftp.login(user, password)
home = ftp.pwd()

ftp.mkd("dir with space")
ftp.mkd("dir with space/ünï")
ftp.cwd("dir with space")
assert ftp.pwd() == home.rstrip("/") + "/dir with space", ftp.pwd()
ftp.cwd("..")
assert ftp.pwd() == home, ftp.pwd()

text = "line one\nline two\n\nlast\n"
ftp.storlines("STOR text.txt", io.BytesIO(text.replace("\n", "\r\n").encode()))
lines = []
ftp.retrlines("RETR text.txt", lines.append)
assert lines == text.split("\n")[:-1], lines
binary = io.BytesIO()
ftp.retrbinary("RETR text.txt", binary.write)
assert binary.getvalue() == text.encode(), binary.getvalue()
assert ftp.size("text.txt") == len(text)
assert ftp.sendcmd("MDTM text.txt").startswith("213 ")

facts = dict(ftp.mlsd())
assert facts["text.txt"]["type"] == "file" and facts["text.txt"]["size"] == str(len(text)), facts
assert facts["dir with space"]["type"] == "dir", facts
assert ftp.sendcmd("MLST text.txt").startswith("250"), "mlst"

ftp.storbinary("STOR resumed.bin", io.BytesIO(b"0123456789"))
ftp.storbinary("STOR resumed.bin", io.BytesIO(b"abc"), rest=4)
got = io.BytesIO()
ftp.retrbinary("RETR resumed.bin", got.write, rest=2)
assert got.getvalue() == b"23abc789", got.getvalue()

ftp.rename("text.txt", "dir with space/moved.txt")
assert ftp.nlst("dir with space") and "moved.txt" in [n.rsplit("/", 1)[-1] for n in ftp.nlst("dir with space")]
ftp.sendcmd("SITE CHMOD 600 dir with space/moved.txt")
ftp.delete("dir with space/moved.txt")
ftp.rmd("dir with space/ünï")
ftp.rmd("dir with space")

for command in ["RETR missing", "DELE missing", "CWD missing", "RMD missing", "SIZE missing"]:
    try:
        ftp.sendcmd(command) if not command.startswith("RETR") else ftp.retrbinary(command, lambda b: None)
        raise SystemExit(command + " succeeded")
    except ftplib.error_perm as e:
        assert str(e).startswith("550") and "missing" in str(e), (command, e)
try:
    ftp.mkd("resumed.bin")
    raise SystemExit("MKD over a file succeeded")
except ftplib.error_perm as e:
    assert str(e).startswith("550"), e
ftp.quit()
print("ok")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftplib_file_operations_and_ascii() {
    let bridge = Bridge::start().await;
    let port = bridge.address.port().to_string();
    let out = run("python3", &["-c", FTPLIB_SCRIPT, "127.0.0.1", &port, USER, PASSWORD]).await;
    assert_eq!(out.trim(), "ok");
    // What the client saw is what the SSH server's disk holds.
    assert_eq!(std::fs::read(bridge.path("resumed.bin")).unwrap(), b"0123abc789");
    assert!(!bridge.path("dir with space").exists());
}

/// ABOR mid-download, then the SSH side's SFTP server killed mid-download:
/// 426/226 for the first, and for the second the rest of the data ends
/// at once and the client gets 421, with no hang.
const INTERRUPT_SCRIPT: &str = r#"
import ftplib, sys
host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ftp = ftplib.FTP()
ftp.connect(host, port, timeout=20)
ftp.login(user, password)

data = ftp.transfercmd("RETR big.bin")
assert len(data.recv(65536)) > 0
# In band: ftplib's abort() sends ABOR as urgent data, which the bridge
# does not read yet.
ftp.putcmd("ABOR")
assert ftp.getmultiline().startswith("426")
assert ftp.getmultiline().startswith("226")
data.close()
assert ftp.size("big.bin") > 0

data = ftp.transfercmd("RETR big.bin")
assert len(data.recv(65536)) > 0
print("reading", flush=True)
sys.stdin.readline()
while data.recv(1 << 20):
    pass
data.close()
try:
    ftp.voidresp()
    raise SystemExit("transfer completed")
except ftplib.error_temp as e:
    assert str(e)[:3] in ("421", "426"), e
print("ok", flush=True)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_and_lost_connection_end_transfers_promptly() {
    let mut bridge = Bridge::start().await;
    std::fs::write(bridge.path("big.bin"), data(64 * 1024 * 1024, 7)).unwrap();
    let port = bridge.address.port().to_string();
    let mut client = Command::new("python3")
        .args(["-c", INTERRUPT_SCRIPT, "127.0.0.1", &port, USER, PASSWORD])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = client.stdin.take().unwrap();
    let mut lines = BufReader::new(client.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(STEP, lines.next_line()).await.unwrap().unwrap();
    assert_eq!(line.as_deref(), Some("reading"));
    bridge.server.kill().await.unwrap();
    stdin.write_all(b"go\n").await.unwrap();
    let line = tokio::time::timeout(STEP, lines.next_line()).await.unwrap().unwrap();
    assert_eq!(line.as_deref(), Some("ok"));
    let status = tokio::time::timeout(STEP, client.wait()).await.unwrap().unwrap();
    assert!(status.success());
}

/// ftplib's `abort()` sends `ABOR\r\n` as urgent data, whose last byte (the
/// LF) Linux takes out of the stream: the bridge must still see ABOR, at
/// once, and the session must go on. Twice, so the second urgent byte is
/// handled as the first was.
const URGENT_ABORT_SCRIPT: &str = r#"
import ftplib, sys, time
host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ftp = ftplib.FTP()
ftp.connect(host, port, timeout=20)
ftp.login(user, password)
for attempt in range(2):
    data = ftp.transfercmd("RETR big.bin")
    assert len(data.recv(65536)) > 0
    start = time.monotonic()
    first = ftp.abort()
    assert first[:3] == "426", first
    second = ftp.getmultiline()
    assert second[:3] == "226", second
    elapsed = time.monotonic() - start
    assert elapsed < 5, elapsed
    data.close()
    assert ftp.voidcmd("NOOP").startswith("200")
    assert "big.bin" in ftp.nlst()
# With no transfer running, ABOR is answered too.
assert ftp.abort()[:3] == "225"
assert ftp.voidcmd("NOOP").startswith("200")
ftp.quit()
print("ok")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftplib_abort_with_urgent_data_is_prompt() {
    let bridge = Bridge::start().await;
    std::fs::write(bridge.path("big.bin"), data(64 * 1024 * 1024, 11)).unwrap();
    let port = bridge.address.port().to_string();
    let out = run("python3", &["-c", URGENT_ABORT_SCRIPT, "127.0.0.1", &port, USER, PASSWORD]).await;
    assert_eq!(out.trim(), "ok");
}

/// An SFTP session over sftp-server serving `dir`, and the server's pid.
async fn sftp_serving(dir: &Path) -> (Arc<SftpSession>, Child) {
    let mut server = Command::new(SFTP_SERVER)
        .arg("-d")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start sftp-server (package openssh-sftp-server)");
    let pipe = tokio::io::join(server.stdout.take().unwrap(), server.stdin.take().unwrap());
    let sftp = tokio::time::timeout(STEP, SftpSession::open(pipe, Config::default())).await.unwrap().unwrap();
    (Arc::new(sftp), server)
}

/// The files sftp-server has open: its handles, beside a fixed few.
fn open_fds(server: &Child) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", server.id().unwrap())).unwrap().count()
}

/// A client that opens the data connection and then neither reads (RETR)
/// nor sends (STOR): the transfer ends with `Idle` after the idle limit,
/// its SFTP handle is closed, and the SFTP session still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_data_connection_ends_after_the_idle_timeout() {
    use super::transfer::{run, DataSource, Event, Job};
    use ftp_proto::server::{StoreStart, TransferError, TransferKind, TransferType, VirtualPath};

    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().canonicalize().unwrap();
    std::fs::write(dir.join("big.bin"), data(32 * 1024 * 1024, 3)).unwrap();
    let (sftp, server) = sftp_serving(&dir).await;
    let baseline = open_fds(&server);
    let path = |name: &str| VirtualPath::absolute(dir.join(name).to_str().unwrap());
    let kinds = [
        TransferKind::Retrieve { path: path("big.bin"), offset: 0, representation: TransferType::Image },
        TransferKind::Store { path: path("up.bin"), start: StoreStart::Truncate, representation: TransferType::Image },
        TransferKind::Retrieve { path: path("big.bin"), offset: 0, representation: TransferType::Ascii },
    ];
    let idle = Duration::from_millis(500);
    for kind in kinds {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let job = Job {
            sftp: sftp.clone(),
            source: DataSource::Passive(listener),
            kind: kind.clone(),
            client_ip: address.ip(),
            timeout: STEP,
            idle_timeout: idle,
        };
        let (sender, mut events) = tokio::sync::mpsc::channel(2);
        let started = std::time::Instant::now();
        let task = tokio::spawn(run(job, sender));
        // Connected, and then silent.
        let _client = tokio::net::TcpStream::connect(address).await.unwrap();
        let mut outcome = None;
        while let Some(event) = tokio::time::timeout(STEP, events.recv()).await.unwrap() {
            if let Event::Done(result) = event {
                outcome = Some(result);
            }
        }
        assert_eq!(outcome, Some(Err(TransferError::Idle)), "{kind:?}");
        assert!(started.elapsed() >= idle, "{kind:?} ended after {:?}", started.elapsed());
        task.await.unwrap();
        // The CLOSE went before this STAT on the same channel, so it is done.
        sftp.stat(dir.to_str().unwrap()).await.unwrap();
        assert_eq!(open_fds(&server), baseline, "{kind:?}: the SFTP handle is closed");
    }
}

/// LIST and NLST arguments as clients send them (options, patterns, a
/// file), and symbolic links shown as `ls -l` shows them, through ftplib.
const LISTING_SCRIPT: &str = r#"
import ftplib, sys
host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ftp = ftplib.FTP()
ftp.connect(host, port, timeout=20)
ftp.login(user, password)

def listing(command):
    lines = []
    ftp.retrlines(command, lines.append)
    return lines

def names(command):
    return sorted(line.rsplit(" ", 1)[-1] if " " in line else line for line in listing(command))

everything = ["a.txt", "b.txt", "broken", "c.csv", "dir", "link", "logs", "sub link"]
assert sorted(l.split()[-1] for l in listing("LIST") if "->" not in l) == ["a.txt", "b.txt", "c.csv", "dir", "logs"]
for options in ["-la", "-al", "-a", "-l", "-A", "-F", "-a -l"]:
    assert len(listing("LIST " + options)) == len(everything), options
assert names("LIST *.csv") == ["c.csv"], listing("LIST *.csv")
assert names("LIST -la *.txt") == ["a.txt", "b.txt"]
assert names("LIST logs/*.log") == ["1.log", "2.log"], listing("LIST logs/*.log")
assert names("LIST -a logs") == ["1.log", "2.log", "old.txt"]
assert names("LIST logs/?.log") == ["1.log", "2.log"]
assert names("LIST logs/[!1].log") == ["2.log"]
assert listing("LIST *.none") == []
assert names("LIST a.txt") == ["a.txt"]
assert sorted(ftp.nlst("*.txt")) == ["a.txt", "b.txt"]
assert sorted(ftp.nlst("logs/*.log")) == ["logs/1.log", "logs/2.log"], ftp.nlst("logs/*.log")

# Links: "name -> target", relative targets as stored; a dangling one lists.
links = [l for l in listing("LIST") if " -> " in l]
assert len(links) == 3 and all(l.startswith("lrwxrwxrwx") for l in links), links
for shown in [" link -> a.txt", " broken -> does/not/exist", " sub link -> dir/../logs"]:
    assert any(l.endswith(shown) for l in links), (shown, links)
facts = dict(ftp.mlsd())
assert facts["link"]["type"] == "OS.unix=slink:a.txt", facts["link"]
assert facts["sub link"]["type"] == "OS.unix=slink:dir/../logs", facts["sub link"]
assert facts["a.txt"]["type"] == "file"
ftp.quit()
print("ok")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_arguments_patterns_and_links() {
    let bridge = Bridge::start().await;
    for name in ["a.txt", "b.txt", "c.csv", "logs/1.log", "logs/2.log", "logs/old.txt"] {
        let path = bridge.path(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, name).unwrap();
    }
    std::fs::create_dir(bridge.path("dir")).unwrap();
    std::os::unix::fs::symlink("a.txt", bridge.path("link")).unwrap();
    std::os::unix::fs::symlink("does/not/exist", bridge.path("broken")).unwrap();
    std::os::unix::fs::symlink("dir/../logs", bridge.path("sub link")).unwrap();
    let port = bridge.address.port().to_string();
    let out = run("python3", &["-c", LISTING_SCRIPT, "127.0.0.1", &port, USER, PASSWORD]).await;
    assert_eq!(out.trim(), "ok");
}

/// Listings of a directory whose files are created and deleted the whole
/// time: every one completes with 226, with no error reply.
const CHURN_SCRIPT: &str = r#"
import ftplib, sys
host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ftp = ftplib.FTP()
ftp.connect(host, port, timeout=20)
ftp.login(user, password)
for _ in range(20):
    for command in ["LIST churn", "NLST churn", "MLSD churn", "LIST churn/*.bin"]:
        ftp.retrlines(command, lambda line: None)
        assert ftp.lastresp == "226", (command, ftp.lastresp)
ftp.quit()
print("ok")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_that_vanish_mid_listing() {
    use std::sync::atomic::{AtomicBool, Ordering};

    let bridge = Bridge::start().await;
    let churn = bridge.path("churn");
    std::fs::create_dir(&churn).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let churner = {
        let (churn, stop) = (churn.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut rounds = 0u32;
            while !stop.load(Ordering::Relaxed) {
                for i in 0..300 {
                    std::fs::write(churn.join(format!("f{i}.bin")), b"x").unwrap();
                    let _ = std::os::unix::fs::symlink(format!("f{i}.bin"), churn.join(format!("l{i}")));
                }
                for i in 0..300 {
                    std::fs::remove_file(churn.join(format!("f{i}.bin"))).unwrap();
                    std::fs::remove_file(churn.join(format!("l{i}"))).unwrap();
                }
                rounds += 1;
            }
            rounds
        })
    };
    let port = bridge.address.port().to_string();
    let out = run("python3", &["-c", CHURN_SCRIPT, "127.0.0.1", &port, USER, PASSWORD]).await;
    stop.store(true, Ordering::Relaxed);
    let rounds = churner.join().unwrap();
    assert_eq!(out.trim(), "ok");
    assert!(rounds > 0, "the files changed while they were listed");
}

/// Paths with spaces, UTF-8 and `..`, in commands and in listings.
const PATHS_SCRIPT: &str = r#"
import ftplib, io, sys
host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ftp = ftplib.FTP(encoding="utf-8")
ftp.connect(host, port, timeout=20)
ftp.login(user, password)
home = ftp.pwd()
ftp.mkd("a b")
ftp.mkd("a b/ünï 日本")
ftp.cwd("a b/ünï 日本")
assert ftp.pwd() == home + "/a b/ünï 日本", ftp.pwd()
ftp.storbinary("STOR x y ü.txt", io.BytesIO(b"hello"))
ftp.cwd("..")
assert ftp.pwd() == home + "/a b", ftp.pwd()
got = io.BytesIO()
ftp.retrbinary("RETR ./ünï 日本/../ünï 日本/x y ü.txt", got.write)
assert got.getvalue() == b"hello"
assert ftp.size("../a b/ünï 日本/x y ü.txt") == 5
assert ftp.nlst("ünï 日本") == ["x y ü.txt"], ftp.nlst("ünï 日本")
assert ftp.nlst("ünï 日本/*ü*") == ["ünï 日本/x y ü.txt"], ftp.nlst("ünï 日本/*ü*")
lines = []
ftp.retrlines("LIST ünï 日本", lines.append)
assert len(lines) == 1 and lines[0].endswith(" x y ü.txt"), lines
ftp.rename("ünï 日本/x y ü.txt", "../z ü.txt")
assert "z ü.txt" in ftp.nlst(home)
# `..` above the root stays at the root.
ftp.cwd("/../../..")
assert ftp.pwd() == "/", ftp.pwd()
ftp.cwd(home)
ftp.delete("z ü.txt")
ftp.rmd("a b/ünï 日本/../ünï 日本")
ftp.rmd("a b")
ftp.quit()
print("ok")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_with_spaces_utf8_and_dot_dot() {
    let bridge = Bridge::start().await;
    let port = bridge.address.port().to_string();
    let out = run("python3", &["-c", PATHS_SCRIPT, "127.0.0.1", &port, USER, PASSWORD]).await;
    assert_eq!(out.trim(), "ok");
    assert_eq!(std::fs::read_dir(&bridge.dir).unwrap().count(), 0, "everything made was removed");
}

/// lftp's mirror over a tree with symbolic links, reading MLSD and reading
/// LIST: it completes, and makes the links from `name -> target` (LIST)
/// or `type=OS.unix=slink:target` (MLSD, which cannot carry a target with a
/// space: that link is skipped, as lftp skips a bare `OS.unix=symlink`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lftp_mirrors_a_tree_with_links() {
    let bridge = Bridge::start().await;
    std::fs::create_dir_all(bridge.path("tree/sub dir")).unwrap();
    std::fs::write(bridge.path("tree/sub dir/f ü.txt"), b"contents").unwrap();
    std::os::unix::fs::symlink("sub dir/f ü.txt", bridge.path("tree/spaced link")).unwrap();
    std::fs::create_dir(bridge.path("tree/plain")).unwrap();
    std::os::unix::fs::symlink("../tree/plain", bridge.path("tree/dir link")).unwrap();
    std::os::unix::fs::symlink("nowhere", bridge.path("tree/dangling")).unwrap();
    let local = tempfile::tempdir().unwrap();
    for mlsd in ["yes", "no"] {
        let target = local.path().join(mlsd);
        let script = format!(
            "set net:max-retries 1; set net:timeout 20; set cmd:fail-exit yes; set ftp:use-mlsd {mlsd}; \
             open -u {USER},'{PASSWORD}' -p {} 127.0.0.1; mirror tree '{}'",
            bridge.address.port(),
            target.display()
        );
        let out = run("lftp", &["-c", &script]).await;
        assert_eq!(std::fs::read(target.join("sub dir/f ü.txt")).unwrap(), b"contents", "MLSD {mlsd}: {out}");
        let link = |name: &str| std::fs::read_link(target.join(name)).ok().map(|t| t.display().to_string());
        assert_eq!(link("dangling").as_deref(), Some("nowhere"), "MLSD {mlsd}");
        let spaced = if mlsd == "yes" { None } else { Some("sub dir/f ü.txt") };
        assert_eq!(link("spaced link").as_deref(), spaced, "MLSD {mlsd}");
        assert_eq!(link("dir link").as_deref(), Some("../tree/plain"), "MLSD {mlsd}");
    }
}

/// Logins, transfers (a download, an upload, a missing file, a refused
/// data connection) and the session's end, through ftplib.
const AUDIT_SCRIPT: &str = r#"
import ftplib, io, socket, sys
host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ftp = ftplib.FTP()
ftp.connect(host, port, timeout=20)
try:
    ftp.login(user, "wrong password")
    raise SystemExit("a wrong password was accepted")
except ftplib.error_perm:
    pass
ftp.login(user, password)
got = io.BytesIO()
ftp.retrbinary("RETR a.bin", got.write)
assert len(got.getvalue()) == 123457
ftp.storbinary("STOR b.bin", io.BytesIO(b"x" * 5000))
try:
    ftp.retrbinary("RETR missing.bin", got.write)
    raise SystemExit("a missing file was sent")
except ftplib.error_perm as e:
    assert str(e).startswith("550"), e
# A port nobody listens on: the bridge cannot connect back.
s = socket.socket(); s.bind(("127.0.0.1", 0)); closed = s.getsockname()[1]; s.close()
ftp.sendcmd("PORT 127,0,0,1,%d,%d" % (closed >> 8, closed & 255))
try:
    ftp.sendcmd("RETR a.bin")
    raise SystemExit("RETR went without a data connection")
except ftplib.error_temp as e:
    assert str(e).startswith("425"), e
ftp.quit()
print(closed)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_records_logins_transfers_and_the_end() {
    use crate::audit::AuditLog;
    use ssh_files::config::FtpAuditLog;

    let logs = tempfile::tempdir().unwrap();
    let log_path = logs.path().join("audit.log");
    let audit = AuditLog::open(&FtpAuditLog::File(log_path.clone())).unwrap();
    let options = BridgeOptions { data_timeout: Duration::from_secs(20), audit, ..BridgeOptions::default() };
    let bridge = Bridge::start_with(options).await;
    std::fs::write(bridge.path("a.bin"), data(123_457, 5)).unwrap();
    let port = bridge.address.port().to_string();
    let closed = run("python3", &["-c", AUDIT_SCRIPT, "127.0.0.1", &port, USER, PASSWORD]).await;
    assert_eq!(std::fs::read(bridge.path("b.bin")).unwrap().len(), 5000);

    // The end record is written once the bridge has seen the client go.
    let read = || -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    };
    let deadline = tokio::time::Instant::now() + STEP;
    while !read().iter().any(|r| r["event"] == "end") && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let records = read();
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(!text.contains(PASSWORD) && !text.contains("wrong password"), "{text}");
    let of = |event: &str| records.iter().filter(|r| r["event"] == event).cloned().collect::<Vec<_>>();
    let logins: Vec<_> =
        of("login").iter().map(|r| (r["user"].clone(), r["result"].clone(), r["code"].clone())).collect();
    assert_eq!(logins, vec![(USER.into(), "refused".into(), 530.into()), (USER.into(), "accepted".into(), 230.into())]);
    let transfers: Vec<_> = of("transfer")
        .iter()
        .map(|r| {
            let fields = ["command", "argument", "mode", "bytes_to_client", "bytes_to_server", "code"];
            fields.map(|f| r[f].to_string()).join(" ")
        })
        .collect();
    assert_eq!(
        transfers,
        [
            r#""RETR" "a.bin" "PASV" 123457 0 226"#,
            r#""STOR" "b.bin" "PASV" 0 5000 226"#,
            r#""RETR" "missing.bin" "PASV" 0 0 550"#,
            r#""RETR" "a.bin" "PORT" 0 0 425"#,
        ],
        "{text}"
    );
    let refused = &of("transfer")[3];
    assert_eq!(refused["data_client"], format!("127.0.0.1:{}", closed.trim()));
    assert!(of("transfer").iter().all(|r| r["user"] == USER && r["service"] == "ftp-bridge" && r["session"] == 1));
    let end = &of("end")[0];
    assert_eq!((&end["reason"], &end["user"]), (&"quit".into(), &USER.into()), "{end}");
}
