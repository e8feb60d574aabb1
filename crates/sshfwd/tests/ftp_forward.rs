//! End-to-end FTP forwarding tests on network namespaces (see
//! `common/netns.rs` for the topology): real OpenSSH sshd, real FTP servers
//! (proftpd, pyftpdlib), real FTP clients (curl, lftp, Python ftplib). The FTP
//! client host has no route to the FTP server except through sshfwd's SSH
//! connection, so a transfer that works proves the data went through SSH.
//!
//! Every case runs twice, with OpenSSH's sshd and with sshfwd-server as the
//! SSH server: `ftp_forward::openssh::CASE` and `ftp_forward::sshfwd_server::CASE`
//! (see [`against_both_ssh_servers`] at the end). Needs root (network
//! namespaces): ignored, with that reason, for other users.

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::net::{Shutdown, SocketAddr};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::netns::*;

const LPORT: u16 = 2121;
const T: Duration = Duration::from_secs(60);

/// Every case as two `#[test]`s, `openssh::CASE` (OpenSSH's sshd on srv) and
/// `sshfwd_server::CASE` (sshfwd-server there), ignored with the reason when
/// the tests are not built by root.
macro_rules! against_both_ssh_servers {
    ($($case:ident),* $(,)?) => {
        against_both_ssh_servers!(@server openssh, OpenSsh, $($case),*);
        against_both_ssh_servers!(@server sshfwd_server, SshfwdServer, $($case),*);
    };
    (@server $module:ident, $server:ident, $($case:ident),*) => {
        mod $module {
            $(
                #[test]
                #[cfg_attr(not(tests_as_root), ignore = "needs root: network namespaces")]
                fn $case() {
                    super::$case(super::SshServer::$server);
                }
            )*
        }
    };
}

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

fn local_endpoint(port: u16) -> SocketAddr {
    sa(&format!("127.0.0.1:{port}"))
}

/// A topology with an FTP server of `kind` in srv (127.0.0.1:21) and sshfwd
/// in cli forwarding `-L ftp/127.0.0.1:2121:127.0.0.1:21`.
fn local_ftp_setup(ssh: SshServer, kind: FtpKind, big: bool) -> (Topology, FtpServer, usize) {
    ftp_setup(ssh, kind, (Host::Srv, "127.0.0.1", big), "ftp", false, "127.0.0.1:21")
}

/// [`local_ftp_setup`] and a raw session through the forward, logged in.
fn local_session(ssh: SshServer, kind: FtpKind, big: bool) -> (Topology, FtpServer, usize, RawFtp) {
    let (topo, server, fwd) = local_ftp_setup(ssh, kind, big);
    let ftp = raw_login(&topo.cli, LPORT);
    (topo, server, fwd, ftp)
}

/// A topology with an FTP server of `kind` on `host`, `ip`:21 (with the big
/// file when `big`), and sshfwd `name` forwarding 127.0.0.1:2121 to `target`
/// (see [`start_ftp_forward`]).
fn ftp_setup(
    ssh: SshServer,
    kind: FtpKind,
    (host, ip, big): (Host, &str, bool),
    name: &str,
    remote: bool,
    target: &str,
) -> (Topology, FtpServer, usize) {
    let mut topo = Topology::new(ssh, false);
    let server = topo.start_ftp(kind, host, ip, 21, big);
    let fwd = start_ftp_forward(&mut topo, name, remote, target);
    (topo, server, fwd)
}

fn expect_same_file(topo: &Topology, a: &Path, b: &Path, what: &str) {
    assert!(b.exists(), "{what}: {} was not created\n{}", b.display(), topo.logs());
    let (ha, hb) = (sha256_file(a), sha256_file(b));
    assert_eq!(
        ha,
        hb,
        "{what}: SHA-256 differs ({} is {} bytes, {} is {} bytes)\n{}",
        a.display(),
        fs::metadata(a).map(|m| m.len()).unwrap_or(0),
        b.display(),
        fs::metadata(b).map(|m| m.len()).unwrap_or(0),
        topo.logs()
    );
}

fn expect_listing(topo: &Topology, out: &Path, names: &[&str], what: &str) {
    let text = fs::read_to_string(out).unwrap_or_default();
    for n in names {
        assert!(text.contains(n), "{what}: listing lacks {n}:\n{text}\n{}", topo.logs());
    }
}

/// Downloads, uploads (0 B, 1 B, 1 MiB) and lists (LIST, NLST, MLSD where the
/// client can) with `client` in each of `modes` through `endpoint` as seen
/// from `host`; checks SHA-256 of every file and the listings.
fn transfer_matrix(
    topo: &Topology,
    server: &FtpServer,
    host: Host,
    client: Client,
    modes: &[Mode],
    endpoint: SocketAddr,
) {
    for &mode in modes.iter().filter(|m| client.supports(**m)) {
        let tag = format!("{client:?}-{mode:?}").to_lowercase();
        let work =
            topo.path(&format!("work-{}-{tag}", server.home.file_name().and_then(|n| n.to_str()).unwrap_or("x")));
        fs::create_dir_all(&work).expect("work dir");
        let mut ops = Vec::new();
        for (name, _) in SMALL_FILES {
            ops.push(Op::Get { remote: name.to_string(), local: work.join(format!("got-{name}")) });
        }
        for (name, _) in SMALL_FILES {
            let remote = format!("up-{tag}-{name}");
            ops.push(Op::Put { local: server.home.join(name), remote });
        }
        ops.push(Op::List { out: work.join("list.txt") });
        ops.push(Op::Nlst { out: work.join("nlst.txt") });
        if client.supports_mlsd() {
            ops.push(Op::Mlsd { out: work.join("mlsd.txt") });
        }
        let started = Instant::now();
        if let Err(t) = ftp_session(topo, host, client, mode, endpoint, &ops, T) {
            panic!("{:?} {client:?} {mode:?} failed:\n{t}\n{}", server.kind, topo.logs());
        }
        eprintln!("{:?} {client:?} {mode:?}: {} operations in {:?}", server.kind, ops.len(), started.elapsed());
        for (name, _) in SMALL_FILES {
            let what = format!("{:?} {client:?} {mode:?} RETR {name}", server.kind);
            expect_same_file(topo, &server.home.join(name), &work.join(format!("got-{name}")), &what);
            let what = format!("{:?} {client:?} {mode:?} STOR {name}", server.kind);
            expect_same_file(topo, &server.home.join(name), &server.home.join(format!("up-{tag}-{name}")), &what);
        }
        let names = ["empty.bin", "one.bin", "mib.bin"];
        expect_listing(topo, &work.join("list.txt"), &names, &format!("{client:?} {mode:?} LIST"));
        expect_listing(topo, &work.join("nlst.txt"), &names, &format!("{client:?} {mode:?} NLST"));
        if client.supports_mlsd() {
            expect_listing(topo, &work.join("mlsd.txt"), &names, &format!("{client:?} {mode:?} MLSD"));
        }
    }
}

/// Ends a raw session as a client does: QUIT, then close.
fn quit(mut ftp: RawFtp) {
    let _ = ftp.cmd("QUIT");
    drop(ftp);
}

/// A raw session through the forward on 127.0.0.1:`port` of `ns`, logged in
/// as the test FTP user.
fn raw_login(ns: &Netns, port: u16) -> RawFtp {
    let mut ftp = RawFtp::connect(ns, local_endpoint(port)).expect("connect");
    ftp.login(FTP_USER, FTP_PASS).expect("login");
    ftp
}

/// `TYPE I`, answered 200.
fn type_i(ftp: &mut RawFtp) {
    let (c, t) = ftp.cmd("TYPE I").expect("TYPE I");
    assert_eq!(c, 200, "{t}");
}

/// A listener on `ns`'s 127.0.0.1 (for PORT/EPRT) and its port.
fn port_listener(ns: &Netns) -> (std::net::TcpListener, u16) {
    let listener = ns.run_in(|| std::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let port = listener.local_addr().expect("addr").port();
    (listener, port)
}

/// `PORT 127,0,0,1,…` naming `port`.
fn port_cmd(port: u16) -> String {
    format!("PORT 127,0,0,1,{},{}", port >> 8, port & 255)
}

/// `RETR name`, answered 150 or 125.
fn retr(topo: &Topology, ftp: &mut RawFtp, name: &str) {
    let (c, t) = ftp.cmd(&format!("RETR {name}")).expect("RETR");
    assert!(c == 150 || c == 125, "{t}\n{}", topo.logs());
}

/// Reads a transfer's data connection to its end, closes it and expects 226.
fn read_transfer(ftp: &mut RawFtp, mut data: std::net::TcpStream) -> Vec<u8> {
    data.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let mut buf = Vec::new();
    data.read_to_end(&mut buf).expect("read data");
    // proftpd sends 226 only once the client has closed its end.
    drop(data);
    let (c, t) = ftp.reply().expect("transfer reply");
    assert_eq!(c, 226, "{t}");
    buf
}

/// Starts a passive (EPSV when `epsv`) download of the 64 MiB file from
/// cli: returns the data connection (with the `read_timeout`) and its first MiB.
fn start_big_download(
    topo: &Topology,
    ftp: &mut RawFtp,
    epsv: bool,
    read_timeout: Duration,
) -> (std::net::TcpStream, Vec<u8>) {
    type_i(ftp);
    let data_addr = raw_passive(ftp, "127.0.0.1", epsv);
    let mut data = topo.cli.connect(data_addr, Duration::from_secs(5)).expect("data");
    data.set_read_timeout(Some(read_timeout)).expect("timeout");
    let (c, t) = ftp.cmd(&format!("RETR {}", BIG_FILE.0)).expect("RETR");
    assert_eq!(c, 150, "{t}");
    let mut first = vec![0u8; 1 << 20];
    data.read_exact(&mut first).expect("first MiB");
    (data, first)
}

/// [`raw_passive_get`] of `name`, checked against the server's file.
fn expect_raw_get(topo: &Topology, ftp: &mut RawFtp, server: &FtpServer, name: &str, epsv: bool) {
    let data = raw_passive_get(topo, ftp, name, epsv);
    assert_eq!(sha256_bytes(&data), sha256_file(&server.home.join(name)));
}

/// All that a connection from `ns` to `addr` gets until it ends (None when
/// the connection fails).
fn read_all_from(ns: &Netns, addr: SocketAddr) -> Option<String> {
    let mut s = ns.connect(addr, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut v = Vec::new();
    let _ = s.read_to_end(&mut v);
    Some(String::from_utf8_lossy(&v).into_owned())
}

/// An intruder's connection to a data listener (when it was accepted at
/// all) got no data, and sshfwd `fwd` logged the refusal.
fn expect_intruder_turned_away(topo: &Topology, fwd: usize, intruder: std::io::Result<std::net::TcpStream>) {
    if let Ok(mut s) = intruder {
        s.set_read_timeout(Some(Duration::from_secs(3))).expect("timeout");
        let mut stolen = Vec::new();
        let r = s.read_to_end(&mut stolen);
        assert!(stolen.is_empty(), "the intruder got {} bytes ({r:?})", stolen.len());
        eprintln!("intruder: connected, then {r:?} with no data");
        let log = topo.proc(fwd).log_text();
        assert!(log.contains(&format!("refused data connection from {CLI_LAN_IP}:")), "intruder not logged:\n{log}");
    } else {
        eprintln!("intruder: connection refused");
    }
}

/// [`expect_listeners`] on cli and srv, then the end of the test.
fn finish_with_listeners(topo: Topology, cli: &[&str], srv: &[&str]) {
    expect_listeners(&topo, Host::Cli, cli);
    expect_listeners(&topo, Host::Srv, srv);
    topo.finish();
}

/// The end of a test on [`local_ftp_setup`]: only the forward's listener in
/// cli, only sshd and the FTP server in srv.
fn finish_local(topo: Topology) {
    finish_with_listeners(topo, &["127.0.0.1:2121"], &["10.231.0.2:22", "127.0.0.1:21"]);
}

/// Waits until the listening sockets inside `host` are exactly `expected`
/// (`ip:port` strings): no dynamic listener or remote forwarding left over.
fn expect_listeners(topo: &Topology, host: Host, expected: &[&str]) {
    let want: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
    let listeners_now = || -> BTreeSet<String> { topo.ns(host).listening_addresses().into_iter().collect() };
    if poll(Duration::from_secs(10), || (listeners_now() == want).then_some(())).is_some() {
        return;
    }
    let found = topo.ns(host).listeners(true).join("\n");
    // For the report: do they go later (a timeout) or never?
    let started = Instant::now();
    let later = poll(Duration::from_secs(35), || (listeners_now() == want).then_some(()));
    panic!(
        "{host:?}: listeners should be exactly {want:?} within 10 s after the sessions ended, found:\n{found}\n({})\n{}",
        match later {
            Some(()) => format!("they went {:?} later", started.elapsed() + Duration::from_secs(10)),
            None => "still there 45 s after the sessions ended".to_owned(),
        },
        topo.logs()
    );
}

/// A passive download over a raw control connection: TYPE I, PASV (or
/// EPSV), connect from cli, RETR, read to end, 226.
fn raw_passive_get(topo: &Topology, ftp: &mut RawFtp, name: &str, epsv: bool) -> Vec<u8> {
    raw_passive_get_from(topo, Host::Cli, "127.0.0.1", ftp, name, epsv).1
}

/// The data address a PASV/EPSV request got (checked to be on `control_ip`,
/// the address the client reached sshfwd on).
fn raw_passive(ftp: &mut RawFtp, control_ip: &str, epsv: bool) -> SocketAddr {
    if epsv {
        let (c, t) = ftp.cmd("EPSV").expect("EPSV");
        assert_eq!(c, 229, "{t}");
        sa(&format!("{control_ip}:{}", parse_229(&t).expect("229 port")))
    } else {
        let (c, t) = ftp.cmd("PASV").expect("PASV");
        assert_eq!(c, 227, "{t}");
        let a = parse_227(&t).expect("227 address");
        assert_eq!(a.ip().to_string(), control_ip, "the 227 reply should point at the address the client used: {t}");
        a
    }
}

/// Like [`raw_passive_get`] from `host`, whose control connection reached
/// sshfwd on `control_ip`; returns the data address and the bytes.
fn raw_passive_get_from(
    topo: &Topology,
    host: Host,
    control_ip: &str,
    ftp: &mut RawFtp,
    name: &str,
    epsv: bool,
) -> (SocketAddr, Vec<u8>) {
    type_i(ftp);
    let data_addr = raw_passive(ftp, control_ip, epsv);
    let data = topo.ns(host).connect(data_addr, Duration::from_secs(5)).expect("data connection");
    retr(topo, ftp, name);
    (data_addr, read_transfer(ftp, data))
}

fn rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------
// The topology itself

fn topology_has_no_direct_path_to_the_ftp_servers(ssh: SshServer) {
    let mut topo = Topology::new(ssh, true);
    topo.start_ftp(FtpKind::Proftpd, Host::Srv, "127.0.0.1", 21, false);
    topo.start_ftp(FtpKind::Proftpd, Host::Ftp3, FTP3_IP, 21, false);
    // cli reaches sshd…
    assert!(topo.cli.connect(sa(&format!("{SRV_IP}:22")), Duration::from_secs(5)).is_ok());
    // …but not the FTP server on srv's loopback, nor the third host.
    assert!(topo.cli.connect(sa(&format!("{SRV_IP}:21")), Duration::from_secs(2)).is_err());
    assert!(topo.cli.connect(sa("127.0.0.1:21"), Duration::from_secs(2)).is_err());
    assert!(topo.cli.connect(sa(&format!("{FTP3_IP}:21")), Duration::from_secs(2)).is_err());
    // srv reaches the third host.
    assert!(topo.srv.connect(sa(&format!("{FTP3_IP}:21")), Duration::from_secs(5)).is_ok());
    topo.finish();
}

// ---------------------------------------------------------------------------
// 1. Plain -L of the control port is not enough; -L ftp/ is.

fn plain_forward_logs_in_but_cannot_transfer_while_ftp_forward_can(ssh: SshServer) {
    let (topo, server, _plain, ftp) = plain_and_ftp_forwards(ssh);

    // The control connection works through the plain forward.
    let mut raw = RawFtp::connect(&topo.cli, local_endpoint(2120)).expect("connect plain forward");
    raw.login(FTP_USER, FTP_PASS).expect("login through the plain forward");
    quit(raw);

    let short = Duration::from_secs(20);
    for (client, mode) in [
        (Client::Curl, Mode::Pasv),
        (Client::Curl, Mode::Epsv),
        (Client::Curl, Mode::Port),
        (Client::Curl, Mode::Eprt),
        (Client::Ftplib, Mode::Pasv),
        (Client::Ftplib, Mode::Port),
    ] {
        let out = topo.path(&format!("plain-{client:?}-{mode:?}"));
        let ops = [Op::Get { remote: "mib.bin".into(), local: out.clone() }];
        let r = ftp_session(&topo, Host::Cli, client, mode, local_endpoint(2120), &ops, short);
        assert!(r.is_err(), "{client:?} {mode:?} through plain -L should fail, but worked:\n{}", r.unwrap_or_default());
        assert!(
            !out.exists() || sha256_file(&out) != sha256_file(&server.home.join("mib.bin")),
            "plain -L moved the file"
        );

        let out = topo.path(&format!("ftp-{client:?}-{mode:?}"));
        let ops = [Op::Get { remote: "mib.bin".into(), local: out.clone() }];
        if let Err(t) = ftp_session(&topo, Host::Cli, client, mode, local_endpoint(LPORT), &ops, T) {
            panic!("{client:?} {mode:?} through -L ftp/ failed:\n{t}\n{}", topo.logs());
        }
        expect_same_file(&topo, &server.home.join("mib.bin"), &out, &format!("{client:?} {mode:?} via -L ftp/"));
    }
    // -v logs each session's client address and each data channel's bytes.
    let log = topo.proc(ftp).log_text();
    assert!(log.contains("control connection from 127.0.0.1:"), "no session log line:\n{log}");
    assert!(log.lines().any(|l| l.contains("data channel") && l.contains("bytes")), "no data channel log line:\n{log}");
    finish_with_listeners(topo, &["127.0.0.1:2120", "127.0.0.1:2121"], &["10.231.0.2:22", "127.0.0.1:21"]);
}

// ---------------------------------------------------------------------------
// 2. Two servers × three clients × four modes; downloads, uploads, listings, sizes.

fn matrix(ssh: SshServer, kind: FtpKind, client: Client) {
    let (topo, server, _fwd) = local_ftp_setup(ssh, kind, false);
    transfer_matrix(&topo, &server, Host::Cli, client, &ALL_MODES, local_endpoint(LPORT));
    finish_local(topo);
}

/// One case per (server, client): `name => FtpKind, Client`.
macro_rules! matrix_cases {
    ($($name:ident => $kind:ident, $client:ident;)*) => {
        $(
            fn $name(ssh: SshServer) {
                matrix(ssh, FtpKind::$kind, Client::$client);
            }
        )*
    };
}

matrix_cases! {
    proftpd_curl_all_modes => Proftpd, Curl;
    proftpd_lftp_all_modes => Proftpd, Lftp;
    proftpd_ftplib_all_modes => Proftpd, Ftplib;
    pyftpdlib_curl_all_modes => Pyftpdlib, Curl;
    pyftpdlib_lftp_all_modes => Pyftpdlib, Lftp;
    pyftpdlib_ftplib_all_modes => Pyftpdlib, Ftplib;
}

/// 64 MiB each way: download with curl (EPSV) from proftpd, upload with
/// ftplib (PORT) to proftpd, download with lftp (PASV) from pyftpdlib and
/// upload with ftplib (EPRT) to pyftpdlib.
fn big_files_64_mib_both_ways(ssh: SshServer) {
    // One sshfwd with two FTP forwardings, one per server.
    let mut topo = Topology::new(ssh, false);
    let proftpd = topo.start_ftp(FtpKind::Proftpd, Host::Srv, "127.0.0.1", 21, true);
    let pyftpd = topo.start_ftp(FtpKind::Pyftpdlib, Host::Srv, "127.0.0.1", 2100, false);
    let fwd = topo.start_sshfwd(
        "ftp-two",
        &["-L", &format!("ftp/127.0.0.1:{LPORT}:127.0.0.1:21"), "-L", "ftp/127.0.0.1:2122:127.0.0.1:2100"],
    );
    topo.wait_local_forward(fwd, LPORT);
    topo.wait_local_forward(fwd, 2122);
    let big = proftpd.home.join(BIG_FILE.0);
    let cases = [
        (Client::Curl, Mode::Epsv, &proftpd, LPORT, true),
        (Client::Ftplib, Mode::Port, &proftpd, LPORT, false),
        (Client::Ftplib, Mode::Eprt, &pyftpd, 2122, false),
        (Client::Lftp, Mode::Pasv, &pyftpd, 2122, true),
    ];
    for (client, mode, server, port, download) in cases {
        let started = Instant::now();
        let name = format!("big-{client:?}-{mode:?}.bin");
        let (ops, local, remote) = if download {
            let local = topo.path(&name);
            (vec![Op::Get { remote: name.clone(), local: local.clone() }], local, server.home.join(&name))
        } else {
            (vec![Op::Put { local: big.clone(), remote: name.clone() }], big.clone(), server.home.join(&name))
        };
        if download {
            fs::copy(&big, &remote).expect("place big file");
        }
        if let Err(t) =
            ftp_session(&topo, Host::Cli, client, mode, local_endpoint(port), &ops, Duration::from_secs(120))
        {
            panic!("{client:?} {mode:?} 64 MiB failed:\n{t}\n{}", topo.logs());
        }
        expect_same_file(&topo, &remote, &local, &format!("64 MiB {client:?} {mode:?} download={download}"));
        eprintln!("64 MiB {client:?} {mode:?} download={download}: {:?}", started.elapsed());
    }
    topo.finish();
}

/// Hundreds of data channels in one control session: permits and
/// listeners are given back after every transfer.
fn many_transfers_in_one_session(ssh: SshServer) {
    let (topo, server, _fwd) = local_ftp_setup(ssh, FtpKind::Pyftpdlib, false);
    for mode in [Mode::Epsv, Mode::Port] {
        let work = topo.path(&format!("many-{mode:?}"));
        fs::create_dir_all(&work).expect("dir");
        let ops: Vec<Op> =
            (0..60).map(|i| Op::Get { remote: "one.bin".into(), local: work.join(format!("{i}.bin")) }).collect();
        if let Err(t) = ftp_session(&topo, Host::Cli, Client::Ftplib, mode, local_endpoint(LPORT), &ops, T) {
            panic!(
                "60 transfers in {mode:?}: {}\n{}",
                t.lines().rev().take(30).collect::<Vec<_>>().join("\n"),
                topo.logs()
            );
        }
        for i in 0..60 {
            expect_same_file(
                &topo,
                &server.home.join("one.bin"),
                &work.join(format!("{i}.bin")),
                &format!("{mode:?} #{i}"),
            );
        }
    }
    finish_local(topo);
}

/// lftp's `mirror --parallel` opens several control sessions at once, each
/// with many data channels; the mirrored tree is identical.
fn lftp_mirror_with_parallel_sessions(ssh: SshServer) {
    let (topo, server, _fwd) = local_ftp_setup(ssh, FtpKind::Proftpd, false);
    let tree = server.home.join("tree");
    fs::create_dir_all(tree.join("deeper")).expect("tree");
    let mut files = Vec::new();
    for i in 0..12 {
        let rel = if i % 4 == 3 { format!("deeper/f{i}.bin") } else { format!("f{i}.bin") };
        write_test_file(&tree.join(&rel), &rel, i * 37 * 1024 + i);
        files.push(rel);
    }
    for mode in [Mode::Pasv, Mode::Port] {
        let dest = topo.path(&format!("mirror-{mode:?}"));
        let script = format!(
            "set cmd:fail-exit yes; set net:max-retries 1; set net:timeout 15; set ftp:ssl-allow no; set ftp:passive-mode {}; \
             open -u {FTP_USER},{FTP_PASS} ftp://127.0.0.1:{LPORT}; mirror --parallel=4 tree {}",
            if mode == Mode::Pasv { "on" } else { "off" },
            dest.display()
        );
        let out = topo.run(Host::Cli, "lftp", &["-c", &script], Duration::from_secs(90));
        assert!(out.success(), "lftp mirror {mode:?}:\n{}\n{}", out.transcript(), topo.logs());
        for rel in &files {
            expect_same_file(&topo, &tree.join(rel), &dest.join(rel), &format!("mirror {mode:?} {rel}"));
        }
    }
    finish_local(topo);
}

/// The FTP server named by a host name that the SSH server resolves.
fn ftp_server_named_by_host_name(ssh: SshServer) {
    let (topo, server, _fwd) =
        ftp_setup(ssh, FtpKind::Proftpd, (Host::Srv, "127.0.0.1", false), "name", false, "localhost:21");
    transfer_matrix(&topo, &server, Host::Cli, Client::Curl, &ALL_MODES, local_endpoint(LPORT));
    finish_local(topo);
}

// ---------------------------------------------------------------------------
// 3. The FTP server on a third host; FTP clients on another host (gateway mode).

fn third_host_passive_modes(ssh: SshServer) {
    let mut topo = Topology::new(ssh, true);
    let server = topo.start_ftp(FtpKind::Proftpd, Host::Ftp3, FTP3_IP, 21, false);
    start_ftp_forward(&mut topo, "ftp3", false, &format!("{FTP3_IP}:21"));
    for client in [Client::Curl, Client::Lftp, Client::Ftplib] {
        transfer_matrix(&topo, &server, Host::Cli, client, &[Mode::Pasv, Mode::Epsv], local_endpoint(LPORT));
    }
    finish_with_listeners(topo, &["127.0.0.1:2121"], &["10.231.0.2:22"]);
}

/// Active mode with the FTP server on a third host (issue 12, section 4).
/// Without `FtpActiveBindAddress` a PORT names the SSH server's loopback,
/// which proftpd on ftp3 refuses (another address than its control peer),
/// and sshfwd says which option is missing. With it, the SSH server listens
/// on that address (GatewayPorts clientspecified) and every client's
/// PORT/EPRT transfers work; the data forwardings are gone afterwards.
fn third_host_active_modes_with_ftp_active_bind_address(ssh: SshServer) {
    let mut topo = Topology::new(ssh, true);
    topo.restart_ssh_server_with_gateway_ports();
    let server = topo.start_ftp(FtpKind::Proftpd, Host::Ftp3, FTP3_IP, 21, false);
    let target = format!("ftp/127.0.0.1:{LPORT}:{FTP3_IP}:21");

    let without = topo.start_sshfwd("ftp3-loopback", &["-L", &target]);
    topo.wait_local_forward(without, LPORT);
    let mut ftp = raw_login(&topo.cli, LPORT);
    type_i(&mut ftp);
    let (listener, port) = port_listener(&topo.cli);
    let (c, t) = ftp.cmd(&port_cmd(port)).expect("PORT");
    assert!(c >= 400, "PORT naming the SSH server's loopback should fail for a server on ftp3: {t}");
    let hint = topo.proc(without).wait_log("needs FtpActiveBindAddress", Duration::from_secs(10));
    assert!(hint.is_some(), "no hint about FtpActiveBindAddress:\n{}", topo.logs());
    drop(listener);
    quit(ftp);
    expect_listeners(&topo, Host::Srv, &["10.231.0.2:22"]);
    topo.stop(without);

    let bind = format!("FtpActiveBindAddress={SRV_IP_FTP3_SIDE}");
    let with = topo.start_sshfwd("ftp3-bind", &["-o", &bind, "-L", &target]);
    topo.wait_local_forward(with, LPORT);
    for client in [Client::Curl, Client::Lftp, Client::Ftplib] {
        transfer_matrix(&topo, &server, Host::Cli, client, &[Mode::Port, Mode::Eprt], local_endpoint(LPORT));
    }
    let log = topo.proc(with).log_text();
    assert!(log.contains(&format!("-> PORT {}", SRV_IP_FTP3_SIDE.replace('.', ","))), "PORT not rewritten:\n{log}");
    finish_with_listeners(topo, &["127.0.0.1:2121"], &["10.231.0.2:22"]);
}

/// `-L ftp/CLI_LAN_IP:2121:…`: FTP clients on another host of the client's
/// LAN use the forward (passive listeners bind the address the client
/// reached); a connection to a passive listener from another address is
/// refused and the real client still gets its data.
fn gateway_mode_serves_clients_on_another_host(ssh: SshServer) {
    let mut topo = Topology::new(ssh, false);
    topo.add_lan();
    let server = topo.start_ftp(FtpKind::Proftpd, Host::Srv, "127.0.0.1", 21, false);
    let endpoint = sa(&format!("{CLI_LAN_IP}:{LPORT}"));
    let fwd = topo.start_sshfwd("gw", &["-L", &format!("ftp/{endpoint}:127.0.0.1:21")]);
    topo.wait_forward_at(fwd, Host::Cli, endpoint);
    // The LAN host has no path to the SSH server's network.
    assert!(topo.ns(Host::Lan).connect(sa(&format!("{SRV_IP}:22")), Duration::from_secs(2)).is_err());
    for client in [Client::Curl, Client::Lftp, Client::Ftplib] {
        transfer_matrix(&topo, &server, Host::Lan, client, &ALL_MODES, endpoint);
    }

    // An intruder (cli itself, from another address) reaches the passive
    // listener before the real client does.
    let mut ftp = RawFtp::connect(topo.ns(Host::Lan), endpoint).expect("connect");
    ftp.login(FTP_USER, FTP_PASS).expect("login");
    type_i(&mut ftp);
    let data_addr = raw_passive(&mut ftp, CLI_LAN_IP, false);
    let intruder = topo.cli.connect(data_addr, Duration::from_secs(5));
    let real = topo.ns(Host::Lan).connect(data_addr, Duration::from_secs(5)).expect("the FTP client's data connection");
    retr(&topo, &mut ftp, "mib.bin");
    let got = read_transfer(&mut ftp, real);
    assert_eq!(sha256_bytes(&got), sha256_file(&server.home.join("mib.bin")), "the real client's data");
    expect_intruder_turned_away(&topo, fwd, intruder);
    quit(ftp);
    let log = topo.proc(fwd).log_text();
    eprintln!(
        "sshfwd about the intruder: {:?}",
        log.lines().filter(|l| l.contains(CLI_LAN_IP) && !l.contains("control connection")).take(5).collect::<Vec<_>>()
    );
    finish_with_listeners(topo, &[&endpoint.to_string()], &["10.231.0.2:22", "127.0.0.1:21"]);
}

// ---------------------------------------------------------------------------
// 4. -R ftp/: the FTP server beside sshfwd, the FTP client beside sshd.

fn remote_ftp_forward_fixed_port_proftpd(ssh: SshServer) {
    let (topo, server, _fwd) =
        ftp_setup(ssh, FtpKind::Proftpd, (Host::Cli, "127.0.0.1", false), "rftp", true, "127.0.0.1:21");
    for client in [Client::Ftplib, Client::Curl] {
        transfer_matrix(&topo, &server, Host::Srv, client, &ALL_MODES, local_endpoint(2121));
    }
    // Bounce protection applies in this direction too: the client's own
    // address is the originator sshd reports (127.0.0.1 on srv).
    let mut ftp = raw_login(&topo.srv, 2121);
    for cmd in ["PORT 10,9,9,9,4,1", "PORT 10,231,0,1,0,22", "PORT 127,0,0,1,0,21", "EPRT |1|10.231.0.1|2000|"] {
        let (c, t) = ftp.cmd(cmd).expect("reply");
        assert!((500..600).contains(&c), "-R: {cmd} should get 5xx from sshfwd: {t}");
    }
    quit(ftp);
    finish_with_listeners(topo, &["127.0.0.1:21"], &["10.231.0.2:22", "127.0.0.1:2121"]);
}

fn remote_ftp_forward_allocated_port_pyftpdlib(ssh: SshServer) {
    let mut topo = Topology::new(ssh, false);
    let server = topo.start_ftp(FtpKind::Pyftpdlib, Host::Cli, "127.0.0.1", 21, false);
    let fwd = topo.start_sshfwd("rftp0", &["-R", "ftp/127.0.0.1:0:127.0.0.1:21"]);
    let line = topo
        .proc(fwd)
        .wait_log("Allocated port ", Duration::from_secs(20))
        .unwrap_or_else(|| panic!("no 'Allocated port' line:\n{}", topo.logs()));
    let port: u16 = line
        .split("Allocated port ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("bad line {line:?}"));
    assert!(line.contains("127.0.0.1:21"), "{line}");
    topo.wait_remote_forward(fwd, port);
    for client in [Client::Lftp, Client::Ftplib] {
        transfer_matrix(&topo, &server, Host::Srv, client, &ALL_MODES, local_endpoint(port));
    }
    finish_with_listeners(topo, &["127.0.0.1:21"], &["10.231.0.2:22", &format!("127.0.0.1:{port}")]);
}

/// `-R ftp/` to an FTP server on another host of sshfwd's LAN: passive
/// replies become remote forwardings towards that host, PORT/EPRT become
/// listeners on sshfwd's LAN address that only the FTP server may use.
fn remote_ftp_forward_to_a_server_on_the_client_lan(ssh: SshServer) {
    let mut topo = Topology::new(ssh, false);
    topo.add_lan();
    let server = topo.start_ftp(FtpKind::Pyftpdlib, Host::Lan, LAN_IP, 21, false);
    let fwd = start_ftp_forward(&mut topo, "rlan", true, &format!("{LAN_IP}:21"));
    for client in [Client::Ftplib, Client::Lftp] {
        transfer_matrix(&topo, &server, Host::Srv, client, &ALL_MODES, local_endpoint(2121));
    }

    // Active mode: the listener sshfwd opens for PORT (on its LAN address)
    // takes its connection only from the FTP server; an intruder (sshfwd's
    // own host, from another address) is turned away.
    let mut ftp = raw_login(&topo.srv, 2121);
    type_i(&mut ftp);
    let (client_listener, cport) = port_listener(&topo.srv);
    let (c, t) = ftp.cmd(&port_cmd(cport)).expect("PORT");
    assert_eq!(c, 200, "{t}");
    // The rewritten PORT, as the server got it.
    let rewritten = topo
        .proc(server.proc)
        .wait_log("<- PORT 10,233,0,1,", Duration::from_secs(5))
        .unwrap_or_else(|| panic!("the server did not get a PORT naming sshfwd's LAN address:\n{}", topo.logs()));
    let nums: Vec<u16> =
        rewritten.rsplit(' ').next().unwrap_or("").split(',').filter_map(|n| n.trim().parse().ok()).collect();
    assert_eq!(nums.len(), 6, "{rewritten}");
    let data_listener = sa(&format!("{CLI_LAN_IP}:{}", nums[4] * 256 + nums[5]));
    let intruder = topo.cli.connect(data_listener, Duration::from_secs(5));
    retr(&topo, &mut ftp, "mib.bin");
    client_listener.set_nonblocking(false).expect("blocking");
    let (data, _) = topo.srv.run_in(move || client_listener.accept()).expect("the server's data connection");
    let got = read_transfer(&mut ftp, data);
    assert_eq!(sha256_bytes(&got), sha256_file(&server.home.join("mib.bin")));
    expect_intruder_turned_away(&topo, fwd, intruder);
    quit(ftp);
    finish_with_listeners(topo, &[], &["10.231.0.2:22", "127.0.0.1:2121"]);
}

/// 64 MiB each way through `-R ftp/`, passive download and active upload.
fn remote_ftp_forward_64_mib_both_ways(ssh: SshServer) {
    let (topo, server, _fwd) =
        ftp_setup(ssh, FtpKind::Proftpd, (Host::Cli, "127.0.0.1", true), "rbig", true, "127.0.0.1:21");
    let big = server.home.join(BIG_FILE.0);
    let local = topo.path("r-big-download.bin");
    let started = Instant::now();
    let ops = [Op::Get { remote: BIG_FILE.0.into(), local: local.clone() }];
    if let Err(t) =
        ftp_session(&topo, Host::Srv, Client::Ftplib, Mode::Epsv, local_endpoint(2121), &ops, Duration::from_secs(120))
    {
        panic!("-R 64 MiB download:\n{t}\n{}", topo.logs());
    }
    expect_same_file(&topo, &big, &local, "-R 64 MiB EPSV download");
    eprintln!("-R 64 MiB EPSV download: {:?}", started.elapsed());
    let started = Instant::now();
    let ops = [Op::Put { local: big.clone(), remote: "r-big-upload.bin".into() }];
    if let Err(t) =
        ftp_session(&topo, Host::Srv, Client::Curl, Mode::Port, local_endpoint(2121), &ops, Duration::from_secs(120))
    {
        panic!("-R 64 MiB upload:\n{t}\n{}", topo.logs());
    }
    expect_same_file(&topo, &big, &server.home.join("r-big-upload.bin"), "-R 64 MiB PORT upload");
    eprintln!("-R 64 MiB PORT upload: {:?}", started.elapsed());
    topo.finish();
}

// ---------------------------------------------------------------------------
// 5. IPv6 on either side.

/// An FTP client that reaches the forward over IPv6 (`-L ftp/[::1]:…`)
/// while the FTP server speaks IPv4: EPSV, and EPRT with an IPv6 address.
fn ipv6_client_side(ssh: SshServer) {
    let mut topo = Topology::new(ssh, false);
    let server = topo.start_ftp(FtpKind::Proftpd, Host::Srv, "127.0.0.1", 21, false);
    let endpoint = sa(&format!("[::1]:{LPORT}"));
    let fwd = topo.start_sshfwd("v6", &["-L", &format!("ftp/[::1]:{LPORT}:127.0.0.1:21")]);
    topo.wait_forward_at(fwd, Host::Cli, endpoint);
    for client in [Client::Curl, Client::Ftplib] {
        transfer_matrix(&topo, &server, Host::Cli, client, &[Mode::Epsv, Mode::Eprt], endpoint);
    }
    expect_listeners(&topo, Host::Cli, &["[::1]:2121"]);
    expect_listeners(&topo, Host::Srv, &["10.231.0.2:22", "127.0.0.1:21"]);
    topo.finish();
}

/// An FTP server that listens on IPv6 only (the SSH server's `::1`),
/// reached from an IPv4 FTP client: passive with EPSV (PASV cannot name an
/// IPv6 address).
fn ipv6_ftp_server_side_passive(ssh: SshServer) {
    ipv6_ftp_server_side(ssh, &[Mode::Epsv]);
}

/// The same in active mode: the remote forwarding for PORT/EPRT has to be
/// on the SSH server's IPv6 loopback and the command rewritten to
/// `EPRT |2|::1|port|`, since the FTP server sees its client on ::1.
fn ipv6_ftp_server_side_active(ssh: SshServer) {
    ipv6_ftp_server_side(ssh, &[Mode::Port, Mode::Eprt]);
}

fn ipv6_ftp_server_side(ssh: SshServer, modes: &[Mode]) {
    let (topo, server, _fwd) =
        ftp_setup(ssh, FtpKind::Pyftpdlib, (Host::Srv, "::1", false), "v6srv", false, "[::1]:21");
    for client in [Client::Curl, Client::Ftplib, Client::Lftp] {
        transfer_matrix(&topo, &server, Host::Cli, client, modes, local_endpoint(LPORT));
    }
    expect_listeners(&topo, Host::Cli, &["127.0.0.1:2121"]);
    expect_listeners(&topo, Host::Srv, &["10.231.0.2:22", "[::1]:21"]);
    topo.finish();
}

// ---------------------------------------------------------------------------
// 6. Twenty sessions transferring at once.

const CONCURRENT_CLIENT: &str = r#"
import ftplib, hashlib, socket, sys, threading

host, port, n, names = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
modes = ["pasv", "epsv", "port", "eprt"]
barrier = threading.Barrier(n, timeout=60)
results = [None] * n

class F(ftplib.FTP):
    trust_server_pasv_ipv4_address = True
    mode = "pasv"
    def makepasv(self):
        if self.mode == "epsv":
            return ftplib.parse229(self.sendcmd("EPSV"), self.sock.getpeername())
        return super().makepasv()
    def makeport(self):
        if self.mode == "eprt":
            sock = socket.create_server((self.sock.getsockname()[0], 0), backlog=1)
            h, p = sock.getsockname()[:2]
            self.sendeprt(h, p)
            sock.settimeout(self.timeout)
            return sock
        return super().makeport()

def worker(i):
    try:
        f = F(timeout=60)
        f.mode = modes[i % 4]
        f.connect(host, port)
        f.login("ftpuser", "secret")
        f.set_pasv(f.mode in ("pasv", "epsv"))
        name = names[(i // 4) % len(names)]
        barrier.wait()
        h = hashlib.sha256()
        size = [0]
        def got(b):
            h.update(b)
            size[0] += len(b)
        f.retrbinary("RETR " + name, got, blocksize=1 << 20)
        f.quit()
        results[i] = "OK %d %s %s %s %d" % (i, f.mode, name, h.hexdigest(), size[0])
    except Exception as e:
        results[i] = "ERR %d %r" % (i, e)
        try:
            barrier.abort()
        except Exception:
            pass

threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
for t in threads: t.start()
for t in threads: t.join(120)
for r in results: print(r)
"#;

fn twenty_concurrent_sessions(ssh: SshServer) {
    let (topo, server, _fwd) = local_ftp_setup(ssh, FtpKind::Proftpd, false);
    let names: Vec<String> = (1..=4).map(|m| format!("c{m}.bin")).collect();
    for (i, name) in names.iter().enumerate() {
        write_test_file(&server.home.join(name), name, (i + 1) << 20);
    }
    let script = topo.script("concurrent.py", CONCURRENT_CLIENT);
    let port = LPORT.to_string();
    let mut args = vec![script.as_str(), "127.0.0.1", port.as_str(), "20"];
    args.extend(names.iter().map(String::as_str));
    let started = Instant::now();
    let out = topo.run(Host::Cli, "python3", &args, Duration::from_secs(150));
    let ok: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("OK ")).collect();
    assert_eq!(ok.len(), 20, "not all 20 sessions succeeded:\n{}\n{}", out.transcript(), topo.logs());
    for line in ok {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (name, sha) = (f[3], f[4]);
        assert_eq!(sha, sha256_file(&server.home.join(name)), "session {line}");
    }
    eprintln!("20 concurrent sessions: {:?}", started.elapsed());
    finish_local(topo);
}

// ---------------------------------------------------------------------------
// 7. Security: bounce, hostile passive replies, TLS.

fn bounce_attempts_are_refused_and_not_forwarded(ssh: SshServer) {
    let (topo, server, fwd, mut ftp) = local_session(ssh, FtpKind::Pyftpdlib, false);
    let before_srv = topo.srv.listening_addresses();
    for cmd in [
        "PORT 10,9,9,9,4,1",      // another host
        "PORT 10,231,0,2,0,22",   // the SSH server's sshd port
        "PORT 127,0,0,1,0,21",    // own address, privileged port
        "PORT 127,0,0,1,3,255",   // own address, port 1023
        "EPRT |1|10.9.9.9|1025|", // another host, extended
        "EPRT |1|127.0.0.1|22|",  // privileged port, extended
        "EPRT |2|::1|1025|",      // a different address family/address
        "PORT 300,1,1,1,4,1",     // garbage
    ] {
        let started = Instant::now();
        let (c, t) = ftp.cmd(cmd).expect("reply to bounce attempt");
        assert!((500..600).contains(&c), "{cmd} should get a 5xx reply from sshfwd, got: {t}\n{}", topo.logs());
        assert!(started.elapsed() < Duration::from_secs(5), "{cmd}: slow reply");
    }
    // Nothing reached the FTP server: pyftpdlib logs every command it gets.
    thread::sleep(Duration::from_millis(200));
    let server_log = topo.proc(server.proc).log_text();
    for l in server_log.lines() {
        assert!(!(l.contains("<- PORT") || l.contains("<- EPRT")), "the FTP server saw a bounce attempt: {l}");
    }
    // No remote forwarding was requested for them.
    assert_eq!(topo.srv.listening_addresses(), before_srv, "a remote forwarding appeared on srv");
    // The session still works.
    expect_raw_get(&topo, &mut ftp, &server, "mib.bin", false);
    quit(ftp);
    // (The server log does show the commands that did reach it.)
    let server_log = topo.proc(server.proc).log_text();
    assert!(
        server_log.contains("<- PASV") && server_log.contains("<- RETR"),
        "pyftpdlib logs no commands:\n{server_log}"
    );
    let log = topo.proc(fwd).log_text();
    eprintln!("sshfwd log lines about the refusals:");
    for l in log.lines().filter(|l| l.contains("PORT") || l.contains("EPRT") || l.contains("bounce")) {
        eprintln!("  {l}");
    }
    finish_local(topo);
}

/// The skeleton of the fake FTP servers below (`python3 -u script
/// CTRL_PORT [ARGS…]`): a server's own part goes between this prelude and
/// [`FAKE_FTP_MAIN`] (see [`fake_ftp_script`]).
const FAKE_FTP_PRELUDE: &str = r#"
import socket, sys, threading

ctrl_port = int(sys.argv[1])
"#;

/// Listens on 127.0.0.1:CTRL_PORT, says READY, and serves each control
/// connection on a thread: sends the server's `GREETING`, then gives every
/// command line to the server's `handle(c, line, cmd, verb, state)` (`state`
/// a dict per session), which answers it and returns True, or returns False
/// for the defaults: USER 331, PASS 230, QUIT 221 and the end of the
/// session, anything else 200 ok.
const FAKE_FTP_MAIN: &str = r#"
def session(c):
    state = {}
    f = c.makefile("rb")
    c.sendall(GREETING)
    for line in f:
        cmd = line.strip().decode(errors="replace").upper()
        verb = cmd.split(" ")[0]
        if handle(c, line, cmd, verb, state): continue
        elif verb == "USER": c.sendall(b"331 pass\r\n")
        elif verb == "PASS": c.sendall(b"230 ok\r\n")
        elif verb == "QUIT":
            c.sendall(b"221 bye\r\n"); break
        else: c.sendall(b"200 ok\r\n")
    c.close()

s = socket.create_server(("127.0.0.1", ctrl_port))
print("READY", flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=session, args=(c,), daemon=True).start()
"#;

/// A whole fake FTP server: the prelude, `own_part`, the main loop.
fn fake_ftp_script(own_part: &str) -> String {
    [FAKE_FTP_PRELUDE, own_part, FAKE_FTP_MAIN].concat()
}

/// Starts the fake FTP server `own_part` (see [`fake_ftp_script`]) on
/// `host`'s 127.0.0.1:2100, with `args` after the port; waits until it listens.
fn start_fake_ftp(topo: &mut Topology, host: Host, name: &str, own_part: &str, args: &[&str]) {
    let script = topo.script(&format!("{name}.py"), &fake_ftp_script(own_part));
    let mut all = vec!["-u", script.as_str(), "2100"];
    all.extend_from_slice(args);
    topo.spawn(host, &format!("{name}-ftp"), "python3", &all, &[]);
    assert!(topo.ns(host).wait_port(sa("127.0.0.1:2100"), Duration::from_secs(10)), "{}", topo.logs());
}

/// A hostile FTP server: its PASV replies name another host (10.9.9.9, an
/// address of srv's loopback where a trap listens) and then a privileged
/// port; listeners record every connection they get.
const HOSTILE_SERVER: &str = r#"
log = sys.argv[2]

def record(msg):
    with open(log, "a") as f:
        f.write(msg + "\n")

def trap(s, tag, payload):
    while True:
        c, peer = s.accept()
        record("%s %s" % (tag, peer))
        try:
            c.sendall(payload)
        finally:
            c.close()

# Traps are bound before READY: the test never probes them itself.
for addr, port, tag, payload in [("10.9.9.9", 1025, "FOREIGN", b"foreign"), ("10.9.9.9", 23, "FOREIGN-LOW", b"foreign-low"),
                                 ("127.0.0.1", 1025, "CONTROL-HOST", b"control-host"), ("127.0.0.1", 23, "LOW-PORT", b"low-port")]:
    threading.Thread(target=trap, args=(socket.create_server((addr, port)), tag, payload), daemon=True).start()

replies = ["227 Entering Passive Mode (10,9,9,9,4,1).", "227 Entering Passive Mode (127,0,0,1,0,23)",
           "227 Entering Passive Mode (10,9,9,9,0,23)", "229 Entering Extended Passive Mode (|||23|)"]
GREETING = b"220 hostile\r\n"

def handle(c, line, cmd, verb, state):
    if cmd.startswith("PASV") or cmd.startswith("EPSV"):
        n = state.get("n", 0)
        r = replies[min(n, len(replies) - 1)]; state["n"] = n + 1
        record("REPLIED " + r)
        c.sendall(r.encode() + b"\r\n")
    elif cmd.startswith("SITE FLOOD"):
        # A reply line far longer than any FTP line, never ended.
        c.sendall(b"200 " + b"x" * 20000)
    else: return False
    return True
"#;

/// Starts [`HOSTILE_SERVER`] on `host` (with 10.9.9.9 on its loopback);
/// returns the file where its traps record connections.
fn start_hostile_ftp(topo: &mut Topology, host: Host) -> std::path::PathBuf {
    topo.ns(host).ip(&["addr", "add", "10.9.9.9/32", "dev", "lo"]);
    let trap_log = topo.path("hostile-connections.log");
    start_fake_ftp(topo, host, "hostile", HOSTILE_SERVER, &[trap_log.to_str().expect("utf-8")]);
    trap_log
}

/// The FTP server's host and the FTP client's host for `-R` (when
/// `remote`) or `-L`.
fn server_and_client_hosts(remote: bool) -> (Host, Host) {
    if remote {
        (Host::Cli, Host::Srv)
    } else {
        (Host::Srv, Host::Cli)
    }
}

/// A topology with a fake FTP server, started by `start` on the FTP
/// server's host (see [`server_and_client_hosts`]) at 127.0.0.1:2100, and
/// sshfwd `name` forwarding 127.0.0.1:2121 to it with `-R` when `remote`,
/// else `-L`. Returns the topology, what `start` returned, the sshfwd and
/// the FTP client's host.
fn fake_ftp_setup<T>(
    ssh: SshServer,
    name: &str,
    remote: bool,
    start: impl FnOnce(&mut Topology, Host) -> T,
) -> (Topology, T, usize, Host) {
    let mut topo = Topology::new(ssh, false);
    let (server_host, client_host) = server_and_client_hosts(remote);
    let started = start(&mut topo, server_host);
    let fwd = start_ftp_forward(&mut topo, name, remote, "127.0.0.1:2100");
    (topo, started, fwd, client_host)
}

/// The end of a test on [`start_ftp_forward`]: on the FTP client's side,
/// only the forward's listener (and sshd) is left.
fn finish_on_client_side(topo: Topology, remote: bool) {
    if remote {
        expect_listeners(&topo, Host::Srv, &["10.231.0.2:22", "127.0.0.1:2121"]);
    } else {
        expect_listeners(&topo, Host::Cli, &["127.0.0.1:2121"]);
    }
    topo.finish();
}

/// The data address a passive reply (227 or 229, else None) names, as seen
/// from the client's host.
fn passive_target(code: u16, text: &str) -> Option<SocketAddr> {
    match code {
        227 => parse_227(text),
        229 => parse_229(text).map(local_endpoint),
        _ => None,
    }
}

/// sshfwd with one FTP forwarding of 127.0.0.1:2121 to `target`: `-R`
/// (listening on srv) when `remote`, else `-L`; waits until it listens.
fn start_ftp_forward(topo: &mut Topology, name: &str, remote: bool, target: &str) -> usize {
    let spec = format!("ftp/127.0.0.1:{LPORT}:{target}");
    let fwd = topo.start_sshfwd(name, &[if remote { "-R" } else { "-L" }, &spec]);
    if remote {
        topo.wait_remote_forward(fwd, LPORT);
    } else {
        topo.wait_local_forward(fwd, LPORT);
    }
    fwd
}

/// Two cases of `case(ssh, remote)`: the first through `-L ftp/`, the
/// second through `-R ftp/`.
macro_rules! local_and_remote_cases {
    ($(#[$la:meta])* $local:ident, $(#[$ra:meta])* $remote:ident => $case:ident) => {
        $(#[$la])*
        fn $local(ssh: SshServer) {
            $case(ssh, false);
        }

        $(#[$ra])*
        fn $remote(ssh: SshServer) {
            $case(ssh, true);
        }
    };
}

fn hostile_passive(ssh: SshServer, remote: bool) {
    let (topo, trap_log, fwd, client_host) = fake_ftp_setup(ssh, "hostile", remote, start_hostile_ftp);

    let mut ftp = RawFtp::connect(topo.ns(client_host), local_endpoint(LPORT)).expect("connect");
    ftp.login("anonymous", "x").expect("login");
    let mut outcomes = Vec::new();
    for (i, verb) in ["PASV", "PASV", "PASV", "EPSV"].iter().enumerate() {
        let (c, t) = ftp.cmd(verb).expect("passive reply");
        let target = passive_target(c, &t);
        let data = target.and_then(|a| read_all_from(topo.ns(client_host), a));
        if let Some(a) = target {
            assert_eq!(a.ip().to_string(), "127.0.0.1", "reply {i} rewritten to a non-local address: {t}");
        }
        outcomes.push(format!("{verb} #{i}: reply {t:?} data {data:?}"));
        match i {
            // A foreign address on an unprivileged port: redirected to the
            // control host, or refused.
            0 => assert!(
                data.is_none() || data.as_deref() == Some("control-host") || data.as_deref() == Some(""),
                "{outcomes:?}"
            ),
            // Privileged ports: refused (no data from port 23 anywhere).
            _ => assert!(!data.as_deref().unwrap_or("").contains("low"), "{outcomes:?}"),
        }
    }
    // An overlong reply line from the server ends that session only.
    let mut other = RawFtp::connect(topo.ns(client_host), local_endpoint(LPORT)).expect("connect");
    other.login("anonymous", "x").expect("login");
    ftp.send_raw(b"SITE FLOOD\r\n").expect("SITE FLOOD");
    let started = Instant::now();
    let mut flooded = Vec::new();
    let r = ftp.stream.read_to_end(&mut flooded);
    assert!(
        r.is_ok() || r.as_ref().is_err_and(|e| e.kind() != std::io::ErrorKind::WouldBlock),
        "the flooded session did not end: {r:?}"
    );
    assert!(flooded.len() <= 8192 + 1024, "sshfwd passed on {} bytes of one reply line", flooded.len());
    eprintln!(
        "overlong server line: session ended after {:?} with {} bytes passed on",
        started.elapsed(),
        flooded.len()
    );
    let (c, t) = other.cmd("NOOP").expect("the other session");
    assert_eq!(c, 200, "{t}");
    quit(other);
    drop(ftp);
    thread::sleep(Duration::from_millis(300));
    let connections = fs::read_to_string(&trap_log).unwrap_or_default();
    eprintln!("hostile passive outcomes (remote={remote}):\n  {}\ntrap log:\n{connections}", outcomes.join("\n  "));
    assert!(!connections.contains("FOREIGN"), "the forward connected to 10.9.9.9:\n{connections}\n{}", topo.logs());
    assert!(
        !connections.contains("LOW-PORT"),
        "the forward connected to a privileged passive port:\n{connections}\n{}",
        topo.logs()
    );
    let log = topo.proc(fwd).log_text();
    assert!(log.contains("10.9.9.9"), "sshfwd -v should say that it ignored the passive address 10.9.9.9:\n{log}");
    finish_on_client_side(topo, remote);
}

local_and_remote_cases! {
    hostile_passive_replies_do_not_reach_other_hosts_or_low_ports,
    /// The same with `-R ftp/`: the hostile server is beside sshfwd, whose own
    /// host must not be made to connect elsewhere.
    hostile_passive_replies_through_remote_ftp_forward => hostile_passive
}

/// The security rules are opt-out, one option each: a passive reply's own
/// address is used only with `FtpPassiveAddress reply`, and a foreign one
/// only with `FtpAllowForeignPassive yes` as well; PORT to another host only
/// with `FtpAllowThirdPartyActive yes`; AUTH TLS reaches the server only with
/// `FtpTls pass`.
fn security_options_relax_the_rules_one_by_one(ssh: SshServer) {
    let mut topo = Topology::new(ssh, false);
    let trap_log = start_hostile_ftp(&mut topo, Host::Srv);
    let target = "127.0.0.1:2100";
    let reply_only =
        topo.start_sshfwd("reply", &["-o", "FtpPassiveAddress=reply", "-L", &format!("ftp/127.0.0.1:2122:{target}")]);
    let foreign = topo.start_sshfwd(
        "foreign",
        &[
            "-o",
            "FtpPassiveAddress=reply",
            "-o",
            "FtpAllowForeignPassive=yes",
            "-L",
            &format!("ftp/127.0.0.1:2123:{target}"),
        ],
    );
    let third = topo.start_sshfwd(
        "third",
        &["-o", "FtpAllowThirdPartyActive=yes", "-o", "FtpTls=pass", "-L", &format!("ftp/127.0.0.1:2124:{target}")],
    );
    for (p, port) in [(reply_only, 2122), (foreign, 2123), (third, 2124)] {
        topo.wait_local_forward(p, port);
    }
    let first_pasv = |port: u16| -> (String, Option<String>) {
        let mut ftp = RawFtp::connect(&topo.cli, local_endpoint(port)).expect("connect");
        ftp.login("anonymous", "x").expect("login");
        let (c, t) = ftp.cmd("PASV").expect("PASV");
        let data = (c == 227).then(|| parse_227(&t)).flatten().and_then(|a| read_all_from(&topo.cli, a));
        quit(ftp);
        (t, data)
    };
    // `reply` alone: the foreign address is refused, not redirected.
    let (t, data) = first_pasv(2122);
    assert!(t.starts_with("425"), "FtpPassiveAddress=reply with a foreign address: {t} / {data:?}");
    thread::sleep(Duration::from_millis(200));
    assert!(!fs::read_to_string(&trap_log).unwrap_or_default().contains("FOREIGN"));
    // `reply` and `FtpAllowForeignPassive yes`: the data comes from 10.9.9.9.
    let (t, data) = first_pasv(2123);
    assert_eq!(data.as_deref(), Some("foreign"), "FtpAllowForeignPassive=yes: {t}");
    assert!(fs::read_to_string(&trap_log).unwrap_or_default().contains("FOREIGN"));
    // `FtpAllowThirdPartyActive yes`: a PORT to another host is forwarded
    // (the server answers, not sshfwd); `FtpTls pass`: so is AUTH TLS.
    let mut ftp = RawFtp::connect(&topo.cli, local_endpoint(2124)).expect("connect");
    ftp.login("anonymous", "x").expect("login");
    let (c, t) = ftp.cmd("PORT 10,231,0,1,39,16").expect("PORT");
    assert_eq!((c, t.trim_end()), (200, "200 ok"), "third-party PORT with FtpAllowThirdPartyActive=yes");
    let (c, t) = ftp.cmd("AUTH TLS").expect("AUTH");
    assert_eq!((c, t.trim_end()), (200, "200 ok"), "AUTH TLS with FtpTls=pass");
    drop(ftp);
    let log = topo.proc(third).log_text();
    assert!(log.contains("TLS passed through"), "no warning for a passed-through AUTH TLS:\n{log}");
    topo.finish();
}

fn auth_tls_is_refused_fast_and_clients_fall_back(ssh: SshServer) {
    let (topo, server, _fwd) = local_ftp_setup(ssh, FtpKind::Proftpd, false);
    for auth in ["AUTH TLS", "AUTH SSL", "auth tls"] {
        let mut ftp = RawFtp::connect(&topo.cli, local_endpoint(LPORT)).expect("connect");
        let (c, _) = ftp.reply().expect("greeting");
        assert_eq!(c, 220);
        let started = Instant::now();
        let (c, t) = ftp.cmd(auth).expect("AUTH reply");
        assert_eq!(c, 534, "{auth}: {t}");
        assert!(started.elapsed() < Duration::from_secs(5), "{auth} took {:?}", started.elapsed());
        let (c, t) = ftp.cmd(&format!("USER {FTP_USER}")).expect("USER");
        assert_eq!(c, 331, "{t}");
        let (c, t) = ftp.cmd(&format!("PASS {FTP_PASS}")).expect("PASS");
        assert_eq!(c, 230, "{t}");
        expect_raw_get(&topo, &mut ftp, &server, "one.bin", true);
        quit(ftp);
    }
    // lftp tries AUTH TLS by default (ftp:ssl-allow yes) and must fall back.
    let out_file = topo.path("lftp-tls-fallback.bin");
    let script = format!(
        "set net:max-retries 1; set net:timeout 10; set cmd:fail-exit yes; open -u {FTP_USER},{FTP_PASS} ftp://127.0.0.1:{LPORT}; get mib.bin -o {}",
        out_file.display()
    );
    let out = topo.run(Host::Cli, "lftp", &["-d", "-c", &script], Duration::from_secs(30));
    assert!(out.success(), "lftp with ssl-allow:\n{}\n{}", out.transcript(), topo.logs());
    assert!(
        out.stderr.contains("AUTH TLS") && out.stderr.contains("534"),
        "lftp did not try AUTH TLS:\n{}",
        out.transcript()
    );
    expect_same_file(&topo, &server.home.join("mib.bin"), &out_file, "lftp after AUTH TLS refusal");
    // curl --ssl (try TLS, fall back) as well.
    let out_file = topo.path("curl-tls-fallback.bin");
    let url = format!("ftp://{FTP_USER}:{FTP_PASS}@127.0.0.1:{LPORT}/mib.bin");
    let out = topo.run(
        Host::Cli,
        "curl",
        &["-sS", "-v", "--ssl", "--max-time", "30", "-o", out_file.to_str().expect("utf-8"), &url],
        Duration::from_secs(35),
    );
    assert!(out.success(), "curl --ssl:\n{}", out.transcript());
    expect_same_file(&topo, &server.home.join("mib.bin"), &out_file, "curl --ssl after AUTH TLS refusal");
    topo.finish();
}

// ---------------------------------------------------------------------------
// 8. Control-channel framing: split, batched, overlong and unusual lines.

fn control_lines_split_across_writes_and_batched_in_one_write(ssh: SshServer) {
    let (topo, server, _fwd) = local_ftp_setup(ssh, FtpKind::Proftpd, false);
    let mut ftp = RawFtp::connect(&topo.cli, local_endpoint(LPORT)).expect("connect");
    let (c, _) = ftp.reply().expect("greeting");
    assert_eq!(c, 220);
    // "US" … "ER ftpuser\r\n": two TCP segments (TCP_NODELAY, a pause between).
    ftp.send_raw(b"US").expect("write");
    thread::sleep(Duration::from_millis(150));
    ftp.send_raw(format!("ER {FTP_USER}\r\n").as_bytes()).expect("write");
    let (c, t) = ftp.reply().expect("USER reply");
    assert_eq!(c, 331, "{t}");
    // The password byte by byte.
    for b in format!("PASS {FTP_PASS}\r\n").bytes() {
        ftp.send_raw(&[b]).expect("write");
        thread::sleep(Duration::from_millis(10));
    }
    let (c, t) = ftp.reply().expect("PASS reply");
    assert_eq!(c, 230, "{t}");
    // A PASV split before its CRLF, the CR and LF apart: still rewritten.
    ftp.send_raw(b"TYPE I\r\nPA").expect("write");
    let (c, t) = ftp.reply().expect("TYPE reply");
    assert_eq!(c, 200, "{t}");
    thread::sleep(Duration::from_millis(100));
    ftp.send_raw(b"SV\r").expect("write");
    thread::sleep(Duration::from_millis(100));
    ftp.send_raw(b"\n").expect("write");
    let (c, t) = ftp.reply().expect("PASV reply");
    assert_eq!(c, 227, "{t}");
    let data_addr = parse_227(&t).expect("227");
    assert_eq!(data_addr.ip().to_string(), "127.0.0.1", "{t}");
    let mut data = topo.cli.connect(data_addr, Duration::from_secs(5)).expect("data connection");
    data.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    // RETR batched with a NOOP in one write: both replies arrive in order.
    ftp.send_raw(b"RETR mib.bin\r\n").expect("write");
    let (c, t) = ftp.reply().expect("150");
    assert_eq!(c, 150, "{t}");
    let mut buf = Vec::new();
    data.read_to_end(&mut buf).expect("data");
    drop(data);
    let (c, t) = ftp.reply().expect("226");
    assert_eq!(c, 226, "{t}");
    assert_eq!(sha256_bytes(&buf), sha256_file(&server.home.join("mib.bin")));
    ftp.send_raw(b"NOOP\r\nNOOP\r\nPWD\r\n").expect("write");
    for want in [200, 200, 257] {
        let (c, t) = ftp.reply().expect("batched reply");
        assert_eq!(c, want, "{t}");
    }
    // (Bare-LF framing is not tried end to end: proftpd itself waits for CRLF.)
    quit(ftp);
    expect_listeners(&topo, Host::Cli, &["127.0.0.1:2121"]);
    topo.finish();
}

fn overlong_line_ends_only_its_session(ssh: SshServer) {
    let (topo, server, fwd, mut good) = local_session(ssh, FtpKind::Proftpd, false);

    let mut bad = RawFtp::connect(&topo.cli, local_endpoint(LPORT)).expect("connect");
    let (c, _) = bad.reply().expect("greeting");
    assert_eq!(c, 220);
    let long = vec![b'A'; 9000];
    let _ = bad.send_raw(b"USER ");
    let _ = bad.send_raw(&long);
    // The session must end (EOF or reset), with at most an error reply first.
    let started = Instant::now();
    let mut rest = Vec::new();
    let mut chunk = [0u8; 4096];
    let ended = loop {
        match bad.stream.read(&mut chunk) {
            Ok(0) => break true,
            Ok(n) => rest.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                break false
            }
            Err(_) => break true,
        }
        if started.elapsed() > Duration::from_secs(10) {
            break false;
        }
    };
    assert!(ended, "overlong line did not end the session; got {:?}\n{}", String::from_utf8_lossy(&rest), topo.logs());
    let text = String::from_utf8_lossy(&rest);
    assert!(!text.contains("331"), "the overlong USER was forwarded: {text}");
    let _ = bad.stream.shutdown(Shutdown::Both);

    // The other session keeps working, and new sessions too.
    let (c, t) = good.cmd("NOOP").expect("NOOP");
    assert_eq!(c, 200, "{t}");
    expect_raw_get(&topo, &mut good, &server, "mib.bin", false);
    quit(good);
    let mut fresh = RawFtp::connect(&topo.cli, local_endpoint(LPORT)).expect("connect");
    fresh.login(FTP_USER, FTP_PASS).expect("login after overlong line");
    expect_raw_get(&topo, &mut fresh, &server, "one.bin", true);
    quit(fresh);
    let log = topo.proc(fwd).log_text();
    eprintln!("sshfwd on the overlong line: {:?}", log.lines().filter(|l| l.contains("long")).collect::<Vec<_>>());
    assert!(log.contains("longer than 8192 bytes"), "no clear log line for the overlong line:\n{log}");
    finish_local(topo);
}

/// A quirky but honest FTP server: every PASV/EPSV reply points at a fresh
/// data listener of its own on 127.0.0.1, in the forms seen in the wild.
const QUIRKY_SERVER: &str = r#"
pasv_forms = ["227 Entering Passive Mode ({h},{p1},{p2}).", "227 Entering Passive Mode {h},{p1},{p2}",
              "227 ={h},{p1},{p2}", "227 Entering Passive Mode (0,0,0,0,{p1},{p2})",
              "227 Passive ({h},{p1},{p2}) is ready, go ahead",
              "227-Entering Passive Mode ({h},{p1},{p2})\r\n227 That was the address",
              "227-Here it comes\r\n227 Entering Passive Mode ({h},{p1},{p2})",
              "DEAD 227 Entering Passive Mode ({h},{p1},{p2})"]
epsv_forms = ["229 Entering Extended Passive Mode (|||{p}|)", "229 Extended Passive (!!!{p}!)", "229 EPSV ok (|||{p}|)."]
GREETING = b"220-quirky server\r\n220-second line of the greeting\r\n220 ready\r\n"

def serve_one(s, payload):
    c, _ = s.accept()
    c.sendall(payload)
    c.close()
    s.close()

def handle(c, line, cmd, verb, counts):
    if b"SITE ECHO" in line:
        # What arrived, byte for byte, in hex.
        c.sendall(b"200 " + line.hex().encode() + b"\r\n")
    elif b"SITE WEIRD" in line:
        c.sendall(b"200-\xff\xfe caf\xc3\xa9 \x01\x7f\r\n200-227 Entering Passive Mode (10,9,9,9,4,1) (quoted, not a reply)\r\n200 end\r\n")
    elif verb in ("PASV", "EPSV"):
        forms = pasv_forms if verb == "PASV" else epsv_forms
        form = forms[counts.get(verb, 0) % len(forms)]
        counts[verb] = counts.get(verb, 0) + 1
        s = socket.create_server(("127.0.0.1", 0))
        p = s.getsockname()[1]
        payload = ("%s:%s\n" % (verb, form)).encode() * 1000
        if form.startswith("DEAD "):
            # Nothing listens there any more.
            form = form[5:]
            s.close()
        else:
            threading.Thread(target=serve_one, args=(s, payload), daemon=True).start()
        c.sendall(form.format(h="127,0,0,1", p1=p >> 8, p2=p & 255, p=p).encode() + b"\r\n")
    else: return False
    return True
"#;

fn quirky_passive(ssh: SshServer, remote: bool) {
    let start = |topo: &mut Topology, host| start_fake_ftp(topo, host, "quirky", QUIRKY_SERVER, &[]);
    let (topo, (), fwd, client_host) = fake_ftp_setup(ssh, "quirky", remote, start);
    let client_ns = topo.ns(client_host);
    let mut ftp = RawFtp::connect(client_ns, local_endpoint(LPORT)).expect("connect");
    // The multi-line greeting arrives whole.
    let (c, greeting) = ftp.reply().expect("greeting");
    assert_eq!(c, 220);
    assert!(greeting.contains("second line of the greeting"), "{greeting:?}");
    let (c, _) = ftp.cmd("USER anonymous").expect("USER");
    assert_eq!(c, 331);
    let (c, _) = ftp.cmd("PASS x").expect("PASS");
    assert_eq!(c, 230);
    // Lines that are not rewritten pass byte for byte, both ways: Telnet
    // IAC sequences, 8-bit bytes, control characters.
    for sent in [
        b"SITE ECHO plain\r\n".to_vec(),
        b"\xff\xf4\xff\xf2SITE ECHO after IAC IP, IAC DM\r\n".to_vec(),
        b"SITE ECHO caf\xc3\xa9 \xff\xff \x01\x7f\x80\r\n".to_vec(),
        b"SITE ECHO bare LF\n".to_vec(),
    ] {
        ftp.send_raw(&sent).expect("send");
        let back = ftp.line_bytes().expect("echo reply");
        let hex: String = sent.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(String::from_utf8_lossy(&back).trim_end(), format!("200 {hex}"), "sent {sent:?}");
    }
    ftp.send_raw(b"SITE WEIRD\r\n").expect("send");
    let mut weird = Vec::new();
    for _ in 0..3 {
        weird.extend(ftp.line_bytes().expect("weird reply"));
    }
    assert_eq!(
        weird,
        b"200-\xff\xfe caf\xc3\xa9 \x01\x7f\r\n200-227 Entering Passive Mode (10,9,9,9,4,1) (quoted, not a reply)\r\n200 end\r\n".to_vec(),
        "server reply altered"
    );
    for (verb, n) in [("PASV", 7), ("EPSV", 3)] {
        for i in 0..n {
            let (c, t) = ftp.cmd(verb).expect("reply");
            let addr = passive_target(c, &t)
                .unwrap_or_else(|| panic!("{verb} #{i}: not rewritten to something usable: {t:?}\n{}", topo.logs()));
            assert_eq!(addr.ip().to_string(), "127.0.0.1", "{verb} #{i}: {t:?}");
            let mut s = client_ns
                .connect(addr, Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("{verb} #{i} {t:?}: {e}\n{}", topo.logs()));
            s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
            let mut got = Vec::new();
            s.read_to_end(&mut got).expect("data");
            let text = String::from_utf8_lossy(&got);
            assert_eq!(got.len() % 1000, 0, "{verb} #{i}: {} bytes", got.len());
            let first = text.lines().next().unwrap_or("");
            assert!(!got.is_empty() && first.starts_with(verb), "{verb} #{i}: got {first:?}");
            eprintln!(
                "{verb} #{i}: server said {:?}, client got {t:?}",
                first.split_once(':').map(|x| x.1).unwrap_or("")
            );
        }
    }
    // The last PASV names a port where nothing listens: the client's data
    // connection ends at once, empty, and the session goes on.
    let (c, t) = ftp.cmd("PASV").expect("last PASV");
    if c == 227 {
        let addr = parse_227(&t).expect("227");
        let started = Instant::now();
        if let Ok(mut s) = client_ns.connect(addr, Duration::from_secs(5)) {
            s.set_read_timeout(Some(Duration::from_secs(15))).expect("timeout");
            let mut got = Vec::new();
            let r = s.read_to_end(&mut got);
            assert!(
                got.is_empty() && r.is_ok() || r.as_ref().is_err_and(|e| e.kind() != std::io::ErrorKind::WouldBlock),
                "dead passive port: the data connection did not end ({r:?}, {} bytes, after {:?})\nsshfwd:\n{}",
                got.len(),
                started.elapsed(),
                topo.proc(fwd).log_text().lines().filter(|l| l.contains("ftp session")).collect::<Vec<_>>().join("\n")
            );
        }
        eprintln!("PASV to a dead port: data connection ended after {:?}", started.elapsed());
        assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    }
    let (c, t) = ftp.cmd("NOOP").expect("NOOP after a dead data channel");
    assert_eq!(c, 200, "{t}");
    quit(ftp);
    finish_on_client_side(topo, remote);
}

local_and_remote_cases! {
    passive_replies_in_real_world_forms_are_rewritten,
    /// The same through `-R ftp/` (the server beside sshfwd, the client beside
    /// sshd), where passive replies become remote forwardings.
    passive_replies_in_real_world_forms_through_remote_ftp_forward => quirky_passive
}

/// A server that refuses PORT twice, with a one-line and a multi-line
/// reply, then accepts it.
const PORT_REFUSER: &str = r#"
GREETING = b"220 refuser\r\n"

def handle(c, line, cmd, verb, state):
    if verb not in ("PORT", "EPRT"): return False
    n = state.get("n", 0); state["n"] = n + 1
    if n == 0: c.sendall(b"500 Illegal PORT command.\r\n")
    elif n == 1: c.sendall(b"501-Refused:\r\n not your address\r\n501 End\r\n")
    else: c.sendall(b"200 PORT command successful\r\n")
    return True
"#;

/// The forwarding made for a PORT goes as soon as the server refuses the
/// PORT, while the session goes on; an accepted one stays.
fn refused_port(ssh: SshServer, remote: bool) {
    let start = |topo: &mut Topology, host| start_fake_ftp(topo, host, "refuser", PORT_REFUSER, &[]);
    let (topo, (), _fwd, client_host) = fake_ftp_setup(ssh, "refuser", remote, start);
    // Active-mode forwardings listen where the FTP server is.
    let (data_host, _) = server_and_client_hosts(remote);
    let before = topo.ns(data_host).listening_addresses();
    let before: Vec<&str> = before.iter().map(String::as_str).collect();
    let mut ftp = RawFtp::connect(topo.ns(client_host), local_endpoint(LPORT)).expect("connect");
    ftp.login("anonymous", "x").expect("login");
    let (listener, port) = port_listener(topo.ns(client_host));
    for refusal in [500, 501] {
        let (c, t) = ftp.cmd(&port_cmd(port)).expect("PORT");
        assert_eq!(c, refusal, "{t}");
        expect_listeners(&topo, data_host, &before);
    }
    let (c, t) = ftp.cmd(&port_cmd(port)).expect("PORT");
    assert_eq!(c, 200, "{t}");
    let now = topo.ns(data_host).listening_addresses();
    assert_eq!(now.len(), before.len() + 1, "the accepted PORT's forwarding should be there: {now:?}");
    drop(listener);
    quit(ftp);
    finish_on_client_side(topo, remote);
}

local_and_remote_cases! {
    refused_port_withdraws_its_data_forwarding,
    /// The same through `-R ftp/`, where the PORT's forwarding is a listener
    /// beside sshfwd.
    refused_port_withdraws_its_data_forwarding_through_remote_ftp_forward => refused_port
}

/// `EPSV ALL` passes through: EPSV still works, PASV and PORT are refused
/// (by the server or by sshfwd), and no forwarding is left behind.
fn epsv_all_is_respected(ssh: SshServer) {
    let (topo, server, _fwd, mut ftp) = local_session(ssh, FtpKind::Proftpd, false);
    let (c, t) = ftp.cmd("EPSV ALL").expect("EPSV ALL");
    assert!((200..300).contains(&c), "{t}");
    let (c, t) = ftp.cmd("PASV").expect("PASV");
    assert!(c >= 400, "PASV after EPSV ALL: {t}");
    let (listener, lport) = port_listener(&topo.cli);
    let (c, t) = ftp.cmd(&port_cmd(lport)).expect("PORT");
    assert!(c >= 400, "PORT after EPSV ALL: {t}");
    expect_raw_get(&topo, &mut ftp, &server, "mib.bin", true);
    quit(ftp);
    drop(listener);
    finish_local(topo);
}

// ---------------------------------------------------------------------------
// 9. Data-channel life cycle: limits, one shot, timeout, dead targets, ABOR, back-pressure; no leftover listeners.

/// Passive listeners that the client never connects to, and PORT/EPRT
/// forwardings that the server never uses, are bounded per session and gone
/// once the session ends; sshfwd keeps only its configured listener.
fn abandoned_data_channels_are_bounded_and_leave_no_listeners(ssh: SshServer) {
    let (topo, server, _fwd, mut ftp) = local_session(ssh, FtpKind::Proftpd, false);
    // The client-side listener that PORT/EPRT name (never accepted from).
    let (listener, lport) = port_listener(&topo.cli);
    let commands = ["PASV".to_owned(), "EPSV".to_owned(), port_cmd(lport), format!("EPRT |1|127.0.0.1|{lport}|")];
    let mut accepted = 0;
    let mut refused = 0;
    for i in 0..40 {
        let cmd = &commands[i % 4];
        let (c, t) = ftp.cmd(cmd).expect("reply");
        match c {
            200 | 227 | 229 => accepted += 1,
            425 => refused += 1,
            _ => panic!("{cmd}: unexpected reply {t}"),
        }
    }
    eprintln!("40 abandoned data-channel requests: {accepted} accepted, {refused} refused");
    assert!(accepted >= 4, "at least one of each kind should be accepted");
    assert!(refused > 0, "pending data channels per session should be bounded");
    // While the session lives, dynamic listeners exist in cli and remote
    // forwardings in srv, a bounded number of them.
    let cli_now = topo.cli.listening_addresses();
    let srv_now = topo.srv.listening_addresses();
    eprintln!("during the session: cli {cli_now:?}, srv {srv_now:?}");
    assert!(cli_now.len() <= 2 + accepted, "{cli_now:?}");
    // Another session is not affected by this one's limit.
    let mut other = raw_login(&topo.cli, LPORT);
    expect_raw_get(&topo, &mut other, &server, "mib.bin", true);
    quit(other);
    // A client that opens data channels and then vanishes (TCP reset).
    let mut crasher = raw_login(&topo.cli, LPORT);
    for cmd in &commands {
        let (c, t) = crasher.cmd(cmd).expect("reply");
        assert!(matches!(c, 200 | 227 | 229), "{cmd}: {t}");
    }
    crasher.reset();
    // After the sessions: only the configured listener.
    quit(ftp);
    drop(listener);
    expect_listeners(&topo, Host::Cli, &["127.0.0.1:2121"]);
    expect_listeners(&topo, Host::Srv, &["10.231.0.2:22", "127.0.0.1:21"]);
    let ss = topo.cli.listeners(true);
    assert!(ss.iter().all(|l| l.contains("sshfwd")), "a listener in cli that is not sshfwd's: {ss:?}");
    topo.finish();
}

/// A passive listener takes one connection only; unused passive listeners
/// and PORT forwardings go after `FtpDataTimeout` while the session lives on.
fn data_listeners_are_one_shot_and_expire_after_ftp_data_timeout(ssh: SshServer) {
    let mut topo = Topology::new(ssh, false);
    let server = topo.start_ftp(FtpKind::Proftpd, Host::Srv, "127.0.0.1", 21, false);
    let fwd =
        topo.start_sshfwd("timeout", &["-o", "FtpDataTimeout=2", "-L", &format!("ftp/127.0.0.1:{LPORT}:127.0.0.1:21")]);
    topo.wait_local_forward(fwd, LPORT);
    let mut ftp = raw_login(&topo.cli, LPORT);

    // One-shot.
    let (data_addr, data) = raw_passive_get_from(&topo, Host::Cli, "127.0.0.1", &mut ftp, "one.bin", false);
    assert_eq!(sha256_bytes(&data), sha256_file(&server.home.join("one.bin")));
    assert!(
        topo.cli.connect(data_addr, Duration::from_secs(2)).is_err(),
        "the passive listener {data_addr} took a second connection"
    );

    // Unused passive listener and unused PORT forwarding.
    let unused = raw_passive(&mut ftp, "127.0.0.1", true);
    assert!(topo.cli.listening_addresses().contains(&unused.to_string()), "no listener for the EPSV reply {unused}");
    let (listener, lport) = port_listener(&topo.cli);
    let (c, t) = ftp.cmd(&port_cmd(lport)).expect("PORT");
    assert_eq!(c, 200, "{t}");
    let srv_now = topo.srv.listening_addresses();
    assert_eq!(srv_now.len(), 3, "expected one remote forwarding for PORT: {srv_now:?}");
    let started = Instant::now();
    expect_listeners(&topo, Host::Cli, &["127.0.0.1:2121", &format!("127.0.0.1:{lport}")]);
    expect_listeners(&topo, Host::Srv, &["10.231.0.2:22", "127.0.0.1:21"]);
    let waited = started.elapsed();
    eprintln!("unused data forwardings gone after {waited:?} (FtpDataTimeout=2)");
    assert!(waited >= Duration::from_millis(1000), "gone too early ({waited:?}): removed before the timeout?");
    assert!(topo.cli.connect(unused, Duration::from_secs(2)).is_err(), "expired listener still accepts");
    // The session is still usable.
    let (c, t) = ftp.cmd("NOOP").expect("NOOP");
    assert_eq!(c, 200, "{t}");
    expect_raw_get(&topo, &mut ftp, &server, "mib.bin", true);
    quit(ftp);
    drop(listener);
    topo.finish();
}

/// PORT names a listener that the client has already closed. The server's
/// data connection through SSH must then be closed at once (as `ssh -R`
/// does by refusing the channel), so that the server reports the failure and
/// the session goes on, instead of the server waiting for a close that never
/// comes (proftpd gives up after its 10 s TimeoutLinger).
fn vanished_active_target_is_closed_at_once(ssh: SshServer) {
    let (topo, server, fwd, mut ftp) = local_session(ssh, FtpKind::Proftpd, false);
    type_i(&mut ftp);
    let (listener, lport) = port_listener(&topo.cli);
    drop(listener);
    let (c, t) = ftp.cmd(&port_cmd(lport)).expect("PORT");
    assert_eq!(c, 200, "{t}");
    let started = Instant::now();
    ftp.stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let (c, t) = ftp.cmd("RETR mib.bin").expect("RETR");
    let mut replies = vec![t];
    if c == 150 || c == 125 {
        replies.push(ftp.reply().map(|r| r.1).unwrap_or_else(|e| format!("no reply: {e}")));
    }
    let waited = started.elapsed();
    eprintln!("RETR to a vanished active listener: {replies:?} in {waited:?}");
    let log = topo.proc(fwd).log_text();
    let relevant: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("ftp session") || l.contains("forwarded-tcpip") || l.contains("channel"))
        .collect();
    assert!(
        waited < Duration::from_secs(5),
        "the server's final reply took {waited:?}: {replies:?}\nsshfwd:\n{}",
        relevant.join("\n")
    );
    let last = replies.last().map(String::as_str).unwrap_or("");
    assert!(["226", "425", "426", "450", "451"].iter().any(|c| last.starts_with(c)), "{replies:?}");
    let (c, t) = ftp.cmd("NOOP").expect("NOOP");
    assert_eq!(c, 200, "{t}");
    expect_raw_get(&topo, &mut ftp, &server, "mib.bin", false);
    quit(ftp);
    finish_local(topo);
}

/// ABOR in the middle of a 64 MiB download (the client closes its data
/// connection): the session goes on and nothing is left behind.
fn abort_mid_transfer_leaves_a_usable_session(ssh: SshServer) {
    let (topo, server, _fwd, mut ftp) = local_session(ssh, FtpKind::Proftpd, true);
    for epsv in [false, true] {
        let (data, _first) = start_big_download(&topo, &mut ftp, epsv, Duration::from_secs(10));
        ftp.send_raw(b"ABOR\r\n").expect("ABOR");
        drop(data);
        // 426 then 226 (or just 225/226): read replies until the abort is acknowledged.
        let mut replies = Vec::new();
        for _ in 0..3 {
            let (c, t) = ftp.reply().unwrap_or_else(|e| panic!("after ABOR: {e}; so far {replies:?}\n{}", topo.logs()));
            replies.push(t);
            if c == 225 || c == 226 {
                break;
            }
        }
        assert!(replies.last().is_some_and(|t| t.starts_with("225") || t.starts_with("226")), "{replies:?}");
        let (c, t) = ftp.cmd("NOOP").expect("NOOP after ABOR");
        assert_eq!(c, 200, "{t}");
        eprintln!("ABOR (epsv={epsv}): {replies:?}");
    }
    expect_raw_get(&topo, &mut ftp, &server, "mib.bin", false);
    quit(ftp);
    expect_listeners(&topo, Host::Cli, &["127.0.0.1:2121"]);
    expect_listeners(&topo, Host::Srv, &["10.231.0.2:22", "127.0.0.1:21"]);
    // No data connection is left established in srv (only sshd's SSH connection).
    let ok = poll(Duration::from_secs(10), || {
        let out = topo.run(Host::Srv, "ss", &["-tnH", "state", "established"], Duration::from_secs(5));
        let lines: Vec<String> =
            out.stdout.lines().filter(|l| !l.contains(":22 ") && !l.trim().is_empty()).map(str::to_owned).collect();
        lines.is_empty().then_some(()).or_else(|| {
            eprintln!("still established in srv: {lines:?}");
            None
        })
    });
    assert!(ok.is_some(), "connections left established in srv\n{}", topo.logs());
    topo.finish();
}

/// A client that stops reading in the middle of a 64 MiB download: sshfwd
/// applies back-pressure instead of buffering the file; the download then
/// completes intact.
fn slow_reader_gets_back_pressure_not_buffering(ssh: SshServer) {
    let (topo, server, fwd, mut ftp) = local_session(ssh, FtpKind::Proftpd, true);
    let pid = topo.proc(fwd).pid();
    let before = rss_kib(pid);
    let (mut data, mut got) = start_big_download(&topo, &mut ftp, true, Duration::from_secs(30));
    // Stop reading for 3 s while the server pushes.
    let mut peak = before;
    for _ in 0..30 {
        thread::sleep(Duration::from_millis(100));
        peak = peak.max(rss_kib(pid));
    }
    data.read_to_end(&mut got).expect("rest");
    drop(data);
    let (c, t) = ftp.reply().expect("226");
    assert_eq!(c, 226, "{t}");
    assert_eq!(sha256_bytes(&got), sha256_file(&server.home.join(BIG_FILE.0)));
    quit(ftp);
    let growth_mib = peak.saturating_sub(before) / 1024;
    eprintln!("sshfwd RSS {} KiB before, {} KiB peak while the reader paused (+{growth_mib} MiB)", before, peak);
    assert!(
        growth_mib < 32,
        "sshfwd grew by {growth_mib} MiB while the FTP client did not read: buffering instead of back-pressure"
    );
    topo.finish();
}

// ---------------------------------------------------------------------------
// The tests: every case above, against both SSH servers.

against_both_ssh_servers! {
    topology_has_no_direct_path_to_the_ftp_servers,
    plain_forward_logs_in_but_cannot_transfer_while_ftp_forward_can,
    proftpd_curl_all_modes,
    proftpd_lftp_all_modes,
    proftpd_ftplib_all_modes,
    pyftpdlib_curl_all_modes,
    pyftpdlib_lftp_all_modes,
    pyftpdlib_ftplib_all_modes,
    big_files_64_mib_both_ways,
    many_transfers_in_one_session,
    lftp_mirror_with_parallel_sessions,
    ftp_server_named_by_host_name,
    third_host_passive_modes,
    third_host_active_modes_with_ftp_active_bind_address,
    gateway_mode_serves_clients_on_another_host,
    remote_ftp_forward_fixed_port_proftpd,
    remote_ftp_forward_allocated_port_pyftpdlib,
    remote_ftp_forward_to_a_server_on_the_client_lan,
    remote_ftp_forward_64_mib_both_ways,
    ipv6_client_side,
    ipv6_ftp_server_side_passive,
    ipv6_ftp_server_side_active,
    twenty_concurrent_sessions,
    bounce_attempts_are_refused_and_not_forwarded,
    hostile_passive_replies_do_not_reach_other_hosts_or_low_ports,
    hostile_passive_replies_through_remote_ftp_forward,
    security_options_relax_the_rules_one_by_one,
    auth_tls_is_refused_fast_and_clients_fall_back,
    control_lines_split_across_writes_and_batched_in_one_write,
    overlong_line_ends_only_its_session,
    passive_replies_in_real_world_forms_are_rewritten,
    passive_replies_in_real_world_forms_through_remote_ftp_forward,
    refused_port_withdraws_its_data_forwarding,
    refused_port_withdraws_its_data_forwarding_through_remote_ftp_forward,
    epsv_all_is_respected,
    abandoned_data_channels_are_bounded_and_leave_no_listeners,
    data_listeners_are_one_shot_and_expire_after_ftp_data_timeout,
    vanished_active_target_is_closed_at_once,
    abort_mid_transfer_leaves_a_usable_session,
    slow_reader_gets_back_pressure_not_buffering,
}
