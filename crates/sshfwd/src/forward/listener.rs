//! Local listeners (`-L`, `-D`, `-L ftp/`, the bridge) on the one
//! accept-and-shutdown loop of sshfwd-net: what each kind does with a
//! connection, and what it tells a peer that comes beyond the connection
//! cap, beyond its source's cap (`PerSourceMaxConnections`), or while its
//! source is penalised (the bridge's failed logins).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ssh_files::config::FtpSettings;
use sshfwd_net::accept::{self, AcceptOptions, Service};
use sshfwd_net::admission::{self, Admission, AdmissionPolicy, MaxStartups, Network, Offence, Startup};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What a listener tells a peer that comes beyond its connection cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Close without a word: a TCP forwarding has no way to say why.
    Close,
    /// An FTP `421` greeting naming the limit, so that an FTP client shows
    /// the reason instead of a dropped connection.
    FtpBusy,
}

/// How long a refusal may take to say its piece to a peer that does not
/// read.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(5);

/// Who may hold a connection on one listener: at most
/// `PerSourceMaxConnections` per source on a gateway listener, none from a
/// penalised source. sshfwd-net's admission record does both; its
/// `MaxStartups` is left unbounded, the accept loop's cap being the
/// listener's whole limit.
#[derive(Clone, Debug)]
pub struct Gate {
    admission: Arc<Admission>,
}

impl Gate {
    /// The gate `PerSourceMaxConnections` and `PerSourcePenaltyExemptList`
    /// describe for a listener that is a `gateway` ([`is_gateway`]);
    /// penalties with OpenSSH 9.8's defaults.
    pub fn new(settings: &FtpSettings, gateway: bool) -> Gate {
        let exempt = settings.penalty_exempt.iter().filter_map(|block| Network::parse(&block.to_string())).collect();
        let policy = AdmissionPolicy {
            max_startups: MaxStartups { start: usize::MAX, rate: 100, full: usize::MAX },
            per_source: settings.per_source_max_connections.filter(|_| gateway),
            penalties: admission::Penalties { exempt, ..admission::Penalties::default() },
            ..AdmissionPolicy::default()
        };
        Gate { admission: Admission::new(policy) }
    }

    /// A place for a connection from `peer`, held until dropped.
    pub fn admit(&self, peer: IpAddr) -> Result<Startup, admission::Refusal> {
        // The dice do not matter: MaxStartups never refuses here.
        self.admission.admit(peer, Instant::now(), 0.0)
    }

    /// How long `peer`'s source is still refused, if it is.
    pub fn penalised(&self, peer: IpAddr) -> Option<Duration> {
        match self.admit(peer) {
            Err(admission::Refusal::Penalised { remaining, .. }) => Some(remaining),
            _ => None,
        }
    }

    /// Counts a failed login against `peer`'s source.
    pub fn penalise(&self, peer: IpAddr, offence: Offence) {
        self.admission.penalise(peer, offence, Instant::now());
    }
}

/// Whether `listeners` take connections from beyond this host (`-g`, a
/// bind address). On loopback alone every client is a local user, all
/// from one address or two: a per-source cap would be a second, smaller
/// cap on the whole listener.
pub fn is_gateway(listeners: &[TcpListener]) -> bool {
    listeners.iter().any(|l| l.local_addr().is_ok_and(|a| !a.ip().is_loopback()))
}

/// A listener's connection handler, from a closure, with its refusal and
/// its gate.
#[derive(Clone)]
pub struct Connections<F> {
    pub handle: F,
    pub refusal: Refusal,
    pub gate: Gate,
}

impl<F, Fut> Service for Connections<F>
where
    F: Fn(TcpStream, SocketAddr) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn serve(&self, stream: TcpStream, peer: SocketAddr, _: CancellationToken) -> impl Future<Output = ()> + Send {
        let admitted = self.gate.admit(peer.ip());
        let (handle, refusal) = (self.handle.clone(), self.refusal);
        async move {
            match admitted {
                Ok(place) => {
                    handle(stream, peer).await;
                    drop(place);
                }
                Err(why) => {
                    tracing::info!("refused connection from {} port {}: {}", peer.ip(), peer.port(), refusal_log(&why));
                    if refusal == Refusal::FtpBusy {
                        let reply = ftp_refusal(&why);
                        let _ = tokio::time::timeout(REFUSAL_TIMEOUT, say_and_close(stream, &reply)).await;
                    }
                }
            }
        }
    }

    async fn refuse(&self, mut stream: TcpStream, _: SocketAddr, limit: usize) {
        if self.refusal == Refusal::FtpBusy {
            let reply = format!(
                "421 sshfwd: too many FTP sessions at once on this port (limit {limit}; raise it with MaxForwardedConnections)\r\n"
            );
            let _ = stream.write_all(reply.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    }
}

/// A gate's refusal for the log, in sshfwd's words (sshfwd-net's name
/// sshd's keywords).
fn refusal_log(why: &admission::Refusal) -> String {
    match why {
        admission::Refusal::Penalised { network, remaining } => {
            format!("source {network} penalised for failed logins, {}s more", remaining.as_secs().max(1))
        }
        admission::Refusal::PerSource { network, limit } => {
            format!("source {network} has {limit} connections open, the limit (PerSourceMaxConnections)")
        }
        other => other.to_string(),
    }
}

/// The `421` an FTP client is greeted with when the gate refuses it.
pub fn ftp_refusal(why: &admission::Refusal) -> String {
    match why {
        admission::Refusal::Penalised { remaining, .. } => format!(
            "421 sshfwd: your address is penalised for failed logins; try again in {} s\r\n",
            remaining.as_secs().max(1)
        ),
        admission::Refusal::PerSource { limit, .. } => {
            format!("421 sshfwd: too many connections from your address on this port (limit {limit})\r\n")
        }
        admission::Refusal::Startups { .. } => "421 sshfwd: too many connections on this port\r\n".into(),
    }
}

async fn say_and_close(mut stream: TcpStream, reply: &str) {
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Spawns into `tracker` the loop that serves `listeners` with `service`
/// until `shutdown`.
pub fn spawn<S: Service>(
    listeners: Vec<TcpListener>,
    options: AcceptOptions,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
    service: S,
) {
    tracker.spawn(accept::serve(listeners, options, shutdown, tracker.clone(), service));
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncReadExt;

    use super::*;

    #[tokio::test]
    async fn an_ftp_listener_over_its_cap_answers_421_with_the_limit() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
        let held = CancellationToken::new();
        let hold = held.clone();
        let handle = move |_stream: TcpStream, _| {
            let hold = hold.clone();
            async move { hold.cancelled().await }
        };
        let options = AcceptOptions { max_connections: 1, name: "test".into() };
        let service = Connections { handle, refusal: Refusal::FtpBusy, gate: Gate::new(&FtpSettings::default(), true) };
        spawn(vec![listener], options, shutdown.clone(), &tracker, service);

        let _first = TcpStream::connect(address).await.unwrap();
        let mut second = TcpStream::connect(address).await.unwrap();
        let mut reply = String::new();
        tokio::time::timeout(Duration::from_secs(5), second.read_to_string(&mut reply)).await.unwrap().unwrap();
        assert_eq!(
            reply,
            "421 sshfwd: too many FTP sessions at once on this port (limit 1; raise it with MaxForwardedConnections)\r\n"
        );
        held.cancel();
        shutdown.cancel();
    }

    /// A listener whose connections are held until `held` is cancelled,
    /// with `per_source` places a source.
    async fn holding_listener(per_source: usize, held: &CancellationToken) -> (SocketAddr, Gate) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let hold = held.clone();
        let handle = move |mut stream: TcpStream, _| {
            let hold = hold.clone();
            async move {
                let _ = stream.write_all(b"220 hello\r\n").await;
                hold.cancelled().await
            }
        };
        let settings = FtpSettings { per_source_max_connections: Some(per_source), ..FtpSettings::default() };
        let gate = Gate::new(&settings, true);
        let options = AcceptOptions { max_connections: 100, name: "test".into() };
        let service = Connections { handle, refusal: Refusal::FtpBusy, gate: gate.clone() };
        spawn(vec![listener], options, held.clone(), &TaskTracker::new(), service);
        (address, gate)
    }

    /// Connects from `source` and reads the greeting line.
    async fn greeting(source: [u8; 4], address: SocketAddr) -> (TcpStream, String) {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from((source, 0))).unwrap();
        let mut stream = socket.connect(address).await.unwrap();
        let mut line = Vec::new();
        let mut byte = [0; 1];
        while tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await.unwrap().unwrap() == 1 {
            line.push(byte[0]);
            if byte[0] == b'\n' {
                break;
            }
        }
        (stream, String::from_utf8(line).unwrap())
    }

    #[tokio::test]
    async fn one_source_over_its_cap_is_refused_and_another_is_served() {
        let held = CancellationToken::new();
        let (address, _gate) = holding_listener(2, &held).await;
        let (_first, line) = greeting([127, 0, 0, 2], address).await;
        assert_eq!(line, "220 hello\r\n");
        let (_second, _) = greeting([127, 0, 0, 2], address).await;
        let (_, line) = greeting([127, 0, 0, 2], address).await;
        assert_eq!(line, "421 sshfwd: too many connections from your address on this port (limit 2)\r\n");
        let (_other, line) = greeting([127, 0, 0, 3], address).await;
        assert_eq!(line, "220 hello\r\n");
        held.cancel();
    }

    #[tokio::test]
    async fn a_penalised_source_is_refused_at_once() {
        let held = CancellationToken::new();
        let (address, gate) = holding_listener(10, &held).await;
        // 5 s a failure, refused from 15 s: the fourth, the clock having
        // moved on between them.
        for _ in 0..4 {
            gate.penalise("127.0.0.4".parse().unwrap(), Offence::AuthFail);
        }
        assert!(gate.penalised("127.0.0.4".parse().unwrap()).is_some());
        let (_, line) = greeting([127, 0, 0, 4], address).await;
        assert!(line.starts_with("421 sshfwd: your address is penalised for failed logins; try again in 1"), "{line}");
        let (_, line) = greeting([127, 0, 0, 5], address).await;
        assert_eq!(line, "220 hello\r\n");
        held.cancel();
    }
}
