//! What an audit log records of an FTP control connection, read from its
//! lines alone: who logged in and whether the server let them, which data
//! transfers were asked for and in which data mode, and the reply that
//! ended each. It is fed the commands that reached the server and the
//! server's replies, in order; replies are matched to commands first in,
//! first out, as RFC 959 §4.2 has them. A password is never kept.

use std::collections::VecDeque;
use std::fmt;
use std::time::Instant;

use crate::command::trim_line_end;
use crate::reply::ReplyTracker;

/// Commands awaiting their reply, at most: a client pipelining more is
/// flooding, and the oldest are forgotten.
pub const MAX_OUTSTANDING: usize = 64;
/// Longest user name or command argument kept, in characters.
pub const MAX_FIELD: usize = 512;

/// How a transfer's data connection is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataMode {
    Pasv,
    Epsv,
    Port,
    Eprt,
}

impl DataMode {
    pub fn as_str(self) -> &'static str {
        match self {
            DataMode::Pasv => "PASV",
            DataMode::Epsv => "EPSV",
            DataMode::Port => "PORT",
            DataMode::Eprt => "EPRT",
        }
    }
}

impl fmt::Display for DataMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A command that moves data over a data connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRequest {
    /// The verb, upper case: RETR, STOR, STOU, APPE, LIST, NLST or MLSD.
    pub command: &'static str,
    /// The argument as sent, possibly empty.
    pub argument: String,
    /// The last data command before it, if any.
    pub mode: Option<DataMode>,
    /// When the command went to the server.
    pub sent: Instant,
}

/// Something for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditEvent<D> {
    /// The final answer to a login (USER, PASS or ACCT).
    Login { user: String, accepted: bool, code: u16 },
    /// A transfer ended with `code`; `None` when the session ended first.
    /// `data` is the data channel announced before the command, if any.
    Transfer { request: TransferRequest, code: Option<u16>, data: Option<D> },
}

/// What the next final reply answers.
#[derive(Debug)]
enum Awaiting<D> {
    Login,
    Transfer(TransferRequest, Option<D>),
    Other,
}

/// The audit view of one control connection. `D` is whatever the caller
/// knows about a data channel (its endpoints, its byte counts); this only
/// hands it to the transfer that uses it.
#[derive(Debug)]
pub struct ControlAudit<D> {
    /// The user named by the last USER.
    user: Option<String>,
    mode: Option<DataMode>,
    /// The data channel announced last and not yet used by a transfer.
    armed: Option<D>,
    outstanding: VecDeque<Awaiting<D>>,
    replies: ReplyTracker,
    /// The server's greeting (its first final reply) has been read; a
    /// client that speaks first does not get it as an answer.
    greeted: bool,
    quit: bool,
    events: VecDeque<AuditEvent<D>>,
}

impl<D> Default for ControlAudit<D> {
    fn default() -> Self {
        Self {
            user: None,
            mode: None,
            armed: None,
            outstanding: VecDeque::new(),
            replies: ReplyTracker::default(),
            greeted: false,
            quit: false,
            events: VecDeque::new(),
        }
    }
}

impl<D> ControlAudit<D> {
    pub fn new() -> Self {
        Self::default()
    }

    /// A command line that went to the server at `now`.
    pub fn handle_client_line(&mut self, line: &[u8], now: Instant) {
        let line = trim_line_end(line);
        let (verb, argument) = match line.iter().position(|&b| b == b' ') {
            Some(space) => (line.get(..space).unwrap_or_default(), line.get(space + 1..).unwrap_or_default()),
            None => (line, &b""[..]),
        };
        let verb = verb.to_ascii_uppercase();
        let awaiting = match verb.as_slice() {
            b"USER" => {
                self.user = Some(field(argument));
                Awaiting::Login
            }
            b"PASS" | b"ACCT" => Awaiting::Login,
            b"PASV" => self.data_command(DataMode::Pasv),
            b"EPSV" => self.data_command(DataMode::Epsv),
            b"PORT" => self.data_command(DataMode::Port),
            b"EPRT" => self.data_command(DataMode::Eprt),
            b"QUIT" => {
                self.quit = true;
                Awaiting::Other
            }
            verb => match transfer_verb(verb) {
                Some(command) => Awaiting::Transfer(
                    TransferRequest { command, argument: field(argument), mode: self.mode, sent: now },
                    self.armed.take(),
                ),
                None => Awaiting::Other,
            },
        };
        if self.outstanding.len() >= MAX_OUTSTANDING {
            self.outstanding.pop_front();
        }
        self.outstanding.push_back(awaiting);
    }

    /// A reply line from the server.
    pub fn handle_server_line(&mut self, line: &[u8]) {
        let Some(position) = self.replies.classify(line) else { return };
        // A reply means what its last line's code says (RFC 959 §4.2);
        // 1yz replies are preliminary and answer nothing yet.
        if !(position.coded && position.last) || position.code < 200 {
            return;
        }
        if !self.greeted {
            self.greeted = true;
            return;
        }
        let code = position.code;
        match self.outstanding.pop_front() {
            Some(Awaiting::Login) if (300..400).contains(&code) => {}
            Some(Awaiting::Login) => self.events.push_back(AuditEvent::Login {
                user: self.user.clone().unwrap_or_default(),
                accepted: code < 300,
                code,
            }),
            Some(Awaiting::Transfer(request, data)) => {
                self.events.push_back(AuditEvent::Transfer { request, code: Some(code), data })
            }
            Some(Awaiting::Other) | None => {}
        }
    }

    /// A data channel was set up (a passive reply or an active command
    /// forwarded). A transfer command already sent without one (pipelined
    /// behind its PASV) takes it; otherwise the next one does.
    pub fn data_opened(&mut self, data: D) {
        let waiting = self.outstanding.iter_mut().find_map(|awaiting| match awaiting {
            Awaiting::Transfer(_, slot @ None) => Some(slot),
            _ => None,
        });
        match waiting {
            Some(slot) => *slot = Some(data),
            None => self.armed = Some(data),
        }
    }

    /// The session is over: transfers still awaiting their reply end
    /// without one.
    pub fn finish(&mut self) {
        for awaiting in std::mem::take(&mut self.outstanding) {
            if let Awaiting::Transfer(request, data) = awaiting {
                self.events.push_back(AuditEvent::Transfer { request, code: None, data });
            }
        }
    }

    pub fn poll_event(&mut self) -> Option<AuditEvent<D>> {
        self.events.pop_front()
    }

    /// The user named by the last USER command.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Whether the client sent QUIT.
    pub fn quit_sent(&self) -> bool {
        self.quit
    }

    fn data_command(&mut self, mode: DataMode) -> Awaiting<D> {
        self.mode = Some(mode);
        Awaiting::Other
    }
}

/// The verbs that move data over a data connection (RFC 959, RFC 3659).
fn transfer_verb(verb: &[u8]) -> Option<&'static str> {
    Some(match verb {
        b"RETR" => "RETR",
        b"STOR" => "STOR",
        b"STOU" => "STOU",
        b"APPE" => "APPE",
        b"LIST" => "LIST",
        b"NLST" => "NLST",
        b"MLSD" => "MLSD",
        _ => return None,
    })
}

/// A user name or argument for the log: lossy UTF-8, capped.
fn field(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).chars().take(MAX_FIELD).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds a dialogue: `>` lines from the client, the rest from the server.
    fn run(dialogue: &[&str]) -> (ControlAudit<u32>, Vec<AuditEvent<u32>>) {
        let mut audit = ControlAudit::new();
        let now = Instant::now();
        for line in dialogue {
            match line.strip_prefix('>') {
                Some(command) => audit.handle_client_line(format!("{command}\r\n").as_bytes(), now),
                None if line.starts_with("data ") => {
                    audit.data_opened(line.trim_start_matches("data ").parse().unwrap())
                }
                None => audit.handle_server_line(format!("{line}\r\n").as_bytes()),
            }
        }
        let mut events = vec![];
        while let Some(e) = audit.poll_event() {
            events.push(e);
        }
        (audit, events)
    }

    fn logins(events: &[AuditEvent<u32>]) -> Vec<(String, bool, u16)> {
        events
            .iter()
            .filter_map(|e| match e {
                AuditEvent::Login { user, accepted, code } => Some((user.clone(), *accepted, *code)),
                _ => None,
            })
            .collect()
    }

    /// A transfer event as "VERB argument", its mode, code and data channel.
    type Row = (String, Option<DataMode>, Option<u16>, Option<u32>);
    /// A dialogue and the logins it should give.
    type LoginCase<'a> = (&'a [&'a str], &'a [(&'a str, bool, u16)]);

    fn transfers(events: &[AuditEvent<u32>]) -> Vec<Row> {
        events
            .iter()
            .filter_map(|e| match e {
                AuditEvent::Transfer { request, code, data } => {
                    Some((format!("{} {}", request.command, request.argument), request.mode, *code, *data))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn logins_are_decided_by_the_final_reply() {
        let table: &[LoginCase] = &[
            // RFC 959 §5.4: USER 331, PASS 230.
            (&["220 hi", ">USER alice", "331 password", ">PASS secret", "230 ok"], &[("alice", true, 230)]),
            (&["220 hi", ">USER alice", "331 password", ">PASS wrong", "530 no"], &[("alice", false, 530)]),
            // No password needed.
            (&["220 hi", ">USER anonymous", "230 welcome"], &[("anonymous", true, 230)]),
            // ACCT after PASS (332).
            (&["220 hi", ">USER bob", "331 pw", ">PASS x", "332 acct", ">ACCT a", "230 ok"], &[("bob", true, 230)]),
            // A client that speaks before the greeting: 220 answers nothing.
            (&[">USER carol", ">PASS x", "220 hi", "331 pw", "230 ok"], &[("carol", true, 230)]),
            // Multi-line replies count once, on their last line.
            (
                &["220-hi", "220 there", ">USER d", "331 pw", ">PASS x", "230-Welcome", " text", "230 ok"],
                &[("d", true, 230)],
            ),
            // A second try after a refusal.
            (
                &["220 hi", ">USER e", "331 pw", ">PASS x", "530 no", ">USER e", "331 pw", ">PASS y", "230 ok"],
                &[("e", false, 530), ("e", true, 230)],
            ),
        ];
        for (dialogue, expected) in table {
            let (_, events) = run(dialogue);
            let expected: Vec<_> = expected.iter().map(|(u, a, c)| ((*u).to_owned(), *a, *c)).collect();
            assert_eq!(logins(&events), expected, "{dialogue:?}");
        }
    }

    #[test]
    fn the_password_is_never_kept() {
        let (audit, events) = run(&["220 hi", ">USER alice", "331 pw", ">PASS hunter2", "230 ok"]);
        assert!(!format!("{audit:?} {events:?}").contains("hunter2"));
    }

    #[test]
    fn transfers_end_with_their_final_reply() {
        let row = |command: &str, mode, code, data| -> Row { (command.to_owned(), mode, code, data) };
        let table: &[(&[&str], Vec<Row>)] = &[
            (
                &["220 hi", ">PASV", "227 (127,0,0,1,4,1)", "data 1", ">RETR a.bin", "150 go", "226 done"],
                vec![row("RETR a.bin", Some(DataMode::Pasv), Some(226), Some(1))],
            ),
            // A missing file: refused before any data connection.
            (
                &["220 hi", ">EPSV", "229 (|||5000|)", "data 2", ">RETR missing", "550 no such file"],
                vec![row("RETR missing", Some(DataMode::Epsv), Some(550), Some(2))],
            ),
            // The server could not connect back.
            (
                &["220 hi", "data 3", ">PORT 127,0,0,1,4,1", "200 ok", ">STOR up", "425 can't open"],
                vec![row("STOR up", Some(DataMode::Port), Some(425), Some(3))],
            ),
            // ABOR: 426 ends the transfer, 226 answers ABOR.
            (
                &[
                    "220 hi",
                    ">EPRT |1|127.0.0.1|4000|",
                    "200 ok",
                    ">RETR big",
                    "150 go",
                    ">ABOR",
                    "426 aborted",
                    "226 abor ok",
                ],
                vec![row("RETR big", Some(DataMode::Eprt), Some(426), None)],
            ),
            // Pipelined commands, one data channel each.
            (
                &[
                    "220 hi",
                    ">PASV",
                    ">LIST",
                    "227 (127,0,0,1,4,1)",
                    "data 4",
                    "150 here",
                    "226 done",
                    ">PASV",
                    ">NLST /pub",
                    "227 (127,0,0,1,4,2)",
                    "data 5",
                    "125 already open",
                    "226-done",
                    "226 bye",
                ],
                // Each went before its data channel was known.
                vec![
                    row("LIST ", Some(DataMode::Pasv), Some(226), Some(4)),
                    row("NLST /pub", Some(DataMode::Pasv), Some(226), Some(5)),
                ],
            ),
            // A transfer without a data command.
            (&["220 hi", ">MLSD", "425 use PASV first"], vec![row("MLSD ", None, Some(425), None)]),
        ];
        for (dialogue, expected) in table {
            let (_, events) = run(dialogue);
            assert_eq!(&transfers(&events), expected, "{dialogue:?}");
        }
    }

    #[test]
    fn transfers_left_open_end_without_a_code() {
        let (mut audit, _) = run(&["220 hi", ">PASV", "227 (127,0,0,1,4,1)", "data 7", ">APPE log", "150 go"]);
        audit.finish();
        let event = audit.poll_event();
        assert!(
            matches!(&event, Some(AuditEvent::Transfer { request, code: None, data: Some(7) }) if request.command == "APPE"),
            "{event:?}"
        );
        assert!(audit.poll_event().is_none());
    }

    #[test]
    fn quit_is_noticed() {
        let (audit, _) = run(&["220 hi", ">quit", "221 bye"]);
        assert!(audit.quit_sent());
    }

    #[test]
    fn outstanding_commands_are_bounded() {
        let mut audit = ControlAudit::<u32>::new();
        let now = Instant::now();
        for _ in 0..MAX_OUTSTANDING * 3 {
            audit.handle_client_line(b"NOOP\r\n", now);
        }
        assert_eq!(audit.outstanding.len(), MAX_OUTSTANDING);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(lines in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100), 0..40)) {
            let mut audit = ControlAudit::<u32>::new();
            let now = Instant::now();
            for (i, line) in lines.iter().enumerate() {
                if i % 2 == 0 { audit.handle_client_line(line, now) } else { audit.handle_server_line(line) }
                audit.data_opened(0);
            }
            audit.finish();
            while audit.poll_event().is_some() {}
        }
    }
}
