//! The request that both public acquire futures wrap: a semaphore [`Handle`], where the
//! priority comes from ([`AmbientLookup`]), and the acquire protocol ([`RawAcquire`]),
//! whose node is linked into the wait list while the request waits.
//!
//! [`Acquire`](crate::Acquire) is a `Request<&Semaphore>` and
//! [`AcquireOwned`](crate::AcquireOwned) a `Request<Arc<Semaphore>>`: they queue, hand off
//! and cancel through this one code path, so its safety argument is written once, here.

use core::pin::Pin;
use core::task::{Context, Poll};

use crate::error::AcquireError;
use crate::handle::Handle;
use crate::permit::Held;
use crate::raw::RawAcquire;

pin_project_lite::pin_project! {
    /// A request for permits through the handle `H`.
    ///
    /// `P` is spelled out (rather than read from `H::Priority` in the fields) so that the
    /// public futures stay covariant in their lifetime.
    pub(crate) struct Request<H: Handle<Priority = P>, P> {
        sem: H,
        ambient: AmbientLookup<P>,
        #[pin]
        raw: RawAcquire<P>,
    }

    impl<H: Handle<Priority = P>, P> PinnedDrop for Request<H, P> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // SAFETY: `raw` is only ever polled with the semaphore behind `sem` (see
            // `poll`), which the `Handle` contract keeps alive and in place while `sem`
            // lives; fields are dropped after this, so `sem` is still alive here.
            unsafe { this.raw.cancel(&this.sem.semaphore().raw) };
        }
    }
}

impl<H: Handle<Priority = P>, P> Request<H, P> {
    /// A request for `permits` permits at the ambient priority (see [`AmbientLookup`]).
    #[inline(always)]
    pub(crate) fn new(sem: H, permits: u32) -> Self
    where
        P: Default + Clone + 'static,
    {
        Self {
            sem,
            ambient: AmbientLookup::at_first_poll(),
            raw: RawAcquire::new(P::default(), permits).showing_values(),
        }
    }

    /// Sets an explicit priority, which wins over any ambient one.
    #[inline(always)]
    pub(crate) fn set_priority(&mut self, priority: P) {
        self.ambient = AmbientLookup::explicit();
        self.raw.set_priority(priority);
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
        // Read before the ambient lookup (a call), so the address stays in a register.
        let sem: &H = this.sem;
        let semaphore = sem.semaphore();
        this.ambient.resolve(this.raw.as_mut());
        // SAFETY: always the semaphore behind `sem`, a handle this request owns and never
        // replaces, so by the `Handle` contract it stays alive and in place as long as the
        // request exists; `PinnedDrop` calls `cancel` with it before the handle goes away.
        let ready = unsafe { this.raw.as_mut().poll_acquire(&semaphore.raw, cx) };
        ready.map(|result| {
            result.map(|()| wrap(Held::new(sem.duplicate(), this.raw.needed() as usize)))
        })
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
struct AmbientLookup<P>(Option<fn() -> Option<P>>);

impl<P> AmbientLookup<P> {
    /// Look the priority up when the request is first polled.
    #[inline]
    fn at_first_poll() -> Self
    where
        P: Clone + 'static,
    {
        #[cfg(feature = "std")]
        return Self(Some(crate::ambient::current_priority::<P>));
        #[cfg(not(feature = "std"))]
        return Self(None);
    }

    /// The priority was set explicitly: no lookup.
    #[inline]
    const fn explicit() -> Self {
        Self(None)
    }

    /// To be called at the start of every poll, before `raw` is polled: on the first one,
    /// replaces `raw` with a request at the ambient priority, if a scope sets one.
    #[inline]
    fn resolve(&mut self, mut raw: Pin<&mut RawAcquire<P>>) {
        if let Some(priority) = self.0.take().and_then(|lookup| lookup()) {
            // Never polled, so never queued: nothing points to the request being replaced.
            let renewed = raw.renewed(priority);
            raw.set(renewed);
        }
    }
}
