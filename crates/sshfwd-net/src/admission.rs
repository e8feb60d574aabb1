//! Who may start a login: sshd's `MaxStartups` (random early drop of
//! unauthenticated connections), `PerSourceMaxStartups` with
//! `PerSourceNetBlockSize` (sources grouped by network), and
//! `PerSourcePenalties` (sources that fail or never finish a login are
//! refused for a growing time, with an exempt list). Used by sshfwd-server
//! before the SSH handshake and by sshfwd's gateway listeners before an
//! FTP login. The clock and the dice are the caller's, so that every
//! decision is a pure function of what was recorded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `MaxStartups start:rate:full`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxStartups {
    /// Unauthenticated connections taken without a doubt.
    pub start: usize,
    /// The chance (percent) of refusing one more once `start` are open,
    /// rising linearly to 100 at `full`.
    pub rate: u32,
    pub full: usize,
}

impl MaxStartups {
    /// sshd's default, 10:30:100.
    pub const DEFAULT: MaxStartups = MaxStartups { start: 10, rate: 30, full: 100 };

    /// Parses `start:rate:full` or a single number (`start` = `full`).
    pub fn parse(text: &str) -> Option<MaxStartups> {
        let numbers: Vec<usize> = text.split(':').map(|n| n.parse().ok()).collect::<Option<_>>()?;
        let startups = match numbers.as_slice() {
            [n] => MaxStartups { start: *n, rate: 100, full: *n },
            [start, rate, full] => MaxStartups { start: *start, rate: u32::try_from(*rate).ok()?, full: *full },
            _ => return None,
        };
        (startups.start >= 1 && startups.start <= startups.full && startups.rate <= 100).then_some(startups)
    }

    /// The chance in [0, 1] of refusing a new connection when `open` are
    /// already unauthenticated.
    fn refusal_chance(&self, open: usize) -> f64 {
        if open < self.start {
            return 0.0;
        }
        if open >= self.full {
            return 1.0;
        }
        let rate = f64::from(self.rate) / 100.0;
        let span = (self.full - self.start) as f64;
        rate + (1.0 - rate) * (open - self.start) as f64 / span
    }
}

/// What a source did wrong (`PerSourcePenalties`' kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offence {
    /// Tried to log in and failed.
    AuthFail,
    /// Went away without trying.
    NoAuth,
    /// Held a connection for the whole `LoginGraceTime`.
    GraceExceeded,
}

/// `PerSourcePenalties`: the time each offence adds, when a source starts
/// being refused, the longest refusal, and how many sources are tracked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Penalties {
    pub authfail: Duration,
    pub noauth: Duration,
    pub grace_exceeded: Duration,
    /// A source is refused once its penalty reaches this much.
    pub min: Duration,
    pub max: Duration,
    /// Sources tracked at most; past it the oldest penalty is forgotten
    /// (OpenSSH's "permissive" overflow).
    pub max_sources: usize,
    /// Never penalised (`PerSourcePenaltyExemptList`).
    pub exempt: Vec<Network>,
    /// Off (`PerSourcePenalties no`).
    pub enabled: bool,
}

impl Default for Penalties {
    /// OpenSSH 9.8's defaults.
    fn default() -> Self {
        Penalties {
            authfail: Duration::from_secs(5),
            noauth: Duration::from_secs(1),
            grace_exceeded: Duration::from_secs(10),
            min: Duration::from_secs(15),
            max: Duration::from_secs(600),
            max_sources: 65536,
            exempt: Vec::new(),
            enabled: true,
        }
    }
}

impl Penalties {
    /// sshd's `PerSourcePenalties`: `yes`, `no`, or `kind:time` words
    /// (`authfail`, `noauth`, `grace-exceeded`, `min`, `max`, with times
    /// such as `5`, `5s`, `10m`, `1h`) and `max-sources:N`, over the
    /// defaults.
    pub fn parse(text: &str) -> Option<Penalties> {
        let mut penalties = Penalties::default();
        match text.trim() {
            "yes" => return Some(penalties),
            "no" => return Some(Penalties { enabled: false, ..penalties }),
            _ => {}
        }
        for word in text.split_whitespace() {
            let (key, value) = word.split_once(':')?;
            match key {
                "max-sources" | "max-sources4" | "max-sources6" => penalties.max_sources = value.parse().ok()?,
                "authfail" => penalties.authfail = parse_time(value)?,
                "noauth" => penalties.noauth = parse_time(value)?,
                "grace-exceeded" => penalties.grace_exceeded = parse_time(value)?,
                "min" => penalties.min = parse_time(value)?,
                "max" => penalties.max = parse_time(value)?,
                _ => return None,
            }
        }
        Some(penalties)
    }

    fn of(&self, offence: Offence) -> Duration {
        match offence {
            Offence::AuthFail => self.authfail,
            Offence::NoAuth => self.noauth,
            Offence::GraceExceeded => self.grace_exceeded,
        }
    }
}

/// `5`, `5s`, `10m`, `1h`: seconds unless a unit says otherwise.
fn parse_time(text: &str) -> Option<Duration> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let seconds: u64 = number.parse().ok()?;
    let scale = match unit {
        "s" | "S" => 1,
        "m" | "M" => 60,
        "h" | "H" => 3600,
        _ => return None,
    };
    Some(Duration::from_secs(seconds.checked_mul(scale)?))
}

/// An address block, `addr/prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Network {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Network {
    /// `addr` or `addr/prefix`.
    pub fn parse(text: &str) -> Option<Network> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr.parse::<IpAddr>().ok()?, prefix.parse::<u8>().ok()?),
            None => {
                let addr = text.parse::<IpAddr>().ok()?;
                (addr, if addr.is_ipv4() { 32 } else { 128 })
            }
        };
        let width = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= width).then(|| Network { addr: masked(addr, prefix), prefix })
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        addr.is_ipv4() == self.addr.is_ipv4() && masked(addr, self.prefix) == self.addr
    }
}

/// `addr` with all but its first `prefix` bits cleared.
fn masked(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix.min(32))).unwrap_or(0);
            IpAddr::V4((bits & mask).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix.min(128))).unwrap_or(0);
            IpAddr::V6((bits & mask).into())
        }
    }
}

/// Every limit on who may start a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionPolicy {
    pub max_startups: MaxStartups,
    /// `PerSourceMaxStartups`; `None`: no limit of its own.
    pub per_source: Option<usize>,
    /// `PerSourceNetBlockSize`: how many leading bits of an IPv4 and an
    /// IPv6 address make one source.
    pub v4_prefix: u8,
    pub v6_prefix: u8,
    pub penalties: Penalties,
}

impl Default for AdmissionPolicy {
    /// sshd's limits, except that one source may hold at most 10 of the
    /// unauthenticated places (sshd has no per-source limit by default, so
    /// that a single source can take all 100 and lock everyone out), and
    /// that IPv6 sources are grouped by /64, a typical end site.
    fn default() -> Self {
        AdmissionPolicy {
            max_startups: MaxStartups::DEFAULT,
            per_source: Some(10),
            v4_prefix: 32,
            v6_prefix: 64,
            penalties: Penalties::default(),
        }
    }
}

/// Why a connection was turned away.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("source {network} penalised for {remaining:?} more (PerSourcePenalties)")]
    Penalised { network: IpAddr, remaining: Duration },
    #[error("source {network} has {limit} unauthenticated connections (PerSourceMaxStartups)")]
    PerSource { network: IpAddr, limit: usize },
    #[error("{open} unauthenticated connections (MaxStartups {start}:{rate}:{full})")]
    Startups { open: usize, start: usize, rate: u32, full: usize },
}

#[derive(Debug, Default)]
struct Penalty {
    /// When the penalty has run out.
    until: Option<Instant>,
    /// Refusing (the penalty reached `min` and has not run out).
    active: bool,
    /// When it was last added to, for forgetting the oldest.
    touched: Option<Instant>,
}

#[derive(Debug, Default)]
struct State {
    unauthenticated: usize,
    by_source: HashMap<IpAddr, usize>,
    penalties: HashMap<IpAddr, Penalty>,
}

/// The shared record of connections under way and penalties.
#[derive(Debug)]
pub struct Admission {
    policy: AdmissionPolicy,
    state: Mutex<State>,
}

/// An admitted, not yet authenticated connection: its place is given back
/// when it is dropped (or when the login succeeds: [`Startup::authenticated`]).
#[derive(Debug)]
pub struct Startup {
    admission: Arc<Admission>,
    source: IpAddr,
    released: bool,
}

impl Admission {
    pub fn new(policy: AdmissionPolicy) -> Arc<Admission> {
        Arc::new(Admission { policy, state: Mutex::new(State::default()) })
    }

    pub fn policy(&self) -> &AdmissionPolicy {
        &self.policy
    }

    /// The source a peer counts as: its network block.
    pub fn source(&self, peer: IpAddr) -> IpAddr {
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(peer),
            v4 => v4,
        };
        masked(peer, if peer.is_ipv4() { self.policy.v4_prefix } else { self.policy.v6_prefix })
    }

    fn exempt(&self, peer: IpAddr) -> bool {
        self.policy.penalties.exempt.iter().any(|network| network.contains(peer))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Admits a new connection from `peer`, or says why not. `dice` is a
    /// number in [0, 1) for the random early drop.
    pub fn admit(self: &Arc<Self>, peer: IpAddr, now: Instant, dice: f64) -> Result<Startup, Refusal> {
        let source = self.source(peer);
        let mut state = self.lock();
        if let Some(penalty) = state.penalties.get(&source) {
            if let (true, Some(until)) = (penalty.active, penalty.until) {
                if until > now && !self.exempt(peer) {
                    return Err(Refusal::Penalised { network: source, remaining: until - now });
                }
            }
        }
        let from_source = state.by_source.get(&source).copied().unwrap_or(0);
        if let Some(limit) = self.policy.per_source {
            if from_source >= limit {
                return Err(Refusal::PerSource { network: source, limit });
            }
        }
        let MaxStartups { start, rate, full } = self.policy.max_startups;
        let open = state.unauthenticated;
        // Early drop falls only on sources already holding a startup: one
        // without any (a legitimate user, most likely) is refused only when
        // every place is taken. Otherwise a single flooding source, at its
        // per-source cap, would make everyone else lose the dice too.
        let chance = match from_source {
            0 if open < full => 0.0,
            _ => self.policy.max_startups.refusal_chance(open),
        };
        if dice < chance {
            return Err(Refusal::Startups { open, start, rate, full });
        }
        state.unauthenticated += 1;
        *state.by_source.entry(source).or_default() += 1;
        Ok(Startup { admission: self.clone(), source, released: false })
    }

    /// Adds `offence`'s time to `peer`'s source penalty; the source is
    /// refused once the penalty reaches `min`, for at most `max`.
    pub fn penalise(&self, peer: IpAddr, offence: Offence, now: Instant) {
        let policy = &self.policy.penalties;
        if !policy.enabled || self.exempt(peer) {
            return;
        }
        let source = self.source(peer);
        let mut state = self.lock();
        if !state.penalties.contains_key(&source) && state.penalties.len() >= policy.max_sources {
            forget_oldest(&mut state.penalties, now);
        }
        let penalty = state.penalties.entry(source).or_default();
        if penalty.until.is_none_or(|until| until <= now) {
            // A penalty that ran out starts again from nothing.
            penalty.active = false;
        }
        let base = penalty.until.filter(|until| *until > now).unwrap_or(now);
        let until = (base + policy.of(offence)).min(now + policy.max);
        penalty.until = Some(until);
        penalty.touched = Some(now);
        // Whole seconds, as sshd counts them: three 5 s penalties a few
        // milliseconds apart reach a 15 s minimum.
        if !penalty.active && until - now + Duration::from_secs(1) > policy.min {
            penalty.active = true;
            tracing::info!("penalty: source {source} refused for {:?} (PerSourcePenalties)", until - now);
        }
    }

    /// Unauthenticated connections open now, in all and from `peer`'s source.
    pub fn open(&self, peer: IpAddr) -> (usize, usize) {
        let source = self.source(peer);
        let state = self.lock();
        (state.unauthenticated, state.by_source.get(&source).copied().unwrap_or(0))
    }

    fn release(&self, source: IpAddr) {
        let mut state = self.lock();
        state.unauthenticated = state.unauthenticated.saturating_sub(1);
        if let Some(count) = state.by_source.get_mut(&source) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                state.by_source.remove(&source);
            }
        }
    }
}

/// Drops expired penalties, or else the least recently touched one.
fn forget_oldest(penalties: &mut HashMap<IpAddr, Penalty>, now: Instant) {
    let before = penalties.len();
    penalties.retain(|_, p| p.until.is_some_and(|until| until > now));
    if penalties.len() < before {
        return;
    }
    if let Some(oldest) = penalties.iter().min_by_key(|(_, p)| p.touched).map(|(source, _)| *source) {
        penalties.remove(&oldest);
    }
}

impl Startup {
    /// The login succeeded: the connection no longer counts as a startup.
    pub fn authenticated(mut self) {
        self.release();
    }

    fn release(&mut self) {
        if !self.released {
            self.released = true;
            self.admission.release(self.source);
        }
    }
}

impl Drop for Startup {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn max_startups_parses_and_rises_linearly() {
        assert_eq!(MaxStartups::parse("10:30:100"), Some(MaxStartups::DEFAULT));
        assert_eq!(MaxStartups::parse("20"), Some(MaxStartups { start: 20, rate: 100, full: 20 }));
        for bad in ["", "10:30", "0:30:100", "50:30:10", "10:101:100", "a:b:c", "10:30:100:1"] {
            assert_eq!(MaxStartups::parse(bad), None, "{bad}");
        }
        let m = MaxStartups::DEFAULT;
        assert_eq!(m.refusal_chance(9), 0.0);
        assert!((m.refusal_chance(10) - 0.3).abs() < 1e-9);
        assert!((m.refusal_chance(55) - 0.65).abs() < 1e-9);
        assert_eq!(m.refusal_chance(100), 1.0);
    }

    #[test]
    fn penalties_parse_as_sshd_writes_them() {
        assert_eq!(Penalties::parse("yes"), Some(Penalties::default()));
        assert!(!Penalties::parse("no").unwrap().enabled);
        let p = Penalties::parse("authfail:1m noauth:2 max:1h max-sources:10").unwrap();
        assert_eq!(
            (p.authfail, p.noauth, p.max, p.max_sources),
            (Duration::from_secs(60), Duration::from_secs(2), Duration::from_secs(3600), 10)
        );
        for bad in ["maybe", "authfail", "authfail:x", "crash:1d", "bogus:1"] {
            assert_eq!(Penalties::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn networks_group_sources() {
        let admission = Admission::new(AdmissionPolicy::default());
        assert_eq!(admission.source(ip("127.0.0.2")), ip("127.0.0.2"));
        assert_eq!(admission.source(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
        assert_eq!(admission.source(ip("::ffff:10.0.0.1")), ip("10.0.0.1"));
        let lan = Network::parse("10.1.0.0/16").unwrap();
        assert!(lan.contains(ip("10.1.200.3")) && !lan.contains(ip("10.2.0.1")) && !lan.contains(ip("::1")));
        assert_eq!(Network::parse("10.0.0.1/33"), None);
        assert_eq!(Network::parse("::1"), Some(Network { addr: ip("::1"), prefix: 128 }));
    }

    #[test]
    fn one_source_cannot_take_every_place() {
        let admission = Admission::new(AdmissionPolicy::default());
        let now = Instant::now();
        let held: Vec<Startup> = (0..10).map(|_| admission.admit(ip("127.0.0.2"), now, 0.99).unwrap()).collect();
        assert!(matches!(admission.admit(ip("127.0.0.2"), now, 0.99), Err(Refusal::PerSource { limit: 10, .. })));
        // Another source still gets in (the dice say yes under 30 %).
        let other = admission.admit(ip("127.0.0.1"), now, 0.5).unwrap();
        assert_eq!(admission.open(ip("127.0.0.2")), (11, 10));
        drop(held);
        other.authenticated();
        assert_eq!(admission.open(ip("127.0.0.2")), (0, 0));
    }

    #[test]
    fn random_early_drop_follows_the_dice() {
        let policy = AdmissionPolicy { per_source: None, ..AdmissionPolicy::default() };
        let admission = Admission::new(policy);
        let now = Instant::now();
        let mut held: Vec<Startup> = (0..10).map(|_| admission.admit(ip("10.0.0.1"), now, 0.0).unwrap()).collect();
        // The source holding startups loses the dice; a new source does not.
        assert!(matches!(admission.admit(ip("10.0.0.1"), now, 0.29), Err(Refusal::Startups { open: 10, .. })));
        held.push(admission.admit(ip("10.0.0.1"), now, 0.31).unwrap());
        held.push(admission.admit(ip("10.0.0.2"), now, 0.0).unwrap());
        // At `full`, everyone is refused.
        while held.len() < 100 {
            held.push(admission.admit(ip("10.0.0.1"), now, 0.999).unwrap());
        }
        assert!(matches!(admission.admit(ip("10.0.0.3"), now, 0.999), Err(Refusal::Startups { open: 100, .. })));
    }

    #[test]
    fn penalties_grow_block_and_expire() {
        let admission = Admission::new(AdmissionPolicy::default());
        let t0 = Instant::now();
        let guesser = ip("127.0.0.3");
        // 5 s a failure: refused from the third (15 s reached).
        for _ in 0..2 {
            admission.penalise(guesser, Offence::AuthFail, t0);
            assert!(admission.admit(guesser, t0, 0.0).is_ok());
        }
        admission.penalise(guesser, Offence::AuthFail, t0);
        match admission.admit(guesser, t0, 0.0) {
            Err(Refusal::Penalised { remaining, .. }) => assert_eq!(remaining, Duration::from_secs(15)),
            other => panic!("{other:?}"),
        }
        assert!(admission.admit(ip("127.0.0.1"), t0, 0.0).is_ok(), "another source is not penalised");
        // Capped at max, and over once it has run out.
        for _ in 0..1000 {
            admission.penalise(guesser, Offence::AuthFail, t0);
        }
        let later = t0 + Duration::from_secs(599);
        assert!(admission.admit(guesser, later, 0.0).is_err());
        assert!(admission.admit(guesser, t0 + Duration::from_secs(601), 0.0).is_ok());
    }

    #[test]
    fn exempt_sources_are_never_penalised() {
        let mut policy = AdmissionPolicy::default();
        policy.penalties.exempt = vec![Network::parse("127.0.0.0/8").unwrap()];
        let admission = Admission::new(policy);
        let now = Instant::now();
        for _ in 0..100 {
            admission.penalise(ip("127.0.0.9"), Offence::GraceExceeded, now);
        }
        assert!(admission.admit(ip("127.0.0.9"), now, 0.0).is_ok());
    }

    #[test]
    fn tracked_sources_are_bounded() {
        let mut policy = AdmissionPolicy::default();
        policy.penalties.max_sources = 3;
        let admission = Admission::new(policy);
        let now = Instant::now();
        for n in 1..=10u8 {
            admission.penalise(IpAddr::from([10, 0, 0, n]), Offence::NoAuth, now + Duration::from_millis(u64::from(n)));
        }
        assert!(admission.lock().penalties.len() <= 3);
    }
}
