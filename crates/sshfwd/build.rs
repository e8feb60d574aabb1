//! Tells the integration tests whether they are built by root. Tests that
//! need root (network namespaces) are then compiled `#[ignore]`d with their
//! reason for anyone else, instead of returning early and counting as passed:
//! libtest cannot turn a test into an ignored one once it runs.
//!
//! The cfg describes the user who built the tests. `common::root_cfg_matches`
//! (a test that always runs) fails when another user runs them.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(tests_as_root)");
    println!("cargo::rerun-if-changed=build.rs");
    // `sudo`, `su` and login shells set these: a change of user reruns this.
    for variable in ["USER", "HOME", "SUDO_UID"] {
        println!("cargo::rerun-if-env-changed={variable}");
    }
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        println!("cargo::rustc-cfg=tests_as_root");
    }
}
