//! The open-file limit, and the caps sized to it. Every forwarded
//! connection and every FTP data channel holds a file descriptor, so the
//! descriptors a process may open, not a constant, bound how many it can
//! serve. As servers do, the soft limit is first raised to the hard one.

use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};

/// Descriptors kept for everything but forwarded connections: stdio, the
/// SSH connection (and a pool of them for the bridge), listeners, logs,
/// the files read at start.
pub const RESERVED: u64 = 64;
/// The smallest cap, however low the limit: a forwarding that serves
/// nobody is of no use, and accept backs off when descriptors run out.
pub const MIN_CAP: usize = 16;
/// Taken as the limit when there is none (`unlimited`): the kernel's
/// default `fs.nr_open`.
const UNLIMITED: u64 = 1 << 20;

/// What [`raise_to_hard_limit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raised {
    pub from: u64,
    pub to: u64,
}

/// Why the limit could not be read or raised.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// getrlimit(2) failed.
    #[error("cannot read the open-file limit: {0}")]
    Read(nix::Error),
    /// setrlimit(2) refused the hard limit as the soft one.
    #[error("cannot raise the open-file limit from {from} to {to}: {source}")]
    Raise { from: u64, to: u64, source: nix::Error },
}

/// Raises the soft RLIMIT_NOFILE to the hard limit.
pub fn raise_to_hard_limit() -> Result<Raised, LimitError> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(LimitError::Read)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(|source| LimitError::Raise {
            from: soft,
            to: hard,
            source,
        })?;
    }
    Ok(Raised { from: soft, to: hard.max(soft) })
}

/// The soft open-file limit in force, `None` when it cannot be read.
pub fn current() -> Option<u64> {
    getrlimit(Resource::RLIMIT_NOFILE).ok().map(|(soft, _)| soft)
}

/// The default caps for a process allowed `open_files` descriptors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizing {
    /// Connections one forwarding serves at once (`MaxForwardedConnections`).
    pub forwarded_connections: usize,
    /// FTP data channels waiting or open at once (`FtpMaxDataChannels`).
    pub data_channels: usize,
    /// Sessions one FTP-to-SFTP bridge serves at once.
    pub bridge_sessions: usize,
}

impl Sizing {
    /// Two thirds of the spare descriptors for connections, one third for
    /// FTP data channels, so that both caps reached together still fit: a
    /// connection holds one descriptor, a data channel one (two while its
    /// listener waits), and most FTP sessions are idle between transfers.
    /// A bridged session holds its control connection, a data connection
    /// and in passthrough an SSH connection: a third.
    pub fn for_open_files(open_files: u64) -> Self {
        let limit = if open_files == RLIM_INFINITY { UNLIMITED } else { open_files };
        let spare = usize::try_from(limit.saturating_sub(RESERVED)).unwrap_or(usize::MAX);
        Self {
            forwarded_connections: (spare / 3 * 2).max(MIN_CAP),
            data_channels: (spare / 3).max(MIN_CAP),
            bridge_sessions: (spare / 3).max(MIN_CAP),
        }
    }

    /// Sized to the limit in force now; the smallest caps when it cannot
    /// be read.
    pub fn current() -> Self {
        Self::for_open_files(current().unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_follow_the_limit() {
        // (limit, connections, data channels, bridge sessions)
        let cases = [
            (1024, 640, 320, 320),
            // The shell's limit on these machines: 10,000 FTP sessions fit.
            (20_000, 13_290, 6645, 6645),
            (65_536, 43_648, 21_824, 21_824),
            // Below the reserve: the floor, not zero.
            (0, MIN_CAP, MIN_CAP, MIN_CAP),
            (100, 24, MIN_CAP, MIN_CAP),
            (RLIM_INFINITY, 699_008, 349_504, 349_504),
        ];
        for (limit, connections, data, bridge) in cases {
            let sizing = Sizing::for_open_files(limit);
            assert_eq!(
                (sizing.forwarded_connections, sizing.data_channels, sizing.bridge_sessions),
                (connections, data, bridge),
                "limit {limit}"
            );
        }
    }

    #[test]
    fn raising_leaves_the_soft_limit_at_the_hard_one() {
        let raised = raise_to_hard_limit().unwrap();
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!((raised.to, soft), (hard, hard));
        assert!(raised.from <= raised.to);
        assert_eq!(current(), Some(soft));
    }
}
