//! Lanes: runs that hold one flow of a fair semaphore (`crate::fair`) instead of one
//! priority value, so that one more waiter of a flow that already waits is O(1).
//!
//! A list in **lane mode** (a [`LaneOf`] is set) asks each waiter's priority for its
//! [`Lane`]: the flow it belongs to (a [`LaneCell`] the fair layer owns), its level (the
//! priority value, by slot number) and its place in the fair order among the flows of that
//! level (`tag`, then `seq`). Then:
//!
//! * a **run** is one lane's waiters in arrival order (their keys ascend along it), and
//!   the lane's cell points to the run's head. A waiter without a cell is a run of its own,
//!   and runs never merge because their priorities compare equal;
//! * **joining** a lane that has a run appends to it through the cell: no comparison, O(1).
//!   Otherwise the waiter becomes a new run, placed by the priorities' `Ord` as always;
//! * when a run's **head leaves** (served or cancelled) and others of its lane remain, the
//!   next one heads the run and the run moves to that one's key: a walk up from the old
//!   head and down again ([`Treap::rekey`]) that compares only lanes (`level`, `tag`,
//!   `seq`), never the priorities, so no user code runs while a release or a cancellation
//!   holds the lock. Runs of other levels are before or after the old head by their place
//!   in the tree, which is the search order; an `Ord` that lied only misplaces.
//!
//! With one run per lane, the tree holds as many runs as there are lanes (flows) with
//! waiters, f: joining a new lane and moving a run are O(log f) expected, whatever the
//! number of waiters.
//!
//! # Invariants (beside the tree's, under the lock)
//!
//! * A cell's head is `Some(h)` iff waiters of its lane are linked, and `h` heads the run
//!   that holds all of them. Only this module and `Treap::link` write it.
//! * A cell stays at its address while a waiter that names it is linked (the fair layer's
//!   promise, `LaneOf`), and it names waiters of one list only.

use core::ptr::NonNull;

use super::{Place, Treap, CORRUPT};
use crate::loom::UnsafeCell;
use crate::waitlist::waiter::{node, Link, Waiter};

/// Where one lane's run is found: its head, or none while nobody of the lane is linked.
///
/// Owned by the layer that names lanes (a fair semaphore's flow table), which keeps it in
/// place while any waiter that names it is linked; read and written only by the one wait
/// list its waiters join, under that list's lock. The head is stored untyped: a cell is
/// used by one list, whose `P` it is.
///
/// `pub` only because a sealed trait of the fair layer names it; no path outside the crate
/// reaches it.
pub struct LaneCell {
    head: UnsafeCell<Option<NonNull<()>>>,
}

// SAFETY: the cell is only a place for one pointer that the wait list reads and writes
// under its lock (module invariants); sharing or sending the cell itself hands nothing out.
unsafe impl Send for LaneCell {}
// SAFETY: as for `Send`: every access is under the list's lock.
unsafe impl Sync for LaneCell {}

impl LaneCell {
    /// A cell of a lane with nobody linked.
    pub(crate) fn new() -> Self {
        Self {
            head: UnsafeCell::new(None),
        }
    }
}

#[cfg(all(test, not(loom)))]
impl LaneCell {
    /// The head stored (for the tests' checks, with the list exclusively borrowed).
    pub(crate) fn head_for_tests(&self) -> Option<NonNull<()>> {
        self.head.with_mut(|head| {
            // SAFETY: the tests call this with the list exclusively borrowed.
            unsafe { *head }
        })
    }
}

impl core::fmt::Debug for LaneCell {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("LaneCell { .. }")
    }
}

/// What a waiter's priority says about its lane ([`LaneOf`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lane {
    pub(crate) id: LaneId,
    /// Its order among the lanes of its level: `tag`, then `id.seq`.
    pub(crate) tag: u64,
}

/// A request's lane as its priority keeps it (beside the tag it already has).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LaneId {
    /// The lane's cell; `None`: the waiter is a run of its own.
    pub(crate) cell: Option<NonNull<LaneCell>>,
    /// Its level (priority value), as a number that two levels in the list never share;
    /// [`LaneId::NONE`]'s: no lane at all.
    pub(crate) level: u32,
    /// Its arrival number: the order among equal tags, compared as a wrapping difference
    /// (numbers of requests that wait together are far less than `2^31` apart; if not,
    /// only the order of two equal tags changes).
    pub(crate) seq: u32,
}

impl LaneId {
    /// No lane: the waiter is a run of its own, placed by its priority's `Ord` alone.
    pub(crate) const NONE: Self = Self {
        cell: None,
        level: u32::MAX,
        seq: 0,
    };

    /// Whether this names a lane (not [`LaneId::NONE`]).
    pub(crate) const fn is_some(&self) -> bool {
        self.level != u32::MAX
    }
}

// SAFETY: the cell pointer is only followed by the wait list the request joins, under its
// lock (module invariants); whoever holds a `LaneId` cannot dereference it.
unsafe impl Send for LaneId {}
// SAFETY: as for `Send`.
unsafe impl Sync for LaneId {}

impl Lane {
    /// Whether a run headed by `self` is served before one headed by `other`, both of one
    /// level.
    fn precedes(&self, other: &Lane) -> bool {
        self.tag < other.tag
            || (self.tag == other.tag && self.id.seq.wrapping_sub(other.id.seq) as i32 <= 0)
    }
}

/// Reads a waiter's lane from its priority. Crate code (the fair layer's), never user
/// code: it must not panic. Whoever sets it promises (`WaitList::set_lanes` is unsafe) that
/// while a waiter is linked it answers the same for it, and that every cell it names stays
/// alive and in place and is named by waiters of that one list only.
pub(crate) type LaneOf<P> = fn(&P) -> Option<Lane>;

impl<P> Treap<P> {
    /// Puts the list in lane mode (while it is empty).
    ///
    /// # Safety
    ///
    /// See [`LaneOf`]: while a waiter is linked here, `lanes` gives the same answer for
    /// it, and every cell it names stays alive and in place and is named by waiters of
    /// this list only.
    pub(crate) unsafe fn set_lanes(&mut self, lanes: LaneOf<P>) {
        assert!(self.first.is_none(), "lanes are set before anyone waits");
        self.lanes = Some(lanes);
    }

    /// Whether runs are lanes.
    #[inline]
    pub(super) fn lane_mode(&self) -> bool {
        self.lanes.is_some()
    }

    /// The lane of the live waiter `w`, in lane mode.
    ///
    /// # Safety
    ///
    /// The tree's conditions (`super` module docs); `w` is live.
    unsafe fn lane(&self, w: NonNull<Waiter<P>>) -> Option<Lane> {
        // SAFETY: the caller's conditions; a shared read of a priority, never written
        // while it can be reached.
        self.lanes
            .and_then(|lane_of| lane_of(unsafe { &(*node(w)).priority }))
    }

    /// The head of the run of `w`'s lane, if its lane has one: where `w` joins.
    ///
    /// # Safety
    ///
    /// The tree's conditions; `w` is live.
    unsafe fn lane_run(&self, w: NonNull<Waiter<P>>) -> Link<P> {
        // SAFETY: the caller's conditions; cells are only reached under the lock.
        let cell = unsafe { self.lane(w) }?.id.cell?;
        // SAFETY: a cell named by a live waiter's lane stays in place (module invariants).
        unsafe { read(cell) }
    }

    /// After `w` became the head of a new run: its lane's cell points to it.
    ///
    /// # Safety
    ///
    /// The tree's conditions; `w` was just linked as a new run's head.
    #[cold]
    #[inline(never)]
    pub(super) unsafe fn lane_started(&mut self, w: NonNull<Waiter<P>>) {
        // SAFETY: the caller's conditions.
        if let Some(cell) = unsafe { self.lane(w) }.and_then(|l| l.id.cell) {
            // SAFETY: as in `lane_run`.
            unsafe {
                assert!(read::<P>(cell).is_none(), "{CORRUPT}: a lane with two runs");
                write(cell, Some(w));
            }
        }
    }

    /// After the head `w` of a run of one left the tree: its lane's cell is empty.
    ///
    /// # Safety
    ///
    /// The tree's conditions; `w` is live and was its run's only waiter.
    #[cold]
    #[inline(never)]
    pub(super) unsafe fn lane_emptied(&mut self, w: NonNull<Waiter<P>>) {
        // SAFETY: the caller's conditions.
        if let Some(cell) = unsafe { self.lane(w) }.and_then(|l| l.id.cell) {
            // SAFETY: as in `lane_run`.
            unsafe {
                assert_eq!(read::<P>(cell), Some(w), "{CORRUPT}: a lane lost its run");
                write::<P>(cell, None);
            }
        }
    }

    /// Unlinks the run head `w`, whose run goes on with `next`: `next` heads the run, and
    /// the run moves to `next`'s place among the runs. Compares lanes only, never the
    /// priorities (module docs); O(depth of `w`) expected, as the tree holds one run per
    /// lane.
    ///
    /// # Safety
    ///
    /// The tree's conditions; `w` heads a run in the tree and `next` is the waiter after it.
    #[cold]
    #[inline(never)]
    pub(super) unsafe fn rekey(&mut self, w: NonNull<Waiter<P>>, next: NonNull<Waiter<P>>) {
        // SAFETY: (whole body) the caller's conditions; every link followed is to a linked
        // waiter, and `next` is unlinked from the tree (not a head) until inserted below.
        unsafe {
            let own = self.lane(w).and_then(|l| l.id.cell);
            if let Some(cell) = own {
                // Checked before anything changes: a failure is a bug, found with the
                // structure intact.
                assert_eq!(read::<P>(cell), Some(w), "{CORRUPT}: a lane lost its run");
                write(cell, Some(next));
            }
            let Some(to) = self.lane(next) else {
                // Not a lane (only a cell's run has more than one waiter): keep the place.
                self.replace_head(w, next);
                return;
            };
            // Whether the run head `r` is served before `next`: of another level, it is
            // after `w` wherever this asks (below), so after `next` too.
            let before = |r: NonNull<Waiter<P>>| match self.lane(r) {
                Some(l) if l.id.level == to.id.level => l.precedes(&to),
                _ => false,
            };
            // Up: past ancestors before `w`, and those after it that come before `next`;
            // `last` is the latest of those (or `w`). `next` goes in `last`'s right subtree,
            // which is everything between `last` and the first ancestor after `next`.
            let mut last = w;
            let mut x = w;
            while let Some(p) = (*node(x)).parent {
                if (*node(p)).left == Some(x) {
                    if !before(p) {
                        break;
                    }
                    last = p;
                }
                x = p;
            }
            // Down that subtree to the free slot where `next` goes.
            let (mut parent, mut left) = (last, false);
            let mut cur = (*node(last)).right;
            while let Some(r) = cur {
                parent = r;
                left = !before(r);
                cur = if left {
                    (*node(r)).left
                } else {
                    (*node(r)).right
                };
            }
            // `w` leaves its run; `next` heads the rest, in the tree after `w`, so `w`'s
            // removal (which fixes `first` if `w` was it) finds the new first.
            let tail = (*node(w)).prev.link.expect("run is circular");
            (*node(tail)).next = Some(next);
            (*node(next)).prev.link = Some(tail);
            self.insert_in_tree(next, Some(parent), left);
            self.remove_from_tree(w);
        }
    }
}

impl<P: Ord> Treap<P> {
    /// Where `w` goes in lane mode: the end of its lane's run if the lane has one (no
    /// comparison), else a run of its own, after the runs of equal priority. Out of line,
    /// so that a list without lanes pays one branch for it.
    ///
    /// # Safety
    ///
    /// The tree's conditions; `w` is live.
    #[cold]
    #[inline(never)]
    pub(super) unsafe fn lane_place(&self, w: NonNull<Waiter<P>>) -> Place<P> {
        // SAFETY: the caller's conditions.
        unsafe {
            match self.lane_run(w) {
                Some(head) => Place::Run(head),
                None => self.search::<false>(w),
            }
        }
    }
}

/// The head stored in `cell`.
///
/// # Safety
///
/// The lock of the one list that uses `cell` is held, and `cell` is live.
unsafe fn read<P>(cell: NonNull<LaneCell>) -> Link<P> {
    // SAFETY: the caller's conditions: no other access to the cell runs meanwhile; the
    // pointer was stored by `write` from a `Link<P>` of the same list.
    unsafe {
        cell.as_ref()
            .head
            .with_mut(|head| (*head).map(NonNull::cast))
    }
}

/// Stores `head` in `cell`.
///
/// # Safety
///
/// As for [`read`].
unsafe fn write<P>(cell: NonNull<LaneCell>, head: Link<P>) {
    // SAFETY: the caller's conditions.
    unsafe {
        cell.as_ref()
            .head
            .with_mut(|slot| *slot = head.map(NonNull::cast))
    }
}
