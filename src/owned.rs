//! Owned permits: acquired through an `Arc<Semaphore>`, so they borrow nothing and can move
//! into spawned tasks.
//!
//! [`AcquireOwned`] is [`Acquire`](crate::Acquire) with an `Arc` in place of the borrow: both
//! are thin wrappers around the same `RawAcquire` protocol, so they queue, hand off and cancel
//! identically, and mix freely in one line.

use alloc::sync::Arc;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::acquire::AmbientLookup;
use crate::error::{AcquireError, TryAcquireError};
use crate::into_priority::IntoPriority;
use crate::lock::{RawLock, SpinLock};
use crate::raw::RawAcquire;
use crate::semaphore::Semaphore;

#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
impl<P, L: RawLock> Semaphore<P, L> {
    /// Acquires one permit through an `Arc`, waiting in line if none is free: the permit
    /// holds the `Arc`, not a borrow, so it can move into a spawned task.
    ///
    /// Otherwise the same as [`acquire`](Semaphore::acquire): the future queues at the
    /// priority set with [`.priority(p)`](AcquireOwned::priority), else at the ambient one,
    /// else at `P::default()`.
    ///
    /// # Cancellation
    ///
    /// Dropping the future at any point gives back whatever it was handed; see
    /// [`AcquireOwned`].
    ///
    /// # Examples
    ///
    /// Backpressure: take a permit *before* spawning, so at most 8 tasks exist at once, however
    /// many items there are.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::Semaphore;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let limit = Arc::new(Semaphore::new(8));
    /// for item in 0..100 {
    ///     let permit = limit.clone().acquire_owned().await.unwrap();
    ///     tokio::spawn(async move {
    ///         let _ = item * 2; // ... process the item
    ///         drop(permit); // frees a slot for the next task
    ///     });
    /// }
    /// # }
    /// ```
    pub fn acquire_owned(self: Arc<Self>) -> AcquireOwned<P, L>
    where
        P: Ord + Default + Clone + 'static,
    {
        AcquireOwned::new(self, 1)
    }

    /// Acquires `n` permits at once through an `Arc`, waiting in line if they are not free.
    ///
    /// Otherwise the same as [`acquire_many`](Semaphore::acquire_many), including the
    /// [`AcquireError::is_too_many_permits`] error for more than
    /// [`MAX_PERMITS`](crate::MAX_PERMITS).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::Semaphore;
    ///
    /// # futures::executor::block_on(async {
    /// let sem = Arc::new(Semaphore::new(5));
    /// let permit = sem.clone().acquire_many_owned(3).priority(1).await.unwrap();
    /// assert_eq!(permit.num_permits(), 3);
    /// assert_eq!(sem.available_permits(), 2);
    /// # });
    /// ```
    pub fn acquire_many_owned(self: Arc<Self>, n: u32) -> AcquireOwned<P, L>
    where
        P: Ord + Default + Clone + 'static,
    {
        AcquireOwned::new(self, n)
    }

    /// Takes one permit through an `Arc` if one is free and nobody is waiting, without
    /// waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::{Semaphore, TryAcquireError};
    ///
    /// let sem = Arc::new(Semaphore::new(1));
    /// let permit = sem.clone().try_acquire_owned().unwrap();
    /// assert_eq!(sem.clone().try_acquire_owned().unwrap_err(), TryAcquireError::NoPermits);
    /// drop(permit);
    /// assert!(sem.try_acquire_owned().is_ok());
    /// ```
    pub fn try_acquire_owned(self: Arc<Self>) -> Result<OwnedPermit<P, L>, TryAcquireError> {
        self.try_acquire_many_owned(1)
    }

    /// Takes `n` permits through an `Arc` if they are free and nobody is waiting, without
    /// waiting.
    ///
    /// As for [`try_acquire_many`](Semaphore::try_acquire_many), a queued waiter is served
    /// first: this fails while anyone waits.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::Semaphore;
    ///
    /// let sem = Arc::new(Semaphore::new(4));
    /// let permit = sem.clone().try_acquire_many_owned(3).unwrap();
    /// assert!(sem.clone().try_acquire_many_owned(2).is_err());
    /// assert_eq!(permit.num_permits(), 3);
    /// ```
    pub fn try_acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> Result<OwnedPermit<P, L>, TryAcquireError> {
        let n = n as usize;
        self.raw.try_acquire(n)?;
        Ok(OwnedPermit::new(self, n))
    }
}

pin_project_lite::pin_project! {
    /// A request for permits through an `Arc<Semaphore>`, waiting in line by priority.
    ///
    /// Returned by [`Semaphore::acquire_owned`] and [`Semaphore::acquire_many_owned`]; resolves
    /// to an [`OwnedPermit`]. It behaves exactly like [`Acquire`](crate::Acquire) (the same
    /// queue, priorities, ambient priority and hand-off), and it is `'static` when `P` and
    /// `L` are, so it can itself be moved into a spawned task.
    ///
    /// # Cancellation
    ///
    /// Dropping it at any point is safe and loses nothing, as for
    /// [`Acquire`](crate::Acquire#cancellation): a queued request leaves the line, and permits
    /// already handed to it go to the next waiters, with the wake-up.
    ///
    /// # Panics
    ///
    /// Polling it again after it completed panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::Semaphore;
    ///
    /// # futures::executor::block_on(async {
    /// let sem = Arc::new(Semaphore::new(1));
    /// let permit = sem.acquire_owned().priority(3).await.unwrap();
    /// # drop(permit);
    /// # });
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct AcquireOwned<P = i64, L: RawLock = SpinLock> {
        sem: Arc<Semaphore<P, L>>,
        ambient: AmbientLookup<P>,
        #[pin]
        raw: RawAcquire<P>,
    }

    impl<P, L: RawLock> PinnedDrop for AcquireOwned<P, L> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // SAFETY: `raw` is only ever polled with the semaphore inside `sem` (see `poll`).
            // This future holds that `Arc` until after this call, so the semaphore is alive,
            // and it never moves: it lives in the `Arc`'s allocation.
            unsafe { this.raw.cancel(&this.sem.raw) };
        }
    }
}

impl<P, L: RawLock> AcquireOwned<P, L> {
    fn new(sem: Arc<Semaphore<P, L>>, permits: u32) -> Self
    where
        P: Default + Clone + 'static,
    {
        Self {
            sem,
            ambient: AmbientLookup::at_first_poll(),
            raw: RawAcquire::new(P::default(), permits).showing_values(),
        }
    }

    /// Sets the priority this request waits with: smaller values are served first, equal
    /// values in arrival order. It wins over any ambient priority.
    ///
    /// Takes anything that converts into the semaphore's priority type
    /// ([`IntoPriority`]), exactly like [`Acquire::priority`](crate::Acquire::priority).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::Semaphore;
    ///
    /// # futures::executor::block_on(async {
    /// let sem = Arc::new(Semaphore::new(1));
    /// let level: u8 = 2;
    /// let permit = sem.acquire_owned().priority(level).await.unwrap();
    /// # drop(permit);
    /// # });
    /// ```
    pub fn priority(mut self, priority: impl IntoPriority<P>) -> Self {
        self.ambient = AmbientLookup::explicit();
        self.raw.set_priority(priority.into_priority());
        self
    }
}

impl<P: Ord, L: RawLock> Future for AcquireOwned<P, L> {
    type Output = Result<OwnedPermit<P, L>, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        this.ambient.resolve(this.raw.as_mut());
        let sem: &Arc<Semaphore<P, L>> = this.sem;
        // SAFETY: always the semaphore inside `sem`, an `Arc` this future owns and never
        // replaces, so the semaphore stays alive and in place as long as the future exists;
        // `PinnedDrop` calls `cancel` with it before the future (and the `Arc`) goes away.
        let ready = unsafe { this.raw.as_mut().poll_acquire(&sem.raw, cx) };
        ready.map(|result| {
            result.map(|()| OwnedPermit::new(Arc::clone(sem), this.raw.needed() as usize))
        })
    }
}

impl<P, L: RawLock> core::fmt::Debug for AcquireOwned<P, L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.raw.fmt(f)
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
#[must_use = "the permits are given back as soon as they are dropped"]
pub struct OwnedPermit<P = i64, L: RawLock = SpinLock> {
    sem: Arc<Semaphore<P, L>>,
    permits: usize,
}

/// tokio's name for [`OwnedPermit`], so ported code that names the type keeps compiling.
pub type OwnedSemaphorePermit<P = i64, L = SpinLock> = OwnedPermit<P, L>;

impl<P, L: RawLock> OwnedPermit<P, L> {
    fn new(sem: Arc<Semaphore<P, L>>, permits: usize) -> Self {
        Self { sem, permits }
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
        self.sem.raw.forget_held(core::mem::take(&mut self.permits));
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
        self.permits
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
        assert!(
            Arc::ptr_eq(&self.sem, &other.sem),
            "cannot merge permits from different semaphores"
        );
        self.permits += core::mem::take(&mut other.permits);
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
        self.permits = self.permits.checked_sub(n)?;
        Some(Self::new(Arc::clone(&self.sem), n))
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
        &self.sem
    }
}

impl<P, L: RawLock> Drop for OwnedPermit<P, L> {
    fn drop(&mut self) {
        self.sem.raw.release(self.permits);
    }
}

impl<P, L: RawLock> core::fmt::Debug for OwnedPermit<P, L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OwnedPermit")
            .field("permits", &self.permits)
            .finish_non_exhaustive()
    }
}
