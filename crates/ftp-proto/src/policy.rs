//! The rewrite decisions for one control connection: given a line from
//! either side and what is known about the session, say whether to pass
//! it on, answer it, or open a data forwarding and rewrite it. The caller
//! does what is decided; nothing here touches a socket.

use std::net::{IpAddr, SocketAddr};

use crate::command::{Command, CommandError, EpsvArgument};
use crate::render::{ActiveKind, PassiveKind, PassiveMode};
use crate::reply::{parse_epsv_reply, parse_pasv_reply, ReplyTracker};

/// What the session's connections tell about its peers.
#[derive(Debug, Clone)]
pub struct SessionFacts {
    /// The FTP client's address as seen on the control connection: the only
    /// address PORT/EPRT may name.
    pub client_ip: IpAddr,
    /// The control connection's target (name or address): where passive
    /// data connections go.
    pub server_host: String,
}

/// Where passive data connections go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PassiveAddress {
    /// The control connection's target host, with the reply's port: works
    /// with servers behind NAT or announcing 0.0.0.0 (curl's
    /// `--ftp-skip-pasv-ip`).
    #[default]
    ControlHost,
    /// The address in the 227 reply itself.
    Reply,
}

/// What to do with `AUTH TLS`/`AUTH SSL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsPolicy {
    /// Answer 534 to the client so it falls back to plain FTP (inside SSH).
    #[default]
    Refuse,
    /// Pass it on; the control channel then becomes opaque and no data
    /// channel can be forwarded.
    PassThrough,
}

/// The configurable part of the rules.
#[derive(Debug, Clone, Default)]
pub struct PolicyConfig {
    pub passive_address: PassiveAddress,
    /// With `PassiveAddress::Reply`: follow a reply naming another host.
    pub allow_foreign_passive: bool,
    /// Let PORT/EPRT name any address and port (turns off RFC 2577 bounce
    /// protection).
    pub allow_third_party_active: bool,
    pub tls: TlsPolicy,
}

/// The lowest port a data address may name (RFC 2577: no privileged ports).
pub const LOWEST_DATA_PORT: u16 = 1024;

/// What to do with a line from the FTP client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAction {
    /// Pass the line on to the server unchanged.
    Forward,
    /// Send this reply to the client and nothing to the server.
    Reply(Vec<u8>),
    /// Make `target` (the client's data listener) reachable from the
    /// server's side, then send the server the rewritten command.
    Active { target: SocketAddr, kind: ActiveKind },
}

/// Where a passive data connection goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassiveTarget {
    pub host: String,
    pub port: u16,
}

/// What to do with a line from the FTP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerAction {
    /// Pass the line on to the client unchanged.
    Forward,
    /// Send this line to the client instead.
    Replace(Vec<u8>),
    /// Make `target` reachable from the client's side, then send the client
    /// the rewritten reply. `note` says why the target differs from the
    /// reply's address, when it does.
    Passive { target: PassiveTarget, kind: PassiveKind, note: Option<String> },
    /// Pass the line on unchanged: it ends the server's refusal of the last
    /// rewritten PORT/EPRT, whose data forwarding will never be used and
    /// can go.
    ActiveRefused,
}

/// The state of one control connection.
#[derive(Debug)]
pub struct ControlPolicy {
    facts: SessionFacts,
    config: PolicyConfig,
    replies: ReplyTracker,
    /// A passive address was already taken from the current reply.
    reply_handled: bool,
    /// TLS was let through: nothing more can be read.
    opaque: bool,
    /// The client sent `EPSV ALL` (RFC 2428 §4): no other command may open
    /// a data connection from now on.
    epsv_all: bool,
    /// A rewritten PORT/EPRT went to the server; its reply is to come.
    awaiting_active_reply: bool,
}

impl ControlPolicy {
    pub fn new(facts: SessionFacts, config: PolicyConfig) -> Self {
        Self {
            facts,
            config,
            replies: ReplyTracker::default(),
            reply_handled: false,
            opaque: false,
            epsv_all: false,
            awaiting_active_reply: false,
        }
    }

    /// Whether the control channel has become unreadable (TLS passed
    /// through); from then on everything passes untouched.
    pub fn opaque(&self) -> bool {
        self.opaque
    }

    /// Decides on one complete line from the client.
    pub fn handle_client_line(&mut self, line: &[u8]) -> ClientAction {
        if self.opaque {
            return ClientAction::Forward;
        }
        match Command::parse(line) {
            Ok(Command::Port(_) | Command::Eprt(_)) if self.epsv_all => {
                ClientAction::Reply(b"503 sshfwd: after EPSV ALL only EPSV may open data connections\r\n".to_vec())
            }
            Ok(Command::Port(address)) => self.active(SocketAddr::V4(address), ActiveKind::Port),
            Ok(Command::Eprt(address)) => self.active(address, ActiveKind::Eprt),
            Ok(Command::Epsv(EpsvArgument::All)) => {
                self.epsv_all = true;
                ClientAction::Forward
            }
            Ok(Command::LongAddress) => ClientAction::Reply(
                b"502 sshfwd: LPRT and LPSV are not forwarded; use EPRT/EPSV or PORT/PASV\r\n".to_vec(),
            ),
            Ok(Command::Auth(mechanism)) => self.auth(&mechanism),
            Ok(Command::Pasv | Command::Epsv(_) | Command::Other) => ClientAction::Forward,
            Err(CommandError::Epsv) => ClientAction::Forward,
            Err(e @ (CommandError::Port(_) | CommandError::Eprt(_))) => {
                ClientAction::Reply(format!("501 sshfwd: {e}\r\n").into_bytes())
            }
        }
    }

    /// Tells the policy that the command of the last [`ClientAction::Active`]
    /// went to the server, so that the next reply decides on its forwarding.
    pub fn active_command_sent(&mut self) {
        self.awaiting_active_reply = true;
    }

    /// Decides on one complete line from the server.
    pub fn handle_server_line(&mut self, line: &[u8]) -> ServerAction {
        if self.opaque {
            return ServerAction::Forward;
        }
        let Some(position) = self.replies.classify(line) else {
            return ServerAction::Forward;
        };
        // The final reply to PORT/EPRT (RFC 959: 200, or an error).
        if self.awaiting_active_reply && position.coded && position.last && position.code >= 200 {
            self.awaiting_active_reply = false;
            if position.code >= 300 {
                return ServerAction::ActiveRefused;
            }
        }
        let handled_before = self.reply_handled;
        if position.last {
            self.reply_handled = false;
        }
        if !position.coded || handled_before {
            return ServerAction::Forward;
        }
        let continued = !position.last;
        let action = match position.code {
            227 => self.pasv_reply(line, continued),
            229 => self.epsv_reply(line, continued),
            _ => return ServerAction::Forward,
        };
        // In a multi-line reply the address may sit on a later line: keep
        // looking until one is found or the reply ends.
        let found = !matches!(action, ServerAction::Forward);
        if found && continued {
            self.reply_handled = true;
        }
        action
    }

    fn active(&self, target: SocketAddr, kind: ActiveKind) -> ClientAction {
        if !self.config.allow_third_party_active {
            if canonical(target.ip()) != canonical(self.facts.client_ip) {
                return ClientAction::Reply(
                    format!(
                        "500 sshfwd: refused data address {}: not the client's own address {} (bounce protection)\r\n",
                        target.ip(),
                        self.facts.client_ip
                    )
                    .into_bytes(),
                );
            }
            if target.port() < LOWEST_DATA_PORT {
                return ClientAction::Reply(
                    format!(
                        "504 sshfwd: refused data port {}: below {LOWEST_DATA_PORT} (bounce protection)\r\n",
                        target.port()
                    )
                    .into_bytes(),
                );
            }
        }
        ClientAction::Active { target, kind }
    }

    fn auth(&mut self, mechanism: &str) -> ClientAction {
        let upper = mechanism.to_ascii_uppercase();
        if !(upper.starts_with("TLS") || upper.starts_with("SSL")) {
            return ClientAction::Forward;
        }
        match self.config.tls {
            TlsPolicy::Refuse => ClientAction::Reply(
                b"534 sshfwd: TLS is not needed, this connection is already protected by SSH\r\n".to_vec(),
            ),
            TlsPolicy::PassThrough => {
                self.opaque = true;
                ClientAction::Forward
            }
        }
    }

    fn pasv_reply(&self, line: &[u8], continued: bool) -> ServerAction {
        let kind = PassiveKind { mode: PassiveMode::Pasv, continued };
        let announced = match parse_pasv_reply(line) {
            Ok(a) => a,
            // A continuation line may just be text before the address.
            Err(_) if continued => return ServerAction::Forward,
            Err(e) => return refuse(format!("cannot read the server's passive reply: {e}")),
        };
        let control = &self.facts.server_host;
        if announced.port() < LOWEST_DATA_PORT {
            return refuse(format!("passive reply names port {}, below {LOWEST_DATA_PORT}", announced.port()));
        }
        let names_control_host = control.parse::<IpAddr>().is_ok_and(|ip| canonical(ip) == IpAddr::V4(*announced.ip()));
        let to_control_host = |note: Option<String>| ServerAction::Passive {
            target: PassiveTarget { host: control.clone(), port: announced.port() },
            kind,
            note,
        };
        if names_control_host {
            return to_control_host(None);
        }
        let note = format!("passive reply names {}; connecting to the control host {control} instead", announced.ip());
        match self.config.passive_address {
            PassiveAddress::ControlHost => to_control_host(Some(note)),
            PassiveAddress::Reply if announced.ip().is_unspecified() => to_control_host(Some(note)),
            PassiveAddress::Reply if self.config.allow_foreign_passive => ServerAction::Passive {
                target: PassiveTarget { host: announced.ip().to_string(), port: announced.port() },
                kind,
                note: None,
            },
            PassiveAddress::Reply => {
                refuse(format!("passive reply names {}, which is not the FTP server {control}", announced.ip()))
            }
        }
    }

    fn epsv_reply(&self, line: &[u8], continued: bool) -> ServerAction {
        match parse_epsv_reply(line) {
            Ok(port) if port < LOWEST_DATA_PORT => {
                refuse(format!("passive reply names port {port}, below {LOWEST_DATA_PORT}"))
            }
            Ok(port) => ServerAction::Passive {
                target: PassiveTarget { host: self.facts.server_host.clone(), port },
                kind: PassiveKind { mode: PassiveMode::Epsv, continued },
                note: None,
            },
            Err(_) if continued => ServerAction::Forward,
            Err(e) => refuse(format!("cannot read the server's passive reply: {e}")),
        }
    }
}

fn refuse(reason: String) -> ServerAction {
    ServerAction::Replace(format!("425 sshfwd: {reason}\r\n").into_bytes())
}

/// IPv4-mapped IPv6 addresses compare as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(config: PolicyConfig) -> ControlPolicy {
        ControlPolicy::new(
            SessionFacts { client_ip: "127.0.0.1".parse().unwrap(), server_host: "127.0.0.1".into() },
            config,
        )
    }

    fn reply_code(action: &ClientAction) -> Option<&[u8]> {
        match action {
            ClientAction::Reply(r) => r.get(..3),
            _ => None,
        }
    }

    #[test]
    fn client_lines() {
        let mut p = policy(PolicyConfig::default());
        let active = |target: &str, kind| ClientAction::Active { target: target.parse().unwrap(), kind };
        assert_eq!(p.handle_client_line(b"USER anonymous\r\n"), ClientAction::Forward);
        assert_eq!(p.handle_client_line(b"PASV\r\n"), ClientAction::Forward);
        assert_eq!(p.handle_client_line(b"EPSV\r\n"), ClientAction::Forward);
        assert_eq!(p.handle_client_line(b"PORT 127,0,0,1,4,1\r\n"), active("127.0.0.1:1025", ActiveKind::Port));
        assert_eq!(p.handle_client_line(b"EPRT |1|127.0.0.1|40000|\r\n"), active("127.0.0.1:40000", ActiveKind::Eprt));
        assert_eq!(
            p.handle_client_line(b"EPRT |2|::ffff:127.0.0.1|40000|\r\n"),
            active("[::ffff:127.0.0.1]:40000", ActiveKind::Eprt)
        );
        // Bounce attempts (RFC 2577): another host, or a privileged port.
        assert_eq!(reply_code(&p.handle_client_line(b"PORT 10,9,9,9,4,1\r\n")), Some(&b"500"[..]));
        assert_eq!(reply_code(&p.handle_client_line(b"EPRT |1|10.9.9.9|2000|\r\n")), Some(&b"500"[..]));
        assert_eq!(reply_code(&p.handle_client_line(b"PORT 127,0,0,1,0,25\r\n")), Some(&b"504"[..]));
        // Malformed addresses are answered, never passed on.
        assert_eq!(reply_code(&p.handle_client_line(b"PORT 127,0,0,1,4\r\n")), Some(&b"501"[..]));
        assert_eq!(reply_code(&p.handle_client_line(b"PORT 300,0,0,1,4,1\r\n")), Some(&b"501"[..]));
        assert_eq!(reply_code(&p.handle_client_line(b"LPRT 4,4,127,0,0,1,2,4,1\r\n")), Some(&b"502"[..]));
        assert_eq!(reply_code(&p.handle_client_line(b"AUTH TLS\r\n")), Some(&b"534"[..]));
        assert_eq!(reply_code(&p.handle_client_line(b"auth ssl\r\n")), Some(&b"534"[..]));
        assert_eq!(p.handle_client_line(b"AUTH GSSAPI\r\n"), ClientAction::Forward);
    }

    #[test]
    fn the_reply_to_a_rewritten_port_decides_on_its_forwarding() {
        let mut p = policy(PolicyConfig::default());
        // No PORT sent: an error reply is just a reply.
        assert_eq!(p.handle_server_line(b"500 what?\r\n"), ServerAction::Forward);
        let table: &[(&[&[u8]], ServerAction)] = &[
            (&[b"200 PORT command successful\r\n"], ServerAction::Forward),
            (&[b"500 Illegal PORT command\r\n"], ServerAction::ActiveRefused),
            (&[b"522 Network protocol not supported\r\n"], ServerAction::ActiveRefused),
            (&[b"421 Timeout\r\n"], ServerAction::ActiveRefused),
            // Multi-line: decided on the last line only.
            (&[b"501-Refused:\r\n", b" not your address\r\n", b"501 End\r\n"], ServerAction::ActiveRefused),
            (&[b"200-Fine\r\n", b"200 PORT ok\r\n"], ServerAction::Forward),
            // A preliminary reply is not the answer.
            (&[b"150 odd but harmless\r\n", b"550 no\r\n"], ServerAction::ActiveRefused),
        ];
        for (lines, last) in table {
            assert!(matches!(p.handle_client_line(b"PORT 127,0,0,1,4,1\r\n"), ClientAction::Active { .. }));
            p.active_command_sent();
            let (head, tail) = lines.split_at(lines.len() - 1);
            for line in head {
                assert_eq!(p.handle_server_line(line), ServerAction::Forward, "{}", String::from_utf8_lossy(line));
            }
            assert_eq!(&p.handle_server_line(tail[0]), last, "{lines:?}");
            // Only the one reply counts.
            assert_eq!(p.handle_server_line(b"550 later error\r\n"), ServerAction::Forward);
        }
    }

    #[test]
    fn nothing_but_epsv_after_epsv_all() {
        let mut p = policy(PolicyConfig::default());
        assert_eq!(p.handle_client_line(b"EPSV ALL\r\n"), ClientAction::Forward);
        assert_eq!(reply_code(&p.handle_client_line(b"PORT 127,0,0,1,4,1\r\n")), Some(&b"503"[..]));
        assert_eq!(reply_code(&p.handle_client_line(b"EPRT |1|127.0.0.1|40000|\r\n")), Some(&b"503"[..]));
        assert_eq!(p.handle_client_line(b"EPSV\r\n"), ClientAction::Forward);
    }

    #[test]
    fn third_party_active_when_allowed() {
        let mut p = policy(PolicyConfig { allow_third_party_active: true, ..Default::default() });
        assert_eq!(
            p.handle_client_line(b"PORT 10,9,9,9,0,25\r\n"),
            ClientAction::Active { target: "10.9.9.9:25".parse().unwrap(), kind: ActiveKind::Port }
        );
    }

    #[test]
    fn tls_pass_through_makes_the_channel_opaque() {
        let mut p = policy(PolicyConfig { tls: TlsPolicy::PassThrough, ..Default::default() });
        assert_eq!(p.handle_client_line(b"AUTH TLS\r\n"), ClientAction::Forward);
        assert!(p.opaque());
        assert_eq!(p.handle_client_line(b"PORT 10,9,9,9,4,1\r\n"), ClientAction::Forward);
        assert_eq!(p.handle_server_line(b"227 (127,0,0,1,4,1)\r\n"), ServerAction::Forward);
    }

    fn passive(
        host: &str,
        port: u16,
        mode: PassiveMode,
        continued: bool,
        note: bool,
    ) -> impl Fn(&ServerAction) -> bool + '_ {
        move |action| match action {
            ServerAction::Passive { target, kind, note: n } => {
                target.host == host
                    && target.port == port
                    && *kind == PassiveKind { mode, continued }
                    && n.is_some() == note
            }
            _ => false,
        }
    }

    #[test]
    fn server_lines() {
        let mut p = policy(PolicyConfig::default());
        assert_eq!(p.handle_server_line(b"220 ready\r\n"), ServerAction::Forward);
        let a = p.handle_server_line(b"227 Entering Passive Mode (127,0,0,1,144,235).\r\n");
        assert!(passive("127.0.0.1", 37099, PassiveMode::Pasv, false, false)(&a), "{a:?}");
        // NAT or 0.0.0.0: the control host instead, with a note.
        let a = p.handle_server_line(b"227 Entering Passive Mode (0,0,0,0,144,235).\r\n");
        assert!(passive("127.0.0.1", 37099, PassiveMode::Pasv, false, true)(&a), "{a:?}");
        let a = p.handle_server_line(b"227 Entering Passive Mode (10,9,9,9,144,235).\r\n");
        assert!(passive("127.0.0.1", 37099, PassiveMode::Pasv, false, true)(&a), "{a:?}");
        let a = p.handle_server_line(b"229 Entering Extended Passive Mode (|||6446|)\r\n");
        assert!(passive("127.0.0.1", 6446, PassiveMode::Epsv, false, false)(&a), "{a:?}");
        // Privileged or unreadable targets are refused to the client.
        assert!(
            matches!(p.handle_server_line(b"227 Entering Passive Mode (127,0,0,1,0,22).\r\n"), ServerAction::Replace(r) if r.starts_with(b"425 "))
        );
        assert!(
            matches!(p.handle_server_line(b"229 Entering Extended Passive Mode (|||22|)\r\n"), ServerAction::Replace(r) if r.starts_with(b"425 "))
        );
        assert!(
            matches!(p.handle_server_line(b"227 Entering Passive Mode\r\n"), ServerAction::Replace(r) if r.starts_with(b"425 "))
        );
        assert_eq!(p.handle_server_line(b"226 Transfer complete\r\n"), ServerAction::Forward);
    }

    #[test]
    fn reply_address_mode() {
        let mut p = policy(PolicyConfig { passive_address: PassiveAddress::Reply, ..Default::default() });
        assert!(
            matches!(p.handle_server_line(b"227 (10,9,9,9,4,1)\r\n"), ServerAction::Replace(r) if r.starts_with(b"425 "))
        );
        let a = p.handle_server_line(b"227 (0,0,0,0,4,1)\r\n");
        assert!(passive("127.0.0.1", 1025, PassiveMode::Pasv, false, true)(&a), "{a:?}");
        let mut p = policy(PolicyConfig {
            passive_address: PassiveAddress::Reply,
            allow_foreign_passive: true,
            ..Default::default()
        });
        let a = p.handle_server_line(b"227 (10,9,9,9,4,1)\r\n");
        assert!(passive("10.9.9.9", 1025, PassiveMode::Pasv, false, false)(&a), "{a:?}");
    }

    #[test]
    fn multi_line_passive_replies() {
        let mut p = policy(PolicyConfig::default());
        assert_eq!(p.handle_server_line(b"227-Here it comes\r\n"), ServerAction::Forward);
        let a = p.handle_server_line(b"227-Entering Passive Mode (127,0,0,1,4,1)\r\n");
        assert!(passive("127.0.0.1", 1025, PassiveMode::Pasv, true, false)(&a), "{a:?}");
        // Only one data channel per reply.
        assert_eq!(p.handle_server_line(b"227 Entering Passive Mode (127,0,0,1,4,2)\r\n"), ServerAction::Forward);
        // A passive reply quoted inside another reply is only text.
        assert_eq!(p.handle_server_line(b"211-Status\r\n"), ServerAction::Forward);
        assert_eq!(p.handle_server_line(b"227 Entering Passive Mode (127,0,0,1,4,1)\r\n"), ServerAction::Forward);
        assert_eq!(p.handle_server_line(b"211 End\r\n"), ServerAction::Forward);
        let a = p.handle_server_line(b"227 Entering Passive Mode (127,0,0,1,4,3)\r\n");
        assert!(passive("127.0.0.1", 1027, PassiveMode::Pasv, false, false)(&a), "{a:?}");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(lines in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100), 0..20)) {
            let mut p = policy(PolicyConfig::default());
            for line in &lines {
                let _ = p.handle_client_line(line);
                let _ = p.handle_server_line(line);
            }
        }
    }
}
