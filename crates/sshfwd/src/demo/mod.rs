//! `sshfwd --demo`: the whole FTP-over-SSH path on loopback with one
//! command and nothing installed. An in-process SSH server and FTP server
//! (the `sshfwd-demo` crate), an `-L ftp/` forward through a real SSH
//! connection between them; then a self-check in every data mode,
//! copy-paste commands for real FTP clients, and the forward stays up until
//! Ctrl-C.
//!
//! The servers are linked only with the `demo` cargo feature (a default):
//! without it `--demo` says so and fails.

#[cfg(feature = "demo")]
mod client;
#[cfg(feature = "demo")]
mod self_check;

#[cfg(feature = "demo")]
pub use client::run;

/// Why `--demo` cannot run in a build without the feature.
#[cfg(not(feature = "demo"))]
const LEFT_OUT: &str =
    "sshfwd was built without the demo; rebuild it with its default features (cargo build -p sshfwd --features demo)";

/// Without the `demo` feature: says so and returns OpenSSH's failure status.
#[cfg(not(feature = "demo"))]
pub async fn run(_once: bool) -> i32 {
    eprintln!("sshfwd --demo: {LEFT_OUT}");
    crate::app::EXIT_FAILURE
}

#[cfg(all(test, not(feature = "demo")))]
mod tests {
    #[tokio::test]
    async fn without_the_feature_the_demo_fails_with_255() {
        assert_eq!(super::run(true).await, 255);
    }
}
