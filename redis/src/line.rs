//! This process's waiters in Redis and its place in the global line, shared by the three
//! who act on them: the semaphore's thread (queueing, re-entering, renewing), the pub/sub
//! thread (which hands a grant straight to its waiter) and a caller on the fast path
//! (which queues a process's first waiter itself).
//!
//! Every operation is one short critical section; nobody holds the lock across a call to
//! Redis, and wakers and permits are handed out after it is released.
//!
//! # What keeps the order exact
//!
//! Redis keeps this process's line member (the crate docs' invariant). The view here only
//! decides when the semaphore's thread sends `enter` to change it, so a view that is out
//! of date costs at most one call that changes nothing, never the order, with two rules:
//!
//! * only the semaphore's thread re-enters the line, and never while an acquire call is in
//!   flight (`in_flight`): the member that call may have put in line is not known yet;
//! * a caller queues the process's first waiter on the fast path only when the process has
//!   no waiter, no member in line and no acquire in flight, so the only change that call
//!   can make to the line is adding that waiter, as the semaphore's thread would.
//!
//! A grant can be heard of (by pub/sub) before the reply of the call that queued its
//! waiter: while acquires are in flight, a grant for an unknown member is kept in `early`
//! and handed over when the waiter is registered; one nobody registers is given back.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::command::{Granted, Lease, Outcome};
use crate::error::Error;
use crate::lease_state::{LeaseState, ServerTime};
use crate::leases::Leases;
use crate::scripts::Grant;
use crate::slot::Slot;

/// A waiter of this process, queued in Redis under its member.
#[derive(Debug)]
struct Local {
    id: u64,
    permits: u32,
    reply: Arc<Slot<Outcome>>,
}

/// This process's member in the global line, as far as this process knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Standing {
    None,
    /// A waiter of this process, by member.
    Entry(String),
    /// Left by a grant: the process's other waiters all come after this key.
    Barrier(String),
}

#[derive(Debug)]
struct State {
    local: BTreeMap<String, Local>,
    ids: HashMap<u64, String>,
    standing: Standing,
    /// The newest reading of the server's clock, for grants heard of by pub/sub.
    server_time: Option<ServerTime>,
    /// Acquire calls sent whose waiter is not registered yet.
    in_flight: usize,
    /// Grants heard of for a member not registered yet, while acquires were in flight.
    early: Vec<(Grant, Option<ServerTime>)>,
    /// When the newest waiter was registered: the call that queued it reached Redis then,
    /// whichever thread made it.
    last_queued: Option<Instant>,
    closed: bool,
}

/// What an operation leaves to do once the lock is released.
#[derive(Debug, Default)]
#[must_use = "grants must reach their waiters, and unwanted grants must be given back"]
pub(crate) struct Handoff {
    /// Grants for waiters: fill their slots (a slot that refuses means the waiter left:
    /// give the lease back).
    pub(crate) grants: Vec<(Arc<Slot<Outcome>>, Granted)>,
    /// Grants nobody waits for: give them back.
    pub(crate) unwanted: Vec<Lease>,
    /// The view is not settled (the best waiter is not this process's entry): the
    /// semaphore's thread must look at it.
    pub(crate) settle: bool,
}

impl Handoff {
    /// Hands the grants over; returns the leases to give back.
    pub(crate) fn hand_over(self) -> Vec<Lease> {
        let mut unwanted = self.unwanted;
        for (slot, granted) in self.grants {
            if let Err(Outcome::Granted(granted)) = slot.fill(Outcome::Granted(granted)) {
                unwanted.push(granted.lease);
            }
        }
        unwanted
    }
}

/// What the semaphore's thread should send to put this process's best waiter in line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Settle {
    /// Nothing to change (or not now: an acquire is in flight, or the semaphore closed).
    Settled,
    /// `enter` with this member ('' to leave the line), its permits, and whether more
    /// waiters follow it.
    Enter {
        member: String,
        permits: u32,
        more: bool,
    },
}

#[derive(Debug)]
pub(crate) struct Line {
    state: Mutex<State>,
}

impl Default for Line {
    fn default() -> Self {
        Line {
            state: Mutex::new(State {
                local: BTreeMap::new(),
                ids: HashMap::new(),
                standing: Standing::None,
                server_time: None,
                in_flight: 0,
                early: Vec::new(),
                last_queued: None,
                closed: false,
            }),
        }
    }
}

impl Line {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every operation leaves the state whole before it can panic (map operations and
        // assignments only), so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the newest reading of the server's clock.
    pub(crate) fn saw_server_time(&self, time: ServerTime) {
        let mut state = self.lock();
        if state.server_time.is_none_or(|t| t.sent <= time.sent) {
            state.server_time = Some(time);
        }
    }

    pub(crate) fn has_waiters(&self) -> bool {
        !self.lock().local.is_empty()
    }

    /// When the newest waiter was queued (a call that reached Redis), if ever.
    pub(crate) fn last_queued(&self) -> Option<Instant> {
        self.lock().last_queued
    }

    /// Whether there is anything to renew or poll for: waiters or a place in the line.
    pub(crate) fn is_idle(&self) -> bool {
        let state = self.lock();
        state.local.is_empty() && state.standing == Standing::None && state.in_flight == 0
    }

    /// An acquire call is about to be sent; `fast`: by a caller, which may only queue the
    /// process's first waiter. Returns false (and counts nothing) when a fast queue is not
    /// allowed now.
    pub(crate) fn begin_acquire(&self, fast: bool) -> bool {
        let mut state = self.lock();
        if fast
            && (!state.local.is_empty()
                || state.standing != Standing::None
                || state.in_flight > 0
                || state.closed)
        {
            return false;
        }
        state.in_flight += 1;
        true
    }

    /// An acquire call ended without queueing its waiter (granted at once, refused,
    /// failed). Grants heard of early that nobody registered are given back.
    pub(crate) fn end_acquire(&self, leases: &Leases) -> Handoff {
        let mut state = self.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        let mut handoff = Handoff::default();
        drain_early(&mut state, leases, &mut handoff);
        handoff.settle = !settled(&state);
        handoff
    }

    /// An acquire call queued its waiter as `member`: it becomes this process's entry if
    /// it is the best, as the script made it.
    pub(crate) fn queued(
        &self,
        id: u64,
        member: String,
        permits: u32,
        reply: Arc<Slot<Outcome>>,
        leases: &Leases,
    ) -> Handoff {
        let mut state = self.lock();
        state.last_queued = Some(Instant::now());
        let better = match &state.standing {
            Standing::None => true,
            Standing::Entry(p) | Standing::Barrier(p) => member < *p,
        };
        if better {
            state.standing = Standing::Entry(member.clone());
        }
        state.ids.insert(id, member.clone());
        state
            .local
            .insert(member.clone(), Local { id, permits, reply });
        let mut handoff = Handoff::default();
        if let Some(i) = state.early.iter().position(|(g, _)| g.member == member) {
            let (grant, time) = state.early.remove(i);
            deliver(&mut state, grant, time, leases, &mut handoff);
        }
        state.in_flight = state.in_flight.saturating_sub(1);
        drain_early(&mut state, leases, &mut handoff);
        handoff.settle = !settled(&state);
        handoff
    }

    /// A grant to this process (from a reply, or by pub/sub): to its waiter, or back. `time`
    /// relates its expiry to this process's clock (`None`: the newest reading).
    pub(crate) fn deliver(
        &self,
        grant: Grant,
        time: Option<ServerTime>,
        leases: &Leases,
    ) -> Handoff {
        let mut state = self.lock();
        let mut handoff = Handoff::default();
        let time = time.or(state.server_time);
        deliver(&mut state, grant, time, leases, &mut handoff);
        handoff.settle = !settled(&state);
        handoff
    }

    /// A waiter's future was dropped before its grant arrived: only its record goes; if
    /// it stood in the line, settling puts the next best there (or leaves the line).
    pub(crate) fn cancel(&self, id: u64) {
        let mut state = self.lock();
        if let Some(member) = state.ids.remove(&id) {
            state.local.remove(&member);
        }
    }

    /// What to send to make this process's member its best waiter, if anything.
    pub(crate) fn settle(&self) -> Settle {
        let state = self.lock();
        if settled(&state) || state.in_flight > 0 || state.closed {
            return Settle::Settled;
        }
        match state.local.iter().next() {
            Some((member, local)) => Settle::Enter {
                member: member.clone(),
                permits: local.permits,
                more: state.local.len() > 1,
            },
            None => Settle::Enter {
                member: String::new(),
                permits: 0,
                more: false,
            },
        }
    }

    /// `enter` put `member` in line ('' : left it). A waiter granted meanwhile is not
    /// recorded as the entry (the next settle looks again).
    pub(crate) fn entered(&self, member: &str) {
        let mut state = self.lock();
        if member.is_empty() {
            state.standing = Standing::None;
        } else if state.local.contains_key(member) {
            state.standing = Standing::Entry(member.to_owned());
        }
    }

    /// What a renewal saw of this process's line member (`None`, an entry, a barrier).
    pub(crate) fn synced(&self, standing: Standing) {
        self.lock().standing = standing;
    }

    /// Fails every waiter (and, with `closed`, every later settle).
    pub(crate) fn fail_all(&self, error: &Error, closed: bool) {
        let waiters: Vec<Local> = {
            let mut state = self.lock();
            state.ids.clear();
            state.standing = Standing::None;
            state.closed |= closed;
            std::mem::take(&mut state.local).into_values().collect()
        };
        for local in waiters {
            let _ = local.reply.fill(Outcome::Failed(error.clone()));
        }
    }
}

/// Whether the process's line member is its best waiter (or it has neither).
fn settled(state: &State) -> bool {
    match (state.local.keys().next(), &state.standing) {
        (None, Standing::None) => true,
        (Some(best), Standing::Entry(entry)) => best == entry,
        _ => false,
    }
}

/// Once no acquire is in flight, grants kept for a waiter nobody registered are given
/// back (those delivered meanwhile, by another report of the same grant, are not).
fn drain_early(state: &mut State, leases: &Leases, handoff: &mut Handoff) {
    if state.in_flight == 0 {
        for (grant, _) in state.early.drain(..) {
            if !leases.contains(&grant.member) {
                handoff.unwanted.push(lease_of(&grant));
            }
        }
    }
}

fn lease_of(grant: &Grant) -> Lease {
    Lease {
        member: grant.member.clone(),
        permits: grant.permits,
        token: grant.token,
    }
}

/// Hands a grant to its waiter (into `handoff`); a grant nobody waits for any more is
/// given back, or kept in `early` while an acquire that may have queued it is in flight.
fn deliver(
    state: &mut State,
    grant: Grant,
    time: Option<ServerTime>,
    leases: &Leases,
    handoff: &mut Handoff,
) {
    if let Standing::Entry(member) | Standing::Barrier(member) = &state.standing {
        if *member == grant.member {
            state.standing = if grant.barrier {
                Standing::Barrier(grant.member.clone())
            } else {
                Standing::None
            };
        }
    }
    if leases.contains(&grant.member) {
        return; // heard twice: by reply and by pub/sub
    }
    let Some(local) = state.local.remove(&grant.member) else {
        if state.in_flight > 0 {
            if !state.early.iter().any(|(g, _)| g.member == grant.member) {
                state.early.push((grant, time));
            }
        } else {
            // Its waiter was cancelled after the grant was made.
            handoff.unwanted.push(lease_of(&grant));
        }
        return;
    };
    state.ids.remove(&local.id);
    // No reading of the server's clock yet: the lease counts as lost at once, the safe
    // answer (never the case in practice: the waiter was queued by a call with a reply).
    let valid_until = time.map_or_else(Instant::now, |t| t.valid_until(grant.expiry_ms));
    let lease = lease_of(&grant);
    let lease_state = Arc::new(LeaseState::new(valid_until));
    leases.adopt(&lease, lease_state.clone());
    handoff.grants.push((
        local.reply,
        Granted {
            lease,
            state: lease_state,
        },
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(member: &str, barrier: bool) -> Grant {
        Grant {
            member: member.into(),
            permits: 1,
            token: 7,
            barrier,
            expiry_ms: 60_000,
        }
    }

    fn time() -> Option<ServerTime> {
        Some(ServerTime {
            sent: Instant::now(),
            now_us: 0,
        })
    }

    #[test]
    fn a_grant_heard_before_its_waiter_is_registered_reaches_it() {
        let (line, leases) = (Line::default(), Leases::default());
        assert!(line.begin_acquire(true));
        // The grant comes by pub/sub while the call that queued "m1" is in flight.
        let early = line.deliver(grant("m1", false), time(), &leases);
        assert!(early.grants.is_empty() && early.unwanted.is_empty());
        let slot = Slot::new();
        let handoff = line.queued(1, "m1".into(), 1, slot.clone(), &leases);
        assert_eq!(handoff.grants.len(), 1, "handed over on registration");
        assert!(handoff.hand_over().is_empty());
        assert!(leases.contains("m1"));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(matches!(
            slot.poll_take(&mut cx),
            std::task::Poll::Ready(Outcome::Granted(_))
        ));
        assert!(
            line.is_idle(),
            "granted without a barrier: no place in line"
        );
    }

    #[test]
    fn an_early_grant_nobody_registers_is_given_back_once_no_acquire_is_in_flight() {
        let (line, leases) = (Line::default(), Leases::default());
        assert!(line.begin_acquire(false));
        assert!(line.begin_acquire(false));
        let _ = line.deliver(grant("gone", false), time(), &leases);
        let _ = line.deliver(grant("gone", false), time(), &leases); // heard twice
        assert!(
            line.end_acquire(&leases).unwanted.is_empty(),
            "one still in flight"
        );
        let last = line.end_acquire(&leases);
        assert_eq!(last.unwanted.len(), 1, "given back once");
        assert_eq!(last.unwanted[0].member, "gone");
    }

    #[test]
    fn a_fast_queue_needs_an_idle_process_and_settling_waits_for_acquires_in_flight() {
        let (line, leases) = (Line::default(), Leases::default());
        assert!(line.begin_acquire(true));
        assert!(!line.begin_acquire(true), "another acquire is in flight");
        // The renewal saw the waiter in line before its call answered: no `enter` now.
        line.synced(Standing::Entry("m1".into()));
        assert_eq!(line.settle(), Settle::Settled);
        let handoff = line.queued(1, "m1".into(), 1, Slot::new(), &leases);
        assert!(!handoff.settle, "m1 is the entry: settled");
        assert!(!line.begin_acquire(true), "the process has a waiter");
        // A better waiter queued by the thread becomes the entry, as the script made it.
        assert!(line.begin_acquire(false));
        let handoff = line.queued(2, "m0".into(), 1, Slot::new(), &leases);
        assert!(!handoff.settle);
        // m0 is granted with a barrier: the thread must put m1 in line.
        let handoff = line.deliver(grant("m0", true), time(), &leases);
        assert!(handoff.settle);
        assert!(handoff.hand_over().is_empty());
        assert_eq!(
            line.settle(),
            Settle::Enter {
                member: "m1".into(),
                permits: 1,
                more: false
            }
        );
        line.entered("m1");
        assert_eq!(line.settle(), Settle::Settled);
    }

    #[test]
    fn entering_a_waiter_granted_meanwhile_does_not_record_it() {
        let (line, leases) = (Line::default(), Leases::default());
        assert!(line.begin_acquire(false));
        let _ = line.queued(1, "m1".into(), 1, Slot::new(), &leases);
        line.synced(Standing::None);
        assert!(matches!(line.settle(), Settle::Enter { .. }));
        // While `enter(m1)` runs, m1 is granted (no barrier): the late answer leaves the
        // view at "no place", which is what Redis has.
        let handoff = line.deliver(grant("m1", false), time(), &leases);
        assert!(handoff.hand_over().is_empty());
        line.entered("m1");
        assert_eq!(line.settle(), Settle::Settled);
        assert!(line.is_idle());
    }

    #[test]
    fn a_grant_for_a_cancelled_waiter_is_given_back_and_closing_fails_every_waiter() {
        let (line, leases) = (Line::default(), Leases::default());
        assert!(line.begin_acquire(false));
        let slot = Slot::new();
        let _ = line.queued(1, "m1".into(), 1, slot.clone(), &leases);
        line.cancel(1);
        let handoff = line.deliver(grant("m1", false), time(), &leases);
        assert_eq!(handoff.unwanted.len(), 1);
        assert!(line.begin_acquire(false));
        let slot = Slot::new();
        let _ = line.queued(2, "m2".into(), 1, slot.clone(), &leases);
        line.fail_all(&Error::Closed, true);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(matches!(
            slot.poll_take(&mut cx),
            std::task::Poll::Ready(Outcome::Failed(Error::Closed))
        ));
        assert!(!line.begin_acquire(true), "closed");
        assert_eq!(line.settle(), Settle::Settled);
    }
}
