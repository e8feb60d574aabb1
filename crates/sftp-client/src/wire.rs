//! The packets this crate encodes and decodes by hand, with no I/O.
//!
//! russh-sftp serialises the rest (paths, attributes, names). These are by
//! hand because russh-sftp would copy every data chunk into a `Vec`, reads
//! handles as lossy UTF-8 (OpenSSH's handles are four binary bytes, so a
//! handle above 127 would be mangled), and cannot parse status codes above 8.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// The SFTP version this client speaks (draft-ietf-secsh-filexfer-02).
pub(crate) const VERSION: u32 = 3;

pub(crate) const FXP_INIT: u8 = 1;
pub(crate) const FXP_VERSION: u8 = 2;
pub(crate) const FXP_CLOSE: u8 = 4;
pub(crate) const FXP_READ: u8 = 5;
pub(crate) const FXP_WRITE: u8 = 6;
pub(crate) const FXP_FSTAT: u8 = 8;
pub(crate) const FXP_READDIR: u8 = 12;
pub(crate) const FXP_STATUS: u8 = 101;
pub(crate) const FXP_HANDLE: u8 = 102;
pub(crate) const FXP_DATA: u8 = 103;

/// Status codes of SSH_FXP_STATUS: v3's, and the two of later drafts that
/// some servers send for a full disk.
pub(crate) mod code {
    pub(crate) const OK: u32 = 0;
    pub(crate) const EOF: u32 = 1;
    pub(crate) const NO_SUCH_FILE: u32 = 2;
    pub(crate) const PERMISSION_DENIED: u32 = 3;
    pub(crate) const OP_UNSUPPORTED: u32 = 8;
    pub(crate) const NO_SPACE_ON_FILESYSTEM: u32 = 14;
    pub(crate) const QUOTA_EXCEEDED: u32 = 15;
}

/// Bytes in front of a packet's body: the length and the type.
const FRAME_HEAD: usize = 5;

/// A packet that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The packet ended before a field it must have.
    #[error("truncated packet")]
    Truncated,
    /// The packet's type is not the one the request expects.
    #[error("unexpected packet type {0}")]
    UnexpectedType(u8),
}

/// An SSH_FXP_STATUS reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The status code, kept as a number so unknown codes survive.
    pub code: u32,
    /// The server's message, lossy UTF-8.
    pub message: String,
}

/// The request id of a reply packet (type byte first, no length prefix).
pub(crate) fn reply_id(packet: &[u8]) -> Option<u32> {
    let id = packet.get(1..5)?;
    Some(u32::from_be_bytes(id.try_into().ok()?))
}

/// The INIT packet, framed.
pub(crate) fn encode_init() -> Bytes {
    let mut out = BytesMut::with_capacity(9);
    out.put_u32(5);
    out.put_u8(FXP_INIT);
    out.put_u32(VERSION);
    out.freeze()
}

/// The frame of a request on an open handle, with `extra` after the handle.
/// `trailing` is the length of a body sent after it (a WRITE's data), which
/// the length prefix covers but this buffer does not hold.
pub(crate) fn encode_handle_request(kind: u8, id: u32, handle: &[u8], extra: &[u8], trailing: usize) -> Bytes {
    let body = 4 + 4 + handle.len() + extra.len() + trailing;
    let mut out = BytesMut::with_capacity(FRAME_HEAD + body - trailing);
    // Lengths here are bounded by the handle (≤ 256 bytes by the protocol) and a chunk (≤ MAX_CHUNK).
    out.put_u32(saturating_u32(1 + body));
    out.put_u8(kind);
    out.put_u32(id);
    out.put_u32(saturating_u32(handle.len()));
    out.put_slice(handle);
    out.put_slice(extra);
    out.freeze()
}

/// A READ request of `len` bytes at `offset`.
pub(crate) fn encode_read(id: u32, handle: &[u8], offset: u64, len: u32) -> Bytes {
    let mut extra = [0u8; 12];
    let (at, size) = extra.split_at_mut(8);
    at.copy_from_slice(&offset.to_be_bytes());
    size.copy_from_slice(&len.to_be_bytes());
    encode_handle_request(FXP_READ, id, handle, &extra, 0)
}

/// The head of a WRITE request of `len` bytes at `offset`; the data follows
/// it on the stream as is.
pub(crate) fn encode_write_head(id: u32, handle: &[u8], offset: u64, len: usize) -> Bytes {
    let mut extra = [0u8; 12];
    let (at, size) = extra.split_at_mut(8);
    at.copy_from_slice(&offset.to_be_bytes());
    size.copy_from_slice(&saturating_u32(len).to_be_bytes());
    encode_handle_request(FXP_WRITE, id, handle, &extra, len)
}

fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Reads an SSH string (u32 length, then bytes) without copying.
fn take_string(body: &mut Bytes) -> Result<Bytes, WireError> {
    let len = body.try_get_u32().map_err(|_| WireError::Truncated)?;
    let len = usize::try_from(len).map_err(|_| WireError::Truncated)?;
    if body.remaining() < len {
        return Err(WireError::Truncated);
    }
    Ok(body.split_to(len))
}

/// Checks the type byte and skips it and the request id.
fn body_of(mut packet: Bytes, kind: u8) -> Result<Bytes, WireError> {
    let found = packet.try_get_u8().map_err(|_| WireError::Truncated)?;
    if found != kind {
        return Err(WireError::UnexpectedType(found));
    }
    packet.try_get_u32().map_err(|_| WireError::Truncated)?;
    Ok(packet)
}

/// Decodes SSH_FXP_STATUS; the message is optional, as some servers omit it.
pub(crate) fn decode_status(packet: Bytes) -> Result<Status, WireError> {
    let mut body = body_of(packet, FXP_STATUS)?;
    let code = body.try_get_u32().map_err(|_| WireError::Truncated)?;
    let message = if body.has_remaining() { take_string(&mut body)? } else { Bytes::new() };
    Ok(Status { code, message: String::from_utf8_lossy(&message).into_owned() })
}

/// Decodes SSH_FXP_DATA; the data shares the packet's buffer.
pub(crate) fn decode_data(packet: Bytes) -> Result<Bytes, WireError> {
    take_string(&mut body_of(packet, FXP_DATA)?)
}

/// Decodes SSH_FXP_HANDLE, keeping the handle's bytes as they are.
pub(crate) fn decode_handle(packet: Bytes) -> Result<Bytes, WireError> {
    take_string(&mut body_of(packet, FXP_HANDLE)?)
}

/// Decodes SSH_FXP_VERSION: the version and the extensions' names and data.
pub(crate) fn decode_version(mut packet: Bytes) -> Result<(u32, Vec<(String, String)>), WireError> {
    let found = packet.try_get_u8().map_err(|_| WireError::Truncated)?;
    if found != FXP_VERSION {
        return Err(WireError::UnexpectedType(found));
    }
    let version = packet.try_get_u32().map_err(|_| WireError::Truncated)?;
    let mut extensions = Vec::new();
    while packet.has_remaining() {
        let name = take_string(&mut packet)?;
        let data = take_string(&mut packet)?;
        extensions.push((String::from_utf8_lossy(&name).into_owned(), String::from_utf8_lossy(&data).into_owned()));
    }
    Ok((version, extensions))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unframe(frame: Bytes) -> Bytes {
        let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
        assert_eq!(len, frame.len() - 4, "length prefix covers the rest");
        frame.slice(4..)
    }

    #[test]
    fn status_table() {
        let cases: &[(&[u8], Result<Status, WireError>)] = &[
            // OpenSSH's form: code, message, language tag.
            (
                b"\x65\0\0\0\x07\0\0\0\x02\0\0\0\x0cNo such file\0\0\0\x02en",
                Ok(Status { code: 2, message: "No such file".into() }),
            ),
            // v3 servers may end after the code (draft-02 has no message).
            (b"\x65\0\0\0\x07\0\0\0\x04", Ok(Status { code: 4, message: String::new() })),
            // Later drafts' NO_SPACE_ON_FILESYSTEM, which russh-sftp cannot parse.
            (b"\x65\0\0\0\x01\0\0\0\x0e\0\0\0\x04full", Ok(Status { code: 14, message: "full".into() })),
            (b"\x65\0\0\0\x07\0\0", Err(WireError::Truncated)),
            (b"\x65\0\0\0\x07\0\0\0\x04\0\0\0\x09short", Err(WireError::Truncated)),
            (b"\x67\0\0\0\x07\0\0\0\x00", Err(WireError::UnexpectedType(FXP_DATA))),
        ];
        for (packet, want) in cases {
            assert_eq!(&decode_status(Bytes::from_static(packet)), want, "{packet:?}");
        }
    }

    #[test]
    fn data_shares_the_packet() {
        let packet = Bytes::from_static(b"\x67\0\0\0\x09\0\0\0\x03abc");
        assert_eq!(reply_id(&packet), Some(9));
        assert_eq!(decode_data(packet).unwrap(), Bytes::from_static(b"abc"));
    }

    #[test]
    fn handle_keeps_binary_bytes() {
        // OpenSSH's handle for slot 200: not UTF-8.
        let packet = Bytes::from_static(b"\x66\0\0\0\x01\0\0\0\x04\0\0\0\xc8");
        assert_eq!(decode_handle(packet).unwrap(), Bytes::from_static(b"\0\0\0\xc8"));
    }

    #[test]
    fn version_with_extensions() {
        let packet = Bytes::from_static(b"\x02\0\0\0\x03\0\0\0\x13statvfs@openssh.com\0\0\0\x012");
        assert_eq!(decode_version(packet).unwrap(), (3, vec![("statvfs@openssh.com".into(), "2".into())]));
    }

    #[test]
    fn read_and_write_frames() {
        let read = unframe(encode_read(7, b"\0\0\0\x01", 1 << 40, 32768));
        assert_eq!(&read[..], b"\x05\0\0\0\x07\0\0\0\x04\0\0\0\x01\0\0\x01\0\0\0\0\0\0\0\x80\0");
        let head = encode_write_head(8, b"h", 5, 3);
        let mut frame = BytesMut::from(&head[..]);
        frame.put_slice(b"xyz");
        assert_eq!(&unframe(frame.freeze())[..], b"\x06\0\0\0\x08\0\0\0\x01h\0\0\0\0\0\0\0\x05\0\0\0\x03xyz");
    }

    proptest! {
        #[test]
        fn decoders_never_panic(packet in proptest::collection::vec(any::<u8>(), 0..64)) {
            let packet = Bytes::from(packet);
            let _ = reply_id(&packet);
            let _ = decode_status(packet.clone());
            let _ = decode_data(packet.clone());
            let _ = decode_handle(packet.clone());
            let _ = decode_version(packet);
        }

        #[test]
        fn data_round_trip(id: u32, data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut packet = BytesMut::new();
            packet.put_u8(FXP_DATA);
            packet.put_u32(id);
            packet.put_u32(data.len() as u32);
            packet.put_slice(&data);
            let packet = packet.freeze();
            prop_assert_eq!(reply_id(&packet), Some(id));
            prop_assert_eq!(&decode_data(packet).unwrap()[..], &data[..]);
        }
    }
}
