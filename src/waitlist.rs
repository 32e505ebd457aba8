//! The intrusive, priority-sorted wait list: the only module that follows raw pointers.
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
//!   min-heap on a random `heap` key, which keeps its expected depth O(log d) for d distinct
//!   queued priorities, whatever order they arrive in). `first` caches the leftmost head:
//!   the waiter to serve next by priority.
//! * With an overtake limit `k` (opt-in anti-starvation), every waiter is also on an
//!   **arrival list** (`older`/`newer`, oldest first) and records `ticket`, the list's
//!   grant count when it arrived. A waiter that has seen `k` grants since it arrived
//!   becomes the front, ahead of the priority order; such waiters are served oldest first.
//!   So no waiter is ever overtaken by more than `k` later arrivals, keys are never
//!   re-sorted, and it is O(1). Without a limit the arrival list is not kept (it would
//!   cost every waiter a few writes for nothing).
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
//! None depends on n, and with a handful of priority classes (the common case) d is small, so
//! every operation is a few pointer writes: the lock is held for a short, bounded time.
//! A binary heap would cost O(log n) per operation and needs a heap allocation.
//!
//! # Invariants (all guarded by the semaphore's lock)
//!
//! 1. A waiter is linked iff its `state` is `LINKED`; only the lock holder links and
//!    unlinks. The owner only moves its own waiter from `IDLE`, `GRANTED` or `CLOSED` (when
//!    no lock holder can touch it) to `DONE`.
//! 2. Every linked waiter stays pinned and alive until it is unlinked: the owning future
//!    unlinks it (under the lock) in its destructor before the memory can go away.
//! 3. Node fields are read and written only through raw pointers, by the lock holder, and
//!    never through a `&mut` to a waiter (tokio#3399): the owner only ever holds `&Waiter`.
//! 4. Only `partial` may hold a partial grant (`assigned > 0` while still linked), and only
//!    while it is the front: when another waiter becomes the front (a more urgent arrival,
//!    or an aged one) the grant goes back into `surplus` first, so permits parked for a
//!    waiting large request are never withheld from a request that is due before it.
//! 5. Once the lock holder stores `GRANTED` or `CLOSED` (Release) it never touches the waiter
//!    again, so the owner may free it as soon as it loads that state (Acquire).

use core::marker::PhantomPinned;
use core::pin::Pin;
use core::ptr::{self, NonNull};
use core::task::Waker;

use crate::loom::{AtomicU8, Ordering, UnsafeCell};
use crate::wake_list::WakeList;

mod inspect;
pub(crate) use inspect::ListFacts;

type Link<P> = Option<NonNull<Waiter<P>>>;

/// The start of every message of a structural check that fails. Such checks guard each
/// write into a tree slot; no input, `Ord` or waker can make them fail, so one failing means
/// a bug in this module, and panicking beats linking over a waiter.
const CORRUPT: &str = "prio-semaphore: wait list corrupted (a bug, please report it)";

/// The `heap` of a waiter that does not head a run (no treap key is ever 0).
const NOT_A_HEAD: u32 = 0;

// The waiter's state. `DONE` is only stored by the owner, the queued states (`>= LINKED`:
// queued once, whatever happened since) only by the lock holder, and `IDLE` by both: at
// creation, and by `cancel`, which the owner calls.
const IDLE: u8 = 0;
const DONE: u8 = 1;
const LINKED: u8 = 2;
const GRANTED: u8 = 3;
const CLOSED: u8 = 4;

/// Where a waiter stands, as its owner sees it without the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaiterState {
    /// Not in any list: never queued, or cancelled.
    Idle,
    /// Finished, as its owner recorded with [`Waiter::finish`]: it must not be used again.
    Done,
    /// Queued; the lock holder may touch it.
    Linked,
    /// Unlinked with all its permits; the lock holder is done with it.
    Granted,
    /// Unlinked by `close`; it holds no permits.
    Closed,
}

/// One queued permit request: the node embedded in an `Acquire` future.
///
/// Kept small (104 bytes for `i64` priorities on 64-bit targets) because every acquire
/// future embeds one, and futures are moved into tasks by copy.
pub(crate) struct Waiter<P> {
    node: UnsafeCell<Node<P>>,
    /// Permits requested: fixed at creation, so it lives outside the node and its owner
    /// reads it without the lock.
    needed: u32,
    state: AtomicU8,
    /// Linked waiters are pointed to by their neighbours, so they must not move.
    _pin: PhantomPinned,
}

/// `repr(C)`: the fields a tree search reads (`priority`, `left`, `right`) come first, so
/// they share a cache line.
#[repr(C)]
struct Node<P> {
    priority: P,
    /// Treap links, meaningful only for a run head.
    left: Link<P>,
    right: Link<P>,
    parent: Link<P>,
    /// The treap's heap key if this waiter heads its run, else 0 (xorshift never yields 0,
    /// so no separate flag is needed).
    heap: u32,
    /// Permits handed to this waiter so far (only ever non-zero for the front waiter);
    /// at most `needed`.
    assigned: u32,
    waker: Option<Waker>,
    /// Next in the run (circular).
    next: Link<P>,
    /// Previous in the run (circular): for the run head, the run's tail.
    prev: Link<P>,
    /// Arrival list neighbours.
    older: Link<P>,
    newer: Link<P>,
    /// The list's grant count when this waiter arrived.
    ticket: usize,
    /// The futurelock watch (`crate::hazard`): the priority as warnings show it, set by the
    /// owner before the waiter is queued, and the grant's number, set at the grant.
    #[cfg(all(feature = "std", feature = "tracing"))]
    shown: crate::trace::Shown,
    #[cfg(all(feature = "std", feature = "tracing"))]
    grant_seq: usize,
}

/// The `grant_seq` of a waiter whose grant was not recorded.
#[cfg(all(feature = "std", feature = "tracing"))]
pub(crate) const NO_GRANT_SEQ: usize = usize::MAX;

// SAFETY: a `Waiter` is shared between its owner and whichever thread holds the list's
// lock. Its node is only accessed under that lock (invariant 3) and its state is atomic, so
// it can be sent and shared as long as the priority it carries can be sent.
unsafe impl<P: Send> Send for Waiter<P> {}
// SAFETY: as above; `&Waiter` exposes nothing but the atomic state without the lock.
unsafe impl<P: Send> Sync for Waiter<P> {}

impl<P> Waiter<P> {
    pub(crate) fn new(priority: P, needed: u32) -> Self {
        Self {
            state: AtomicU8::new(IDLE),
            needed,
            node: UnsafeCell::new(Node {
                priority,
                assigned: 0,
                waker: None,
                next: None,
                prev: None,
                older: None,
                newer: None,
                ticket: 0,
                #[cfg(all(feature = "std", feature = "tracing"))]
                shown: crate::trace::Shown::Type("?"),
                #[cfg(all(feature = "std", feature = "tracing"))]
                grant_seq: NO_GRANT_SEQ,
                left: None,
                right: None,
                parent: None,
                heap: NOT_A_HEAD,
            }),
            _pin: PhantomPinned,
        }
    }

    /// Replaces the priority of a waiter that was never queued (`&mut` proves it is not).
    pub(crate) fn set_priority(&mut self, priority: P) {
        // SAFETY: `&mut self` means no list can hold a pointer to this waiter: linking
        // needs it pinned, and a pinned `!Unpin` waiter never hands out `&mut`.
        self.node
            .with_mut(|node| unsafe { (*node).priority = priority });
    }

    /// Permits requested.
    #[inline]
    pub(crate) fn needed(&self) -> u32 {
        self.needed
    }

    /// The waiter's state, with Acquire ordering: after `Granted` or `Closed` nothing else
    /// touches the waiter (invariant 5).
    #[inline]
    pub(crate) fn state(&self) -> WaiterState {
        match self.state.load(Ordering::Acquire) {
            IDLE => WaiterState::Idle,
            DONE => WaiterState::Done,
            LINKED => WaiterState::Linked,
            GRANTED => WaiterState::Granted,
            _ => WaiterState::Closed,
        }
    }

    /// Whether the waiter is still as created: never queued and not finished. For the
    /// owner's fast path: a relaxed load, since only the owner moves it out of `Idle`.
    #[inline]
    pub(crate) fn is_fresh(&self) -> bool {
        self.state.load(Ordering::Relaxed) == IDLE
    }

    /// Whether the waiter was ever queued and not finished since (it may be linked,
    /// granted or closed). Relaxed for the same reason as [`Waiter::is_fresh`]: the lock
    /// holder only moves it between queued states.
    #[inline]
    pub(crate) fn was_queued(&self) -> bool {
        self.state.load(Ordering::Relaxed) >= LINKED
    }

    /// If the waiter was granted its permits, records that the owner has taken them
    /// ([`WaiterState::Done`]) and returns `true`. The owner's second poll, inlined.
    #[inline]
    pub(crate) fn take_grant(&self) -> bool {
        // Acquire: pairs with the lock holder's Release store of `GRANTED` (invariant 5).
        let granted = self.state.load(Ordering::Acquire) == GRANTED;
        if granted {
            self.state.store(DONE, Ordering::Relaxed);
        }
        granted
    }

    /// Records that the owner is done with the waiter, which must then be idle, granted or
    /// closed (so no lock holder touches it again, invariant 5).
    #[inline]
    pub(crate) fn finish(&self) {
        debug_assert_ne!(
            self.state(),
            WaiterState::Linked,
            "finishing a linked waiter"
        );
        self.state.store(DONE, Ordering::Relaxed);
    }
}

/// What the owner reads of its own waiter for `tracing` events (`crate::trace`).
#[cfg(feature = "tracing")]
impl<P> Waiter<P> {
    /// Runs `f` on the priority if no list can reach the waiter (never queued, cancelled or
    /// finished), else returns `None`. Called before the first poll queues it.
    pub(crate) fn with_unqueued_priority<R>(
        self: Pin<&mut Self>,
        f: impl FnOnce(&P) -> R,
    ) -> Option<R> {
        if matches!(self.state(), WaiterState::Idle | WaiterState::Done) {
            let w = NonNull::from(self.as_ref().get_ref());
            // SAFETY: an idle or done waiter is in no list (invariants 1 and 5), and
            // `Pin<&mut Self>` means its owner is not queueing it meanwhile, so nobody else
            // reads or writes the node while `f` runs.
            Some(f(unsafe { &(*node(w)).priority }))
        } else {
            None
        }
    }

    /// Stores the priority as the futurelock warning shows it, if the waiter is not queued.
    #[cfg(feature = "std")]
    pub(crate) fn set_shown(self: Pin<&mut Self>, shown: crate::trace::Shown) {
        if self.state() == WaiterState::Idle {
            let w = NonNull::from(self.as_ref().get_ref());
            // SAFETY: as in `with_unqueued_priority`: an idle waiter is in no list, and
            // `Pin<&mut Self>` is its owner's exclusive access.
            unsafe { (*node(w)).shown = shown };
        }
    }

    /// The number of its grant as the futurelock watch recorded it, or [`NO_GRANT_SEQ`].
    /// Meaningful once the owner has taken the grant.
    #[cfg(feature = "std")]
    pub(crate) fn grant_seq(self: Pin<&mut Self>) -> usize {
        let w = NonNull::from(self.as_ref().get_ref());
        // SAFETY: as in `grants_waited`.
        unsafe { (*node(w)).grant_seq }
    }

    /// How many other requests were granted while this one waited, recorded by
    /// `distribute` at its grant. Meaningful once the owner has taken the grant.
    pub(crate) fn grants_waited(self: Pin<&mut Self>) -> usize {
        debug_assert_eq!(self.state(), WaiterState::Done);
        let w = NonNull::from(self.as_ref().get_ref());
        // SAFETY: the owner took its grant (Acquire load of `GRANTED`, invariant 5), so no
        // lock holder touches the node again; `Pin<&mut Self>` is the owner's access.
        unsafe { (*node(w)).ticket }
    }
}

impl<P> core::fmt::Debug for Waiter<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Waiter")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

/// The node behind `w`.
///
/// # Safety
///
/// `w` points to a live waiter, and the caller holds the list's lock (or owns an unlinked
/// waiter exclusively), so nobody else accesses the node while the pointer is used.
#[inline]
unsafe fn node<P>(w: NonNull<Waiter<P>>) -> *mut Node<P> {
    // SAFETY: `w` is live (caller). We take `&` to the `UnsafeCell` field only, never a
    // reference to the whole waiter's node contents, so no unique borrow is asserted.
    let cell = unsafe { &*ptr::addr_of!((*w.as_ptr()).node) };
    cell.with_mut(|node| node)
}

/// The permits requested by the waiter behind `w`.
///
/// # Safety
///
/// `w` points to a live waiter.
#[inline]
unsafe fn needed<P>(w: NonNull<Waiter<P>>) -> u32 {
    // SAFETY: `w` is live (caller); `needed` never changes while others can see the waiter,
    // so shared reads of it never race.
    unsafe { *ptr::addr_of!((*w.as_ptr()).needed) }
}

/// The state word of the waiter behind `w`.
///
/// # Safety
///
/// `w` points to a live waiter.
#[inline]
unsafe fn state<'a, P>(w: NonNull<Waiter<P>>) -> &'a AtomicU8 {
    // SAFETY: `w` is live (caller); the atomic is designed to be shared.
    unsafe { &*ptr::addr_of!((*w.as_ptr()).state) }
}

/// The queued waiters of one semaphore, plus the permits its lock holder is handing out.
pub(crate) struct WaitList<P> {
    root: Link<P>,
    /// The leftmost run head: the waiter that is served next by priority.
    first: Link<P>,
    /// Ends of the arrival list.
    oldest: Link<P>,
    newest: Link<P>,
    /// The waiter holding a partial grant, if any (invariant 4).
    partial: Link<P>,
    /// Waiters granted so far (wrapping): the clock of the overtake limit.
    grants: usize,
    len: usize,
    /// Permits released into the lock side that no waiter has been handed yet.
    surplus: usize,
    /// xorshift32 state for treap heap keys.
    rng: u32,
    /// The futurelock watch (`crate::hazard`): whether to record grants, and the grants
    /// recorded since the lock holder last took them.
    #[cfg(all(feature = "std", feature = "tracing"))]
    note_grants: bool,
    #[cfg(all(feature = "std", feature = "tracing"))]
    grant_notes: crate::hazard::GrantNotes,
}

// SAFETY: the list only holds pointers to waiters, which are `Send` when `P: Send`; it is
// always accessed under the semaphore's lock.
unsafe impl<P: Send> Send for WaitList<P> {}

impl<P> core::fmt::Debug for WaitList<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WaitList")
            .field("len", &self.len)
            .field("surplus", &self.surplus)
            .finish_non_exhaustive()
    }
}

/// How [`WaitList::distribute`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Distributed {
    /// No more progress is possible: the surplus is used up, or the list is empty.
    Done,
    /// The wake batch is full: wake it, re-lock and call again.
    BatchFull,
}

impl<P> WaitList<P> {
    pub(crate) const fn new() -> Self {
        Self {
            root: None,
            first: None,
            oldest: None,
            newest: None,
            partial: None,
            grants: 0,
            len: 0,
            surplus: 0,
            rng: 0x9E37_79B9,
            #[cfg(all(feature = "std", feature = "tracing"))]
            note_grants: false,
            #[cfg(all(feature = "std", feature = "tracing"))]
            grant_notes: crate::hazard::GrantNotes::new(),
        }
    }

    /// For the futurelock watch (`crate::hazard`): sets whether grants are recorded, and
    /// returns whether any were (never while the watch is off), so that the notes are only
    /// copied out when there are some.
    #[cfg(all(feature = "std", feature = "tracing"))]
    #[inline]
    pub(crate) fn grant_notes_taken(&mut self, note_grants: bool) -> bool {
        self.note_grants = note_grants;
        !self.grant_notes.is_empty()
    }

    /// The grants recorded since the last call.
    #[cfg(all(feature = "std", feature = "tracing"))]
    #[cold]
    pub(crate) fn take_grant_notes(&mut self) -> crate::hazard::GrantNotes {
        core::mem::replace(&mut self.grant_notes, crate::hazard::GrantNotes::new())
    }

    /// The number of queued waiters.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// Adds `n` released permits to the lock side's hands. The caller bounds the total
    /// (permits in existence never exceed `MAX_PERMITS`), so this cannot overflow.
    pub(crate) fn add_surplus(&mut self, n: usize) {
        self.surplus += n;
    }

    /// Whether [`WaitList::distribute`] could change anything: permits to hand out, or a
    /// partial grant that may have to move to a new front waiter.
    #[inline]
    pub(crate) fn may_distribute(&self) -> bool {
        self.surplus != 0 || self.partial.is_some()
    }

    /// Takes every permit the lock side holds but has not handed out.
    pub(crate) fn take_surplus(&mut self) -> usize {
        core::mem::take(&mut self.surplus)
    }

    /// The waiter to serve next: the oldest one if it has seen `overtake_limit` grants
    /// since it arrived, else the first by priority.
    fn front(&self, overtake_limit: usize) -> Link<P> {
        if overtake_limit != usize::MAX {
            if let Some(oldest) = self.oldest {
                // SAFETY: lock held; `oldest` is linked, hence live (invariant 2).
                let ticket = unsafe { (*node(oldest)).ticket };
                if self.grants.wrapping_sub(ticket) >= overtake_limit {
                    return Some(oldest);
                }
            }
        }
        self.first
    }

    /// Hands the surplus to waiters in order: each waiter it completes is unlinked, marked
    /// granted and its waker pushed onto `wakers`; the next waiter gets a partial grant if
    /// the surplus runs out first. `overtake_limit` is the anti-starvation bound
    /// (`usize::MAX`: strict priority).
    pub(crate) fn distribute(
        &mut self,
        overtake_limit: usize,
        wakers: &mut WakeList,
    ) -> Distributed {
        while let Some(front) = self.front(overtake_limit) {
            // SAFETY: lock held; `front` and `partial` are linked, hence live (invariant 2).
            unsafe {
                if let Some(holder) = self.partial {
                    if holder != front {
                        // Someone else is due first: take the parked permits back.
                        self.surplus += core::mem::take(&mut (*node(holder)).assigned) as usize;
                        self.partial = None;
                    }
                }
                if self.surplus == 0 {
                    break;
                }
                let n = node(front);
                let missing = (needed(front) - (*n).assigned) as usize;
                if self.surplus < missing {
                    // Fewer than `missing`, so it fits in the `u32` count.
                    (*n).assigned += core::mem::take(&mut self.surplus) as u32;
                    self.partial = Some(front);
                    break;
                }
                if wakers.is_full() {
                    return Distributed::BatchFull;
                }
                self.surplus -= missing;
                self.unlink(front);
                // For its `granted` event: the grants it watched go to others.
                #[cfg(feature = "tracing")]
                {
                    (*n).ticket = self.grants.wrapping_sub((*n).ticket);
                }
                // For the futurelock watch: a copy of what a warning names.
                #[cfg(all(feature = "std", feature = "tracing"))]
                if self.note_grants {
                    (*n).grant_seq = self.grants;
                    self.grant_notes.push(crate::hazard::GrantNote {
                        seq: self.grants,
                        permits: needed(front),
                        priority: (*n).shown,
                    });
                }
                self.grants = self.grants.wrapping_add(1);
                if let Some(waker) = (*n).waker.take() {
                    wakers.push(waker);
                }
                // Last touch (invariant 5): the owner may free the waiter from here on.
                state(front).store(GRANTED, Ordering::Release);
                if self.surplus == 0 {
                    // The usual hand-off of one release to one waiter ends here: the next
                    // front holds no partial grant (only the old front could), so there is
                    // nothing left to move.
                    break;
                }
            }
        }
        Distributed::Done
    }

    /// Unlinks up to a batch of waiters from the front, marking them closed. Their partial
    /// grants return to the surplus. Returns [`Distributed::BatchFull`] if waiters remain.
    pub(crate) fn close_batch(&mut self, wakers: &mut WakeList) -> Distributed {
        while let Some(front) = self.first {
            if wakers.is_full() {
                return Distributed::BatchFull;
            }
            // SAFETY: lock held; `front` is linked, hence live (invariant 2).
            unsafe {
                let n = node(front);
                self.surplus += core::mem::take(&mut (*n).assigned) as usize;
                self.unlink(front);
                if let Some(waker) = (*n).waker.take() {
                    wakers.push(waker);
                }
                // Last touch (invariant 5).
                state(front).store(CLOSED, Ordering::Release);
            }
        }
        Distributed::Done
    }

    /// Unlinks `waiter` if it is still linked, returning its partial grant to the surplus
    /// and its waker to the caller, who drops it after releasing the lock (a waker's drop
    /// may run arbitrary code, tokio#5429). Returns `None` if it was not linked.
    ///
    /// # Safety
    ///
    /// `waiter` is either unlinked or linked in this list.
    pub(crate) unsafe fn cancel(&mut self, waiter: Pin<&Waiter<P>>) -> Option<Option<Waker>> {
        if waiter.state() != WaiterState::Linked {
            return None;
        }
        let w = NonNull::from(waiter.get_ref());
        // SAFETY: lock held; `w` is linked in this list (caller), hence live.
        unsafe {
            let n = node(w);
            self.surplus += core::mem::take(&mut (*n).assigned) as usize;
            self.unlink(w);
            state(w).store(IDLE, Ordering::Relaxed);
            Some((*n).waker.take())
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
    /// lock: both clone and drop are user code, which never runs under it.
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
}

/// Where a new waiter goes.
enum Place<P> {
    /// At the tail of the run headed by this waiter.
    Run(NonNull<Waiter<P>>),
    /// As the head of a new run: a leaf under `parent` (on its left if `left`).
    NewRun {
        parent: Link<P>,
        left: bool,
        becomes_first: bool,
    },
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
    /// `track_arrival` puts the waiter on the arrival list, which only an overtake limit
    /// reads: pass the same value (`overtake_limit != usize::MAX`) for every waiter of one
    /// list, so that the arrival list holds all of them or none.
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
        track_arrival: bool,
    ) {
        let w = NonNull::from(waiter.get_ref());
        debug_assert_eq!(waiter.state(), WaiterState::Idle, "waiter linked twice");
        // SAFETY: the caller holds the lock (`&mut self`); `w` is live and unlinked, and
        // every linked waiter is live (invariant 2).
        unsafe {
            let place = self.find_place(w);
            let n = node(w);
            // Taken only now: if `Ord` panicked above, the waker is still the caller's, to
            // drop after releasing the lock (a waker's drop is user code).
            (*n).waker = waker.take();
            (*n).assigned = 0;
            match place {
                Place::Run(head) => self.append_to_run(head, w),
                Place::NewRun {
                    parent,
                    left,
                    becomes_first,
                } => {
                    self.insert_run_head(w, parent, left);
                    if becomes_first {
                        self.first = Some(w);
                    }
                }
            }
            // Every waiter's arrival is stamped for its `granted` event.
            #[cfg(feature = "tracing")]
            {
                (*n).ticket = self.grants;
            }
            if track_arrival {
                (*n).ticket = self.grants;
                (*n).older = self.newest;
                (*n).newer = None;
                match self.newest {
                    Some(newest) => (*node(newest)).newer = Some(w),
                    None => self.oldest = Some(w),
                }
                self.newest = Some(w);
            }
            state(w).store(LINKED, Ordering::Relaxed);
        }
        self.len += 1;
    }

    /// Finds where `w` goes, only reading (so a panicking `Ord` changes nothing).
    ///
    /// Every decision rests on one comparison and on the tree's shape, never on two
    /// comparisons agreeing: the new run becomes the first iff its place is reached by
    /// going left only (the leftmost free slot is `first`'s left one). So an `Ord` that
    /// answers inconsistently can only put the waiter somewhere unspecified in the order,
    /// never corrupt the structure.
    ///
    /// # Safety
    ///
    /// See the block comment above; `w` is live.
    unsafe fn find_place(&self, w: NonNull<Waiter<P>>) -> Place<P> {
        // SAFETY: (whole body) the caller's conditions; only shared reads of priorities.
        unsafe {
            let prio = &(*node(w)).priority;
            let Some(first) = self.first else {
                return Place::NewRun {
                    parent: None,
                    left: true,
                    becomes_first: true,
                };
            };
            // The front run is the most common target: check it before walking the tree.
            match prio.cmp(&(*node(first)).priority) {
                core::cmp::Ordering::Equal => return Place::Run(first),
                // `first` is leftmost, so its left slot is free.
                core::cmp::Ordering::Less => {
                    return Place::NewRun {
                        parent: Some(first),
                        left: true,
                        becomes_first: true,
                    }
                }
                core::cmp::Ordering::Greater => {}
            }
            let mut cur = self.root.expect("non-empty list has a root");
            // Whether every step so far went left: then the free slot found is `first`'s.
            let mut only_left = true;
            loop {
                let c = node(cur);
                // A branch on purpose: a conditional move would make each next load wait
                // for the comparison, and measured slower even on random descents
                // (`docs/benchmarks.md`, second round).
                let (next, left) = match prio.cmp(&(*c).priority) {
                    core::cmp::Ordering::Equal => return Place::Run(cur),
                    core::cmp::Ordering::Less => ((*c).left, true),
                    core::cmp::Ordering::Greater => ((*c).right, false),
                };
                only_left &= left;
                match next {
                    Some(next) => cur = next,
                    None => {
                        return Place::NewRun {
                            parent: Some(cur),
                            left,
                            becomes_first: only_left,
                        }
                    }
                }
            }
        }
    }
}

// Tree and run surgery. Every function here requires, beyond its own conditions: the caller
// holds the lock, and every pointer passed or reached is to a linked, hence live, waiter.
impl<P> WaitList<P> {
    /// # Safety
    ///
    /// See the block comment above; `head` heads a run, `w` is live and unlinked.
    unsafe fn append_to_run(&mut self, head: NonNull<Waiter<P>>, w: NonNull<Waiter<P>>) {
        // SAFETY: the caller's conditions.
        unsafe {
            let h = node(head);
            assert_ne!((*h).heap, NOT_A_HEAD, "{CORRUPT}: appending to a non-head");
            let tail = (*h).prev.expect("run is circular");
            let n = node(w);
            (*n).heap = NOT_A_HEAD;
            (*n).next = Some(head);
            (*n).prev = Some(tail);
            (*node(tail)).next = Some(w);
            (*h).prev = Some(w);
        }
    }

    /// # Safety
    ///
    /// See the block comment above; `w` is live and unlinked, and `parent`'s `left`/right
    /// slot is free (as found by `find_place`).
    unsafe fn insert_run_head(&mut self, w: NonNull<Waiter<P>>, parent: Link<P>, left: bool) {
        // SAFETY: the caller's conditions.
        unsafe {
            // A real check, not only a debug one: linking over an occupied slot would
            // strand the waiter there. `find_place` never answers one, whatever `Ord` says.
            let slot = match parent {
                None => self.root,
                Some(p) if left => (*node(p)).left,
                Some(p) => (*node(p)).right,
            };
            assert!(slot.is_none(), "{CORRUPT}: a new run's slot is taken");
        }
        let heap = self.next_heap_key();
        // SAFETY: the caller's conditions.
        unsafe {
            let n = node(w);
            (*n).next = Some(w);
            (*n).prev = Some(w);
            (*n).left = None;
            (*n).right = None;
            (*n).parent = parent;
            (*n).heap = heap;
            match parent {
                None => self.root = Some(w),
                Some(p) if left => (*node(p)).left = Some(w),
                Some(p) => (*node(p)).right = Some(w),
            }
            while let Some(p) = (*n).parent {
                if (*node(p)).heap <= heap {
                    break;
                }
                self.rotate_up(w);
            }
        }
    }

    /// Removes a linked waiter from its run, the arrival list and, if it headed its run,
    /// from the tree.
    ///
    /// # Safety
    ///
    /// See the block comment above; `w` is linked in this list.
    unsafe fn unlink(&mut self, w: NonNull<Waiter<P>>) {
        // SAFETY: the caller's conditions.
        unsafe {
            let n = node(w);
            let next = (*n).next.expect("linked waiter has a run");
            let prev = (*n).prev.expect("linked waiter has a run");
            if (*n).heap == NOT_A_HEAD {
                (*node(prev)).next = Some(next);
                (*node(next)).prev = Some(prev);
            } else if next != w {
                // The next waiter of the run takes this one's place in the tree.
                (*node(prev)).next = Some(next);
                (*node(next)).prev = Some(prev);
                self.replace_in_tree(w, next);
            } else {
                self.remove_from_tree(w);
            }
            // The arrival list holds every linked waiter or none (see `enqueue`), so an
            // empty one means it is not kept.
            if self.oldest.is_some() {
                match (*n).older {
                    Some(older) => (*node(older)).newer = (*n).newer,
                    None => self.oldest = (*n).newer,
                }
                match (*n).newer {
                    Some(newer) => (*node(newer)).older = (*n).older,
                    None => self.newest = (*n).older,
                }
            }
            if self.partial == Some(w) {
                // Its grant was taken (cancel, close) or completed (distribute) by the caller.
                self.partial = None;
            }
            // The links are left stale: nothing reads an unlinked node's links, and linking
            // writes every one of them again.
        }
        self.len -= 1;
    }

    /// Puts `new` (unlinked from the tree) where the run head `old` is.
    ///
    /// # Safety
    ///
    /// See the block comment above.
    unsafe fn replace_in_tree(&mut self, old: NonNull<Waiter<P>>, new: NonNull<Waiter<P>>) {
        // SAFETY: the caller's conditions.
        unsafe {
            let (o, n) = (node(old), node(new));
            (*n).left = (*o).left;
            (*n).right = (*o).right;
            (*n).parent = (*o).parent;
            (*n).heap = (*o).heap;
            if let Some(l) = (*n).left {
                (*node(l)).parent = Some(new);
            }
            if let Some(r) = (*n).right {
                (*node(r)).parent = Some(new);
            }
            self.set_child((*o).parent, old, Some(new));
            if self.first == Some(old) {
                self.first = Some(new);
            }
        }
    }

    /// Removes the head of a run of one from the tree.
    ///
    /// # Safety
    ///
    /// See the block comment above.
    unsafe fn remove_from_tree(&mut self, w: NonNull<Waiter<P>>) {
        // SAFETY: the caller's conditions.
        unsafe {
            let n = node(w);
            // Rotate `w` down (its lighter child up) until it has at most one child.
            while let (Some(l), Some(r)) = ((*n).left, (*n).right) {
                let up = if (*node(l)).heap <= (*node(r)).heap {
                    l
                } else {
                    r
                };
                self.rotate_up(up);
            }
            let child = (*n).left.or((*n).right);
            let parent = (*n).parent;
            if let Some(c) = child {
                (*node(c)).parent = parent;
            }
            self.set_child(parent, w, child);
            if self.first == Some(w) {
                // `w` was leftmost, so it had no left child: the next run is the leftmost
                // of its right subtree, or else its parent.
                self.first = match child {
                    Some(c) => Some(Self::leftmost(c)),
                    None => parent,
                };
            }
        }
    }

    /// # Safety
    ///
    /// See the block comment above.
    unsafe fn leftmost(mut w: NonNull<Waiter<P>>) -> NonNull<Waiter<P>> {
        // SAFETY: the caller's conditions.
        unsafe {
            while let Some(l) = (*node(w)).left {
                w = l;
            }
        }
        w
    }

    /// Makes `new` the child of `parent` that `old` was (or the root).
    ///
    /// # Safety
    ///
    /// See the block comment above.
    unsafe fn set_child(&mut self, parent: Link<P>, old: NonNull<Waiter<P>>, new: Link<P>) {
        // SAFETY: the caller's conditions.
        unsafe {
            let slot = match parent {
                None => &mut self.root,
                Some(p) if (*node(p)).left == Some(old) => &mut (*node(p)).left,
                Some(p) => &mut (*node(p)).right,
            };
            assert_eq!(*slot, Some(old), "{CORRUPT}: a child slot lost its node");
            *slot = new;
        }
    }

    /// Rotates the run head `x` above its parent, keeping the search order.
    ///
    /// # Safety
    ///
    /// See the block comment above; `x` has a parent.
    unsafe fn rotate_up(&mut self, x: NonNull<Waiter<P>>) {
        // SAFETY: the caller's conditions.
        unsafe {
            let xn = node(x);
            let p = (*xn).parent.expect("rotate_up needs a parent");
            let pn = node(p);
            let grand = (*pn).parent;
            if (*pn).left == Some(x) {
                let moved = (*xn).right;
                (*pn).left = moved;
                if let Some(m) = moved {
                    (*node(m)).parent = Some(p);
                }
                (*xn).right = Some(p);
            } else {
                let moved = (*xn).left;
                (*pn).right = moved;
                if let Some(m) = moved {
                    (*node(m)).parent = Some(p);
                }
                (*xn).left = Some(p);
            }
            (*pn).parent = Some(x);
            (*xn).parent = grand;
            self.set_child(grand, p, Some(x));
        }
    }

    fn next_heap_key(&mut self) -> u32 {
        // xorshift32: cheap, and the tree shape only needs keys independent of priorities.
        // From a non-zero seed it never yields 0, which is what `NOT_A_HEAD` relies on.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng = x;
        debug_assert_ne!(x, NOT_A_HEAD);
        x
    }
}

#[cfg(all(test, not(loom)))]
impl<P: Ord + core::fmt::Debug> WaitList<P> {
    /// Checks every invariant, the search order included; returns the waiters' permits and
    /// priorities in service order.
    pub(crate) fn check(&self) -> std::vec::Vec<(usize, &P)> {
        let order = self.check_structure();
        for pair in order.windows(2) {
            let ((_, before, _), (_, after, heads_a_run)) = (pair[0], pair[1]);
            match heads_a_run {
                true => assert!(before < after, "search order of the runs"),
                false => assert_eq!(before, after, "a run shares one priority"),
            }
        }
        order.into_iter().map(|(n, p, _)| (n, p)).collect()
    }
}

#[cfg(all(test, not(loom)))]
impl<P> WaitList<P> {
    /// Checks every invariant that holds whatever the priorities' `Ord` answers: links,
    /// heap order, `first`, counts, the arrival list and the partial grant (no comparison
    /// is made). Returns each waiter's permits and priority in list order, and whether it
    /// heads its run.
    pub(crate) fn check_structure(&self) -> std::vec::Vec<(usize, &P, bool)> {
        use std::vec::Vec;
        let mut order: Vec<(usize, &P, bool)> = Vec::new();
        // SAFETY: tests call this with the list exclusively borrowed; all linked waiters
        // are alive (invariant 2).
        unsafe {
            let mut count = 0;
            if let Some(root) = self.root {
                assert_eq!((*node(root)).parent, None, "root has no parent");
            }
            // In-order walk of the treap.
            let mut stack: Vec<NonNull<Waiter<P>>> = Vec::new();
            let mut cur = self.root;
            let mut prev_head: Option<NonNull<Waiter<P>>> = None;
            while cur.is_some() || !stack.is_empty() {
                while let Some(c) = cur {
                    stack.push(c);
                    cur = (*node(c)).left;
                }
                let h = stack.pop().unwrap();
                let hn = node(h);
                assert_ne!((*hn).heap, NOT_A_HEAD, "tree nodes head their runs");
                assert_eq!(state(h).load(Ordering::Relaxed), LINKED);
                for child in [(*hn).left, (*hn).right].into_iter().flatten() {
                    assert_eq!((*node(child)).parent, Some(h), "child's parent pointer");
                    assert!((*node(child)).heap >= (*hn).heap, "heap order");
                }
                if prev_head.is_none() {
                    assert_eq!(self.first, Some(h), "first is the leftmost head");
                }
                prev_head = Some(h);
                // Walk the run.
                let mut w = h;
                loop {
                    let wn = node(w);
                    assert_eq!((*wn).heap != NOT_A_HEAD, w == h, "only run heads have keys");
                    assert_eq!((*node((*wn).next.unwrap())).prev, Some(w), "run links");
                    if Some(w) != self.partial {
                        assert_eq!((*wn).assigned, 0, "only `partial` holds a partial grant");
                    }
                    order.push((needed(w) as usize, &(*wn).priority, w == h));
                    count += 1;
                    w = (*wn).next.unwrap();
                    if w == h {
                        break;
                    }
                }
                cur = (*hn).right;
            }
            assert_eq!(count, self.len, "len counts linked waiters");
            // The arrival list holds the same waiters, oldest first, tickets non-decreasing.
            let mut arrivals = 0;
            let mut cur = self.oldest;
            let mut prev: Link<P> = None;
            while let Some(w) = cur {
                assert_eq!((*node(w)).older, prev, "arrival links");
                if let Some(p) = prev {
                    assert!(
                        (*node(p)).ticket <= (*node(w)).ticket,
                        "tickets in arrival order"
                    );
                }
                arrivals += 1;
                prev = Some(w);
                cur = (*node(w)).newer;
            }
            assert_eq!(self.newest, prev);
            assert!(
                arrivals == self.len || arrivals == 0,
                "the arrival list holds every waiter or none"
            );
            assert_eq!(self.first.is_none(), self.root.is_none());
            if let Some(partial) = self.partial {
                assert_eq!(state(partial).load(Ordering::Relaxed), LINKED);
                assert!((*node(partial)).assigned > 0, "`partial` holds a grant");
            }
        }
        order
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
