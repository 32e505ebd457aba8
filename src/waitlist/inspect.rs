//! Read-only walks of the wait list for `crate::snapshot`: a child of the list's module
//! because it follows the same raw pointers, under the same invariants.
//!
//! Nothing here writes to the list or to a waiter, and nothing compares priorities: the
//! walks follow the tree's links in their stored order, so an `Ord` that answered
//! inconsistently when the waiters were queued changes which class comes first, never
//! what a walk visits or whether it ends. The only code a walk calls is the `visit`
//! closure of the caller (the crate's own; see `crate::snapshot` for what it may do).

use core::ptr::NonNull;

use super::treap::Treap;
use super::waiter::{needed, node, Waiter};
use super::WaitList;

/// The list's bookkeeping, read in O(1) under the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListFacts {
    /// Queued waiters.
    pub(crate) waiters: usize,
    /// The list's surplus: permits released to it that no waiter has been handed yet.
    pub(crate) surplus: usize,
    /// The waiter collecting a partial grant: `(permits it holds, permits it asked for)`.
    pub(crate) partial: Option<(usize, usize)>,
    /// Grants the oldest waiter has watched go to others since it queued, where the
    /// arrival list is kept (an overtake limit is set, feature `overtake-limit`) and
    /// someone waits.
    pub(crate) oldest_overtaken: Option<usize>,
}

impl<P> WaitList<P> {
    /// The list's counters and the two waiters it keeps pointers to (`partial`, the
    /// oldest). O(1); runs no user code.
    pub(crate) fn facts(&self) -> ListFacts {
        ListFacts {
            waiters: self.len,
            surplus: self.grants.surplus as usize,
            // SAFETY: `&self` of the list is only reached under the lock; `partial` is
            // linked, hence live (invariant 2); only its immutable count is read.
            partial: self
                .grants
                .partial
                .map(|w| (self.grants.assigned as usize, unsafe { needed(w) } as usize)),
            oldest_overtaken: self.arrivals.oldest_age(self.grants.clock),
        }
    }

    /// Calls `visit(priority, waiters, permits)` for each of the first `max` priority
    /// classes (runs) in service order by priority. Returns whether more classes follow.
    ///
    /// Cost: one in-order step over the treap per class (amortised O(1) each, with parent
    /// links and no stack) plus one step per waiter of the visited classes; nothing beyond
    /// the first `max` classes is read. Runs no user code but `visit`, which gets the
    /// priority by reference and must not keep it.
    pub(crate) fn for_each_class(
        &self,
        max: usize,
        mut visit: impl FnMut(&P, usize, usize),
    ) -> bool {
        let mut head = self.runs.first;
        for _ in 0..max {
            let Some(h) = head else { return false };
            // SAFETY: `&self` is only reached under the lock; `h` is a linked run head,
            // hence live (invariant 2), and so is every waiter of its run. The priority of
            // a linked waiter is never written, so a shared reference to it is sound.
            unsafe {
                let (waiters, permits) = Self::run_totals(h);
                visit(&(*node(h)).priority, waiters, permits);
                head = Treap::successor(h);
            }
        }
        head.is_some()
    }

    /// The number of waiters in the run headed by `h` and the permits they ask for.
    ///
    /// # Safety
    ///
    /// Lock held; `h` heads a run of this list.
    unsafe fn run_totals(h: NonNull<Waiter<P>>) -> (usize, usize) {
        let (mut waiters, mut permits) = (0usize, 0usize);
        let mut w = h;
        loop {
            waiters += 1;
            // SAFETY: the caller's conditions; the run is circular through linked waiters.
            unsafe {
                permits += needed(w) as usize;
                w = (*node(w)).next.expect("linked waiter has a run");
            }
            if w == h {
                return (waiters, permits);
            }
        }
    }
}
