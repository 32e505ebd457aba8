//! How a request or a permit reaches its semaphore: a borrow (`&Semaphore`) or an
//! `Arc<Semaphore>`, behind one small sealed trait.
//!
//! A queued request is linked into its semaphore's wait list, so the semaphore must not
//! move or go away while the request exists. Both handles guarantee that, for different
//! reasons; the trait states the guarantee once so that the request and the permit code
//! ([`crate::request`], [`crate::permit`]) are written once for both.

use crate::lock::RawLock;
use crate::semaphore::Semaphore;

mod sealed {
    /// Only this crate implements [`Handle`](super::Handle).
    pub trait Sealed {}
}

/// A handle to a semaphore that keeps it alive and in place while the handle lives.
///
/// # Safety
///
/// [`semaphore`](Handle::semaphore) returns the same semaphore, at the same address, every
/// time it is called on a handle and on every [`duplicate`](Handle::duplicate) of it, and
/// that semaphore stays alive at that address for as long as any of those handles lives,
/// even when the handle itself is moved.
pub(crate) unsafe trait Handle: sealed::Sealed {
    /// The semaphore's priority type.
    type Priority;
    /// The semaphore's lock.
    type Lock: RawLock;

    /// The semaphore.
    fn semaphore(&self) -> &Semaphore<Self::Priority, Self::Lock>;

    /// Another handle to the same semaphore (a copy of the borrow, a clone of the `Arc`).
    fn duplicate(&self) -> Self;

    /// Whether both handles reach the same semaphore.
    fn same_semaphore(&self, other: &Self) -> bool {
        core::ptr::eq(self.semaphore(), other.semaphore())
    }
}

impl<P, L: RawLock> sealed::Sealed for &Semaphore<P, L> {}

// SAFETY: a shared borrow keeps the semaphore alive and unmoved (it cannot be moved or
// dropped while borrowed) for its whole lifetime, and copies of it point to the same place.
unsafe impl<P, L: RawLock> Handle for &Semaphore<P, L> {
    type Priority = P;
    type Lock = L;

    #[inline(always)]
    fn semaphore(&self) -> &Semaphore<P, L> {
        self
    }

    #[inline(always)]
    fn duplicate(&self) -> Self {
        self
    }
}

#[cfg(feature = "alloc")]
impl<P, L: RawLock> sealed::Sealed for alloc::sync::Arc<Semaphore<P, L>> {}

// SAFETY: the semaphore lives in the `Arc`'s heap allocation, which never moves, and every
// clone of the `Arc` keeps that allocation alive; there is no `&mut` access to it while it
// is shared (`Arc::get_mut` needs the only handle, and a request or permit holds one).
#[cfg(feature = "alloc")]
unsafe impl<P, L: RawLock> Handle for alloc::sync::Arc<Semaphore<P, L>> {
    type Priority = P;
    type Lock = L;

    #[inline(always)]
    fn semaphore(&self) -> &Semaphore<P, L> {
        self
    }

    #[inline(always)]
    fn duplicate(&self) -> Self {
        alloc::sync::Arc::clone(self)
    }
}
