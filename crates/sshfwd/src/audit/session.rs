//! One FTP session's audit: ftp-proto's [`ControlAudit`] fed with the
//! session's lines, its data channels' byte counts, and the records it
//! writes. A transfer's record waits for its data channel to finish when
//! the final reply comes first (the server's 226 may overtake the relay's
//! last bytes), so that the counts are complete.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ftp_proto::audit::{AuditEvent, ControlAudit, TransferRequest};
use ftp_proto::framing::LineFramer;

use super::log::AuditLog;
use super::record::{EndReason, Event, LoginResult, Service, SessionInfo, Transfer};

/// Longest client line the bridge's audit framer holds, as the bridge's own.
const MAX_LINE: usize = 8192;

/// What a data channel moved, filled in by whoever relays it.
#[derive(Debug, Default)]
pub struct DataMeter {
    /// The data connection was made (both sides, or at least the client's).
    connected: AtomicBool,
    /// The channel is over: relayed, failed, timed out or withdrawn.
    done: AtomicBool,
    to_client: AtomicU64,
    to_server: AtomicU64,
}

impl DataMeter {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn connected(&self) {
        self.connected.store(true, Ordering::Release);
    }

    /// The channel is over, having moved these bytes.
    pub fn finished(&self, to_client: u64, to_server: u64) {
        self.to_client.store(to_client, Ordering::Relaxed);
        self.to_server.store(to_server, Ordering::Relaxed);
        self.done.store(true, Ordering::Release);
    }

    /// The channel is over; counts stay as a relay left them, or zero.
    pub fn close(&self) {
        self.done.store(true, Ordering::Release);
    }

    fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }
}

/// A data channel as the audit log describes it.
#[derive(Debug, Clone)]
pub struct DataInfo {
    pub client_end: Option<String>,
    pub server_end: Option<String>,
    pub meter: Arc<DataMeter>,
}

/// One session's audit; does nothing when the log is off.
#[derive(Debug, Default)]
pub struct SessionAudit(Option<Box<Active>>);

#[derive(Debug)]
struct Active {
    log: AuditLog,
    info: SessionInfo,
    control: ControlAudit<DataInfo>,
    started: Instant,
    /// Transfers answered before their data channel finished.
    waiting: Vec<(Transfer, TransferRequest, Arc<DataMeter>)>,
    /// Which side closed the control connection first.
    first_closed: Option<EndReason>,
    /// The bridge's client lines, framed again for the audit.
    framer: Option<LineFramer>,
    /// The server's last final reply code.
    last_code: Option<u16>,
}

impl SessionAudit {
    /// A session of `service` numbered `session` from `client`.
    pub fn new(log: &AuditLog, service: Service, session: u64, client: SocketAddr) -> Self {
        if !log.is_enabled() {
            return Self(None);
        }
        Self(Some(Box::new(Active {
            log: log.clone(),
            info: SessionInfo { service, session, client: client.to_string() },
            control: ControlAudit::new(),
            started: Instant::now(),
            waiting: Vec::new(),
            first_closed: None,
            framer: None,
            last_code: None,
        })))
    }

    /// A command line that went to the server.
    pub fn client_line(&mut self, line: &[u8]) {
        let Some(active) = &mut self.0 else { return };
        active.control.handle_client_line(line, Instant::now());
        active.flush();
    }

    /// Bytes from the client, for a driver that does not see lines (the
    /// bridge's session frames them itself).
    pub fn client_bytes(&mut self, bytes: &[u8]) {
        let Some(active) = &mut self.0 else { return };
        let framer = active.framer.get_or_insert_with(|| LineFramer::new(MAX_LINE));
        framer.push(bytes);
        let now = Instant::now();
        loop {
            match framer.next_line() {
                Ok(Some(line)) => active.control.handle_client_line(&line, now),
                Ok(None) => break,
                // Too long for the bridge too, which closes the session.
                Err(_) => return,
            }
        }
        active.flush();
    }

    /// A reply line from the server (or the bridge).
    pub fn server_line(&mut self, line: &[u8]) {
        let Some(active) = &mut self.0 else { return };
        if let Some(code) = final_code(line) {
            active.last_code = Some(code);
        }
        active.control.handle_server_line(line);
        active.flush();
    }

    /// A reply as the bridge sends it, one or more lines.
    pub fn server_reply(&mut self, bytes: &[u8]) {
        if self.0.is_none() {
            return;
        }
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            self.server_line(line);
        }
    }

    /// A data channel was set up; the transfer that uses it reports its
    /// endpoints and bytes.
    pub fn data_opened(&mut self, data: impl FnOnce() -> DataInfo) {
        let Some(active) = &mut self.0 else { return };
        active.control.data_opened(data());
        active.flush();
    }

    /// A data channel may have finished: writes the records that waited
    /// for it.
    pub fn data_finished(&mut self) {
        if let Some(active) = &mut self.0 {
            active.flush();
        }
    }

    pub fn client_closed(&mut self) {
        if let Some(active) = &mut self.0 {
            active.first_closed.get_or_insert(EndReason::ClientClosed);
        }
    }

    pub fn server_closed(&mut self) {
        if let Some(active) = &mut self.0 {
            active.first_closed.get_or_insert(EndReason::ServerClosed);
        }
    }

    /// The SSH connection under the session is gone.
    pub fn ssh_lost(&mut self) {
        if let Some(active) = &mut self.0 {
            active.first_closed = Some(EndReason::SshLost);
        }
    }

    /// The session is over, with `error` if the control connection failed:
    /// transfers still open are written without a code, then the end.
    /// Call it once the session's data channels are all done.
    pub fn end(&mut self, error: Option<String>) {
        let Some(mut active) = self.0.take() else { return };
        active.control.finish();
        active.flush();
        for (mut transfer, request, meter) in std::mem::take(&mut active.waiting) {
            active.write_transfer(&mut transfer, &request, &meter);
        }
        let reason = match (&error, active.first_closed) {
            (_, Some(EndReason::SshLost)) => EndReason::SshLost,
            _ if active.control.quit_sent() => EndReason::Quit,
            (Some(_), _) => EndReason::Error,
            (None, Some(first)) => first,
            (None, None) => EndReason::ClientClosed,
        };
        let code = active.last_code.filter(|&code| code == 421 && reason != EndReason::Quit);
        let event = Event::End {
            user: active.control.user().map(str::to_owned),
            reason,
            code,
            detail: error,
            duration_ms: millis(active.started),
        };
        active.log.write(&active.info, event);
    }
}

impl Active {
    /// Writes the records that are complete.
    fn flush(&mut self) {
        while let Some(event) = self.control.poll_event() {
            match event {
                AuditEvent::Login { user, accepted, code } => {
                    let result = if accepted { LoginResult::Accepted } else { LoginResult::Refused };
                    self.log.write(&self.info, Event::Login { user, result, code });
                }
                AuditEvent::Transfer { request, code, data } => self.transfer(request, code, data),
            }
        }
        let (done, waiting): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.waiting).into_iter().partition(|(_, _, meter)| meter.is_done());
        self.waiting = waiting;
        for (mut transfer, request, meter) in done {
            self.write_transfer(&mut transfer, &request, &meter);
        }
    }

    fn transfer(&mut self, request: TransferRequest, code: Option<u16>, data: Option<DataInfo>) {
        let mut transfer = Transfer {
            user: self.control.user().map(str::to_owned),
            command: request.command,
            argument: request.argument.clone(),
            mode: request.mode.map(|m| m.as_str()),
            data_client: None,
            data_server: None,
            bytes_to_client: 0,
            bytes_to_server: 0,
            duration_ms: 0,
            code,
        };
        let Some(data) = data else {
            transfer.duration_ms = millis(request.sent);
            self.log.write(&self.info, Event::Transfer(transfer));
            return;
        };
        transfer.data_client = data.client_end;
        transfer.data_server = data.server_end;
        // A refusal may come with no data connection ever made; a success
        // or a broken transfer had one, whose counts are awaited.
        let refused_unconnected = code.is_some_and(|c| c >= 400) && !data.meter.is_connected();
        if data.meter.is_done() || refused_unconnected || code.is_none() {
            self.write_transfer(&mut transfer, &request, &data.meter);
        } else {
            self.waiting.push((transfer, request, data.meter));
        }
    }

    fn write_transfer(&self, transfer: &mut Transfer, request: &TransferRequest, meter: &DataMeter) {
        transfer.bytes_to_client = meter.to_client.load(Ordering::Relaxed);
        transfer.bytes_to_server = meter.to_server.load(Ordering::Relaxed);
        transfer.duration_ms = millis(request.sent);
        self.log.write(&self.info, Event::Transfer(transfer.clone()));
    }
}

/// The code of a reply line that ends a reply (`ddd `), if it is one.
fn final_code(line: &[u8]) -> Option<u16> {
    let digits = line.get(..3)?;
    if line.get(3).is_some_and(|&b| b != b' ') || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}
