//! One FTP control connection of the bridge, as a state machine: lines
//! and the driver's results go in through `handle_*`, actions come out of
//! [`Session::poll_action`]. It never touches a socket, a file or a clock.

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use super::action::{
    Action, DataChannel, FileOperation, FsError, ListFormat, LoginOutcome, NotAwaited, StatPurpose, StoreStart,
    Transfer, TransferError, TransferKind,
};
use super::glob::Glob;
use super::listing::{timestamp, Entry, Kind};
use super::path::VirtualPath;
use super::reply::Reply;
use super::request::{Request, TransferType};
use super::telnet;
use crate::command::EpsvArgument;
use crate::framing::LineFramer;
use crate::numbers::format_host_port;
use crate::policy::LOWEST_DATA_PORT;

/// What the session needs to know about its connection and limits.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The FTP client's address on the control connection: the only one
    /// PORT/EPRT may name (RFC 2577 bounce protection).
    pub client_ip: IpAddr,
    /// The address the client reached the bridge on: the data listener's
    /// address, whose family EPSV's protocol must match.
    pub local_ip: IpAddr,
    /// Let PORT/EPRT name any address and port, as the forwarder's option
    /// of the same name does.
    pub allow_third_party_active: bool,
    /// Failed logins before the session is closed.
    pub max_login_attempts: u32,
    /// Lines held while the driver works on an earlier command; more is a
    /// flood and ends the session.
    pub max_queued_lines: usize,
}

impl SessionConfig {
    pub fn new(client_ip: IpAddr, local_ip: IpAddr) -> Self {
        Self { client_ip, local_ip, allow_third_party_active: false, max_login_attempts: 3, max_queued_lines: 64 }
    }
}

/// The FEAT reply's features (RFC 2389), one per line.
pub const FEATURES: [&str; 8] =
    ["EPRT", "EPSV", "MDTM", "MLST type*;size*;modify*;perm*;UNIX.mode*;", "REST STREAM", "SIZE", "TVFS", "UTF8"];

/// The state of one control connection.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    login: Login,
    failed_logins: u32,
    cwd: VirtualPath,
    representation: TransferType,
    /// REST's offset, for the next RETR or STOR.
    restart: Option<u64>,
    /// RNFR's path, for an RNTO that must come next.
    rename_from: Option<VirtualPath>,
    /// How the next transfer reaches the client.
    data: Option<DataChannel>,
    /// The client sent `EPSV ALL` (RFC 2428 §4).
    epsv_all: bool,
    /// The driver result the session waits for; lines wait in `queued`.
    pending: Option<Pending>,
    queued: QueuedLines,
    actions: VecDeque<Action>,
    closed: bool,
    /// An ABOR was taken without its LF, which went as urgent data; if the
    /// LF turns up in band after all, it is not a line of its own.
    lost_line_feed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Login {
    AwaitingUser,
    AwaitingPassword { user: String },
    LoggedIn { user: String },
}

#[derive(Debug)]
enum Pending {
    Login { user: String },
    Passive { extended: bool },
    File(FileOperation),
    Stat { path: VirtualPath, purpose: StatPurpose },
    Transfer { kind: TransferKind, aborting: bool },
}

impl Session {
    /// A new connection; the 220 greeting is the first action.
    pub fn new(config: SessionConfig) -> Self {
        let mut session = Self {
            config,
            login: Login::AwaitingUser,
            failed_logins: 0,
            cwd: VirtualPath::root(),
            representation: TransferType::default(),
            restart: None,
            rename_from: None,
            data: None,
            epsv_all: false,
            pending: None,
            queued: QueuedLines::default(),
            actions: VecDeque::new(),
            closed: false,
            lost_line_feed: false,
        };
        session.reply(220, "sshfwd FTP-to-SFTP bridge ready");
        session
    }

    /// The next thing for the driver to do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Whether the session has ended (after [`Action::Close`]).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The logged-in user.
    pub fn user(&self) -> Option<&str> {
        match &self.login {
            Login::LoggedIn { user } => Some(user),
            _ => None,
        }
    }

    pub fn current_dir(&self) -> &VirtualPath {
        &self.cwd
    }

    pub fn representation(&self) -> TransferType {
        self.representation
    }

    /// One complete line from the client. While the driver works on an
    /// earlier command the line waits, except ABOR, which stops a transfer.
    pub fn handle_line(&mut self, line: &[u8]) {
        if self.closed {
            return;
        }
        if std::mem::take(&mut self.lost_line_feed) && line == b"\n" {
            return;
        }
        if let Some(Pending::Transfer { aborting, .. }) = &mut self.pending {
            if matches!(Request::parse(line), Ok(Request::Abor)) && !*aborting {
                *aborting = true;
                self.actions.push_back(Action::Abort);
                return;
            }
        }
        if self.pending.is_some() {
            if self.queued.0.len() >= self.config.max_queued_lines {
                self.close_with(421, "Too many commands sent without waiting for replies");
            } else {
                self.queued.0.push_back(line.to_vec());
            }
            return;
        }
        self.dispatch(line);
    }

    /// The client sent a line over the framer's cap.
    pub fn handle_overlong_line(&mut self) {
        self.close_with(500, "Command line too long");
    }

    /// Every complete line `framer` holds, in order; a line over its cap
    /// closes the session. An ABOR whose LF went as urgent data (ftplib's
    /// `abort()`) is taken as it is: no LF is coming to end it.
    pub fn handle_framed(&mut self, framer: &mut LineFramer) {
        loop {
            match framer.next_line() {
                Ok(Some(line)) => self.handle_line(&line),
                Ok(None) => break,
                Err(_) => return self.handle_overlong_line(),
            }
        }
        if telnet::is_urgent_abort(framer.pending()) {
            framer.finish();
            self.handle_line(b"ABOR\r\n");
            self.lost_line_feed = true;
        }
    }

    /// The SSH connection went away between commands.
    pub fn handle_connection_lost(&mut self) {
        self.close_with(421, "Service not available, SSH connection lost");
    }

    /// The answer to [`Action::Authenticate`].
    pub fn handle_login(&mut self, outcome: LoginOutcome) -> Result<(), NotAwaited> {
        let Some(Pending::Login { user }) = self.take_pending(|p| matches!(p, Pending::Login { .. })) else {
            return Err(NotAwaited("a login result"));
        };
        match outcome {
            LoginOutcome::Accepted { home } => {
                self.reply(230, format!("User {user} logged in"));
                self.cwd = home;
                self.login = Login::LoggedIn { user };
            }
            LoginOutcome::Refused => {
                self.failed_logins = self.failed_logins.saturating_add(1);
                self.login = Login::AwaitingUser;
                self.reply(530, "Login incorrect");
                if self.failed_logins >= self.config.max_login_attempts {
                    self.close_with(421, "Too many failed logins, closing connection");
                }
            }
            LoginOutcome::Unavailable(reason) => {
                self.close_with(421, format!("Service not available: {reason}"));
            }
        }
        self.resume();
        Ok(())
    }

    /// The answer to [`Action::OpenPassive`]: the listener's address.
    pub fn handle_passive(&mut self, result: Result<SocketAddr, String>) -> Result<(), NotAwaited> {
        let Some(Pending::Passive { extended }) = self.take_pending(|p| matches!(p, Pending::Passive { .. })) else {
            return Err(NotAwaited("a passive listener"));
        };
        match (result, extended) {
            (Ok(address), true) => {
                self.data = Some(DataChannel::Passive);
                self.reply(229, format!("Entering Extended Passive Mode (|||{}|)", address.port()));
            }
            (Ok(SocketAddr::V4(address)), false) => {
                self.data = Some(DataChannel::Passive);
                self.reply(227, format!("Entering Passive Mode ({})", format_host_port(address)));
            }
            (Ok(SocketAddr::V6(_)), false) => {
                self.actions.push_back(Action::ClosePassive);
                self.reply(425, "PASV cannot carry an IPv6 address; use EPSV");
            }
            (Err(reason), _) => self.reply(425, format!("Cannot open passive connection: {reason}")),
        }
        self.resume();
        Ok(())
    }

    /// The answer to [`Action::File`].
    pub fn handle_done(&mut self, result: Result<(), FsError>) -> Result<(), NotAwaited> {
        let Some(Pending::File(operation)) = self.take_pending(|p| matches!(p, Pending::File(_))) else {
            return Err(NotAwaited("a file operation result"));
        };
        match (result, operation) {
            (Ok(()), FileOperation::ChangeDir(path)) => {
                self.reply(250, format!("Directory changed to {path}"));
                self.cwd = path;
            }
            (Ok(()), FileOperation::MakeDir(path)) => self.reply(257, format!("{} created", path.quoted())),
            (Ok(()), FileOperation::RemoveDir(_)) => self.reply(250, "Directory removed"),
            (Ok(()), FileOperation::Delete(_)) => self.reply(250, "File deleted"),
            (Ok(()), FileOperation::Rename { .. }) => self.reply(250, "Rename successful"),
            (Ok(()), FileOperation::Chmod { .. }) => self.reply(200, "SITE CHMOD command successful"),
            (Err(error), operation) => self.file_error(operation.path(), &error),
        }
        self.resume();
        Ok(())
    }

    /// The answer to [`Action::Stat`].
    pub fn handle_stat(&mut self, result: Result<Entry, FsError>) -> Result<(), NotAwaited> {
        let Some(Pending::Stat { path, purpose }) = self.take_pending(|p| matches!(p, Pending::Stat { .. })) else {
            return Err(NotAwaited("file attributes"));
        };
        match (result, purpose) {
            (Err(error), _) => self.file_error(&path, &error),
            (Ok(entry), StatPurpose::Size) if entry.kind == Kind::File => self.reply(213, entry.size.to_string()),
            (Ok(_), StatPurpose::Size) => self.reply(550, format!("{path}: not a plain file")),
            (Ok(entry), StatPurpose::Mdtm) => match entry.modified {
                Some(modified) => self.reply(213, timestamp(modified)),
                None => self.reply(550, format!("{path}: modification time unknown")),
            },
            (Ok(entry), StatPurpose::Mlst) => {
                let facts = entry.facts(path.as_str());
                self.push_reply(Reply::multi(250, format!("Listing {path}"), vec![facts], "End"));
            }
            (Ok(_), StatPurpose::RenameFrom) => {
                self.reply(350, "File exists, ready for destination name");
                self.rename_from = Some(path);
            }
        }
        self.resume();
        Ok(())
    }

    /// The file is open and the transfer begins: the 150 reply. `size` is
    /// the bytes to send, when known.
    pub fn handle_transfer_started(&mut self, size: Option<u64>) -> Result<(), NotAwaited> {
        let Some(Pending::Transfer { kind, .. }) = &self.pending else {
            return Err(NotAwaited("a transfer start"));
        };
        let text = match kind {
            TransferKind::List { .. } => "Here comes the directory listing".to_owned(),
            TransferKind::Retrieve { path, representation, .. } | TransferKind::Store { path, representation, .. } => {
                let mode = match representation {
                    TransferType::Ascii => "ASCII",
                    TransferType::Image => "BINARY",
                };
                let size = size.map(|n| format!(" ({n} bytes)")).unwrap_or_default();
                format!("Opening {mode} mode data connection for {path}{size}")
            }
        };
        self.reply(150, text);
        Ok(())
    }

    /// The transfer ended: `Ok` with the bytes moved, or how it failed.
    pub fn handle_transfer_done(&mut self, result: Result<u64, TransferError>) -> Result<(), NotAwaited> {
        let Some(Pending::Transfer { kind, aborting }) = self.take_pending(|p| matches!(p, Pending::Transfer { .. }))
        else {
            return Err(NotAwaited("a transfer result"));
        };
        match result {
            Ok(_) => self.reply(226, "Transfer complete"),
            Err(TransferError::DataConnection(reason)) => {
                self.reply(425, format!("Cannot open data connection: {reason}"))
            }
            Err(TransferError::DataBroken | TransferError::Aborted) => {
                self.reply(426, "Connection closed; transfer aborted")
            }
            Err(TransferError::Idle) => self.reply(426, "Data connection idle too long; transfer aborted"),
            Err(TransferError::File(error)) => self.file_error(kind.path(), &error),
        }
        // RFC 959 §4.1.3: ABOR gets its own reply after the transfer's.
        if aborting && !self.closed {
            self.reply(226, "ABOR command successful");
        }
        self.resume();
        Ok(())
    }

    /// Takes the pending result if it is of the expected kind.
    fn take_pending(&mut self, expected: impl Fn(&Pending) -> bool) -> Option<Pending> {
        if self.pending.as_ref().is_some_and(expected) {
            self.pending.take()
        } else {
            None
        }
    }

    /// Handles lines that waited, until one waits for the driver again.
    fn resume(&mut self) {
        while self.pending.is_none() && !self.closed {
            let Some(line) = self.queued.0.pop_front() else { return };
            self.dispatch(&line);
        }
    }

    fn dispatch(&mut self, line: &[u8]) {
        let request = match Request::parse(line) {
            Ok(request) => request,
            Err(error) => {
                self.rename_from = None;
                self.reply(error.code(), error.to_string());
                return;
            }
        };
        // RFC 959: RNTO must come right after RNFR; REST right before its
        // transfer, though clients set up the data connection in between.
        let rename_from = self.rename_from.take();
        let keeps_restart = matches!(
            request,
            Request::Rest(_)
                | Request::Retr(_)
                | Request::Stor(_)
                | Request::Appe(_)
                | Request::Pasv
                | Request::Epsv(_)
                | Request::Port(_)
                | Request::Eprt(_)
                | Request::Type(_)
        );
        if !keeps_restart {
            self.restart = None;
        }
        if self.user().is_none() && !allowed_before_login(&request) {
            self.reply(530, "Please login with USER and PASS");
            return;
        }
        self.execute(request, rename_from);
    }

    fn execute(&mut self, request: Request, rename_from: Option<VirtualPath>) {
        match request {
            Request::User(user) => self.user_command(user),
            Request::Pass(password) => match std::mem::replace(&mut self.login, Login::AwaitingUser) {
                Login::AwaitingPassword { user } => {
                    self.pending = Some(Pending::Login { user: user.clone() });
                    self.actions.push_back(Action::Authenticate { user, password });
                }
                Login::AwaitingUser => self.reply(503, "Login with USER first"),
                logged_in @ Login::LoggedIn { .. } => {
                    self.login = logged_in;
                    self.reply(230, "Already logged in");
                }
            },
            Request::Syst => self.reply(215, "UNIX Type: L8"),
            Request::Feat => {
                let features = FEATURES.iter().map(|f| (*f).to_owned()).collect();
                self.push_reply(Reply::multi(211, "Features:", features, "End"));
            }
            Request::OptsUtf8(_) => self.reply(200, "Always in UTF8 mode"),
            Request::OptsMlst => self.reply(200, "MLST OPTS type;size;modify;perm;UNIX.mode;"),
            Request::Noop => self.reply(200, "NOOP ok"),
            Request::Quit => self.close_with(221, "Goodbye"),
            Request::Pwd => self.reply(257, format!("{} is the current directory", self.cwd.quoted())),
            Request::Cwd(path) => self.file(FileOperation::ChangeDir(self.cwd.resolve(&path))),
            Request::Cdup => self.file(FileOperation::ChangeDir(self.cwd.parent())),
            Request::Mkd(path) => self.file(FileOperation::MakeDir(self.cwd.resolve(&path))),
            Request::Rmd(path) => self.file(FileOperation::RemoveDir(self.cwd.resolve(&path))),
            Request::Dele(path) => self.file(FileOperation::Delete(self.cwd.resolve(&path))),
            Request::SiteChmod { mode, path } => {
                self.file(FileOperation::Chmod { mode, path: self.cwd.resolve(&path) })
            }
            Request::Rnfr(path) => self.stat(self.cwd.resolve(&path), StatPurpose::RenameFrom),
            Request::Rnto(path) => match rename_from {
                Some(from) => self.file(FileOperation::Rename { from, to: self.cwd.resolve(&path) }),
                None => self.reply(503, "RNFR required first"),
            },
            Request::Size(path) => self.stat(self.cwd.resolve(&path), StatPurpose::Size),
            Request::Mdtm(path) => self.stat(self.cwd.resolve(&path), StatPurpose::Mdtm),
            Request::Mlst(path) => self.stat(self.resolve_optional(path.as_deref()), StatPurpose::Mlst),
            Request::List(path) => self.list(path.as_deref(), ListFormat::Long),
            Request::Nlst(path) => self.list(path.as_deref(), ListFormat::Names),
            Request::Mlsd(path) => self.list(path.as_deref(), ListFormat::Machine),
            Request::Retr(path) => {
                let offset = self.restart.take().unwrap_or(0);
                let path = self.cwd.resolve(&path);
                self.transfer(TransferKind::Retrieve { path, offset, representation: self.representation });
            }
            Request::Stor(path) => {
                let start = self.restart.take().map_or(StoreStart::Truncate, StoreStart::At);
                let path = self.cwd.resolve(&path);
                self.transfer(TransferKind::Store { path, start, representation: self.representation });
            }
            Request::Appe(path) => {
                self.restart = None;
                let path = self.cwd.resolve(&path);
                self.transfer(TransferKind::Store {
                    path,
                    start: StoreStart::Append,
                    representation: self.representation,
                });
            }
            Request::Rest(offset) => {
                self.restart = Some(offset);
                self.reply(350, format!("Restarting at {offset}. Send STOR or RETR"));
            }
            Request::Abor => self.reply(225, "No transfer to abort"),
            Request::Type(representation) => {
                self.representation = representation;
                let name = match representation {
                    TransferType::Ascii => "A",
                    TransferType::Image => "I",
                };
                self.reply(200, format!("Type set to {name}"));
            }
            Request::ModeStream => self.reply(200, "Mode set to S"),
            Request::StruFile => self.reply(200, "Structure set to F"),
            Request::Pasv => self.passive(false),
            Request::Epsv(EpsvArgument::None) => self.passive(true),
            Request::Epsv(EpsvArgument::All) => {
                self.epsv_all = true;
                self.reply(200, "EPSV ALL ok");
            }
            Request::Epsv(EpsvArgument::Protocol(protocol)) => {
                let ours = if self.config.local_ip.to_canonical().is_ipv4() { 1 } else { 2 };
                if protocol == ours {
                    self.passive(true);
                } else {
                    self.reply(522, format!("Network protocol not supported, use ({ours})"));
                }
            }
            Request::Port(address) => self.active(SocketAddr::V4(address), "PORT"),
            Request::Eprt(address) => self.active(address, "EPRT"),
        }
    }

    fn user_command(&mut self, user: String) {
        match &self.login {
            Login::LoggedIn { .. } => self.reply(530, "Cannot change to another user"),
            Login::AwaitingUser | Login::AwaitingPassword { .. } => {
                self.reply(331, format!("Password required for {user}"));
                self.login = Login::AwaitingPassword { user };
            }
        }
    }

    fn resolve_optional(&self, path: Option<&str>) -> VirtualPath {
        path.map_or_else(|| self.cwd.clone(), |p| self.cwd.resolve(p))
    }

    fn file(&mut self, operation: FileOperation) {
        self.pending = Some(Pending::File(operation.clone()));
        self.actions.push_back(Action::File(operation));
    }

    fn stat(&mut self, path: VirtualPath, purpose: StatPurpose) {
        self.pending = Some(Pending::Stat { path: path.clone(), purpose });
        self.actions.push_back(Action::Stat { path, purpose });
    }

    /// A last component with wildcards, in LIST and NLST, is a pattern
    /// over its directory; MLSD takes a directory only (RFC 3659 §7.1).
    fn list(&mut self, argument: Option<&str>, format: ListFormat) {
        let whole = |path| TransferKind::List { path, format, pattern: None, prefix: String::new() };
        let Some(argument) = argument.filter(|_| format != ListFormat::Machine) else {
            return self.transfer(whole(self.resolve_optional(argument)));
        };
        let split = argument.rfind('/').map_or(0, |slash| slash + 1);
        let (directory, last) = (argument.get(..split).unwrap_or_default(), argument.get(split..).unwrap_or_default());
        let kind = match Glob::new(last) {
            Some(pattern) => TransferKind::List {
                path: self.cwd.resolve(directory),
                format,
                pattern: Some(pattern),
                prefix: if format == ListFormat::Names { directory.to_owned() } else { String::new() },
            },
            None => whole(self.cwd.resolve(argument)),
        };
        self.transfer(kind);
    }

    fn transfer(&mut self, kind: TransferKind) {
        let Some(data) = self.data.take() else {
            self.reply(425, "Use PORT, EPRT, PASV or EPSV first");
            return;
        };
        self.pending = Some(Pending::Transfer { kind: kind.clone(), aborting: false });
        self.actions.push_back(Action::Transfer(Transfer { data, kind }));
    }

    fn passive(&mut self, extended: bool) {
        if self.epsv_all && !extended {
            self.reply(503, "After EPSV ALL only EPSV may open data connections");
            return;
        }
        self.data = None;
        self.pending = Some(Pending::Passive { extended });
        self.actions.push_back(Action::OpenPassive);
    }

    /// PORT and EPRT under the forwarder's bounce rules (RFC 2577): only
    /// the client's own address, and no privileged port.
    fn active(&mut self, target: SocketAddr, command: &str) {
        if self.epsv_all {
            self.reply(503, "After EPSV ALL only EPSV may open data connections");
            return;
        }
        if !self.config.allow_third_party_active {
            if target.ip().to_canonical() != self.config.client_ip.to_canonical() {
                let text = format!(
                    "Refused data address {}: not the client's own address {} (bounce protection)",
                    target.ip(),
                    self.config.client_ip
                );
                self.reply(500, text);
                return;
            }
            if target.port() < LOWEST_DATA_PORT {
                let text = format!("Refused data port {}: below {LOWEST_DATA_PORT} (bounce protection)", target.port());
                self.reply(504, text);
                return;
            }
        }
        if self.data.replace(DataChannel::Active(target)) == Some(DataChannel::Passive) {
            self.actions.push_back(Action::ClosePassive);
        }
        self.reply(200, format!("{command} command successful"));
    }

    /// The reply for a failed file operation on `path`.
    fn file_error(&mut self, path: &VirtualPath, error: &FsError) {
        match error {
            FsError::NotFound => self.reply(550, format!("{path}: No such file or directory")),
            FsError::PermissionDenied => self.reply(550, format!("{path}: Permission denied")),
            FsError::DiskFull => self.reply(452, format!("{path}: Insufficient storage space (disk full)")),
            FsError::ConnectionLost => self.handle_connection_lost(),
            FsError::NotADirectory => self.reply(550, format!("{path}: Not a directory")),
            FsError::IsADirectory => self.reply(550, format!("{path}: Is a directory")),
            FsError::AlreadyExists => self.reply(550, format!("{path}: File exists")),
            FsError::Other(message) => self.reply(550, format!("{path}: {message}")),
        }
    }

    fn close_with(&mut self, code: u16, text: impl Into<String>) {
        if self.closed {
            return;
        }
        self.reply(code, text);
        self.actions.push_back(Action::Close);
        self.closed = true;
        self.queued.0.clear();
    }

    fn reply(&mut self, code: u16, text: impl Into<String>) {
        self.push_reply(Reply::new(code, text));
    }

    /// Nothing is said after the session closed: a result that arrives
    /// late (a transfer ending after the SSH connection was lost) has no
    /// one to tell.
    fn push_reply(&mut self, reply: Reply) {
        if !self.closed {
            self.actions.push_back(Action::Reply(reply));
        }
    }
}

/// Lines that wait for the driver. They may hold a password (`PASS` sent
/// ahead), so `Debug` shows only how many there are.
#[derive(Default)]
struct QueuedLines(VecDeque<Vec<u8>>);

impl fmt::Debug for QueuedLines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} queued lines", self.0.len())
    }
}

/// RFC 959 and RFC 2389 commands a client may send before logging in.
fn allowed_before_login(request: &Request) -> bool {
    matches!(
        request,
        Request::User(_)
            | Request::Pass(_)
            | Request::Syst
            | Request::Feat
            | Request::OptsUtf8(_)
            | Request::OptsMlst
            | Request::Noop
            | Request::Quit
    )
}

#[cfg(test)]
mod tests;
