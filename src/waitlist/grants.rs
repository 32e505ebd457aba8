//! The wait list's grant bookkeeping: the permits it holds (its surplus and the front
//! waiter's partial grant), the grant clock, and the grants noted for the futurelock watch.
//!
//! Nothing here follows a pointer: `partial` is only compared and handed out, and the
//! list's operations (`super`) do the linking and unlinking.

use super::waiter::{Link, Waiter};
use crate::diag::GrantNotes;
use core::ptr::NonNull;

/// The permits the list holds, and what it records about its grants.
pub(super) struct Grants<P> {
    /// The waiter holding a partial grant, if any (module invariant 4), and that grant:
    /// kept here rather than in every waiter, since only one waiter at a time can hold one.
    pub(super) partial: Link<P>,
    pub(super) assigned: u32,
    /// The surplus: permits released into the list that no waiter has been handed yet.
    /// Never more than the permits in existence, so never more than `MAX_PERMITS`, which
    /// fits in 32 bits.
    pub(super) surplus: u32,
    /// Waiters granted so far.
    pub(super) clock: GrantClock,
    /// The grants noted for the futurelock watch (`crate::diag`).
    pub(super) notes: GrantNotes,
}

impl<P> Grants<P> {
    pub(super) const fn new() -> Self {
        Self {
            partial: None,
            assigned: 0,
            surplus: 0,
            clock: GrantClock::new(),
            notes: GrantNotes::new(),
        }
    }

    /// Takes the partial grant back from the waiter holding it (invariant 4).
    pub(super) fn take_partial(&mut self) -> u32 {
        self.partial = None;
        core::mem::take(&mut self.assigned)
    }

    /// Before `w` leaves the list without being granted (cancel, close): its partial
    /// grant, if it holds one, goes back into the surplus.
    pub(super) fn return_partial(&mut self, w: NonNull<Waiter<P>>) {
        if self.partial == Some(w) {
            self.surplus += self.take_partial();
        }
    }
}

/// The grant clock: how many waiters the list has granted (wrapping). The overtake limit
/// reads a waiter's age on it, and a waiter's `granted` event how many grants it watched go
/// to others. 32 bits are enough: no queued waiter is ever more than `MAX_OVERTAKE_LIMIT`
/// grants old when an overtake limit reads it (see `overtake::Arrivals::oldest_age`).
/// Zero-sized (and always 0) where neither feature `overtake-limit` nor `tracing` reads it.
#[derive(Debug, Clone, Copy)]
pub(super) struct GrantClock {
    #[cfg(any(feature = "overtake-limit", feature = "tracing"))]
    grants: u32,
}

impl GrantClock {
    const fn new() -> Self {
        Self {
            #[cfg(any(feature = "overtake-limit", feature = "tracing"))]
            grants: 0,
        }
    }

    /// A clock that has counted `grants` grants, for the tests.
    #[cfg(all(test, not(loom), feature = "overtake-limit"))]
    pub(super) fn at(grants: u32) -> Self {
        Self { grants }
    }

    /// The grants so far.
    #[inline(always)]
    pub(super) fn now(self) -> u32 {
        #[cfg(any(feature = "overtake-limit", feature = "tracing"))]
        return self.grants;
        #[cfg(not(any(feature = "overtake-limit", feature = "tracing")))]
        0
    }

    /// Counts a grant.
    #[inline(always)]
    pub(super) fn tick(&mut self) {
        #[cfg(any(feature = "overtake-limit", feature = "tracing"))]
        {
            self.grants = self.grants.wrapping_add(1);
        }
    }
}
