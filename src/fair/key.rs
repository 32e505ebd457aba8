//! [`FairKey`]: the priority a fair request waits with in the core's line.

use crate::waitlist::{Lane, LaneId};
use core::cmp::Ordering;
use core::hash::{Hash, Hasher};

/// The order a [`FairSemaphore`](super::FairSemaphore)'s requests wait in: the request's
/// priority first, then its **start tag**, its place in the weighted fair order among the
/// flows of that priority.
///
/// Start tags are virtual times in units of `1 / 65,536` of a permit per unit of weight
/// (see [the module docs](super#how-it-works)); a request's tag is never below that of an
/// earlier request of its flow, and is strictly above it while the earlier one waits, so
/// one flow stays first in, first out. Requests with equal keys are served in arrival
/// order, as always in this crate.
///
/// You meet this type in the permits of a `FairSemaphore` (`Permit<'_, FairKey<P>>`) and
/// in what [`FairSemaphore::semaphore`](super::FairSemaphore::semaphore) shows; the fair
/// layer computes it, you never need to build one.
///
/// Two keys compare by priority, then tag. A key also knows its flow's place in the line
/// (what makes one more request of a waiting flow O(1), see [the module
/// docs](super#costs)); a clone forgets it, so a key you clone and queue yourself waits
/// as a request of no flow, at its priority and tag.
///
/// # Examples
///
/// ```
/// use prio_semaphore::fair::FairSemaphore;
///
/// # futures::executor::block_on(async {
/// let sem: FairSemaphore<&str> = FairSemaphore::new(1);
/// let permit = sem.acquire().priority(5).flow("tenant-a").await.unwrap();
/// // Held, not waiting: nothing is in the line.
/// assert_eq!(sem.semaphore().waiter_count(), 0);
/// # drop(permit);
/// # });
/// ```
pub struct FairKey<P> {
    priority: P,
    tag: u64,
    lane: LaneId,
}

impl<P> FairKey<P> {
    pub(crate) const fn new(priority: P, tag: u64, lane: LaneId) -> Self {
        Self {
            priority,
            tag,
            lane,
        }
    }

    /// A copy without the place in the line, for snapshots: a bitwise copy, no user code.
    pub(crate) fn shown(key: &Self) -> Self
    where
        P: Copy,
    {
        Self::new(key.priority, key.tag, LaneId::NONE)
    }

    /// The line's view of a key (`Semaphore::with_lanes`).
    pub(crate) fn lane_of(key: &Self) -> Option<Lane> {
        let id = key.lane;
        id.is_some().then_some(Lane { id, tag: key.tag })
    }

    /// The request's priority.
    ///
    /// ```
    /// # let key = prio_semaphore::fair::FairKey::<i64>::default();
    /// assert_eq!(*key.priority(), 0);
    /// ```
    pub fn priority(&self) -> &P {
        &self.priority
    }

    /// The request's start tag (virtual time, `65,536` per permit at weight 1).
    ///
    /// ```
    /// # let key = prio_semaphore::fair::FairKey::<i64>::default();
    /// assert_eq!(key.tag(), 0);
    /// ```
    pub fn tag(&self) -> u64 {
        self.tag
    }
}

impl<P: Clone> Clone for FairKey<P> {
    /// The priority and the tag; not the place in the line (see the type's docs).
    fn clone(&self) -> Self {
        Self::new(self.priority.clone(), self.tag, LaneId::NONE)
    }
}

impl<P: Default> Default for FairKey<P> {
    fn default() -> Self {
        Self::new(P::default(), 0, LaneId::NONE)
    }
}

impl<P: core::fmt::Debug> core::fmt::Debug for FairKey<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FairKey")
            .field("priority", &self.priority)
            .field("tag", &self.tag)
            .finish()
    }
}

impl<P: PartialEq> PartialEq for FairKey<P> {
    fn eq(&self, other: &Self) -> bool {
        self.priority == other.priority && self.tag == other.tag
    }
}

impl<P: Eq> Eq for FairKey<P> {}

impl<P: PartialOrd> PartialOrd for FairKey<P> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match self.priority.partial_cmp(&other.priority)? {
            Ordering::Equal => Some(self.tag.cmp(&other.tag)),
            unequal => Some(unequal),
        }
    }
}

impl<P: Ord> Ord for FairKey<P> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .cmp(&other.priority)
            .then(self.tag.cmp(&other.tag))
    }
}

impl<P: Hash> Hash for FairKey<P> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.priority.hash(state);
        self.tag.hash(state);
    }
}
