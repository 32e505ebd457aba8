//! The semaphore's core: one atomic permit word, and the wait list behind the lock.
//!
//! | file | its one job |
//! |---|---|
//! | `raw.rs` | the permit word and the permit counts: try-acquire, release, add, forget, close |
//! | `raw/acquire.rs` | [`RawAcquire`], the protocol of one acquire that both public futures run |
//! | `raw/settle.rs` | locked operations and their wake-ups, in bounded batches, finished on unwind |
//!
//! # The permit word
//!
//! `state` holds `available << SHIFT | WAITING | CLOSED`.
//!
//! * `WAITING` is set exactly while the wait list is non-empty, and only changed under the
//!   lock. While it is set (and the semaphore is open) `available` is zero: every free
//!   permit is in the wait list (its surplus, or the front waiter's partial grant). So the
//!   lock-free fast paths (`try_acquire`, an acquire's first poll, and a release) can never take
//!   permits a queued waiter is entitled to, and never lose a wake-up: a
//!   releaser that sees `WAITING` goes through the lock, and a waiter sets `WAITING` with a
//!   compare-and-swap on the same word, so the two cannot miss each other.
//! * Uncontended acquire and release are one compare-and-swap each and never take the lock.
//!
//! # Counting
//!
//! `total` counts the permits in existence: available + held by permits + in the wait
//! list. It only changes in `add_permits`, `forget_permits` and `Permit::forget`, and
//! `add_permits` checks it *before* changing anything, so no count can overflow and a
//! failed `add_permits` leaves every count as it was.

use crate::diag::{self, Watch};
use crate::error::TryAcquireError;
use crate::lock::{Mutex, RawLock};
use crate::loom::{const_unless_loom, AtomicUsize, Ordering};
use crate::max_permits::MAX_PERMITS;
use crate::waitlist::{OvertakeLimit, Progress, WaitList};
use crate::wake_batch::WakeBatch;

const CLOSED: usize = 1;
const WAITING: usize = 2;
const SHIFT: usize = 2;

pub(crate) mod acquire;
mod settle;

pub(crate) struct RawSemaphore<P, L> {
    state: AtomicUsize,
    total: AtomicUsize,
    /// Anti-starvation: the most later arrivals that may overtake a waiter (none by
    /// default: strict priority). Zero-sized without feature `overtake-limit`.
    overtake_limit: OvertakeLimit,
    waiters: Mutex<L, WaitList<P>>,
    /// The futurelock watch (`crate::diag`); zero-sized without features `std` and
    /// `tracing`.
    watch: Watch,
}

impl<P, L: RawLock> RawSemaphore<P, L> {
    const_unless_loom! {
        pub(crate) fn new(permits: usize) -> Self {
            assert!(
                permits <= MAX_PERMITS,
                "a semaphore may not have more than MAX_PERMITS permits"
            );
            Self {
                state: AtomicUsize::new(permits << SHIFT),
                total: AtomicUsize::new(permits),
                overtake_limit: OvertakeLimit::NONE,
                waiters: Mutex::new(WaitList::new()),
                watch: Watch::new(),
            }
        }
    }

    /// Sets the anti-starvation bound (before the semaphore is shared): `usize::MAX` turns
    /// it off, and any other limit above `MAX_OVERTAKE_LIMIT` is lowered to it.
    #[cfg(feature = "overtake-limit")]
    pub(crate) const fn set_overtake_limit(&mut self, limit: usize) {
        self.overtake_limit = OvertakeLimit::new(limit);
    }

    /// Puts the line in lane mode (`crate::waitlist`, lanes), before the semaphore is
    /// shared.
    ///
    /// # Safety
    ///
    /// As for `WaitList::set_lanes`.
    pub(crate) unsafe fn set_lanes(&self, lanes: crate::waitlist::LaneOf<P>) {
        // SAFETY: the caller's promise, passed on.
        self.waiters.with(|list| unsafe { list.set_lanes(lanes) });
    }

    #[cfg(feature = "overtake-limit")]
    pub(crate) fn overtake_limit(&self) -> Option<usize> {
        self.overtake_limit.get()
    }

    pub(crate) fn available_permits(&self) -> usize {
        self.state.load(Ordering::Acquire) >> SHIFT
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Whether anyone waits: the `WAITING` bit, one load, no lock (for `crate::share`,
    /// whose dispatcher must not take a line's lock under its own).
    pub(crate) fn has_waiters(&self) -> bool {
        self.state.load(Ordering::Acquire) & WAITING != 0
    }

    pub(crate) fn waiter_count(&self) -> usize {
        self.waiters.with(|list| list.len())
    }

    /// Under the lock: runs `f` on the wait list (read-only) and reads the permit word and
    /// the permits in existence, for `crate::snapshot`. Returns `(available, closed, total,
    /// f's result)`. `f` must not run user code (the lock is held).
    pub(crate) fn observe<R>(&self, f: impl FnOnce(&WaitList<P>) -> R) -> (usize, bool, usize, R) {
        self.waiters.with(|list| {
            let state = self.state.load(Ordering::Acquire);
            let total = self.total.load(Ordering::Acquire);
            (state >> SHIFT, state & CLOSED != 0, total, f(list))
        })
    }

    /// Takes `n` permits without waiting, if no waiter is queued and enough are free.
    /// Zero permits are always granted while the semaphore is open: taking nothing cannot
    /// overtake anyone.
    #[inline]
    pub(crate) fn try_acquire(&self, n: usize) -> Result<(), TryAcquireError> {
        if n == 0 {
            return if self.is_closed() {
                Err(TryAcquireError::Closed)
            } else {
                Ok(())
            };
        }
        if n > MAX_PERMITS {
            return Err(if self.is_closed() {
                TryAcquireError::Closed
            } else {
                TryAcquireError::NoPermits
            });
        }
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            if cur & CLOSED != 0 {
                return Err(TryAcquireError::Closed);
            }
            if cur & WAITING != 0 || cur >> SHIFT < n {
                return Err(TryAcquireError::NoPermits);
            }
            match self.state.compare_exchange_weak(
                cur,
                cur - (n << SHIFT),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Returns `n` held permits: straight to the permit word when nobody waits, else to
    /// the waiters in order.
    #[inline]
    pub(crate) fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let cur = self.state.load(Ordering::Acquire);
        if cur & WAITING == 0
            && self
                .state
                .compare_exchange_weak(cur, cur + (n << SHIFT), Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            return;
        }
        self.release_slow(n);
    }

    #[inline(never)]
    fn release_slow(&self, n: usize) {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            if cur & WAITING != 0 && cur & CLOSED == 0 {
                self.locked_then_settle(|list| list.add_surplus(n));
                // The permits are handed on: a panicking warning loses nothing.
                self.watch.check(self.addr());
                return;
            }
            match self.state.compare_exchange_weak(
                cur,
                cur + (n << SHIFT),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Adds `n` new permits, panicking before any change if that would exceed the maximum.
    pub(crate) fn add_permits(&self, n: usize) {
        if n == 0 {
            return;
        }
        if let Err(total) = self
            .total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                t.checked_add(n).filter(|&sum| sum <= MAX_PERMITS)
            })
        {
            panic!(
                "cannot add {n} permits to a semaphore with {total} permits in existence: \
                 the total would exceed MAX_PERMITS ({MAX_PERMITS})"
            );
        }
        self.release(n);
    }

    /// Removes up to `n` available permits for good; returns how many were removed.
    pub(crate) fn forget_permits(&self, n: usize) -> usize {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            let taken = n.min(cur >> SHIFT);
            if taken == 0 {
                return 0;
            }
            // Only the count changes: the flags (CLOSED in particular, tokio#8020) stay.
            match self.state.compare_exchange_weak(
                cur,
                cur - (taken << SHIFT),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.total.fetch_sub(taken, Ordering::AcqRel);
                    return taken;
                }
                Err(actual) => cur = actual,
            }
        }
    }

    /// Records that `n` held permits were forgotten rather than released.
    pub(crate) fn forget_held(&self, n: usize) {
        self.total.fetch_sub(n, Ordering::AcqRel);
    }

    /// Permits in existence (available + held + being handed out).
    #[cfg(test)]
    pub(crate) fn total_permits(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }

    pub(crate) fn close(&self) {
        // Asked before anything changes, so a subscriber that panics here leaves the
        // semaphore open, and after everything, so one that panics there loses nothing.
        let report = diag::reports_close();
        let waiters = if report { self.waiter_count() } else { 0 };
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
        // Nothing to wake yet: the first step fails the first batch of waiters.
        self.wake_and_finish(&mut WakeBatch::new(), Progress::BatchFull, Self::close_step);
        if report {
            diag::closed(self.addr(), waiters);
        }
    }

    /// The semaphore's address, as events show it.
    pub(crate) fn addr(&self) -> *const () {
        core::ptr::from_ref(self).cast()
    }

    /// Under the lock: fails the next batch of waiters, returning their partial grants.
    fn close_step(&self, list: &mut WaitList<P>, wakers: &mut WakeBatch) -> Progress {
        let progress = list.close_batch(wakers);
        self.sync_permit_word(list);
        progress
    }

    /// The futurelock watch (`crate::diag`), for `Semaphore::warn_unclaimed_after`.
    #[cfg(all(feature = "std", feature = "tracing"))]
    pub(crate) fn watch(&self) -> &Watch {
        &self.watch
    }

    /// Under the lock: brings the permit word in line with the list: moves the list's
    /// surplus to it, and clears `WAITING` if nobody waits any more.
    #[inline]
    fn sync_permit_word(&self, list: &mut WaitList<P>) {
        let surplus = list.take_surplus();
        let clear = if list.is_empty() { WAITING } else { 0 };
        if surplus == 0 && clear == 0 {
            return;
        }
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            let new = (cur + (surplus << SHIFT)) & !clear;
            match self
                .state
                .compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }
}

impl<P, L> core::fmt::Debug for RawSemaphore<P, L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let state = self.state.load(Ordering::Acquire);
        f.debug_struct("Semaphore")
            .field("available_permits", &(state >> SHIFT))
            .field("closed", &(state & CLOSED != 0))
            .field("waiting", &(state & WAITING != 0))
            .finish_non_exhaustive()
    }
}

// The flags fit below the count, and the largest count leaves a bit of room above it.
const _: () = assert!(CLOSED < 1 << SHIFT && WAITING < 1 << SHIFT);
const _: () = assert!(MAX_PERMITS <= usize::MAX >> SHIFT >> 1);
