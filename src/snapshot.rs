//! A picture of the line: who waits, by priority class, and where the permits are.
//!
//! [`Semaphore::summary`], [`Semaphore::snapshot_into`] and (feature `alloc`)
//! [`Semaphore::snapshot`] read the wait list under the semaphore's lock, once, so each
//! answer is one consistent picture of the line.
//!
//! # What runs under the lock
//!
//! The rule of the crate stays: no user code but the priority's `Ord` runs while the lock
//! is held, and a snapshot runs none at all. It compares no priorities: it follows the
//! wait list's links in their stored order. Priorities are copied out with a bitwise copy,
//! which is why [`snapshot_into`](Semaphore::snapshot_into) asks for `P: Copy` (a
//! `Clone::clone` would be user code, and so would the `Drop` of a value it overwrites;
//! `Copy` types have neither). Nothing allocates under the lock either, since a global
//! allocator is user code too: the allocating [`snapshot`](Semaphore::snapshot) allocates
//! before and after it. For a priority type that is not `Copy`, [`Semaphore::summary`]
//! still gives every figure but the per-class ones.

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

use crate::lock::RawLock;
use crate::raw::RawSemaphore;
#[cfg(doc)]
use crate::semaphore::Semaphore;
use crate::waitlist::inspect::ListFacts;

/// One priority class of the line: the waiters that share one priority value.
///
/// Filled by [`Semaphore::snapshot_into`] and [`Semaphore::snapshot`], in service order
/// (smallest priority first).
///
/// # Examples
///
/// ```
/// use prio_semaphore::ClassInfo;
///
/// // A buffer for the first 8 classes of a `Semaphore<i64>`.
/// let buf = [ClassInfo::<i64>::default(); 8];
/// assert_eq!(buf[0].waiters, 0);
/// // Or, for a priority type without `Default`:
/// let buf = [ClassInfo::empty(0u8); 8];
/// # let _ = buf;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct ClassInfo<P> {
    /// The class's priority.
    pub priority: P,
    /// How many requests of this priority are queued.
    pub waiters: usize,
    /// How many permits they ask for, together.
    pub permits: usize,
}

impl<P> ClassInfo<P> {
    /// An entry with no waiters, to fill a buffer for
    /// [`snapshot_into`](Semaphore::snapshot_into) with.
    ///
    /// # Examples
    ///
    /// ```
    /// let slot = prio_semaphore::ClassInfo::empty(7i64);
    /// assert_eq!((slot.priority, slot.waiters, slot.permits), (7, 0, 0));
    /// ```
    pub const fn empty(priority: P) -> Self {
        Self {
            priority,
            waiters: 0,
            permits: 0,
        }
    }
}

/// The front waiter's partial grant: a request for several permits that is first in line
/// collects released permits until it has them all.
///
/// # Examples
///
/// ```
/// # use std::{future::Future, pin::pin, task::{Context, Waker}};
/// use prio_semaphore::Semaphore;
///
/// let sem = Semaphore::new(1);
/// let mut big = pin!(sem.acquire_many(3));
/// assert!(big.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending());
/// let partial = sem.summary().partial.unwrap();
/// assert_eq!((partial.holds, partial.needs), (1, 3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct PartialGrant {
    /// Permits it has collected so far.
    pub holds: usize,
    /// Permits it asked for.
    pub needs: usize,
}

/// The semaphore's figures at one moment: returned by [`Semaphore::summary`] and
/// [`Semaphore::snapshot_into`], part of a [`Snapshot`].
///
/// The permits in existence are `available + held + in_transit` plus the permits of
/// `partial`. `available`, `closed` and the line's figures are read together under the
/// lock; `held` is derived from them and the count of permits in existence, which
/// `add_permits` and `forget_permits` change just before (or after) the permit word, so
/// while one of those runs on another thread `held` may be off by the permits it moves.
/// When the semaphore is quiescent every figure is exact.
///
/// # Examples
///
/// ```
/// use prio_semaphore::Semaphore;
///
/// let sem = Semaphore::new(3);
/// let _held = sem.try_acquire_many(2).unwrap();
/// let s = sem.summary();
/// assert_eq!((s.available, s.held, s.waiters, s.closed), (1, 2, 0, false));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct Summary {
    /// Free permits: those `try_acquire` could take.
    pub available: usize,
    /// Permits held by [`Permit`](crate::Permit)s and owned permits, including those
    /// handed to a request whose future has not been polled since (see the futurelock
    /// hazard of [`Acquire`](crate::Acquire)): they are no longer in the line.
    pub held: usize,
    /// Permits released to the line that no waiter has been handed yet: zero except while
    /// a release is being handed out in batches on another thread.
    pub in_transit: usize,
    /// The front waiter's partial grant, if it is collecting one.
    pub partial: Option<PartialGrant>,
    /// Queued requests, all classes together.
    pub waiters: usize,
    /// Priority classes written into the caller's buffer (always `0` from
    /// [`Semaphore::summary`]).
    pub classes: usize,
    /// Whether more classes are queued than were written.
    pub more_classes: bool,
    /// With an overtake limit ([`Semaphore::with_overtake_limit`], feature
    /// `overtake-limit`) and someone waiting:
    /// how many grants the oldest waiter has watched go to others since it queued. It is
    /// served first once this reaches the limit. `None` without a limit (the count is not
    /// kept) or with nobody waiting.
    pub oldest_overtaken: Option<usize>,
    /// Whether the semaphore is closed.
    pub closed: bool,
}

impl Summary {
    fn new(facts: ListFacts, available: usize, closed: bool, total: usize) -> Self {
        let partial = facts
            .partial
            .map(|(holds, needs)| PartialGrant { holds, needs });
        let collected = partial.map_or(0, |p| p.holds);
        Self {
            available,
            held: total
                .saturating_sub(available)
                .saturating_sub(facts.surplus)
                .saturating_sub(collected),
            in_transit: facts.surplus,
            partial,
            waiters: facts.waiters,
            classes: 0,
            more_classes: false,
            oldest_overtaken: facts.oldest_overtaken,
            closed,
        }
    }
}

/// Every queued priority class and the semaphore's figures, from
/// [`Semaphore::snapshot`].
///
/// Its `Display` is a short report for logs:
///
/// ```text
/// available 0, held 4, waiters 5 (partial grant 1 of 3), oldest overtaken 0 times, closed: no
///   priority 0: 2 waiters, 4 permits
///   priority 10: 3 waiters, 4 permits
/// ```
///
/// # Examples
///
/// ```
/// use prio_semaphore::Semaphore;
///
/// let sem = Semaphore::new(2);
/// let snapshot = sem.snapshot();
/// assert!(snapshot.classes.is_empty());
/// assert_eq!(snapshot.summary.available, 2);
/// ```
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Snapshot<P> {
    /// The figures; `summary.classes == classes.len()` and `summary.more_classes` is false.
    pub summary: Summary,
    /// Every queued class, in service order (smallest priority first).
    pub classes: Vec<ClassInfo<P>>,
}

/// One line for logs: the same first line as [`Snapshot`]'s `Display`, without the
/// classes.
///
/// # Examples
///
/// ```
/// use prio_semaphore::Semaphore;
///
/// let sem = Semaphore::new(3);
/// let _held = sem.try_acquire_many(2).unwrap();
/// assert_eq!(
///     sem.summary().to_string(),
///     "available 1, held 2, waiters 0, closed: no"
/// );
/// ```
impl core::fmt::Display for Summary {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "available {}, held {}, waiters {}",
            self.available, self.held, self.waiters
        )?;
        if let Some(p) = self.partial {
            write!(f, " (partial grant {} of {})", p.holds, p.needs)?;
        }
        if let Some(n) = self.oldest_overtaken {
            write!(f, ", oldest overtaken {n} times")?;
        }
        write!(f, ", closed: {}", if self.closed { "yes" } else { "no" })
    }
}

#[cfg(feature = "alloc")]
impl<P: core::fmt::Debug> core::fmt::Display for Snapshot<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(&self.summary, f)?;
        for class in &self.classes {
            write!(
                f,
                "\n  priority {:?}: {} waiters, {} permits",
                class.priority, class.waiters, class.permits
            )?;
        }
        Ok(())
    }
}

/// [`Semaphore::summary`].
pub(crate) fn summary<P, L: RawLock>(raw: &RawSemaphore<P, L>) -> Summary {
    let (available, closed, total, facts) = raw.observe(|list| list.facts());
    Summary::new(facts, available, closed, total)
}

/// [`Semaphore::snapshot_into`]: see there for what runs under the lock (no user code).
pub(crate) fn snapshot_into<P: Copy, L: RawLock>(
    raw: &RawSemaphore<P, L>,
    buf: &mut [ClassInfo<P>],
) -> Summary {
    snapshot_into_as(raw, buf, |p| *p)
}

/// [`snapshot_into`], each priority shown as `show` makes it: the crate's own function,
/// which runs under the lock and so must run no user code (a bitwise copy, as
/// `fair::FairKey`'s).
pub(crate) fn snapshot_into_as<P, Q, L: RawLock>(
    raw: &RawSemaphore<P, L>,
    buf: &mut [ClassInfo<Q>],
    show: impl Fn(&P) -> Q,
) -> Summary {
    let (available, closed, total, (facts, written, more)) = raw.observe(|list| {
        let mut written = 0;
        let more = list.for_each_class(buf.len(), |priority, waiters, permits| {
            // A bitwise copy into a slot whose `drop` is none: no user code.
            buf[written] = ClassInfo {
                priority: show(priority),
                waiters,
                permits,
            };
            written += 1;
        });
        (list.facts(), written, more)
    });
    Summary {
        classes: written,
        more_classes: more,
        ..Summary::new(facts, available, closed, total)
    }
}

/// [`Semaphore::snapshot`]: allocates outside the lock only.
#[cfg(feature = "alloc")]
pub(crate) fn snapshot<P: Copy, L: RawLock>(raw: &RawSemaphore<P, L>) -> Snapshot<P> {
    snapshot_as(raw, |p| *p)
}

/// [`snapshot`], each priority shown as `show` makes it (see [`snapshot_into_as`]).
#[cfg(feature = "alloc")]
pub(crate) fn snapshot_as<P, Q, L: RawLock>(
    raw: &RawSemaphore<P, L>,
    show: impl Fn(&P) -> Q,
) -> Snapshot<Q> {
    let mut capacity = 8;
    loop {
        // Sized outside the lock; `None` slots so no priority value is needed.
        let mut slots: Vec<Option<ClassInfo<Q>>> = (0..capacity).map(|_| None).collect();
        let (available, closed, total, (facts, more)) = raw.observe(|list| {
            let mut written = 0;
            let more = list.for_each_class(capacity, |priority, waiters, permits| {
                slots[written] = Some(ClassInfo {
                    priority: show(priority),
                    waiters,
                    permits,
                });
                written += 1;
            });
            (list.facts(), more)
        });
        if more {
            capacity *= 2;
            continue;
        }
        let classes: Vec<ClassInfo<Q>> = slots.into_iter().flatten().collect();
        let summary = Summary {
            classes: classes.len(),
            ..Summary::new(facts, available, closed, total)
        };
        return Snapshot { summary, classes };
    }
}
