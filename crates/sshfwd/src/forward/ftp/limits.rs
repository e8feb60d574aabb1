//! How many data forwardings may exist, and session numbers for the logs.
//! Made once per run and handed to each FTP forwarding: no process-global
//! state, so that tests and `FtpMaxDataChannels` set their own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Data forwardings (waiting or relaying) one session may have at once: FTP
/// uses one at a time, so more is a client or server gone wrong.
pub const DATA_CHANNELS_PER_SESSION: usize = 8;

/// The caps on data forwardings, shared by the sessions they apply to.
#[derive(Clone, Debug)]
pub struct DataLimits {
    pub per_session: usize,
    total: Arc<Semaphore>,
    total_limit: usize,
}

/// Which cap refused a data forwarding; the message goes to the FTP client
/// in a 425, so it says how to raise the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitReached {
    /// The session has [`DATA_CHANNELS_PER_SESSION`] already: a client or
    /// server gone wrong, so the cap is fixed.
    #[error("too many data connections in this session (limit {0}, fixed: FTP uses one at a time)")]
    Session(usize),
    /// Every session together has `FtpMaxDataChannels`.
    #[error("too many data connections through sshfwd at once (limit {0}; raise it with FtpMaxDataChannels)")]
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

impl DataLimits {
    /// `FtpMaxDataChannels` in all, or as many as the open-file limit
    /// allows (see [`Sizing`](crate::forward::open_files::Sizing)).
    pub fn configured(total: Option<usize>) -> Self {
        let total = total.unwrap_or_else(|| crate::forward::open_files::Sizing::current().data_channels);
        Self::new(DATA_CHANNELS_PER_SESSION, total)
    }

    /// The cap on data forwardings across all sessions.
    pub fn total(&self) -> usize {
        self.total_limit
    }
}

impl Default for DataLimits {
    /// Sized to the open-file limit.
    fn default() -> Self {
        Self::configured(None)
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
    fn each_refusal_says_how_far_and_how_to_raise() {
        assert_eq!(
            LimitReached::Total(1024).to_string(),
            "too many data connections through sshfwd at once (limit 1024; raise it with FtpMaxDataChannels)"
        );
        assert!(LimitReached::Session(8).to_string().contains("in this session (limit 8, fixed"));
    }

    #[test]
    fn the_configured_total_wins_over_the_sizing() {
        assert_eq!(DataLimits::configured(Some(20_000)).total(), 20_000);
        let sized = crate::forward::open_files::Sizing::current().data_channels;
        assert_eq!(DataLimits::configured(None).total(), sized);
        assert_eq!(DataLimits::configured(None).per_session, DATA_CHANNELS_PER_SESSION);
    }

    #[test]
    fn session_ids_start_at_one_and_are_shared_by_clones() {
        let ids = SessionIds::default();
        let other = ids.clone();
        assert_eq!((ids.next(), other.next(), ids.next()), (1, 2, 3));
    }
}
