//! FTP clients for the bridge tests, on the host's own loopback: a raw
//! client over a `TcpStream` (for what real clients hide: exact replies,
//! stalled readers, floods), and runners for curl, lftp, tnftp and Python's
//! ftplib scripts. Every read has a timeout, every run a deadline.
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use super::bridge::Bridge;
use super::netns::{parse_227, run_with_timeout, RunOutput};

/// The bound on one reply or one client run unless a test says otherwise.
pub const STEP: Duration = Duration::from_secs(60);

/// One FTP control connection, read line by line.
pub struct Ftp {
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Ftp {
    pub fn connect(addr: SocketAddr) -> io::Result<Ftp> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        stream.set_nodelay(true)?;
        let reader = BufReader::new(stream.try_clone()?);
        Ok(Ftp { stream, reader })
    }

    /// Connects and logs in; panics with the reply on failure.
    pub fn login(bridge: &Bridge) -> Ftp {
        Ftp::login_as(bridge.addr, &bridge.user, &bridge.password).unwrap_or_else(|e| panic!("login: {e}"))
    }

    pub fn login_as(addr: SocketAddr, user: &str, password: &str) -> io::Result<Ftp> {
        let mut ftp = Ftp::connect(addr)?;
        let (code, text) = ftp.reply()?;
        if code != 220 {
            return Err(io::Error::other(format!("greeting: {text}")));
        }
        let (code, text) = ftp.cmd(&format!("USER {user}"))?;
        if code != 331 {
            return Err(io::Error::other(format!("USER: {text}")));
        }
        let (code, text) = ftp.cmd(&format!("PASS {password}"))?;
        if code != 230 {
            return Err(io::Error::other(format!("PASS: {text}")));
        }
        Ok(ftp)
    }

    /// One reply (multi-line replies whole): its code and text.
    pub fn reply(&mut self) -> io::Result<(u16, String)> {
        read_reply(&mut self.reader)
    }

    pub fn cmd(&mut self, line: &str) -> io::Result<(u16, String)> {
        self.stream.write_all(format!("{line}\r\n").as_bytes())?;
        self.reply()
    }

    /// Sends `line` and expects `code`; panics with the reply otherwise.
    pub fn expect(&mut self, line: &str, code: u16) -> String {
        let (c, text) = self.cmd(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(c, code, "{line}: {text}");
        text
    }

    /// PASV, then a connection to the address the reply names.
    pub fn pasv(&mut self) -> TcpStream {
        let text = self.expect("PASV", 227);
        let addr = parse_227(&text).unwrap_or_else(|| panic!("no address in {text}"));
        let data = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).expect("connect PASV");
        data.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        data
    }
}

/// Runs `program args` with a deadline.
pub fn run(program: &str, args: &[&str], timeout: Duration) -> RunOutput {
    run_with_timeout(Command::new(program).args(args), timeout)
}

/// Panics with the transcript and the bridge's stderr unless `out` succeeded.
#[track_caller]
pub fn assert_ok(out: &RunOutput, what: &str, bridge: &Bridge) {
    assert!(out.success(), "{what} failed:\n{}\n--- sshfwd stderr ---\n{}", out.transcript(), bridge.stderr());
}

/// curl with a deadline and `--max-time`.
pub fn curl(args: &[&str]) -> RunOutput {
    let mut all = vec!["-sS", "--connect-timeout", "10", "--max-time", "60"];
    all.extend_from_slice(args);
    run("curl", &all, STEP)
}

/// `lftp -c` with retries off (a failure must show, not be retried away),
/// logged in to the bridge.
pub fn lftp(bridge: &Bridge, commands: &str) -> RunOutput {
    let script = format!(
        "set cmd:fail-exit yes; set net:max-retries 1; set net:persist-retries 0; set net:timeout 15; \
         set ftp:ssl-allow no; set xfer:clobber yes; open -u '{}','{}' ftp://{}; {commands}",
        bridge.user, bridge.password, bridge.addr
    );
    run("lftp", &["-d", "-c", &script], STEP)
}

/// Runs a Python ftplib script: `PRELUDE` (connection helpers and
/// `FILES`, the served directory as a local path), then `body`.
pub fn python(bridge: &Bridge, files: &std::path::Path, body: &str, timeout: Duration) -> RunOutput {
    let script = format!("{PRELUDE}\n{body}\nprint('PYTHON OK')\n");
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(script)
        .env("FTP_HOST", bridge.addr.ip().to_string())
        .env("FTP_PORT", bridge.addr.port().to_string())
        .env("FTP_USER", &bridge.user)
        .env("FTP_PASS", &bridge.password)
        .env("FILES", files)
        .env("PYTHONUNBUFFERED", "1");
    run_with_timeout(&mut cmd, timeout)
}

/// Helpers every Python script starts with. `login(mode)` gives an
/// `ftplib.FTP` that opens data connections with `mode` (pasv, epsv, port
/// or eprt: ftplib does EPSV and EPRT only on IPv6 unless told);
/// `expect(f, line, code)` sends a command and checks the reply's code
/// whatever it is (ftplib raises on 4xx/5xx).
pub const PRELUDE: &str = r#"
import ftplib, hashlib, os, socket, sys, time
HOST, PORT = os.environ["FTP_HOST"], int(os.environ["FTP_PORT"])
USER, PASSWORD, FILES = os.environ["FTP_USER"], os.environ["FTP_PASS"], os.environ["FILES"]

class F(ftplib.FTP):
    trust_server_pasv_ipv4_address = True
    mode = "pasv"

    def makepasv(self):
        if self.mode == "epsv":
            return ftplib.parse229(self.sendcmd("EPSV"), self.sock.getpeername())
        return super().makepasv()

    def makeport(self):
        if self.mode == "eprt":
            sock = socket.create_server((self.sock.getsockname()[0], 0), family=self.af, backlog=1)
            h, p = sock.getsockname()[:2]
            self.sendeprt(h, p)
            sock.settimeout(self.timeout)
            return sock
        return super().makeport()

def login(mode="pasv", user=None, password=None):
    f = F(timeout=30)
    f.connect(HOST, PORT)
    f.login(USER if user is None else user, PASSWORD if password is None else password)
    f.mode = mode
    f.set_pasv(mode in ("pasv", "epsv"))
    return f

def expect(f, line, code):
    try:
        r = f.sendcmd(line)
    except ftplib.all_errors as e:
        r = str(e)
    assert r.startswith(str(code)), f"{line!r}: expected {code}, got {r!r}"
    return r

def sha(data):
    return hashlib.sha256(data).hexdigest()

def sha_file(path):
    with open(path, "rb") as fh:
        return sha(fh.read())

def data(n):
    return os.urandom(n)

def get(f, name, rest=None):
    chunks = []
    f.retrbinary("RETR " + name, chunks.append, blocksize=1 << 20, rest=rest)
    return b"".join(chunks)
"#;

/// Reads one FTP reply from `reader`, a multi-line reply whole: its code
/// and full text.
pub fn read_reply(reader: &mut impl BufRead) -> io::Result<(u16, String)> {
    let mut text = String::new();
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"));
    }
    text.push_str(&line);
    let code: u16 =
        line.get(..3).and_then(|c| c.parse().ok()).ok_or_else(|| io::Error::other(format!("bad reply {line:?}")))?;
    if line.as_bytes().get(3) == Some(&b'-') {
        let end = format!("{code} ");
        for _ in 0..10_000 {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed inside a multi-line reply"));
            }
            text.push_str(&line);
            if line.starts_with(&end) {
                break;
            }
        }
    }
    Ok((code, text))
}
