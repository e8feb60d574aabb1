//! One data transfer, run as a task of its own so that the control
//! connection stays read (ABOR) while data moves.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ftp_proto::server::{listing, FsError, ListFormat, StoreStart, TransferError, TransferKind, TransferType};
use sftp_client::{Error, SftpSession, UploadMode};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use self::idle::{Activity, Watched};
use super::ascii_io::{AsciiReader, AsciiWriter};
use super::files;

/// The default of [`super::BridgeOptions::data_idle_timeout`]: vsftpd's
/// data_connection_timeout.
pub const DATA_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Where the data connection comes from.
pub enum DataSource {
    /// The PASV/EPSV listener: accept from the client's address only.
    Passive(TcpListener),
    /// PORT/EPRT: connect to this address.
    Active(SocketAddr),
}

/// What a running transfer tells the control loop, in order.
#[derive(Debug)]
pub enum Event {
    /// The file is open and the data connection made: send 150.
    Started(Option<u64>),
    /// The transfer ended.
    Done(Result<u64, TransferError>),
}

/// Everything a transfer needs, moved into its task.
pub struct Job {
    pub sftp: Arc<SftpSession>,
    pub source: DataSource,
    pub kind: TransferKind,
    pub client_ip: IpAddr,
    /// How long the data connection may take to be made.
    pub timeout: Duration,
    /// Once it is made, the transfer fails with [`TransferError::Idle`]
    /// when no byte crosses it for this long.
    pub idle_timeout: Duration,
}

/// Runs `job`, reporting on `events`.
pub async fn run(job: Job, events: mpsc::Sender<Event>) {
    let result = transfer(job, &events).await;
    let _ = events.send(Event::Done(result)).await;
}

async fn transfer(job: Job, events: &mpsc::Sender<Event>) -> Result<u64, TransferError> {
    let Job { sftp, source, kind, client_ip, timeout, idle_timeout: idle } = job;
    let activity = Activity::new();
    match kind {
        TransferKind::Retrieve { path, offset, representation } => {
            // Stat first, so a missing file gets 550 before any 150.
            let metadata = sftp.stat(path.as_str()).await.map_err(|e| files::fs_error(&e))?;
            if metadata.is_dir() {
                return Err(FsError::IsADirectory.into());
            }
            let mut stream = Watched::new(connect(source, client_ip, timeout).await?, &activity);
            started(events, metadata.size.map(|size| size.saturating_sub(offset))).await;
            watch(&activity, idle, async {
                let result = match representation {
                    TransferType::Image => sftp.download(path.as_str(), offset, &mut stream).await,
                    TransferType::Ascii => {
                        let mut writer = AsciiWriter::new(&mut stream);
                        let result = sftp.download(path.as_str(), offset, &mut writer).await;
                        match result {
                            Ok(bytes) => writer
                                .flush()
                                .await
                                .map(|()| bytes)
                                .map_err(|e| sftp_client::TransferError { bytes, error: Error::Local(e) }),
                            Err(error) => Err(error),
                        }
                    }
                };
                let bytes = result.map_err(transfer_error)?;
                finish(&mut stream).await?;
                Ok(bytes)
            })
            .await
        }
        TransferKind::Store { path, start, representation } => {
            let mut stream = Watched::new(connect(source, client_ip, timeout).await?, &activity);
            started(events, None).await;
            let mode = match start {
                StoreStart::Truncate => UploadMode::Replace,
                StoreStart::At(offset) => UploadMode::Resume(offset),
                StoreStart::Append => UploadMode::Append,
            };
            let upload = async {
                match representation {
                    TransferType::Image => sftp.upload(path.as_str(), &mut stream, mode).await,
                    TransferType::Ascii => sftp.upload(path.as_str(), &mut AsciiReader::new(&mut stream), mode).await,
                }
                .map_err(transfer_error)
            };
            watch(&activity, idle, upload).await
        }
        TransferKind::List { path, format, pattern, prefix } => {
            let files_too = format != ListFormat::Machine && pattern.is_none();
            let mut entries = files::list(&sftp, &path, files_too, format != ListFormat::Names).await?;
            if let Some(pattern) = pattern {
                entries.retain(|entry| pattern.matches(&entry.name));
            }
            let body = match format {
                ListFormat::Long => listing::list(&entries, now()),
                ListFormat::Names => listing::name_list(&entries, &prefix),
                ListFormat::Machine => listing::machine_list(&entries),
            };
            let mut stream = Watched::new(connect(source, client_ip, timeout).await?, &activity);
            started(events, None).await;
            watch(&activity, idle, async {
                stream.write_all(&body).await.map_err(|_| TransferError::DataBroken)?;
                finish(&mut stream).await?;
                Ok(body.len() as u64)
            })
            .await
        }
    }
}

/// `moving` unless the data connection stays idle for `idle` first; then
/// `moving` is dropped, which closes its SFTP handle.
async fn watch(
    activity: &Activity,
    idle: Duration,
    moving: impl Future<Output = Result<u64, TransferError>>,
) -> Result<u64, TransferError> {
    tokio::select! {
        result = moving => result,
        () = activity.idle_for(idle) => Err(TransferError::Idle),
    }
}

async fn started(events: &mpsc::Sender<Event>, size: Option<u64>) {
    let _ = events.send(Event::Started(size)).await;
}

/// Ends the data connection: its close is the end of a download.
async fn finish<S: AsyncWrite + Unpin>(stream: &mut S) -> Result<(), TransferError> {
    stream.shutdown().await.map_err(|_| TransferError::DataBroken)
}

/// A failure on the data connection's side is the client's (426); any
/// other is the SSH server's, told as a file error.
fn transfer_error(error: sftp_client::TransferError) -> TransferError {
    match error.error {
        Error::Local(_) => TransferError::DataBroken,
        error => TransferError::File(files::fs_error(&error)),
    }
}

async fn connect(source: DataSource, client_ip: IpAddr, timeout: Duration) -> Result<TcpStream, TransferError> {
    let connecting = async {
        match source {
            DataSource::Passive(listener) => sshfwd_net::accept_from(&listener, client_ip, "ftp bridge").await,
            DataSource::Active(address) => {
                let stream = TcpStream::connect(address).await?;
                let _ = stream.set_nodelay(true);
                Ok(stream)
            }
        }
    };
    tokio::time::timeout(timeout, connecting)
        .await
        .map_err(|_| TransferError::DataConnection("timed out".into()))?
        .map_err(|e: std::io::Error| TransferError::DataConnection(e.to_string()))
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Watching a data connection for bytes that move.
mod idle {
    use std::io;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::task::{Context, Poll};
    use std::time::Duration;

    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    use tokio::time::Instant;

    /// When bytes last moved. An atomic rather than a `Cell`, so that the
    /// transfer's future, which borrows it twice, stays `Send`.
    pub struct Activity {
        origin: Instant,
        /// Milliseconds from `origin` to the last byte moved.
        last: AtomicU64,
    }

    impl Activity {
        pub fn new() -> Self {
            Self { origin: Instant::now(), last: AtomicU64::new(0) }
        }

        fn touch(&self) {
            let elapsed = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.last.store(elapsed, Ordering::Relaxed);
        }

        fn last(&self) -> Instant {
            self.origin + Duration::from_millis(self.last.load(Ordering::Relaxed))
        }

        /// Completes once no byte has moved for `idle`.
        pub async fn idle_for(&self, idle: Duration) {
            self.touch();
            loop {
                let deadline = self.last() + idle;
                if Instant::now() >= deadline {
                    return;
                }
                tokio::time::sleep_until(deadline).await;
            }
        }
    }

    /// A stream that tells `activity` of every byte read or written.
    pub struct Watched<'a, S> {
        inner: S,
        activity: &'a Activity,
    }

    impl<'a, S> Watched<'a, S> {
        pub fn new(inner: S, activity: &'a Activity) -> Self {
            Self { inner, activity }
        }
    }

    impl<S: AsyncRead + Unpin> AsyncRead for Watched<'_, S> {
        fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            let before = buf.filled().len();
            let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
            if buf.filled().len() > before {
                this.activity.touch();
            }
            poll
        }
    }

    impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<'_, S> {
        fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            let poll = Pin::new(&mut this.inner).poll_write(cx, data);
            if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
                this.activity.touch();
            }
            poll
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().inner).poll_flush(cx)
        }

        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
        }
    }
}
