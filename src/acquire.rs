//! [`Acquire`]: the future returned by `acquire` and `acquire_many`.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::error::AcquireError;
use crate::into_priority::IntoPriority;
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
    /// # Priority
    ///
    /// The request waits with the priority set by [`priority`](Acquire::priority). Without
    /// one it takes, when first polled, the priority of the innermost enclosing ambient
    /// scope of the semaphore's priority type (`with_priority` and `priority_scope`,
    /// feature `std`), and otherwise `P::default()`.
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
    /// stop polling. With the `std` and `tracing` features,
    /// `Semaphore::warn_unclaimed_after` reports such a grant.
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
        ambient: AmbientLookup<P>,
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
    /// A request for `permits` permits at the ambient priority (see [`AmbientLookup`]).
    pub(crate) fn new(sem: &'a Semaphore<P, L>, permits: u32) -> Self
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
    /// values in arrival order.
    ///
    /// An explicit priority wins over any ambient one (`with_priority`, feature `std`).
    ///
    /// Takes anything that converts into the semaphore's priority type (see
    /// [`IntoPriority`]): every primitive integer (`u8`, `i32`, `u64`, `usize`, `i128`, ...)
    /// for the default `i64`, saturating at `i64::MIN`/`i64::MAX` beyond its range, which
    /// keeps the order; an `f64` for [`FloatPriority`](crate::FloatPriority); and the
    /// priority type itself.
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
    /// let queue_len: usize = 17;
    /// let permit = sem.acquire().priority(queue_len).await.unwrap();
    /// # drop(permit);
    /// # });
    /// ```
    pub fn priority(mut self, priority: impl IntoPriority<P>) -> Self {
        self.ambient = AmbientLookup::explicit();
        self.raw.set_priority(priority.into_priority());
        self
    }
}

impl<'a, P: Ord, L: RawLock> Future for Acquire<'a, P, L> {
    type Output = Result<Permit<'a, P, L>, AcquireError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let sem: &'a Semaphore<P, L> = this.sem;
        this.ambient.resolve(this.raw.as_mut());
        // SAFETY: always the same semaphore, kept alive and in place by the borrow `'a`;
        // `PinnedDrop` calls `cancel` with it before the future goes away.
        let ready = unsafe { this.raw.as_mut().poll_acquire(&sem.raw, cx) };
        ready.map(|result| result.map(|()| Permit::new(sem, this.raw.needed() as usize)))
    }
}

impl<P, L: RawLock> core::fmt::Debug for Acquire<'_, P, L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.raw.fmt(f)
    }
}

/// Where a request without an explicit priority gets its priority: from the innermost
/// ambient priority scope (`crate::ambient`, feature `std`) at its **first poll**, the moment
/// it joins the line, rather than when the future is created. Futures are lazy, so this is
/// what makes `with_priority(p, sem.acquire())` and futures built eagerly outside a scope but
/// awaited inside it take the scope's priority.
///
/// The lookup function is chosen where the request is created, where `P: Clone + 'static`
/// is known, so polling needs no bound beyond `P: Ord`. Without `std` there is no lookup.
pub(crate) struct AmbientLookup<P>(Option<fn() -> Option<P>>);

impl<P> AmbientLookup<P> {
    /// Look the priority up when the request is first polled.
    pub(crate) fn at_first_poll() -> Self
    where
        P: Clone + 'static,
    {
        #[cfg(feature = "std")]
        return Self(Some(crate::ambient::current_priority::<P>));
        #[cfg(not(feature = "std"))]
        return Self(None);
    }

    /// The priority was set explicitly: no lookup.
    pub(crate) const fn explicit() -> Self {
        Self(None)
    }

    /// To be called at the start of every poll, before `raw` is polled: on the first one,
    /// replaces `raw` with a request at the ambient priority, if a scope sets one.
    pub(crate) fn resolve(&mut self, mut raw: Pin<&mut RawAcquire<P>>) {
        if let Some(priority) = self.0.take().and_then(|lookup| lookup()) {
            // Never polled, so never queued: nothing points to the request being replaced.
            let renewed = raw.renewed(priority);
            raw.set(renewed);
        }
    }
}
