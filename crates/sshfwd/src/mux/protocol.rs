//! OpenSSH's multiplexing protocol (PROTOCOL.mux, version 4), sans-IO:
//! the messages sshfwd sends and understands, to and from bytes. Every
//! packet is a `uint32` length, then a `uint32` type and the body.

/// The protocol version both ends say in their hello.
pub const VERSION: u32 = 4;

/// The largest packet either end reads (OpenSSH's own limit).
pub const MAX_PACKET: usize = 256 * 1024;

/// A listen or connect port meaning "the host field is a unix socket path"
/// (OpenSSH's `PORT_STREAMLOCAL`, -2 as a `uint32`).
pub const PORT_STREAMLOCAL: u32 = 0xFFFF_FFFE;

const MSG_HELLO: u32 = 0x0000_0001;
const C_NEW_SESSION: u32 = 0x1000_0002;
const C_ALIVE_CHECK: u32 = 0x1000_0004;
const C_TERMINATE: u32 = 0x1000_0005;
const C_OPEN_FWD: u32 = 0x1000_0006;
const C_CLOSE_FWD: u32 = 0x1000_0007;
const C_NEW_STDIO_FWD: u32 = 0x1000_0008;
const C_STOP_LISTENING: u32 = 0x1000_0009;
const C_PROXY: u32 = 0x1000_000f;
const S_OK: u32 = 0x8000_0001;
const S_PERMISSION_DENIED: u32 = 0x8000_0002;
const S_FAILURE: u32 = 0x8000_0003;
const S_EXIT_MESSAGE: u32 = 0x8000_0004;
const S_ALIVE: u32 = 0x8000_0005;
const S_SESSION_OPENED: u32 = 0x8000_0006;
const S_REMOTE_PORT: u32 = 0x8000_0007;

/// The kinds of forwarding a mux request names (`MUX_FWD_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardType {
    Local,
    Remote,
    Dynamic,
}

impl ForwardType {
    fn code(self) -> u32 {
        match self {
            ForwardType::Local => 1,
            ForwardType::Remote => 2,
            ForwardType::Dynamic => 3,
        }
    }

    fn from_code(code: u32) -> Option<ForwardType> {
        match code {
            1 => Some(ForwardType::Local),
            2 => Some(ForwardType::Remote),
            3 => Some(ForwardType::Dynamic),
            _ => None,
        }
    }
}

/// A forwarding as the protocol carries it: hosts as strings (empty for
/// none), ports as `uint32` ([`PORT_STREAMLOCAL`] for a socket path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireForward {
    pub kind: ForwardType,
    pub listen_host: String,
    pub listen_port: u32,
    pub connect_host: String,
    pub connect_port: u32,
}

/// One message, either direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// `MUX_MSG_HELLO`; extensions are skipped (none are defined).
    Hello {
        version: u32,
    },
    /// `MUX_C_NEW_SESSION` (its flags are `uint32`s on the wire, whatever
    /// PROTOCOL.mux says): what sshfwd reads of it.
    NewSession(NewSession),
    AliveCheck {
        id: u32,
    },
    Terminate {
        id: u32,
    },
    OpenForward {
        id: u32,
        forward: WireForward,
    },
    CloseForward {
        id: u32,
        forward: WireForward,
    },
    /// `MUX_C_NEW_STDIO_FWD` (`ssh -W` through a master); not served.
    NewStdioForward {
        id: u32,
    },
    StopListening {
        id: u32,
    },
    /// `MUX_C_PROXY`; not served.
    Proxy {
        id: u32,
    },
    Ok {
        id: u32,
    },
    PermissionDenied {
        id: u32,
        reason: String,
    },
    Failure {
        id: u32,
        reason: String,
    },
    ExitMessage {
        session: u32,
        status: u32,
    },
    Alive {
        id: u32,
        pid: u32,
    },
    SessionOpened {
        id: u32,
        session: u32,
    },
    RemotePort {
        id: u32,
        port: u32,
    },
    /// A type sshfwd does not know, with the request id that follows the
    /// type in every client request, when there is one.
    Unknown {
        kind: u32,
        id: Option<u32>,
    },
}

/// A shared session asked for; the client's stdin, stdout and stderr
/// follow the packet as descriptors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub id: u32,
    pub want_tty: bool,
    /// The command is a subsystem's name.
    pub subsystem: bool,
    pub command: String,
    /// `NAME=value` pairs (SendEnv, SetEnv).
    pub env: Vec<String>,
}

/// Why a packet could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The length field says more than [`MAX_PACKET`].
    #[error("packet of {0} bytes is too long")]
    TooLong(usize),
    /// The body ended inside a field.
    #[error("truncated packet")]
    Truncated,
    /// A string that is not UTF-8 or holds a NUL.
    #[error("malformed string")]
    BadString,
    /// A forwarding type other than local, remote and dynamic.
    #[error("invalid forwarding type {0}")]
    ForwardType(u32),
}

impl Message {
    /// The packet, length prefix included.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Writer::default();
        match self {
            Message::Hello { version } => body.u32(MSG_HELLO).u32(*version),
            Message::NewSession(session) => {
                body.u32(C_NEW_SESSION).u32(session.id).string("").u32(session.want_tty.into()).u32(0).u32(0);
                body.u32(session.subsystem.into()).u32(0xFFFF_FFFF).string("").string(&session.command);
                for pair in &session.env {
                    body.string(pair);
                }
                &mut body
            }
            Message::AliveCheck { id } => body.u32(C_ALIVE_CHECK).u32(*id),
            Message::Terminate { id } => body.u32(C_TERMINATE).u32(*id),
            Message::OpenForward { id, forward } => body.u32(C_OPEN_FWD).u32(*id).forward(forward),
            Message::CloseForward { id, forward } => body.u32(C_CLOSE_FWD).u32(*id).forward(forward),
            Message::NewStdioForward { id } => body.u32(C_NEW_STDIO_FWD).u32(*id).string("").string("").string(""),
            Message::StopListening { id } => body.u32(C_STOP_LISTENING).u32(*id),
            Message::Proxy { id } => body.u32(C_PROXY).u32(*id),
            Message::Ok { id } => body.u32(S_OK).u32(*id),
            Message::PermissionDenied { id, reason } => body.u32(S_PERMISSION_DENIED).u32(*id).string(reason),
            Message::Failure { id, reason } => body.u32(S_FAILURE).u32(*id).string(reason),
            Message::ExitMessage { session, status } => body.u32(S_EXIT_MESSAGE).u32(*session).u32(*status),
            Message::Alive { id, pid } => body.u32(S_ALIVE).u32(*id).u32(*pid),
            Message::SessionOpened { id, session } => body.u32(S_SESSION_OPENED).u32(*id).u32(*session),
            Message::RemotePort { id, port } => body.u32(S_REMOTE_PORT).u32(*id).u32(*port),
            Message::Unknown { kind, id } => {
                body.u32(*kind);
                if let Some(id) = id {
                    body.u32(*id);
                }
                &mut body
            }
        };
        let mut packet = Vec::with_capacity(body.0.len() + 4);
        packet.extend_from_slice(&(body.0.len() as u32).to_be_bytes());
        packet.extend_from_slice(&body.0);
        packet
    }

    /// The first whole packet of `input` and the bytes it took; `None`
    /// while it is incomplete.
    pub fn decode(input: &[u8]) -> Result<Option<(Message, usize)>, DecodeError> {
        let Some(header) = input.get(..4) else { return Ok(None) };
        let length = body_length(header.try_into().map_err(|_| DecodeError::Truncated)?)?;
        let Some(body) = input.get(4..4 + length) else { return Ok(None) };
        Ok(Some((Message::decode_body(body)?, 4 + length)))
    }

    /// A packet's body (its length field already read).
    pub fn decode_body(body: &[u8]) -> Result<Message, DecodeError> {
        let mut r = Reader(body);
        let kind = r.u32()?;
        Ok(match kind {
            MSG_HELLO => Message::Hello { version: r.u32()? },
            C_NEW_SESSION => {
                let id = r.u32()?;
                let _reserved = r.string()?;
                let want_tty = r.u32()? != 0;
                let (_x11, _agent) = (r.u32()?, r.u32()?);
                let subsystem = r.u32()? != 0;
                let (_escape, _term) = (r.u32()?, r.string()?);
                let command = r.string()?;
                let mut env = Vec::new();
                while !r.0.is_empty() {
                    env.push(r.string()?);
                }
                Message::NewSession(NewSession { id, want_tty, subsystem, command, env })
            }
            C_ALIVE_CHECK => Message::AliveCheck { id: r.u32()? },
            C_TERMINATE => Message::Terminate { id: r.u32()? },
            C_OPEN_FWD => Message::OpenForward { id: r.u32()?, forward: r.forward()? },
            C_CLOSE_FWD => Message::CloseForward { id: r.u32()?, forward: r.forward()? },
            C_NEW_STDIO_FWD => Message::NewStdioForward { id: r.u32()? },
            C_STOP_LISTENING => Message::StopListening { id: r.u32()? },
            C_PROXY => Message::Proxy { id: r.u32()? },
            S_OK => Message::Ok { id: r.u32()? },
            S_PERMISSION_DENIED => Message::PermissionDenied { id: r.u32()?, reason: r.string()? },
            S_FAILURE => Message::Failure { id: r.u32()?, reason: r.string()? },
            S_EXIT_MESSAGE => Message::ExitMessage { session: r.u32()?, status: r.u32()? },
            S_ALIVE => Message::Alive { id: r.u32()?, pid: r.u32()? },
            S_SESSION_OPENED => Message::SessionOpened { id: r.u32()?, session: r.u32()? },
            S_REMOTE_PORT => Message::RemotePort { id: r.u32()?, port: r.u32()? },
            kind => Message::Unknown { kind, id: r.u32().ok() },
        })
    }
}

/// The body length a packet's header announces, within [`MAX_PACKET`].
pub fn body_length(header: [u8; 4]) -> Result<usize, DecodeError> {
    let length = u32::from_be_bytes(header) as usize;
    match length <= MAX_PACKET {
        true => Ok(length),
        false => Err(DecodeError::TooLong(length)),
    }
}

/// SSH wire encoding, builder style.
#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn u32(&mut self, value: u32) -> &mut Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }

    fn string(&mut self, value: &str) -> &mut Self {
        self.u32(value.len() as u32);
        self.0.extend_from_slice(value.as_bytes());
        self
    }

    fn forward(&mut self, forward: &WireForward) -> &mut Self {
        self.u32(forward.kind.code())
            .string(&forward.listen_host)
            .u32(forward.listen_port)
            .string(&forward.connect_host)
            .u32(forward.connect_port)
    }
}

/// SSH wire decoding over a body.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let bytes = self.take(4)?;
        Ok(u32::from_be_bytes(bytes.try_into().map_err(|_| DecodeError::Truncated)?))
    }

    /// A string as OpenSSH's `sshbuf_get_cstring` takes it: no NUL inside.
    fn string(&mut self) -> Result<String, DecodeError> {
        let length = self.u32()? as usize;
        let bytes = self.take(length)?;
        if bytes.contains(&0) {
            return Err(DecodeError::BadString);
        }
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::BadString)
    }

    fn forward(&mut self) -> Result<WireForward, DecodeError> {
        let code = self.u32()?;
        let kind = ForwardType::from_code(code).ok_or(DecodeError::ForwardType(code))?;
        Ok(WireForward {
            kind,
            listen_host: self.string()?,
            listen_port: self.u32()?,
            connect_host: self.string()?,
            connect_port: self.u32()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn forward() -> WireForward {
        WireForward {
            kind: ForwardType::Local,
            listen_host: "127.0.0.1".into(),
            listen_port: 3320,
            connect_host: "localhost".into(),
            connect_port: 22,
        }
    }

    /// Packets as OpenSSH 9.2's mux.c writes them, byte for byte.
    #[test]
    fn known_packets() {
        let table: &[(Message, &[u8])] = &[
            (Message::Hello { version: 4 }, &[0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 4]),
            (Message::AliveCheck { id: 1 }, &[0, 0, 0, 8, 0x10, 0, 0, 4, 0, 0, 0, 1]),
            (Message::Alive { id: 1, pid: 0x1234 }, &[0, 0, 0, 12, 0x80, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0x12, 0x34]),
            (Message::Terminate { id: 2 }, &[0, 0, 0, 8, 0x10, 0, 0, 5, 0, 0, 0, 2]),
            (Message::Ok { id: 2 }, &[0, 0, 0, 8, 0x80, 0, 0, 1, 0, 0, 0, 2]),
            (Message::StopListening { id: 3 }, &[0, 0, 0, 8, 0x10, 0, 0, 9, 0, 0, 0, 3]),
            (
                Message::Failure { id: 3, reason: "no".into() },
                &[0, 0, 0, 14, 0x80, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0, 2, b'n', b'o'],
            ),
            (
                Message::OpenForward {
                    id: 1,
                    forward: WireForward {
                        kind: ForwardType::Dynamic,
                        listen_host: String::new(),
                        listen_port: 1080,
                        connect_host: String::new(),
                        connect_port: 0,
                    },
                },
                &[
                    0, 0, 0, 28, 0x10, 0, 0, 6, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 4, 0x38, 0, 0, 0, 0, 0, 0, 0,
                    0,
                ],
            ),
        ];
        for (message, bytes) in table {
            assert_eq!(message.encode(), *bytes, "{message:?}");
            assert_eq!(Message::decode(bytes), Ok(Some((message.clone(), bytes.len()))), "{message:?}");
        }
    }

    #[test]
    fn a_hello_with_extensions_reads_as_its_version() {
        let mut packet = Message::Hello { version: 4 }.encode();
        packet.extend_from_slice(&[0, 0, 0, 1, b'x', 0, 0, 0, 1, b'y']);
        let length = (packet.len() - 4) as u32;
        packet.splice(..4, length.to_be_bytes());
        assert_eq!(Message::decode(&packet), Ok(Some((Message::Hello { version: 4 }, packet.len()))));
    }

    #[test]
    fn bad_packets_are_errors_not_panics() {
        type Decoded = Result<Option<(Message, usize)>, DecodeError>;
        let table: &[(&[u8], Decoded)] = &[
            (&[0, 0], Ok(None)),
            (&[0, 0, 0, 8, 0x10, 0, 0], Ok(None)),
            (&[0, 4, 0, 1], Err(DecodeError::TooLong(0x40001))),
            (&[0, 0, 0, 6, 0x10, 0, 0, 4, 0, 0], Err(DecodeError::Truncated)),
            (&[0, 0, 0, 13, 0x80, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0, 1, 0], Err(DecodeError::BadString)),
            (
                &[0, 0, 0, 28, 0x10, 0, 0, 6, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1],
                Err(DecodeError::ForwardType(9)),
            ),
            (
                &[0, 0, 0, 8, 0x10, 0, 0, 0x42, 0, 0, 0, 7],
                Ok(Some((Message::Unknown { kind: 0x1000_0042, id: Some(7) }, 12))),
            ),
        ];
        for (bytes, want) in table {
            assert_eq!(&Message::decode(bytes), want, "{bytes:?}");
        }
    }

    /// As OpenSSH 9.2's `mux_client_request_session` writes it.
    #[test]
    fn new_session_from_openssh_reads_its_command_and_environment() {
        let mut body = Writer::default();
        body.u32(C_NEW_SESSION).u32(5).string("").u32(0).u32(0).u32(1).u32(0);
        body.u32(0x7e).string("xterm").string("echo hi").string("LANG=C").string("_XXX_TEST=blah");
        let want = NewSession {
            id: 5,
            want_tty: false,
            subsystem: false,
            command: "echo hi".into(),
            env: vec!["LANG=C".into(), "_XXX_TEST=blah".into()],
        };
        assert_eq!(Message::decode_body(&body.0), Ok(Message::NewSession(want)));
    }

    fn message() -> impl Strategy<Value = Message> {
        let text = "[a-z0-9:/.*]{0,20}";
        let wire = (0..3u32, text, any::<u32>(), text, any::<u32>()).prop_map(|(kind, lh, lp, ch, cp)| WireForward {
            kind: ForwardType::from_code(kind + 1).unwrap_or(ForwardType::Local),
            listen_host: lh,
            listen_port: lp,
            connect_host: ch,
            connect_port: cp,
        });
        prop_oneof![
            any::<u32>().prop_map(|version| Message::Hello { version }),
            any::<u32>().prop_map(|id| Message::AliveCheck { id }),
            (any::<u32>(), any::<u32>()).prop_map(|(id, pid)| Message::Alive { id, pid }),
            (any::<u32>(), any::<bool>(), text, proptest::collection::vec(text, 0..3)).prop_map(
                |(id, subsystem, command, env)| Message::NewSession(NewSession {
                    id,
                    want_tty: false,
                    subsystem,
                    command,
                    env
                })
            ),
            (any::<u32>(), wire.clone()).prop_map(|(id, forward)| Message::OpenForward { id, forward }),
            (any::<u32>(), wire).prop_map(|(id, forward)| Message::CloseForward { id, forward }),
            (any::<u32>(), text).prop_map(|(id, reason)| Message::Failure { id, reason }),
            (any::<u32>(), any::<u32>()).prop_map(|(session, status)| Message::ExitMessage { session, status }),
            (any::<u32>(), any::<u32>()).prop_map(|(id, port)| Message::RemotePort { id, port }),
        ]
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(message in message(), tail in proptest::collection::vec(any::<u8>(), 0..8)) {
            let mut bytes = message.encode();
            let length = bytes.len();
            bytes.extend_from_slice(&tail);
            prop_assert_eq!(Message::decode(&bytes), Ok(Some((message, length))));
        }

        #[test]
        fn any_bytes_decode_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Message::decode(&bytes);
        }
    }

    #[test]
    fn forward_fixture_round_trips() {
        let message = Message::CloseForward { id: 9, forward: forward() };
        let bytes = message.encode();
        assert_eq!(Message::decode(&bytes), Ok(Some((message, bytes.len()))));
    }
}
