//! [`Permit`]: permits held from a borrowed semaphore.

use crate::lock::{RawLock, SpinLock};
use crate::semaphore::Semaphore;

/// Permits acquired from a [`Semaphore`], given back when dropped.
///
/// # Examples
///
/// ```
/// use prio_semaphore::Semaphore;
///
/// let sem = Semaphore::new(4);
/// let mut permit = sem.try_acquire_many(3).unwrap();
/// let one = permit.split(1).unwrap();
/// assert_eq!((permit.num_permits(), one.num_permits()), (2, 1));
/// permit.merge(one);
/// assert_eq!(permit.num_permits(), 3);
/// drop(permit);
/// assert_eq!(sem.available_permits(), 4);
/// ```
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct Permit<'a, P = i64, L: RawLock = SpinLock> {
    sem: &'a Semaphore<P, L>,
    permits: usize,
}

/// tokio's name for [`Permit`], so ported code that names the type keeps compiling.
pub type SemaphorePermit<'a, P = i64, L = SpinLock> = Permit<'a, P, L>;

impl<'a, P, L: RawLock> Permit<'a, P, L> {
    pub(crate) fn new(sem: &'a Semaphore<P, L>, permits: usize) -> Self {
        Self { sem, permits }
    }

    /// Keeps the permits out of the semaphore for good: they are not given back, and the
    /// semaphore's capacity shrinks by that many.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = prio_semaphore::Semaphore::new(2);
    /// sem.try_acquire().unwrap().forget();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn forget(mut self) {
        self.sem.raw.forget_held(core::mem::take(&mut self.permits));
    }

    /// The number of permits held.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = prio_semaphore::Semaphore::new(2);
    /// assert_eq!(sem.try_acquire_many(2).unwrap().num_permits(), 2);
    /// ```
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// Moves `other`'s permits into this permit.
    ///
    /// # Panics
    ///
    /// If the two permits belong to different semaphores. `other` is then dropped as usual,
    /// so its permits go back to its own semaphore and every count stays exact.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = prio_semaphore::Semaphore::new(2);
    /// let mut a = sem.try_acquire().unwrap();
    /// a.merge(sem.try_acquire().unwrap());
    /// assert_eq!(a.num_permits(), 2);
    /// ```
    pub fn merge(&mut self, mut other: Self) {
        assert!(
            core::ptr::eq(self.sem, other.sem),
            "cannot merge permits from different semaphores"
        );
        self.permits += core::mem::take(&mut other.permits);
    }

    /// Splits `n` permits off into a new permit; `None` (and no change) if fewer are held.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = prio_semaphore::Semaphore::new(3);
    /// let mut permit = sem.try_acquire_many(3).unwrap();
    /// assert!(permit.split(4).is_none());
    /// let two = permit.split(2).unwrap();
    /// assert_eq!((permit.num_permits(), two.num_permits()), (1, 2));
    /// ```
    pub fn split(&mut self, n: usize) -> Option<Self> {
        self.permits = self.permits.checked_sub(n)?;
        Some(Self {
            sem: self.sem,
            permits: n,
        })
    }

    /// The semaphore these permits came from.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = prio_semaphore::Semaphore::new(1);
    /// let permit = sem.try_acquire().unwrap();
    /// assert!(std::ptr::eq(permit.semaphore(), &sem));
    /// ```
    pub fn semaphore(&self) -> &'a Semaphore<P, L> {
        self.sem
    }
}

impl<P, L: RawLock> Drop for Permit<'_, P, L> {
    fn drop(&mut self) {
        self.sem.raw.release(self.permits);
    }
}

impl<P, L: RawLock> core::fmt::Debug for Permit<'_, P, L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Permit")
            .field("permits", &self.permits)
            .finish_non_exhaustive()
    }
}
