//! The client against in-process servers on an in-memory pipe:
//! sshfwd-server's sftp handler, and a server that answers every read short.

mod util;

use std::collections::HashMap;
use std::future::Future;

use russh_sftp::protocol::{Data, FileAttributes, Handle, OpenFlags, Status, StatusCode, Version};
use sftp_client::{Config, Error, SftpSession, UploadMode};
use tokio::time::timeout;
use util::*;

async fn over_pipe<H>(handler: H, config: Config) -> SftpSession
where
    H: russh_sftp::server::Handler + Send + 'static,
{
    let (client, server) = tokio::io::duplex(256 * 1024);
    russh_sftp::server::run(server, handler).await;
    timeout(STEP, SftpSession::open(client, config)).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sshfwd_server_sftp() {
    let (_keep, dir) = temp_dir();
    let handler = sshfwd_server::sftp::SftpSession::new(&dir, "test").unwrap();
    let session = over_pipe(handler, Config::default()).await;
    for (i, size) in [0, 1, 32 * 1024 + 1, 3 * 1024 * 1024 + 7].into_iter().enumerate() {
        let sent = data(size, i as u64);
        let name = format!("f{i}");
        assert_eq!(session.upload(&name, &mut &sent[..], UploadMode::Replace).await.unwrap(), size as u64);
        let mut got = Vec::new();
        assert_eq!(session.download(&name, 0, &mut got).await.unwrap(), size as u64);
        assert_eq!(sha256(&got), sha256(&sent), "{name}");
    }
    let mut got = Vec::new();
    session.download("f3", 1_000_000, &mut got).await.unwrap();
    assert_eq!(got.len(), 3 * 1024 * 1024 + 7 - 1_000_000);
    session.upload("f1", &mut &b"more"[..], UploadMode::Append).await.unwrap();
    assert_eq!(std::fs::read(dir.join("f1")).unwrap().len(), 5);

    session.mkdir("d").await.unwrap();
    session.rename("f0", "d/g").await.unwrap();
    let names: Vec<_> = session.read_dir("d").await.unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["g"]);
    assert!(matches!(session.stat("nope").await, Err(Error::NoSuchFile { .. })));
    assert!(matches!(session.stat("../outside").await, Err(Error::PermissionDenied { .. })));
    session.remove("d/g").await.unwrap();
    session.rmdir("d").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_chunks_fall_back_without_stated_limits() {
    let (_keep, dir) = temp_dir();
    let handler = sshfwd_server::sftp::SftpSession::new(&dir, "test").unwrap();
    let session = over_pipe(handler, Config { requests_in_flight: 16, chunk_size: 255 * 1024 }).await;
    // No limits@openssh.com: 32 KiB, with OpenSSH's 64 requests keeping
    // (within that cap) the bytes in flight.
    assert_eq!(session.config(), Config { requests_in_flight: 64, chunk_size: 32 * 1024 });
    let sent = data(3 * 1024 * 1024 + 7, 9);
    assert_eq!(session.upload("big", &mut &sent[..], UploadMode::Replace).await.unwrap(), sent.len() as u64);
    let mut got = Vec::new();
    assert_eq!(session.download("big", 0, &mut got).await.unwrap(), sent.len() as u64);
    assert_eq!(sha256(&got), sha256(&sent));
}

/// Serves one file from memory and answers every read with at most `cap`
/// bytes, as a server with a small read limit does.
struct ShortReads {
    content: Vec<u8>,
    cap: usize,
}

impl russh_sftp::server::Handler for ShortReads {
    type Error = StatusCode;

    fn unimplemented(&self) -> StatusCode {
        StatusCode::OpUnsupported
    }

    async fn init(&mut self, _: u32, _: HashMap<String, String>) -> Result<Version, StatusCode> {
        Ok(Version::new())
    }

    async fn open(&mut self, id: u32, _: String, _: OpenFlags, _: FileAttributes) -> Result<Handle, StatusCode> {
        Ok(Handle { id, handle: "h".to_owned() })
    }

    async fn read(&mut self, id: u32, _: String, offset: u64, len: u32) -> Result<Data, StatusCode> {
        let start = usize::try_from(offset).unwrap();
        if start >= self.content.len() {
            return Err(StatusCode::Eof);
        }
        let end = self.content.len().min(start + (len as usize).min(self.cap));
        Ok(Data { id, data: self.content[start..end].to_vec() })
    }

    async fn close(&mut self, id: u32, _: String) -> Result<Status, StatusCode> {
        Ok(Status { id, status_code: StatusCode::Ok, error_message: "Ok".into(), language_tag: "en".into() })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_reads_in_mid_file_keep_order() {
    let content = data(1_000_003, 9);
    for cap in [1, 999, 4096, 32 * 1024 - 1] {
        let size = if cap == 1 { 5000 } else { content.len() };
        let handler = ShortReads { content: content[..size].to_vec(), cap };
        let session = over_pipe(handler, Config { requests_in_flight: 16, chunk_size: 32 * 1024 }).await;
        for offset in [0, 77] {
            let mut got = Vec::new();
            let moved = timeout(STEP, session.download("f", offset, &mut got)).await.unwrap().unwrap();
            assert_eq!(moved as usize, size - offset as usize, "cap {cap}");
            assert_eq!(sha256(&got), sha256(&content[offset as usize..size]), "cap {cap} offset {offset}");
        }
    }
}

/// Transfers that fail on the local side close their handles: sshfwd-server
/// allows 512 open handles, and 600 failed downloads leave room for more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_transfers_close_their_handles() {
    let (_keep, dir) = temp_dir();
    std::fs::write(dir.join("f"), data(100_000, 1)).unwrap();
    let handler = sshfwd_server::sftp::SftpSession::new(&dir, "test").unwrap();
    let session = over_pipe(handler, Config::default()).await;
    for _ in 0..600 {
        let error = session.download("f", 0, &mut Broken).await.unwrap_err();
        assert!(matches!(error.error, Error::Local(_)), "{error:?}");
        let error = session.upload("g", &mut Broken, UploadMode::Replace).await.unwrap_err();
        assert!(matches!(error.error, Error::Local(_)), "{error:?}");
    }
    let mut got = Vec::new();
    assert_eq!(timeout(STEP, session.download("f", 0, &mut got)).await.unwrap().unwrap(), 100_000);
}

/// Transfers dropped while their OPEN is in flight (an FTP ABOR right after
/// RETR) still close the handle that comes: 3 × 250 of them, against a
/// 512-handle cap, leave room for another download.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_dropped_during_open_close_their_handles() {
    let (_keep, dir) = temp_dir();
    std::fs::write(dir.join("f"), data(1000, 1)).unwrap();
    let handler = sshfwd_server::sftp::SftpSession::new(&dir, "test").unwrap();
    let session = over_pipe(handler, Config::default()).await;
    for _ in 0..3 {
        for _ in 0..250 {
            // Polled once: the OPEN goes out, then the transfer is dropped.
            let mut sink = Vec::new();
            let mut download = std::pin::pin!(session.download("f", 0, &mut sink));
            let pending = std::future::poll_fn(|cx| std::task::Poll::Ready(download.as_mut().poll(cx).is_pending()));
            // Ready only if the OPEN failed fast, on handles not closed yet.
            pending.await;
        }
        // Answered after every OPEN before it.
        session.stat("f").await.unwrap();
    }
    let mut got = Vec::new();
    assert_eq!(timeout(STEP, session.download("f", 0, &mut got)).await.unwrap().unwrap(), 1000);
}

/// A data connection that fails at once.
struct Broken;

impl tokio::io::AsyncWrite for Broken {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        _: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(Err(std::io::ErrorKind::ConnectionReset.into()))
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

impl tokio::io::AsyncRead for Broken {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        _: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Err(std::io::ErrorKind::ConnectionReset.into()))
    }
}
