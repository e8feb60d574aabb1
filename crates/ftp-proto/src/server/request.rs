//! The bridge's FTP commands, typed: each verb with its parsed argument, or
//! the reply that refuses the line (502 for what is not implemented, 501
//! for a bad argument, 504 for a parameter that is not supported).

use std::fmt;
use std::net::{SocketAddr, SocketAddrV4};

use super::telnet;
use crate::command::{trim_line_end, Command, CommandError, EpsvArgument};

/// One command line from an FTP client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `USER name`.
    User(String),
    /// `PASS password` (the password may be empty).
    Pass(Password),
    /// `SYST`.
    Syst,
    /// `FEAT` (RFC 2389).
    Feat,
    /// `OPTS UTF8 ON|OFF` (RFC 2640); the bridge always speaks UTF-8.
    OptsUtf8(bool),
    /// `OPTS MLST facts` (RFC 3659 §7.9).
    OptsMlst,
    /// `NOOP`.
    Noop,
    /// `QUIT`.
    Quit,
    /// `PWD` or `XPWD`.
    Pwd,
    /// `CWD path` or `XCWD path`.
    Cwd(String),
    /// `CDUP` or `XCUP`.
    Cdup,
    /// `MKD path` or `XMKD path`.
    Mkd(String),
    /// `RMD path` or `XRMD path`.
    Rmd(String),
    /// `LIST [options] [path]`.
    List(Option<String>),
    /// `NLST [options] [path]`.
    Nlst(Option<String>),
    /// `MLSD [path]` (RFC 3659).
    Mlsd(Option<String>),
    /// `MLST [path]` (RFC 3659).
    Mlst(Option<String>),
    /// `RETR path`.
    Retr(String),
    /// `REST offset` (RFC 3659 §5, stream mode).
    Rest(u64),
    /// `STOR path`.
    Stor(String),
    /// `APPE path`.
    Appe(String),
    /// `ABOR`.
    Abor,
    /// `DELE path`.
    Dele(String),
    /// `RNFR path`.
    Rnfr(String),
    /// `RNTO path`.
    Rnto(String),
    /// `SIZE path` (RFC 3659 §4).
    Size(String),
    /// `MDTM path` (RFC 3659 §3).
    Mdtm(String),
    /// `SITE CHMOD mode path`.
    SiteChmod { mode: u32, path: String },
    /// `TYPE A`, `TYPE A N`, `TYPE I` or `TYPE L 8`.
    Type(TransferType),
    /// `MODE S`: stream mode, the only one supported.
    ModeStream,
    /// `STRU F`: file structure, the only one supported.
    StruFile,
    /// `PASV`.
    Pasv,
    /// `EPSV`, `EPSV ALL` or `EPSV <protocol>` (RFC 2428).
    Epsv(EpsvArgument),
    /// `PORT h1,h2,h3,h4,p1,p2`.
    Port(SocketAddrV4),
    /// `EPRT |af|address|port|` (RFC 2428).
    Eprt(SocketAddr),
}

/// How file contents cross the data connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransferType {
    /// `TYPE A`: text, with CRLF line ends on the wire.
    Ascii,
    /// `TYPE I` or `TYPE L 8`: bytes as they are.
    #[default]
    Image,
}

/// A password from `PASS`. It is never shown: `Debug` prints a placeholder
/// and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(password: String) -> Self {
        Self(password)
    }

    /// The secret itself, for the one place that checks it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Why a command line was refused; each variant maps to one reply code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// A verb the bridge does not implement (502).
    #[error("{0} not implemented")]
    NotImplemented(String),
    /// The verb needs an argument and got none (501).
    #[error("{0} needs an argument")]
    MissingArgument(String),
    /// The verb takes no argument and got one (501).
    #[error("{0} takes no argument")]
    UnexpectedArgument(String),
    /// The argument is malformed (501).
    #[error("bad argument: {0}")]
    BadArgument(String),
    /// The argument is well formed but names something not supported (504).
    #[error("{0} not supported")]
    Unsupported(String),
}

impl RequestError {
    /// The reply code RFC 959 gives this refusal.
    pub fn code(&self) -> u16 {
        match self {
            RequestError::NotImplemented(_) => 502,
            RequestError::MissingArgument(_) | RequestError::UnexpectedArgument(_) | RequestError::BadArgument(_) => {
                501
            }
            RequestError::Unsupported(_) => 504,
        }
    }
}

impl Request {
    /// Types one control line (terminator included or not).
    pub fn parse(line: &[u8]) -> Result<Self, RequestError> {
        let line = telnet::strip(line);
        let line = trim_line_end(&line);
        let (verb, argument) = match line.iter().position(|&b| b == b' ') {
            Some(space) => (line.get(..space).unwrap_or_default(), line.get(space + 1..)),
            None => (line, None),
        };
        let raw_argument = argument;
        // An argument of only spaces is no argument (`CWD ` from some clients).
        let argument = argument.filter(|a| !a.trim_ascii().is_empty());
        let verb = String::from_utf8_lossy(verb).to_ascii_uppercase();
        let args = Args { verb: &verb, argument };
        match verb.as_str() {
            "USER" => Ok(Request::User(args.text()?.trim().to_owned())),
            // A password is taken as sent, spaces and all; an empty one is a
            // password too (anonymous-style clients send `PASS `).
            "PASS" => {
                let raw = Args { verb: "PASS", argument: raw_argument };
                Ok(Request::Pass(Password::new(raw.optional_text()?.unwrap_or_default())))
            }
            "SYST" => args.none(Request::Syst),
            "FEAT" => args.none(Request::Feat),
            "OPTS" => parse_opts(&args.text()?),
            "NOOP" => args.none(Request::Noop),
            "QUIT" => args.none(Request::Quit),
            "PWD" | "XPWD" => args.none(Request::Pwd),
            "CWD" | "XCWD" => Ok(Request::Cwd(args.text()?)),
            "CDUP" | "XCUP" => args.none(Request::Cdup),
            "MKD" | "XMKD" => Ok(Request::Mkd(args.text()?)),
            "RMD" | "XRMD" => Ok(Request::Rmd(args.text()?)),
            "LIST" => Ok(Request::List(args.optional_text()?.and_then(strip_list_options))),
            "NLST" => Ok(Request::Nlst(args.optional_text()?.and_then(strip_list_options))),
            "MLSD" => Ok(Request::Mlsd(args.optional_text()?)),
            "MLST" => Ok(Request::Mlst(args.optional_text()?)),
            "RETR" => Ok(Request::Retr(args.text()?)),
            "REST" => parse_rest(&args.text()?),
            "STOR" => Ok(Request::Stor(args.text()?)),
            "APPE" => Ok(Request::Appe(args.text()?)),
            "ABOR" => args.none(Request::Abor),
            "DELE" => Ok(Request::Dele(args.text()?)),
            "RNFR" => Ok(Request::Rnfr(args.text()?)),
            "RNTO" => Ok(Request::Rnto(args.text()?)),
            "SIZE" => Ok(Request::Size(args.text()?)),
            "MDTM" => Ok(Request::Mdtm(args.text()?)),
            "SITE" => parse_site(&args.text()?),
            "TYPE" => parse_type(&args.text()?),
            "MODE" => parse_single(&args.text()?, "MODE", "S", "BC", Request::ModeStream),
            "STRU" => parse_single(&args.text()?, "STRU", "F", "RP", Request::StruFile),
            "PASV" => args.none(Request::Pasv),
            "EPSV" | "PORT" | "EPRT" => parse_data_command(line),
            _ => Err(RequestError::NotImplemented(printable(&verb))),
        }
    }
}

/// The verb and what follows it.
struct Args<'a> {
    /// One of the verbs matched below, so safe to echo.
    verb: &'a str,
    argument: Option<&'a [u8]>,
}

impl Args<'_> {
    fn text(&self) -> Result<String, RequestError> {
        self.optional_text()?.ok_or_else(|| RequestError::MissingArgument(self.verb.to_owned()))
    }

    /// Paths travel as UTF-8 (RFC 2640); bytes that are not UTF-8 are
    /// refused rather than replaced, which would name another file.
    fn optional_text(&self) -> Result<Option<String>, RequestError> {
        let Some(argument) = self.argument else { return Ok(None) };
        std::str::from_utf8(argument)
            .map(|s| Some(s.to_owned()))
            .map_err(|_| RequestError::BadArgument(format!("{} argument is not UTF-8", self.verb)))
    }

    fn none(&self, request: Request) -> Result<Request, RequestError> {
        match self.argument {
            None => Ok(request),
            Some(_) => Err(RequestError::UnexpectedArgument(self.verb.to_owned())),
        }
    }
}

/// lftp and others send `LIST -la path` as if to `ls`: leading `-x` words
/// are options, not the path.
fn strip_list_options(argument: String) -> Option<String> {
    let mut rest = argument.as_str();
    while rest.starts_with('-') {
        rest = match rest.find(' ') {
            Some(space) => rest.get(space + 1..).unwrap_or_default(),
            None => "",
        };
        rest = rest.trim_start_matches(' ');
    }
    (!rest.is_empty()).then(|| rest.to_owned())
}

fn parse_opts(argument: &str) -> Result<Request, RequestError> {
    let mut words = argument.split_ascii_whitespace();
    let option = words.next().unwrap_or_default().to_ascii_uppercase();
    match option.as_str() {
        "UTF8" | "UTF-8" => match words.next().map(str::to_ascii_uppercase).as_deref() {
            Some("ON") | None => Ok(Request::OptsUtf8(true)),
            Some("OFF") => Ok(Request::OptsUtf8(false)),
            Some(_) => Err(RequestError::BadArgument("OPTS UTF8 takes ON or OFF".into())),
        },
        "MLST" => Ok(Request::OptsMlst),
        _ => Err(RequestError::Unsupported(format!("OPTS {}", printable(&option)))),
    }
}

fn parse_rest(argument: &str) -> Result<Request, RequestError> {
    let argument = argument.trim();
    // Up to 20 digits still fits the check below without overflow tricks.
    if argument.is_empty() || argument.len() > 20 || !argument.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RequestError::BadArgument("REST takes a byte offset".into()));
    }
    argument.parse().map(Request::Rest).map_err(|_| RequestError::BadArgument("REST offset is too large".into()))
}

fn parse_site(argument: &str) -> Result<Request, RequestError> {
    let argument = argument.trim_start_matches(' ');
    let (subcommand, rest) = argument.split_once(' ').unwrap_or((argument, ""));
    if !subcommand.eq_ignore_ascii_case("CHMOD") {
        return Err(RequestError::NotImplemented(format!("SITE {}", printable(subcommand))));
    }
    let rest = rest.trim_start_matches(' ');
    let (mode, path) = rest.split_once(' ').unwrap_or((rest, ""));
    if mode.is_empty() || path.is_empty() {
        return Err(RequestError::MissingArgument("SITE CHMOD".into()));
    }
    let mode = u32::from_str_radix(mode, 8)
        .ok()
        .filter(|m| *m <= 0o7777 && mode.len() <= 5)
        .ok_or_else(|| RequestError::BadArgument("SITE CHMOD takes an octal mode up to 7777".into()))?;
    Ok(Request::SiteChmod { mode, path: path.to_owned() })
}

/// TYPE's representation types (RFC 959 §3.1.1): ASCII non-print and local
/// byte size 8 are what a Unix server has; EBCDIC, Telnet and ASA
/// formats are not.
fn parse_type(argument: &str) -> Result<Request, RequestError> {
    let words: Vec<String> = argument.split_ascii_whitespace().map(str::to_ascii_uppercase).collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["A"] | ["A", "N"] => Ok(Request::Type(TransferType::Ascii)),
        ["I"] | ["L", "8"] => Ok(Request::Type(TransferType::Image)),
        ["A", "T" | "C"] | ["E", ..] | ["L", _] => Err(RequestError::Unsupported(format!("TYPE {}", words.join(" ")))),
        _ => Err(RequestError::BadArgument("TYPE takes A, A N, I or L 8".into())),
    }
}

/// MODE and STRU: one letter, of which one is supported.
fn parse_single(
    argument: &str,
    verb: &'static str,
    supported: &str,
    known: &str,
    request: Request,
) -> Result<Request, RequestError> {
    let letter = argument.trim().to_ascii_uppercase();
    if letter == supported {
        Ok(request)
    } else if letter.len() == 1 && known.contains(letter.as_str()) {
        Err(RequestError::Unsupported(format!("{verb} {letter}")))
    } else {
        Err(RequestError::BadArgument(format!("{verb} takes {supported}")))
    }
}

/// PORT, EPRT and EPSV through the forwarder's typed parser, so both sides
/// of sshfwd read data addresses the same way.
fn parse_data_command(line: &[u8]) -> Result<Request, RequestError> {
    match Command::parse(line) {
        Ok(Command::Port(address)) => Ok(Request::Port(address)),
        Ok(Command::Eprt(address)) => Ok(Request::Eprt(address)),
        Ok(Command::Epsv(argument)) => Ok(Request::Epsv(argument)),
        Ok(_) => Err(RequestError::BadArgument("not a data command".into())),
        Err(e @ (CommandError::Port(_) | CommandError::Eprt(_) | CommandError::Epsv)) => {
            Err(RequestError::BadArgument(e.to_string()))
        }
    }
}

/// Client text made safe to echo in a reply: printable ASCII only, short.
fn printable(text: &str) -> String {
    text.chars().filter(|c| c.is_ascii_graphic()).take(16).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Request, RequestError> {
        Request::parse(line.as_bytes())
    }

    fn text(s: &str) -> String {
        s.to_owned()
    }

    #[test]
    fn parse_table() {
        for (line, expected) in [
            ("USER ann\r\n", Request::User(text("ann"))),
            ("user  ann \r\n", Request::User(text("ann"))),
            ("PASS  two words \r\n", Request::Pass(Password::new(text(" two words ")))),
            ("PASS\r\n", Request::Pass(Password::new(String::new()))),
            ("PASS    \r\n", Request::Pass(Password::new(text("   ")))),
            ("OPTS UTF8 ON\r\n", Request::OptsUtf8(true)),
            ("opts utf8 off\r\n", Request::OptsUtf8(false)),
            ("OPTS UTF8\r\n", Request::OptsUtf8(true)),
            ("CWD a b \r\n", Request::Cwd(text("a b "))),
            ("XCWD ..\n", Request::Cwd(text(".."))),
            ("CWD ünï/日本\r\n", Request::Cwd(text("ünï/日本"))),
            ("LIST\r\n", Request::List(None)),
            ("LIST -la\r\n", Request::List(None)),
            ("LIST -a -l  dir x\r\n", Request::List(Some(text("dir x")))),
            ("NLST -1 *.txt\r\n", Request::Nlst(Some(text("*.txt")))),
            ("MLSD\r\n", Request::Mlsd(None)),
            ("MLST -la\r\n", Request::Mlst(Some(text("-la")))),
            ("REST 0\r\n", Request::Rest(0)),
            ("REST 18446744073709551615\r\n", Request::Rest(u64::MAX)),
            ("SITE CHMOD 0755 a b\r\n", Request::SiteChmod { mode: 0o755, path: text("a b") }),
            ("SITE  chmod  4755 x\r\n", Request::SiteChmod { mode: 0o4755, path: text("x") }),
            ("TYPE A N\r\n", Request::Type(TransferType::Ascii)),
            ("TYPE L 8\r\n", Request::Type(TransferType::Image)),
            ("EPSV ALL\r\n", Request::Epsv(EpsvArgument::All)),
            ("EPSV 1\r\n", Request::Epsv(EpsvArgument::Protocol(1))),
            ("PORT 127,0,0,1,4,1\r\n", Request::Port("127.0.0.1:1025".parse().unwrap())),
            ("EPRT |2|::1|2000|\r\n", Request::Eprt("[::1]:2000".parse().unwrap())),
        ] {
            assert_eq!(parse(line), Ok(expected), "{line:?}");
        }
        // Telnet IP and Synch as raw bytes before ABOR (RFC 959 §4.1.3).
        assert_eq!(Request::parse(b"\xff\xf4\xff\xf2ABOR\r\n"), Ok(Request::Abor));
        // The same with the urgent IAC taken out of band (tnftp, no SO_OOBINLINE).
        assert_eq!(Request::parse(b"\xff\xf4\xf2ABOR\r\n"), Ok(Request::Abor));
        // A literal 0xFF in a path travels doubled; it is not UTF-8, so refused.
        assert_eq!(Request::parse(b"RETR a\xff\xff\r\n").map_err(|e| e.code()), Err(501));
    }

    #[test]
    fn refusals() {
        for (line, code) in [
            ("FOO\r\n", 502),
            ("SITE UMASK 022\r\n", 502),
            ("USER\r\n", 501),
            ("RETR\r\n", 501),
            ("STOR \r\n", 501),
            ("PWD x\r\n", 501),
            ("REST 1x\r\n", 501),
            ("REST 184467440737095516150\r\n", 501),
            ("SITE CHMOD 17777 x\r\n", 501),
            ("SITE CHMOD x\r\n", 501),
            ("TYPE E\r\n", 504),
            ("MODE C\r\n", 504),
            ("STRU P\r\n", 504),
            ("OPTS MODE Z\r\n", 504),
            ("PORT 1,2,3,4,5\r\n", 501),
            ("EPSV x\r\n", 501),
        ] {
            assert_eq!(parse(line).map_err(|e| e.code()), Err(code), "{line:?}");
        }
        // Client bytes echoed in an error stay printable and short.
        let long = format!("{}\u{7}\r\n", "Z".repeat(100));
        assert_eq!(parse(&long), Err(RequestError::NotImplemented("Z".repeat(16))));
    }
}
