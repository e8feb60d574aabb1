//! The audit log's file: a cheap shared handle that appends one line per
//! record, reopens the file on SIGHUP (for logrotate), and reports a write
//! error once on stderr without stopping anything.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use ssh_files::config::FtpAuditLog;
use tokio_util::sync::CancellationToken;

use super::record::{rfc3339, Event, Record, SessionInfo};

/// The audit log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Opening (or reopening) the file failed.
    #[error("FtpAuditLog {}: {source}", path.display())]
    Open { path: PathBuf, source: std::io::Error },
}

/// Where records go; cloned into every FTP session. The default writes
/// nothing.
#[derive(Clone, Debug, Default)]
pub struct AuditLog(Option<Arc<Shared>>);

#[derive(Debug)]
struct Shared {
    /// `None` for stderr.
    path: Option<PathBuf>,
    file: Mutex<Option<File>>,
    /// A write failed and was reported; cleared when a write succeeds
    /// again, so that the next failure is reported too.
    failing: AtomicBool,
    /// Session numbers for the bridge (the forwarder has its own).
    bridge_ids: AtomicU64,
}

impl AuditLog {
    /// Opens the log `target` names; the file is created mode 0600 and
    /// appended to.
    pub fn open(target: &FtpAuditLog) -> Result<Self, AuditError> {
        let (path, file) = match target {
            FtpAuditLog::Stderr => (None, None),
            FtpAuditLog::File(path) => (Some(path.clone()), Some(open_file(path)?)),
        };
        Ok(Self(Some(Arc::new(Shared {
            path,
            file: Mutex::new(file),
            failing: AtomicBool::new(false),
            bridge_ids: AtomicU64::new(0),
        }))))
    }

    /// [`AuditLog::open`] for `Some`, a log that writes nothing for `None`.
    pub fn from_settings(target: Option<&FtpAuditLog>) -> Result<Self, AuditError> {
        target.map_or_else(|| Ok(Self::default()), Self::open)
    }

    pub fn is_enabled(&self) -> bool {
        self.0.is_some()
    }

    /// The next bridge session's number.
    pub fn next_bridge_session(&self) -> u64 {
        self.0.as_ref().map_or(0, |shared| shared.bridge_ids.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// Writes one record, stamped now.
    pub fn write(&self, session: &SessionInfo, event: Event) {
        let Some(shared) = &self.0 else { return };
        let record = Record { time: rfc3339(SystemTime::now()), session, event };
        let Ok(mut line) = serde_json::to_vec(&record) else { return };
        line.push(b'\n');
        // One write per line: with O_APPEND, lines from concurrent writers
        // never interleave within a line.
        let written = {
            let mut file = shared.file.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match file.as_mut() {
                Some(file) => file.write_all(&line),
                None if shared.path.is_none() => std::io::stderr().lock().write_all(&line),
                None => Err(std::io::Error::other("not open")),
            }
        };
        match written {
            Ok(()) => shared.failing.store(false, Ordering::Relaxed),
            Err(e) => {
                if !shared.failing.swap(true, Ordering::Relaxed) {
                    eprintln!(
                        "sshfwd: writing the FTP audit log {}: {e}; records are lost until it works",
                        shared.name()
                    );
                }
            }
        }
    }

    /// Reopens the file (after logrotate moved it). On failure the old
    /// file is kept.
    pub fn reopen(&self) -> Result<(), AuditError> {
        let Some(shared) = &self.0 else { return Ok(()) };
        let Some(path) = &shared.path else { return Ok(()) };
        let file = open_file(path)?;
        *shared.file.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(file);
        Ok(())
    }

    /// Reopens the file on every SIGHUP until `shutdown`. Without a file
    /// (no log, or stderr) SIGHUP keeps its usual meaning.
    pub fn reopen_on_hangup(&self, shutdown: CancellationToken) {
        if self.0.as_ref().is_none_or(|shared| shared.path.is_none()) {
            return;
        }
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot watch SIGHUP: the FTP audit log will not be reopened");
            return;
        };
        let log = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    received = hangups.recv() => if received.is_none() { return },
                    () = shutdown.cancelled() => return,
                }
                match log.reopen() {
                    Ok(()) => tracing::debug!("SIGHUP: FTP audit log reopened"),
                    Err(e) => eprintln!("sshfwd: SIGHUP: {e}; still writing to the old file"),
                }
            }
        });
    }
}

impl Shared {
    fn name(&self) -> String {
        self.path.as_deref().map_or_else(|| "(stderr)".to_owned(), |p| p.display().to_string())
    }
}

fn open_file(path: &Path) -> Result<File, AuditError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| AuditError::Open { path: path.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::super::record::{EndReason, Service};
    use super::*;

    fn session() -> SessionInfo {
        SessionInfo { service: Service::Bridge, session: 1, client: "127.0.0.1:1".into() }
    }

    fn end() -> Event {
        Event::End { user: None, reason: EndReason::Quit, code: None, detail: None, duration_ms: 0 }
    }

    #[test]
    fn appends_lines_and_reopens_after_a_rename() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&FtpAuditLog::File(path.clone())).unwrap();
        log.write(&session(), end());
        std::fs::rename(&path, dir.path().join("audit.log.1")).unwrap();
        log.write(&session(), end());
        log.reopen().unwrap();
        log.write(&session(), end());
        let old = std::fs::read_to_string(dir.path().join("audit.log.1")).unwrap();
        let new = std::fs::read_to_string(&path).unwrap();
        assert_eq!((old.lines().count(), new.lines().count()), (2, 1));
        for line in old.lines().chain(new.lines()) {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(value["event"], "end");
        }
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_failed_reopen_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/audit.log");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let log = AuditLog::open(&FtpAuditLog::File(path.clone())).unwrap();
        std::fs::rename(dir.path().join("sub"), dir.path().join("gone")).unwrap();
        assert!(log.reopen().is_err());
        log.write(&session(), end());
        assert_eq!(std::fs::read_to_string(dir.path().join("gone/audit.log")).unwrap().lines().count(), 1);
    }

    #[test]
    fn a_failing_write_is_reported_once_and_again_after_recovering() {
        // /dev/full takes the open and fails every write (ENOSPC).
        let log = AuditLog::open(&FtpAuditLog::File("/dev/full".into())).unwrap();
        let failing = |log: &AuditLog| log.0.as_ref().unwrap().failing.load(Ordering::Relaxed);
        log.write(&session(), end());
        assert!(failing(&log));
        log.write(&session(), end());
        assert!(failing(&log));
        let dir = tempfile::tempdir().unwrap();
        *log.0.as_ref().unwrap().file.lock().unwrap() = Some(open_file(&dir.path().join("ok.log")).unwrap());
        log.write(&session(), end());
        assert!(!failing(&log));
    }

    #[test]
    fn a_disabled_log_writes_nothing() {
        let log = AuditLog::default();
        assert!(!log.is_enabled());
        log.write(&session(), end());
        assert!(log.reopen().is_ok());
        assert_eq!(log.next_bridge_session(), 0);
    }
}
