//! The FTP audit log (`-o FtpAuditLog=FILE`, or `-` for stderr): one JSON
//! object per line for each login, data transfer and session end of the
//! FTP forwarder (`-L ftp/`, `-R ftp/`) and of the FTP→SFTP bridge. What a
//! record means is read from the control connection by
//! `ftp_proto::audit`; here are the records, the file, and the glue a
//! session driver calls once per event.

mod log;
mod record;
mod session;

pub use log::{AuditError, AuditLog};
pub use record::{EndReason, Service};
pub use session::{DataInfo, DataMeter, SessionAudit};
