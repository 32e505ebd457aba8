//! The intrusive, priority-sorted wait list: its structure, its invariants, and the
//! operations the semaphore's core runs on it under the lock.
//!
//! This module (with its children) is the only code that follows the list's raw pointers;
//! see [Where `unsafe` lives](#where-unsafe-lives) for the rest of the crate's `unsafe`.
//!
//! | file | its one job |
//! |---|---|
//! | `waitlist.rs` | these docs, [`WaitList`] and its operations |
//! | `waitlist/waiter.rs` | [`Waiter`] and its state machine, as its owner sees it; the node the lock holder links |
//! | `waitlist/treap.rs` | `Treap`, the runs of equal priorities and the treap of their heads |
//! | `waitlist/treap/lanes.rs` | lane mode: runs that are a fair semaphore's flows, and moving a run when its head leaves |
//! | `waitlist/overtake.rs` | the overtake limit, and `Arrivals`, the arrival list it reads |
//! | `waitlist/grants.rs` | `Grants`: the surplus, the partial grant, the grant clock |
//! | `waitlist/inspect.rs` | read-only walks for `crate::snapshot` |
//! | `waitlist/check.rs` | the tests' invariant checker, `assert_valid` |
//!
//! # Structure
//!
//! Every queued [`Waiter`] lives inside a pinned `Acquire` future; the list only links them,
//! so queueing never allocates. Waiters are served by `(priority, arrival)`:
//!
//! * A **run** is the FIFO of all queued waiters with one priority value: a circular,
//!   doubly linked list through `next`/`prev`. Its first waiter is the run's **head**, and
//!   the head's `prev` is the run's tail, so appending to a run is O(1).
//! * Run heads are the nodes of a **treap** (a binary search tree by priority that is also a
//!   min-heap on a random `treap_key`, which keeps its expected depth O(log d) for d
//!   distinct queued priorities, whatever order they arrive in). `first` caches the leftmost
//!   head: the waiter to serve next by priority.
//! * In **lane mode** (a [`crate::fair::FairSemaphore`]'s line only), a run is one flow's
//!   waiters instead of one priority value's: a waiter of a flow that already waits joins
//!   its flow's run through the flow's cell (no comparison), and when a run's head leaves
//!   the run moves to the next waiter's key, comparing flows' tags only (`treap/lanes.rs`
//!   has the details and the invariants). The tree then holds one run per waiting flow.
//! * With an overtake limit `k` (opt-in anti-starvation, feature `overtake-limit`), every
//!   waiter is also on an **arrival list** (`older`/`newer`, oldest first); its `ticket`
//!   records the list's grant count when it arrived. A waiter that has seen `k` grants
//!   since it arrived becomes the front, ahead of the priority order; such waiters are
//!   served oldest first. So no waiter is ever overtaken by more than `k` later arrivals,
//!   keys are never re-sorted, and it is O(1). Without a limit the arrival list is not
//!   kept (it would cost every waiter a few writes for nothing), and without the feature
//!   the links are not there at all (16 bytes of every waiter).
//!
//! ```text
//!            treap of run heads (by priority; min-heap on treap_key)
//!
//!                          [5]a ── b ── c        run of priority 5: a, b, c (FIFO)
//!                         /    \
//!   first ──▶ [1]d ── e       [9]f               runs of 1 (d, e) and of 9 (f)
//!
//!   arrival list (with a limit only): oldest ──▶ a ⇄ d ⇄ b ⇄ f ⇄ e ⇄ c ◀── newest
//! ```
//!
//! The list also holds permits: its **surplus**, permits released while someone waits that
//! no waiter has been handed yet (`Summary::in_transit`), and the **partial grant** of the
//! front waiter (`partial`), both kept by `Grants`. [`WaitList::distribute`] hands the
//! surplus to waiters in order; `crate::raw` moves what is left back to the permit word
//! once nobody waits.
//!
//! Costs, with n queued waiters and d distinct priorities among them:
//!
//! | operation | cost |
//! |---|---|
//! | enqueue, priority already queued | O(log d) compares, O(1) links; O(1) if it is the front run |
//! | enqueue, new priority | O(log d) expected (compares + rotations) |
//! | serve the front waiter | O(1) while its run has more waiters, else O(1) amortised |
//! | cancel a waiter | O(1) unless it is alone in its run, then O(log d) expected |
//!
//! In lane mode d is the number of waiting flows: joining a waiting flow is O(1), serving
//! or cancelling the head of a flow's run that goes on is O(log d) expected.
//!
//! None depends on n, and with a handful of priority classes (the common case) d is small, so
//! every operation is a few pointer writes: the lock is held for a short, bounded time.
//! A binary heap would cost O(log n) per operation and needs a heap allocation.
//!
//! # What runs under the lock
//!
//! Of user code, only the priorities' `Ord` ([`WaitList::enqueue`], which compares before
//! it writes anything, so a panic changes nothing). In lane mode, moving a run compares the
//! flows' tags that the fair layer's own function reads from the keys, never the keys'
//! `Ord`, so releases and cancellations run no user code there either. Wakers are only moved in and out of
//! nodes: `enqueue` stores one into a node that holds none, [`WaitList::cancel`] and
//! [`WaitList::replace_waker`] hand the old one back for the caller to drop after
//! unlocking, `distribute` and `close_batch` collect them to be woken after unlocking, and
//! [`WaitList::waker_will_wake`] only compares two wakers' pointers (`Waker::will_wake`).
//! The walks of `inspect` call only the crate's own closure.
//!
//! # Invariants (all guarded by the semaphore's lock)
//!
//! 1. A waiter is linked iff its `state` is `LINKED`; only the lock holder links and
//!    unlinks. The owner only moves its own waiter from `IDLE`, `GRANTED` or `CLOSED` (when
//!    no lock holder can touch it) to `DONE`.
//! 2. Every linked waiter stays pinned and alive until it is unlinked: the owning future
//!    unlinks it (under the lock) in its destructor before the memory can go away.
//! 3. While a waiter is linked, its node is read and written only by the lock holder,
//!    through raw pointers ([`waiter::node`]), never through a `&mut` to the waiter
//!    (tokio#3399); its owner then only reads the state. Its owner reaches the node only
//!    while no list can reach it: `Waiter::set_priority` and
//!    `Waiter::with_ambient_lookup` (through `&mut` or by value, so never queued),
//!    `Waiter::take_ambient_lookup` (never queued yet), and the diagnostics' accessors
//!    `Waiter::unqueued` (idle or done) and `Waiter::granted_note` (done).
//! 4. Only `partial` may hold a partial grant (the list's `assigned > 0`), and only
//!    while it is the front: when another waiter becomes the front (a more urgent arrival,
//!    or an aged one) the grant goes back into the surplus first, so permits parked for a
//!    waiting large request are never withheld from a request that is due before it.
//! 5. Once the lock holder stores `GRANTED` or `CLOSED` (Release) it never touches the waiter
//!    again, so the owner may free it as soon as it loads that state (Acquire).
//!
//! # Where `unsafe` lives
//!
//! Every dereference of a pointer to a waiter is in this module or its children, each
//! argued from the invariants above. Elsewhere in the crate `unsafe` is only:
//!
//! * these functions' contracts, passed on: `crate::fair` (its semaphore) promises what
//!   [`WaitList::set_lanes`] asks of the cells its keys name; `crate::raw` calls the `unsafe fn`s here
//!   ([`WaitList::enqueue`], [`WaitList::cancel`], [`WaitList::waker_will_wake`],
//!   [`WaitList::replace_waker`]) with its pinned waiter, and the `unsafe fn`s of
//!   `RawAcquire` (one semaphore per request, cancelled before it is dropped) pass their
//!   contract on to `crate::request`, the one request both public
//!   futures wrap, which keeps it through the sealed `crate::handle::Handle` trait (an
//!   `unsafe trait`: a borrow or an `Arc` keeps the semaphore alive and in place);
//! * other structures' own pointers and pins, each argued where it is: `crate::ambient`
//!   follows its thread-local chain of priority scopes (pointers to stack frames),
//!   `crate::lock` hands out its `UnsafeCell` as `&mut` while the lock is held, and
//!   `crate::limited` pins futures in place in its slots (`Pin::new_unchecked`);
//! * `unsafe impl`s: `Send`/`Sync` of the wait list's types (here, and the lane cells and
//!   ids of `treap/lanes.rs`, which the fair layer keeps and never dereferences) and of the
//!   locks, and the
//!   [`RawLock`](crate::lock::RawLock) contract (`crate::lock` and the lock adapters).

use core::pin::Pin;
use core::ptr::NonNull;
use core::task::Waker;

use crate::loom::Ordering;
use crate::wake_batch::WakeBatch;

mod grants;
pub(crate) mod inspect;
mod overtake;
mod treap;
mod waiter;

pub(crate) use overtake::OvertakeLimit;
pub(crate) use treap::lanes::{Lane, LaneCell, LaneId, LaneOf};
pub(crate) use waiter::{QueueLimit, Waiter, WaiterState};

use grants::Grants;
use overtake::Arrivals;
use treap::Treap;
use waiter::{needed, node, state, Link, CLOSED, GRANTED, IDLE, LINKED};

/// The queued waiters of one semaphore, and the permits it holds for them (its surplus and
/// a partial grant): the treap of runs (the priority order), the arrival list (the
/// overtake limit's), and the grant bookkeeping, each a type of its own.
pub(crate) struct WaitList<P> {
    runs: Treap<P>,
    /// Kept while an overtake limit is set (feature `overtake-limit`).
    arrivals: Arrivals<P>,
    grants: Grants<P>,
    len: usize,
}

// SAFETY: the list only holds pointers to waiters, which are `Send` when `P: Send`; it is
// always accessed under the semaphore's lock.
unsafe impl<P: Send> Send for WaitList<P> {}

impl<P> core::fmt::Debug for WaitList<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WaitList")
            .field("len", &self.len)
            .field("surplus", &self.grants.surplus)
            .finish_non_exhaustive()
    }
}

/// How a batched operation ([`WaitList::distribute`], [`WaitList::close_batch`]) stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    /// Nothing more to do for now: `distribute` used up the surplus (or nobody waits),
    /// `close_batch` emptied the list.
    Complete,
    /// The wake batch is full: wake it, re-lock and call again.
    BatchFull,
}

impl<P> WaitList<P> {
    pub(crate) const fn new() -> Self {
        Self {
            runs: Treap::new(),
            arrivals: Arrivals::new(),
            grants: Grants::new(),
            len: 0,
        }
    }

    /// Puts the list in lane mode (`treap::lanes`): its runs are the flows of a fair
    /// semaphore, which `lanes` reads from each waiter's priority. Only while nobody waits.
    ///
    /// # Safety
    ///
    /// The promise of [`LaneOf`]: while a waiter is linked here, `lanes` answers the same
    /// for it, and every lane cell it names stays alive and in place and is named by
    /// waiters of this list only.
    pub(crate) unsafe fn set_lanes(&mut self, lanes: LaneOf<P>) {
        // SAFETY: the caller's promise, passed on.
        unsafe { self.runs.set_lanes(lanes) };
    }

    /// For the futurelock watch (`crate::diag`), at the end of a locked operation: records
    /// from now on whether the watch is `on`, and takes the grants recorded, if any.
    #[inline]
    pub(crate) fn take_grant_notes(&mut self, on: bool) -> Option<crate::diag::GrantNotes> {
        self.grants.notes.take(on)
    }

    /// The number of queued waiters.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.runs.first.is_none()
    }

    /// Adds `n` released permits to the surplus. The caller bounds the total
    /// (permits in existence never exceed `MAX_PERMITS`, below `u32::MAX`), so this cannot
    /// overflow.
    pub(crate) fn add_surplus(&mut self, n: usize) {
        self.grants.surplus += n as u32;
    }

    /// Whether [`WaitList::distribute`] could change anything: permits to hand out, or a
    /// partial grant that may have to move to a new front waiter.
    #[inline]
    pub(crate) fn may_distribute(&self) -> bool {
        self.grants.surplus != 0 || self.grants.partial.is_some()
    }

    /// Takes the whole surplus (for the permit word).
    pub(crate) fn take_surplus(&mut self) -> usize {
        core::mem::take(&mut self.grants.surplus) as usize
    }

    /// The waiter to serve next: the oldest one if it has seen `overtake_limit` grants
    /// since it arrived, else the first by priority.
    #[inline]
    fn front(&self, overtake_limit: OvertakeLimit) -> Link<P> {
        self.arrivals
            .aged(self.grants.clock, overtake_limit)
            .or(self.runs.first)
    }

    /// Hands the surplus to waiters in order: each waiter it completes is unlinked, marked
    /// granted and its waker pushed onto `wakers`; the next waiter gets a partial grant if
    /// the surplus runs out first. `overtake_limit` is the anti-starvation bound.
    pub(crate) fn distribute(
        &mut self,
        overtake_limit: OvertakeLimit,
        wakers: &mut WakeBatch,
    ) -> Progress {
        while let Some(front) = self.front(overtake_limit) {
            let grants = &mut self.grants;
            if grants.partial.is_some_and(|holder| holder != front) {
                // Someone else is due first: take the parked permits back.
                grants.surplus += grants.take_partial();
            }
            if grants.surplus == 0 {
                break;
            }
            // `partial` is now `front` or nobody (then `assigned` is 0).
            // SAFETY: lock held; `front` is linked, hence live (invariant 2).
            let missing = unsafe { needed(front) } - grants.assigned;
            if grants.surplus < missing {
                grants.assigned += core::mem::take(&mut grants.surplus);
                grants.partial = Some(front);
                break;
            }
            if wakers.is_full() {
                return Progress::BatchFull;
            }
            grants.surplus -= missing;
            grants.assigned = 0;
            grants.partial = None;
            // SAFETY: lock held; `front` is linked, hence live (invariant 2).
            unsafe {
                self.unlink(front);
                let n = node(front);
                let grants = &mut self.grants;
                (*n).ticket.close(grants.clock.now());
                grants
                    .notes
                    .on_grant(&mut (*n).note, grants.clock.now(), needed(front));
                grants.clock.tick();
                if let Some(waker) = (*n).waker.take() {
                    wakers.push(waker);
                }
                // Last touch (invariant 5): the owner may free the waiter from here on.
                state(front).store(GRANTED, Ordering::Release);
            }
            if self.grants.surplus == 0 {
                // The usual hand-off of one release to one waiter ends here: the next
                // front holds no partial grant (only the old front could), so there is
                // nothing left to move.
                break;
            }
        }
        Progress::Complete
    }

    /// Unlinks up to a batch of waiters from the front, marking them closed. Their partial
    /// grants return to the surplus. Returns [`Progress::BatchFull`] if waiters remain.
    pub(crate) fn close_batch(&mut self, wakers: &mut WakeBatch) -> Progress {
        while let Some(front) = self.runs.first {
            if wakers.is_full() {
                return Progress::BatchFull;
            }
            self.grants.return_partial(front);
            // SAFETY: lock held; `front` is linked, hence live (invariant 2).
            unsafe {
                self.unlink(front);
                if let Some(waker) = (*node(front)).waker.take() {
                    wakers.push(waker);
                }
                // Last touch (invariant 5).
                state(front).store(CLOSED, Ordering::Release);
            }
        }
        Progress::Complete
    }

    /// Unlinks `waiter` if it is still linked, returning its partial grant to the surplus
    /// and its waker to the caller, who drops it after releasing the lock (a waker's drop
    /// may run arbitrary code, tokio#5429). Returns `None` if it was not linked.
    ///
    /// # Safety
    ///
    /// `waiter` is either unlinked or linked in this list.
    #[inline]
    pub(crate) unsafe fn cancel(&mut self, waiter: Pin<&Waiter<P>>) -> Option<Option<Waker>> {
        if waiter.state() != WaiterState::Linked {
            return None;
        }
        let w = NonNull::from(waiter.get_ref());
        self.grants.return_partial(w);
        // SAFETY: lock held; `w` is linked in this list (caller), hence live.
        unsafe {
            self.unlink(w);
            state(w).store(IDLE, Ordering::Relaxed);
            Some((*node(w)).waker.take())
        }
    }
    /// Whether the linked waiter's stored waker wakes the same task as `waker`. Runs no
    /// user code (`will_wake` only compares pointers), so it may be called under the lock.
    ///
    /// # Safety
    ///
    /// `waiter` is linked in this list.
    pub(crate) unsafe fn waker_will_wake(&self, waiter: Pin<&Waiter<P>>, waker: &Waker) -> bool {
        debug_assert_eq!(waiter.state(), WaiterState::Linked);
        let w = NonNull::from(waiter.get_ref());
        // SAFETY: lock held (`&self` of the list is only reached under it); `w` is linked
        // (caller), hence live.
        unsafe { (*node(w)).waker.as_ref() }.is_some_and(|old| old.will_wake(waker))
    }

    /// Stores `waker` in a linked waiter. Returns the replaced waker, for the caller to
    /// drop after releasing the lock. The caller clones the new waker before taking the
    /// lock: both clone and drop are user code, kept out from under the lock.
    ///
    /// # Safety
    ///
    /// `waiter` is linked in this list.
    pub(crate) unsafe fn replace_waker(
        &mut self,
        waiter: Pin<&Waiter<P>>,
        waker: Waker,
    ) -> Option<Waker> {
        debug_assert_eq!(waiter.state(), WaiterState::Linked);
        let w = NonNull::from(waiter.get_ref());
        // SAFETY: lock held; `w` is linked (caller), hence live.
        unsafe { (*node(w)).waker.replace(waker) }
    }

    /// Removes a linked waiter from its run (and, if it headed its run, from the tree) and
    /// from the arrival list.
    ///
    /// # Safety
    ///
    /// The lock is held and `w` is linked in this list (so it, and every waiter it links
    /// to, is live: invariant 2).
    unsafe fn unlink(&mut self, w: NonNull<Waiter<P>>) {
        debug_assert_ne!(
            self.grants.partial,
            Some(w),
            "unlinking a waiter with a partial grant"
        );
        // SAFETY: the caller's conditions.
        unsafe {
            self.runs.unlink(w);
            self.arrivals.remove(w);
        }
        self.len -= 1;
    }
}

impl<P: Ord> WaitList<P> {
    /// Links `waiter` behind every queued waiter that would be served before it.
    ///
    /// Call [`WaitList::distribute`] afterwards: if the new waiter is now the front, that
    /// moves the previous front's partial grant to it (invariant 4). All priority
    /// comparisons happen before the first write, so a panicking `Ord` leaves the list as it
    /// was, the waiter unlinked and `waker` in the caller's hands. On success the waker is
    /// taken out of `waker` into the node.
    ///
    /// With an overtake limit set the waiter also goes on the arrival list, which only the
    /// limit reads: pass the same limit for every waiter of one list, so that the arrival
    /// list holds all of them or none.
    ///
    /// # Safety
    ///
    /// * `waiter` is not linked in any list.
    /// * `waiter` is unlinked from this list (by [`WaitList::cancel`], or by this list
    ///   granting or closing it) before it is dropped, and this list is neither moved nor
    ///   dropped while `waiter` is linked.
    pub(crate) unsafe fn enqueue(
        &mut self,
        waiter: Pin<&Waiter<P>>,
        waker: &mut Option<Waker>,
        overtake_limit: OvertakeLimit,
    ) {
        let w = NonNull::from(waiter.get_ref());
        debug_assert_eq!(waiter.state(), WaiterState::Idle, "waiter linked twice");
        // Its `prev` is about to be a link (see `waiter::Prev`).
        #[cfg(feature = "std")]
        debug_assert!(!waiter.lookup_pending(), "queued before its ambient lookup");
        // SAFETY: the caller holds the lock (`&mut self`); `w` is live and unlinked, and
        // every linked waiter is live (invariant 2).
        unsafe {
            let place = self.runs.find_place(w);
            let n = node(w);
            // Taken only now: if `Ord` panicked above, the waker is still the caller's, to
            // drop after releasing the lock (a waker's drop is user code). The node holds
            // no waker here (every unlink takes it out), so this assignment drops nothing.
            (*n).waker = waker.take();
            self.runs.link(w, place);
            (*n).ticket.stamp(self.grants.clock.now());
            self.arrivals.push(w, overtake_limit);
            state(w).store(LINKED, Ordering::Relaxed);
        }
        self.len += 1;
    }
}

#[cfg(all(test, not(loom)))]
mod check;
#[cfg(all(test, not(loom)))]
mod lane_tests;
#[cfg(all(test, not(loom)))]
mod tests;
