//! `sshfwd --ftp-check [user[:password]@]host:port`: logs in to an FTP
//! endpoint and tries a listing in each data mode, saying per mode what
//! worked, how long it took, and why a failure happened.

use std::net::SocketAddr;
use std::time::Instant;

use crate::ftp_client::{FtpClient, FtpError, Mode};

/// Where to check, parsed from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub user: String,
    pub password: String,
    pub address: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("--ftp-check: bad endpoint '{0}': expected [user[:password]@]host:port")]
pub struct EndpointError(String);

impl std::str::FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || EndpointError(text.to_owned());
        let (credentials, address) = match text.rsplit_once('@') {
            Some((c, a)) => (Some(c), a),
            None => (None, text),
        };
        let (user, password) = match credentials {
            Some(c) => match c.split_once(':') {
                Some((u, p)) => (u.to_owned(), p.to_owned()),
                None => (c.to_owned(), String::new()),
            },
            None => ("anonymous".to_owned(), "sshfwd@".to_owned()),
        };
        let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        if host.is_empty() || port == 0 || user.is_empty() {
            return Err(bad());
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let address = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        Ok(Endpoint { user, password, address })
    }
}

/// Why the check failed; the report on stdout says more.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckError {
    /// Nothing answered FTP at the endpoint.
    #[error("--ftp-check: nothing answers FTP at {0}")]
    Unreachable(String),
    /// The server refused the login.
    #[error("--ftp-check: login to {0} failed")]
    Login(String),
    /// The endpoint stopped answering between two modes.
    #[error("--ftp-check: lost the connection to {0}")]
    Reconnect(String),
    /// Some data modes the server supports did not work.
    #[error("--ftp-check: {failed} data mode(s) failed through {address}")]
    Modes { address: String, failed: usize },
}

/// What happened in one mode.
#[derive(Debug)]
pub enum Outcome {
    Worked { bytes: usize, millis: u128 },
    Unsupported { reply: String },
    Failed { error: String, hint: String },
}

/// Runs the check and prints the report on stdout.
pub async fn run(endpoint: &Endpoint) -> Result<(), CheckError> {
    println!("Checking FTP endpoint {} as {}", endpoint.address, endpoint.user);
    let (mut client, greeting) = match FtpClient::connect(&endpoint.address).await {
        Ok(c) => c,
        Err(e) => {
            println!("FAILED: {e}");
            println!("hint: nothing answers FTP at {}: is the forward running?", endpoint.address);
            return Err(CheckError::Unreachable(endpoint.address.clone()));
        }
    };
    println!("greeting: {}", greeting.text.lines().next().unwrap_or_default());
    if let Err(e) = client.login(&endpoint.user, &endpoint.password).await {
        println!("FAILED: login: {e}");
        return Err(CheckError::Login(endpoint.address.clone()));
    }
    let peer = client.peer();
    let mut failed = 0;
    for mode in Mode::ALL {
        let started = Instant::now();
        let outcome = match client.transfer(mode, "LIST", None).await {
            Ok(bytes) => Outcome::Worked { bytes: bytes.len(), millis: started.elapsed().as_millis() },
            // 502 is "not implemented"; a bare EPSV answered 500 is not understood.
            Err(FtpError::Refused { code, reply, step })
                if step.starts_with(mode.name()) && (code == 502 || (code == 500 && mode == Mode::Epsv)) =>
            {
                Outcome::Unsupported { reply }
            }
            Err(e) => Outcome::Failed { hint: hint(mode, &e, peer), error: e.to_string() },
        };
        match &outcome {
            Outcome::Worked { bytes, millis } => {
                println!("{:<5} ok       LIST {bytes} bytes in {millis} ms", mode.name())
            }
            Outcome::Unsupported { reply } => {
                println!("{:<5} skipped  not supported by the server: {reply}", mode.name())
            }
            Outcome::Failed { error, hint } => {
                failed += 1;
                println!("{:<5} FAILED   {error}", mode.name());
                println!("      hint: {hint}");
            }
        }
        if matches!(outcome, Outcome::Failed { .. }) {
            // A failed data connection can leave the control connection in
            // an unknown state; start the next mode afresh.
            match reconnect(endpoint).await {
                Some(c) => client = c,
                None => return Err(CheckError::Reconnect(endpoint.address.clone())),
            }
        }
    }
    client.quit().await;
    if failed > 0 {
        return Err(CheckError::Modes { address: endpoint.address.clone(), failed });
    }
    println!("All data modes the server supports work.");
    Ok(())
}

async fn reconnect(endpoint: &Endpoint) -> Option<FtpClient> {
    let (mut client, _) = FtpClient::connect(&endpoint.address).await.ok()?;
    client.login(&endpoint.user, &endpoint.password).await.ok()?;
    Some(client)
}

/// The likely cause of a failure, in an administrator's words.
fn hint(mode: Mode, error: &FtpError, control_peer: SocketAddr) -> String {
    match error {
        FtpError::DataConnect { address, .. } if address.ip() != control_peer.ip() => format!(
            "the {} reply pointed at {}, which this host cannot reach: the forward is not FTP-aware (use -L ftp/...)",
            mode.name(),
            address.ip()
        ),
        FtpError::DataConnect { address, .. } => format!(
            "nothing listens on {address} for the {} data connection: the forward is not FTP-aware (use -L ftp/...)",
            mode.name()
        ),
        FtpError::Refused { step, reply, .. } if step.starts_with(mode.name()) => format!(
            "server refused {}: bounce protection (the address must be the client's own) or active mode disabled ({reply})",
            mode.name()
        ),
        FtpError::Refused { code: 425, .. } if matches!(mode, Mode::Eprt | Mode::Port) => format!(
            "the server could not connect back for {}: active mode through a plain forward cannot work; use -L ftp/...",
            mode.name()
        ),
        FtpError::NoConnectBack { address, .. } => format!(
            "the server could not connect back to {address}: active mode through a plain forward cannot work; use -L ftp/..."
        ),
        FtpError::Timeout { .. } => "the server or the forward stopped answering".into(),
        _ => "see the error above".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let e: Endpoint = "127.0.0.1:2121".parse().unwrap();
        assert_eq!(
            (e.user.as_str(), e.password.as_str(), e.address.as_str()),
            ("anonymous", "sshfwd@", "127.0.0.1:2121")
        );
        let e: Endpoint = "bob:s3:cret@host:21".parse().unwrap();
        assert_eq!((e.user.as_str(), e.password.as_str(), e.address.as_str()), ("bob", "s3:cret", "host:21"));
        let e: Endpoint = "bob@[::1]:21".parse().unwrap();
        assert_eq!((e.user.as_str(), e.password.as_str(), e.address.as_str()), ("bob", "", "[::1]:21"));
        for bad in ["host", "host:0", "host:x", ":21", "@host:21"] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad}");
        }
    }
}
