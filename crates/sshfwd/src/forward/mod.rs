//! Port forwarding: the byte relay, the local (-L) and dynamic (-D)
//! listeners, and remote (-R) forwardings. FTP forwarding builds on these.

pub mod bind;
pub mod dynamic;
pub mod ftp;
pub mod listener;
pub mod local;
pub mod relay;
pub mod remote;

use std::sync::Arc;

use crate::ssh::SshConnection;

/// What every forwarder shares.
#[derive(Clone)]
pub struct ForwardContext {
    pub ssh: Arc<SshConnection>,
}

/// A forwarding that could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("Could not request local forwarding.")]
    Local,
    #[error("remote port forwarding failed for listen port {port}")]
    Remote { port: u16 },
    #[error("Could not request dynamic forwarding.")]
    Dynamic,
}
