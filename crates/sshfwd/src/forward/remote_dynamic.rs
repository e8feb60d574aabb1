//! -R [bind:]port alone (OpenSSH 7.6+): the server listens, and each
//! connection it forwards is a SOCKS client answered here, with the SOCKS
//! logic of -D; the requested destination is connected from here, when
//! `PermitRemoteOpen` allows it.

use ssh_files::forward_spec::PermitOpen;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::dynamic;
use crate::ssh::{DataChannel, Forwarded};

/// Serves one forwarded connection: its SOCKS request, the connection
/// here, then the relay.
pub async fn connection<C: DataChannel>(connection: Forwarded<C>, permit: PermitOpen) {
    let peer = connection.originator;
    let mut channel = connection.channel.into_stream();
    let request = match dynamic::handshake(&mut channel).await {
        Ok(request) => request,
        Err(e) => {
            tracing::info!("remote dynamic forwarding from {peer}: {e}");
            return;
        }
    };
    let (host, port) = (request.host.as_str(), request.port);
    if !permit.allows(host, port) {
        tracing::info!(
            "Received request from {peer} to connect to host {host} port {port}, but the request was denied."
        );
        let _ = channel.write_all(&dynamic::failure_reply(request.version)).await;
        return;
    }
    let mut stream = match TcpStream::connect((host, port)).await {
        Ok(stream) => stream,
        Err(e) => {
            tracing::info!("connect_to {host} port {port}: failed: {}", sshfwd_net::io_reason(&e));
            let _ = channel.write_all(&dynamic::failure_reply(request.version)).await;
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    tracing::debug!("remote dynamic forwarding from {peer} to {host}:{port}");
    if channel.write_all(&dynamic::success_reply(request.version)).await.is_err() {
        return;
    }
    // Each side's end is passed on (EOF on the channel, FIN on the socket);
    // dropping the stream afterwards closes the channel.
    if let Err(e) = tokio::io::copy_bidirectional(&mut channel, &mut stream).await {
        tracing::debug!("remote dynamic forwarding {peer} -> {host}:{port} ended: {e}");
    }
}
