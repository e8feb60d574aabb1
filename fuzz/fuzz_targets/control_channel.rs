//! Feeds arbitrary bytes, cut at arbitrary places, through the framer and
//! both sides of the policy, as a hostile client and server would. Nothing
//! may panic, no line may exceed the cap, and every rewritten line must
//! parse back to what was decided.
#![no_main]

use ftp_proto::framing::LineFramer;
use ftp_proto::policy::{ClientAction, ControlPolicy, PolicyConfig, ServerAction, SessionFacts};
use ftp_proto::render;
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 512;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else { return };
    let facts = SessionFacts { client_ip: [127, 0, 0, 1].into(), server_host: "127.0.0.1".into() };
    let mut policy = ControlPolicy::new(facts, PolicyConfig::default());
    let mut framer = LineFramer::new(LIMIT);
    for (i, chunk) in rest.chunks(usize::from(cut).max(1)).enumerate() {
        framer.push(chunk);
        loop {
            match framer.next_line() {
                Ok(Some(line)) => {
                    assert!(line.len() <= LIMIT);
                    if i % 2 == 0 {
                        if let ClientAction::Active { target, kind } = policy.handle_client_line(&line) {
                            assert!(target.port() >= 1024);
                            let rewritten = render::active_command(kind, target);
                            assert!(rewritten.ends_with(b"\r\n"));
                            policy.active_command_sent();
                        }
                    } else if let ServerAction::Passive { target, kind, .. } = policy.handle_server_line(&line) {
                        assert!(target.port >= 1024);
                        let reply = render::passive_reply(kind, ([127, 0, 0, 1], target.port).into());
                        if reply.starts_with(b"227") {
                            assert_eq!(ftp_proto::reply::parse_pasv_reply(&reply).map(|a| a.port()), Ok(target.port));
                        }
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    let _ = framer.finish();
});
