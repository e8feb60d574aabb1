//! FTP client commands, as far as forwarding cares: the ones that open
//! data channels (RFC 959 PORT/PASV, RFC 2428 EPRT/EPSV, RFC 1639
//! LPRT/LPSV), AUTH (RFC 4217), and everything else as opaque.

use std::net::{IpAddr, SocketAddr, SocketAddrV4};

use crate::numbers::{self, FieldError};

/// A control line from the FTP client, typed where forwarding cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `PORT h1,h2,h3,h4,p1,p2`: the server should connect to this address.
    Port(SocketAddrV4),
    /// `EPRT |af|address|port|`.
    Eprt(SocketAddr),
    /// `PASV`.
    Pasv,
    /// `EPSV`, `EPSV ALL` or `EPSV <protocol>`.
    Epsv(EpsvArgument),
    /// `LPRT` or `LPSV` (RFC 1639), which sshfwd does not forward.
    LongAddress,
    /// `AUTH <mechanism>`, with the mechanism as sent.
    Auth(String),
    /// Anything else, passed on untouched.
    Other,
}

/// The argument of EPSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpsvArgument {
    /// No argument: any protocol.
    None,
    /// `EPSV ALL`: from now on only EPSV may open data channels.
    All,
    /// A network protocol number (1 IPv4, 2 IPv6).
    Protocol(u8),
}

/// A data-channel command whose argument could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// PORT's argument is not a host-port.
    #[error("bad PORT argument: {0}")]
    Port(FieldError),
    /// EPRT's argument is malformed.
    #[error("bad EPRT argument: {0}")]
    Eprt(&'static str),
    /// EPSV's argument is neither ALL nor a protocol number.
    #[error("bad EPSV argument")]
    Epsv,
}

impl Command {
    /// Types one control line (terminator included or not).
    pub fn parse(line: &[u8]) -> Result<Self, CommandError> {
        let line = trim_line_end(line);
        let (verb, argument) = match line.iter().position(|&b| b == b' ') {
            Some(space) => (line.get(..space).unwrap_or_default(), line.get(space + 1..).unwrap_or_default()),
            None => (line, &b""[..]),
        };
        let verb = verb.to_ascii_uppercase();
        match verb.as_slice() {
            b"PORT" => numbers::host_port(argument.trim_ascii()).map(Command::Port).map_err(CommandError::Port),
            b"EPRT" => parse_eprt(argument.trim_ascii()).map(Command::Eprt),
            b"PASV" => Ok(Command::Pasv),
            b"EPSV" => parse_epsv(argument.trim_ascii()).map(Command::Epsv),
            b"LPRT" | b"LPSV" => Ok(Command::LongAddress),
            b"AUTH" => Ok(Command::Auth(String::from_utf8_lossy(argument.trim_ascii()).into_owned())),
            _ => Ok(Command::Other),
        }
    }
}

/// The line without its CRLF or LF.
pub fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// `<d>af<d>address<d>port<d>` where `d` is any printable ASCII character
/// (RFC 2428 §2).
fn parse_eprt(argument: &[u8]) -> Result<SocketAddr, CommandError> {
    let (&delimiter, rest) = argument.split_first().ok_or(CommandError::Eprt("empty argument"))?;
    if !(33..=126).contains(&delimiter) || delimiter.is_ascii_digit() {
        return Err(CommandError::Eprt("delimiter must be a printable non-digit character"));
    }
    let fields: Vec<&[u8]> = rest.split(|&b| b == delimiter).collect();
    let [family, address, port, last] = fields.as_slice() else {
        return Err(CommandError::Eprt("expected |family|address|port|"));
    };
    if !last.is_empty() {
        return Err(CommandError::Eprt("text after the closing delimiter"));
    }
    let address = std::str::from_utf8(address).map_err(|_| CommandError::Eprt("address is not text"))?;
    let ip: IpAddr = match *family {
        b"1" => IpAddr::V4(address.parse().map_err(|_| CommandError::Eprt("not an IPv4 address"))?),
        b"2" => IpAddr::V6(address.parse().map_err(|_| CommandError::Eprt("not an IPv6 address"))?),
        _ => return Err(CommandError::Eprt("address family must be 1 or 2")),
    };
    let port = numbers::port(port).map_err(|_| CommandError::Eprt("port must be 1-65535"))?;
    Ok(SocketAddr::new(ip, port))
}

fn parse_epsv(argument: &[u8]) -> Result<EpsvArgument, CommandError> {
    if argument.is_empty() {
        return Ok(EpsvArgument::None);
    }
    if argument.eq_ignore_ascii_case(b"ALL") {
        return Ok(EpsvArgument::All);
    }
    match numbers::decimal(argument) {
        Ok(n) => u8::try_from(n).map(EpsvArgument::Protocol).map_err(|_| CommandError::Epsv),
        Err(_) => Err(CommandError::Epsv),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Command, CommandError> {
        Command::parse(s.as_bytes())
    }

    #[test]
    fn command_table() {
        let v4 = |a: [u8; 4], p| SocketAddrV4::new(a.into(), p);
        assert_eq!(parse("PORT 127,0,0,1,4,1\r\n"), Ok(Command::Port(v4([127, 0, 0, 1], 1025))));
        assert_eq!(parse("port 10,0,0,2,200,10\n"), Ok(Command::Port(v4([10, 0, 0, 2], 51210))));
        assert_eq!(parse("PORT  127,0,0,1,4,1 \r\n"), Ok(Command::Port(v4([127, 0, 0, 1], 1025))));
        assert_eq!(parse("EPRT |1|132.235.1.2|6275|\r\n"), Ok(Command::Eprt("132.235.1.2:6275".parse().unwrap())));
        assert_eq!(
            parse("EPRT |2|1080::8:800:200C:417A|5282|\r\n"),
            Ok(Command::Eprt("[1080::8:800:200C:417A]:5282".parse().unwrap()))
        );
        assert_eq!(parse("eprt !1!127.0.0.1!2000!"), Ok(Command::Eprt("127.0.0.1:2000".parse().unwrap())));
        assert_eq!(parse("PASV\r\n"), Ok(Command::Pasv));
        assert_eq!(parse("EPSV\r\n"), Ok(Command::Epsv(EpsvArgument::None)));
        assert_eq!(parse("EPSV ALL\r\n"), Ok(Command::Epsv(EpsvArgument::All)));
        assert_eq!(parse("EPSV 2\r\n"), Ok(Command::Epsv(EpsvArgument::Protocol(2))));
        assert_eq!(parse("LPRT 4,4,127,0,0,1,2,4,1\r\n"), Ok(Command::LongAddress));
        assert_eq!(parse("AUTH TLS\r\n"), Ok(Command::Auth("TLS".into())));
        assert_eq!(parse("RETR PORT 1,2,3,4,5,6\r\n"), Ok(Command::Other));
        assert_eq!(parse("PORTX 1\r\n"), Ok(Command::Other));
        assert_eq!(parse(""), Ok(Command::Other));
        assert_eq!(parse("\u{ff}\r\n"), Ok(Command::Other));
    }

    #[test]
    fn malformed_data_commands_are_errors() {
        for bad in [
            "PORT 256,0,0,1,4,1",
            "PORT 1,2,3,4,0,0",
            "PORT 1,2,3,4,5",
            "PORT",
            "EPRT |3|1.2.3.4|5|",
            "EPRT |1|1.2.3.4|0|",
            "EPRT |1|1.2.3.4|65536|",
            "EPRT |1|::1|2000|",
            "EPRT |2|1.2.3.4|2000|",
            "EPRT |1|1.2.3.4|2000",
            "EPRT |1|1.2.3.4|2000|x",
            "EPRT 1|1.2.3.4|2000|",
            "EPRT",
            "EPSV 999",
            "EPSV BOGUS",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
