//! The audit log's records: one JSON object per line.

use std::time::{SystemTime, UNIX_EPOCH};

use ftp_proto::server::listing::CivilTime;
use serde::Serialize;

/// One line of the audit log.
#[derive(Debug, Serialize)]
pub struct Record<'a> {
    /// RFC 3339, UTC, milliseconds.
    pub time: String,
    #[serde(flatten)]
    pub session: &'a SessionInfo,
    #[serde(flatten)]
    pub event: Event,
}

/// What every record of a session carries.
#[derive(Debug, Clone, Serialize)]
pub struct SessionInfo {
    /// Which part of sshfwd served the session.
    pub service: Service,
    /// Unique per service within a run.
    pub session: u64,
    /// The FTP client's address on the control connection.
    pub client: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Service {
    /// `-L ftp/` or `-R ftp/`.
    #[serde(rename = "ftp-forward")]
    Forward,
    /// `--ftp-to-sftp`.
    #[serde(rename = "ftp-bridge")]
    Bridge,
}

#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The final reply to a login.
    Login {
        user: String,
        result: LoginResult,
        code: u16,
    },
    Transfer(Transfer),
    /// The control connection ended.
    End {
        user: Option<String>,
        reason: EndReason,
        /// The server's last reply, when it was 421 (closing).
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<u16>,
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        duration_ms: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginResult {
    Accepted,
    Refused,
}

/// One data transfer.
#[derive(Debug, Clone, Serialize)]
pub struct Transfer {
    pub user: Option<String>,
    /// RETR, STOR, STOU, APPE, LIST, NLST or MLSD.
    pub command: &'static str,
    pub argument: String,
    /// PASV, EPSV, PORT or EPRT; `None` when no data command came first.
    pub mode: Option<&'static str>,
    /// The data connection's end on the FTP client's side: the address
    /// the client connected to (passive) or listened on (active).
    pub data_client: Option<String>,
    /// Its end on the FTP server's side: the server's passive address, or
    /// the address the server was told to connect to. The bridge has none.
    pub data_server: Option<String>,
    pub bytes_to_client: u64,
    pub bytes_to_server: u64,
    /// From the command to the end of the reply or of the data, whichever
    /// is later.
    pub duration_ms: u64,
    /// The final reply; `None` when the session ended before it.
    pub code: Option<u16>,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The client sent QUIT.
    Quit,
    /// The client closed the control connection first.
    ClientClosed,
    /// The server (or, for the bridge, the bridge itself) closed it first.
    ServerClosed,
    /// The SSH connection under the session was lost.
    SshLost,
    /// A read or write on the control connection failed.
    Error,
}

/// `time` as RFC 3339 in UTC with milliseconds.
pub fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let t = CivilTime::from_unix(i64::try_from(since.as_secs()).unwrap_or(i64::MAX));
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn rfc3339_table() {
        let table = [
            (0, 0, "1970-01-01T00:00:00.000Z"),
            (951_782_400, 5, "2000-02-29T00:00:00.005Z"),
            (1_798_169_696, 789, "2026-12-25T03:34:56.789Z"),
            (4_107_542_399, 999, "2100-02-28T23:59:59.999Z"),
        ];
        for (seconds, millis, expected) in table {
            let time = UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_millis(millis);
            assert_eq!(rfc3339(time), expected);
        }
    }

    #[test]
    fn records_serialise_flat() {
        let session = SessionInfo { service: Service::Forward, session: 7, client: "127.0.0.1:5000".into() };
        let record = Record {
            time: "t".into(),
            session: &session,
            event: Event::Login { user: "alice".into(), result: LoginResult::Accepted, code: 230 },
        };
        assert_eq!(
            serde_json::to_string(&record).unwrap(),
            r#"{"time":"t","service":"ftp-forward","session":7,"client":"127.0.0.1:5000","event":"login","user":"alice","result":"accepted","code":230}"#
        );
        let record = Record {
            time: "t".into(),
            session: &session,
            event: Event::End { user: None, reason: EndReason::ClientClosed, code: None, detail: None, duration_ms: 3 },
        };
        assert_eq!(
            serde_json::to_string(&record).unwrap(),
            r#"{"time":"t","service":"ftp-forward","session":7,"client":"127.0.0.1:5000","event":"end","user":null,"reason":"client_closed","duration_ms":3}"#
        );
    }
}
