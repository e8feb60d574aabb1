//! The FTP session driver in-process: the test plays the FTP client and
//! the FTP server over in-memory control connections, and the SSH side is
//! [`FakeTunnel`]. Data connections are real loopback sockets, so what is
//! checked is what an FTP client and server would see. No root, no sshd.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use ftp_proto::reply::{parse_epsv_reply, parse_pasv_reply};
use ssh_files::config::{FtpPassiveAddress, FtpSettings, FtpTls};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::{DataLimits, Endpoints, FtpSession, SessionParams};
use crate::audit::AuditLog;
use crate::forward::fake::FakeTunnel;

/// Every wait in these tests ends within this.
const WAIT: Duration = Duration::from_secs(5);
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// One session between a test-driven FTP client and FTP server.
struct Pair {
    tunnel: Arc<FakeTunnel>,
    client: BufReader<DuplexStream>,
    server: BufReader<DuplexStream>,
    session: JoinHandle<()>,
}

struct Setup {
    endpoints: Endpoints,
    limits: DataLimits,
    data_timeout: Duration,
    tls: FtpTls,
    audit: AuditLog,
    login_timeout: Option<Duration>,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            endpoints: Endpoints::Local { listen_ip: LOOPBACK, active_bind: None },
            limits: DataLimits::default(),
            data_timeout: WAIT,
            tls: FtpTls::Refuse,
            audit: AuditLog::default(),
            login_timeout: FtpSettings::default().login_timeout,
        }
    }
}

fn remote_endpoints() -> Endpoints {
    Endpoints::Remote { remote_bind: "127.0.0.1".into(), server_facing_ip: LOOPBACK, server_ip: LOOPBACK }
}

impl Pair {
    fn new(setup: Setup) -> Self {
        Self::with_tunnel(setup, Arc::new(FakeTunnel::default()))
    }

    fn with_tunnel(setup: Setup, tunnel: Arc<FakeTunnel>) -> Self {
        let (client, client_end) = tokio::io::duplex(64 * 1024);
        let (server, server_end) = tokio::io::duplex(64 * 1024);
        let params = SessionParams {
            id: 1,
            client_addr: SocketAddr::new(LOOPBACK, 40000),
            server_host: "127.0.0.1".into(),
            endpoints: setup.endpoints,
            settings: FtpSettings {
                data_timeout: setup.data_timeout,
                passive_address: FtpPassiveAddress::ControlHost,
                allow_foreign_passive: false,
                allow_third_party_active: false,
                tls: setup.tls,
                login_timeout: setup.login_timeout,
                ..FtpSettings::default()
            },
            limits: setup.limits,
            audit: setup.audit,
        };
        let session = tokio::spawn(FtpSession::new(params, tunnel.clone()).run(client_end, server_end));
        Self { tunnel, client: BufReader::new(client), server: BufReader::new(server), session }
    }

    async fn client_says(&mut self, line: &str) {
        self.client.get_mut().write_all(format!("{line}\r\n").as_bytes()).await.unwrap();
    }

    async fn server_says(&mut self, line: &str) {
        self.server.get_mut().write_all(format!("{line}\r\n").as_bytes()).await.unwrap();
    }

    async fn client_hears(&mut self) -> String {
        read_line(&mut self.client).await
    }

    async fn server_hears(&mut self) -> String {
        read_line(&mut self.server).await
    }

    /// Ends both control connections and waits for the session to finish.
    async fn close(self) -> Arc<FakeTunnel> {
        drop(self.client);
        drop(self.server);
        tokio::time::timeout(WAIT, self.session).await.expect("session ends").unwrap();
        self.tunnel
    }
}

async fn read_line(reader: &mut BufReader<DuplexStream>) -> String {
    let mut line = String::new();
    tokio::time::timeout(WAIT, reader.read_line(&mut line)).await.expect("a line in time").unwrap();
    line
}

/// An FTP data endpoint: a loopback listener that answers its one
/// connection with `greeting` and returns what it received.
async fn data_endpoint(greeting: &'static [u8]) -> (SocketAddrV4, JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let SocketAddr::V4(address) = listener.local_addr().unwrap() else { unreachable!() };
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        exchange(&mut stream, greeting).await
    });
    (address, task)
}

/// Sends `greeting`, ends the sending side, and reads until the peer ends.
async fn exchange(stream: &mut TcpStream, greeting: &[u8]) -> Vec<u8> {
    stream.write_all(greeting).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut received = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut received)).await.expect("data in time").unwrap();
    received
}

fn port_argument(address: SocketAddrV4) -> String {
    let [a, b, c, d] = address.ip().octets();
    format!("{a},{b},{c},{d},{},{}", address.port() >> 8, address.port() & 0xff)
}

fn pasv_reply(address: SocketAddrV4) -> String {
    format!("227 Entering Passive Mode ({}).", port_argument(address))
}

/// Connecting to `address` is refused (its listener is gone).
async fn refused(address: SocketAddr) -> bool {
    matches!(TcpStream::connect(address).await, Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused)
}

/// Waits (bounded) until `check` holds.
async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    check()
}

#[tokio::test]
async fn lines_without_addresses_pass_byte_for_byte() {
    let mut pair = Pair::new(Setup::default());
    pair.server_says("220-Welcome\r\n220 ready").await;
    assert_eq!(pair.client_hears().await, "220-Welcome\r\n");
    assert_eq!(pair.client_hears().await, "220 ready\r\n");
    pair.client.get_mut().write_all(b"USER anonymous\n").await.unwrap();
    assert_eq!(pair.server_hears().await, "USER anonymous\n");
    pair.close().await;
}

#[tokio::test]
async fn a_session_that_does_not_log_in_in_time_is_closed_with_421() {
    let setup = Setup { login_timeout: Some(Duration::from_millis(300)), ..Setup::default() };
    let mut pair = Pair::new(setup);
    pair.server_says("220 ready").await;
    assert_eq!(pair.client_hears().await, "220 ready\r\n");
    pair.client_says("USER someone").await;
    assert_eq!(pair.server_hears().await, "USER someone\r\n");
    // A 230 inside another reply's text is not a login.
    pair.server_says("331-Password please\r\n230 is not a code here\r\n331 go on").await;
    for _ in 0..3 {
        pair.client_hears().await;
    }
    assert_eq!(
        pair.client_hears().await,
        "421 sshfwd: no login within FtpLoginTimeout, closing control connection\r\n"
    );
    assert_eq!(pair.client_hears().await, "", "the client's connection is closed");
    assert_eq!(pair.server_hears().await, "", "and so is the server's");
    pair.close().await;
}

#[tokio::test]
async fn a_logged_in_session_outlives_the_login_timeout() {
    let setup = Setup { login_timeout: Some(Duration::from_millis(200)), ..Setup::default() };
    let mut pair = Pair::new(setup);
    pair.server_says("220 ready").await;
    pair.client_hears().await;
    pair.client_says("PASS secret").await;
    pair.server_hears().await;
    pair.server_says("230-Welcome\r\n230 logged in").await;
    pair.client_hears().await;
    pair.client_hears().await;
    // Past the timeout the session still relays.
    tokio::time::sleep(Duration::from_millis(400)).await;
    pair.client_says("NOOP").await;
    assert_eq!(pair.server_hears().await, "NOOP\r\n");
    pair.server_says("200 ok").await;
    assert_eq!(pair.client_hears().await, "200 ok\r\n");
    pair.close().await;
}

#[tokio::test]
async fn pasv_reply_is_rewritten_to_a_one_shot_listener_through_the_tunnel() {
    let mut pair = Pair::new(Setup::default());
    let (data_server, received_by_server) = data_endpoint(b"file contents").await;
    pair.client_says("PASV").await;
    assert_eq!(pair.server_hears().await, "PASV\r\n");
    // The reply's address is not followed: the data goes to the control host.
    let foreign = SocketAddrV4::new(Ipv4Addr::new(10, 9, 8, 7), data_server.port());
    pair.server_says(&pasv_reply(foreign)).await;
    let rewritten = pair.client_hears().await;
    let listener = parse_pasv_reply(rewritten.as_bytes()).expect("a 227 reply");
    assert_eq!(*listener.ip(), Ipv4Addr::LOCALHOST);
    assert_ne!(listener.port(), data_server.port());

    let mut data = TcpStream::connect(listener).await.unwrap();
    assert_eq!(exchange(&mut data, b"upload").await, b"file contents");
    assert_eq!(received_by_server.await.unwrap(), b"upload");
    assert_eq!(pair.tunnel.opened(), vec![format!("127.0.0.1:{}", data_server.port())]);
    // One shot: the listener went with its connection.
    assert!(refused(listener.into()).await);
    pair.close().await;
}

#[tokio::test]
async fn epsv_reply_is_rewritten() {
    let mut pair = Pair::new(Setup::default());
    let (data_server, received_by_server) = data_endpoint(b"listing").await;
    pair.client_says("EPSV").await;
    pair.server_hears().await;
    pair.server_says(&format!("229 Entering Extended Passive Mode (|||{}|)", data_server.port())).await;
    let port = parse_epsv_reply(pair.client_hears().await.as_bytes()).expect("a 229 reply");
    assert_ne!(port, data_server.port());
    let mut data = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await.unwrap();
    assert_eq!(exchange(&mut data, b"").await, b"listing");
    assert_eq!(received_by_server.await.unwrap(), b"");
    pair.close().await;
}

#[tokio::test]
async fn port_and_eprt_become_a_remote_forwarding_to_the_clients_listener() {
    for command in ["PORT", "EPRT"] {
        let mut pair = Pair::new(Setup::default());
        let (client_listener, received_by_client) = data_endpoint(b"upload").await;
        let argument = match command {
            "PORT" => port_argument(client_listener),
            _ => format!("|1|127.0.0.1|{}|", client_listener.port()),
        };
        pair.client_says(&format!("{command} {argument}")).await;
        // An IPv4 address goes to the server as PORT, which all servers know.
        let rewritten = pair.server_hears().await;
        let forwarded = rewritten.strip_prefix("PORT ").expect("a PORT command");
        let numbers: Vec<u16> = forwarded.trim_end().split(',').map(|n| n.parse().unwrap()).collect();
        let [127, 0, 0, 1, high, low] = numbers[..] else { panic!("{rewritten}") };
        let forwarding_port = high << 8 | low;
        assert_eq!(pair.tunnel.requested(), vec![format!("127.0.0.1:{forwarding_port}")]);
        pair.server_says("200 PORT command successful").await;
        assert_eq!(pair.client_hears().await, "200 PORT command successful\r\n");

        // The FTP server connects to the forwarding on "the SSH server".
        let mut data = TcpStream::connect((Ipv4Addr::LOCALHOST, forwarding_port)).await.unwrap();
        assert_eq!(exchange(&mut data, b"download").await, b"upload", "{command}");
        assert_eq!(received_by_client.await.unwrap(), b"download");
        // Used once, then cancelled.
        assert!(eventually(|| pair.tunnel.remote_forwards() == 0).await, "{command}");
        pair.close().await;
    }
}

#[tokio::test]
async fn refused_commands_get_their_reply_and_reach_no_server() {
    let cases = [
        ("PORT 10,0,0,1,200,10", "500 "),     // not the client's address: bounce
        ("PORT 127,0,0,1,0,21", "504 "),      // a privileged port
        ("PORT 127,0,0,1,999,1", "501 "),     // malformed
        ("LPRT 4,4,127,0,0,1,2,4,1", "502 "), // no long addresses
        ("AUTH TLS", "534 "),                 // SSH protects the connection
    ];
    let mut pair = Pair::new(Setup::default());
    for (command, code) in cases {
        pair.client_says(command).await;
        let reply = pair.client_hears().await;
        assert!(reply.starts_with(code) && reply.contains("sshfwd"), "{command}: {reply}");
    }
    pair.client_says("NOOP").await;
    // The first thing the server sees is the NOOP: nothing refused got through.
    assert_eq!(pair.server_hears().await, "NOOP\r\n");
    assert!(pair.tunnel.requested().is_empty());
    pair.close().await;
}

#[tokio::test]
async fn a_refused_port_withdraws_its_forwarding_at_once() {
    // Far beyond the wait below: only the withdrawal can remove it in time.
    let mut pair = Pair::new(Setup { data_timeout: Duration::from_secs(60), ..Setup::default() });
    let (client_listener, _) = data_endpoint(b"").await;
    pair.client_says(&format!("PORT {}", port_argument(client_listener))).await;
    pair.server_hears().await;
    assert_eq!(pair.tunnel.remote_forwards(), 1);
    pair.server_says("500 Illegal PORT command").await;
    assert_eq!(pair.client_hears().await, "500 Illegal PORT command\r\n");
    // Not at FtpDataTimeout: now.
    assert!(eventually(|| pair.tunnel.remote_forwards() == 0).await);
    pair.close().await;
}

#[tokio::test]
async fn session_end_withdraws_the_forwardings_still_waiting() {
    let mut pair = Pair::new(Setup { data_timeout: Duration::from_secs(60), ..Setup::default() });
    let (data_server, _) = data_endpoint(b"").await;
    pair.client_says("PASV").await;
    pair.server_hears().await;
    pair.server_says(&pasv_reply(data_server)).await;
    let passive = parse_pasv_reply(pair.client_hears().await.as_bytes()).unwrap();
    let (client_listener, _) = data_endpoint(b"").await;
    pair.client_says(&format!("PORT {}", port_argument(client_listener))).await;
    pair.server_hears().await;
    assert_eq!(pair.tunnel.remote_forwards(), 1);

    let tunnel = pair.close().await;
    assert!(refused(passive.into()).await, "the passive listener is gone");
    assert!(eventually(|| tunnel.remote_forwards() == 0).await, "the remote forwarding is cancelled");
}

#[tokio::test]
async fn an_unused_data_listener_goes_after_the_data_timeout() {
    let mut pair = Pair::new(Setup { data_timeout: Duration::from_millis(50), ..Setup::default() });
    let (data_server, _) = data_endpoint(b"").await;
    pair.client_says("PASV").await;
    pair.server_hears().await;
    pair.server_says(&pasv_reply(data_server)).await;
    let passive = parse_pasv_reply(pair.client_hears().await.as_bytes()).unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !refused(passive.into()).await {
        assert!(tokio::time::Instant::now() < deadline, "the listener outlived its timeout");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    pair.close().await;
}

#[tokio::test]
async fn the_limits_refuse_with_a_425_that_names_the_limit() {
    let mut pair = Pair::new(Setup { limits: DataLimits::new(2, 100), ..Setup::default() });
    let (data_server, _) = data_endpoint(b"").await;
    for _ in 0..2 {
        pair.server_says(&pasv_reply(data_server)).await;
        assert!(pair.client_hears().await.starts_with("227 "));
    }
    pair.server_says(&pasv_reply(data_server)).await;
    assert_eq!(
        pair.client_hears().await,
        "425 sshfwd: too many data connections in this session (limit 2, fixed: FTP uses one at a time)\r\n"
    );
    pair.close().await;

    // The total is shared by every session given the same limits.
    let shared = DataLimits::new(8, 1);
    let mut first = Pair::new(Setup { limits: shared.clone(), ..Setup::default() });
    let mut second = Pair::new(Setup { limits: shared, ..Setup::default() });
    first.server_says(&pasv_reply(data_server)).await;
    assert!(first.client_hears().await.starts_with("227 "));
    let (client_listener, _) = data_endpoint(b"").await;
    second.client_says(&format!("PORT {}", port_argument(client_listener))).await;
    assert_eq!(
        second.client_hears().await,
        "425 sshfwd: too many data connections through sshfwd at once (limit 1; raise it with FtpMaxDataChannels)\r\n"
    );
    first.close().await;
    second.close().await;
}

/// Issue 12: with many sessions of one transfer each, the sessions past the
/// total cap were told the cap was their own session's.
#[tokio::test]
async fn many_sessions_past_the_total_cap_are_told_it_is_the_total() {
    let shared = DataLimits::new(8, 20);
    let (data_server, _) = data_endpoint(b"").await;
    let mut pairs: Vec<Pair> =
        (0..30).map(|_| Pair::new(Setup { limits: shared.clone(), ..Setup::default() })).collect();
    let mut replies = Vec::new();
    for pair in &mut pairs {
        pair.server_says(&pasv_reply(data_server)).await;
        replies.push(pair.client_hears().await);
    }
    let granted = replies.iter().filter(|r| r.starts_with("227 ")).count();
    let total =
        "425 sshfwd: too many data connections through sshfwd at once (limit 20; raise it with FtpMaxDataChannels)\r\n";
    let refused = replies.iter().filter(|r| *r == total).count();
    assert_eq!((granted, refused), (20, 10), "{replies:?}");
    for pair in pairs {
        pair.close().await;
    }
}

#[tokio::test]
async fn remote_side_pasv_becomes_a_remote_forwarding_and_port_a_local_listener() {
    let mut pair = Pair::new(Setup { endpoints: remote_endpoints(), ..Setup::default() });
    // PASV: the FTP client beyond SSH reaches a forwarding on the SSH server.
    let (data_server, received_by_server) = data_endpoint(b"from server").await;
    pair.server_says(&pasv_reply(data_server)).await;
    let forwarding = parse_pasv_reply(pair.client_hears().await.as_bytes()).unwrap();
    assert_eq!(pair.tunnel.requested(), vec![format!("127.0.0.1:{}", forwarding.port())]);
    let mut data = TcpStream::connect(forwarding).await.unwrap();
    assert_eq!(exchange(&mut data, b"to server").await, b"from server");
    assert_eq!(received_by_server.await.unwrap(), b"to server");

    // PORT: the FTP server beside us connects to a local listener, which
    // reaches the client's listener through a direct-tcpip channel.
    let (client_listener, received_by_client) = data_endpoint(b"from client").await;
    pair.client_says(&format!("PORT {}", port_argument(client_listener))).await;
    let rewritten = pair.server_hears().await;
    let numbers: Vec<u16> =
        rewritten.trim_start_matches("PORT ").trim_end().split(',').map(|n| n.parse().unwrap()).collect();
    let local = SocketAddr::from(([127, 0, 0, 1], numbers[4] << 8 | numbers[5]));
    let mut data = TcpStream::connect(local).await.unwrap();
    assert_eq!(exchange(&mut data, b"to client").await, b"from client");
    assert_eq!(received_by_client.await.unwrap(), b"to client");
    assert!(pair.tunnel.opened().contains(&client_listener.to_string()));
    pair.close().await;
}

#[tokio::test]
async fn an_overlong_line_ends_the_session() {
    let mut pair = Pair::new(Setup::default());
    let long = "A".repeat(super::MAX_LINE + 10);
    pair.client.get_mut().write_all(long.as_bytes()).await.unwrap();
    tokio::time::timeout(WAIT, &mut pair.session).await.expect("the session ends").unwrap();
}

#[tokio::test]
async fn tls_passed_through_makes_both_directions_opaque() {
    let mut pair = Pair::new(Setup { tls: FtpTls::Pass, ..Setup::default() });
    pair.client_says("AUTH TLS").await;
    assert_eq!(pair.server_hears().await, "AUTH TLS\r\n");
    // From now on a 227 is just bytes.
    pair.server_says("234 go ahead\r\n227 Entering Passive Mode (127,0,0,1,4,1)").await;
    assert_eq!(pair.client_hears().await, "234 go ahead\r\n");
    assert_eq!(pair.client_hears().await, "227 Entering Passive Mode (127,0,0,1,4,1)\r\n");
    pair.client_says("PORT 10,0,0,1,4,1").await;
    assert_eq!(pair.server_hears().await, "PORT 10,0,0,1,4,1\r\n");
    assert!(pair.tunnel.opened().is_empty() && pair.tunnel.requested().is_empty());
    pair.close().await;
}

#[tokio::test]
async fn a_data_listener_turns_away_other_addresses_and_waits_for_the_client() {
    let mut pair = Pair::new(Setup::default());
    let (data_server, received_by_server) = data_endpoint(b"for the client").await;
    pair.server_says(&pasv_reply(data_server)).await;
    let passive = parse_pasv_reply(pair.client_hears().await.as_bytes()).unwrap();

    let intruder = tokio::net::TcpSocket::new_v4().unwrap();
    intruder.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut intruder = intruder.connect(passive.into()).await.unwrap();
    let mut stolen = Vec::new();
    let read = tokio::time::timeout(WAIT, intruder.read_to_end(&mut stolen)).await.expect("closed in time");
    assert!(read.is_err() || stolen.is_empty(), "the intruder got {stolen:?}");

    let mut data = TcpStream::connect(passive).await.unwrap();
    assert_eq!(exchange(&mut data, b"").await, b"for the client");
    assert_eq!(received_by_server.await.unwrap(), b"");
    pair.close().await;
}

/// The audit log's records of real transfers through the session.
mod audit {
    use serde_json::Value;
    use ssh_files::config::FtpAuditLog;

    use super::*;

    /// A session whose audit log is a file in a fresh directory.
    fn audited() -> (Pair, tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let audit = AuditLog::open(&FtpAuditLog::File(path.clone())).unwrap();
        (Pair::new(Setup { audit, ..Setup::default() }), dir, path)
    }

    fn records(path: &std::path::Path) -> Vec<Value> {
        let text = std::fs::read_to_string(path).unwrap();
        text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    }

    fn of(records: &[Value], event: &str) -> Vec<Value> {
        records.iter().filter(|r| r["event"] == event).cloned().collect()
    }

    async fn log_in(pair: &mut Pair) {
        pair.server_says("220 ready").await;
        pair.client_hears().await;
        pair.client_says("USER alice").await;
        pair.server_hears().await;
        pair.server_says("331 password please").await;
        pair.client_hears().await;
        pair.client_says("PASS hunter2").await;
        pair.server_hears().await;
        pair.server_says("230 logged in").await;
        pair.client_hears().await;
    }

    /// PASV, then `command`; the server's data side sends `download` and
    /// the client's sends `upload`. Returns the data listener's address.
    async fn passive_transfer(pair: &mut Pair, command: &str, download: &'static [u8], upload: &'static [u8]) {
        let (data_server, received_by_server) = data_endpoint(download).await;
        pair.client_says("PASV").await;
        pair.server_hears().await;
        pair.server_says(&pasv_reply(data_server)).await;
        let listener = parse_pasv_reply(pair.client_hears().await.as_bytes()).unwrap();
        pair.client_says(command).await;
        pair.server_hears().await;
        pair.server_says("150 opening data connection").await;
        pair.client_hears().await;
        let mut data = TcpStream::connect(listener).await.unwrap();
        assert_eq!(exchange(&mut data, upload).await, download);
        assert_eq!(received_by_server.await.unwrap(), upload);
    }

    #[tokio::test]
    async fn a_retrieval_is_recorded_with_its_bytes_and_code() {
        let (mut pair, _dir, path) = audited();
        log_in(&mut pair).await;
        let file = vec![7u8; 100_000].leak();
        passive_transfer(&mut pair, "RETR big.bin", file, b"").await;
        pair.server_says("226 Transfer complete").await;
        pair.client_hears().await;
        passive_transfer(&mut pair, "STOR up.txt", b"", b"twelve bytes").await;
        pair.server_says("226 Transfer complete").await;
        pair.client_hears().await;
        pair.client_says("QUIT").await;
        pair.server_hears().await;
        pair.server_says("221 bye").await;
        pair.client_hears().await;
        pair.close().await;

        let all = records(&path);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        let login = &of(&all, "login")[0];
        assert_eq!(
            (&login["user"], &login["result"], &login["code"]),
            (&"alice".into(), &"accepted".into(), &230.into())
        );
        assert_eq!(
            (&login["service"], &login["session"], &login["client"]),
            (&"ftp-forward".into(), &1.into(), &"127.0.0.1:40000".into())
        );
        let transfers = of(&all, "transfer");
        assert_eq!(transfers.len(), 2, "{text}");
        let (retr, stor) = (&transfers[0], &transfers[1]);
        assert_eq!(
            (&retr["command"], &retr["argument"], &retr["mode"]),
            (&"RETR".into(), &"big.bin".into(), &"PASV".into())
        );
        assert_eq!(
            (&retr["bytes_to_client"], &retr["bytes_to_server"], &retr["code"]),
            (&100_000.into(), &0.into(), &226.into())
        );
        assert_eq!(retr["user"], "alice");
        assert!(retr["data_client"].as_str().unwrap().starts_with("127.0.0.1:"), "{retr}");
        assert!(retr["data_server"].as_str().unwrap().starts_with("127.0.0.1:"), "{retr}");
        assert!(retr["time"].as_str().unwrap().ends_with('Z'));
        assert!(retr["duration_ms"].is_u64());
        assert_eq!(
            (&stor["command"], &stor["bytes_to_server"], &stor["bytes_to_client"]),
            (&"STOR".into(), &12.into(), &0.into())
        );
        let end = &of(&all, "end")[0];
        assert_eq!((&end["reason"], &end["user"]), (&"quit".into(), &"alice".into()));
        assert_eq!(all.last().unwrap()["event"], "end");
    }

    #[tokio::test]
    async fn a_reply_that_overtakes_the_data_waits_for_its_counts() {
        let (mut pair, _dir, path) = audited();
        log_in(&mut pair).await;
        let (data_server, received_by_server) = data_endpoint(b"0123456789").await;
        pair.client_says("EPSV").await;
        pair.server_hears().await;
        pair.server_says(&format!("229 Entering Extended Passive Mode (|||{}|)", data_server.port())).await;
        let port = parse_epsv_reply(pair.client_hears().await.as_bytes()).unwrap();
        pair.client_says("RETR ten").await;
        pair.server_hears().await;
        // The server is done before the client has even connected.
        pair.server_says("150 here").await;
        pair.server_says("226 done").await;
        pair.client_hears().await;
        pair.client_hears().await;
        assert!(of(&records(&path), "transfer").is_empty());
        let mut data = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await.unwrap();
        assert_eq!(exchange(&mut data, b"").await, b"0123456789");
        received_by_server.await.unwrap();
        assert!(eventually(|| of(&records(&path), "transfer").len() == 1).await);
        let retr = &of(&records(&path), "transfer")[0];
        assert_eq!((&retr["mode"], &retr["bytes_to_client"], &retr["code"]), (&"EPSV".into(), &10.into(), &226.into()));
        // The client closes first: the server sees its end.
        drop(pair.client);
        let mut rest = String::new();
        tokio::time::timeout(WAIT, pair.server.read_to_string(&mut rest)).await.unwrap().unwrap();
        drop(pair.server);
        tokio::time::timeout(WAIT, pair.session).await.unwrap().unwrap();
        assert_eq!(of(&records(&path), "end")[0]["reason"], "client_closed");
    }

    #[tokio::test]
    async fn a_session_cut_with_the_ssh_connection_ends_as_ssh_lost() {
        let (mut pair, _dir, path) = audited();
        log_in(&mut pair).await;
        pair.tunnel.lose();
        drop(pair.server);
        let mut rest = String::new();
        tokio::time::timeout(WAIT, pair.client.read_to_string(&mut rest)).await.unwrap().unwrap();
        drop(pair.client);
        tokio::time::timeout(WAIT, pair.session).await.unwrap().unwrap();
        assert_eq!(of(&records(&path), "end")[0]["reason"], "ssh_lost");
    }

    #[tokio::test]
    async fn failed_transfers_carry_their_code() {
        let (mut pair, _dir, path) = audited();
        log_in(&mut pair).await;
        // A missing file: the server refuses before any data connection.
        let (data_server, _unused) = data_endpoint(b"").await;
        pair.client_says("PASV").await;
        pair.server_hears().await;
        pair.server_says(&pasv_reply(data_server)).await;
        pair.client_hears().await;
        pair.client_says("RETR missing.txt").await;
        pair.server_hears().await;
        pair.server_says("550 missing.txt: No such file or directory").await;
        pair.client_hears().await;
        // Active mode, and the server cannot connect back.
        let (client_listener, _unused) = data_endpoint(b"").await;
        pair.client_says(&format!("EPRT |1|127.0.0.1|{}|", client_listener.port())).await;
        pair.server_hears().await;
        pair.server_says("200 EPRT ok").await;
        pair.client_hears().await;
        pair.client_says("STOR x").await;
        pair.server_hears().await;
        pair.server_says("425 Can't open data connection").await;
        pair.client_hears().await;
        // A login refused.
        pair.client_says("USER mallory").await;
        pair.server_hears().await;
        pair.server_says("530 go away").await;
        pair.client_hears().await;
        pair.server_says("421 Timeout").await;
        pair.client_hears().await;
        // The server closes first: the client sees its end.
        drop(pair.server);
        let mut rest = String::new();
        tokio::time::timeout(WAIT, pair.client.read_to_string(&mut rest)).await.unwrap().unwrap();
        drop(pair.client);
        tokio::time::timeout(WAIT, pair.session).await.unwrap().unwrap();

        let all = records(&path);
        let transfers = of(&all, "transfer");
        assert_eq!(transfers.len(), 2, "{all:?}");
        assert_eq!((&transfers[0]["code"], &transfers[0]["bytes_to_client"]), (&550.into(), &0.into()));
        assert_eq!((&transfers[1]["code"], &transfers[1]["mode"]), (&425.into(), &"EPRT".into()));
        assert_eq!(transfers[1]["data_client"], format!("127.0.0.1:{}", client_listener.port()));
        let logins = of(&all, "login");
        assert_eq!((&logins[1]["user"], &logins[1]["result"]), (&"mallory".into(), &"refused".into()));
        let end = &of(&all, "end")[0];
        assert_eq!((&end["reason"], &end["code"]), (&"server_closed".into(), &421.into()), "{end}");
    }
}
