//! The overtake limit (opt-in anti-starvation): the limit as the list reads it and, with
//! feature `overtake-limit`, the arrival list that finds the oldest waiter in O(1).
//!
//! Without the feature the limit is a zero-sized "none", the arrival list and its links are
//! zero-sized and never kept: waiters then carry no arrival links (16 bytes of every
//! acquire future on 64-bit targets).

#[cfg(not(feature = "overtake-limit"))]
use core::marker::PhantomData;
use core::ptr::NonNull;

use super::grants::GrantClock;
#[cfg(feature = "overtake-limit")]
use super::waiter::node;
use super::waiter::{Link, Waiter};

#[cfg(doc)]
use super::waiter::ArrivalLinks;

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
/// [`ArrivalLinks`], kept while an overtake limit is set (else empty). Zero-sized without
/// feature `overtake-limit`, where it is never kept.
pub(super) struct Arrivals<P> {
    #[cfg(feature = "overtake-limit")]
    oldest: Link<P>,
    #[cfg(feature = "overtake-limit")]
    newest: Link<P>,
    #[cfg(not(feature = "overtake-limit"))]
    _none: PhantomData<Link<P>>,
}

impl<P> Arrivals<P> {
    pub(super) const fn new() -> Self {
        Self {
            #[cfg(feature = "overtake-limit")]
            oldest: None,
            #[cfg(feature = "overtake-limit")]
            newest: None,
            #[cfg(not(feature = "overtake-limit"))]
            _none: PhantomData,
        }
    }

    /// Whether the list is kept (it holds every queued waiter or none).
    #[cfg(feature = "overtake-limit")]
    #[inline(always)]
    pub(super) fn is_kept(&self) -> bool {
        self.oldest.is_some()
    }

    /// Appends `w` if the list is kept under `limit` (a limit is set): pass the same limit
    /// for every waiter of one list, so that the list holds all of them or none.
    ///
    /// # Safety
    ///
    /// The lock is held; `w` is live and on no arrival list, and every waiter on this one
    /// is linked, hence live (module invariant 2).
    #[inline(always)]
    pub(super) unsafe fn push(&mut self, w: NonNull<Waiter<P>>, limit: OvertakeLimit) {
        #[cfg(feature = "overtake-limit")]
        if limit.is_set() {
            // SAFETY: the caller's conditions.
            unsafe {
                let n = node(w);
                (*n).arrival.older = self.newest;
                (*n).arrival.newer = None;
                match self.newest {
                    Some(newest) => (*node(newest)).arrival.newer = Some(w),
                    None => self.oldest = Some(w),
                }
            }
            self.newest = Some(w);
        }
        #[cfg(not(feature = "overtake-limit"))]
        let _ = (w, limit);
    }

    /// Takes `w` off the list, if the list is kept.
    ///
    /// # Safety
    ///
    /// The lock is held, and `w` is linked in the wait list (so, if the list is kept, it
    /// is on it, and it and its neighbours are live).
    #[inline(always)]
    pub(super) unsafe fn remove(&mut self, w: NonNull<Waiter<P>>) {
        #[cfg(feature = "overtake-limit")]
        if self.is_kept() {
            // SAFETY: the caller's conditions; `push` wrote both links of every waiter
            // here.
            unsafe {
                let n = node(w);
                let (older, newer) = ((*n).arrival.older, (*n).arrival.newer);
                match older {
                    Some(older) => (*node(older)).arrival.newer = newer,
                    None => self.oldest = newer,
                }
                match newer {
                    Some(newer) => (*node(newer)).arrival.older = older,
                    None => self.newest = older,
                }
            }
        }
        #[cfg(not(feature = "overtake-limit"))]
        let _ = w;
    }

    /// Grants the oldest waiter has watched go to others, if the list is kept and anyone
    /// waits.
    ///
    /// The ages never wrap: grants go to the front waiter only, so once the oldest waiter
    /// is `limit` grants old (at most `MAX_OVERTAKE_LIMIT`) it takes the next grant, and
    /// no queued waiter is ever older than that.
    #[inline(always)]
    pub(super) fn oldest_age(&self, clock: GrantClock) -> Option<usize> {
        #[cfg(feature = "overtake-limit")]
        // SAFETY: callers hold the lock (they reach `self` through the list); `oldest` is
        // linked, hence live (invariant 2).
        return self
            .oldest
            .map(|w| unsafe { (*node(w)).ticket }.age(clock.now()) as usize);
        #[cfg(not(feature = "overtake-limit"))]
        {
            let _ = clock;
            None
        }
    }

    /// The oldest waiter if it has seen `limit` grants since it arrived: it is served
    /// next, ahead of the priority order.
    #[inline(always)]
    pub(super) fn aged(&self, clock: GrantClock, limit: OvertakeLimit) -> Link<P> {
        #[cfg(feature = "overtake-limit")]
        {
            let limit = limit.get()?;
            let age = self.oldest_age(clock)?;
            if age >= limit {
                self.oldest
            } else {
                None
            }
        }
        #[cfg(not(feature = "overtake-limit"))]
        {
            let _ = (clock, limit);
            None
        }
    }

    /// The waiters on the list, oldest first, for the tests' checker.
    ///
    /// # Safety
    ///
    /// As for [`Arrivals::remove`]; the list is not changed while the walk runs.
    #[cfg(all(test, not(loom)))]
    pub(super) unsafe fn walk(&self) -> std::vec::Vec<NonNull<Waiter<P>>> {
        #[cfg(feature = "overtake-limit")]
        {
            let mut out = std::vec::Vec::new();
            let mut cur = self.oldest;
            let mut prev: Link<P> = None;
            while let Some(w) = cur {
                // SAFETY: the caller's conditions.
                unsafe {
                    assert_eq!((*node(w)).arrival.older, prev, "arrival links");
                    cur = (*node(w)).arrival.newer;
                }
                out.push(w);
                prev = Some(w);
            }
            assert_eq!(self.newest, prev, "the newest arrival");
            out
        }
        #[cfg(not(feature = "overtake-limit"))]
        std::vec::Vec::new()
    }
}
