//! The SSH client: connection, host key check, authentication, keepalive
//! and the channel operations the forwarders need. The only module that
//! imports russh on the client side.

mod algorithms;
mod auth;
mod connection;
mod handler;
mod hostkey;
pub mod prompt;
mod remote_registry;
mod socket;

pub use algorithms::{AlgorithmError, AlgorithmOptions};
pub use auth::{AgentSource, AuthError, AuthOptions, IdentityFile};
pub use connection::{connect, io_reason, ConnectError, ConnectOptions, SshConnection};
pub use handler::SessionEnd;
pub use hostkey::{HostKeyPolicy, StrictHostKeyChecking};
pub use remote_registry::{ForwardedConnection, ForwardedSink};

/// An open SSH channel.
pub type SshChannel = russh::Channel<russh::client::Msg>;
/// A channel as a byte stream (AsyncRead + AsyncWrite; shutdown sends EOF).
pub type SshStream = russh::ChannelStream<russh::client::Msg>;
/// One message on a channel.
pub use russh::ChannelMsg;
