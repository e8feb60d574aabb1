//! One SSH connection shared by many users of it, made again on demand
//! once it is lost (the FTP→SFTP bridge's session mode: the next FTP login
//! after an outage reconnects).

use std::sync::Arc;

use tokio::sync::Mutex;

use super::connection::{connect, ConnectError, ConnectOptions, SshConnection};

pub struct SharedConnection {
    options: ConnectOptions,
    /// Held across a reconnection, so that logins arriving during one
    /// wait for it instead of each starting their own.
    current: Mutex<Option<Arc<SshConnection>>>,
}

impl SharedConnection {
    /// Shares `connection`, made earlier with `options`.
    pub fn new(options: ConnectOptions, connection: Arc<SshConnection>) -> Self {
        Self { options, current: Mutex::new(Some(connection)) }
    }

    /// The live connection, connecting again (host key checked again) if
    /// the last one has ended.
    pub async fn get(&self) -> Result<Arc<SshConnection>, ConnectError> {
        let mut current = self.current.lock().await;
        if let Some(connection) = current.as_ref().filter(|c| !c.is_ended()) {
            return Ok(connection.clone());
        }
        tracing::info!("Reconnecting to {} port {}", self.options.host, self.options.port);
        let connection = Arc::new(connect(&self.options).await?);
        tracing::info!("Reconnected to {} port {}", self.options.host, self.options.port);
        *current = Some(connection.clone());
        Ok(connection)
    }

    /// The connection as it is now, live or not.
    pub async fn current(&self) -> Option<Arc<SshConnection>> {
        self.current.lock().await.clone()
    }
}
