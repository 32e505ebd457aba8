//! [`Permit`] and [`OwnedPermit`]: permits held from a semaphore, given back when dropped.
//!
//! Both wrap one private [`Held`], generic over how the permit reaches its semaphore (a
//! borrow or an `Arc`, see [`crate::handle`]), so giving back, forgetting, merging and
//! splitting are written once, there.

#[cfg(feature = "alloc")]
use alloc::sync::Arc;

use crate::handle::Held;
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
    held: Held<&'a Semaphore<P, L>>,
}

/// tokio's name for [`Permit`], so ported code that names the type keeps compiling.
pub type SemaphorePermit<'a, P = i64, L = SpinLock> = Permit<'a, P, L>;

impl<'a, P, L: RawLock> Permit<'a, P, L> {
    pub(crate) fn new(held: Held<&'a Semaphore<P, L>>) -> Self {
        Self { held }
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
        self.held.forget();
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
        self.held.permits()
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
        self.held.merge(&mut other.held);
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
        self.held.split(n).map(Self::new)
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
        self.held.handle()
    }
}

impl<P, L: RawLock> Drop for Permit<'_, P, L> {
    fn drop(&mut self) {
        self.held.release();
    }
}

impl<P, L: RawLock> core::fmt::Debug for Permit<'_, P, L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Permit")
            .field("permits", &self.held.permits())
            .finish_non_exhaustive()
    }
}

/// Permits acquired through an `Arc<Semaphore>`, given back when dropped.
///
/// The owned counterpart of [`Permit`](crate::Permit): it keeps the semaphore alive through
/// its `Arc` instead of borrowing it, so it is `'static` (when `P` and `L` are) and can move
/// into a spawned task or a struct.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use prio_semaphore::Semaphore;
///
/// let sem = Arc::new(Semaphore::new(4));
/// let mut permit = sem.clone().try_acquire_many_owned(3).unwrap();
/// let one = permit.split(1).unwrap();
/// assert_eq!((permit.num_permits(), one.num_permits()), (2, 1));
/// permit.merge(one);
/// assert_eq!(permit.num_permits(), 3);
/// drop(permit);
/// assert_eq!(sem.available_permits(), 4);
/// ```
#[cfg(feature = "alloc")]
#[must_use = "the permits are given back as soon as they are dropped"]
pub struct OwnedPermit<P = i64, L: RawLock = SpinLock> {
    held: Held<Arc<Semaphore<P, L>>>,
}

#[cfg(feature = "alloc")]
/// tokio's name for [`OwnedPermit`], so ported code that names the type keeps compiling.
pub type OwnedSemaphorePermit<P = i64, L = SpinLock> = OwnedPermit<P, L>;

#[cfg(feature = "alloc")]
impl<P, L: RawLock> OwnedPermit<P, L> {
    pub(crate) fn new(held: Held<Arc<Semaphore<P, L>>>) -> Self {
        Self { held }
    }

    /// Keeps the permits out of the semaphore for good: they are not given back, and the
    /// semaphore's capacity shrinks by that many.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let sem = Arc::new(prio_semaphore::Semaphore::new(2));
    /// sem.clone().try_acquire_owned().unwrap().forget();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn forget(mut self) {
        self.held.forget();
    }

    /// The number of permits held.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let sem = Arc::new(prio_semaphore::Semaphore::new(2));
    /// assert_eq!(sem.try_acquire_many_owned(2).unwrap().num_permits(), 2);
    /// ```
    pub fn num_permits(&self) -> usize {
        self.held.permits()
    }

    /// Moves `other`'s permits into this permit.
    ///
    /// # Panics
    ///
    /// If the two permits belong to different semaphores (not the same `Arc` allocation).
    /// `other` is then dropped as usual, so its permits go back to its own semaphore and every
    /// count stays exact.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let sem = Arc::new(prio_semaphore::Semaphore::new(2));
    /// let mut a = sem.clone().try_acquire_owned().unwrap();
    /// a.merge(sem.try_acquire_owned().unwrap());
    /// assert_eq!(a.num_permits(), 2);
    /// ```
    pub fn merge(&mut self, mut other: Self) {
        self.held.merge(&mut other.held);
    }

    /// Splits `n` permits off into a new permit; `None` (and no change) if fewer are held.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let sem = Arc::new(prio_semaphore::Semaphore::new(3));
    /// let mut permit = sem.try_acquire_many_owned(3).unwrap();
    /// assert!(permit.split(4).is_none());
    /// let two = permit.split(2).unwrap();
    /// assert_eq!((permit.num_permits(), two.num_permits()), (1, 2));
    /// ```
    pub fn split(&mut self, n: usize) -> Option<Self> {
        self.held.split(n).map(Self::new)
    }

    /// The semaphore these permits came from.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let sem = Arc::new(prio_semaphore::Semaphore::new(1));
    /// let permit = sem.clone().try_acquire_owned().unwrap();
    /// assert!(Arc::ptr_eq(permit.semaphore(), &sem));
    /// ```
    pub fn semaphore(&self) -> &Arc<Semaphore<P, L>> {
        self.held.handle()
    }
}

#[cfg(feature = "alloc")]
impl<P, L: RawLock> Drop for OwnedPermit<P, L> {
    fn drop(&mut self) {
        self.held.release();
    }
}

#[cfg(feature = "alloc")]
impl<P, L: RawLock> core::fmt::Debug for OwnedPermit<P, L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OwnedPermit")
            .field("permits", &self.held.permits())
            .finish_non_exhaustive()
    }
}
