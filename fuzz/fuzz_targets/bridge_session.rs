//! Feeds arbitrary bytes, framed as the driver frames them, to the bridge's FTP session,
//! with a driver that answers each action with a result picked from the
//! same bytes. Nothing may panic, every reply must be well formed, every
//! path the driver sees must be normalised, and no active data address may
//! break the bounce rules.
#![no_main]

use ftp_proto::framing::LineFramer;
use ftp_proto::server::{
    Action, DataChannel, Entry, FileOperation, FsError, Kind, LoginOutcome, Session, SessionConfig, TransferError,
    VirtualPath,
};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 512;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else { return };
    let client = [127, 0, 0, 1].into();
    let mut session = Session::new(SessionConfig::new(client, client));
    let mut framer = LineFramer::new(LIMIT);
    // The driver's choices come from the input read backwards.
    let mut choices = rest.iter().rev().copied().cycle();
    let mut pick = move || choices.next().unwrap_or(0);
    // Chunks framed as the driver frames them (handle_framed: several
    // lines at once, and an unterminated urgent ABOR), then answered.
    for chunk in rest.chunks(usize::from(cut).max(1)) {
        framer.push(chunk);
        session.handle_framed(&mut framer);
        drive(&mut session, &mut pick);
        if session.is_closed() {
            return;
        }
    }
});

fn drive(session: &mut Session, pick: &mut impl FnMut() -> u8) {
    let mut steps = 0;
    while let Some(action) = session.poll_action() {
        steps += 1;
        assert!(steps < 100_000, "the session loops");
        let result = match action {
            Action::Reply(reply) => {
                let bytes = reply.to_bytes();
                assert!((100..600).contains(&reply.code));
                assert!(bytes.ends_with(b"\r\n"));
                let lines = bytes.split(|&b| b == b'\n').count() - 1;
                assert_eq!(lines, reply.lines.len().max(1), "a reply's text split its lines");
                Ok(())
            }
            Action::Authenticate { .. } => session.handle_login(match pick() % 3 {
                0 => LoginOutcome::Refused,
                1 => LoginOutcome::Unavailable("down".into()),
                _ => LoginOutcome::Accepted { home: VirtualPath::absolute("/home/fuzz") },
            }),
            Action::OpenPassive => session.handle_passive(match pick() % 3 {
                0 => Err("no port".into()),
                1 => Ok("[::1]:50000".parse().unwrap()),
                _ => Ok("127.0.0.1:50000".parse().unwrap()),
            }),
            Action::File(operation) => {
                check_path(operation.path());
                if let FileOperation::Rename { to, .. } = &operation {
                    check_path(to);
                }
                session.handle_done(if pick() % 2 == 0 { Ok(()) } else { Err(fs_error(pick())) })
            }
            Action::Stat { path, .. } => {
                check_path(&path);
                let kind = if pick() % 2 == 0 { Kind::File } else { Kind::Directory };
                let entry = Entry {
                    name: "f".into(),
                    kind,
                    size: u64::from(pick()),
                    modified: Some(i64::from(pick()) << 40),
                    mode: Some(u32::from(pick()) << 4),
                    ..Entry::default()
                };
                session.handle_stat(if pick() % 4 == 0 { Err(fs_error(pick())) } else { Ok(entry) })
            }
            Action::Transfer(transfer) => {
                check_path(transfer.kind.path());
                if let DataChannel::Active(address) = transfer.data {
                    assert_eq!(address.ip().to_canonical(), std::net::IpAddr::from([127, 0, 0, 1]));
                    assert!(address.port() >= 1024);
                }
                if pick() % 2 == 0 {
                    let _ = session.handle_transfer_started(Some(1));
                }
                // Sometimes the transfer stays running, so ABOR and queued lines are exercised.
                match pick() % 4 {
                    0 => Ok(()),
                    1 => session.handle_transfer_done(Ok(1)),
                    2 => session.handle_transfer_done(Err(TransferError::DataBroken)),
                    _ => session.handle_transfer_done(Err(TransferError::File(fs_error(pick())))),
                }
            }
            Action::Abort => {
                let _ = session.handle_transfer_done(Err(TransferError::Aborted));
                Ok(())
            }
            Action::ClosePassive | Action::Close => Ok(()),
        };
        assert!(result.is_ok(), "a result the session asked for was refused");
    }
}

fn fs_error(n: u8) -> FsError {
    match n % 6 {
        0 => FsError::NotFound,
        1 => FsError::PermissionDenied,
        2 => FsError::DiskFull,
        3 => FsError::ConnectionLost,
        4 => FsError::Other("x\r\n226 y".into()),
        _ => FsError::NotADirectory,
    }
}

fn check_path(path: &VirtualPath) {
    let text = path.as_str();
    assert!(text.starts_with('/'));
    assert!(!text.contains("//"));
    assert!(path.components().all(|c| c != "." && c != ".."));
}
