//! [`Timeout`]: a request that gives up when a timer of the caller's runtime completes.
//!
//! The crate has no timer of its own (it runs on any executor, and in `no_std`), so the
//! caller brings one: any future works as the timer, such as `tokio::time::sleep(d)`,
//! `smol::Timer::after(d)`, `async_io::Timer::after(d)` or `embassy_time::Timer::after(d)`.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::error::AcquireError;

pin_project_lite::pin_project! {
    /// A request for permits that gives up, with [`AcquireError::is_timed_out`], once its
    /// timer completes. Returned by [`Acquire::timeout`](crate::Acquire::timeout),
    /// [`AcquireOwned::timeout`](crate::AcquireOwned::timeout) and the fair futures'
    /// [`FairAcquire::timeout`](crate::fair::FairAcquire::timeout) and `FairAcquireOwned::timeout`.
    ///
    /// The timer is any future; its output is ignored. It is polled only while the
    /// request is pending: the request is polled first, so a request that was granted its
    /// permits by the time both are ready gets them, and the timer's firing is ignored.
    ///
    /// # Errors
    ///
    /// Its output is the request's (closed, too many permits, queue full), or a
    /// timed-out [`AcquireError`] when the timer wins.
    ///
    /// # Cancellation
    ///
    /// When the timer wins, the request is dropped at once, with the request's own
    /// guarantee: it leaves the line, and permits handed to it meanwhile go on to the next
    /// waiters. Dropping the `Timeout` itself at any point is just as safe.
    ///
    /// # Panics
    ///
    /// Polling it again after it completed panics.
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
    /// let held = sem.try_acquire().unwrap();
    /// let sleep = tokio::time::sleep(Duration::from_millis(10));
    /// let err = sem.acquire().priority(1).timeout(sleep).await.unwrap_err();
    /// assert!(err.is_timed_out());
    /// assert_eq!(sem.waiter_count(), 0); // it left the line
    /// # drop(held);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    #[derive(Debug)]
    pub struct Timeout<F, S> {
        #[pin]
        request: Option<F>,
        #[pin]
        timer: Option<S>,
    }
}

impl<F, S> Timeout<F, S> {
    /// `request`, giving up when `timer` completes; with no timer, just `request`.
    pub(crate) fn new(request: F, timer: Option<S>) -> Self {
        Self {
            request: Some(request),
            timer,
        }
    }
}

impl<F, S, T> Future for Timeout<F, S>
where
    F: Future<Output = Result<T, AcquireError>>,
    S: Future,
{
    type Output = Result<T, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let request = this.request.as_mut().as_pin_mut();
        let request = request.expect("`Timeout` polled after it completed");
        let output = match request.poll(cx) {
            Poll::Ready(output) => output,
            Poll::Pending => match this.timer.as_mut().as_pin_mut().map(|t| t.poll(cx)) {
                Some(Poll::Ready(_)) => Err(AcquireError::timed_out()),
                Some(Poll::Pending) | None => return Poll::Pending,
            },
        };
        // Done either way: the request (and whatever was handed to it since this poll)
        // and the timer go now, not when this future is dropped.
        this.request.set(None);
        this.timer.set(None);
        Poll::Ready(output)
    }
}
