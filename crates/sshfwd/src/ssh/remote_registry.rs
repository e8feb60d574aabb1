//! Which task receives the connections that the server opens for each of
//! our remote forwardings: tcpip-forward ones keyed by the listening port
//! the server reports, streamlocal-forward ones by their socket path.

use std::collections::HashMap;
use std::sync::Mutex;

use super::channel::SshChannel;
use super::tunnel::{ForwardedSink, ForwardedStreamSink};

/// The forwardings on one port, by the address each was requested for.
type OnPort = Vec<(String, ForwardedSink<SshChannel>)>;

#[derive(Default)]
pub struct RemoteRegistry {
    by_port: Mutex<HashMap<u32, OnPort>>,
    by_path: Mutex<HashMap<String, ForwardedStreamSink<SshChannel>>>,
}

impl RemoteRegistry {
    pub fn insert(&self, address: &str, port: u32, sink: ForwardedSink<SshChannel>) {
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

    pub fn insert_path(&self, path: &str, sink: ForwardedStreamSink<SshChannel>) {
        self.by_path.lock().unwrap_or_else(|p| p.into_inner()).insert(path.to_owned(), sink);
    }

    pub fn remove_path(&self, path: &str) {
        self.by_path.lock().unwrap_or_else(|p| p.into_inner()).remove(path);
    }

    /// The sink for a connection on the remote socket `path`.
    pub fn lookup_path(&self, path: &str) -> Option<ForwardedStreamSink<SshChannel>> {
        self.by_path.lock().unwrap_or_else(|p| p.into_inner()).get(path).cloned()
    }

    /// The sink for a forwarded connection. Servers report the address as
    /// requested or as bound, so an exact address match wins and a sole entry
    /// on the port is taken otherwise.
    pub fn lookup(&self, address: &str, port: u32) -> Option<ForwardedSink<SshChannel>> {
        let map = self.by_port.lock().unwrap_or_else(|p| p.into_inner());
        let entries = map.get(&port)?;
        entries
            .iter()
            .find(|(a, _)| a == address)
            .or_else(|| if entries.len() == 1 { entries.first() } else { None })
            .map(|(_, sink)| sink.clone())
    }
}
