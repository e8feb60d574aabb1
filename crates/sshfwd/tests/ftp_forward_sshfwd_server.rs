//! The FTP forwarding end-to-end tests of `ftp_forward.rs`, once more with
//! sshfwd-server instead of OpenSSH's sshd on the SSH server's host.

#[path = "ftp_forward.rs"]
mod cases;

const SSH_SERVER: cases::netns::SshServer = cases::netns::SshServer::SshfwdServer;
