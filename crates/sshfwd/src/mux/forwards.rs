//! Forwardings as the mux protocol carries them, and the master's list of
//! forwardings: those it started with, and those added (`-O forward`) or
//! removed (`-O cancel`) through its control socket.

use std::sync::Arc;

use ssh_files::forward_spec::{ConnectTo, ForwardKind, ForwardSpec, Forwarding, Listen, ListenOn, StreamForwarding};

use super::protocol::{ForwardType, WireForward, PORT_STREAMLOCAL};
use crate::forward::{self, ForwardOptions, Stoppable};
use crate::ssh::ReconnectingTunnel;

/// A forwarding the protocol cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotCarried {
    /// `ftp/`: OpenSSH's protocol has no place for it.
    #[error("sshfwd: FTP forwarding {0} cannot be requested through a control socket")]
    Ftp(String),
    /// `--ftp-to-sftp`.
    #[error("sshfwd: an FTP-to-SFTP bridge cannot be requested through a control socket")]
    Bridge,
}

/// The request for `spec`, as OpenSSH's client writes it: no listen
/// address as an empty string, `*` as itself; a dynamic forwarding with
/// no target.
pub fn to_wire(spec: &ForwardSpec) -> Result<WireForward, NotCarried> {
    let listen = |kind, listen: &Listen, connect_host: &str, connect_port: u16| WireForward {
        kind,
        listen_host: listen.bind.clone().unwrap_or_default(),
        listen_port: u32::from(listen.port),
        connect_host: connect_host.to_owned(),
        connect_port: u32::from(connect_port),
    };
    match spec {
        ForwardSpec::Local(Forwarding { ftp: true, .. }) | ForwardSpec::Remote(Forwarding { ftp: true, .. }) => {
            Err(NotCarried::Ftp(spec.to_string()))
        }
        ForwardSpec::Local(f) => Ok(listen(ForwardType::Local, &f.listen, &f.target.host, f.target.port)),
        ForwardSpec::Remote(f) => Ok(listen(ForwardType::Remote, &f.listen, &f.target.host, f.target.port)),
        ForwardSpec::Dynamic(on) => Ok(listen(ForwardType::Dynamic, on, "", 0)),
        ForwardSpec::RemoteDynamic(on) => Ok(listen(ForwardType::Remote, on, "", 0)),
        ForwardSpec::LocalStream(f) => Ok(stream(ForwardType::Local, f)),
        ForwardSpec::RemoteStream(f) => Ok(stream(ForwardType::Remote, f)),
        ForwardSpec::FtpToSftp(_) => Err(NotCarried::Bridge),
    }
}

/// A forwarding with a socket path on a side: the path in the host
/// field, [`PORT_STREAMLOCAL`] in the port field.
fn stream(kind: ForwardType, forwarding: &StreamForwarding) -> WireForward {
    let (listen_host, listen_port) = match &forwarding.listen {
        ListenOn::Port(on) => (on.bind.clone().unwrap_or_default(), u32::from(on.port)),
        ListenOn::Path(path) => (path.clone(), PORT_STREAMLOCAL),
    };
    let (connect_host, connect_port) = match &forwarding.target {
        ConnectTo::Host(target) => (target.host.clone(), u32::from(target.port)),
        ConnectTo::Path(path) => (path.clone(), PORT_STREAMLOCAL),
    };
    WireForward { kind, listen_host, listen_port, connect_host, connect_port }
}

/// The forwarding a request names, read with the command line's own
/// parser (so that every form it knows can come through); `None` for one
/// it refuses.
pub fn from_wire(wire: &WireForward) -> Option<ForwardSpec> {
    let field = |host: &str, port: u32| match port {
        PORT_STREAMLOCAL => format!("[{host}]"),
        port => format!("[{host}]:{port}"),
    };
    let listen = match (wire.listen_host.as_str(), wire.listen_port) {
        ("", port) if port != PORT_STREAMLOCAL => port.to_string(),
        (host, port) => field(host, port),
    };
    let (kind, text) = match wire.kind {
        ForwardType::Dynamic => (ForwardKind::Dynamic, listen),
        ForwardType::Local => {
            (ForwardKind::Local, format!("{listen}:{}", field(&wire.connect_host, wire.connect_port)))
        }
        ForwardType::Remote if wire.connect_host.is_empty() && wire.connect_port == 0 => (ForwardKind::Remote, listen),
        ForwardType::Remote => {
            (ForwardKind::Remote, format!("{listen}:{}", field(&wire.connect_host, wire.connect_port)))
        }
    };
    ForwardSpec::parse(kind, &text).ok()
}

/// Why a forwarding could not be added or removed; the text goes back to
/// the client in `MUX_S_FAILURE`, in OpenSSH's words where it has some.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForwardRefusal {
    #[error("Invalid forwarding request")]
    Invalid,
    #[error("Port forwarding failed")]
    Failed,
    #[error("remote port forwarding failed for listen port {0}")]
    RemoteFailed(u16),
    /// `-R 0:…`: the port the server picks is not reported back by
    /// `forward::start`.
    #[error("sshfwd: remote forwarding with an allocated port is not supported through a control socket")]
    AllocatedPort,
    #[error("port not forwarded")]
    NotForwarded,
    /// One of the run's own forwardings, which share the run's shutdown.
    #[error("sshfwd: forwarding {0} was set up at start and cannot be cancelled")]
    FromStart(String),
}

/// The forwardings a master holds.
pub struct Forwards {
    tunnel: Option<Arc<ReconnectingTunnel>>,
    options: ForwardOptions,
    /// The run's own forwardings, not stoppable alone.
    at_start: Vec<ForwardSpec>,
    added: Vec<(ForwardSpec, Stoppable)>,
}

impl Forwards {
    pub fn new(tunnel: Option<Arc<ReconnectingTunnel>>, options: ForwardOptions, at_start: Vec<ForwardSpec>) -> Self {
        Self { tunnel, options, at_start, added: Vec::new() }
    }

    /// The master's way to the server.
    pub fn tunnel(&self) -> Option<Arc<ReconnectingTunnel>> {
        self.tunnel.clone()
    }

    /// Adds a forwarding; one already there is success, as in OpenSSH.
    pub async fn open(&mut self, wire: &WireForward) -> Result<(), ForwardRefusal> {
        let spec = from_wire(wire).ok_or(ForwardRefusal::Invalid)?;
        if self.at_start.contains(&spec) || self.added.iter().any(|(s, _)| *s == spec) {
            tracing::debug!("mux: found existing forwarding {spec}");
            return Ok(());
        }
        if let ForwardSpec::Remote(Forwarding { listen: Listen { port: 0, .. }, .. }) = spec {
            return Err(ForwardRefusal::AllocatedPort);
        }
        let tunnel = self.tunnel.as_ref().ok_or(ForwardRefusal::Failed)?;
        match forward::start_stoppable(tunnel, &spec, &self.options).await {
            Ok(stoppable) => {
                self.added.push((spec, stoppable));
                Ok(())
            }
            Err(forward::ForwardError::Remote { port }) => Err(ForwardRefusal::RemoteFailed(port)),
            Err(_) => Err(ForwardRefusal::Failed),
        }
    }

    /// Removes a forwarding added through the socket.
    pub async fn close(&mut self, wire: &WireForward) -> Result<(), ForwardRefusal> {
        let spec = from_wire(wire).ok_or(ForwardRefusal::NotForwarded)?;
        let Some(at) = self.added.iter().position(|(s, _)| *s == spec) else {
            return match self.at_start.contains(&spec) {
                true => Err(ForwardRefusal::FromStart(spec.to_string())),
                false => Err(ForwardRefusal::NotForwarded),
            };
        };
        let (_, stoppable) = self.added.swap_remove(at);
        match &self.tunnel {
            Some(tunnel) => stoppable.stop(tunnel.as_ref()).await.map_err(|_| ForwardRefusal::NotForwarded),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(kind: ForwardType, lh: &str, lp: u32, ch: &str, cp: u32) -> WireForward {
        WireForward { kind, listen_host: lh.into(), listen_port: lp, connect_host: ch.into(), connect_port: cp }
    }

    /// What OpenSSH's client sends for each command-line form, and back.
    #[test]
    fn forwardings_to_and_from_the_wire() {
        let table = [
            (ForwardKind::Local, "3320:127.0.0.1:22", wire(ForwardType::Local, "", 3320, "127.0.0.1", 22)),
            (ForwardKind::Local, "*:3320:h:22", wire(ForwardType::Local, "*", 3320, "h", 22)),
            (ForwardKind::Local, "[::1]:3320:[::2]:22", wire(ForwardType::Local, "::1", 3320, "::2", 22)),
            (
                ForwardKind::Remote,
                "127.0.0.1:3321:127.0.0.1:22",
                wire(ForwardType::Remote, "127.0.0.1", 3321, "127.0.0.1", 22),
            ),
            (ForwardKind::Dynamic, "1080", wire(ForwardType::Dynamic, "", 1080, "", 0)),
            (ForwardKind::Dynamic, "localhost:1080", wire(ForwardType::Dynamic, "localhost", 1080, "", 0)),
        ];
        for (kind, text, expected) in table {
            let spec = ForwardSpec::parse(kind, text).unwrap();
            assert_eq!(to_wire(&spec), Ok(expected.clone()), "{text}");
            assert_eq!(from_wire(&expected), Some(spec), "{text}");
        }
    }

    #[test]
    fn refused_forwardings() {
        let ftp = ForwardSpec::parse(ForwardKind::Local, "ftp/2121:h:21").unwrap();
        assert_eq!(to_wire(&ftp), Err(NotCarried::Ftp("ftp/2121:h:21".into())));
        // A local forwarding needs a target port.
        assert_eq!(from_wire(&wire(ForwardType::Local, "", 3320, "h", 0)), None);
        assert_eq!(from_wire(&wire(ForwardType::Local, "", 3320, "", 22)), None);
        assert_eq!(from_wire(&wire(ForwardType::Local, "", 70000, "h", 22)), None);
    }
}
