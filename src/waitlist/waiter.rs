//! The waiter: the node every `Acquire` future embeds, and its state machine as its owner
//! sees it.
//!
//! The owner (the acquire future) only reads the state and marks its waiter done; every
//! other state change is the lock holder's (`super::WaitList`). The raw accessors at the
//! end ([`node`], [`needed`], [`state`]) are how the rest of the module reaches a waiter
//! through a pointer.

#[cfg(feature = "std")]
use core::cell::Cell;
use core::marker::PhantomPinned;
use core::pin::Pin;
use core::ptr::{self, NonNull};
use core::task::Waker;

#[cfg(not(feature = "overtake-limit"))]
use core::marker::PhantomData;

use crate::diag::WaiterNote;
use crate::loom::{AtomicU8, Ordering, UnsafeCell};

/// A pointer to a linked waiter, or none.
pub(super) type Link<P> = Option<NonNull<Waiter<P>>>;

/// The part of a waiter that only the lock holder touches while it is linked: its links,
/// its ticket, its waker and its diagnostic note. Embedded in [`Waiter`] behind an
/// `UnsafeCell`, and reached only through [`node`]. Each group of fields belongs to one
/// part of the list, which alone reads and writes it.
///
/// `repr(C)`: the fields a tree search reads (`priority`, `left`, `right`) come first, so
/// they share a cache line.
#[repr(C)]
pub(super) struct Node<P> {
    pub(super) priority: P,
    /// The treap's (`treap.rs`), meaningful only for a run head: its links, and its
    /// heap-order key, or `treap::NOT_A_HEAD`.
    pub(super) left: Link<P>,
    pub(super) right: Link<P>,
    pub(super) parent: Link<P>,
    /// Linked: the treap's heap-order key (written whenever the waiter is linked). Before
    /// its first link: the request's [`QueueLimit`], which `WaitList::enqueue` reads
    /// before linking it; sharing the word keeps the limit free for every request.
    pub(super) treap_key: u32,
    /// The grant clock's reading (`grants.rs`, [`Ticket`]).
    pub(super) ticket: Ticket,
    pub(super) waker: Option<Waker>,
    /// The run's (`treap.rs`): next in the run (circular), and the previous one (for the
    /// run head, the run's tail), which doubles as the ambient lookup before the first
    /// poll (see [`Prev`]).
    pub(super) next: Link<P>,
    pub(super) prev: Prev<P>,
    /// The arrival list's (`overtake.rs`, [`ArrivalLinks`]).
    pub(super) arrival: ArrivalLinks<P>,
    /// What the futurelock watch needs (`crate::diag`).
    pub(super) note: WaiterNote,
}

impl<P> Node<P> {
    /// The node of a new, unlinked waiter.
    fn new(priority: P) -> Self {
        Self {
            priority,
            left: None,
            right: None,
            parent: None,
            // No queue limit; the treap key is written when the waiter is linked.
            treap_key: QueueLimit::NONE.0,
            ticket: Ticket::new(),
            waker: None,
            next: None,
            prev: Prev { link: None },
            arrival: ArrivalLinks::new(),
            note: WaiterNote::new(),
        }
    }
}

/// A waiter's neighbours on the arrival list (older, newer), kept in its node.
#[cfg(feature = "overtake-limit")]
pub(super) struct ArrivalLinks<P> {
    pub(super) older: Link<P>,
    pub(super) newer: Link<P>,
}

/// Without feature `overtake-limit`: no links.
#[cfg(not(feature = "overtake-limit"))]
pub(super) struct ArrivalLinks<P>(PhantomData<Link<P>>);

impl<P> ArrivalLinks<P> {
    pub(super) const fn new() -> Self {
        #[cfg(feature = "overtake-limit")]
        return Self {
            older: None,
            newer: None,
        };
        #[cfg(not(feature = "overtake-limit"))]
        Self(PhantomData)
    }
}

/// The most requests that may already wait for a request to join the line
/// ([`Acquire::queue_limit`](crate::Acquire::queue_limit)), as kept in its node's
/// `treap_key` word until it is linked: `0` for none, else the limit plus one. A limit of
/// `u32::MAX - 1` or more is none: a line that long would take over 300 GiB of futures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueLimit(u32);

impl QueueLimit {
    pub(crate) const NONE: Self = Self(0);

    pub(crate) const fn new(limit: usize) -> Self {
        if limit >= (u32::MAX - 1) as usize {
            Self::NONE
        } else {
            Self(limit as u32 + 1)
        }
    }

    /// The limit, if any.
    pub(crate) const fn get(self) -> Option<usize> {
        match self.0.checked_sub(1) {
            Some(limit) => Some(limit as usize),
            None => None,
        }
    }
}

/// A waiter's reading of the grant clock (`grants::GrantClock`): while it waits, the clock
/// when it arrived (its age is the difference); once granted, the grants it watched go to
/// others. Zero-sized where the clock is (neither feature `overtake-limit` nor `tracing`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Ticket {
    #[cfg(any(feature = "overtake-limit", feature = "tracing"))]
    at: u32,
}

impl Ticket {
    pub(super) const fn new() -> Self {
        Self {
            #[cfg(any(feature = "overtake-limit", feature = "tracing"))]
            at: 0,
        }
    }

    /// At arrival, with the clock at `now`.
    #[inline(always)]
    pub(super) fn stamp(&mut self, now: u32) {
        *self = Self::read(now);
    }

    /// While waiting, with the clock at `now`: the grants since arrival (they never wrap,
    /// see `grants::GrantClock`).
    #[inline(always)]
    pub(super) fn age(self, now: u32) -> u32 {
        now.wrapping_sub(self.get())
    }

    /// At the grant, with the clock at `now`: the ticket becomes the grants the waiter
    /// watched go to others.
    #[inline(always)]
    pub(super) fn close(&mut self, now: u32) {
        *self = Self::read(self.age(now));
    }

    #[inline(always)]
    pub(super) fn get(self) -> u32 {
        #[cfg(any(feature = "overtake-limit", feature = "tracing"))]
        return self.at;
        #[cfg(not(any(feature = "overtake-limit", feature = "tracing")))]
        0
    }

    #[inline(always)]
    fn read(at: u32) -> Self {
        let _ = at;
        Self {
            #[cfg(any(feature = "overtake-limit", feature = "tracing"))]
            at,
        }
    }
}

/// A waiter's previous neighbour in its run while it is queued; before its owner first
/// polls it, where it looks its ambient priority up (`crate::ambient`). One word for both,
/// since the lookup is taken before the waiter can be queued: the waiter's
/// `lookup_pending` flag says the lookup is there. Otherwise it is the link, and every
/// read of the link follows a write of it: `enqueue` writes it for every waiter it queues,
/// and nothing reads an unlinked waiter's links.
///
/// A field of its own for the lookup would cost every acquire future 8 bytes on 64-bit
/// targets, and every other word that no list reads before the waiter is queued is a link
/// too, so the lookup stays here.
pub(super) union Prev<P> {
    pub(super) link: Link<P>,
    #[cfg(feature = "std")]
    lookup: fn() -> Option<P>,
}

impl<P> Clone for Prev<P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P> Copy for Prev<P> {}

// The waiter's state. `DONE` is only stored by the owner; `LINKED`, `GRANTED` and `CLOSED`
// (`>= LINKED`: the waiter has entered the list, see `Waiter::has_entered_list`) only by
// the lock holder; and `IDLE` by both: at creation, and by `WaitList::cancel`, which the
// owner calls under the lock.
pub(super) const IDLE: u8 = 0;
pub(super) const DONE: u8 = 1;
pub(super) const LINKED: u8 = 2;
pub(super) const GRANTED: u8 = 3;
pub(super) const CLOSED: u8 = 4;

/// Where a waiter stands, as its owner sees it without the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaiterState {
    /// Not in any list: never queued, or cancelled.
    Idle,
    /// Its owner is done with it, as recorded by [`Waiter::set_done`] (or
    /// [`Waiter::take_grant`]): it must not be used again.
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
/// Kept small (the crate docs' "Sizes" give the futures that embed it) because every
/// acquire future embeds one, and futures are moved into tasks by copy.
pub(crate) struct Waiter<P> {
    node: UnsafeCell<Node<P>>,
    /// Permits requested: fixed at creation, so it lives outside the node and its owner
    /// reads it without the lock.
    needed: u32,
    state: AtomicU8,
    /// Whether the node's `prev` holds an ambient lookup still to run (feature `std`):
    /// only its owner reads or writes it, and only before the waiter is first queued it
    /// is ever `true`. It fills what would be padding.
    #[cfg(feature = "std")]
    lookup_pending: Cell<bool>,
    /// Linked waiters are pointed to by their neighbours, so they must not move.
    _pin: PhantomPinned,
}

// SAFETY: a `Waiter` is shared between its owner and whichever thread holds the list's
// lock. Its node is only accessed by the lock holder while it is linked, and by its owner
// only while no list can reach it (invariant 3); its state is atomic. So it can be sent and
// shared as long as the priority it carries can be sent.
unsafe impl<P: Send> Send for Waiter<P> {}
// SAFETY: as above; without the lock `&Waiter` exposes nothing but the atomic state, the
// immutable `needed` and `lookup_pending`, a `Cell` that only the owner touches (through its
// exclusive `Pin<&mut>`), never the lock holder, so it is never accessed from two threads.
unsafe impl<P: Send> Sync for Waiter<P> {}

impl<P> Waiter<P> {
    pub(crate) fn new(priority: P, needed: u32) -> Self {
        Self {
            state: AtomicU8::new(IDLE),
            needed,
            #[cfg(feature = "std")]
            lookup_pending: Cell::new(false),
            node: UnsafeCell::new(Node::new(priority)),
            _pin: PhantomPinned,
        }
    }

    /// Replaces the priority of a waiter that was never queued (`&mut` proves it is not).
    /// An ambient lookup still to run is dropped: an explicit priority wins.
    #[inline(always)]
    pub(crate) fn set_priority(&mut self, priority: P) {
        // SAFETY: `&mut self` means no list can hold a pointer to this waiter: linking
        // needs it pinned, and a pinned `!Unpin` waiter never hands out `&mut`.
        self.node
            .with_mut(|node| unsafe { (*node).priority = priority });
        #[cfg(feature = "std")]
        self.lookup_pending.set(false);
    }

    /// Sets the queue limit of a waiter that was never queued (`&mut` proves it is not).
    #[inline(always)]
    pub(crate) fn set_queue_limit(&mut self, limit: QueueLimit) {
        // SAFETY: as in `set_priority`: no list can hold a pointer to this waiter. Before
        // its first link the `treap_key` word holds the queue limit (`Node`).
        self.node
            .with_mut(|node| unsafe { (*node).treap_key = limit.0 });
    }

    /// The queue limit of a waiter that was never linked (idle, never queued).
    #[inline]
    pub(crate) fn queue_limit(&self) -> QueueLimit {
        debug_assert_eq!(self.state(), WaiterState::Idle);
        let w = NonNull::from(self);
        // SAFETY: a waiter that was never linked is in no list, so nobody else writes its
        // node (invariant 3); its caller is its owner, or the lock holder about to link
        // it. Before its first link the word holds the queue limit (`Node`).
        QueueLimit(unsafe { (*node(w)).treap_key })
    }

    /// Makes the waiter look its priority up with `lookup` when its owner first polls it
    /// ([`Waiter::take_ambient_lookup`]). The function is kept in the node's `prev` run
    /// link, which nothing reads before the waiter is queued, so it costs the waiter no
    /// space.
    #[cfg(feature = "std")]
    #[inline(always)]
    pub(crate) fn with_ambient_lookup(self, lookup: fn() -> Option<P>) -> Self {
        // SAFETY: owning the waiter by value means no list can hold a pointer to it.
        self.node
            .with_mut(|node| unsafe { (*node).prev = Prev { lookup } });
        self.lookup_pending.set(true);
        self
    }

    /// The ambient lookup set by [`Waiter::with_ambient_lookup`], once: the first call
    /// takes it, and the waiter is then plainly idle.
    #[cfg(feature = "std")]
    #[inline(always)]
    pub(crate) fn take_ambient_lookup(self: Pin<&mut Self>) -> Option<fn() -> Option<P>> {
        if !self.lookup_pending.replace(false) {
            return None;
        }
        let w = NonNull::from(self.as_ref().get_ref());
        // SAFETY: a pending lookup means the waiter was never queued (the owner takes it
        // before its first `poll_acquire` can queue it), so no list can reach its node, and
        // `Pin<&mut Self>` is its owner's exclusive access; while the flag was set, `prev`
        // held the lookup (`with_ambient_lookup` sets both; `set_priority` clears the flag).
        Some(unsafe { (*node(w)).prev.lookup })
    }

    /// Whether an ambient lookup is still to run: never, once the waiter is queued.
    #[cfg(feature = "std")]
    pub(super) fn lookup_pending(&self) -> bool {
        self.lookup_pending.get()
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

    /// Whether the waiter is [`WaiterState::Idle`]: in no list and not done (never queued,
    /// or cancelled). For the owner's fast path: a relaxed load, since only the owner moves
    /// it out of `Idle`.
    #[inline]
    pub(crate) fn is_idle(&self) -> bool {
        self.state.load(Ordering::Relaxed) == IDLE
    }

    /// Whether the waiter has entered the list and its owner has not yet taken the outcome:
    /// it is linked, granted or closed (the states only the lock holder stores), not idle
    /// and not done. Relaxed for the same reason as [`Waiter::is_idle`]: the lock holder
    /// only moves it between these states, or back to idle under `cancel`, which the owner
    /// itself calls.
    #[inline]
    pub(crate) fn has_entered_list(&self) -> bool {
        self.state.load(Ordering::Relaxed) >= LINKED
    }

    /// If the waiter was granted its permits, marks it done (the owner has taken them) and
    /// returns `true`. The owner's second poll, inlined.
    #[inline]
    pub(crate) fn take_grant(&self) -> bool {
        // Acquire: pairs with the lock holder's Release store of `GRANTED` (invariant 5).
        let granted = self.state.load(Ordering::Acquire) == GRANTED;
        if granted {
            self.state.store(DONE, Ordering::Relaxed);
        }
        granted
    }

    /// Marks the waiter [`WaiterState::Done`]: its owner is done with it. It must then be
    /// idle, granted or closed (so no lock holder touches it again, invariant 5).
    #[inline]
    pub(crate) fn set_done(&self) {
        debug_assert_ne!(
            self.state(),
            WaiterState::Linked,
            "marking a linked waiter done"
        );
        self.state.store(DONE, Ordering::Relaxed);
    }
}

/// What the owner reads and writes of its own waiter's node for diagnostics
/// (`crate::diag`), while no list can reach it.
impl<P> Waiter<P> {
    /// The priority and the diagnostic note, if no list can reach the waiter (idle or
    /// done), else `None`. Called before the first poll queues it.
    #[inline]
    pub(crate) fn unqueued(self: Pin<&mut Self>) -> Option<(&P, &mut WaiterNote)> {
        if !matches!(self.state(), WaiterState::Idle | WaiterState::Done) {
            return None;
        }
        let w = NonNull::from(self.as_ref().get_ref());
        // SAFETY: an idle or done waiter is in no list (invariants 1 and 5), and
        // `Pin<&mut Self>` is its owner's exclusive access for the lifetime returned: it
        // cannot be queued (which needs that access) while the references live, so nobody
        // else reads or writes the node meanwhile. The two fields do not overlap.
        unsafe {
            let n = node(w);
            Some((&(*n).priority, &mut (*n).note))
        }
    }

    /// The diagnostic note and how many other requests were granted while this one waited
    /// (modulo 2³², the width of the grant clock), both recorded by the lock holder at its
    /// grant. Only called once the owner is done with the waiter.
    pub(crate) fn granted_note(self: Pin<&mut Self>) -> (WaiterNote, u32) {
        debug_assert_eq!(self.state(), WaiterState::Done);
        let w = NonNull::from(self.as_ref().get_ref());
        // SAFETY: the owner is done (it took its grant with an Acquire load of `GRANTED`,
        // invariant 5, or it never queued), so no lock holder touches the node again;
        // `Pin<&mut Self>` is the owner's access.
        unsafe { ((*node(w)).note, (*node(w)).ticket.get()) }
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
pub(super) unsafe fn node<P>(w: NonNull<Waiter<P>>) -> *mut Node<P> {
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
pub(super) unsafe fn needed<P>(w: NonNull<Waiter<P>>) -> u32 {
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
pub(super) unsafe fn state<'a, P>(w: NonNull<Waiter<P>>) -> &'a AtomicU8 {
    // SAFETY: `w` is live (caller); the atomic is designed to be shared.
    unsafe { &*ptr::addr_of!((*w.as_ptr()).state) }
}
