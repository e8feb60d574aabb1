//! One connection's way through login: its place among the unauthenticated
//! connections (sshfwd-net's admission: MaxStartups, PerSourceMaxStartups),
//! then, once authenticated, its place among the authenticated ones; and
//! at its end, the penalty its source earned if it never logged in.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sshfwd_net::admission::{Admission, Offence, Startup};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The authenticated connections' cap is reached.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("{0} authenticated connections open, the limit (--max-connections)")]
pub(crate) struct SessionsFull(pub(crate) usize);

pub(crate) struct LoginState {
    peer: IpAddr,
    admission: Arc<Admission>,
    startup: Mutex<Option<Startup>>,
    /// A method other than "none" was tried.
    attempted: AtomicBool,
    authenticated: AtomicBool,
    /// Authenticated, but turned away for want of a place: the source did
    /// nothing wrong.
    turned_away: AtomicBool,
    places: Arc<Semaphore>,
    limit: usize,
    place: Mutex<Option<OwnedSemaphorePermit>>,
}

impl LoginState {
    pub(crate) fn new(
        peer: IpAddr,
        admission: Arc<Admission>,
        startup: Startup,
        places: Arc<Semaphore>,
        limit: usize,
    ) -> Arc<Self> {
        Arc::new(Self {
            peer,
            admission,
            startup: Mutex::new(Some(startup)),
            attempted: AtomicBool::new(false),
            authenticated: AtomicBool::new(false),
            turned_away: AtomicBool::new(false),
            places,
            limit,
            place: Mutex::new(None),
        })
    }

    pub(crate) fn attempted(&self) {
        self.attempted.store(true, Ordering::SeqCst);
    }

    /// The login succeeded: the connection leaves the startups and takes
    /// an authenticated place, if one is free.
    pub(crate) fn succeed(&self) -> Result<(), SessionsFull> {
        let Ok(place) = self.places.clone().try_acquire_owned() else {
            self.turned_away.store(true, Ordering::SeqCst);
            return Err(SessionsFull(self.limit));
        };
        *self.place.lock().unwrap_or_else(|p| p.into_inner()) = Some(place);
        if let Some(startup) = self.startup.lock().unwrap_or_else(|p| p.into_inner()).take() {
            startup.authenticated();
        }
        self.authenticated.store(true, Ordering::SeqCst);
        Ok(())
    }

    pub(crate) fn is_authenticated(&self) -> bool {
        self.authenticated.load(Ordering::SeqCst)
    }

    /// The connection is over: a source that never logged in is penalised
    /// (sshd's authfail, noauth and grace-exceeded).
    pub(crate) fn finish(&self, grace_exceeded: bool) {
        if self.is_authenticated() || self.turned_away.load(Ordering::SeqCst) {
            return;
        }
        let offence = match (grace_exceeded, self.attempted.load(Ordering::SeqCst)) {
            (true, _) => Offence::GraceExceeded,
            (false, true) => Offence::AuthFail,
            (false, false) => Offence::NoAuth,
        };
        self.admission.penalise(self.peer, offence, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use sshfwd_net::admission::AdmissionPolicy;

    use super::*;

    fn login(admission: &Arc<Admission>, places: usize) -> Arc<LoginState> {
        let peer = IpAddr::from([192, 0, 2, 1]);
        let startup = admission.admit(peer, Instant::now(), 0.0).unwrap();
        LoginState::new(peer, admission.clone(), startup, Arc::new(Semaphore::new(places)), places)
    }

    #[test]
    fn failing_logins_are_penalised_but_a_full_server_is_not_the_sources_fault() {
        let admission = Admission::new(AdmissionPolicy::default());
        for _ in 0..5 {
            let state = login(&admission, 0);
            state.attempted();
            assert!(state.succeed().is_err());
            state.finish(false);
        }
        let peer = IpAddr::from([192, 0, 2, 1]);
        assert!(admission.admit(peer, Instant::now(), 0.0).is_ok(), "penalised for the server's cap");
        for _ in 0..3 {
            let state = login(&admission, 1);
            state.attempted();
            state.finish(false);
        }
        assert!(admission.admit(peer, Instant::now(), 0.0).is_err(), "three failed logins went unpenalised");
    }
}
