//! Real FTP clients (curl, lftp, Python's ftplib, tnftp) against the bridge's
//! session, driven by a blocking test driver over an in-memory tree
//! (`common`): the listing formats, TYPE A, REST, passive and active data
//! connections and the error replies, as the clients themselves read them.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{run, Server, PASSWORD};

const TIMEOUT: Duration = Duration::from_secs(60);

/// Bytes that are not text, so any conversion would show.
fn sample(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 256) as u8).collect()
}

/// Byte equality without printing megabytes on failure.
#[track_caller]
fn same(actual: &[u8], expected: &[u8], what: &str) {
    let first_difference = actual.iter().zip(expected).position(|(a, b)| a != b);
    assert!(
        actual == expected,
        "{what}: {} bytes where {} were expected, first difference at {first_difference:?}",
        actual.len(),
        expected.len()
    );
}

/// A fresh local directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ftp-proto-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn curl(args: &[&str]) -> String {
    let mut all = vec!["-sS", "--max-time", "30"];
    all.extend_from_slice(args);
    run("curl", &all, None, TIMEOUT)
}

#[test]
fn curl_transfers_listings_and_modes() {
    let server = Server::start();
    let dir = scratch("curl");
    let data = sample(300_000);
    let local = dir.join("up.bin");
    std::fs::write(&local, &data).unwrap();
    let local = local.to_str().unwrap();

    // Upload into directories that do not exist yet (MKD, CWD), with EPSV.
    curl(&["--ftp-create-dirs", "-T", local, &server.url("/new%20dir/%C3%BCn%C3%AF/up.bin")]);
    same(&server.get("/home/ann/new dir/ünï/up.bin").unwrap_or_default(), &data, "upload");

    // Download: EPSV, PASV (--disable-epsv), EPRT (-P) and PORT (-P, --disable-eprt).
    let down = dir.join("down.bin");
    let down_path = down.to_str().unwrap();
    let url = server.url("/new%20dir/%C3%BCn%C3%AF/up.bin");
    for mode in [&[][..], &["--disable-epsv"], &["-P", "127.0.0.1"], &["-P", "127.0.0.1", "--disable-eprt"]] {
        let _ = std::fs::remove_file(&down);
        let mut args = mode.to_vec();
        args.extend(["-o", down_path, &url]);
        curl(&args);
        same(&std::fs::read(&down).unwrap(), &data, &format!("download with {mode:?}"));
    }

    // Resume a download at an offset (REST).
    let _ = std::fs::remove_file(&down);
    curl(&["-C", "1000", "-o", down_path, &url]);
    same(&std::fs::read(&down).unwrap(), &data[1000..], "resumed download");

    // LIST and NLST of a directory, as curl prints them.
    let listing = curl(&[&server.url("/new%20dir/%C3%BCn%C3%AF/")]);
    assert!(listing.starts_with("-rw-r--r-- 1 ann users 300000 "), "{listing}");
    // curl turns the listing's CRLF (TYPE A) into LF.
    assert!(listing.ends_with(" up.bin\n"), "{listing:?}");
    assert_eq!(curl(&["-l", &server.url("/new%20dir/")]), "ünï\n");

    // TYPE A download (-B): LF becomes CRLF on the wire, and curl turns it
    // back; a binary download of the same file shows it was not changed.
    server.put("/home/ann/text.txt", b"one\ntwo\n");
    assert_eq!(curl(&["-B", &server.url("/text.txt")]), "one\ntwo\n");
    assert_eq!(curl(&[&server.url("/text.txt")]), "one\ntwo\n");

    // Quote commands: rename and delete, then a 550 for what is gone.
    curl(&["-Q", "RNFR text.txt", "-Q", "RNTO moved.txt", "-Q", "DELE moved.txt", "-l", &server.url("/")]);
    assert!(server.get("/home/ann/text.txt").is_none() && server.get("/home/ann/moved.txt").is_none());
    let missing = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "30", &server.url("/missing.txt")])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(78), "curl: RETR failed (550)");
    let _ = std::fs::remove_dir_all(&dir);
}

const FTPLIB_SCRIPT: &str = r#"
import ftplib, io, sys
port, password = int(sys.argv[1]), sys.argv[2]
f = ftplib.FTP()
f.connect('127.0.0.1', port, timeout=20)
try:
    f.login('ann', 'wrong')
    raise SystemExit('a wrong password was accepted')
except ftplib.error_perm as e:
    assert str(e).startswith('530'), e
f.login('ann', password)
assert f.pwd() == '/home/ann', f.pwd()
f.mkd('dir with spaces')
f.cwd('dir with spaces')
assert f.pwd() == '/home/ann/dir with spaces', f.pwd()
data = bytes(range(256)) * 1000
for passive in (True, False):
    f.set_pasv(passive)
    f.storbinary('STOR bin.dat', io.BytesIO(data))
    assert f.size('bin.dat') == len(data)
    out = io.BytesIO(); f.retrbinary('RETR bin.dat', out.write); assert out.getvalue() == data
    out = io.BytesIO(); f.retrbinary('RETR bin.dat', out.write, rest=1000); assert out.getvalue() == data[1000:]
f.set_pasv(True)
# An interrupted upload, resumed with REST + STOR, then APPE.
f.storbinary('STOR part.dat', io.BytesIO(data[:5000]))
f.storbinary('STOR part.dat', io.BytesIO(data[5000:9000]), rest=5000)
f.storbinary('APPE part.dat', io.BytesIO(data[9000:]))
out = io.BytesIO(); f.retrbinary('RETR part.dat', out.write); assert out.getvalue() == data
# TYPE A both ways: storlines sends CRLF, retrlines reads it.
f.storlines('STOR text.txt', io.BytesIO(b'one\ntwo\nthree\n'))
lines = []; f.retrlines('RETR text.txt', lines.append); assert lines == ['one', 'two', 'three'], lines
out = io.BytesIO(); f.retrbinary('RETR text.txt', out.write); assert out.getvalue() == b'one\ntwo\nthree\n', out.getvalue()
f.voidcmd('TYPE A')
conn = f.transfercmd('RETR text.txt')
wire = b''
while chunk := conn.recv(4096):
    wire += chunk
conn.close()
f.voidresp()
assert wire == b'one\r\ntwo\r\nthree\r\n', wire
facts = dict(f.mlsd())
assert facts['bin.dat']['type'] == 'file' and facts['bin.dat']['size'] == str(len(data)), facts
assert sorted(f.nlst()) == ['bin.dat', 'part.dat', 'text.txt'], f.nlst()
listing = []; f.dir(listing.append)
assert any(l.startswith('-rw-r--r-- 1 ann users 256000 ') and l.endswith(' bin.dat') for l in listing), listing
assert f.sendcmd('MDTM bin.dat').startswith('213 2')
assert 'type=file;size=256000;' in f.sendcmd('MLST bin.dat')
f.rename('bin.dat', 'renamed \u00fcn\u00ef.dat')
assert 'renamed \u00fcn\u00ef.dat' in f.nlst()
f.sendcmd('SITE CHMOD 600 part.dat')
for command, code in [('CWD /locked', '550'), ('RNTO x', '503'), ('XYZZY', '502'), ('SIZE nope', '550'), ('RMD /home/ann/dir with spaces', '550')]:
    try:
        f.sendcmd(command)
        raise SystemExit(command + ' succeeded')
    except ftplib.error_perm as e:
        assert str(e).startswith(code), (command, e)
try:
    f.retrbinary('RETR nope', print)
    raise SystemExit('RETR of a missing file succeeded')
except ftplib.error_perm as e:
    assert str(e) == '550 /home/ann/dir with spaces/nope: No such file or directory', e
for name in f.nlst():
    f.delete(name)
f.cwd('..')
f.rmd('dir with spaces')
assert f.quit().startswith('221')
print('ok')
"#;

#[test]
fn python_ftplib_session() {
    let server = Server::start();
    let port = server.address.port().to_string();
    let out = run("python3", &["-c", FTPLIB_SCRIPT, &port, PASSWORD], None, TIMEOUT);
    assert_eq!(out.trim(), "ok");
    assert!(!server.is_dir("/home/ann/dir with spaces"));
}

/// Writes a nested tree with awkward names.
fn make_tree(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let files = [
        ("a.txt", sample(10)),
        ("empty", Vec::new()),
        ("dir one/b.bin", sample(70_000)),
        ("dir one/nested ünï/日本.dat", sample(1234)),
        ("dir one/nested ünï/deeper/c", sample(1)),
        ("two/.hidden", sample(5)),
    ];
    for (name, bytes) in &files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
    }
    std::fs::create_dir_all(root.join("empty dir")).unwrap();
    files.into_iter().map(|(n, b)| (PathBuf::from(n), b)).collect()
}

#[test]
fn lftp_mirror_both_ways() {
    let server = Server::start();
    let dir = scratch("lftp");
    let source = dir.join("source");
    let files = make_tree(&source);
    let open = format!(
        "set net:max-retries 1; set net:timeout 20; set cmd:fail-exit yes; open -u ann,'{PASSWORD}' -p {} 127.0.0.1",
        server.address.port()
    );
    let upload = format!("{open}; mirror -R '{}' /home/ann/tree", source.display());
    run("lftp", &["-c", &upload], None, TIMEOUT);
    for (name, bytes) in &files {
        let remote = format!("/home/ann/tree/{}", name.display());
        same(&server.get(&remote).unwrap_or_default(), bytes, &remote);
    }
    assert!(server.is_dir("/home/ann/tree/empty dir"));
    // Back again, once reading MLSD and once reading LIST.
    for mlsd in ["yes", "no"] {
        let target = dir.join(format!("back-{mlsd}"));
        let download = format!("{open}; set ftp:use-mlsd {mlsd}; mirror /home/ann/tree '{}'", target.display());
        run("lftp", &["-c", &download], None, TIMEOUT);
        for (name, bytes) in &files {
            same(&std::fs::read(target.join(name)).unwrap(), bytes, &format!("{} (MLSD {mlsd})", name.display()));
        }
        assert!(target.join("empty dir").is_dir());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// tnftp (NetBSD's ftp, Debian package `tnftp`), driven by commands on
/// stdin: login with a password that has a space, put and get in passive
/// mode (EPSV, then PASV) and active mode (EPRT, then PORT), `ls`, and
/// `mget` of a pattern, which sends `NLST *.txt` and fetches the names.
#[test]
fn tnftp_session() {
    let server = Server::start();
    let dir = scratch("tnftp");
    let data = sample(200_000);
    std::fs::write(dir.join("up.bin"), &data).unwrap();
    server.put("/home/ann/a.txt", b"one\n");
    server.put("/home/ann/b.txt", b"two\n");
    server.put("/home/ann/c.log", b"three\n");
    let mut script = format!("lcd {}\nuser ann \"{PASSWORD}\"\n", dir.display());
    for (mode, epsv) in [("on", "on"), ("on", "off"), ("off", "on"), ("off", "off")] {
        let name = format!("{mode}-{epsv}.bin");
        script.push_str(&format!("passive {mode}\nepsv {epsv}\nput up.bin {name}\nget {name} down-{name}\n"));
    }
    script.push_str("passive on\nls\nmget *.txt\nbye\n");
    let port = server.address.port().to_string();
    let out = run("tnftp", &["-n", "-i", "-v", "127.0.0.1", &port], Some(script.as_bytes()), TIMEOUT);
    for (mode, epsv) in [("on", "on"), ("on", "off"), ("off", "on"), ("off", "off")] {
        let name = format!("{mode}-{epsv}.bin");
        same(&server.get(&format!("/home/ann/{name}")).unwrap_or_default(), &data, &format!("put {name}"));
        same(&std::fs::read(dir.join(format!("down-{name}"))).unwrap_or_default(), &data, &format!("get {name}"));
    }
    // Each of the four ways to open a data connection was used.
    for reply in
        ["229 Entering Extended", "227 Entering Passive", "200 EPRT command successful", "200 PORT command successful"]
    {
        assert!(out.contains(reply), "{reply} in\n{out}");
    }
    assert!(out.lines().any(|l| l.starts_with("-rw-r--r-- 1 ann users 200000 ") && l.ends_with(" on-on.bin")), "{out}");
    assert_eq!(std::fs::read(dir.join("a.txt")).unwrap(), b"one\n", "mget *.txt\n{out}");
    assert_eq!(std::fs::read(dir.join("b.txt")).unwrap(), b"two\n");
    assert!(!dir.join("c.log").exists(), "mget fetched only what matched");
    let _ = std::fs::remove_dir_all(&dir);
}
