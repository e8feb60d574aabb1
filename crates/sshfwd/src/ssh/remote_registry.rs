//! Which task receives the connections that the server opens for each of
//! our remote forwardings (tcpip-forward), keyed by the listening port the
//! server reports.

use std::collections::HashMap;
use std::sync::Mutex;

use russh::client::Msg;
use russh::Channel;
use tokio::sync::mpsc;

/// A connection the SSH server accepted on one of our remote forwardings.
pub struct ForwardedConnection {
    pub channel: Channel<Msg>,
    /// `address:port` of the peer that connected on the server side.
    pub originator: String,
    pub originator_address: String,
}

pub type ForwardedSink = mpsc::UnboundedSender<ForwardedConnection>;

#[derive(Default)]
pub struct RemoteRegistry {
    by_port: Mutex<HashMap<u32, Vec<(String, ForwardedSink)>>>,
}

impl RemoteRegistry {
    pub fn insert(&self, address: &str, port: u32, sink: ForwardedSink) {
        let mut map = self.by_port.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(port).or_default().push((address.to_owned(), sink));
    }

    pub fn remove(&self, address: &str, port: u32) {
        let mut map = self.by_port.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entries) = map.get_mut(&port) {
            entries.retain(|(a, _)| a != address);
            if entries.is_empty() {
                map.remove(&port);
            }
        }
    }

    /// The sink for a forwarded connection. Servers report the address as
    /// requested or as bound, so an exact address match wins and a sole entry
    /// on the port is taken otherwise.
    pub fn lookup(&self, address: &str, port: u32) -> Option<ForwardedSink> {
        let map = self.by_port.lock().unwrap_or_else(|p| p.into_inner());
        let entries = map.get(&port)?;
        entries
            .iter()
            .find(|(a, _)| a == address)
            .or_else(|| if entries.len() == 1 { entries.first() } else { None })
            .map(|(_, sink)| sink.clone())
    }

    pub fn len(&self) -> usize {
        let map = self.by_port.lock().unwrap_or_else(|p| p.into_inner());
        map.values().map(Vec::len).sum()
    }
}
