//! Diagnostics in OpenSSH's shape: plain messages at the default level,
//! `debug1:`/`debug2:`/`debug3:` prefixes with -v, -vv, -vvv; on stderr,
//! appended to a file (-E), or sent to syslog (-y).

mod syslog;

use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

pub use ssh_files::config::{LogLevel, SyslogFacility};
pub use syslog::{Severity, Syslog, DEV_LOG};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// Where diagnostics go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// Standard error, the default.
    Stderr,
    /// `-E log_file`: appended to the file, created if need be.
    File(PathBuf),
    /// `-y`: to the syslog daemon, with this facility (`SyslogFacility`).
    Syslog(SyslogFacility),
}

/// Why the diagnostics cannot go where asked.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// `-E`'s file cannot be opened for appending (OpenSSH's words).
    #[error("Couldn't open logfile {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The level after `-q` and `-v` flags on top of the configured one.
pub fn adjusted(level: LogLevel, quiet: bool, verbose: u8) -> LogLevel {
    if quiet {
        return LogLevel::Quiet;
    }
    match verbose {
        0 => level,
        1 => level.max(LogLevel::Debug1),
        2 => level.max(LogLevel::Debug2),
        _ => LogLevel::Debug3,
    }
}

fn filter(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Quiet | LogLevel::Fatal => "off",
        LogLevel::Error => "sshfwd=error",
        LogLevel::Info | LogLevel::Verbose => "sshfwd=info",
        LogLevel::Debug1 => "sshfwd=debug",
        LogLevel::Debug2 => "sshfwd=trace",
        LogLevel::Debug3 => "trace",
    }
}

struct OpenSshFormat;

impl<S, N> FormatEvent<S, N> for OpenSshFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        let ours = meta.target().starts_with("sshfwd");
        match *meta.level() {
            Level::DEBUG if ours => write!(writer, "debug1: ")?,
            Level::TRACE if ours => write!(writer, "debug2: ")?,
            Level::DEBUG | Level::TRACE => write!(writer, "debug3: {}: ", meta.target())?,
            _ => {}
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Installs the logger; quiet mode still reports fatal errors, which the
/// binary passes to [`fatal`].
pub fn init(level: LogLevel, target: &LogTarget) -> Result<(), LogError> {
    let sink = Sink::open(target)?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("SSHFWD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter(level)));
    // try_init also passes the `log` records of russh on to tracing.
    if subscriber(filter, sink.clone()).try_init().is_ok() {
        let _ = FATAL.set(sink);
    }
    Ok(())
}

fn subscriber(filter: tracing_subscriber::EnvFilter, sink: Sink) -> impl Subscriber + Send + Sync {
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(sink).event_format(OpenSshFormat).finish()
}

/// Where [`fatal`] writes: the sink [`init`] installed.
static FATAL: OnceLock<Sink> = OnceLock::new();

/// Reports why the run ended, at any level, where the diagnostics go
/// (stderr before [`init`]).
pub fn fatal(text: &str) {
    match FATAL.get() {
        // One write, so that the line is appended whole.
        Some(Sink::File(file)) => {
            let _ = (&**file).write_all(format!("{text}\n").as_bytes());
        }
        Some(Sink::Syslog(syslog)) => syslog.send(Severity::Critical, text),
        Some(Sink::Stderr) | None => eprintln!("{text}"),
    }
}

/// The open destination of the formatted events.
#[derive(Debug, Clone)]
enum Sink {
    Stderr,
    File(Arc<File>),
    Syslog(Arc<Syslog>),
}

impl Sink {
    fn open(target: &LogTarget) -> Result<Sink, LogError> {
        Ok(match target {
            LogTarget::Stderr => Sink::Stderr,
            // OpenSSH's mode for a new log file.
            LogTarget::File(path) => std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600)
                .open(path)
                .map(|file| Sink::File(Arc::new(file)))
                .map_err(|source| LogError::Open { path: path.clone(), source })?,
            LogTarget::Syslog(facility) => Sink::Syslog(Arc::new(Syslog::new(DEV_LOG, *facility))),
        })
    }

    fn writer(&self, severity: Severity) -> SinkWriter<'_> {
        match self {
            Sink::Stderr => SinkWriter::Stderr(io::stderr()),
            Sink::File(file) => SinkWriter::File(file),
            Sink::Syslog(syslog) => SinkWriter::Syslog { syslog, severity, event: Vec::new() },
        }
    }
}

impl<'a> MakeWriter<'a> for Sink {
    type Writer = SinkWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        self.writer(Severity::Info)
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        self.writer(match *meta.level() {
            Level::ERROR => Severity::Error,
            Level::WARN => Severity::Warning,
            Level::INFO => Severity::Info,
            _ => Severity::Debug,
        })
    }
}

/// Writes one formatted event.
enum SinkWriter<'a> {
    Stderr(io::Stderr),
    /// Events are appended whole: the formatter writes each at once, and
    /// the file is opened with O_APPEND.
    File(&'a File),
    /// The event is gathered and sent when the formatter drops the writer.
    Syslog {
        syslog: &'a Syslog,
        severity: Severity,
        event: Vec<u8>,
    },
}

impl Write for SinkWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            SinkWriter::Stderr(stderr) => stderr.write(bytes),
            SinkWriter::File(file) => file.write(bytes),
            SinkWriter::Syslog { event, .. } => {
                event.extend_from_slice(bytes);
                Ok(bytes.len())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            SinkWriter::Stderr(stderr) => stderr.flush(),
            SinkWriter::File(file) => file.flush(),
            SinkWriter::Syslog { .. } => Ok(()),
        }
    }
}

impl Drop for SinkWriter<'_> {
    fn drop(&mut self) {
        if let SinkWriter::Syslog { syslog, severity, event } = self {
            syslog.send(*severity, &String::from_utf8_lossy(event));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixDatagram;
    use std::time::Duration;

    use super::*;

    #[test]
    fn events_reach_syslog_one_datagram_each_with_their_severity() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let daemon = UnixDatagram::bind(&path).unwrap();
        daemon.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let sink = Sink::Syslog(Arc::new(Syslog::new(&path, SyslogFacility::Daemon)));
        let subscriber = subscriber(tracing_subscriber::EnvFilter::new(filter(LogLevel::Debug1)), sink);
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: "sshfwd::test", "Warning: remote port forwarding failed for listen port 21");
            tracing::info!(target: "sshfwd::test", "Authenticated to host");
            tracing::debug!(target: "sshfwd::test", "channel 3: new");
            tracing::trace!(target: "sshfwd::test", "not at debug1");
        });
        let pid = std::process::id();
        // DAEMON is 3: priority 3 * 8 + severity.
        let wants = [
            ("<28>", "Warning: remote port forwarding failed for listen port 21"),
            ("<30>", "Authenticated to host"),
            ("<31>", "debug1: channel 3: new"),
        ];
        for (priority, text) in wants {
            let mut buffer = [0; 512];
            let n = daemon.recv(&mut buffer).unwrap();
            let got = String::from_utf8_lossy(&buffer[..n]).into_owned();
            assert!(got.starts_with(priority), "{got}");
            assert!(got.ends_with(&format!(" sshfwd[{pid}]: {text}")), "{got}");
        }
        daemon.set_nonblocking(true).unwrap();
        assert!(daemon.recv(&mut [0; 512]).is_err(), "nothing above the level");
    }
}
