//! One data transfer, run as a task of its own so that the control
//! connection stays read (ABOR) while data moves.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ftp_proto::server::{listing, FsError, ListFormat, StoreStart, TransferError, TransferKind, TransferType};
use sftp_client::{Error, SftpSession, UploadMode};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::ascii_io::{AsciiReader, AsciiWriter};
use super::files;

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
    pub timeout: Duration,
}

/// Runs `job`, reporting on `events`.
pub async fn run(job: Job, events: mpsc::Sender<Event>) {
    let result = transfer(job, &events).await;
    let _ = events.send(Event::Done(result)).await;
}

async fn transfer(job: Job, events: &mpsc::Sender<Event>) -> Result<u64, TransferError> {
    let Job { sftp, source, kind, client_ip, timeout } = job;
    match kind {
        TransferKind::Retrieve { path, offset, representation } => {
            // Stat first, so a missing file gets 550 before any 150.
            let metadata = sftp.stat(path.as_str()).await.map_err(|e| files::fs_error(&e))?;
            if metadata.is_dir() {
                return Err(FsError::IsADirectory.into());
            }
            let mut stream = connect(source, client_ip, timeout).await?;
            started(events, metadata.size.map(|size| size.saturating_sub(offset))).await;
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
        }
        TransferKind::Store { path, start, representation } => {
            let mut stream = connect(source, client_ip, timeout).await?;
            started(events, None).await;
            let mode = match start {
                StoreStart::Truncate => UploadMode::Replace,
                StoreStart::At(offset) => UploadMode::Resume(offset),
                StoreStart::Append => UploadMode::Append,
            };
            let result = match representation {
                TransferType::Image => sftp.upload(path.as_str(), &mut stream, mode).await,
                TransferType::Ascii => sftp.upload(path.as_str(), &mut AsciiReader::new(&mut stream), mode).await,
            };
            result.map_err(transfer_error)
        }
        TransferKind::List { path, format } => {
            let entries = files::list(&sftp, &path, format != ListFormat::Machine).await?;
            let body = match format {
                ListFormat::Long => listing::list(&entries, now()),
                ListFormat::Names => listing::name_list(&entries),
                ListFormat::Machine => listing::machine_list(&entries),
            };
            let mut stream = connect(source, client_ip, timeout).await?;
            started(events, None).await;
            stream.write_all(&body).await.map_err(|_| TransferError::DataBroken)?;
            finish(&mut stream).await?;
            Ok(body.len() as u64)
        }
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
