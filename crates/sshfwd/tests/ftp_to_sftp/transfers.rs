//! Moving bytes: every size from 0 B to 256 MiB, both ways, sha256-checked;
//! resumed downloads and uploads (REST, APPE); TYPE A; curl, lftp (mirror
//! both ways), tnftp and ftplib in every data-connection mode.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{against_both_peers, python_ok};
use crate::common::bridge::{tree_files, Bridge, Peer, SftpPeer};
use crate::common::ftp_client::{assert_ok, curl, lftp, python, run, STEP};
use crate::common::netns::{poll, sha256_file, write_test_file};

against_both_peers!(
    curl_sizes_both_ways_listings_and_resume,
    ftplib_every_mode_sizes_rest_and_appe,
    lftp_mirror_and_mirror_reverse_of_a_nested_tree,
    tnftp_get_and_put,
    type_a_converts_lf_to_crlf_and_back,
    transfers_are_logged_at_v,
);

const SIZES: [(&str, usize); 3] = [("empty.bin", 0), ("one.bin", 1), ("mib.bin", 1 << 20)];

fn small_files(peer: &SftpPeer) {
    for (name, len) in SIZES {
        write_test_file(&peer.path(name), name, len);
    }
}

#[track_caller]
fn same_file(a: &Path, b: &Path, bridge: &Bridge) {
    assert!(b.exists(), "{} missing\n{}", b.display(), bridge.stderr());
    assert_eq!(sha256_file(a), sha256_file(b), "{} and {} differ\n{}", a.display(), b.display(), bridge.stderr());
}

fn curl_sizes_both_ways_listings_and_resume(kind: Peer) {
    let peer = SftpPeer::start(kind);
    small_files(&peer);
    let bridge = Bridge::start(&peer);
    let local = peer.scratch("local");
    for (name, _) in SIZES {
        let got = local.join(name);
        let out = curl(&["-o", got.to_str().expect("utf-8"), &bridge.url(name)]);
        assert_ok(&out, &format!("curl RETR {name}"), &bridge);
        same_file(&peer.path(name), &got, &bridge);
        // EPSV (curl's default) down, PASV up.
        let out = curl(&["--disable-epsv", "-T", got.to_str().expect("utf-8"), &bridge.url(&format!("up-{name}"))]);
        assert_ok(&out, &format!("curl STOR {name}"), &bridge);
        same_file(&got, &peer.path(&format!("up-{name}")), &bridge);
    }
    // Active mode (EPRT, then PORT).
    let got = local.join("active.bin");
    for extra in [&["-P", "-"][..], &["-P", "-", "--disable-eprt"][..]] {
        let mut args = extra.to_vec();
        let url = bridge.url("mib.bin");
        args.extend(["-o", got.to_str().expect("utf-8"), &url]);
        assert_ok(&curl(&args), &format!("curl {extra:?}"), &bridge);
        same_file(&peer.path("mib.bin"), &got, &bridge);
    }
    let list = curl(&[&bridge.url("")]);
    assert_ok(&list, "curl LIST", &bridge);
    let nlst = curl(&["-l", &bridge.url("")]);
    assert_ok(&nlst, "curl NLST", &bridge);
    for (name, _) in SIZES {
        assert!(list.stdout.contains(name), "LIST lacks {name}:\n{}", list.stdout);
        assert!(nlst.stdout.lines().any(|l| l == name), "NLST lacks {name}:\n{}", nlst.stdout);
    }

    // An interrupted download (the first 100 000 bytes), resumed: REST.
    let part = local.join("part.bin");
    assert_ok(&curl(&["-r", "0-99999", "-o", part.to_str().expect("utf-8"), &bridge.url("mib.bin")]), "part", &bridge);
    assert_eq!(fs::metadata(&part).expect("part").len(), 100_000);
    assert_ok(&curl(&["-C", "-", "-o", part.to_str().expect("utf-8"), &bridge.url("mib.bin")]), "resume", &bridge);
    same_file(&peer.path("mib.bin"), &part, &bridge);

    // An interrupted upload (300 000 bytes there), resumed: SIZE, then APPE.
    let head = local.join("head.bin");
    let full = fs::read(peer.path("mib.bin")).expect("read mib.bin");
    fs::write(&head, &full[..300_000]).expect("write head");
    assert_ok(&curl(&["-T", head.to_str().expect("utf-8"), &bridge.url("resumed-up.bin")]), "head up", &bridge);
    let src = peer.path("mib.bin");
    let out = curl(&["-v", "-C", "-", "-T", src.to_str().expect("utf-8"), &bridge.url("resumed-up.bin")]);
    assert_ok(&out, "resumed upload", &bridge);
    same_file(&src, &peer.path("resumed-up.bin"), &bridge);
}

fn ftplib_every_mode_sizes_rest_and_appe(kind: Peer) {
    let peer = SftpPeer::start(kind);
    let bridge = Bridge::start(&peer);
    python_ok(
        &peer,
        &bridge,
        "ftplib transfers",
        r#"
import io
f = login()
for mode in ("pasv", "epsv", "port", "eprt"):
    f.mode = mode
    f.set_pasv(mode in ("pasv", "epsv"))
    for n in (0, 1, 1 << 20):
        d = data(n)
        name = f"ftplib-{mode}-{n}.bin"
        f.storbinary("STOR " + name, io.BytesIO(d), blocksize=1 << 20)
        assert sha_file(os.path.join(FILES, name)) == sha(d), (mode, n)
        assert get(f, name) == d, (mode, n)
        assert f.size(name) == n, (mode, n)
    lines = []
    f.retrlines("LIST", lines.append)
    assert any(l.endswith(f" ftplib-{mode}-1.bin") for l in lines), lines
    assert f"ftplib-{mode}-1.bin" in f.nlst(), f.nlst()
    facts = dict(f.mlsd())
    assert facts[f"ftplib-{mode}-1048576.bin"]["size"] == "1048576", facts
    assert facts[f"ftplib-{mode}-1.bin"]["type"] == "file", facts

# An interrupted download, resumed on a new session with REST.
big = data(3 << 20)
with open(os.path.join(FILES, "big.bin"), "wb") as fh:
    fh.write(big)
got = bytearray()
class Stop(Exception):
    pass
def take(chunk):
    got.extend(chunk)
    if len(got) >= 1 << 20:
        raise Stop()
f.mode = "pasv"; f.set_pasv(True)
try:
    f.retrbinary("RETR big.bin", take, blocksize=65536)
    raise SystemExit("the transfer was not interrupted")
except Stop:
    pass
f.close()
f = login()
rest = len(got)
got += get(f, "big.bin", rest=rest)
assert sha(bytes(got)) == sha(big), (rest, len(got))

# An interrupted upload (the data connection closed early), resumed with REST + STOR.
conn = f.transfercmd("STOR up-resume.bin")
conn.sendall(big[:1234567])
conn.close()
f.voidresp()
n = f.size("up-resume.bin")
assert n == 1234567, n
f.storbinary("STOR up-resume.bin", io.BytesIO(big[n:]), rest=n)
assert sha_file(os.path.join(FILES, "up-resume.bin")) == sha(big)
# APPE adds to the end.
f.storbinary("APPE up-resume.bin", io.BytesIO(b"tail"))
assert sha_file(os.path.join(FILES, "up-resume.bin")) == sha(big + b"tail")
f.storbinary("APPE fresh.bin", io.BytesIO(b"new"))
assert open(os.path.join(FILES, "fresh.bin"), "rb").read() == b"new"
f.quit()
"#,
    );
}

/// A tree with nested directories, an empty file, a name with a space.
fn make_tree(root: &Path) {
    let files: [(&str, usize); 6] = [
        ("a.txt", 10),
        ("sub1/b.bin", 100 * 1024),
        ("sub1/sub2/c.bin", 1 << 20),
        ("sub1/sub2/empty.bin", 0),
        ("sub1/sub2/sub3/d.bin", 33_333),
        ("with space/e f.txt", 4096),
    ];
    for (name, len) in files {
        let path = root.join(name);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir tree");
        write_test_file(&path, name, len);
    }
}

#[track_caller]
fn same_tree(a: &Path, b: &Path, bridge: &Bridge) {
    let (fa, fb) = (tree_files(a), tree_files(b));
    assert_eq!(fa, fb, "{} and {} hold different files\n{}", a.display(), b.display(), bridge.stderr());
    for f in fa {
        same_file(&a.join(&f), &b.join(&f), bridge);
    }
}

fn lftp_mirror_and_mirror_reverse_of_a_nested_tree(kind: Peer) {
    let peer = SftpPeer::start(kind);
    let bridge = Bridge::start(&peer);
    let src = peer.scratch("tree-src");
    make_tree(&src);
    let out = lftp(&bridge, &format!("mirror -R '{}' tree", src.display()));
    assert_ok(&out, "lftp mirror -R", &bridge);
    same_tree(&src, &peer.path("tree"), &bridge);
    let back = peer.scratch("tree-back");
    let out = lftp(&bridge, &format!("mirror tree '{}'", back.display()));
    assert_ok(&out, "lftp mirror", &bridge);
    same_tree(&src, &back, &bridge);
    // lftp in its defaults (PASV, MLSD from FEAT) and an ls.
    let out = lftp(&bridge, "cls -1 tree/sub1/sub2");
    assert_ok(&out, "lftp cls", &bridge);
    for name in ["c.bin", "empty.bin", "sub3"] {
        assert!(out.stdout.contains(name), "cls lacks {name}:\n{}", out.transcript());
    }
}

fn tnftp_get_and_put(kind: Peer) {
    let peer = SftpPeer::start(kind);
    small_files(&peer);
    let bridge = Bridge::start(&peer);
    let local = peer.scratch("tnftp");
    for (name, _) in SIZES {
        let got = local.join(name);
        // Auto-fetch: a URL and -o; passive (EPSV, then PASV) by default.
        let out = run("tnftp", &["-n", "-o", got.to_str().expect("utf-8"), &bridge.url(name)], STEP);
        assert_ok(&out, &format!("tnftp get {name}"), &bridge);
        same_file(&peer.path(name), &got, &bridge);
        let out = run("tnftp", &["-n", "-u", &bridge.url(&format!("tn-{name}")), got.to_str().expect("utf-8")], STEP);
        assert_ok(&out, &format!("tnftp put {name}"), &bridge);
        same_file(&got, &peer.path(&format!("tn-{name}")), &bridge);
    }
}

fn type_a_converts_lf_to_crlf_and_back(kind: Peer) {
    let peer = SftpPeer::start(kind);
    let bridge = Bridge::start(&peer);
    python_ok(
        &peer,
        &bridge,
        "TYPE A",
        r#"
import io
def wire_get(f, name):
    conn = f.transfercmd("RETR " + name)
    chunks = []
    while True:
        b = conn.recv(1 << 16)
        if not b:
            break
        chunks.append(b)
    conn.close()
    f.voidresp()
    return b"".join(chunks)

def wire_put(f, name, payload):
    conn = f.transfercmd("STOR " + name)
    conn.sendall(payload)
    conn.close()
    f.voidresp()

def disk(name):
    with open(os.path.join(FILES, name), "rb") as fh:
        return fh.read()

lf = b"one\ntwo\n\nthree\n"
with open(os.path.join(FILES, "lf.txt"), "wb") as fh:
    fh.write(lf)
# Long enough to cross every buffer boundary, with CRLF pairs split anywhere.
text = b"".join(b"line %d of the text file\n" % i for i in range(60000))
with open(os.path.join(FILES, "long.txt"), "wb") as fh:
    fh.write(text)
f = login()
expect(f, "TYPE A", 200)
assert wire_get(f, "lf.txt") == b"one\r\ntwo\r\n\r\nthree\r\n"
assert wire_get(f, "long.txt") == text.replace(b"\n", b"\r\n")
wire_put(f, "up.txt", b"x\r\ny\r\n")
assert disk("up.txt") == b"x\ny\n", disk("up.txt")
wire_put(f, "long-up.txt", text.replace(b"\n", b"\r\n"))
assert disk("long-up.txt") == text
lines = []
f.retrlines("RETR lf.txt", lines.append)
assert lines == ["one", "two", "", "three"], lines
f.storlines("STOR lines.txt", io.BytesIO(b"a\nb\n"))
assert disk("lines.txt") == b"a\nb\n", disk("lines.txt")
expect(f, "TYPE I", 200)
assert wire_get(f, "lf.txt") == lf
f.quit()
"#,
    );
}

fn transfers_are_logged_at_v(kind: Peer) {
    let peer = SftpPeer::start(kind);
    small_files(&peer);
    let bridge = Bridge::start(&peer);
    let local = peer.scratch("local");
    let got = local.join("mib.bin");
    assert_ok(&curl(&["-o", got.to_str().expect("utf-8"), &bridge.url("mib.bin")]), "RETR", &bridge);
    assert_ok(&curl(&["-T", got.to_str().expect("utf-8"), &bridge.url("logged-up.bin")]), "STOR", &bridge);
    let user = bridge.user.clone();
    let logged = |verb: &str, name: &str| {
        poll(Duration::from_secs(10), || {
            bridge
                .stderr()
                .lines()
                .find(|l| l.contains(verb) && l.contains(name) && l.contains("1048576") && l.contains(&user))
                .map(str::to_owned)
        })
    };
    for (verb, name) in [("RETR", "mib.bin"), ("STOR", "logged-up.bin")] {
        let line = logged(verb, name);
        assert!(line.is_some(), "no -v log line for {verb} {name} (user, bytes):\n{}", bridge.stderr());
    }
}

/// 256 MiB down and up through the bridge, sha256-checked; once, against
/// OpenSSH (the size, not the peer, is the point).
#[test]
fn openssh_256mib_down_and_up() {
    let peer = SftpPeer::start(Peer::OpenSsh);
    let size = 256usize << 20;
    write_test_file(&peer.path("big.bin"), "big", size);
    let bridge = Bridge::start(&peer);
    let local = peer.scratch("local");
    let started = Instant::now();
    let body = format!(
        r#"
f = login()
with open({out:?}, "wb") as out:
    def take(chunk):
        out.write(chunk)
    f.retrbinary("RETR big.bin", take, blocksize=1 << 20)
t = time.time()
with open({out:?}, "rb") as src:
    f.storbinary("STOR big-up.bin", src, blocksize=1 << 20)
print("upload seconds", time.time() - t)
f.quit()
"#,
        out = local.join("big.bin").display().to_string()
    );
    let out = python(&bridge, &peer.files, &body, Duration::from_secs(600));
    assert_ok(&out, "256 MiB", &bridge);
    eprintln!("256 MiB down and up through the bridge in {:?}: {}", started.elapsed(), out.stdout.trim());
    let want = sha256_file(&peer.path("big.bin"));
    assert_eq!(sha256_file(&local.join("big.bin")), want, "download differs");
    assert_eq!(sha256_file(&peer.path("big-up.bin")), want, "upload differs");
}
