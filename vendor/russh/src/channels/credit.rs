//! Flow control by consumption (sshfwd's patch to russh 0.65.1).
//!
//! Upstream russh widens the peer's window as soon as channel data arrives,
//! so a reader that stops reading leaves the peer free to send; the session
//! then parks on that channel's full queue and every other channel of the
//! connection stalls with it. Here the window is widened only for data the
//! application has taken from the queue, as OpenSSH does: the peer stops
//! sending on a stalled channel and the others go on.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// What the application has read from one channel since the session last
/// widened that channel's window.
#[derive(Debug)]
pub struct ChannelCredit {
    consumed: AtomicU32,
    /// Reads below this are gathered before the session is woken, so that
    /// window adjustments are few and large.
    threshold: u32,
    session: Arc<Notify>,
}

impl ChannelCredit {
    pub(crate) fn new(session: Arc<Notify>, window_size: u32) -> Arc<Self> {
        Arc::new(Self { consumed: AtomicU32::new(0), threshold: (window_size / 8).max(1), session })
    }

    /// The application took `len` bytes of channel data from the queue.
    pub(crate) fn consume(&self, len: usize) {
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        let before = self.consumed.fetch_add(len, Ordering::AcqRel);
        if before < self.threshold && before.saturating_add(len) >= self.threshold {
            self.session.notify_one();
        }
    }

    /// The bytes to give back to the peer, once enough have gathered.
    pub(crate) fn take_due(&self) -> u32 {
        if self.consumed.load(Ordering::Acquire) >= self.threshold {
            self.consumed.swap(0, Ordering::AcqRel)
        } else {
            0
        }
    }
}
