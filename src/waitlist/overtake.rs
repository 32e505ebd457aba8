//! The overtake limit (opt-in anti-starvation): the limit as the list reads it and, with
//! feature `overtake-limit`, the arrival list that finds the oldest waiter in O(1).
//!
//! Without the feature the limit is a zero-sized "none" and nothing here is kept: waiters
//! then carry no arrival links (16 bytes of every acquire future on 64-bit targets).

#[cfg(feature = "overtake-limit")]
use core::ptr::NonNull;

#[cfg(feature = "overtake-limit")]
use super::treap::Link;
#[cfg(feature = "overtake-limit")]
use super::waiter::{node, Waiter};

/// The largest overtake limit the list keeps exactly: its grant clock is 32 bits wide, and
/// one value is left to `usize::MAX`, "no limit", on 32-bit targets. A larger limit is
/// lowered to it ([`OvertakeLimit::new`]), which only makes the promise stronger.
#[cfg(feature = "overtake-limit")]
pub(crate) const MAX_OVERTAKE_LIMIT: usize = {
    let by_clock = (u32::MAX - 1) as u64;
    if by_clock < usize::MAX as u64 {
        by_clock as usize
    } else {
        usize::MAX - 1
    }
};

/// How many later arrivals may overtake a waiter, or none (strict priority). Zero-sized
/// without feature `overtake-limit`, where it is always none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OvertakeLimit {
    /// `usize::MAX`: none.
    #[cfg(feature = "overtake-limit")]
    limit: usize,
}

impl OvertakeLimit {
    /// Strict priority.
    pub(crate) const NONE: Self = Self {
        #[cfg(feature = "overtake-limit")]
        limit: usize::MAX,
    };

    /// `usize::MAX` means none; any other limit above [`MAX_OVERTAKE_LIMIT`] is lowered
    /// to it.
    #[cfg(feature = "overtake-limit")]
    pub(crate) const fn new(limit: usize) -> Self {
        Self {
            limit: if limit != usize::MAX && limit > MAX_OVERTAKE_LIMIT {
                MAX_OVERTAKE_LIMIT
            } else {
                limit
            },
        }
    }

    /// The limit, if one is set.
    #[cfg(feature = "overtake-limit")]
    #[inline(always)]
    pub(crate) const fn get(self) -> Option<usize> {
        if self.limit != usize::MAX {
            Some(self.limit)
        } else {
            None
        }
    }

    /// Whether the list keeps its arrival list (a limit is set).
    #[cfg(feature = "overtake-limit")]
    #[inline(always)]
    pub(crate) const fn is_set(self) -> bool {
        self.limit != usize::MAX
    }
}

/// The ends of the arrival list: every queued waiter, oldest first, through the nodes'
/// `older`/`newer` links, kept while an overtake limit is set (else empty).
#[cfg(feature = "overtake-limit")]
pub(super) struct Arrivals<P> {
    pub(super) oldest: Link<P>,
    pub(super) newest: Link<P>,
}

#[cfg(feature = "overtake-limit")]
impl<P> Arrivals<P> {
    pub(super) const fn new() -> Self {
        Self {
            oldest: None,
            newest: None,
        }
    }

    /// Whether the list is kept (it holds every queued waiter or none).
    pub(super) fn is_kept(&self) -> bool {
        self.oldest.is_some()
    }

    /// Appends `w`, stamping its ticket with the grant clock `grants`.
    ///
    /// # Safety
    ///
    /// The lock is held; `w` is live and on no arrival list, and every waiter on this one
    /// is linked, hence live (module invariant 2).
    pub(super) unsafe fn push(&mut self, w: NonNull<Waiter<P>>, grants: u32) {
        // SAFETY: the caller's conditions.
        unsafe {
            let n = node(w);
            (*n).ticket = grants;
            (*n).older = self.newest;
            (*n).newer = None;
            match self.newest {
                Some(newest) => (*node(newest)).newer = Some(w),
                None => self.oldest = Some(w),
            }
        }
        self.newest = Some(w);
    }

    /// Takes `w` off the list.
    ///
    /// # Safety
    ///
    /// The lock is held, and `w` is on this list (so it and its neighbours are linked,
    /// hence live).
    pub(super) unsafe fn remove(&mut self, w: NonNull<Waiter<P>>) {
        // SAFETY: the caller's conditions; `push` wrote both links of every waiter here.
        unsafe {
            let n = node(w);
            let (older, newer) = ((*n).older, (*n).newer);
            match older {
                Some(older) => (*node(older)).newer = newer,
                None => self.oldest = newer,
            }
            match newer {
                Some(newer) => (*node(newer)).older = older,
                None => self.newest = older,
            }
        }
    }

    /// Grants the oldest waiter has watched go to others, if anyone waits.
    ///
    /// The ages never wrap: grants go to the front waiter only, so once the oldest waiter
    /// is `limit` grants old (at most [`MAX_OVERTAKE_LIMIT`]) it takes the next grant, and
    /// no queued waiter is ever older than that.
    pub(super) fn oldest_age(&self, grants: u32) -> Option<usize> {
        // SAFETY: callers hold the lock (they reach `self` through the list); `oldest` is
        // linked, hence live (invariant 2).
        self.oldest
            .map(|w| grants.wrapping_sub(unsafe { (*node(w)).ticket }) as usize)
    }

    /// The oldest waiter if it has seen `limit` grants since it arrived: it is served
    /// next, ahead of the priority order.
    #[inline]
    pub(super) fn aged(&self, grants: u32, limit: OvertakeLimit) -> Link<P> {
        let limit = limit.get()?;
        let age = self.oldest_age(grants)?;
        if age >= limit {
            self.oldest
        } else {
            None
        }
    }
}
