//! [`Acquire`] and [`AcquireOwned`]: the futures returned by `acquire` and its variants.
//!
//! Both are thin public faces of one [`Request`], generic over how it reaches the
//! semaphore (a borrow or an `Arc`): they queue, hand off and cancel identically, and mix
//! freely in one line.

#[cfg(feature = "alloc")]
use alloc::sync::Arc;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::error::AcquireError;
use crate::into_priority::IntoPriority;
use crate::lock::{RawLock, SpinLock};
#[cfg(feature = "alloc")]
use crate::permit::OwnedPermit;
use crate::permit::Permit;
use crate::request::Request;
use crate::semaphore::Semaphore;
use crate::timeout::Timeout;
use crate::waitlist::QueueLimit;

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
        #[pin]
        request: Request<&'a Semaphore<P, L>, P>,
    }
}

impl<'a, P, L: RawLock> Acquire<'a, P, L> {
    /// A request for `permits` permits at the ambient priority.
    #[inline(always)]
    pub(crate) fn new(sem: &'a Semaphore<P, L>, permits: u32) -> Self
    where
        P: Default + Clone + 'static,
    {
        Self {
            request: Request::new(sem, permits),
        }
    }

    /// A request for `permits` permits at `priority`.
    #[inline(always)]
    pub(crate) fn at(sem: &'a Semaphore<P, L>, permits: u32, priority: P) -> Self
    where
        P: 'static,
    {
        Self {
            request: Request::at(sem, permits, priority),
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
    #[inline(always)] // a builder: in place after inlining, not a move of the future in and out
    pub fn priority(mut self, priority: impl IntoPriority<P>) -> Self {
        self.request.set_priority(priority.into_priority());
        self
    }

    /// Bounds the line this request is willing to join: if it has to wait while `limit`
    /// or more requests already wait (of any priority), it fails at once instead of
    /// queueing. The load-shedding half of overload control; [`timeout`](Acquire::timeout)
    /// is the other.
    ///
    /// The limit counts the whole line, whatever the priorities, in O(1) under the lock.
    /// Give urgent requests a larger limit than the rest (or none), so that a long line
    /// sheds the less urgent ones first: with 16 for batch and none for realtime, batch
    /// requests are refused while 16 or more requests wait, and realtime ones still queue,
    /// ahead of the batch ones. A request that finds free permits and nobody waiting is
    /// served as always; `limit = 0` means "never wait"; `usize::MAX` (and anything from
    /// `u32::MAX - 1` up) means no limit, like not calling this. It costs the future no
    /// space.
    ///
    /// # Errors
    ///
    /// The request fails with [`AcquireError::is_queue_full`] (and
    /// [`is_overload`](AcquireError::is_overload)) when it would have queued behind
    /// `limit` or more waiting requests. Nothing changes in the semaphore: the refused
    /// request was never in line.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::{future::Future, pin::pin, task::{Context, Waker}};
    /// use prio_semaphore::Semaphore;
    ///
    /// # futures::executor::block_on(async {
    /// let sem = Semaphore::new(1);
    /// let held = sem.try_acquire().unwrap();
    /// let mut first = pin!(sem.acquire().priority(10));
    /// assert!(first.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending());
    ///
    /// // One request waits: a batch request with a limit of 1 is refused ...
    /// let err = sem.acquire().priority(10).queue_limit(1).await.unwrap_err();
    /// assert!(err.is_queue_full());
    /// // ... and one with a limit of 2 joins the line.
    /// let mut second = pin!(sem.acquire().priority(10).queue_limit(2));
    /// assert!(second.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending());
    /// assert_eq!(sem.waiter_count(), 2);
    /// # drop(held);
    /// # });
    /// ```
    #[inline(always)]
    pub fn queue_limit(mut self, limit: usize) -> Self {
        self.request.set_queue_limit(QueueLimit::new(limit));
        self
    }

    /// Gives up waiting when `timer` completes, failing with
    /// [`AcquireError::is_timed_out`]. The timer is any future from your runtime:
    /// `tokio::time::sleep(d)`, `smol::Timer::after(d)`, `embassy_time::Timer::after(d)`
    /// ([`Timeout`] has the rules).
    ///
    /// Any runtime's own timeout around the request is just as correct (cancellation
    /// loses nothing); this one keeps a single error type, so one `?` handles both.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use prio_semaphore::Semaphore;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let sem = Semaphore::new(1);
    /// let permit = sem
    ///     .acquire()
    ///     .priority(2)
    ///     .timeout(tokio::time::sleep(Duration::from_secs(1)))
    ///     .await
    ///     .unwrap(); // free: granted at once
    /// # drop(permit);
    /// # }
    /// ```
    pub fn timeout<S: Future>(self, timer: S) -> Timeout<Self, S> {
        Timeout::new(self, Some(timer))
    }
}

#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
impl<'a, P: Ord, L: RawLock> Acquire<'a, P, L> {
    /// Blocks the current thread until the permits are acquired, or the semaphore is closed.
    ///
    /// The blocking counterpart of `.await`: the request waits in the same line as async
    /// waiters, served by the same priority rules (including an ambient priority from an
    /// enclosing [`priority_scope`](crate::priority_scope)), and the thread is parked while
    /// it waits.
    ///
    /// Do not call it from async code: it blocks the executor's thread, and on a
    /// single-threaded executor the permit can then never be released. Use `.await` there.
    ///
    /// # Hand-off and its cost
    ///
    /// A released permit goes to the first waiter in line, also when that is a parked
    /// thread, and never back to the thread that released it (it would overtake the line).
    /// Threads contending for few permits therefore pay for waking the next one in line:
    /// with more threads than cores, about one context switch per hand-off, as with tokio's
    /// and maitake-sync's semaphores, against which `async-lock`, which lets the releaser
    /// take its permit straight back, is about 100× faster and gives up the order. Before it parks,
    /// `wait()` watches for its wake-up for a moment (100 `spin_loop` hints), which skips
    /// the park and the wake-up whenever the next thread in line is still running: measured
    /// with 2 to 8 threads on 2 cores, that made hand-offs up to about 100 times cheaper
    /// when it caught them (then within about 2× of async-lock's time, with the order kept),
    /// but not in every run: how often it catches them depends on what else the machine
    /// runs (`docs/benchmarks.md` in the repository, group g).
    ///
    /// # Cancellation
    ///
    /// It cannot be cancelled: it returns only once the permits are acquired or the semaphore
    /// is closed. A thread that must give up after a while uses
    /// [`wait_timeout`](Acquire::wait_timeout).
    ///
    /// # Panics
    ///
    /// If the priority type's `Ord` or `Clone` panics, as `.await` would.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::thread;
    /// use prio_semaphore::Semaphore;
    ///
    /// let sem = Arc::new(Semaphore::new(1));
    /// let held = sem.try_acquire().unwrap();
    /// let worker = thread::spawn({
    ///     let sem = sem.clone();
    ///     move || {
    ///         let permit = sem.acquire().priority(2).wait().unwrap();
    ///         permit.num_permits()
    ///     }
    /// });
    /// # while sem.waiter_count() == 0 { thread::yield_now(); }
    /// drop(held); // hands the permit to the blocked thread
    /// assert_eq!(worker.join().unwrap(), 1);
    /// ```
    pub fn wait(self) -> Result<Permit<'a, P, L>, AcquireError> {
        crate::blocking::block_on(self)
    }

    /// Blocks the current thread until the permits are acquired, the semaphore is closed,
    /// or `timeout` has passed, whichever comes first: [`wait`](Acquire::wait) with a
    /// bound on how long, on `std::thread::park_timeout`.
    ///
    /// # Errors
    ///
    /// As [`wait`](Acquire::wait), and [`AcquireError::is_timed_out`] when `timeout`
    /// passed first.
    ///
    /// # Cancellation
    ///
    /// On timeout the request is polled one last time (permits handed to it as the time
    /// ran out are taken, not lost) and then dropped before this returns: it leaves the
    /// line, and anything handed to it after that last poll goes on to the next waiters.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use prio_semaphore::Semaphore;
    ///
    /// let sem = Semaphore::new(1);
    /// let held = sem.try_acquire().unwrap();
    /// let err = sem.acquire().priority(1).wait_timeout(Duration::from_millis(5)).unwrap_err();
    /// assert!(err.is_timed_out());
    /// assert_eq!(sem.waiter_count(), 0);
    /// drop(held);
    /// assert!(sem.acquire().wait_timeout(Duration::from_millis(5)).is_ok());
    /// ```
    #[cfg(not(loom))]
    pub fn wait_timeout(
        self,
        timeout: std::time::Duration,
    ) -> Result<Permit<'a, P, L>, AcquireError> {
        wait_until(self, timeout)
    }
}

/// `future` waited for on this thread for at most `timeout`.
#[cfg(all(feature = "std", not(loom)))]
fn wait_until<F, T>(future: F, timeout: std::time::Duration) -> Result<T, AcquireError>
where
    F: Future<Output = Result<T, AcquireError>>,
{
    // A timeout too far away to be an `Instant` is no timeout.
    match std::time::Instant::now().checked_add(timeout) {
        Some(deadline) => crate::blocking::block_on_until(future, deadline)
            .unwrap_or(Err(AcquireError::timed_out())),
        None => crate::blocking::block_on(future),
    }
}

impl<'a, P: Ord, L: RawLock> Future for Acquire<'a, P, L> {
    type Output = Result<Permit<'a, P, L>, AcquireError>;

    #[inline(always)] // the uncontended path is a handful of instructions: keep it in the caller
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().request.poll(cx, Permit::new)
    }
}

impl<P, L: RawLock> core::fmt::Debug for Acquire<'_, P, L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.request.fmt_as("Acquire", f)
    }
}

#[cfg(feature = "alloc")]
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
        #[pin]
        request: Request<Arc<Semaphore<P, L>>, P>,
    }
}

#[cfg(feature = "alloc")]
impl<P, L: RawLock> AcquireOwned<P, L> {
    /// A request for `permits` permits at the ambient priority.
    #[inline(always)]
    pub(crate) fn new(sem: Arc<Semaphore<P, L>>, permits: u32) -> Self
    where
        P: Default + Clone + 'static,
    {
        Self {
            request: Request::new(sem, permits),
        }
    }

    /// A request for `permits` permits at `priority`.
    #[inline(always)]
    pub(crate) fn at(sem: Arc<Semaphore<P, L>>, permits: u32, priority: P) -> Self
    where
        P: 'static,
    {
        Self {
            request: Request::at(sem, permits, priority),
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
    #[inline(always)] // a builder: in place after inlining, not a move of the future in and out
    pub fn priority(mut self, priority: impl IntoPriority<P>) -> Self {
        self.request.set_priority(priority.into_priority());
        self
    }

    /// Bounds the line this request is willing to join, exactly like
    /// [`Acquire::queue_limit`](crate::Acquire::queue_limit).
    ///
    /// # Errors
    ///
    /// [`AcquireError::is_queue_full`] when it would have queued behind `limit` or more
    /// waiting requests.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::Semaphore;
    ///
    /// # futures::executor::block_on(async {
    /// let sem = Arc::new(Semaphore::new(0));
    /// let err = sem.acquire_owned().queue_limit(0).await.unwrap_err();
    /// assert!(err.is_queue_full());
    /// # });
    /// ```
    #[inline(always)]
    pub fn queue_limit(mut self, limit: usize) -> Self {
        self.request.set_queue_limit(QueueLimit::new(limit));
        self
    }

    /// Gives up waiting when `timer` completes, exactly like
    /// [`Acquire::timeout`](crate::Acquire::timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::Semaphore;
    ///
    /// # futures::executor::block_on(async {
    /// let sem = Arc::new(Semaphore::new(0));
    /// let err = sem.acquire_owned().timeout(std::future::ready(())).await.unwrap_err();
    /// assert!(err.is_timed_out());
    /// # });
    /// ```
    pub fn timeout<S: Future>(self, timer: S) -> Timeout<Self, S> {
        Timeout::new(self, Some(timer))
    }
}

#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
impl<P: Ord, L: RawLock> AcquireOwned<P, L> {
    /// Blocks the current thread until the permits are acquired, or the semaphore is closed.
    ///
    /// The owned counterpart of [`Acquire::wait`]; see there.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::Semaphore;
    ///
    /// let sem = Arc::new(Semaphore::new(2));
    /// let permit = sem.clone().acquire_many_owned(2).wait().unwrap();
    /// sem.close();
    /// assert!(sem.clone().acquire_owned().wait().unwrap_err().is_closed());
    /// drop(permit);
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    pub fn wait(self) -> Result<OwnedPermit<P, L>, AcquireError> {
        crate::blocking::block_on(self)
    }

    /// [`wait`](AcquireOwned::wait) for at most `timeout`: the owned counterpart of
    /// [`Acquire::wait_timeout`], with the same errors and cancellation.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use prio_semaphore::Semaphore;
    ///
    /// let sem = Arc::new(Semaphore::new(0));
    /// let err = sem.acquire_owned().wait_timeout(Duration::from_millis(1)).unwrap_err();
    /// assert!(err.is_timed_out());
    /// ```
    #[cfg(not(loom))]
    pub fn wait_timeout(
        self,
        timeout: std::time::Duration,
    ) -> Result<OwnedPermit<P, L>, AcquireError> {
        wait_until(self, timeout)
    }
}

#[cfg(feature = "alloc")]
impl<P: Ord, L: RawLock> Future for AcquireOwned<P, L> {
    type Output = Result<OwnedPermit<P, L>, AcquireError>;

    #[inline(always)] // the uncontended path is a handful of instructions: keep it in the caller
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().request.poll(cx, OwnedPermit::new)
    }
}

#[cfg(feature = "alloc")]
impl<P, L: RawLock> core::fmt::Debug for AcquireOwned<P, L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.request.fmt_as("AcquireOwned", f)
    }
}
