//! sans-IO FTP control-channel logic for sshfwd: line framing with a hard
//! length cap, typed PORT/EPRT/PASV/EPSV commands and 227/229 replies,
//! their rendering, and the rewrite decisions; and, in [`server`], the FTP
//! server side of the FTP→SFTP bridge; in [`audit`], what an audit log
//! records of a control connection. No sockets, no runtime: the caller
//! moves bytes and opens channels, this crate only decides.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

pub mod audit;
pub mod command;
pub mod framing;
pub mod policy;
pub mod render;
pub mod reply;
pub mod server;

mod numbers;
