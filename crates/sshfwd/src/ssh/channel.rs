//! russh's client channels behind our own types: nothing outside `ssh`
//! names a russh type.

use bytes::Bytes;
use russh::client::Msg;
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf};

use super::tunnel::{ChannelClosed, ChannelReader, ChannelWriter, DataChannel};

/// An open SSH channel.
pub struct SshChannel(pub(super) russh::Channel<Msg>);

/// A channel as a byte stream (AsyncRead + AsyncWrite; shutdown sends EOF).
pub type SshStream = russh::ChannelStream<Msg>;

pub struct SshChannelReader(ChannelReadHalf);

pub struct SshChannelWriter(pub(super) ChannelWriteHalf<Msg>);

impl DataChannel for SshChannel {
    type Reader = SshChannelReader;
    type Writer = SshChannelWriter;
    type Stream = SshStream;

    fn split(self) -> (SshChannelReader, SshChannelWriter) {
        let (read, write) = self.0.split();
        (SshChannelReader(read), SshChannelWriter(write))
    }

    fn into_stream(self) -> SshStream {
        self.0.into_stream()
    }

    async fn close(self) {
        let _ = self.0.close().await;
    }
}

impl ChannelReader for SshChannelReader {
    async fn read(&mut self) -> Option<Bytes> {
        // Channel data is handed over as russh decoded it: written to the
        // socket from here, not copied through a buffer first (that copy was
        // 5 % of a download's CPU time in a profile).
        while let Some(message) = self.0.wait().await {
            match message {
                ChannelMsg::Data { data } => return Some(data),
                ChannelMsg::Eof | ChannelMsg::Close => return None,
                _ => {}
            }
        }
        None
    }
}

impl ChannelWriter for SshChannelWriter {
    async fn write(&self, data: Bytes) -> Result<(), ChannelClosed> {
        self.0.data_bytes(data).await.map_err(|_| ChannelClosed)
    }

    async fn eof(&self) {
        let _ = self.0.eof().await;
    }

    async fn close(&self) {
        let _ = self.0.close().await;
    }
}
