//! An SFTP session: the operations on paths, and open handles.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use russh_sftp::protocol::{
    FileAttributes, Lstat, MkDir, Name, Open, OpenDir, OpenFlags, Packet, ReadLink, RealPath, Remove, RmDir, SetStat,
    Stat,
};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::connection::{Connection, Reply};
use crate::error::Error;
use crate::metadata::{DirEntry, Metadata};
use crate::wire::{self, code};

/// Requests in flight and their size, for transfers.
///
/// A chunk above 32 KiB is used only with a server that states its limits
/// (limits@openssh.com), and lowered to them; SFTP v3 promises no more than
/// about 32 KiB per packet. When the chunk is lowered, more requests keep
/// the bytes in flight, up to OpenSSH's 64 (or the count asked for, if more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// How many READs or WRITEs a transfer keeps in flight (at least 1).
    pub requests_in_flight: usize,
    /// Bytes per WRITE, capped at 255 KiB and at the server's limits. READs
    /// take at most 32 KiB each, with more of them in flight (up to 64).
    pub chunk_size: u32,
}

impl Config {
    /// WRITEs of 128 KiB, 16 in flight: OpenSSH's 2 MiB in flight (also the
    /// window of an OpenSSH server's session channel) in a quarter of the
    /// requests, which costs the server less per byte, against servers that
    /// state their limits; 64 × 32 KiB against others, and for READs.
    pub const fn large_chunks() -> Self {
        Config { requests_in_flight: 16, chunk_size: 128 * 1024 }
    }
}

impl Default for Config {
    /// OpenSSH's sftp: 64 requests of 32 KiB.
    fn default() -> Self {
        Config { requests_in_flight: DEFAULT_REQUESTS, chunk_size: DEFAULT_CHUNK }
    }
}

/// The largest chunk: OpenSSH's sftp-server reads at most 256 KiB less 1 KiB
/// of packet overhead, so larger requests would only come back short.
const MAX_CHUNK: u32 = 255 * 1024;

/// The smallest chunk, against a server that claims a tiny read limit.
const MIN_CHUNK: u32 = 512;

/// The largest READ: a download holds its replies until the sink takes
/// them, and larger reads made 200 concurrent bridged downloads use more
/// memory while no download got faster (bench/run, bridge group).
pub(crate) const READ_CHUNK: u32 = DEFAULT_CHUNK;

/// The chunk every server takes: OpenSSH's sftp default, within the 34,000
/// bytes per packet that SFTP v3 servers should support.
const DEFAULT_CHUNK: u32 = 32 * 1024;

/// OpenSSH's sftp default window.
const DEFAULT_REQUESTS: usize = 64;

const FXP_EXTENDED: u8 = 200;
const FXP_EXTENDED_REPLY: u8 = 201;

/// A client session over one stream (an SSH channel's `sftp` subsystem, or a
/// pipe to `sftp-server`). Methods take `&self`: many operations may run at
/// once on one session.
pub struct SftpSession {
    pub(crate) connection: Connection,
    pub(crate) config: Config,
    extensions: Vec<(String, String)>,
}

/// How an upload treats the file it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadMode {
    /// Create or truncate, write from the start (FTP STOR).
    Replace,
    /// Create if missing, keep the contents and write from this offset
    /// (FTP REST then STOR).
    Resume(u64),
    /// Create if missing, write after the current end (FTP APPE).
    Append,
}

impl SftpSession {
    /// Starts a session on `stream`: the version exchange, then the
    /// server's limits if it states them.
    pub async fn open<S>(stream: S, config: Config) -> Result<Self, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (connection, version, extensions) = Connection::start(stream).await?;
        tracing::debug!(version, ?extensions, "sftp session open");
        let asked = Config {
            requests_in_flight: config.requests_in_flight.max(1),
            chunk_size: config.chunk_size.clamp(MIN_CHUNK, MAX_CHUNK),
        };
        let mut session = SftpSession { connection, config: asked, extensions };
        if session.has_extension("limits@openssh.com") {
            session.apply_limits().await?;
        } else {
            session.config.chunk_size = asked.chunk_size.min(DEFAULT_CHUNK);
        }
        session.config.requests_in_flight = requests_for(asked, session.config.chunk_size);
        Ok(session)
    }

    /// The transfer settings in force, after the server's limits.
    pub fn config(&self) -> Config {
        self.config
    }

    /// Whether the server announced `name` (e.g. `posix-rename@openssh.com`).
    pub fn has_extension(&self, name: &str) -> bool {
        self.extensions.iter().any(|(known, _)| known == name)
    }

    /// Follows symlinks.
    pub async fn stat(&self, path: &str) -> Result<Metadata, Error> {
        let reply = self.call(|id| Stat { id, path: path.to_owned() }.into())?;
        attrs_reply(reply.packet().await?, path)
    }

    /// Describes a symlink itself.
    pub async fn lstat(&self, path: &str) -> Result<Metadata, Error> {
        let reply = self.call(|id| Lstat { id, path: path.to_owned() }.into())?;
        attrs_reply(reply.packet().await?, path)
    }

    /// Every entry of a directory with its attributes, without `.` and `..`.
    pub async fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>, Error> {
        let reply = self.call(|id| OpenDir { id, path: path.to_owned() }.into())?;
        let dir = self.guard(self.connection.handle_reply(reply).await?, path)?;
        let mut entries = Vec::new();
        loop {
            let reply = self
                .connection
                .send_head(|id| wire::encode_handle_request(wire::FXP_READDIR, id, &dir.handle, &[], 0))?;
            let Some(names) = name_reply(reply.packet().await?, path)? else { break };
            let names = names.files.into_iter().filter(|file| file.filename != "." && file.filename != "..");
            entries.extend(names.map(DirEntry::from));
        }
        dir.close().await?;
        Ok(entries)
    }

    /// Makes a directory with the server's default mode.
    pub async fn mkdir(&self, path: &str) -> Result<(), Error> {
        let reply = self.call(|id| MkDir { id, path: path.to_owned(), attrs: FileAttributes::empty() }.into())?;
        status_reply(reply.packet().await?, path)
    }

    /// Removes an empty directory.
    pub async fn rmdir(&self, path: &str) -> Result<(), Error> {
        let reply = self.call(|id| RmDir { id, path: path.to_owned() }.into())?;
        status_reply(reply.packet().await?, path)
    }

    /// Removes a file.
    pub async fn remove(&self, path: &str) -> Result<(), Error> {
        let reply = self.call(|id| Remove { id, filename: path.to_owned() }.into())?;
        status_reply(reply.packet().await?, path)
    }

    /// Renames, replacing an existing target as rename(2) does when the
    /// server offers posix-rename@openssh.com; plain SFTP v3 RENAME refuses
    /// an existing target.
    pub async fn rename(&self, from: &str, to: &str) -> Result<(), Error> {
        let reply = if self.has_extension("posix-rename@openssh.com") {
            let mut data = BytesMut::new();
            put_string(&mut data, from.as_bytes());
            put_string(&mut data, to.as_bytes());
            self.extended("posix-rename@openssh.com", &data)?
        } else {
            self.call(|id| {
                russh_sftp::protocol::Rename { id, oldpath: from.to_owned(), newpath: to.to_owned() }.into()
            })?
        };
        status_reply(reply.packet().await?, from)
    }

    /// Sets the permission bits (e.g. `0o644`; FTP SITE CHMOD).
    pub async fn set_permissions(&self, path: &str, mode: u32) -> Result<(), Error> {
        let attrs = FileAttributes { permissions: Some(mode & 0o7777), ..FileAttributes::empty() };
        let reply = self.call(|id| SetStat { id, path: path.to_owned(), attrs }.into())?;
        status_reply(reply.packet().await?, path)
    }

    /// The server's absolute, canonical form of `path` (`.` is the start
    /// directory).
    pub async fn realpath(&self, path: &str) -> Result<String, Error> {
        let reply = self.call(|id| RealPath { id, path: path.to_owned() }.into())?;
        match name_reply(reply.packet().await?, path)? {
            Some(name) => name
                .files
                .into_iter()
                .next()
                .map(|file| file.filename)
                .ok_or_else(|| Error::Protocol("empty realpath reply".to_owned())),
            None => Err(Error::NoSuchFile { path: path.to_owned() }),
        }
    }

    /// Where the symbolic link at `path` points, as the link holds it (not
    /// resolved: relative targets stay relative).
    pub async fn read_link(&self, path: &str) -> Result<String, Error> {
        let reply = self.call(|id| ReadLink { id, path: path.to_owned() }.into())?;
        link_reply(reply.packet().await?, path)
    }

    /// [`Self::read_link`] for many links, with up to the session's window
    /// of requests in flight: a listing with many links costs a few round
    /// trips, not one per link. The results are in the order of `paths`.
    pub async fn read_links(&self, paths: &[String]) -> Vec<Result<String, Error>> {
        let mut results = Vec::with_capacity(paths.len());
        for window in paths.chunks(self.config.requests_in_flight) {
            let replies: Vec<_> =
                window.iter().map(|path| self.call(|id| ReadLink { id, path: path.clone() }.into())).collect();
            for (reply, path) in replies.into_iter().zip(window) {
                let packet = match reply {
                    Ok(reply) => reply.packet().await,
                    Err(error) => Err(error),
                };
                results.push(packet.and_then(|packet| link_reply(packet, path)));
            }
        }
        results
    }

    /// Free bytes for the user on the file system holding `path`, if the
    /// server answers statvfs@openssh.com.
    pub async fn available_space(&self, path: &str) -> Option<u64> {
        if !self.has_extension("statvfs@openssh.com") {
            return None;
        }
        let mut data = BytesMut::new();
        put_string(&mut data, path.as_bytes());
        let packet = self.extended("statvfs@openssh.com", &data).ok()?.packet().await.ok()?;
        let mut body = extended_reply(packet, path).ok()?;
        // struct statvfs in the extension's order: bsize, frsize, blocks, bfree, bavail, …
        let _bsize = body.try_get_u64().ok()?;
        let fragment = body.try_get_u64().ok()?;
        let _blocks = body.try_get_u64().ok()?;
        let _free = body.try_get_u64().ok()?;
        let available = body.try_get_u64().ok()?;
        Some(available.saturating_mul(fragment))
    }

    /// Opens a file; its handle is closed however the caller ends.
    pub(crate) async fn open_handle<'a>(&'a self, path: &'a str, flags: OpenFlags) -> Result<OpenHandle<'a>, Error> {
        let reply = self
            .call(|id| Open { id, filename: path.to_owned(), pflags: flags, attrs: FileAttributes::empty() }.into())?;
        self.guard(self.connection.handle_reply(reply).await?, path)
    }

    /// Closes a handle; the server may report a late write error here.
    pub(crate) async fn close(&self, handle: &[u8], path: &str) -> Result<(), Error> {
        let reply = self.connection.send_head(|id| wire::encode_handle_request(wire::FXP_CLOSE, id, handle, &[], 0))?;
        status_reply(reply.packet().await?, path)
    }

    /// Sends CLOSE and does not wait: for a transfer that is given up.
    pub(crate) fn close_later(&self, handle: &[u8]) {
        let _ = self.connection.send_head(|id| wire::encode_handle_request(wire::FXP_CLOSE, id, handle, &[], 0));
    }

    /// The size of an open file.
    pub(crate) async fn size_of(&self, handle: &[u8], path: &str) -> Result<u64, Error> {
        let reply = self.connection.send_head(|id| wire::encode_handle_request(wire::FXP_FSTAT, id, handle, &[], 0))?;
        let metadata = attrs_reply(reply.packet().await?, path)?;
        metadata.size.ok_or_else(|| Error::Protocol(format!("no size for {path}")))
    }

    /// Sends a request that russh-sftp serialises.
    fn call(&self, build: impl FnOnce(u32) -> Packet) -> Result<Reply, Error> {
        let mut failure = None;
        let reply = self.connection.send_head(|id| match Bytes::try_from(build(id)) {
            Ok(frame) => frame,
            Err(error) => {
                failure = Some(error.to_string());
                Bytes::new()
            }
        });
        match failure {
            Some(error) => Err(Error::Protocol(format!("cannot encode request: {error}"))),
            None => reply,
        }
    }

    /// Sends SSH_FXP_EXTENDED with its request name and raw data.
    fn extended(&self, request: &str, data: &[u8]) -> Result<Reply, Error> {
        self.connection.send_head(|id| {
            let len = 1 + 4 + 4 + request.len() + data.len();
            let mut frame = BytesMut::with_capacity(4 + len);
            frame.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
            frame.put_u8(FXP_EXTENDED);
            frame.put_u32(id);
            put_string(&mut frame, request.as_bytes());
            frame.put_slice(data);
            frame.freeze()
        })
    }

    /// Lowers the chunk to the server's read and write limits.
    async fn apply_limits(&mut self) -> Result<(), Error> {
        let packet = self.extended("limits@openssh.com", &[])?.packet().await?;
        let Ok(mut body) = extended_reply(packet, "") else { return Ok(()) };
        let (Ok(_packet), Ok(read), Ok(write)) = (body.try_get_u64(), body.try_get_u64(), body.try_get_u64()) else {
            return Ok(());
        };
        for limit in [read, write] {
            // Zero means no limit.
            if let Ok(limit) = u32::try_from(limit) {
                if limit > 0 {
                    self.config.chunk_size = self.config.chunk_size.min(limit.max(MIN_CHUNK));
                }
            }
        }
        Ok(())
    }

    /// The handle of an OPEN or OPENDIR reply, in a guard that closes it.
    fn guard<'a>(&'a self, packet: Bytes, path: &'a str) -> Result<OpenHandle<'a>, Error> {
        if packet.first() == Some(&wire::FXP_STATUS) {
            return Err(failure(wire::decode_status(packet)?, path));
        }
        let handle = wire::decode_handle(packet)?;
        Ok(OpenHandle { session: self, handle, path, closed: false })
    }
}

/// An open handle that is closed without waiting if the transfer is dropped
/// (FTP ABOR) or fails, and with waiting when it ends well.
pub(crate) struct OpenHandle<'a> {
    session: &'a SftpSession,
    pub(crate) handle: Bytes,
    path: &'a str,
    closed: bool,
}

impl OpenHandle<'_> {
    pub(crate) async fn close(mut self) -> Result<(), Error> {
        self.closed = true;
        self.session.close(&self.handle, self.path).await
    }
}

impl Drop for OpenHandle<'_> {
    fn drop(&mut self) {
        if !self.closed {
            self.session.close_later(&self.handle);
        }
    }
}

/// The requests that keep `asked`'s bytes in flight with a lowered `chunk`.
pub(crate) fn requests_for(asked: Config, chunk: u32) -> usize {
    let chunk = usize::try_from(chunk.max(1)).unwrap_or(usize::MAX);
    let asked_chunk = usize::try_from(asked.chunk_size).unwrap_or(usize::MAX);
    let wanted = asked.requests_in_flight.saturating_mul(asked_chunk).div_ceil(chunk);
    wanted.clamp(asked.requests_in_flight, asked.requests_in_flight.max(DEFAULT_REQUESTS))
}

fn put_string(out: &mut BytesMut, bytes: &[u8]) {
    out.put_u32(u32::try_from(bytes.len()).unwrap_or(u32::MAX));
    out.put_slice(bytes);
}

/// A non-OK status as an error; OK where a value was due is a protocol error.
fn failure(status: wire::Status, path: &str) -> Error {
    if status.code == code::OK {
        return Error::Protocol("status ok where a value was due".to_owned());
    }
    Error::from_status(status, path)
}

/// Expects an OK status.
pub(crate) fn status_reply(packet: Bytes, path: &str) -> Result<(), Error> {
    let status = wire::decode_status(packet)?;
    if status.code == code::OK {
        return Ok(());
    }
    Err(Error::from_status(status, path))
}

fn parse(packet: Bytes) -> Result<Packet, Error> {
    let mut packet = packet;
    Packet::try_from(&mut packet).map_err(|error| Error::Protocol(error.to_string()))
}

fn attrs_reply(packet: Bytes, path: &str) -> Result<Metadata, Error> {
    if packet.first() == Some(&wire::FXP_STATUS) {
        return Err(failure(wire::decode_status(packet)?, path));
    }
    match parse(packet)? {
        Packet::Attrs(attrs) => Ok(Metadata::from(&attrs.attrs)),
        other => Err(Error::Protocol(format!("attrs expected, got {other:?}"))),
    }
}

/// A NAME reply, or `None` at the end of a listing (status EOF).
fn name_reply(packet: Bytes, path: &str) -> Result<Option<Name>, Error> {
    if packet.first() == Some(&wire::FXP_STATUS) {
        let status = wire::decode_status(packet)?;
        return if status.code == code::EOF { Ok(None) } else { Err(failure(status, path)) };
    }
    match parse(packet)? {
        Packet::Name(name) => Ok(Some(name)),
        other => Err(Error::Protocol(format!("name expected, got {other:?}"))),
    }
}

/// A READLINK reply: a NAME with one entry, the target.
fn link_reply(packet: Bytes, path: &str) -> Result<String, Error> {
    match name_reply(packet, path)? {
        Some(name) => name
            .files
            .into_iter()
            .next()
            .map(|file| file.filename)
            .ok_or_else(|| Error::Protocol("empty readlink reply".to_owned())),
        None => Err(Error::NoSuchFile { path: path.to_owned() }),
    }
}

/// The data of SSH_FXP_EXTENDED_REPLY, after its id.
fn extended_reply(mut packet: Bytes, path: &str) -> Result<Bytes, Error> {
    match packet.first() {
        Some(&wire::FXP_STATUS) => Err(failure(wire::decode_status(packet)?, path)),
        Some(&FXP_EXTENDED_REPLY) => {
            packet.advance(5.min(packet.len()));
            Ok(packet)
        }
        _ => Err(Error::Protocol("extended reply expected".to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lowered_chunk_keeps_the_bytes_in_flight_up_to_openssh_window() {
        const KIB: u32 = 1024;
        for (requests, chunk, lowered, want) in [
            // Not lowered: as asked.
            (64, 32 * KIB, 32 * KIB, 64),
            (5, 1000, 1000, 5),
            // 16 × 255 KiB at 32 KiB would be 128: capped at 64.
            (16, 255 * KIB, 32 * KIB, 64),
            (4, 64 * KIB, 32 * KIB, 8),
            // Rounded up: 3 × 100 KiB in 64 KiB chunks.
            (3, 100 * KIB, 64 * KIB, 5),
            // A caller's own large window is kept.
            (100, 32 * KIB, 512, 100),
            (1, 32 * KIB, 32 * KIB, 1),
        ] {
            let asked = Config { requests_in_flight: requests, chunk_size: chunk };
            assert_eq!(requests_for(asked, lowered), want, "{asked:?} lowered to {lowered}");
        }
    }
}
