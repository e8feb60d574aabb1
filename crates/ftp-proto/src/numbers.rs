//! The number and address pieces shared by commands and replies.

use std::net::{Ipv4Addr, SocketAddrV4};

/// Why a host-port or port field was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// Not six comma-separated decimal numbers.
    #[error("expected six comma-separated numbers h1,h2,h3,h4,p1,p2")]
    NotSixNumbers,
    /// A field of the six was above 255.
    #[error("number {0} is above 255")]
    AboveByte(u64),
    /// The port was 0 or above 65535.
    #[error("port {0} is out of range")]
    PortOutOfRange(u64),
    /// The text is not a number at all.
    #[error("not a decimal number")]
    NotANumber,
}

/// A decimal number of at most 10 digits (more cannot be a valid field and
/// would overflow).
pub fn decimal(text: &[u8]) -> Result<u64, FieldError> {
    if text.is_empty() || text.len() > 10 || !text.iter().all(u8::is_ascii_digit) {
        return Err(FieldError::NotANumber);
    }
    Ok(text.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// A TCP port for a data connection: 1–65535.
pub fn port(text: &[u8]) -> Result<u16, FieldError> {
    let n = decimal(text)?;
    match u16::try_from(n) {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(FieldError::PortOutOfRange(n)),
    }
}

/// `h1,h2,h3,h4,p1,p2` (RFC 959's host-port), spaces around fields allowed.
pub fn host_port(text: &[u8]) -> Result<SocketAddrV4, FieldError> {
    let mut fields = [0u8; 6];
    let mut count = 0;
    for field in text.split(|&b| b == b',') {
        let slot = fields.get_mut(count).ok_or(FieldError::NotSixNumbers)?;
        let n = decimal(field.trim_ascii()).map_err(|_| FieldError::NotSixNumbers)?;
        *slot = u8::try_from(n).map_err(|_| FieldError::AboveByte(n))?;
        count += 1;
    }
    if count != 6 {
        return Err(FieldError::NotSixNumbers);
    }
    let [a, b, c, d, p1, p2] = fields;
    let port = u16::from(p1) << 8 | u16::from(p2);
    if port == 0 {
        return Err(FieldError::PortOutOfRange(0));
    }
    Ok(SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), port))
}

/// The six numbers of `address` as RFC 959 writes them.
pub fn format_host_port(address: SocketAddrV4) -> String {
    let [a, b, c, d] = address.ip().octets();
    let [p1, p2] = address.port().to_be_bytes();
    format!("{a},{b},{c},{d},{p1},{p2}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_table() {
        let ok = |s: &str, a: [u8; 4], p: u16| {
            assert_eq!(host_port(s.as_bytes()), Ok(SocketAddrV4::new(a.into(), p)), "{s}")
        };
        ok("127,0,0,1,144,235", [127, 0, 0, 1], 37099);
        ok("10, 0, 0, 5, 4, 1", [10, 0, 0, 5], 1025);
        ok("010,000,000,001,000,021", [10, 0, 0, 1], 21);
        let bad = |s: &str, e: FieldError| assert_eq!(host_port(s.as_bytes()), Err(e), "{s}");
        bad("256,0,0,1,4,1", FieldError::AboveByte(256));
        bad("1,2,3,4,5,999", FieldError::AboveByte(999));
        bad("1,2,3,4,0,0", FieldError::PortOutOfRange(0));
        bad("1,2,3,4,5", FieldError::NotSixNumbers);
        bad("1,2,3,4,5,6,7", FieldError::NotSixNumbers);
        bad("1,2,3,4,5,", FieldError::NotSixNumbers);
        bad("1,-2,3,4,5,6", FieldError::NotSixNumbers);
        bad("", FieldError::NotSixNumbers);
        bad("99999999999999999999,0,0,0,0,1", FieldError::NotSixNumbers);
    }

    #[test]
    fn port_table() {
        assert_eq!(port(b"21"), Ok(21));
        assert_eq!(port(b"65535"), Ok(65535));
        assert_eq!(port(b"0"), Err(FieldError::PortOutOfRange(0)));
        assert_eq!(port(b"65536"), Err(FieldError::PortOutOfRange(65536)));
        assert_eq!(port(b"+1"), Err(FieldError::NotANumber));
        assert_eq!(port(b""), Err(FieldError::NotANumber));
    }
}
