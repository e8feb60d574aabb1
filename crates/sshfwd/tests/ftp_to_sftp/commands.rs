//! Every FTP command of the issue, with its reply code and its effect on
//! the SSH server's files; awkward paths (spaces, UTF-8, `..`); permission
//! errors.

use super::{against_both_peers, python_ok};
use crate::common::bridge::{Bridge, Peer, PeerOptions, SftpPeer};
use crate::common::ftp_client::Ftp;

against_both_peers!(
    every_command_with_its_reply_and_effect,
    abor_during_a_download,
    unknown_and_out_of_order_commands,
    paths_with_spaces_utf8_and_dot_dot,
);

fn every_command_with_its_reply_and_effect(kind: Peer) {
    let peer = SftpPeer::start(kind);
    let bridge = Bridge::start(&peer);
    python_ok(
        &peer,
        &bridge,
        "every command",
        r#"
import io, re, stat
def at(*parts):
    return os.path.join(FILES, *parts)

with open(at("f.txt"), "wb") as fh:
    fh.write(b"hello")
os.utime(at("f.txt"), (1700000000, 1700000000))
f = login()
assert expect(f, "SYST", 215).startswith("215 UNIX")
feat = expect(f, "FEAT", 211)
for name in ("EPSV", "MDTM", "MLST", "REST STREAM", "SIZE", "UTF8"):
    assert name in feat, (name, feat)
expect(f, "OPTS UTF8 ON", 200)
expect(f, "NOOP", 200)
start = f.pwd()

expect(f, "MKD newdir", 257)
assert os.path.isdir(at("newdir"))
expect(f, "CWD newdir", 250)
assert f.pwd() == start.rstrip("/") + "/newdir", f.pwd()
expect(f, "CDUP", 250)
assert f.pwd() == start, f.pwd()
expect(f, "XPWD", 257)

assert expect(f, "SIZE f.txt", 213) == "213 5"
assert expect(f, "MDTM f.txt", 213) == "213 20231114221320"
mlst = expect(f, "MLST f.txt", 250)
assert "size=5;" in mlst.lower() and "type=file;" in mlst.lower() and "modify=20231114221320" in mlst.lower(), mlst

for mode in ("pasv", "epsv", "port", "eprt"):
    f.mode = mode
    f.set_pasv(mode in ("pasv", "epsv"))
    lines = []
    f.retrlines("LIST", lines.append)
    long = [l for l in lines if l.endswith(" f.txt")]
    # The ls -l form that curl, lftp, FileZilla and Explorer parse.
    assert long and re.match(r"^-[rwx-]{9}\s+\d+\s+\S+\s+\S+\s+5\s+\w{3}\s+\d{1,2}\s+(\d{4}|\d\d:\d\d)\s+f\.txt$", long[0]), lines
    assert any(l.startswith("d") and l.endswith(" newdir") for l in lines), lines
    assert {"f.txt", "newdir"} <= set(f.nlst()), f.nlst()
    facts = dict(f.mlsd())
    assert facts["f.txt"]["size"] == "5" and facts["newdir"]["type"] == "dir", facts
    assert get(f, "f.txt") == b"hello"
    f.storbinary("STOR s-" + mode, io.BytesIO(b"stored"))
    assert open(at("s-" + mode), "rb").read() == b"stored"

expect(f, "SITE CHMOD 640 f.txt", 200)
assert stat.S_IMODE(os.stat(at("f.txt")).st_mode) == 0o640, oct(os.stat(at("f.txt")).st_mode)
expect(f, "RNFR f.txt", 350)
expect(f, "RNTO g.txt", 250)
assert not os.path.exists(at("f.txt")) and open(at("g.txt"), "rb").read() == b"hello"
expect(f, "DELE g.txt", 250)
assert not os.path.exists(at("g.txt"))
expect(f, "RMD newdir", 250)
assert not os.path.exists(at("newdir"))
expect(f, "TYPE A", 200)
expect(f, "TYPE I", 200)
expect(f, "REST 3", 350)
expect(f, "REST 0", 350)
assert get(f, "s-pasv", rest=3) == b"red"
assert get(f, "s-pasv") == b"stored"
# Errors a user understands: the path, 550.
for line in ("SIZE missing.txt", "MDTM missing.txt", "DELE missing.txt", "RNFR missing.txt", "CWD missing", "RMD missing"):
    r = expect(f, line, 550)
    assert "missing" in r, (line, r)
try:
    get(f, "missing.txt")
    raise SystemExit("RETR of a missing file succeeded")
except ftplib.error_perm as e:
    assert str(e).startswith("550") and "missing.txt" in str(e), e
expect(f, "ABOR", 225)
assert f.quit().startswith("221")
"#,
    );
}

/// ABOR while a download runs: the transfer stops (426 then 226, or 226)
/// and the session goes on.
fn abor_during_a_download(kind: Peer) {
    let peer = SftpPeer::start(kind);
    crate::common::netns::write_test_file(&peer.path("big.bin"), "big", 64 << 20);
    let bridge = Bridge::start(&peer);
    python_ok(
        &peer,
        &bridge,
        "ABOR",
        r#"
f = login()
f.voidcmd("TYPE I")
conn = f.transfercmd("RETR big.bin")
assert len(conn.recv(65536)) > 0
f.putcmd("ABOR")
conn.close()
codes = []
while True:
    r = f.getmultiline()
    codes.append(r[:3])
    if r[:3] in ("225", "226"):
        break
assert codes in (["426", "226"], ["226"], ["225"]), codes
expect(f, "NOOP", 200)
assert len(get(f, "big.bin", rest=(64 << 20) - 10)) == 10
f.quit()
"#,
    );
}

fn unknown_and_out_of_order_commands(kind: Peer) {
    let peer = SftpPeer::start(kind);
    let bridge = Bridge::start(&peer);
    let mut ftp = Ftp::connect(bridge.addr).expect("connect");
    let (code, text) = ftp.reply().expect("greeting");
    assert_eq!(code, 220, "{text}");
    ftp.expect("LIST", 530);
    ftp.expect("PASS nobody-asked", 503);
    ftp.expect(&format!("USER {}", bridge.user), 331);
    ftp.expect("PASS wrong password", 530);
    ftp.expect(&format!("USER {}", bridge.user), 331);
    ftp.expect(&format!("PASS {}", bridge.password), 230);
    for unknown in ["XYZZY", "SITE EXEC rm -rf /", "AUTH TLS", "HELP ME", "STOU"] {
        let (code, text) = ftp.cmd(unknown).expect(unknown);
        assert!(code == 502 || code == 504 || code == 500, "{unknown}: {text}");
    }
    ftp.expect("XYZZY", 502);
    ftp.expect("RNTO nowhere", 503);
    ftp.expect("NOOP", 200);
    ftp.expect("QUIT", 221);
}

fn paths_with_spaces_utf8_and_dot_dot(kind: Peer) {
    let peer = SftpPeer::start(kind);
    let bridge = Bridge::start(&peer);
    python_ok(
        &peer,
        &bridge,
        "awkward paths",
        r#"
import io
f = login()
f.encoding = "utf-8"
start = f.pwd()
folder = "dir with  spaces"
name = "ünïcødé 文件 x.txt"
d = data(5000)
f.mkd(folder)
assert os.path.isdir(os.path.join(FILES, folder))
f.storbinary(f"STOR {folder}/{name}", io.BytesIO(d))
assert sha_file(os.path.join(FILES, folder, name)) == sha(d)
assert any(n.endswith(name) for n in f.nlst(folder)), f.nlst(folder)
f.cwd(folder)
assert f.pwd() == start.rstrip("/") + "/" + folder, f.pwd()
assert name in f.nlst(), f.nlst()
assert get(f, name) == d
f.rename(name, "renamed ü.txt")
assert os.path.exists(os.path.join(FILES, folder, "renamed ü.txt"))
f.cwd("..")
assert f.pwd() == start, (f.pwd(), start)
assert get(f, f"{folder}/../{folder}/./renamed ü.txt") == d
# ".." walks up (OpenSSH's home is no jail) and stops at "/".
f.cwd("../../../../../../../../../../../../..")
assert f.pwd() == "/", f.pwd()
f.cwd("..")
assert f.pwd() == "/", f.pwd()
lines = []
f.retrlines("LIST", lines.append)
assert lines, "empty listing of /"
f.cwd(start)
assert f.pwd() == start
assert get(f, f"/{start.strip('/')}/{folder}/renamed ü.txt".replace("//", "/")) == d
f.quit()
"#,
    );
}

/// internal-sftp -R: every write is refused with permission denied, which
/// the bridge reports as 550; reads still work.
#[test]
fn openssh_read_only_server_gives_550() {
    let peer = SftpPeer::start_with(Peer::OpenSsh, PeerOptions { read_only: true, ..Default::default() });
    std::fs::write(peer.path("r.txt"), b"read me").expect("write r.txt");
    std::fs::create_dir(peer.path("d")).expect("mkdir d");
    let bridge = Bridge::start(&peer);
    python_ok(
        &peer,
        &bridge,
        "read-only",
        r#"
import io
f = login()
assert get(f, "r.txt") == b"read me"
for line in ("MKD x", "RMD d", "DELE r.txt", "SITE CHMOD 600 r.txt"):
    r = expect(f, line, 550)
expect(f, "RNFR r.txt", 350)
expect(f, "RNTO s.txt", 550)
for verb in ("STOR", "APPE"):
    try:
        f.storbinary(f"{verb} w.txt", io.BytesIO(b"x"))
        raise SystemExit(f"{verb} on a read-only server succeeded")
    except ftplib.error_perm as e:
        assert str(e).startswith("550"), e
assert not os.path.exists(os.path.join(FILES, "w.txt"))
assert open(os.path.join(FILES, "r.txt"), "rb").read() == b"read me"
expect(f, "NOOP", 200)
f.quit()
"#,
    );
}
