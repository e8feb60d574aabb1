//! The demo's FTP server: libunftp with its filesystem back end, anonymous
//! logins, passive and active mode, on a loopback port of its own.

use std::net::SocketAddr;
use std::path::PathBuf;

use libunftp::options::ActivePassiveMode;
use tokio::net::TcpListener;
use unftp_sbe_fs::Filesystem;

/// Binds 127.0.0.1 on a free port and serves FTP from `root` until the
/// returned task is dropped or aborted.
pub(crate) async fn start(
    root: PathBuf,
) -> std::io::Result<(SocketAddr, impl std::future::Future<Output = ()> + Send + 'static)> {
    // Refuse an unusable root now, while the error can still be reported.
    Filesystem::new(root.clone())?;
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let address = listener.local_addr()?;
    Ok((address, serve(listener, root)))
}

async fn serve(listener: TcpListener, root: PathBuf) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("demo FTP server: accept: {e}");
                continue;
            }
        };
        let root = root.clone();
        // libunftp's `service` consumes its server: one per connection.
        let server = libunftp::ServerBuilder::new(Box::new(move || filesystem(&root)))
            .greeting("sshfwd demo FTP server (libunftp)")
            .active_passive_mode(ActivePassiveMode::ActiveAndPassive)
            .build();
        match server {
            Ok(server) => {
                tokio::spawn(async move {
                    if let Err(e) = server.service(stream).await {
                        tracing::debug!("demo FTP server: session from {peer}: {e}");
                    }
                });
            }
            Err(e) => tracing::warn!("demo FTP server: {e}"),
        }
    }
}

#[allow(clippy::expect_used)]
fn filesystem(root: &std::path::Path) -> Filesystem {
    // `start` opened this directory successfully, and it is the demo's own
    // temporary directory, which lives as long as the server.
    Filesystem::new(root).expect("the demo's FTP root was opened at start")
}
