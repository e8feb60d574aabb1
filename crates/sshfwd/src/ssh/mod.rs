//! The SSH client: connection, host key check, authentication, keepalive
//! and the channel operations the forwarders need. The only module that
//! imports russh on the client side.

mod algorithms;
mod auth;
mod channel;
mod connection;
mod exec;
mod handler;
mod hostkey;
mod pool;
pub mod prompt;
mod reconnect;
mod remote_registry;
mod sftp;
mod socket;
mod transport;
mod tunnel;

pub use algorithms::{apply_to_list, valid_list, AlgorithmError, AlgorithmOptions, Family, Offered};
pub use auth::{AgentSource, AuthError, AuthOptions, IdentityFile};
pub use channel::{SshChannel, SshChannelReader, SshChannelWriter, SshStream};
pub use connection::{connect, ConnectError, ConnectOptions, SshConnection};
pub use exec::{ExecError, ExecEvent, ExecOutput, SessionRequest};
pub use handler::SessionEnd;
pub use hostkey::{HostKeyPolicy, StrictHostKeyChecking};
pub use pool::{ConnectionPool, Lease, PoolError};
pub use reconnect::{ReconnectOptions, ReconnectingTunnel};
pub use sftp::SubsystemError;
pub use transport::{AddressFamily, JumpHost, SocketOptions, Transport};
pub use tunnel::{
    ChannelClosed, ChannelOpenError, ChannelReader, ChannelWriter, DataChannel, Forwarded, ForwardedSink,
    ForwardedStream, ForwardedStreamSink, RemoteForwardError, Tunnel,
};

/// russh's errors as OpenSSH words them (a channel-open failure by its
/// reason code, as in "connect to host:port failed: ConnectFailed").
fn describe_ssh_error(e: &russh::Error) -> String {
    match e {
        russh::Error::ChannelOpenFailure(reason) => format!("{reason:?}"),
        other => other.to_string(),
    }
}
