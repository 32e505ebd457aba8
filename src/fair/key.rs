//! [`FairKey`]: the priority a fair request waits with in the core's line.

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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FairKey<P> {
    // Field order is the order: priority first, then the tag (derived `Ord`).
    priority: P,
    tag: u64,
}

impl<P> FairKey<P> {
    pub(crate) const fn new(priority: P, tag: u64) -> Self {
        Self { priority, tag }
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
