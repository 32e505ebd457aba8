//! [`PollSemaphore`]: acquire by polling, for hand-written futures, streams and
//! `tower::Service::poll_ready`.

use alloc::sync::Arc;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::acquire::AcquireOwned;
use crate::into_priority::IntoPriority;
use crate::lock::{RawLock, SpinLock};
use crate::permit::OwnedPermit;
use crate::poll_slot::PollSlot;
use crate::request::without_waiting;
use crate::semaphore::Semaphore;

/// A handle to an `Arc<Semaphore>` that acquires by polling: `poll_acquire` instead of
/// `.await`, for code that has a [`Context`] but no `async` block, such as a hand-written
/// future or stream, or `tower::Service::poll_ready`. The counterpart of tokio-util's
/// `PollSemaphore`, with a priority.
///
/// A request that has to wait stays queued between polls: each `poll_acquire` polls the same
/// request again until it is granted (or the semaphore is closed), so it keeps its place in
/// line. The request lives in one heap slot that the handle allocates the first time it has
/// to wait and then reuses for every later request: **at most one allocation per handle,
/// none per acquire** (an uncontended acquire allocates nothing at all).
///
/// It also implements [`Stream`](futures_core::Stream), yielding one permit at a time until
/// the semaphore is closed.
///
/// # Priority
///
/// Requests wait at the handle's priority, set with [`priority`](PollSemaphore::priority) or
/// [`set_priority`](PollSemaphore::set_priority); without one, at the ambient priority
/// (feature `std`, see [`with_priority`](crate::with_priority)) when the request joins the
/// line, else `P::default()`, as for [`Semaphore::acquire_owned`].
/// [`poll_acquire_many_with_priority`](PollSemaphore::poll_acquire_many_with_priority) sets
/// it per call.
///
/// A poll that asks for something else than the queued request (another number of permits or
/// another priority) replaces it: the old request leaves the line, handing on anything it was
/// given, and the new one joins it at its own place.
///
/// # Cancellation
///
/// Dropping the handle, or no longer polling it, is how a caller gives up. Dropping it loses
/// nothing: a queued request leaves the line, and permits already handed to it go to the next
/// waiters, with the wake-up. A handle that is kept but no longer polled keeps its request
/// queued, and once granted, holds the permits for it until it is polled or dropped (see
/// [`Acquire`](crate::Acquire#futurelock)).
///
/// # Examples
///
/// A hand-written future that needs a permit before it starts its work:
///
/// ```
/// use std::future::Future;
/// use std::pin::Pin;
/// use std::sync::Arc;
/// use std::task::{ready, Context, Poll};
/// use prio_semaphore::{OwnedPermit, PollSemaphore, Semaphore};
///
/// struct Job {
///     limit: PollSemaphore,
///     permit: Option<OwnedPermit>,
/// }
///
/// impl Future for Job {
///     type Output = Result<&'static str, &'static str>;
///
///     fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
///         if self.permit.is_none() {
///             match ready!(self.limit.poll_acquire(cx)) {
///                 Some(permit) => self.permit = Some(permit),
///                 None => return Poll::Ready(Err("closed")),
///             }
///         }
///         Poll::Ready(Ok("done with a permit")) // ... the work, while holding the permit
///     }
/// }
///
/// # futures::executor::block_on(async {
/// let sem = Arc::new(Semaphore::new(2));
/// let job = Job { limit: PollSemaphore::new(sem.clone()).priority(1), permit: None };
/// assert_eq!(job.await, Ok("done with a permit"));
/// # });
/// ```
///
/// The usual `tower::Service` shape: reserve a permit in `poll_ready`, use it in `call`:
///
/// ```
/// # use std::sync::Arc;
/// # use std::task::{ready, Context, Poll};
/// # use prio_semaphore::{OwnedPermit, PollSemaphore, Semaphore};
/// struct Limited<S> {
///     inner: S,
///     limit: PollSemaphore,
///     permit: Option<OwnedPermit>,
/// }
///
/// impl<S> Limited<S> {
///     fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), &'static str>> {
///         if self.permit.is_none() {
///             self.permit = Some(ready!(self.limit.poll_acquire(cx)).ok_or("closed")?);
///         }
///         Poll::Ready(Ok(())) // then the inner service's `poll_ready`
///     }
///
///     fn call(&mut self) -> OwnedPermit {
///         // Move the permit into the response future, which drops it when done.
///         self.permit.take().expect("`poll_ready` returned `Ready(Ok)` first")
///     }
/// }
/// # let mut svc = Limited {
/// #     inner: (),
/// #     limit: PollSemaphore::new(Arc::new(Semaphore::new(1))),
/// #     permit: None,
/// # };
/// # let mut cx = Context::from_waker(std::task::Waker::noop());
/// # assert!(svc.poll_ready(&mut cx).is_ready());
/// # assert_eq!(svc.call().num_permits(), 1);
/// ```
///
/// To compute the priority from each request, which `poll_ready` does not see, use
/// `PriorityLimitLayer` (feature `tower`) instead.
pub struct PollSemaphore<P = i64, L: RawLock = SpinLock> {
    semaphore: Arc<Semaphore<P, L>>,
    /// The handle's priority; `None`: the ambient one, else `P::default()`.
    priority: Option<P>,
    /// The reusable request, and what it asks for: permits and priority.
    slot: PollSlot<AcquireOwned<P, L>, (u32, Option<P>)>,
}

impl<P, L: RawLock> PollSemaphore<P, L>
where
    P: Ord + Default + Clone + 'static,
{
    /// A handle to `semaphore`, at the ambient priority (else `P::default()`) until
    /// [`priority`](PollSemaphore::priority) sets one. Allocates nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::{PollSemaphore, Semaphore};
    ///
    /// let poll_sem = PollSemaphore::new(Arc::new(Semaphore::new(3)));
    /// assert_eq!(poll_sem.available_permits(), 3);
    /// ```
    pub fn new(semaphore: Arc<Semaphore<P, L>>) -> Self {
        Self {
            semaphore,
            priority: None,
            slot: PollSlot::new(),
        }
    }

    /// Sets the priority the handle's requests wait with (builder style): smaller values
    /// are served first. Takes anything [`IntoPriority`] accepts, like
    /// [`Acquire::priority`](crate::Acquire::priority).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::{PollSemaphore, Semaphore};
    ///
    /// let sem = Arc::new(Semaphore::new(1));
    /// let realtime = PollSemaphore::new(sem.clone()).priority(0);
    /// let batch = PollSemaphore::new(sem).priority(10usize);
    /// # drop((realtime, batch));
    /// ```
    pub fn priority(mut self, priority: impl IntoPriority<P>) -> Self {
        self.set_priority(priority);
        self
    }

    /// Sets the priority of the handle's requests from now on. A request that is queued
    /// at another priority is replaced at the next poll (it leaves the line and joins it
    /// again at the new priority).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::{PollSemaphore, Semaphore};
    ///
    /// let mut poll_sem = PollSemaphore::new(Arc::new(Semaphore::new(1)));
    /// poll_sem.set_priority(-3);
    /// ```
    pub fn set_priority(&mut self, priority: impl IntoPriority<P>) {
        self.priority = Some(priority.into_priority());
    }

    /// Polls for one permit at the handle's priority.
    ///
    /// `Ready(Some(permit))` once it is granted; `Ready(None)` if the semaphore is closed;
    /// `Pending` while it waits in line, with `cx`'s waker registered (the last poll's waker
    /// is the one woken). The next call after `Ready` starts a new request.
    ///
    /// # Panics
    ///
    /// If the priority type's `Ord` or `Clone` panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::task::{Context, Poll, Waker};
    /// use prio_semaphore::{PollSemaphore, Semaphore};
    ///
    /// let sem = Arc::new(Semaphore::new(1));
    /// let mut poll_sem = PollSemaphore::new(sem.clone());
    /// let mut cx = Context::from_waker(Waker::noop());
    /// let Poll::Ready(Some(permit)) = poll_sem.poll_acquire(&mut cx) else { panic!() };
    /// assert!(poll_sem.poll_acquire(&mut cx).is_pending()); // queued
    /// drop(permit); // handed to the queued request
    /// assert!(matches!(poll_sem.poll_acquire(&mut cx), Poll::Ready(Some(_))));
    /// sem.close();
    /// assert!(matches!(poll_sem.poll_acquire(&mut cx), Poll::Ready(None)));
    /// ```
    pub fn poll_acquire(&mut self, cx: &mut Context<'_>) -> Poll<Option<OwnedPermit<P, L>>> {
        self.poll_acquire_many(cx, 1)
    }

    /// Polls for `permits` permits at once, at the handle's priority.
    ///
    /// As [`poll_acquire`](PollSemaphore::poll_acquire). `Ready(None)` also answers a
    /// request for more than [`MAX_PERMITS`](crate::MAX_PERMITS), which could never be
    /// granted (tokio-util panics there); [`is_closed`](Semaphore::is_closed) on
    /// [`semaphore`](PollSemaphore::semaphore) tells the two apart.
    ///
    /// # Panics
    ///
    /// If the priority type's `Ord` or `Clone` panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::task::{Context, Poll, Waker};
    /// use prio_semaphore::{PollSemaphore, Semaphore};
    ///
    /// let mut poll_sem = PollSemaphore::new(Arc::new(Semaphore::new(4)));
    /// let mut cx = Context::from_waker(Waker::noop());
    /// let Poll::Ready(Some(permit)) = poll_sem.poll_acquire_many(&mut cx, 3) else { panic!() };
    /// assert_eq!(permit.num_permits(), 3);
    /// assert!(matches!(poll_sem.poll_acquire_many(&mut cx, u32::MAX), Poll::Ready(None)));
    /// assert!(!poll_sem.semaphore().is_closed());
    /// ```
    pub fn poll_acquire_many(
        &mut self,
        cx: &mut Context<'_>,
        permits: u32,
    ) -> Poll<Option<OwnedPermit<P, L>>> {
        let priority = self.priority.clone();
        self.poll_request(cx, permits, priority)
    }

    /// Polls for `permits` permits at `priority`, whatever the handle's priority is.
    ///
    /// As [`poll_acquire_many`](PollSemaphore::poll_acquire_many). Keep passing the same
    /// priority while the request waits: another one replaces the queued request.
    ///
    /// # Panics
    ///
    /// If the priority type's `Ord` or `Clone` panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::task::{Context, Poll, Waker};
    /// use prio_semaphore::{PollSemaphore, Semaphore};
    ///
    /// let sem = Arc::new(Semaphore::new(0));
    /// let mut cx = Context::from_waker(Waker::noop());
    /// let mut batch = PollSemaphore::new(sem.clone());
    /// let mut realtime = PollSemaphore::new(sem.clone());
    /// assert!(batch.poll_acquire_many_with_priority(&mut cx, 1, 10).is_pending());
    /// assert!(realtime.poll_acquire_many_with_priority(&mut cx, 1, 0).is_pending());
    /// sem.add_permits(1);
    /// assert!(batch.poll_acquire_many_with_priority(&mut cx, 1, 10).is_pending());
    /// assert!(realtime.poll_acquire_many_with_priority(&mut cx, 1, 0).is_ready());
    /// ```
    pub fn poll_acquire_many_with_priority(
        &mut self,
        cx: &mut Context<'_>,
        permits: u32,
        priority: impl IntoPriority<P>,
    ) -> Poll<Option<OwnedPermit<P, L>>> {
        self.poll_request(cx, permits, Some(priority.into_priority()))
    }

    fn poll_request(
        &mut self,
        cx: &mut Context<'_>,
        permits: u32,
        priority: Option<P>,
    ) -> Poll<Option<OwnedPermit<P, L>>> {
        let semaphore = &self.semaphore;
        let fast = |&(permits, _): &(u32, Option<P>)| {
            without_waiting(Arc::clone(semaphore).try_acquire_many_owned(permits))
        };
        let make = |(permits, priority): &(u32, Option<P>)| {
            let request = Arc::clone(semaphore).acquire_many_owned(*permits);
            match priority {
                Some(priority) => request.priority(priority.clone()),
                None => request,
            }
        };
        let result = core::task::ready!(self.slot.poll(cx, (permits, priority), fast, make));
        Poll::Ready(result.ok())
    }
}

impl<P, L: RawLock> PollSemaphore<P, L> {
    /// The semaphore.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::{PollSemaphore, Semaphore};
    ///
    /// let poll_sem = PollSemaphore::new(Arc::new(Semaphore::new(1)));
    /// assert!(!poll_sem.semaphore().is_closed());
    /// ```
    pub fn semaphore(&self) -> &Arc<Semaphore<P, L>> {
        &self.semaphore
    }

    /// A clone of the `Arc` of the semaphore (tokio-util's name).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::{PollSemaphore, Semaphore};
    ///
    /// let sem = Arc::new(Semaphore::new(1));
    /// assert!(Arc::ptr_eq(&PollSemaphore::new(sem.clone()).clone_inner(), &sem));
    /// ```
    pub fn clone_inner(&self) -> Arc<Semaphore<P, L>> {
        Arc::clone(&self.semaphore)
    }

    /// The `Arc` of the semaphore; a queued request leaves the line.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::{PollSemaphore, Semaphore};
    ///
    /// let sem = Arc::new(Semaphore::new(1));
    /// assert!(Arc::ptr_eq(&PollSemaphore::new(sem.clone()).into_inner(), &sem));
    /// ```
    pub fn into_inner(self) -> Arc<Semaphore<P, L>> {
        self.semaphore
    }

    /// The number of free permits of the semaphore.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::{PollSemaphore, Semaphore};
    ///
    /// assert_eq!(PollSemaphore::new(Arc::new(Semaphore::new(2))).available_permits(), 2);
    /// ```
    pub fn available_permits(&self) -> usize {
        self.semaphore.available_permits()
    }

    /// Adds `n` permits to the semaphore, handing them to waiters in order first.
    ///
    /// # Panics
    ///
    /// As [`Semaphore::add_permits`]: if the permits would exceed
    /// [`MAX_PERMITS`](crate::MAX_PERMITS).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::{PollSemaphore, Semaphore};
    ///
    /// let poll_sem = PollSemaphore::new(Arc::new(Semaphore::new(0)));
    /// poll_sem.add_permits(2);
    /// assert_eq!(poll_sem.available_permits(), 2);
    /// ```
    pub fn add_permits(&self, n: usize) {
        self.semaphore.add_permits(n);
    }
}

/// A new handle to the same semaphore, with the same priority and no request of its own
/// (nothing is allocated until it has to wait).
impl<P: Clone, L: RawLock> Clone for PollSemaphore<P, L> {
    fn clone(&self) -> Self {
        Self {
            semaphore: Arc::clone(&self.semaphore),
            priority: self.priority.clone(),
            slot: PollSlot::new(),
        }
    }
}

impl<P, L: RawLock> AsRef<Semaphore<P, L>> for PollSemaphore<P, L> {
    fn as_ref(&self) -> &Semaphore<P, L> {
        &self.semaphore
    }
}

// The request is boxed and `P` is never pinned, so moving the handle moves nothing that is
// pinned.
impl<P, L: RawLock> Unpin for PollSemaphore<P, L> {}

/// Yields one permit at a time, at the handle's priority, and ends (`None`) once the
/// semaphore is closed.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use futures::StreamExt;
/// use prio_semaphore::{PollSemaphore, Semaphore};
///
/// # futures::executor::block_on(async {
/// let sem = Arc::new(Semaphore::new(2));
/// let mut permits = PollSemaphore::new(sem.clone()).priority(1);
/// let a = permits.next().await.unwrap();
/// let b = permits.next().await.unwrap();
/// assert_eq!(sem.available_permits(), 0);
/// sem.close();
/// assert!(permits.next().await.is_none());
/// # drop((a, b));
/// # });
/// ```
impl<P, L: RawLock> futures_core::Stream for PollSemaphore<P, L>
where
    P: Ord + Default + Clone + 'static,
{
    type Item = OwnedPermit<P, L>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_acquire(cx)
    }
}

impl<P: core::fmt::Debug, L: RawLock> core::fmt::Debug for PollSemaphore<P, L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PollSemaphore")
            .field("semaphore", &self.semaphore)
            .field("priority", &self.priority)
            .field("waiting", &self.slot.is_live())
            .finish()
    }
}
