//! [`Acquire`]: the future returned by `acquire` and `acquire_many`.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::error::AcquireError;
use crate::lock::{RawLock, SpinLock};
use crate::permit::Permit;
use crate::raw::RawAcquire;
use crate::semaphore::Semaphore;

pin_project_lite::pin_project! {
    /// A request for permits, waiting in line by priority.
    ///
    /// Returned by [`Semaphore::acquire`] and [`Semaphore::acquire_many`]. It embeds its
    /// own node of the wait list, so waiting never allocates; that node is why the future is
    /// `!Unpin` (use `pin!` or `Box::pin` to poll it by hand).
    ///
    /// # Cancellation
    ///
    /// Dropping it at any point is safe and loses nothing:
    ///
    /// * never polled, or already completed: nothing to do;
    /// * queued: it leaves the line; permits it was collecting go to the waiters behind it;
    /// * granted but not yet polled (already woken): its permits are given back and handed
    ///   on, with the wake-up, to the next waiters.
    ///
    /// So wrapping it in any runtime's timeout (`tokio::time::timeout`,
    /// `async_std::future::timeout`, ...) gives a correct acquire-with-timeout.
    ///
    /// # Futurelock
    ///
    /// Permits are handed over directly when they are released: once this future is
    /// granted, they are held for it until it is polled or dropped. A future that is kept
    /// alive but not polled (say, a losing branch of a `select!` in a loop that then awaits
    /// something needing the same permits) holds them hostage: drop acquire futures you
    /// stop polling.
    ///
    /// # Panics
    ///
    /// Polling it again after it completed panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::Semaphore;
    ///
    /// # futures::executor::block_on(async {
    /// let sem = Semaphore::new(1);
    /// let permit = sem.acquire().priority(3).await.unwrap();
    /// # drop(permit);
    /// # });
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Acquire<'a, P = i64, L: RawLock = SpinLock> {
        sem: &'a Semaphore<P, L>,
        #[pin]
        raw: RawAcquire<P>,
    }

    impl<'a, P, L: RawLock> PinnedDrop for Acquire<'a, P, L> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // SAFETY: `raw` is only ever polled with `sem` (see `poll`), which the borrow
            // `'a` keeps alive and in place for as long as this future exists.
            unsafe { this.raw.cancel(&this.sem.raw) };
        }
    }
}

impl<'a, P, L: RawLock> Acquire<'a, P, L> {
    pub(crate) fn new(sem: &'a Semaphore<P, L>, priority: P, permits: usize) -> Self {
        Self {
            sem,
            raw: RawAcquire::new(priority, permits),
        }
    }

    /// Sets the priority this request waits with: smaller values are served first, equal
    /// values in arrival order.
    ///
    /// Takes anything that converts into the semaphore's priority type, so a `u8` or `i32`
    /// works for the default `i64`, and an `f64` for
    /// [`FloatPriority`](crate::FloatPriority).
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::Semaphore;
    ///
    /// # futures::executor::block_on(async {
    /// let sem = Semaphore::new(1);
    /// let level: u8 = 2;
    /// let permit = sem.acquire().priority(level).await.unwrap();
    /// # drop(permit);
    /// # });
    /// ```
    pub fn priority(mut self, priority: impl Into<P>) -> Self {
        self.raw.set_priority(priority.into());
        self
    }
}

impl<'a, P: Ord, L: RawLock> Future for Acquire<'a, P, L> {
    type Output = Result<Permit<'a, P, L>, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let sem: &'a Semaphore<P, L> = this.sem;
        // SAFETY: always the same semaphore, kept alive and in place by the borrow `'a`;
        // `PinnedDrop` calls `cancel` with it before the future goes away.
        let ready = unsafe { this.raw.as_mut().poll_acquire(&sem.raw, cx) };
        ready.map(|result| result.map(|()| Permit::new(sem, this.raw.needed())))
    }
}

impl<P, L: RawLock> core::fmt::Debug for Acquire<'_, P, L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.raw.fmt(f)
    }
}
