//! Diagnostics on stderr in OpenSSH's shape: plain messages at the default
//! level, `debug1:`/`debug2:`/`debug3:` prefixes with -v, -vv, -vvv.

use std::fmt;

pub use ssh_files::config::LogLevel;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

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

/// Installs the stderr logger; quiet mode still reports fatal errors,
/// which the binary prints itself.
pub fn init(level: LogLevel) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SSHFWD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter(level)));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .event_format(OpenSshFormat)
        .try_init();
}
