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
#[cfg(any(feature = "std", feature = "tracing"))]
use core::pin::Pin;
use core::ptr::{self, NonNull};

use super::treap::Node;
#[cfg(feature = "std")]
use super::treap::Prev;
use crate::loom::{AtomicU8, Ordering, UnsafeCell};

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
/// Kept small (80 bytes for `i64` priorities on 64-bit targets, 96 with feature
/// `overtake-limit`) because every acquire future embeds one, and futures are moved into
/// tasks by copy.
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

/// The `grant_seq` of a waiter whose grant was not recorded.
#[cfg(all(feature = "std", feature = "tracing"))]
pub(crate) const NO_GRANT_SEQ: usize = usize::MAX;

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

/// What the owner reads of its own waiter for `tracing` events (`crate::trace`).
#[cfg(feature = "tracing")]
impl<P> Waiter<P> {
    /// Runs `f` on the priority if no list can reach the waiter (idle or done), else
    /// returns `None`. Called before the first poll queues it.
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

    /// Stores the priority as the futurelock warning shows it, if the waiter is idle.
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
    /// Only called once the owner has taken the grant (the waiter is done).
    #[cfg(feature = "std")]
    pub(crate) fn grant_seq(self: Pin<&mut Self>) -> usize {
        let w = NonNull::from(self.as_ref().get_ref());
        // SAFETY: as in `grants_waited`: the caller calls this only once the waiter is
        // done, so no lock holder touches the node again.
        unsafe { (*node(w)).grant_seq }
    }

    /// How many other requests were granted while this one waited (modulo 2³², the width
    /// of the list's grant count), recorded by `distribute` at its grant. Only called once
    /// the owner has taken the grant.
    pub(crate) fn grants_waited(self: Pin<&mut Self>) -> usize {
        debug_assert_eq!(self.state(), WaiterState::Done);
        let w = NonNull::from(self.as_ref().get_ref());
        // SAFETY: the owner took its grant (Acquire load of `GRANTED`, invariant 5), so no
        // lock holder touches the node again; `Pin<&mut Self>` is the owner's access.
        unsafe { (*node(w)).ticket as usize }
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
