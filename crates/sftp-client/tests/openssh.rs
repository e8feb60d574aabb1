//! The client against OpenSSH's sftp-server on a pipe: transfers checked by
//! SHA-256, resume and append, directory operations and every error kind.

mod util;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use sftp_client::{Config, Error, UploadMode};
use tokio::time::timeout;
use util::*;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// Windows to run transfers with: one request at a time (russh-sftp's File),
/// OpenSSH's default, an odd chunk that cuts everything off-centre, the
/// bridge's large chunks, and the server's largest.
const WINDOWS: &[Config] = &[
    Config { requests_in_flight: 1, chunk_size: 32 * 1024 },
    Config { requests_in_flight: 64, chunk_size: 32 * 1024 },
    Config { requests_in_flight: 5, chunk_size: 1000 },
    Config::large_chunks(),
    Config { requests_in_flight: 8, chunk_size: 255 * 1024 },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_chunks_within_the_servers_limits() {
    let (_keep, dir) = temp_dir();
    // sftp-server states 255 KiB reads and writes (limits@openssh.com).
    for (asked, kept) in [
        (
            Config { requests_in_flight: 8, chunk_size: 255 * 1024 },
            Config { requests_in_flight: 8, chunk_size: 255 * 1024 },
        ),
        (
            Config { requests_in_flight: 8, chunk_size: 1024 * 1024 },
            Config { requests_in_flight: 8, chunk_size: 255 * 1024 },
        ),
        (Config::default(), Config::default()),
    ] {
        let server = open(sftp_server(&dir), asked).await;
        assert_eq!(server.session.config(), kept, "{asked:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_round_trip_with_sha256() {
    let (_keep, dir) = temp_dir();
    let sizes = [0, 1, 32 * KIB - 1, 32 * KIB, 32 * KIB + 1, MIB + 7];
    for (w, &config) in WINDOWS.iter().enumerate() {
        let server = open(sftp_server(&dir), config).await;
        for (i, &size) in sizes.iter().enumerate() {
            let name = format!("f{w}-{i}");
            let sent = data(size, i as u64);
            let up = timeout(STEP, server.session.upload(&name, &mut &sent[..], UploadMode::Replace)).await.unwrap();
            assert_eq!(up.unwrap(), size as u64, "upload {name} with {config:?}");
            assert_eq!(sha256(&std::fs::read(dir.join(&name)).unwrap()), sha256(&sent), "on disk {name}");
            let mut got = Vec::new();
            let down = timeout(STEP, server.session.download(&name, 0, &mut got)).await.unwrap();
            assert_eq!(down.unwrap(), size as u64, "download {name} with {config:?}");
            assert_eq!(sha256(&got), sha256(&sent), "downloaded {name}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_of_64_mib() {
    let (_keep, dir) = temp_dir();
    let server = open(sftp_server(&dir), Config::default()).await;
    let sent = data(64 * MIB, 64);
    let up = timeout(STEP, server.session.upload("big", &mut &sent[..], UploadMode::Replace)).await.unwrap();
    assert_eq!(up.unwrap(), sent.len() as u64);
    let mut got = Vec::with_capacity(sent.len());
    let down = timeout(STEP, server.session.download("big", 0, &mut got)).await.unwrap();
    assert_eq!(down.unwrap(), sent.len() as u64);
    assert_eq!(sha256(&got), sha256(&sent));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_and_append() {
    let (_keep, dir) = temp_dir();
    let server = open(sftp_server(&dir), Config { requests_in_flight: 4, chunk_size: 4096 }).await;
    let whole = data(100_000, 7);
    std::fs::write(dir.join("f"), &whole).unwrap();

    // A download resumed at an offset inside and at the end of the file.
    for offset in [0, 1, 4095, 4096, 99_999, 100_000, 200_000] {
        let mut got = Vec::new();
        let moved = server.session.download("f", offset, &mut got).await.unwrap();
        let want = whole.get(offset as usize..).unwrap_or(&[]);
        assert_eq!((moved, sha256(&got)), (want.len() as u64, sha256(want)), "offset {offset}");
    }

    // An upload resumed after an interruption: the first part stays.
    std::fs::write(dir.join("r"), &whole[..30_000]).unwrap();
    let moved = server.session.upload("r", &mut &whole[30_000..], UploadMode::Resume(30_000)).await.unwrap();
    assert_eq!(moved, 70_000);
    assert_eq!(sha256(&std::fs::read(dir.join("r")).unwrap()), sha256(&whole));

    // Append, to an existing file and to a new one.
    std::fs::write(dir.join("a"), &whole[..12_345]).unwrap();
    server.session.upload("a", &mut &whole[12_345..], UploadMode::Append).await.unwrap();
    assert_eq!(sha256(&std::fs::read(dir.join("a")).unwrap()), sha256(&whole));
    server.session.upload("new", &mut &whole[..10], UploadMode::Append).await.unwrap();
    assert_eq!(std::fs::read(dir.join("new")).unwrap(), &whole[..10]);

    // Replace truncates a longer file.
    server.session.upload("f", &mut &b"short"[..], UploadMode::Replace).await.unwrap();
    assert_eq!(std::fs::read(dir.join("f")).unwrap(), b"short");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_operations() {
    let (_keep, dir) = temp_dir();
    let server = open(sftp_server(&dir), Config::default()).await;
    let session = &server.session;

    assert_eq!(session.realpath(".").await.unwrap(), dir.canonicalize().unwrap().to_str().unwrap());
    session.mkdir("d").await.unwrap();
    session.mkdir("d/with space é").await.unwrap();
    session.upload("d/with space é/f", &mut &b"12345"[..], UploadMode::Replace).await.unwrap();
    std::os::unix::fs::symlink("with space é/f", dir.join("d/link")).unwrap();
    // More entries than one READDIR reply holds (OpenSSH sends 100 at most).
    for i in 0..250 {
        std::fs::write(dir.join(format!("d/n{i:03}")), b"").unwrap();
    }

    let mut entries = session.read_dir("d").await.unwrap();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(entries.len(), 252, "250 files, a directory and a link, no . or ..");
    let sub = entries.iter().find(|e| e.name == "with space é").unwrap();
    assert!(sub.metadata.is_dir() && sub.long_name.starts_with('d'), "{sub:?}");
    let link = entries.iter().find(|e| e.name == "link").unwrap();
    assert!(link.metadata.is_symlink(), "listings do not follow links: {link:?}");

    let meta = session.stat("d/link").await.unwrap();
    assert!(meta.is_file() && meta.size == Some(5), "{meta:?}");
    assert!(session.lstat("d/link").await.unwrap().is_symlink());
    assert!(meta.mtime.is_some());

    session.set_permissions("d/with space é/f", 0o640).await.unwrap();
    assert_eq!(session.stat("d/with space é/f").await.unwrap().permissions(), Some(0o640));

    // Rename replaces an existing target, as FTP RNFR/RNTO on a Unix server does.
    session.rename("d/with space é/f", "d/n000").await.unwrap();
    assert_eq!(std::fs::read(dir.join("d/n000")).unwrap(), b"12345");
    assert!(matches!(session.stat("d/with space é/f").await, Err(Error::NoSuchFile { .. })));

    session.rmdir("d/with space é").await.unwrap();
    session.remove("d/link").await.unwrap();
    assert!(matches!(session.rmdir("d").await, Err(Error::Failure { .. })), "not empty");
    assert_eq!(
        session.realpath("d/../d/./n001").await.unwrap(),
        dir.join("d/n001").canonicalize().unwrap().to_str().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symbolic_links() {
    let (_keep, dir) = temp_dir();
    // A small window, so that read_links needs several rounds.
    let server = open(sftp_server(&dir), Config { requests_in_flight: 3, chunk_size: 32 * 1024 }).await;
    let session = &server.session;
    std::fs::write(dir.join("f"), b"x").unwrap();
    let targets = ["f", "../elsewhere/é x", "/etc/hostname", "missing", "d/../f", "a/b/c", "f", "f", "f", "f"];
    let paths: Vec<String> = (0..targets.len()).map(|i| format!("link{i}")).collect();
    for (target, path) in targets.iter().zip(&paths) {
        std::os::unix::fs::symlink(target, dir.join(path)).unwrap();
    }
    // Targets come back as the links hold them: relative ones stay relative,
    // and a dangling link still has one.
    assert_eq!(session.read_link("link1").await.unwrap(), "../elsewhere/é x");
    let all = session.read_links(&paths).await;
    let all: Vec<String> = all.into_iter().map(Result::unwrap).collect();
    assert_eq!(all, targets);
    // Not a link, and no such file: errors, one per path, in order.
    let mixed = session.read_links(&["f".to_owned(), "nope".to_owned(), "link0".to_owned()]).await;
    assert!(matches!(mixed[0], Err(Error::Failure { .. })), "{:?}", mixed[0]);
    assert!(matches!(mixed[1], Err(Error::NoSuchFile { .. })), "{:?}", mixed[1]);
    assert_eq!(mixed[2].as_deref().unwrap(), "f");
    assert!(session.read_links(&[]).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_files() {
    let (_keep, dir) = temp_dir();
    let server = open(sftp_server(&dir), Config::default()).await;
    let session = &server.session;
    let missing = |r: Result<_, Error>| matches!(r, Err(Error::NoSuchFile { path }) if path.contains("nope"));
    assert!(missing(session.stat("nope").await.map(drop)));
    assert!(missing(session.lstat("nope").await.map(drop)));
    assert!(missing(session.read_dir("nope").await.map(drop)));
    assert!(missing(session.remove("nope").await));
    assert!(missing(session.rmdir("nope").await));
    assert!(missing(session.rename("nope", "x").await));
    assert!(missing(session.set_permissions("nope", 0o600).await));
    assert!(missing(
        session.upload("nope/f", &mut &b"x"[..], UploadMode::Replace).await.map_err(|e| e.error).map(drop)
    ));
    let mut sink = Vec::new();
    let error = session.download("nope", 0, &mut sink).await.unwrap_err();
    assert!(matches!(error.error, Error::NoSuchFile { .. }) && error.bytes == 0, "{error:?}");
    assert!(matches!(session.mkdir("nope/deeper").await, Err(Error::NoSuchFile { .. })));
    // The session still works after errors.
    session.mkdir("yes").await.unwrap();
}

/// A mode-000 directory refuses the server's user. Root passes every such
/// check, so as root the server runs as nobody (uid 65534).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_denied() {
    let (_keep, dir) = temp_dir();
    std::fs::create_dir(dir.join("closed")).unwrap();
    std::fs::write(dir.join("closed/f"), b"secret").unwrap();
    std::fs::write(dir.join("readonly"), b"x").unwrap();
    std::fs::set_permissions(dir.join("readonly"), std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(dir.join("closed"), std::fs::Permissions::from_mode(0o000)).unwrap();
    let mut command = sftp_server(&dir);
    if is_root() {
        command.uid(65534).gid(65534);
    }
    let server = open(command, Config::default()).await;
    let session = &server.session;
    let denied = |r: Result<(), Error>| matches!(r, Err(Error::PermissionDenied { .. }));
    assert!(denied(session.stat("closed/f").await.map(drop)));
    assert!(denied(session.read_dir("closed").await.map(drop)));
    assert!(denied(session.download("closed/f", 0, &mut Vec::new()).await.map_err(|e| e.error).map(drop)));
    assert!(denied(
        session.upload("readonly", &mut &b"y"[..], UploadMode::Replace).await.map_err(|e| e.error).map(drop)
    ));
    assert!(denied(session.mkdir("closed/d").await));
    std::fs::set_permissions(dir.join("closed"), std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// When the server dies mid-transfer, the transfer fails at once with
/// ConnectionLost, and so does every later request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_lost_mid_transfer() {
    let (_keep, dir) = temp_dir();
    std::fs::write(dir.join("big"), data(64 * MIB, 1)).unwrap();
    let mut server = open(sftp_server(&dir), Config::default()).await;
    let mut sink = KillAfter { child: Some(server.child), after: 5 * MIB as u64, seen: 0 };
    let error =
        timeout(Duration::from_secs(10), server.session.download("big", 0, &mut sink)).await.unwrap().unwrap_err();
    assert!(matches!(error.error, Error::ConnectionLost), "{error:?}");
    assert!(error.bytes >= 5 * MIB as u64 && error.bytes < 64 * MIB as u64, "{error:?}");
    server.child = sink.child.take().unwrap();
    let later = timeout(Duration::from_secs(5), server.session.stat("big")).await.unwrap();
    assert!(matches!(later, Err(Error::ConnectionLost)), "{later:?}");
}

/// Kills the server once `after` bytes have arrived.
struct KillAfter {
    child: Option<tokio::process::Child>,
    after: u64,
    seen: u64,
}

impl tokio::io::AsyncWrite for KillAfter {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.seen += buf.len() as u64;
        if self.seen >= self.after {
            if let Some(child) = self.child.as_mut() {
                let _ = child.start_kill();
            }
        }
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// A full file system: sftp-server in its own mount namespace on a 1 MiB
/// tmpfs. OpenSSH answers ENOSPC with the bare "Failure", so this checks
/// the statvfs fallback that tells a full disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a mount namespace: root, or unprivileged user namespaces (unshare -rm)"]
async fn disk_full() {
    let (_keep, dir) = temp_dir();
    for config in [Config::default(), Config::large_chunks()] {
        let mut command = tokio::process::Command::new("unshare");
        command.args(["-rm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs \"$1\" && exec \"$2\" -d \"$1\"", "sh"]);
        command.arg(&dir).arg(SFTP_SERVER);
        let server = open(command, config).await;
        let error = server.session.upload("f", &mut &data(2 * MIB, 3)[..], UploadMode::Replace).await.unwrap_err();
        assert!(matches!(error.error, Error::DiskFull { .. }), "{config:?}: {error:?}");
        assert!(error.bytes <= MIB as u64, "{error:?}");
    }
}

/// A transfer dropped halfway (FTP ABOR) leaves the session usable, and
/// transfers on one session may run at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_and_concurrent_transfers() {
    let (_keep, dir) = temp_dir();
    let a = data(3 * MIB + 1, 11);
    let b = data(2 * MIB + 3, 12);
    std::fs::write(dir.join("a"), &a).unwrap();
    std::fs::write(dir.join("b"), &b).unwrap();
    let server = open(sftp_server(&dir), Config::default()).await;
    let session = &server.session;

    // A sink that takes 1 MiB and then never again: the download stalls and is dropped.
    let mut stalled = Stall { left: MIB as u64 };
    assert!(timeout(Duration::from_millis(200), session.download("a", 0, &mut stalled)).await.is_err());
    let mut source = tokio::io::AsyncReadExt::chain(&a[..MIB], Stall { left: 0 });
    assert!(timeout(Duration::from_millis(200), session.upload("c", &mut source, UploadMode::Replace)).await.is_err());

    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    let (ra, rb) = tokio::join!(session.download("a", 0, &mut got_a), session.download("b", 0, &mut got_b));
    assert_eq!((ra.unwrap(), rb.unwrap()), (a.len() as u64, b.len() as u64));
    assert_eq!((sha256(&got_a), sha256(&got_b)), (sha256(&a), sha256(&b)));
    let (mut from_a, mut from_b) = (&a[..], &b[..]);
    let (ua, ub) = tokio::join!(
        session.upload("a2", &mut from_a, UploadMode::Replace),
        session.upload("b2", &mut from_b, UploadMode::Replace)
    );
    assert_eq!((ua.unwrap(), ub.unwrap()), (a.len() as u64, b.len() as u64));
    assert_eq!(sha256(&std::fs::read(dir.join("b2")).unwrap()), sha256(&b));
}

/// Accepts `left` bytes (or gives none, as a source) and then stays pending.
struct Stall {
    left: u64,
}

impl tokio::io::AsyncWrite for Stall {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if self.left == 0 {
            return std::task::Poll::Pending;
        }
        let n = (buf.len() as u64).min(self.left);
        self.left -= n;
        std::task::Poll::Ready(Ok(n as usize))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncRead for Stall {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        _: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Pending
    }
}
