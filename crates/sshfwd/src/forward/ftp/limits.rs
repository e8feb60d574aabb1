//! How many data forwardings may exist, and session numbers for the logs.
//! Made once per run and handed to each FTP forwarding: no process-global
//! state, so that tests (and later, configuration) set their own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Data forwardings (waiting or relaying) one session may have at once: FTP
/// uses one at a time, so more is a client or server gone wrong.
pub const DATA_CHANNELS_PER_SESSION: usize = 8;
/// Data forwardings across all sessions, so that no flood of PASV/PORT can
/// exhaust ports, remote forwardings or memory.
pub const DATA_CHANNELS_TOTAL: usize = 1024;

/// The caps on data forwardings, shared by the sessions they apply to.
#[derive(Clone, Debug)]
pub struct DataLimits {
    pub per_session: usize,
    total: Arc<Semaphore>,
    total_limit: usize,
}

/// Which cap refused a data forwarding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitReached {
    #[error("too many data connections in this session (limit {0})")]
    Session(usize),
    #[error("too many data connections through sshfwd at once (limit {0})")]
    Total(usize),
}

/// Held by a data forwarding for as long as it exists.
#[derive(Debug)]
pub struct DataPermit {
    _total: OwnedSemaphorePermit,
}

impl DataLimits {
    pub fn new(per_session: usize, total: usize) -> Self {
        Self { per_session, total: Arc::new(Semaphore::new(total)), total_limit: total }
    }

    /// A place for one more data forwarding of a session that has
    /// `in_session` already.
    pub fn acquire(&self, in_session: usize) -> Result<DataPermit, LimitReached> {
        if in_session >= self.per_session {
            return Err(LimitReached::Session(self.per_session));
        }
        let total = self.total.clone().try_acquire_owned().map_err(|_| LimitReached::Total(self.total_limit))?;
        Ok(DataPermit { _total: total })
    }
}

impl Default for DataLimits {
    fn default() -> Self {
        Self::new(DATA_CHANNELS_PER_SESSION, DATA_CHANNELS_TOTAL)
    }
}

/// Hands out session numbers, unique within a run.
#[derive(Clone, Debug, Default)]
pub struct SessionIds(Arc<AtomicU64>);

impl SessionIds {
    pub fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cap_names_itself() {
        let limits = DataLimits::new(2, 3);
        assert_eq!(limits.acquire(2).unwrap_err(), LimitReached::Session(2));
        let held: Vec<_> = (0..3).map(|_| limits.acquire(0).unwrap()).collect();
        assert_eq!(limits.acquire(0).unwrap_err(), LimitReached::Total(3));
        drop(held);
        assert!(limits.acquire(1).is_ok());
    }

    #[test]
    fn session_ids_start_at_one_and_are_shared_by_clones() {
        let ids = SessionIds::default();
        let other = ids.clone();
        assert_eq!((ids.next(), other.next(), ids.next()), (1, 2, 3));
    }
}
