//! The request that both public acquire futures wrap: a semaphore [`Handle`] and the
//! acquire protocol ([`RawAcquire`], which also carries the ambient priority lookup until
//! the first poll), whose node is linked into the wait list while the request waits.
//!
//! [`Acquire`](crate::Acquire) is a `Request<&Semaphore>` and
//! [`AcquireOwned`](crate::AcquireOwned) a `Request<Arc<Semaphore>>`: they queue, hand off
//! and cancel through this one code path, so its safety argument is written once, here.

use core::pin::Pin;
use core::task::{Context, Poll};

use crate::error::{AcquireError, TryAcquireError};
use crate::handle::{Handle, Held};
use crate::raw::acquire::RawAcquire;

pin_project_lite::pin_project! {
    /// A request for permits through the handle `H`.
    ///
    /// `P` is spelled out (rather than read from `H::Priority` in the fields) so that the
    /// public futures stay covariant in their lifetime.
    pub(crate) struct Request<H: Handle<Priority = P>, P> {
        sem: H,
        #[pin]
        raw: RawAcquire<P>,
    }

    impl<H: Handle<Priority = P>, P> PinnedDrop for Request<H, P> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // SAFETY: `raw` is only ever polled with the semaphore behind `sem` (see
            // `poll`), which the `Handle` contract keeps alive and in place while `sem`
            // lives; fields are dropped after this, so `sem` is still alive here.
            unsafe { this.raw.cancel(this.sem.raw()) };
        }
    }
}

impl<H: Handle<Priority = P>, P> Request<H, P> {
    /// A request for `permits` permits at the ambient priority, looked up at its first
    /// poll (see [`RawAcquire::with_ambient_lookup`]).
    #[inline(always)]
    pub(crate) fn new(sem: H, permits: u32) -> Self
    where
        P: Default + Clone + 'static,
    {
        let raw = RawAcquire::new(P::default(), permits).showing_values();
        // The lookup function is chosen here, where `P: Clone + 'static` is known, so that
        // polling needs no bound beyond `P: Ord`. Without `std` there is no lookup.
        #[cfg(feature = "std")]
        let raw = raw.with_ambient_lookup(crate::ambient::current_priority::<P>);
        Self { sem, raw }
    }

    /// A request for `permits` permits at `priority`: no ambient lookup, so no default.
    #[inline(always)]
    pub(crate) fn at(sem: H, permits: u32, priority: P) -> Self
    where
        P: 'static,
    {
        let raw = RawAcquire::new(priority, permits).showing_values();
        Self { sem, raw }
    }

    /// Sets an explicit priority, which wins over any ambient one.
    #[inline(always)]
    pub(crate) fn set_priority(&mut self, priority: P) {
        self.raw.set_priority(priority);
    }

    /// Sets the queue limit (see `Acquire::queue_limit`).
    #[inline(always)]
    pub(crate) fn set_queue_limit(&mut self, limit: crate::waitlist::QueueLimit) {
        self.raw.set_queue_limit(limit);
    }

    /// `Debug` for the public future named `name` that wraps this request.
    pub(crate) fn fmt_as(&self, name: &str, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.raw.fmt_as(name, f)
    }
}

impl<H: Handle<Priority = P>, P: Ord> Request<H, P> {
    /// Polls the request: on success, the permits come with a handle of their own, wrapped
    /// by `wrap` into the public permit type (one `map`, not two, on the hot path).
    ///
    /// Always inlined into the public futures' `poll`, so that the uncontended path costs
    /// what it would if it were written there.
    #[inline(always)]
    pub(crate) fn poll<T>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        wrap: impl FnOnce(Held<H>) -> T,
    ) -> Poll<Result<T, AcquireError>> {
        let mut this = self.project();
        // Read before the poll (which may call the ambient lookup), so the address stays in
        // a register.
        let sem: &H = this.sem;
        let raw = sem.raw();
        // SAFETY: always the semaphore behind `sem`, a handle this request owns and never
        // replaces, so by the `Handle` contract it stays alive and in place as long as the
        // request exists; `PinnedDrop` calls `cancel` with it before the handle goes away.
        let ready = unsafe { this.raw.as_mut().poll_acquire(raw, cx) };
        ready.map(|result| {
            result.map(|()| wrap(Held::new(sem.duplicate(), this.raw.needed() as usize)))
        })
    }
}

/// A `try_acquire`'s answer as a poll gives it: `Some` if the request need not wait (its
/// permits, or the semaphore closed), `None` if it must queue. For the requests that try
/// first and queue only if they must (`PollSemaphore`, the fair layer).
pub(crate) fn without_waiting<T>(
    tried: Result<T, TryAcquireError>,
) -> Option<Result<T, AcquireError>> {
    match tried {
        Ok(permit) => Some(Ok(permit)),
        Err(TryAcquireError::Closed) => Some(Err(AcquireError::closed())),
        Err(TryAcquireError::NoPermits) => None,
    }
}
