//! [`SharePermit`]: permits held by one class of a [`ShareSemaphore`], given back to the
//! dispatcher (not to the class) when dropped.

use super::semaphore::ShareSemaphore;
use crate::lock::{RawLock, SpinLock};

/// Permits held by one class of a [`ShareSemaphore`]. Dropping it gives them back to the
/// semaphore, which hands them to whichever class the shares say (not necessarily this
/// one).
///
/// # Examples
///
/// ```
/// use prio_semaphore::share::{Share, ShareSemaphore};
///
/// let sem = ShareSemaphore::new(2, &[Share::new(1), Share::new(1)]);
/// let permit = sem.try_acquire_many(0, 2).unwrap();
/// assert_eq!((permit.class(), permit.num_permits()), (0, 2));
/// drop(permit);
/// assert_eq!(sem.available_permits(), 2);
/// ```
#[must_use = "the permits are given back as soon as they are dropped"]
pub struct SharePermit<'a, P = i64, L: RawLock = SpinLock> {
    sem: &'a ShareSemaphore<P, L>,
    class: usize,
    permits: usize,
}

impl<'a, P, L: RawLock> SharePermit<'a, P, L> {
    pub(crate) fn new(sem: &'a ShareSemaphore<P, L>, class: usize, permits: usize) -> Self {
        Self {
            sem,
            class,
            permits,
        }
    }

    /// The class the permits were acquired for.
    ///
    /// ```
    /// # use prio_semaphore::share::{Share, ShareSemaphore};
    /// let sem = ShareSemaphore::new(1, &[Share::new(1), Share::new(1)]);
    /// assert_eq!(sem.try_acquire(1).unwrap().class(), 1);
    /// ```
    pub fn class(&self) -> usize {
        self.class
    }

    /// The number of permits held.
    ///
    /// ```
    /// # use prio_semaphore::share::{Share, ShareSemaphore};
    /// let sem = ShareSemaphore::new(3, &[Share::new(1)]);
    /// assert_eq!(sem.try_acquire_many(0, 3).unwrap().num_permits(), 3);
    /// ```
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// Keeps the permits for good: the semaphore's total shrinks by that many, and the
    /// shares with it.
    ///
    /// ```
    /// # use prio_semaphore::share::{Share, ShareSemaphore};
    /// let sem = ShareSemaphore::new(4, &[Share::new(1), Share::new(1)]);
    /// sem.try_acquire_many(0, 2).unwrap().forget();
    /// assert_eq!((sem.nominal(0), sem.nominal(1)), (1, 1));
    /// ```
    pub fn forget(mut self) {
        let (class, permits) = (self.class, core::mem::take(&mut self.permits));
        self.sem.books(|books| books.forget_held(class, permits));
    }

    /// The semaphore the permits came from.
    ///
    /// ```
    /// # use prio_semaphore::share::{Share, ShareSemaphore};
    /// let sem = ShareSemaphore::new(1, &[Share::new(1)]);
    /// assert!(std::ptr::eq(sem.try_acquire(0).unwrap().semaphore(), &sem));
    /// ```
    pub fn semaphore(&self) -> &'a ShareSemaphore<P, L> {
        self.sem
    }
}

impl<P, L: RawLock> Drop for SharePermit<'_, P, L> {
    fn drop(&mut self) {
        self.sem.give_back(self.class, self.permits);
    }
}

impl<P, L: RawLock> core::fmt::Debug for SharePermit<'_, P, L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SharePermit")
            .field("class", &self.class)
            .field("permits", &self.permits)
            .finish_non_exhaustive()
    }
}
