//! A small FTP client for the diagnostics (`--ftp-check`) and the demo's
//! self-check: one control connection, and a data connection per transfer
//! in any of the four modes. Replies and addresses are parsed by ftp-proto.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// How long any single step may take.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// The four ways to open a data connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Epsv,
    Pasv,
    Eprt,
    Port,
}

impl Mode {
    pub const ALL: [Mode; 4] = [Mode::Epsv, Mode::Pasv, Mode::Eprt, Mode::Port];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Epsv => "EPSV",
            Mode::Pasv => "PASV",
            Mode::Eprt => "EPRT",
            Mode::Port => "PORT",
        }
    }
}

/// A complete reply: its code and all its lines.
#[derive(Debug, Clone)]
pub struct Reply {
    pub code: u16,
    pub text: String,
}

impl Reply {
    pub fn is_positive(&self) -> bool {
        (100..400).contains(&self.code)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FtpError {
    #[error("{step}: timed out after {timeout:?}")]
    Timeout { step: String, timeout: Duration },
    #[error("{step}: {source}")]
    Io { step: String, source: std::io::Error },
    #[error("{step}: the server answered \"{reply}\"")]
    Refused { step: String, reply: String, code: u16 },
    #[error("{step}: unparsable reply \"{reply}\"")]
    BadReply { step: String, reply: String },
    #[error("connecting to the data address {address} announced by the {mode} reply: {reason}")]
    DataConnect { mode: &'static str, address: SocketAddr, reason: String },
    #[error("the server did not connect back to {address} for {mode}")]
    NoConnectBack { mode: &'static str, address: SocketAddr },
}

/// A command as error messages name it: never with the password.
fn step_name(line: &str) -> String {
    if line.starts_with("PASS ") {
        "PASS".to_owned()
    } else {
        line.to_owned()
    }
}

async fn timed<T, F>(step: &str, future: F) -> Result<T, FtpError>
where
    F: std::future::Future<Output = Result<T, FtpError>>,
{
    tokio::time::timeout(STEP_TIMEOUT, future)
        .await
        .unwrap_or_else(|_| Err(FtpError::Timeout { step: step.to_owned(), timeout: STEP_TIMEOUT }))
}

pub struct FtpClient {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    peer: SocketAddr,
    local: SocketAddr,
}

impl FtpClient {
    /// Connects and reads the greeting.
    pub async fn connect(address: &str) -> Result<(FtpClient, Reply), FtpError> {
        let stream = timed("connect", async {
            TcpStream::connect(address)
                .await
                .map_err(|source| FtpError::Io { step: format!("connect to {address}"), source })
        })
        .await?;
        let io = |source| FtpError::Io { step: "connect".into(), source };
        let peer = stream.peer_addr().map_err(io)?;
        let local = stream.local_addr().map_err(io)?;
        let (read, writer) = stream.into_split();
        let mut client = FtpClient { reader: BufReader::new(read), writer, peer, local };
        let greeting = client.reply("greeting").await?;
        Ok((client, greeting))
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Reads one complete (possibly multi-line) reply.
    pub async fn reply(&mut self, step: &str) -> Result<Reply, FtpError> {
        timed(step, async {
            let mut text = String::new();
            let mut replies = ftp_proto::reply::ReplyTracker::default();
            loop {
                let mut line = String::new();
                let n = self
                    .reader
                    .read_line(&mut line)
                    .await
                    .map_err(|source| FtpError::Io { step: step.to_owned(), source })?;
                if n == 0 {
                    return Err(FtpError::Io {
                        step: step.to_owned(),
                        source: std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "control connection closed"),
                    });
                }
                text.push_str(&line);
                match replies.classify(line.as_bytes()) {
                    Some(position) if position.last => {
                        return Ok(Reply { code: position.code, text: text.trim_end().to_owned() })
                    }
                    Some(_) => {}
                    None => {
                        return Err(FtpError::BadReply { step: step.to_owned(), reply: line.trim_end().to_owned() })
                    }
                }
            }
        })
        .await
    }

    /// Sends a command and reads its reply.
    pub async fn command(&mut self, line: &str) -> Result<Reply, FtpError> {
        let step = step_name(line);
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .map_err(|source| FtpError::Io { step: step.clone(), source })?;
        self.reply(&step).await
    }

    /// Sends a command whose reply must be positive.
    pub async fn expect(&mut self, line: &str) -> Result<Reply, FtpError> {
        let reply = self.command(line).await?;
        if !reply.is_positive() {
            return Err(FtpError::Refused { step: step_name(line), reply: reply.text, code: reply.code });
        }
        Ok(reply)
    }

    pub async fn login(&mut self, user: &str, password: &str) -> Result<(), FtpError> {
        let reply = self.command(&format!("USER {user}")).await?;
        if reply.code == 331 {
            self.expect(&format!("PASS {password}")).await?;
        } else if !reply.is_positive() {
            return Err(FtpError::Refused { step: format!("USER {user}"), reply: reply.text, code: reply.code });
        }
        self.expect("TYPE I").await?;
        Ok(())
    }

    /// Runs one transfer command (`LIST`, `RETR f`, `STOR f`) in `mode`,
    /// sending `upload` for STOR, and returns what the data connection
    /// carried from the server.
    pub async fn transfer(&mut self, mode: Mode, command: &str, upload: Option<&[u8]>) -> Result<Vec<u8>, FtpError> {
        let mut data = match mode {
            Mode::Epsv | Mode::Pasv => {
                let address = self.passive(mode).await?;
                let connect = tokio::time::timeout(STEP_TIMEOUT, TcpStream::connect(address)).await;
                let stream = match connect {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        return Err(FtpError::DataConnect {
                            mode: mode.name(),
                            address,
                            reason: sshfwd_net::io_reason(&e),
                        })
                    }
                    Err(_) => {
                        return Err(FtpError::DataConnect { mode: mode.name(), address, reason: "timed out".into() })
                    }
                };
                self.expect(command).await?;
                stream
            }
            Mode::Eprt | Mode::Port => {
                let listener = TcpListener::bind(SocketAddr::new(self.local.ip(), 0))
                    .await
                    .map_err(|source| FtpError::Io { step: "listen for the data connection".into(), source })?;
                let address = listener.local_addr().map_err(|source| FtpError::Io { step: "listen".into(), source })?;
                let line = match mode {
                    Mode::Eprt => ftp_client_line::eprt(address),
                    _ => ftp_client_line::port(address),
                };
                self.expect(&line).await?;
                self.expect(command).await?;
                match tokio::time::timeout(STEP_TIMEOUT, listener.accept()).await {
                    Ok(Ok((s, _))) => s,
                    _ => return Err(FtpError::NoConnectBack { mode: mode.name(), address }),
                }
            }
        };
        let step = format!("{} data", mode.name());
        let mut received = Vec::new();
        if let Some(bytes) = upload {
            data.write_all(bytes).await.map_err(|source| FtpError::Io { step: step.clone(), source })?;
            data.shutdown().await.map_err(|source| FtpError::Io { step: step.clone(), source })?;
        }
        tokio::time::timeout(Duration::from_secs(120), data.read_to_end(&mut received))
            .await
            .map_err(|_| FtpError::Timeout { step: step.clone(), timeout: Duration::from_secs(120) })?
            .map_err(|source| FtpError::Io { step, source })?;
        drop(data);
        let done = self.reply(&format!("{command} completion")).await?;
        if !done.is_positive() {
            return Err(FtpError::Refused { step: command.to_owned(), reply: done.text, code: done.code });
        }
        Ok(received)
    }

    /// Asks for a passive data address.
    async fn passive(&mut self, mode: Mode) -> Result<SocketAddr, FtpError> {
        let reply = self.expect(mode.name()).await?;
        let last = reply.text.lines().last().unwrap_or_default().to_owned();
        let parsed = match mode {
            Mode::Epsv => ftp_client_line::epsv_port(&last).map(|port| SocketAddr::new(self.peer.ip(), port)),
            _ => ftp_client_line::pasv_address(&last),
        };
        parsed.ok_or(FtpError::BadReply { step: mode.name().into(), reply: last })
    }

    pub async fn quit(mut self) {
        let _ = self.command("QUIT").await;
    }
}

/// The formatting and parsing this client needs, delegated to ftp-proto.
mod ftp_client_line {
    use std::net::SocketAddr;

    pub fn eprt(address: SocketAddr) -> String {
        line(ftp_proto::render::eprt_command(address))
    }

    pub fn port(address: SocketAddr) -> String {
        match address {
            SocketAddr::V4(v4) => line(ftp_proto::render::port_command(v4)),
            SocketAddr::V6(_) => eprt(address),
        }
    }

    pub fn pasv_address(reply_line: &str) -> Option<SocketAddr> {
        ftp_proto::reply::parse_pasv_reply(reply_line.as_bytes()).ok().map(SocketAddr::V4)
    }

    pub fn epsv_port(reply_line: &str) -> Option<u16> {
        ftp_proto::reply::parse_epsv_reply(reply_line.as_bytes()).ok()
    }

    fn line(bytes: Vec<u8>) -> String {
        String::from_utf8_lossy(&bytes).trim_end().to_owned()
    }
}
