//! An in-process stand-in for the SSH connection, for tests of the
//! forwarders: direct-tcpip channels connect straight to their target on
//! loopback, and remote forwardings are loopback listeners of its own. It
//! records what it was asked, so tests can see the forwardings come and go.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::ssh::{
    ChannelClosed, ChannelOpenError, ChannelReader, ChannelWriter, DataChannel, Forwarded, ForwardedSink,
    ForwardedStreamSink, RemoteForwardError, Tunnel,
};

#[derive(Default)]
pub struct FakeTunnel {
    /// `host:port` of every direct-tcpip channel asked for.
    opened: Mutex<Vec<String>>,
    /// Remote forwardings in place, by `address:port`.
    forwards: Mutex<HashMap<String, AbortHandle>>,
    /// Every remote forwarding ever requested, as `address:port`.
    requested: Mutex<Vec<String>>,
    /// The "SSH connection" is gone ([`FakeTunnel::lose`]).
    lost: std::sync::atomic::AtomicBool,
}

impl FakeTunnel {
    /// From now on the connection counts as lost.
    pub fn lose(&self) {
        self.lost.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn opened(&self) -> Vec<String> {
        lock(&self.opened).clone()
    }

    pub fn requested(&self) -> Vec<String> {
        lock(&self.requested).clone()
    }

    /// How many remote forwardings are in place now.
    pub fn remote_forwards(&self) -> usize {
        lock(&self.forwards).len()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Tunnel for FakeTunnel {
    type Channel = FakeChannel;

    fn connection_lost(&self) -> bool {
        self.lost.load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn open_direct_tcpip(&self, host: &str, port: u16, _: SocketAddr) -> Result<FakeChannel, ChannelOpenError> {
        lock(&self.opened).push(format!("{host}:{port}"));
        let stream = TcpStream::connect((host, port)).await.map_err(|e| ChannelOpenError::Refused(e.to_string()))?;
        Ok(FakeChannel(stream))
    }

    async fn request_remote_forward(
        &self,
        address: &str,
        port: u16,
        sink: ForwardedSink<FakeChannel>,
    ) -> Result<u16, RemoteForwardError> {
        let listener = TcpListener::bind((address, port)).await.map_err(|e| RemoteForwardError(e.to_string()))?;
        let port = listener.local_addr().map_err(|e| RemoteForwardError(e.to_string()))?.port();
        let task = tokio::spawn(async move {
            while let Ok((stream, originator)) = listener.accept().await {
                // As the SSH handler does: refused when the receiver lags.
                let _ = sink.try_send(Forwarded { channel: FakeChannel(stream), originator });
            }
        });
        let key = format!("{address}:{port}");
        lock(&self.requested).push(key.clone());
        lock(&self.forwards).insert(key, task.abort_handle());
        Ok(port)
    }

    // The forwarders' tests over this fake are TCP's; unix sockets are
    // tested against a real sshd.
    async fn open_direct_streamlocal(&self, path: &str) -> Result<FakeChannel, ChannelOpenError> {
        Err(ChannelOpenError::Refused(format!("the fake tunnel has no unix sockets ({path})")))
    }

    async fn request_remote_streamlocal(
        &self,
        path: &str,
        _: ForwardedStreamSink<FakeChannel>,
    ) -> Result<(), RemoteForwardError> {
        Err(RemoteForwardError(format!("the fake tunnel has no unix sockets ({path})")))
    }

    async fn cancel_remote_streamlocal(&self, path: &str) -> Result<(), RemoteForwardError> {
        Err(RemoteForwardError(format!("no forwarding {path}")))
    }

    async fn cancel_remote_forward(&self, address: &str, port: u16) -> Result<(), RemoteForwardError> {
        match lock(&self.forwards).remove(&format!("{address}:{port}")) {
            Some(task) => {
                task.abort();
                Ok(())
            }
            None => Err(RemoteForwardError(format!("no forwarding {address}:{port}"))),
        }
    }
}

/// A "channel" that is a loopback TCP connection.
pub struct FakeChannel(TcpStream);

pub struct FakeReader(OwnedReadHalf);

pub struct FakeWriter(tokio::sync::Mutex<OwnedWriteHalf>);

impl DataChannel for FakeChannel {
    type Reader = FakeReader;
    type Writer = FakeWriter;
    type Stream = TcpStream;

    fn split(self) -> (FakeReader, FakeWriter) {
        let (read, write) = self.0.into_split();
        (FakeReader(read), FakeWriter(tokio::sync::Mutex::new(write)))
    }

    fn into_stream(self) -> TcpStream {
        self.0
    }

    async fn close(self) {}
}

impl ChannelReader for FakeReader {
    async fn read(&mut self) -> Option<Bytes> {
        let mut buffer = vec![0u8; 16 * 1024];
        match self.0.read(&mut buffer).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                buffer.truncate(n);
                Some(Bytes::from(buffer))
            }
        }
    }
}

impl ChannelWriter for FakeWriter {
    async fn write(&self, data: Bytes) -> Result<(), ChannelClosed> {
        self.0.lock().await.write_all(&data).await.map_err(|_| ChannelClosed)
    }

    async fn eof(&self) {
        let _ = self.0.lock().await.shutdown().await;
    }

    async fn close(&self) {
        let _ = self.0.lock().await.shutdown().await;
    }
}
