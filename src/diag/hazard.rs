//! The futurelock warning (features `std` and `tracing`): a grant that nobody claims.
//!
//! Permits are handed to a waiter when they are released. If its future is then kept alive
//! but not polled (a losing `select!` branch kept around), the permits stay with it, and
//! everyone behind it waits. This module notices such a grant and warns, naming the
//! request's priority and permits.
//!
//! There is no background thread: the check runs at the end of the semaphore's operations
//! that a stuck line keeps making (a poll of a request while the watch is on, a release or
//! `add_permits` while requests wait, a cancellation), and costs a load while no grant is
//! waiting to be warned about. So an
//! unclaimed grant is reported by the first such operation after the time limit, not at the
//! limit itself, and not at all if the semaphore is never used again. At most
//! [`TRACKED`] unclaimed grants are watched at once (more are not reported), and grants made
//! before the warning was turned on are not watched.
//!
//! Costs: see [`Semaphore::warn_unclaimed_after`].
//!
//! The core keeps a [`WaiterNote`] in every waiter (the priority as a warning shows it, the
//! number of its grant), [`GrantNotes`] in the wait list (the grants made under the lock,
//! recorded by [`GrantNotes::on_grant`]), and a [`Watch`] in the semaphore, which takes the
//! notes after the lock is released ([`Watch::absorb`]), hears of each grant taken or handed
//! back ([`Watch::claimed`]), and warns at the end of a locked operation ([`Watch::check`]).

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[cfg(doc)]
use crate::semaphore::Semaphore;

use super::shown::{Shown, TARGET};

/// How many unclaimed grants are watched at once.
pub(crate) const TRACKED: usize = 16;

/// The `grant_seq` of a waiter whose grant was not recorded.
const NO_GRANT_SEQ: usize = usize::MAX;

/// What a waiter keeps for the watch: its priority as a warning shows it, set by its owner
/// before it queues, and the number of its grant, set by the lock holder at the grant.
#[derive(Clone, Copy)]
pub(crate) struct WaiterNote {
    shown: Shown,
    grant_seq: usize,
}

impl WaiterNote {
    pub(crate) const fn new() -> Self {
        Self {
            shown: Shown::UNKNOWN,
            grant_seq: NO_GRANT_SEQ,
        }
    }

    /// Sets the priority as a warning shows it (by the owner, before the waiter queues).
    pub(crate) fn set_shown(&mut self, shown: Shown) {
        self.shown = shown;
    }
}

/// A grant made under the lock, copied out for the watch (no pointer to the waiter).
#[derive(Clone, Copy)]
struct GrantNote {
    seq: usize,
    permits: u32,
    priority: Shown,
}

/// The grants made during one locked operation, kept in the wait list until the lock
/// holder takes them ([`GrantNotes::take`]), and whether to record them.
#[derive(Clone, Copy)]
pub(crate) struct GrantNotes {
    /// Whether grants are recorded: the watch's switch as the last lock holder read it.
    on: bool,
    notes: [Option<GrantNote>; TRACKED],
    /// At most [`TRACKED`]; 32 bits, so that it and `on` share a word.
    len: u32,
}

impl GrantNotes {
    pub(crate) const fn new() -> Self {
        Self {
            on: false,
            notes: [None; TRACKED],
            len: 0,
        }
    }

    /// Under the lock, at a grant numbered `seq` of `permits` permits: records it in the
    /// waiter's note and here, if the watch is on; beyond [`TRACKED`] grants in one
    /// operation, it is not watched.
    #[inline]
    pub(crate) fn on_grant(&mut self, note: &mut WaiterNote, seq: u32, permits: u32) {
        if !self.on {
            return;
        }
        note.grant_seq = seq as usize;
        if let Some(slot) = self.notes.get_mut(self.len as usize) {
            *slot = Some(GrantNote {
                seq: seq as usize,
                permits,
                priority: note.shown,
            });
            self.len += 1;
        }
    }

    /// Under the lock, at the end of an operation: records from now on whether the watch
    /// is `on`, and takes the grants recorded, if any (only while it is on).
    #[inline]
    pub(crate) fn take(&mut self, on: bool) -> Option<Self> {
        self.on = on;
        if self.len == 0 {
            return None;
        }
        Some(self.take_all())
    }

    #[cold]
    fn take_all(&mut self) -> Self {
        core::mem::replace(
            self,
            Self {
                on: self.on,
                ..Self::new()
            },
        )
    }

    fn iter(&self) -> impl Iterator<Item = GrantNote> + '_ {
        self.notes[..self.len as usize].iter().flatten().copied()
    }
}

#[derive(Clone, Copy)]
struct Outstanding {
    note: GrantNote,
    since: Instant,
    warned: bool,
}

/// The semaphore's watch over unclaimed grants.
pub(crate) struct Watch {
    /// The time limit in nanoseconds; 0: off.
    limit_ns: AtomicU64,
    /// Whether the wait list records grants (the lock holder passes it on).
    on: AtomicBool,
    /// Watched grants not warned about yet: the table's count, mirrored (under its mutex)
    /// so that [`Watch::check`] looks at the table only when there is something to find
    /// (at most [`TRACKED`]: 32 bits, beside `on`, cost the semaphore no bytes).
    unwarned: AtomicU32,
    table: Mutex<Table>,
}

struct Table {
    outstanding: [Option<Outstanding>; TRACKED],
    /// Grants claimed before their note reached the table (the owner was polled between
    /// the grant and the end of the operation that made it), so the note is dropped.
    claimed_early: [usize; TRACKED],
    next_early: usize,
}

impl core::fmt::Debug for Watch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Watch")
            .field("limit_ns", &self.limit_ns.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Watch {
    pub(crate) const fn new() -> Self {
        Self {
            limit_ns: AtomicU64::new(0),
            on: AtomicBool::new(false),
            unwarned: AtomicU32::new(0),
            table: Mutex::new(Table {
                outstanding: [None; TRACKED],
                claimed_early: [NO_GRANT_SEQ; TRACKED],
                next_early: 0,
            }),
        }
    }

    /// Whether grants should be recorded. Relaxed: turning the watch on takes effect at
    /// the next locked operation.
    #[inline]
    pub(crate) fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// [`Semaphore::warn_unclaimed_after`]: `None` turns the watch off.
    pub(crate) fn set(&self, limit: Option<Duration>) {
        let ns = limit.map_or(0, |d| {
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
        });
        self.limit_ns.store(ns, Ordering::Relaxed);
        self.on.store(ns != 0, Ordering::Relaxed);
        if ns == 0 {
            let mut table = self.lock();
            table.outstanding = [None; TRACKED];
            table.claimed_early = [NO_GRANT_SEQ; TRACKED];
            self.unwarned.store(0, Ordering::Relaxed);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        // Nothing panics while holding it, but a poisoned table would still be a table.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After a locked operation, outside the lock and before its wake-ups: starts watching
    /// the grants it made (taken by [`GrantNotes::take`]).
    #[inline]
    pub(crate) fn absorb(&self, notes: Option<GrantNotes>) {
        if let Some(notes) = &notes {
            self.absorb_notes(notes);
        }
    }

    #[cold]
    fn absorb_notes(&self, notes: &GrantNotes) {
        let now = Instant::now();
        let mut table = self.lock();
        for note in notes.iter() {
            if let Some(early) = table.claimed_early.iter_mut().find(|s| **s == note.seq) {
                *early = NO_GRANT_SEQ;
                continue;
            }
            if let Some(slot) = table.outstanding.iter_mut().find(|slot| slot.is_none()) {
                *slot = Some(Outstanding {
                    note,
                    since: now,
                    warned: false,
                });
                self.unwarned.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// At the end of an operation, outside every lock, once the operation's permits are
    /// accounted for: warns, once each, about grants unclaimed for longer than the limit.
    /// `semaphore` is the semaphore's address. Two loads while nothing is to be warned
    /// about. Not while the thread unwinds (permits given back by a guard): a subscriber
    /// that panicked once may panic again, which would abort; the next operation warns.
    #[inline]
    pub(crate) fn check(&self, semaphore: *const ()) {
        let limit = self.limit_ns.load(Ordering::Relaxed);
        if limit != 0 && self.unwarned.load(Ordering::Relaxed) != 0 && !std::thread::panicking() {
            self.warn_overdue(semaphore, Duration::from_nanos(limit));
        }
    }

    #[cold]
    fn warn_overdue(&self, semaphore: *const (), limit: Duration) {
        let now = Instant::now();
        let mut overdue = [None; TRACKED];
        {
            let mut table = self.lock();
            let due = table
                .outstanding
                .iter_mut()
                .flatten()
                .filter(|slot| !slot.warned && now.duration_since(slot.since) > limit);
            for (slot, out) in due.zip(overdue.iter_mut()) {
                slot.warned = true;
                *out = Some(*slot);
                self.unwarned.fetch_sub(1, Ordering::Relaxed);
            }
        }
        // Outside every lock: a subscriber is user code.
        for slot in overdue.iter().flatten() {
            tracing::warn!(
                target: TARGET,
                semaphore = ?semaphore,
                priority = ?slot.note.priority,
                permits = slot.note.permits,
                unclaimed_for = ?now.duration_since(slot.since),
                "granted permits not claimed: the request's future is not being polled \
                 (futurelock: drop acquire futures you stop polling)"
            );
        }
    }

    /// The owner took, or handed back, the permits of the grant its waiter's `note` names:
    /// stop watching it.
    #[inline]
    pub(crate) fn claimed(&self, note: &WaiterNote) {
        if self.is_on() && note.grant_seq != NO_GRANT_SEQ {
            self.claimed_seq(note.grant_seq);
        }
    }

    #[cold]
    fn claimed_seq(&self, seq: usize) {
        let mut table = self.lock();
        let found = table
            .outstanding
            .iter_mut()
            .find(|slot| slot.is_some_and(|s| s.note.seq == seq));
        match found {
            Some(slot) => {
                if slot.is_some_and(|s| !s.warned) {
                    self.unwarned.fetch_sub(1, Ordering::Relaxed);
                }
                *slot = None;
            }
            None => {
                let at = table.next_early;
                table.claimed_early[at] = seq;
                table.next_early = (at + 1) % TRACKED;
            }
        }
    }
}
