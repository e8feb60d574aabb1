//! sshfwd: an OpenSSH-compatible SSH client whose port forwardings
//! understand FTP.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

pub mod app;
pub mod audit;
pub mod background;
pub mod bridge;
pub mod cli;
pub mod demo;
pub mod exec;
pub mod forward;
pub mod ftp_check;
pub mod ftp_client;
pub mod jump_list;
pub mod local_command;
pub mod logging;
pub mod mux;
pub mod print_config;
pub mod query;
pub mod service;
pub mod settings;
pub mod ssh;
pub mod stdio_forward;
