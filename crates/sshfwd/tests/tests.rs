//! sshfwd's integration tests, built as one test binary (as ripgrep does):
//! each file here is a module, `common` holds what they share.
//!
//! Tests that need root (network namespaces, useradd) are ignored, with
//! that reason, when the tests are built by another user; see
//! `crates/sshfwd/build.rs`. Run everything (as root) with
//! `cargo test -p sshfwd --test integration`, or pick with a filter:
//! `ftp_forward::openssh`, `ftp_forward::sshfwd_server`, `ftp_to_sftp`, `ssh_client`,
//! `diagnostics`, `service`, `gateway`, `fwd`, `mux`, or any test's name.

mod audit_log;
mod common;
mod config;
mod diagnostics;
mod ftp_forward;
mod ftp_to_sftp;
mod fwd;
mod gateway;
mod mux;
mod process;
mod proxy;
mod reconnect;
mod service;
mod ssh_client;
