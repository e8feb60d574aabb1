//! The SSH operations that forwarders need, as a trait: open a
//! direct-tcpip or direct-streamlocal channel, request a remote forwarding
//! of a port or a unix socket, cancel one. The FTP
//! layer and the relays are written against it, so that they can be driven
//! in-process by a fake in tests; [`super::SshConnection`] is the real one.

use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

/// A connection the SSH server accepted on one of our remote forwardings.
pub struct Forwarded<C> {
    pub channel: C,
    /// The peer that connected on the server's side; a channel whose
    /// originator is not an address is refused before it gets here.
    pub originator: SocketAddr,
}

/// Where a remote forwarding's connections are handed over. Bounded: when
/// the receiving side falls behind, new connections are refused rather
/// than queued without limit.
pub type ForwardedSink<C> = mpsc::Sender<Forwarded<C>>;

/// A connection the SSH server accepted on one of our remote unix socket
/// forwardings (it has no originating address).
pub struct ForwardedStream<C> {
    pub channel: C,
}

/// Where a remote unix socket forwarding's connections are handed over;
/// bounded like [`ForwardedSink`].
pub type ForwardedStreamSink<C> = mpsc::Sender<ForwardedStream<C>>;

/// A channel that could not be opened.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChannelOpenError {
    /// The server would not open it; OpenSSH's wording of why.
    #[error("{0}")]
    Refused(String),
    /// There is no connection to ask right now: it was lost and is being
    /// made again.
    #[error("SSH connection to {host} lost, reconnecting")]
    Reconnecting { host: String },
}

/// A remote forwarding the server would not set up or cancel.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct RemoteForwardError(pub String);

/// The channel is gone (closed by the peer, or the session ended).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the SSH channel is closed")]
pub struct ChannelClosed;

/// The SSH operations forwarders need.
pub trait Tunnel: Send + Sync + 'static {
    type Channel: DataChannel;

    /// Opens a direct-tcpip channel to `host:port` on the server's side.
    fn open_direct_tcpip(
        &self,
        host: &str,
        port: u16,
        originator: SocketAddr,
    ) -> impl Future<Output = Result<Self::Channel, ChannelOpenError>> + Send;

    /// Asks the server to listen on `address:port` (port 0: any) and hand
    /// its connections to `sink`. Returns the port the server bound; the
    /// forwarding is in place when this returns.
    fn request_remote_forward(
        &self,
        address: &str,
        port: u16,
        sink: ForwardedSink<Self::Channel>,
    ) -> impl Future<Output = Result<u16, RemoteForwardError>> + Send;

    /// Cancels a remote forwarding; its connections are no longer accepted.
    fn cancel_remote_forward(
        &self,
        address: &str,
        port: u16,
    ) -> impl Future<Output = Result<(), RemoteForwardError>> + Send;

    /// Opens a direct-streamlocal@openssh.com channel to the unix socket
    /// `path` on the server's side.
    fn open_direct_streamlocal(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<Self::Channel, ChannelOpenError>> + Send;

    /// Asks the server to listen on the unix socket `path`
    /// (streamlocal-forward@openssh.com) and hand its connections to `sink`;
    /// in place when this returns.
    fn request_remote_streamlocal(
        &self,
        path: &str,
        sink: ForwardedStreamSink<Self::Channel>,
    ) -> impl Future<Output = Result<(), RemoteForwardError>> + Send;

    /// Cancels a remote unix socket forwarding.
    fn cancel_remote_streamlocal(&self, path: &str) -> impl Future<Output = Result<(), RemoteForwardError>> + Send;

    /// Whether the SSH connection is gone (so that a channel that just
    /// closed was cut, not closed by its peer).
    fn connection_lost(&self) -> bool {
        false
    }
}

/// An open channel carrying a byte stream.
pub trait DataChannel: Send + Sized + 'static {
    type Reader: ChannelReader;
    type Writer: ChannelWriter;
    type Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static;

    fn split(self) -> (Self::Reader, Self::Writer);
    /// The channel as a byte stream (shutdown sends EOF).
    fn into_stream(self) -> Self::Stream;
    /// Closes a channel that will not be used: a dropped channel is not
    /// closed, and the server would keep its far end open.
    fn close(self) -> impl Future<Output = ()> + Send;
}

/// The receiving half of a channel.
pub trait ChannelReader: Send + 'static {
    /// The next data; `None` once the peer has sent EOF or closed.
    fn read(&mut self) -> impl Future<Output = Option<Bytes>> + Send;
}

/// The sending half of a channel.
pub trait ChannelWriter: Send + Sync + 'static {
    fn write(&self, data: Bytes) -> impl Future<Output = Result<(), ChannelClosed>> + Send;
    fn eof(&self) -> impl Future<Output = ()> + Send;
    fn close(&self) -> impl Future<Output = ()> + Send;
}
