use super::*;
use crate::server::request::Password;
use proptest::prelude::*;

const CLIENT: [u8; 4] = [127, 0, 0, 1];

fn session() -> Session {
    let mut s = Session::new(SessionConfig::new(CLIENT.into(), CLIENT.into()));
    assert_eq!(codes(&mut s), [220]);
    s
}

fn logged_in() -> Session {
    let mut s = session();
    s.handle_line(b"USER ann\r\n");
    s.handle_line(b"PASS secret\r\n");
    drain(&mut s);
    s.handle_login(LoginOutcome::Accepted { home: VirtualPath::absolute("/home/ann") }).unwrap();
    assert_eq!(codes(&mut s), [230]);
    s
}

/// Feeds each CRLF-terminated line in turn, as the driver's framer would.
fn send(s: &mut Session, text: &[u8]) {
    for line in text.split_inclusive(|&b| b == b'\n') {
        s.handle_line(line);
    }
}

fn drain(s: &mut Session) -> Vec<Action> {
    std::iter::from_fn(|| s.poll_action()).collect()
}

/// The reply codes among the pending actions (other actions dropped).
fn codes(s: &mut Session) -> Vec<u16> {
    drain(s)
        .into_iter()
        .filter_map(|a| match a {
            Action::Reply(r) => Some(r.code),
            _ => None,
        })
        .collect()
}

/// The one reply line of the next action.
fn reply_text(s: &mut Session) -> String {
    match s.poll_action() {
        Some(Action::Reply(r)) => String::from_utf8(r.to_bytes()).unwrap(),
        other => panic!("expected a reply, got {other:?}"),
    }
}

fn path(p: &str) -> VirtualPath {
    VirtualPath::absolute(p)
}

/// Commands answered at once by a logged-in session: the code, and why.
#[test]
fn immediate_replies() {
    for (line, code, reason) in [
        ("SYST", 215, "RFC 959 §4.2: system type"),
        ("syst", 215, "RFC 959 §4.1: verbs are case-insensitive"),
        ("NOOP", 200, "RFC 959 §4.1.3"),
        ("PWD", 257, "RFC 959 §4.1.3: 257 with the quoted path"),
        ("XPWD", 257, "RFC 1123 §4.1.3.1: the X forms"),
        ("TYPE A", 200, "RFC 959 §3.1.1.1"),
        ("TYPE A N", 200, "RFC 959 §3.1.1.1: non-print is the default format"),
        ("TYPE I", 200, "RFC 959 §3.1.1.3"),
        ("TYPE L 8", 200, "RFC 959 §3.1.1.4: bytes of 8 bits are image"),
        ("type i", 200, "case-insensitive arguments"),
        ("TYPE E", 504, "RFC 959: EBCDIC not implemented for that parameter"),
        ("TYPE A T", 504, "RFC 959: Telnet format control not supported"),
        ("TYPE L 7", 504, "RFC 959: only byte size 8"),
        ("TYPE X", 501, "RFC 959: syntax error in parameters"),
        ("TYPE", 501, "wrong argument count"),
        ("MODE S", 200, "RFC 959 §3.4.1: stream mode"),
        ("MODE B", 504, "block mode not implemented"),
        ("MODE Q", 501, "not a mode"),
        ("STRU F", 200, "RFC 959 §3.1.2.1"),
        ("STRU R", 504, "record structure not implemented"),
        ("REST 100", 350, "RFC 3659 §5.3"),
        ("REST -1", 501, "RFC 3659 §5.3: a decimal number"),
        ("REST 99999999999999999999", 501, "above u64"),
        ("ABOR", 225, "RFC 959 §4.1.3: no transfer in progress"),
        ("RNTO x", 503, "RFC 959 §4.1.3: RNTO must follow RNFR"),
        ("OPTS UTF8 ON", 200, "RFC 2640 §3.1 and Windows Explorer"),
        ("OPTS MLST type;size;", 200, "RFC 3659 §7.9"),
        ("OPTS FOO", 504, "an option not supported"),
        ("EPSV ALL", 200, "RFC 2428 §4"),
        ("EPSV 2", 522, "RFC 2428 §3: protocol of another family"),
        ("PORT 127,0,0,1,4,1", 200, "RFC 959 §4.1.2"),
        ("EPRT |1|127.0.0.1|2000|", 200, "RFC 2428 §2"),
        ("PORT 10,0,0,1,4,1", 500, "RFC 2577: bounce to another host"),
        ("PORT 127,0,0,1,0,21", 504, "RFC 2577: privileged port"),
        ("EPRT |2|::1|2000|", 500, "RFC 2577: another address"),
        ("PORT 1,2,3", 501, "malformed host-port"),
        ("EPRT |3|x|1|", 501, "RFC 2428: unknown family"),
        ("RETR x", 425, "RFC 959: no data connection prepared"),
        ("LIST", 425, "RFC 959: no data connection prepared"),
        ("USER bob", 530, "one user per session"),
        ("PASS again", 230, "RFC 959: already logged in"),
        ("SITE EXEC ls", 502, "only SITE CHMOD"),
        ("SITE CHMOD 999 x", 501, "not octal"),
        ("SITE CHMOD 644", 501, "no path"),
        ("SITE", 501, "no subcommand"),
        ("HELP", 502, "not implemented"),
        ("STAT", 502, "not implemented"),
        ("LPRT 4,4,127,0,0,1,2,4,1", 502, "RFC 1639 not implemented"),
        ("AUTH TLS", 502, "RFC 4217: no TLS, lftp falls back"),
        ("XYZZY", 502, "unknown verb"),
        ("", 502, "empty line"),
        ("CWD", 501, "RFC 959: CWD needs a path"),
        ("CWD   ", 501, "an argument of spaces is none"),
        ("SYST now", 501, "SYST takes no argument"),
    ] {
        let mut s = logged_in();
        s.handle_line(format!("{line}\r\n").as_bytes());
        assert_eq!(codes(&mut s), [code], "{line}: {reason}");
    }
}

/// Commands that need the driver, and the action each produces.
#[test]
fn driver_actions() {
    let file = |op| Some(Action::File(op));
    let stat = |p: &str, purpose| Some(Action::Stat { path: path(p), purpose });
    for (line, expected) in [
        ("CWD docs", file(FileOperation::ChangeDir(path("/home/ann/docs")))),
        ("XCWD /tmp", file(FileOperation::ChangeDir(path("/tmp")))),
        ("CDUP", file(FileOperation::ChangeDir(path("/home")))),
        ("XCUP", file(FileOperation::ChangeDir(path("/home")))),
        ("MKD new dir", file(FileOperation::MakeDir(path("/home/ann/new dir")))),
        ("XMKD ../x", file(FileOperation::MakeDir(path("/home/x")))),
        ("RMD old", file(FileOperation::RemoveDir(path("/home/ann/old")))),
        ("XRMD old", file(FileOperation::RemoveDir(path("/home/ann/old")))),
        ("DELE a.txt", file(FileOperation::Delete(path("/home/ann/a.txt")))),
        ("SITE CHMOD 755 run.sh", file(FileOperation::Chmod { mode: 0o755, path: path("/home/ann/run.sh") })),
        ("site chmod 0600 my key", file(FileOperation::Chmod { mode: 0o600, path: path("/home/ann/my key") })),
        ("SIZE ünï", stat("/home/ann/ünï", StatPurpose::Size)),
        ("MDTM /etc/passwd", stat("/etc/passwd", StatPurpose::Mdtm)),
        ("MLST", stat("/home/ann", StatPurpose::Mlst)),
        ("MLST f", stat("/home/ann/f", StatPurpose::Mlst)),
        ("RNFR from", stat("/home/ann/from", StatPurpose::RenameFrom)),
        ("PASV", Some(Action::OpenPassive)),
        ("EPSV", Some(Action::OpenPassive)),
        ("EPSV 1", Some(Action::OpenPassive)),
    ] {
        let mut s = logged_in();
        s.handle_line(format!("{line}\r\n").as_bytes());
        assert_eq!(s.poll_action(), expected, "{line}");
        assert_eq!(s.poll_action(), None, "{line}");
    }
}

#[test]
fn arguments_that_are_not_utf8_are_refused() {
    let mut s = logged_in();
    s.handle_line(b"RETR caf\xe9\r\n");
    assert_eq!(reply_text(&mut s), "501 bad argument: RETR argument is not UTF-8\r\n");
}

#[test]
fn login_flow() {
    let mut s = session();
    // RFC 959 §5.4: PASS before USER is a bad sequence.
    s.handle_line(b"PASS x\r\n");
    assert_eq!(codes(&mut s), [503]);
    s.handle_line(b"PWD\r\n");
    assert_eq!(codes(&mut s), [530]);
    s.handle_line(b"FEAT\r\n");
    assert_eq!(codes(&mut s), [211]);
    s.handle_line(b"USER ann\r\n");
    assert_eq!(reply_text(&mut s), "331 Password required for ann\r\n");
    s.handle_line(b"PASS hunter2\r\n");
    assert_eq!(
        s.poll_action(),
        Some(Action::Authenticate { user: "ann".into(), password: Password::new("hunter2".into()) })
    );
    // Lines sent before the answer wait for it.
    s.handle_line(b"PWD\r\n");
    assert_eq!(s.poll_action(), None);
    assert_eq!(s.handle_done(Ok(())), Err(NotAwaited("a file operation result")));
    s.handle_login(LoginOutcome::Accepted { home: path("/home/ann") }).unwrap();
    assert_eq!(reply_text(&mut s), "230 User ann logged in\r\n");
    assert_eq!(reply_text(&mut s), "257 \"/home/ann\" is the current directory\r\n");
    assert_eq!(s.user(), Some("ann"));
    assert_eq!(s.handle_login(LoginOutcome::Refused), Err(NotAwaited("a login result")));
}

#[test]
fn empty_password_and_failed_logins() {
    let mut s = session();
    for attempt in 1..=3 {
        s.handle_line(b"USER ann\r\n");
        s.handle_line(b"PASS\r\n");
        let actions = drain(&mut s);
        assert!(actions.contains(&Action::Authenticate { user: "ann".into(), password: Password::new(String::new()) }));
        s.handle_login(LoginOutcome::Refused).unwrap();
        if attempt < 3 {
            assert_eq!(codes(&mut s), [530]);
        }
    }
    // The third failure ends the session (a login flood gets a clear refusal).
    let actions = drain(&mut s);
    assert_eq!(actions.last(), Some(&Action::Close));
    assert!(s.is_closed());
    s.handle_line(b"USER ann\r\n");
    assert_eq!(s.poll_action(), None);
}

#[test]
fn unavailable_ssh_side_ends_the_session() {
    let mut s = session();
    send(&mut s, b"USER ann\r\nPASS x\r\n");
    drain(&mut s);
    s.handle_login(LoginOutcome::Unavailable("connection refused".into())).unwrap();
    assert_eq!(reply_text(&mut s), "421 Service not available: connection refused\r\n");
    assert_eq!(s.poll_action(), Some(Action::Close));
}

#[test]
fn passwords_are_never_shown() {
    let mut s = session();
    s.handle_line(b"USER ann\r\n");
    s.handle_line(b"PASS hunter2\r\n");
    let actions = drain(&mut s);
    // A second attempt sent ahead while the first is checked waits in the queue.
    send(&mut s, b"USER ann\r\nPASS swordfish\r\n");
    let shown = format!("{actions:?} {s:?}");
    assert!(!shown.contains("hunter2") && !shown.contains("swordfish"), "{shown}");
    assert!(shown.contains("<redacted>") && shown.contains("2 queued lines"), "{shown}");
}

#[test]
fn results_after_the_session_closed_say_nothing() {
    let mut s = logged_in();
    transfer_of(&mut s, b"RETR f\r\n");
    s.handle_connection_lost();
    assert_eq!(codes(&mut s), [421]);
    s.handle_transfer_done(Err(TransferError::DataBroken)).unwrap();
    assert_eq!(s.poll_action(), None);
}

#[test]
fn directories() {
    let mut s = logged_in();
    s.handle_line(b"CWD ../bob/a \"q\"\r\n");
    assert_eq!(s.poll_action(), Some(Action::File(FileOperation::ChangeDir(path("/home/bob/a \"q\"")))));
    s.handle_done(Ok(())).unwrap();
    assert_eq!(codes(&mut s), [250]);
    s.handle_line(b"PWD\r\n");
    assert_eq!(reply_text(&mut s), "257 \"/home/bob/a \"\"q\"\"\" is the current directory\r\n");
    // A failed CWD leaves the directory as it was.
    s.handle_line(b"CWD nope\r\n");
    drain(&mut s);
    s.handle_done(Err(FsError::NotFound)).unwrap();
    assert_eq!(reply_text(&mut s), "550 /home/bob/a \"q\"/nope: No such file or directory\r\n");
    assert_eq!(s.current_dir(), &path("/home/bob/a \"q\""));
    s.handle_line(b"MKD sub\r\n");
    drain(&mut s);
    s.handle_done(Ok(())).unwrap();
    assert_eq!(reply_text(&mut s), "257 \"/home/bob/a \"\"q\"\"/sub\" created\r\n");
}

#[test]
fn file_errors_become_replies() {
    for (error, expected) in [
        (FsError::NotFound, "550 /home/ann/f: No such file or directory\r\n"),
        (FsError::PermissionDenied, "550 /home/ann/f: Permission denied\r\n"),
        (FsError::DiskFull, "452 /home/ann/f: Insufficient storage space (disk full)\r\n"),
        (FsError::NotADirectory, "550 /home/ann/f: Not a directory\r\n"),
        (FsError::IsADirectory, "550 /home/ann/f: Is a directory\r\n"),
        (FsError::AlreadyExists, "550 /home/ann/f: File exists\r\n"),
        (FsError::Other("Failure\r\n226 x".into()), "550 /home/ann/f: Failure  226 x\r\n"),
        (FsError::ConnectionLost, "421 Service not available, SSH connection lost\r\n"),
    ] {
        let mut s = logged_in();
        s.handle_line(b"DELE f\r\n");
        drain(&mut s);
        let lost = error == FsError::ConnectionLost;
        s.handle_done(Err(error)).unwrap();
        assert_eq!(reply_text(&mut s), expected);
        assert_eq!(s.poll_action() == Some(Action::Close), lost);
    }
}

fn entry(kind: Kind, modified: Option<i64>) -> Entry {
    Entry { name: "f".into(), kind, size: 1234, modified, mode: Some(0o640), ..Entry::default() }
}

#[test]
fn attributes() {
    let answer = |line: &str, result| {
        let mut s = logged_in();
        s.handle_line(line.as_bytes());
        drain(&mut s);
        s.handle_stat(result).unwrap();
        drain(&mut s)
            .into_iter()
            .map(|a| match a {
                Action::Reply(r) => String::from_utf8(r.to_bytes()).unwrap(),
                other => panic!("{other:?}"),
            })
            .collect::<String>()
    };
    assert_eq!(answer("SIZE f", Ok(entry(Kind::File, None))), "213 1234\r\n");
    assert_eq!(answer("SIZE f", Ok(entry(Kind::Directory, None))), "550 /home/ann/f: not a plain file\r\n");
    assert_eq!(answer("SIZE f", Err(FsError::NotFound)), "550 /home/ann/f: No such file or directory\r\n");
    assert_eq!(answer("MDTM f", Ok(entry(Kind::File, Some(0)))), "213 19700101000000\r\n");
    assert_eq!(answer("MDTM f", Ok(entry(Kind::File, None))), "550 /home/ann/f: modification time unknown\r\n");
    assert_eq!(
        answer("MLST f", Ok(entry(Kind::File, Some(0)))),
        "250-Listing /home/ann/f\r\n type=file;size=1234;modify=19700101000000;perm=adfwr;UNIX.mode=0640; /home/ann/f\r\n250 End\r\n"
    );
}

#[test]
fn rename_needs_rnto_right_after_rnfr() {
    let mut s = logged_in();
    s.handle_line(b"RNFR a\r\n");
    drain(&mut s);
    s.handle_stat(Ok(entry(Kind::File, None))).unwrap();
    assert_eq!(codes(&mut s), [350]);
    s.handle_line(b"RNTO sub/b c\r\n");
    assert_eq!(
        s.poll_action(),
        Some(Action::File(FileOperation::Rename { from: path("/home/ann/a"), to: path("/home/ann/sub/b c") }))
    );
    s.handle_done(Ok(())).unwrap();
    assert_eq!(codes(&mut s), [250]);
    // RNTO is good once only.
    s.handle_line(b"RNTO again\r\n");
    assert_eq!(codes(&mut s), [503]);
    // Any other command in between cancels the rename (RFC 959 §4.1.3).
    s.handle_line(b"RNFR a\r\n");
    drain(&mut s);
    s.handle_stat(Ok(entry(Kind::File, None))).unwrap();
    send(&mut s, b"NOOP\r\nRNTO b\r\n");
    assert_eq!(codes(&mut s), [350, 200, 503]);
    // A missing source gets 550 and no rename.
    s.handle_line(b"RNFR gone\r\n");
    drain(&mut s);
    s.handle_stat(Err(FsError::NotFound)).unwrap();
    s.handle_line(b"RNTO b\r\n");
    assert_eq!(codes(&mut s), [550, 503]);
}

fn passive(s: &mut Session, line: &[u8]) {
    s.handle_line(line);
    assert_eq!(s.poll_action(), Some(Action::OpenPassive));
    s.handle_passive(Ok("127.0.0.1:50000".parse().unwrap())).unwrap();
}

#[test]
fn passive_replies() {
    let mut s = logged_in();
    passive(&mut s, b"PASV\r\n");
    assert_eq!(reply_text(&mut s), "227 Entering Passive Mode (127,0,0,1,195,80)\r\n");
    passive(&mut s, b"EPSV\r\n");
    assert_eq!(reply_text(&mut s), "229 Entering Extended Passive Mode (|||50000|)\r\n");
    s.handle_line(b"PASV\r\n");
    drain(&mut s);
    s.handle_passive(Err("no ports".into())).unwrap();
    assert_eq!(codes(&mut s), [425]);
    s.handle_line(b"PASV\r\n");
    drain(&mut s);
    s.handle_passive(Ok("[::1]:50000".parse().unwrap())).unwrap();
    assert_eq!(drain(&mut s).first(), Some(&Action::ClosePassive));
    // After EPSV ALL only EPSV (RFC 2428 §4).
    send(&mut s, b"EPSV ALL\r\nPASV\r\nPORT 127,0,0,1,4,1\r\n");
    assert_eq!(codes(&mut s), [200, 503, 503]);
    s.handle_line(b"EPSV\r\n");
    assert_eq!(s.poll_action(), Some(Action::OpenPassive));
}

#[test]
fn port_after_pasv_drops_the_listener() {
    let mut s = logged_in();
    passive(&mut s, b"PASV\r\n");
    drain(&mut s);
    s.handle_line(b"PORT 127,0,0,1,4,1\r\n");
    assert_eq!(s.poll_action(), Some(Action::ClosePassive));
    assert_eq!(codes(&mut s), [200]);
    s.handle_line(b"RETR f\r\n");
    let Some(Action::Transfer(transfer)) = s.poll_action() else { panic!() };
    assert_eq!(transfer.data, DataChannel::Active("127.0.0.1:1025".parse().unwrap()));
}

/// Drops earlier actions, prepares a passive data connection and sends
/// `line`, which must start a transfer.
fn transfer_of(s: &mut Session, line: &[u8]) -> Transfer {
    drain(s);
    passive(s, b"EPSV\r\n");
    drain(s);
    s.handle_line(line);
    match s.poll_action() {
        Some(Action::Transfer(t)) => t,
        other => panic!("{other:?}"),
    }
}

#[test]
fn transfers_and_restart_markers() {
    let mut s = logged_in();
    let retrieve = |p: &str, offset, representation| TransferKind::Retrieve { path: path(p), offset, representation };
    let store = |p: &str, start, representation| TransferKind::Store { path: path(p), start, representation };
    let done = |s: &mut Session| {
        s.handle_transfer_started(Some(5)).unwrap();
        s.handle_transfer_done(Ok(5)).unwrap();
        codes(s)
    };
    assert_eq!(transfer_of(&mut s, b"RETR a b\r\n").kind, retrieve("/home/ann/a b", 0, TransferType::Image));
    assert_eq!(done(&mut s), [150, 226]);
    // REST, then the data connection, then RETR: the marker holds.
    s.handle_line(b"REST 100\r\n");
    assert_eq!(codes(&mut s), [350]);
    assert_eq!(transfer_of(&mut s, b"RETR a\r\n").kind, retrieve("/home/ann/a", 100, TransferType::Image));
    done(&mut s);
    // It is used once.
    assert_eq!(transfer_of(&mut s, b"RETR a\r\n").kind, retrieve("/home/ann/a", 0, TransferType::Image));
    done(&mut s);
    // Another command resets it (RFC 3659 §5.3).
    send(&mut s, b"REST 100\r\nNOOP\r\nTYPE A\r\n");
    drain(&mut s);
    assert_eq!(transfer_of(&mut s, b"RETR a\r\n").kind, retrieve("/home/ann/a", 0, TransferType::Ascii));
    done(&mut s);
    s.handle_line(b"REST 7\r\n");
    assert_eq!(transfer_of(&mut s, b"STOR up\r\n").kind, store("/home/ann/up", StoreStart::At(7), TransferType::Ascii));
    done(&mut s);
    assert_eq!(
        transfer_of(&mut s, b"STOR up\r\n").kind,
        store("/home/ann/up", StoreStart::Truncate, TransferType::Ascii)
    );
    done(&mut s);
    send(&mut s, b"REST 7\r\nTYPE I\r\n");
    assert_eq!(
        transfer_of(&mut s, b"APPE up\r\n").kind,
        store("/home/ann/up", StoreStart::Append, TransferType::Image)
    );
    done(&mut s);
    // The data connection is used once.
    s.handle_line(b"RETR a\r\n");
    assert_eq!(codes(&mut s), [425]);
}

#[test]
fn listings() {
    let mut s = logged_in();
    let list = |p: &str, format| TransferKind::List { path: path(p), format, pattern: None, prefix: String::new() };
    let glob = |p: &str, format, pattern: &str, prefix: &str| TransferKind::List {
        path: path(p),
        format,
        pattern: Glob::new(pattern),
        prefix: prefix.to_owned(),
    };
    for (line, expected) in [
        (&b"LIST\r\n"[..], list("/home/ann", ListFormat::Long)),
        (b"LIST -la\r\n", list("/home/ann", ListFormat::Long)),
        (b"LIST -al\r\n", list("/home/ann", ListFormat::Long)),
        (b"LIST -A -F\r\n", list("/home/ann", ListFormat::Long)),
        (b"LIST -l -a my dir\r\n", list("/home/ann/my dir", ListFormat::Long)),
        (b"LIST -a dir\r\n", list("/home/ann/dir", ListFormat::Long)),
        (b"NLST sub\r\n", list("/home/ann/sub", ListFormat::Names)),
        (b"MLSD /\r\n", list("/", ListFormat::Machine)),
        // Patterns: in the last component only, over its directory.
        (b"LIST *.csv\r\n", glob("/home/ann", ListFormat::Long, "*.csv", "")),
        (b"LIST -la dir/*.log\r\n", glob("/home/ann/dir", ListFormat::Long, "*.log", "")),
        (b"NLST *.txt\r\n", glob("/home/ann", ListFormat::Names, "*.txt", "")),
        (b"NLST dir/?[0-9].log\r\n", glob("/home/ann/dir", ListFormat::Names, "?[0-9].log", "dir/")),
        (b"NLST /tmp/*\r\n", glob("/tmp", ListFormat::Names, "*", "/tmp/")),
        (b"NLST /*\r\n", glob("/", ListFormat::Names, "*", "/")),
        (b"LIST d*/x\r\n", list("/home/ann/d*/x", ListFormat::Long)),
        (b"MLSD *.txt\r\n", list("/home/ann/*.txt", ListFormat::Machine)),
    ] {
        assert_eq!(transfer_of(&mut s, line).kind, expected);
        s.handle_transfer_started(None).unwrap();
        assert_eq!(reply_text(&mut s), "150 Here comes the directory listing\r\n");
        s.handle_transfer_done(Ok(0)).unwrap();
        assert_eq!(codes(&mut s), [226]);
    }
}

#[test]
fn transfer_failures() {
    for (result, expected) in [
        (Err(TransferError::DataConnection("refused".into())), vec![425]),
        (Err(TransferError::DataBroken), vec![426]),
        (Err(TransferError::Idle), vec![426]),
        (Err(TransferError::File(FsError::DiskFull)), vec![452]),
        (Err(TransferError::File(FsError::NotFound)), vec![550]),
        (Err(TransferError::File(FsError::ConnectionLost)), vec![421]),
    ] {
        let mut s = logged_in();
        transfer_of(&mut s, b"STOR f\r\n");
        let lost = result == Err(TransferError::File(FsError::ConnectionLost));
        s.handle_transfer_done(result).unwrap();
        assert_eq!(codes(&mut s), expected);
        assert_eq!(s.is_closed(), lost);
    }
}

#[test]
fn abort_during_a_transfer() {
    let mut s = logged_in();
    transfer_of(&mut s, b"RETR big\r\n");
    s.handle_transfer_started(None).unwrap();
    assert_eq!(reply_text(&mut s), "150 Opening BINARY mode data connection for /home/ann/big\r\n");
    // Telnet IP and Synch before ABOR (RFC 959 §4.1.3), then a NOOP that waits.
    s.handle_line(b"\xff\xf4\xff\xf2ABOR\r\n");
    s.handle_line(b"NOOP\r\n");
    assert_eq!(s.poll_action(), Some(Action::Abort));
    assert_eq!(s.poll_action(), None);
    // A second ABOR waits like any other line.
    s.handle_line(b"ABOR\r\n");
    s.handle_transfer_done(Err(TransferError::Aborted)).unwrap();
    assert_eq!(codes(&mut s), [426, 226, 200, 225]);
    // A transfer that finished before the ABOR got there: 226 twice.
    transfer_of(&mut s, b"RETR small\r\n");
    s.handle_line(b"ABOR\r\n");
    drain(&mut s);
    s.handle_transfer_done(Ok(3)).unwrap();
    assert_eq!(codes(&mut s), [226, 226]);
}

/// ftplib's `abort()` sends `ABOR\r\n` as urgent data; without
/// SO_OOBINLINE the LF is taken out of the stream, and `ABOR\r` is all that
/// arrives until the next command.
#[test]
fn abort_without_its_line_feed() {
    let mut s = logged_in();
    transfer_of(&mut s, b"RETR f\r\n");
    let mut framer = LineFramer::new(100);
    framer.push(b"ABOR\r");
    s.handle_framed(&mut framer);
    assert_eq!(s.poll_action(), Some(Action::Abort));
    s.handle_transfer_done(Err(TransferError::Aborted)).unwrap();
    assert_eq!(codes(&mut s), [426, 226]);
    // The next command follows; so may the LF, if it came in band after all.
    for (later, code) in [(&b"\nNOOP\r\n"[..], 200), (b"NOOP\r\n", 200), (b"ABOR\r", 225)] {
        framer.push(later);
        s.handle_framed(&mut framer);
        assert_eq!(codes(&mut s), [code], "{later:?}");
    }
    // Not an ABOR, or not yet: the line waits for its end.
    for partial in [&b"NOOP\r"[..], b"ABO", b"ABOR"] {
        let mut framer = LineFramer::new(100);
        framer.push(partial);
        s.handle_framed(&mut framer);
        assert_eq!(codes(&mut s), [], "{partial:?}");
    }
}

#[test]
fn quit_waits_for_the_transfer() {
    let mut s = logged_in();
    transfer_of(&mut s, b"RETR f\r\n");
    s.handle_line(b"QUIT\r\n");
    assert_eq!(s.poll_action(), None);
    s.handle_transfer_done(Ok(1)).unwrap();
    assert_eq!(
        drain(&mut s),
        [Action::Reply(Reply::new(226, "Transfer complete")), Action::Reply(Reply::new(221, "Goodbye")), Action::Close]
    );
}

#[test]
fn a_flood_of_pipelined_lines_ends_the_session() {
    let mut s = logged_in();
    s.handle_line(b"CWD x\r\n");
    drain(&mut s);
    for _ in 0..64 {
        s.handle_line(b"NOOP\r\n");
    }
    assert_eq!(s.poll_action(), None);
    s.handle_line(b"NOOP\r\n");
    assert_eq!(codes(&mut s), [421]);
    assert!(s.is_closed());
}

#[test]
fn lost_connection_and_long_lines() {
    let mut s = logged_in();
    s.handle_connection_lost();
    assert_eq!(
        drain(&mut s),
        [Action::Reply(Reply::new(421, "Service not available, SSH connection lost")), Action::Close]
    );
    let mut s = session();
    s.handle_overlong_line();
    assert_eq!(codes(&mut s), [500]);
    assert!(s.is_closed());
}

#[test]
fn feat_lists_what_is_supported() {
    let mut s = session();
    s.handle_line(b"FEAT\r\n");
    let text = reply_text(&mut s);
    assert!(
        text.starts_with("211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n MLST type*;size*;modify*;perm*;UNIX.mode*;\r\n")
    );
    assert!(text.ends_with(" REST STREAM\r\n SIZE\r\n TVFS\r\n UTF8\r\n211 End\r\n"));
}

#[test]
fn unexpected_results_are_reported_not_acted_on() {
    let mut s = logged_in();
    assert!(s.handle_passive(Ok("127.0.0.1:1".parse().unwrap())).is_err());
    assert!(s.handle_stat(Err(FsError::NotFound)).is_err());
    assert!(s.handle_transfer_started(None).is_err());
    assert!(s.handle_transfer_done(Ok(0)).is_err());
    assert_eq!(s.poll_action(), None);
}

/// A driver that answers every action at once, with results picked by the
/// test's random input.
fn drive(s: &mut Session, choice: &mut impl Iterator<Item = u8>) {
    let mut pick = || choice.next().unwrap_or(0);
    let mut rounds = 0;
    while let Some(action) = s.poll_action() {
        rounds += 1;
        assert!(rounds < 10_000, "the session loops");
        let fs_error = |n: u8| match n % 4 {
            0 => FsError::NotFound,
            1 => FsError::PermissionDenied,
            2 => FsError::DiskFull,
            _ => FsError::ConnectionLost,
        };
        let result = match action {
            Action::Reply(reply) => {
                let bytes = reply.to_bytes();
                assert!(bytes.ends_with(b"\r\n"));
                assert!((100..600).contains(&reply.code));
                Ok(())
            }
            Action::Authenticate { .. } => s.handle_login(match pick() % 3 {
                0 => LoginOutcome::Refused,
                1 => LoginOutcome::Unavailable("down".into()),
                _ => LoginOutcome::Accepted { home: VirtualPath::root() },
            }),
            Action::OpenPassive => s.handle_passive(Ok("127.0.0.1:50000".parse().unwrap())),
            Action::File(_) => s.handle_done(if pick() % 2 == 0 { Ok(()) } else { Err(fs_error(pick())) }),
            Action::Stat { .. } => s.handle_stat(Ok(entry(Kind::File, Some(i64::from(pick()))))),
            Action::Transfer(_) => {
                let _ = s.handle_transfer_started(None);
                s.handle_transfer_done(if pick() % 2 == 0 { Ok(1) } else { Err(TransferError::DataBroken) })
            }
            Action::Abort => Ok(()),
            Action::ClosePassive | Action::Close => Ok(()),
        };
        assert_eq!(result, Ok(()));
    }
}

fn line() -> impl Strategy<Value = Vec<u8>> {
    // The strings are regular expressions, hence the escapes.
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40),
        (
            prop_oneof![
                "USER", "PASS", "CWD", "CDUP", "LIST", "RETR", "STOR", "APPE", "REST", "RNFR", "RNTO", "PASV", "EPSV",
                "PORT", "EPRT", "TYPE", "ABOR", "QUIT", "SIZE", "MLST", "MLSD", "SITE", "DELE", "MKD", "NOOP"
            ],
            prop_oneof![
                "",
                " ",
                " a",
                " ..",
                " 12",
                " -la x",
                " CHMOD 644 f",
                " ALL",
                " 127,0,0,1,4,1",
                " A",
                " \\*\\.txt",
                " -a d/\\?\\[!x\\]\\*",
                " d/\\[a-"
            ],
        )
            .prop_map(|(verb, argument)| format!("{verb}{argument}\r\n").into_bytes()),
    ]
}

proptest! {
    /// No sequence of lines and driver results makes the session panic,
    /// loop, or break the reply format.
    #[test]
    fn no_input_panics(lines in proptest::collection::vec(line(), 0..40), choices in proptest::collection::vec(any::<u8>(), 0..80)) {
        let mut s = session();
        let mut choice = choices.into_iter().cycle();
        for line in lines {
            s.handle_line(&line);
            drive(&mut s, &mut choice);
        }
    }

    /// The same through the framer, cut anywhere, with Telnet bytes and
    /// ABORs whose LF went out of band mixed in.
    #[test]
    fn framed_input_never_panics(
        pieces in proptest::collection::vec(prop_oneof![
            line(),
            Just(b"ABOR\r".to_vec()),
            Just(b"\xff\xf4\xff\xf2".to_vec()),
            Just(b"\n".to_vec()),
        ], 0..40),
        cuts in proptest::collection::vec(1usize..16, 1..20),
        choices in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let mut s = session();
        let mut choice = choices.into_iter().cycle();
        let bytes = pieces.concat();
        let mut framer = LineFramer::new(8192);
        let mut rest = &bytes[..];
        for &cut in cuts.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, tail) = rest.split_at(cut.min(rest.len()));
            rest = tail;
            framer.push(chunk);
            s.handle_framed(&mut framer);
            drive(&mut s, &mut choice);
        }
    }

    #[test]
    fn parser_never_panics(line in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Err(e) = Request::parse(&line) {
            prop_assert!([501, 502, 504].contains(&e.code()));
            prop_assert!(!e.to_string().contains(['\r', '\n']));
        }
    }
}
