//! How a request or a permit reaches its semaphore: a borrow (`&Semaphore`) or an
//! `Arc<Semaphore>`, behind one small sealed trait; and [`Held`], permits held through
//! such a handle.
//!
//! A queued request is linked into its semaphore's wait list, so the semaphore must not
//! move or go away while the request exists. Both handles guarantee that, for different
//! reasons; the trait states the guarantee once so that the request and the permit code
//! ([`crate::request`], [`Held`]) are written once for both. The two implementations are
//! beside `Semaphore` (`crate::semaphore`); this layer sees only the core it reaches.

use crate::lock::RawLock;
use crate::raw::RawSemaphore;

/// Only this crate implements [`Handle`].
pub(crate) trait Sealed {}

/// A handle to a semaphore that keeps it alive and in place while the handle lives.
///
/// # Safety
///
/// [`raw`](Handle::raw) returns the same semaphore core, at the same address, every time
/// it is called on a handle and on every [`duplicate`](Handle::duplicate) of it, and that
/// core stays alive at that address for as long as any of those handles lives, even when
/// the handle itself is moved.
pub(crate) unsafe trait Handle: Sealed {
    /// The semaphore's priority type.
    type Priority;
    /// The semaphore's lock.
    type Lock: RawLock;

    /// The semaphore's core.
    fn raw(&self) -> &RawSemaphore<Self::Priority, Self::Lock>;

    /// Another handle to the same semaphore (a copy of the borrow, a clone of the `Arc`).
    fn duplicate(&self) -> Self;

    /// Whether both handles reach the same semaphore.
    fn same_semaphore(&self, other: &Self) -> bool {
        core::ptr::eq(self.raw(), other.raw())
    }
}

/// Permits held through the handle `H`. It has no `Drop` of its own: every `Held` is
/// wrapped at once in a `Permit` or an `OwnedPermit` (`crate::permit`), whose `Drop` gives
/// the permits back (see [`Held::release`]).
pub(crate) struct Held<H: Handle> {
    sem: H,
    permits: usize,
}

impl<H: Handle> Held<H> {
    #[inline]
    pub(crate) fn new(sem: H, permits: usize) -> Self {
        Self { sem, permits }
    }

    /// The handle the permits are held through.
    #[inline]
    pub(crate) fn handle(&self) -> &H {
        &self.sem
    }

    /// The number of permits held.
    #[inline]
    pub(crate) fn permits(&self) -> usize {
        self.permits
    }

    /// Keeps the permits for good; the wrapping permit then gives back none.
    pub(crate) fn forget(&mut self) {
        let permits = core::mem::take(&mut self.permits);
        self.sem.raw().forget_held(permits);
    }

    /// Takes `other`'s permits; `other`'s permit then gives back none. On a mismatch it
    /// panics before taking anything, so `other` gives its permits back to its own semaphore.
    pub(crate) fn merge(&mut self, other: &mut Self) {
        assert!(
            self.sem.same_semaphore(&other.sem),
            "cannot merge permits from different semaphores"
        );
        self.permits += core::mem::take(&mut other.permits);
    }

    pub(crate) fn split(&mut self, n: usize) -> Option<Self> {
        self.permits = self.permits.checked_sub(n)?;
        Some(Self::new(self.sem.duplicate(), n))
    }

    /// Gives the permits back: what both permits' `Drop` does. The `Drop` impls are on
    /// the public types, so that the uncontended acquire-and-release loop of
    /// `scripts/profile.sh` inlines the release into the caller.
    #[inline]
    pub(crate) fn release(&mut self) {
        self.sem.raw().release(self.permits);
    }
}
