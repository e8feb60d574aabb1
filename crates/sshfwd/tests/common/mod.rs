//! Harnesses shared by the test modules: a real OpenSSH sshd on loopback
//! (`sshd`), the network-namespace topology of the FTP tests (`netns`), and
//! the FTP→SFTP bridge with its peers and FTP clients (`bridge`, `ftp_client`).

pub mod bridge;
pub mod echo;
pub mod ftp_client;
pub mod netns;
pub mod sshd;

/// A child process killed (and reaped) on drop, so that a failing test
/// leaves no process behind.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Panics unless this process runs as root: a test that needs root must not
/// pass without doing its work. Such tests are ignored for other users
/// (`cfg(tests_as_root)`), so this fires only when the binary was built by
/// root and run by someone else.
#[track_caller]
pub fn require_root(what: &str) {
    assert!(
        is_root(),
        "{what} needs root, and this test binary was built by root but runs as another user; \
         rebuild it as this user to have such tests ignored, or run it as root"
    );
}

/// The root-only tests are ignored exactly when not running as root: a test
/// binary built by one user and run by another would otherwise skip them
/// silently (built by a user, run by root) or fail them all (the reverse).
#[test]
fn root_only_tests_are_ignored_exactly_when_not_root() {
    assert_eq!(
        cfg!(tests_as_root),
        is_root(),
        "the tests were built by {} but run as {}: rebuild them as this user (touch crates/sshfwd/build.rs)",
        if cfg!(tests_as_root) { "root" } else { "another user" },
        if is_root() { "root" } else { "another user" },
    );
}

/// With `autotests = false`, a file in tests/ that tests.rs does not name as
/// a module is never compiled: its tests would silently not exist.
#[test]
fn every_test_file_is_a_module_of_the_test_binary() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let root = std::fs::read_to_string(dir.join("tests.rs")).expect("read tests/tests.rs");
    let entries = std::fs::read_dir(&dir).expect("list tests/");
    for entry in entries {
        let path = entry.expect("entry of tests/").path();
        let Some(name) = path.file_stem().and_then(|n| n.to_str()) else { continue };
        let is_module = path.extension().is_some_and(|e| e == "rs") || path.join("mod.rs").exists();
        if is_module && name != "tests" {
            assert!(root.contains(&format!("mod {name};")), "tests/tests.rs lacks `mod {name};`: its tests never run");
        }
    }
}
