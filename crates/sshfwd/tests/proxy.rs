//! Reaching the server indirectly, against real OpenSSH sshds on
//! 127.0.0.1: `-J` chains (each hop with its own host key, known_hosts
//! entry and key), a refused hop key, `-J user@host:port`, ProxyCommand
//! (tokens, and one that exits at once), `-W` as a real ssh's
//! ProxyCommand, and `-b`.

use std::fs;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::sshd::{self, assert_exit, free_port, public_key_line, wait_for_port, Sshd};

/// Bound for a run through two hops (three logins).
const RUN: Duration = Duration::from_secs(40);
/// Bound for a forwarding to come up.
const READY: Duration = Duration::from_secs(30);
/// OpenSSH's regression suite's netcat (package openssh-tests).
const NETCAT: &str = "/usr/lib/openssh/regress/netcat";

/// Three sshds (hop1 → hop2 → target) and one ssh_config naming the hops,
/// each with its own port and client key; one known_hosts file for all.
struct Chain {
    hop1: Sshd,
    hop2: Sshd,
    target: Sshd,
    config: PathBuf,
    known_hosts: PathBuf,
}

impl Chain {
    fn start() -> Chain {
        let (hop1, hop2, target) = (Sshd::start(), Sshd::start(), Sshd::start());
        let known_hosts = target.dir().join("known_hosts_chain");
        let lines = [&hop1, &hop2, &target].map(|s| s.known_hosts_lines()).concat();
        fs::write(&known_hosts, lines).unwrap();
        let config = target.dir().join("chain_config");
        let chain = Chain { hop1, hop2, target, config, known_hosts };
        chain.write_config();
        chain
    }

    fn write_config(&self) {
        let host = |name: &str, sshd: &Sshd| {
            format!(
                "Host {name}\n  HostName 127.0.0.1\n  Port {}\n  IdentityFile {}\n",
                sshd.port(),
                sshd.client_key().display()
            )
        };
        let text = format!(
            "{}{}Host *\n  IdentityFile {}\n  IdentityFile {}\n  IdentitiesOnly yes\n  BatchMode yes\n  \
             StrictHostKeyChecking yes\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n",
            host("hop1", &self.hop1),
            host("hop2", &self.hop2),
            self.hop1.client_key().display(),
            self.hop2.client_key().display(),
            self.known_hosts.display(),
        );
        fs::write(&self.config, text).unwrap();
    }

    /// sshfwd to the target with the chain's config and known_hosts.
    fn sshfwd(&self) -> sshd::Sshfwd {
        let mut b = self.target.sshfwd();
        b.config = Some(self.config.clone());
        b.known_hosts = Some(self.known_hosts.clone());
        b
    }
}

fn accepted(sshd: &Sshd) -> bool {
    sshd.log().contains("Accepted publickey")
}

#[test]
fn a_jump_chain_of_two_hops_carries_a_command_and_a_forwarding() {
    let chain = Chain::start();
    let out = chain.sshfwd().args(["-J", "hop1,hop2"]).command(["echo", "through-two-hops"]).run(RUN);
    assert_exit(&out, 0);
    assert_eq!(out.stdout.trim(), "through-two-hops");
    assert!(accepted(&chain.hop1) && accepted(&chain.hop2) && accepted(&chain.target));

    // A -L forwarding through the same chain, to the target's own sshd.
    let port = free_port();
    let spec = format!("{port}:127.0.0.1:{}", chain.target.port());
    let mut running = chain.sshfwd().args(["-J", "hop1,hop2", "-N", "-L", &spec]).spawn();
    let local = SocketAddr::from(([127, 0, 0, 1], port));
    assert!(wait_for_port(local, READY), "forwarding never listened: {}", running.stderr());
    let mut stream = TcpStream::connect(local).unwrap();
    stream.set_read_timeout(Some(READY)).unwrap();
    let mut banner = [0u8; 7];
    stream.read_exact(&mut banner).unwrap();
    assert_eq!(&banner, b"SSH-2.0");
    running.kill();
}

#[test]
fn a_wrong_key_for_the_second_hop_fails_naming_that_hop() {
    let chain = Chain::start();
    // hop2's entry holds hop1's key.
    let lines = format!(
        "{}[127.0.0.1]:{} {}\n{}",
        chain.hop1.known_hosts_lines(),
        chain.hop2.port(),
        public_key_line(&chain.hop1.dir().join("host_ed25519")),
        chain.target.known_hosts_lines()
    );
    fs::write(&chain.known_hosts, lines).unwrap();
    let out = chain.sshfwd().args(["-J", "hop1,hop2"]).command(["true"]).run(RUN);
    assert_exit(&out, 255);
    assert!(out.stderr.contains("Host key verification failed."), "{}", out.stderr);
    assert!(out.stderr.contains("jump host hop2"), "{}", out.stderr);
    assert!(!accepted(&chain.hop2) && !accepted(&chain.target));
}

#[test]
fn a_jump_host_as_user_at_host_and_port() {
    let chain = Chain::start();
    let hop = format!("root@127.0.0.1:{}", chain.hop1.port());
    let out = chain.sshfwd().args(["-J", &hop]).command(["echo", "ok"]).run(RUN);
    assert_exit(&out, 0);
    assert_eq!(out.stdout.trim(), "ok");
    assert!(chain.hop1.log().contains("Accepted publickey for root"));
    // The same from the configuration, as an ssh:// URI.
    let out = chain.sshfwd().opt(format!("ProxyJump=ssh://{hop}")).command(["echo", "ok"]).run(RUN);
    assert_exit(&out, 0);
}

#[test]
fn proxy_command_gets_host_and_port() {
    let sshd = Sshd::start();
    let out = sshd.sshfwd().opt(format!("ProxyCommand={NETCAT} %h %p")).command(["echo", "via-netcat"]).run(RUN);
    assert_exit(&out, 0);
    assert_eq!(out.stdout.trim(), "via-netcat");
}

#[test]
fn proxy_command_that_exits_at_once_fails_quickly() {
    let sshd = Sshd::start();
    let started = Instant::now();
    let out = sshd.sshfwd().opt("ProxyCommand=sh -c 'echo gone >&2; exit 3'").command(["true"]).run(RUN);
    assert_exit(&out, 255);
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert!(out.stderr.contains("gone"), "the command's stderr is ours: {}", out.stderr);
    assert!(
        out.stderr.contains("kex_exchange_identification: Connection closed by remote host")
            && out.stderr.contains("Connection closed by UNKNOWN port 65535"),
        "{}",
        out.stderr
    );
}

#[test]
fn stdio_forwarding_serves_as_openssh_proxy_command() {
    let chain = Chain::start();
    let sshfwd = env!("CARGO_BIN_EXE_sshfwd");
    let proxy = format!("ProxyCommand={sshfwd} -F {} -W %h:%p hop1", chain.config.display());
    let out = Command::new("timeout")
        .arg(RUN.as_secs().to_string())
        .args(["ssh", "-F", "/dev/null", "-o", &proxy, "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", chain.known_hosts.display()))
        .args(["-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=/dev/null", "-i"])
        .arg(chain.target.client_key())
        .args(["-p", &chain.target.port().to_string(), "127.0.0.1", "echo", "via-W"])
        .env("HOME", chain.target.home())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "via-W");
    assert!(accepted(&chain.hop1) && accepted(&chain.target));
}

#[test]
fn stdio_forwarding_to_a_closed_port_fails() {
    let sshd = Sshd::start();
    let closed = format!("127.0.0.1:{}", free_port());
    let out = sshd.sshfwd().args(["-W", &closed]).run(RUN);
    assert_exit(&out, 255);
    assert!(out.stderr.contains("stdio forwarding failed"), "{}", out.stderr);
}

#[test]
fn bind_address_is_the_connection_source() {
    let sshd = Sshd::start();
    let out = sshd.sshfwd().args(["-b", "127.0.0.2"]).command(["true"]).run(RUN);
    assert_exit(&out, 0);
    assert!(sshd.log().contains("from 127.0.0.2"), "{}", sshd.log());
}

#[test]
fn address_family_restricts_the_addresses_tried() {
    let sshd = Sshd::start();
    let out = sshd.sshfwd().arg("-4").command(["echo", "v4"]).run(RUN);
    assert_exit(&out, 0);
    // The server listens on 127.0.0.1 only: IPv6 has no address for it.
    let out = sshd.sshfwd().arg("-6").command(["true"]).run(RUN);
    assert_exit(&out, 255);
    assert!(out.stderr.contains("Could not resolve hostname 127.0.0.1"), "{}", out.stderr);
}

#[test]
fn connection_attempts_try_again() {
    let sshd = Sshd::start();
    let mut b = sshd.sshfwd();
    b.port = Some(free_port());
    let out = b.opt("ConnectionAttempts=2").arg("-v").command(["true"]).run(RUN);
    assert_exit(&out, 255);
    assert_eq!(out.stderr.matches("Trying again...").count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("Connection refused"), "{}", out.stderr);
}
