//! The futurelock warning (features `std` and `tracing`): a grant that nobody claims.
//!
//! Permits are handed to a waiter when they are released. If its future is then kept alive
//! but not polled (a losing `select!` branch kept around), the permits stay with it, and
//! everyone behind it waits. This module notices such a grant and warns, naming the
//! request's priority and permits.
//!
//! There is no background thread: the check runs at the end of the semaphore's operations
//! that take its lock (an acquire that queues, a release or `add_permits` while requests
//! wait, a cancellation), which are exactly the operations a stuck line keeps making. So an
//! unclaimed grant is reported by the first such operation after the time limit, not at the
//! limit itself, and not at all if the semaphore is never used again. At most
//! [`TRACKED`] unclaimed grants are watched at once (more are not reported), and grants made
//! before the warning was turned on are not watched.
//!
//! Costs: nothing unless [`Semaphore::warn_unclaimed_after`] turned it on (one relaxed load
//! per locked operation, with the features). When on: under the lock, a few words copied per
//! grant; after it, a clock read and a scan of [`TRACKED`] slots behind a `std` mutex per
//! locked operation, and the claiming poll takes that mutex once.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::lock::RawLock;
use crate::raw::RawSemaphore;
#[cfg(doc)]
use crate::semaphore::Semaphore;
use crate::trace::{Shown, TARGET};
use crate::waitlist::NO_GRANT_SEQ;

/// How many unclaimed grants are watched at once.
pub(crate) const TRACKED: usize = 16;

/// A grant made under the lock, copied out for the watch (no pointer to the waiter).
#[derive(Clone, Copy)]
pub(crate) struct GrantNote {
    pub(crate) seq: usize,
    pub(crate) permits: u32,
    pub(crate) priority: Shown,
}

/// The grants made during one locked operation, kept in the wait list until the lock
/// holder takes them (`WaitList::take_grant_notes`).
#[derive(Clone, Copy)]
pub(crate) struct GrantNotes {
    notes: [Option<GrantNote>; TRACKED],
    len: usize,
}

impl GrantNotes {
    pub(crate) const fn new() -> Self {
        Self {
            notes: [None; TRACKED],
            len: 0,
        }
    }

    /// Records a grant; beyond [`TRACKED`] in one operation, it is not watched.
    pub(crate) fn push(&mut self, note: GrantNote) {
        if let Some(slot) = self.notes.get_mut(self.len) {
            *slot = Some(note);
            self.len += 1;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn iter(&self) -> impl Iterator<Item = GrantNote> + '_ {
        self.notes[..self.len].iter().flatten().copied()
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
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        // Nothing panics while holding it, but a poisoned table would still be a table.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After a locked operation, outside the lock and before its wake-ups: starts watching
    /// the grants it made.
    #[cold]
    pub(crate) fn absorb(&self, notes: &GrantNotes) {
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
            }
        }
    }

    /// After a locked operation, outside every lock: warns, once each, about grants
    /// unclaimed for longer than the limit.
    #[inline]
    pub(crate) fn check<P, L: RawLock>(&self, sem: &RawSemaphore<P, L>) {
        let limit = self.limit_ns.load(Ordering::Relaxed);
        if limit != 0 {
            self.warn_overdue(sem, Duration::from_nanos(limit));
        }
    }

    #[cold]
    fn warn_overdue<P, L: RawLock>(&self, sem: &RawSemaphore<P, L>, limit: Duration) {
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
            }
        }
        // Outside every lock: a subscriber is user code.
        for slot in overdue.iter().flatten() {
            tracing::warn!(
                target: TARGET,
                semaphore = ?(sem as *const RawSemaphore<P, L>),
                priority = ?slot.note.priority,
                permits = slot.note.permits,
                unclaimed_for = ?now.duration_since(slot.since),
                "granted permits not claimed: the request's future is not being polled \
                 (futurelock: drop acquire futures you stop polling)"
            );
        }
    }

    /// The owner took, or handed back, the permits of grant `seq`: stop watching it.
    #[cold]
    pub(crate) fn claimed(&self, seq: usize) {
        if seq == NO_GRANT_SEQ {
            return;
        }
        let mut table = self.lock();
        let found = table
            .outstanding
            .iter_mut()
            .find(|slot| slot.is_some_and(|s| s.note.seq == seq));
        match found {
            Some(slot) => *slot = None,
            None => {
                let at = table.next_early;
                table.claimed_early[at] = seq;
                table.next_early = (at + 1) % TRACKED;
            }
        }
    }
}
