//! A measurement, not a test: downloads and uploads through OpenSSH's
//! sftp-server on a pipe, with one request in flight (as russh-sftp's `File`
//! reads), with 64 × 32 KiB and with `Config::large_chunks` (WRITEs of
//! 128 KiB), beside russh-sftp's own `File`; then again
//! with a delay added to each direction, where pipelining shows.
//!
//! `cargo run --release -p sftp-client --example throughput [MiB] [delay_ms]`
//! (defaults: 256 MiB, and 1 ms for the delayed run on 32 MiB).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use sftp_client::{Config, SftpSession, UploadMode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::process::Command;
use tokio::sync::mpsc;

const SFTP_SERVER: &str = "/usr/lib/openssh/sftp-server";
const MIB: u64 = 1024 * 1024;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mib: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(256);
    let delay_ms: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1);
    let dir = tempfile::tempdir()?;
    println!("{mib} MiB through sftp-server on a pipe, no added delay");
    run_all(dir.path(), mib, Duration::ZERO).await?;
    let small = mib.min(32);
    println!("{small} MiB with {delay_ms} ms added to each direction");
    run_all(dir.path(), small, Duration::from_millis(delay_ms)).await?;
    Ok(())
}

async fn run_all(dir: &Path, mib: u64, delay: Duration) -> Result<(), Box<dyn std::error::Error>> {
    let bytes = mib * MIB;
    let source = format!("src-{mib}");
    std::fs::write(dir.join(&source), vec![0x5a; usize::try_from(bytes)?])?;
    for (label, config) in [
        ("window 1 × 32 KiB", Config { requests_in_flight: 1, chunk_size: 32 * 1024 }),
        ("window 64 × 32 KiB", Config::default()),
        ("large chunks", Config::large_chunks()),
    ] {
        let session = SftpSession::open(connect(dir, delay)?, config).await?;
        let started = Instant::now();
        let moved = session.download(&source, 0, &mut tokio::io::sink()).await?;
        report(label, "download", moved, bytes, started);
        let started = Instant::now();
        let moved = session.upload("dst", &mut tokio::io::repeat(0).take(bytes), UploadMode::Replace).await?;
        report(label, "upload", moved, bytes, started);
    }

    let russh = russh_sftp::client::SftpSession::new(connect(dir, delay)?).await?;
    let started = Instant::now();
    let mut file = russh.open(&source).await?;
    let moved = tokio::io::copy(&mut file, &mut tokio::io::sink()).await?;
    report("russh-sftp File", "download", moved, bytes, started);
    let started = Instant::now();
    let mut file = russh.create("dst").await?;
    let moved = tokio::io::copy(&mut tokio::io::repeat(0).take(bytes), &mut file).await?;
    file.shutdown().await?;
    report("russh-sftp File", "upload", moved, bytes, started);
    Ok(())
}

fn report(label: &str, what: &str, moved: u64, want: u64, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    let check = if moved == want { "" } else { " (SHORT)" };
    println!("  {label:<20} {what:<8} {:>8.1} MB/s  ({moved} bytes in {secs:.2} s){check}", moved as f64 / secs / 1e6);
}

/// A pipe to a fresh sftp-server, through a relay that holds each piece
/// `delay` long in each direction (a link's latency, not its bandwidth).
fn connect(dir: &Path, delay: Duration) -> std::io::Result<DuplexStream> {
    let mut child = Command::new(SFTP_SERVER)
        .arg("-d")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let (stdin, stdout) = (child.stdin.take(), child.stdout.take());
    let (ours, theirs) = tokio::io::duplex(1024 * 1024);
    let (from_client, to_client) = tokio::io::split(theirs);
    if let (Some(stdin), Some(stdout)) = (stdin, stdout) {
        tokio::spawn(delayed(from_client, stdin, delay));
        tokio::spawn(delayed(stdout, to_client, delay));
    }
    tokio::spawn(async move { child.wait().await });
    Ok(ours)
}

async fn delayed<R, W>(mut from: R, mut to: W, delay: Duration)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    tokio::spawn(async move {
        let mut buf = vec![0; 256 * 1024];
        while let Ok(n) = from.read(&mut buf).await {
            if n == 0 || tx.send((Instant::now() + delay, buf[..n].to_vec())).is_err() {
                break;
            }
        }
    });
    while let Some((due, piece)) = rx.recv().await {
        tokio::time::sleep_until(due.into()).await;
        if to.write_all(&piece).await.is_err() || to.flush().await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
