//! The demo's self-check: through the FTP forward, in each data mode, a
//! listing, a download and an upload, each compared by SHA-256 with the
//! files on the FTP server's side.

use std::path::Path;
use std::time::Instant;

use sha2::{Digest, Sha256};
use sshfwd_demo::sample_bytes;

use crate::ftp_client::{FtpClient, FtpError, Mode};

/// One mode's result.
pub struct ModeResult {
    pub mode: Mode,
    pub bytes: u64,
    pub seconds: f64,
    pub outcome: Result<(), String>,
}

/// Who the self-check logs in as.
pub struct Login<'a> {
    pub user: &'a str,
    pub password: &'a str,
}

/// Runs the check in PASV, EPSV, PORT and EPRT against `address`, with the
/// served files at `root` and `download` a file there.
pub async fn run(address: &str, login: &Login<'_>, root: &Path, download: &str) -> Vec<ModeResult> {
    let mut results = Vec::new();
    for mode in [Mode::Pasv, Mode::Epsv, Mode::Port, Mode::Eprt] {
        let started = Instant::now();
        let mut bytes = 0u64;
        let outcome = check_mode(address, login, root, download, mode, &mut bytes).await.map_err(|e| e.to_string());
        results.push(ModeResult { mode, bytes, seconds: started.elapsed().as_secs_f64(), outcome });
    }
    results
}

#[derive(Debug, thiserror::Error)]
enum CheckError {
    #[error(transparent)]
    Ftp(#[from] FtpError),
    #[error("{0}")]
    Mismatch(String),
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
}

async fn check_mode(
    address: &str,
    login: &Login<'_>,
    root: &Path,
    download: &str,
    mode: Mode,
    bytes: &mut u64,
) -> Result<(), CheckError> {
    let (mut client, _) = FtpClient::connect(address).await?;
    client.login(login.user, login.password).await?;

    let listing = client.transfer(mode, "LIST", None).await?;
    *bytes += listing.len() as u64;
    if !String::from_utf8_lossy(&listing).contains(download) {
        return Err(CheckError::Mismatch(format!("LIST does not show {download}")));
    }

    let expected = read(&root.join(download))?;
    let got = client.transfer(mode, &format!("RETR {download}"), None).await?;
    *bytes += got.len() as u64;
    if Sha256::digest(&got) != Sha256::digest(&expected) {
        return Err(CheckError::Mismatch(format!(
            "RETR {download}: SHA-256 differs ({} of {} bytes)",
            got.len(),
            expected.len()
        )));
    }

    // Per login, so that the forward's and the bridge's uploads differ.
    let name = format!("upload-{}-{}.bin", login.user, mode.name().to_ascii_lowercase());
    let upload = sample_bytes(expected.len(), mode as u64 + 1);
    client.transfer(mode, &format!("STOR {name}"), Some(&upload)).await?;
    *bytes += upload.len() as u64;
    let stored = read(&root.join(&name))?;
    if Sha256::digest(&stored) != Sha256::digest(&upload) {
        return Err(CheckError::Mismatch(format!(
            "STOR {name}: SHA-256 differs ({} of {} bytes)",
            stored.len(),
            upload.len()
        )));
    }
    client.quit().await;
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>, CheckError> {
    std::fs::read(path).map_err(|source| CheckError::Read { path: path.display().to_string(), source })
}

/// The results as a small table.
pub fn table(results: &[ModeResult]) -> String {
    let mut text = String::from("mode   bytes        MB/s     ok\n");
    for r in results {
        let rate = r.bytes as f64 / r.seconds.max(1e-6) / 1e6;
        let ok = match &r.outcome {
            Ok(()) => "ok".to_owned(),
            Err(e) => format!("FAILED: {e}"),
        };
        text.push_str(&format!("{:<6} {:<12} {:<8.1} {ok}\n", r.mode.name(), r.bytes, rate));
    }
    text
}
