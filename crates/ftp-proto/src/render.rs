//! The lines sshfwd writes in place of the ones it rewrites.

use std::net::{SocketAddr, SocketAddrV4};

use crate::numbers::format_host_port;

/// Which command announced an active-mode data address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveKind {
    Port,
    Eprt,
}

/// Which reply announced a passive-mode data address, and whether it was
/// a continuation line of a multi-line reply (`227-`), whose replacement
/// must not end the reply early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassiveKind {
    pub mode: PassiveMode,
    pub continued: bool,
}

/// PASV's 227 or EPSV's 229.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassiveMode {
    Pasv,
    Epsv,
}

/// `PORT h1,h2,h3,h4,p1,p2\r\n`.
pub fn port_command(address: SocketAddrV4) -> Vec<u8> {
    format!("PORT {}\r\n", format_host_port(address)).into_bytes()
}

/// `EPRT |1|a.b.c.d|port|\r\n` or `EPRT |2|v6|port|\r\n`.
pub fn eprt_command(address: SocketAddr) -> Vec<u8> {
    let family = if address.is_ipv4() { 1 } else { 2 };
    format!("EPRT |{family}|{}|{}|\r\n", address.ip(), address.port()).into_bytes()
}

/// The command announcing `address` to the FTP server, whichever command
/// the client sent (`_kind`): an IPv4 address goes in PORT, which every
/// server knows (RFC 959 makes it mandatory; some servers, libunftp among
/// them, lack EPRT), an IPv6 address in EPRT, the only command that can
/// carry it.
pub fn active_command(_kind: ActiveKind, address: SocketAddr) -> Vec<u8> {
    match address {
        SocketAddr::V4(v4) => port_command(v4),
        SocketAddr::V6(_) => eprt_command(address),
    }
}

/// The reply announcing `address` to the FTP client. A 227 reply cannot
/// carry an IPv6 address: the client is told to use EPSV instead.
pub fn passive_reply(kind: PassiveKind, address: SocketAddr) -> Vec<u8> {
    let separator = if kind.continued { '-' } else { ' ' };
    match (kind.mode, address) {
        (PassiveMode::Pasv, SocketAddr::V4(v4)) => {
            format!("227{separator}Entering Passive Mode ({}).\r\n", format_host_port(v4)).into_bytes()
        }
        (PassiveMode::Pasv, SocketAddr::V6(_)) => {
            b"425 sshfwd: PASV cannot carry this IPv6 data address; use EPSV\r\n".to_vec()
        }
        (PassiveMode::Epsv, _) => {
            format!("229{separator}Entering Extended Passive Mode (|||{}|)\r\n", address.port()).into_bytes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;
    use crate::reply::{parse_epsv_reply, parse_pasv_reply};
    use proptest::prelude::*;

    #[test]
    fn rendered_forms() {
        let a: SocketAddr = "127.0.0.1:1025".parse().unwrap();
        let v6: SocketAddr = "[::1]:2000".parse().unwrap();
        assert_eq!(active_command(ActiveKind::Port, a), b"PORT 127,0,0,1,4,1\r\n");
        assert_eq!(active_command(ActiveKind::Eprt, a), b"PORT 127,0,0,1,4,1\r\n");
        assert_eq!(eprt_command(a), b"EPRT |1|127.0.0.1|1025|\r\n");
        assert_eq!(active_command(ActiveKind::Port, v6), b"EPRT |2|::1|2000|\r\n");
        let pasv = PassiveKind { mode: PassiveMode::Pasv, continued: false };
        let epsv = PassiveKind { mode: PassiveMode::Epsv, continued: false };
        assert_eq!(passive_reply(pasv, a), b"227 Entering Passive Mode (127,0,0,1,4,1).\r\n");
        assert_eq!(
            passive_reply(PassiveKind { continued: true, ..pasv }, a),
            b"227-Entering Passive Mode (127,0,0,1,4,1).\r\n"
        );
        assert_eq!(passive_reply(epsv, v6), b"229 Entering Extended Passive Mode (|||2000|)\r\n");
        assert!(passive_reply(pasv, v6).starts_with(b"425 "));
    }

    fn port_number() -> impl Strategy<Value = u16> {
        1u16..=u16::MAX
    }

    proptest! {
        #[test]
        fn port_round_trip(ip in any::<[u8; 4]>(), port in port_number()) {
            let address = SocketAddrV4::new(ip.into(), port);
            prop_assert_eq!(Command::parse(&port_command(address)), Ok(Command::Port(address)));
        }

        #[test]
        fn eprt_round_trip(v4 in any::<[u8; 4]>(), v6 in any::<[u16; 8]>(), port in port_number(), six in any::<bool>()) {
            let ip: std::net::IpAddr = if six { v6.into() } else { v4.into() };
            let address = SocketAddr::new(ip, port);
            prop_assert_eq!(Command::parse(&eprt_command(address)), Ok(Command::Eprt(address)));
        }

        #[test]
        fn pasv_reply_round_trip(ip in any::<[u8; 4]>(), port in port_number()) {
            let address = SocketAddrV4::new(ip.into(), port);
            let line = passive_reply(PassiveKind { mode: PassiveMode::Pasv, continued: false }, address.into());
            prop_assert_eq!(parse_pasv_reply(&line), Ok(address));
        }

        #[test]
        fn epsv_reply_round_trip(port in port_number()) {
            let line = passive_reply(PassiveKind { mode: PassiveMode::Epsv, continued: false }, SocketAddr::new([127, 0, 0, 1].into(), port));
            prop_assert_eq!(parse_epsv_reply(&line), Ok(port));
        }

        #[test]
        fn parsers_never_panic(line in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Command::parse(&line);
            let _ = parse_pasv_reply(&line);
            let _ = parse_epsv_reply(&line);
            let mut with_code = b"227 ".to_vec();
            with_code.extend(&line);
            let _ = parse_pasv_reply(&with_code);
            with_code[2] = b'9';
            let _ = parse_epsv_reply(&with_code);
        }
    }
}
