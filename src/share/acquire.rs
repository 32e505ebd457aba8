//! [`ShareAcquire`]: a request of one class of a [`ShareSemaphore`]: free permits at once
//! when that overtakes nobody, else a place in its class's line and the dispatcher's
//! attention.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::permit::SharePermit;
use super::semaphore::ShareSemaphore;
use crate::acquire::Acquire;
use crate::error::AcquireError;
use crate::into_priority::IntoPriority;
use crate::line_request::{LineProj, LineRequest};
use crate::lock::{RawLock, SpinLock};
use crate::max_permits::MAX_PERMITS;

/// Where a share request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Unpolled,
    /// In its class's line and counted in the dispatcher's demand.
    Registered,
    Done,
}

pin_project_lite::pin_project! {
    /// A request for permits of one class of a [`ShareSemaphore`].
    ///
    /// Returned by [`ShareSemaphore::acquire`] and [`ShareSemaphore::acquire_many`]. At
    /// its first poll it takes free permits at once if no request of any class waits and
    /// its class stays within its cap; otherwise it waits in its class's line, by
    /// [`priority`](ShareAcquire::priority) then arrival, and the semaphore hands the
    /// class permits by the share rules. It resolves to a [`SharePermit`].
    ///
    /// # Cancellation
    ///
    /// Dropping it at any point loses nothing: a queued request leaves its class's line,
    /// and whatever the line had handed or collected for it (and finds no other waiter
    /// for) goes back to the semaphore, which hands it to the classes the shares say.
    ///
    /// # Panics
    ///
    /// Polling it again after it completed panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::share::{Share, ShareSemaphore};
    ///
    /// # futures::executor::block_on(async {
    /// let sem = ShareSemaphore::new(1, &[Share::new(3), Share::new(1)]);
    /// let permit = sem.acquire(0).priority(-1).await.unwrap();
    /// # drop(permit);
    /// # });
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct ShareAcquire<'a, P = i64, L = SpinLock>
    where
        P: Ord,
        P: Default,
        P: Clone,
        P: 'static,
        L: RawLock,
    {
        sem: &'a ShareSemaphore<P, L>,
        class: usize,
        permits: u32,
        priority: Option<P>,
        stage: Stage,
        #[pin]
        line: LineRequest<Acquire<'a, P, L>>,
    }

    impl<P, L> PinnedDrop for ShareAcquire<'_, P, L>
    where
        P: Ord,
        P: Default,
        P: Clone,
        P: 'static,
        L: RawLock,
    {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if *this.stage == Stage::Registered {
                // The line request first: leaving the line returns what it was handed
                // there, where `left` finds it.
                this.line.set(LineRequest::Idle);
                left(this.sem, *this.class, *this.permits as usize);
            }
        }
    }
}

/// A registered request left its class's line without permits: the books forget its
/// demand, and permits its line holds for nobody go back to be dispatched.
fn left<P, L: RawLock>(sem: &ShareSemaphore<P, L>, class: usize, n: usize) {
    sem.books(|books| books.unregister(class, n));
    if sem.reclaim(class) {
        sem.dispatch();
    }
}

impl<'a, P, L> ShareAcquire<'a, P, L>
where
    P: Ord + Default + Clone + 'static,
    L: RawLock,
{
    pub(crate) fn new(sem: &'a ShareSemaphore<P, L>, class: usize, permits: u32) -> Self {
        Self {
            sem,
            class,
            permits,
            priority: None,
            stage: Stage::Unpolled,
            line: LineRequest::Idle,
        }
    }

    /// Sets the request's priority within its class: smaller first, equal in arrival
    /// order. Takes what [`IntoPriority`] accepts.
    ///
    /// # Examples
    ///
    /// ```
    /// # use prio_semaphore::share::{Share, ShareSemaphore};
    /// # futures::executor::block_on(async {
    /// let sem = ShareSemaphore::new(1, &[Share::new(1)]);
    /// let permit = sem.acquire(0).priority(2u8).await.unwrap();
    /// # drop(permit);
    /// # });
    /// ```
    pub fn priority(mut self, priority: impl IntoPriority<P>) -> Self {
        self.priority = Some(priority.into_priority());
        self
    }
}

impl<'a, P, L> Future for ShareAcquire<'a, P, L>
where
    P: Ord + Default + Clone + 'static,
    L: RawLock,
{
    type Output = Result<SharePermit<'a, P, L>, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let (sem, class, n) = (*this.sem, *this.class, *this.permits as usize);
        let mut fresh = false;
        match *this.stage {
            Stage::Done => panic!("`ShareAcquire` polled after it completed"),
            Stage::Registered => {}
            Stage::Unpolled => {
                *this.stage = Stage::Done;
                if n > MAX_PERMITS {
                    return Poll::Ready(Err(AcquireError::too_many_permits(*this.permits)));
                }
                let entered = sem.books(|books| {
                    if books.closed {
                        Err(AcquireError::closed())
                    } else if books.take_free(class, n) {
                        Ok(true)
                    } else {
                        books.register(class, n);
                        Ok(false)
                    }
                });
                match entered {
                    Err(err) => return Poll::Ready(Err(err)),
                    Ok(true) => return Poll::Ready(Ok(SharePermit::new(sem, class, n))),
                    Ok(false) => *this.stage = Stage::Registered,
                }
                let request = sem.line(class).acquire_many(*this.permits);
                let request = match this.priority.take() {
                    Some(priority) => request.priority(priority),
                    None => request,
                };
                this.line.set(LineRequest::Waiting { request });
                fresh = true;
            }
        }
        let LineProj::Waiting { request } = this.line.as_mut().project() else {
            unreachable!("a registered request is in its line");
        };
        let mut request = request;
        let mut poll = request.as_mut().poll(cx);
        if fresh && poll.is_pending() {
            // Just queued: the dispatcher may owe this class permits it held back while
            // the class had no waiters; if it hands them over, they are taken now.
            sem.dispatch();
            poll = request.poll(cx);
        }
        match poll {
            Poll::Pending => Poll::Pending,
            Poll::Ready(result) => {
                *this.stage = Stage::Done;
                this.line.set(LineRequest::Idle);
                let result = result.map(|permit| {
                    // The permits leave the line's count and are held through the share
                    // permit, which gives them back to the dispatcher.
                    permit.forget();
                    SharePermit::new(sem, class, n)
                });
                match &result {
                    Ok(_) => sem.books(|books| books.unregister(class, n)),
                    Err(_) => left(sem, class, n),
                }
                Poll::Ready(result)
            }
        }
    }
}

impl<P, L> core::fmt::Debug for ShareAcquire<'_, P, L>
where
    P: Ord + Default + Clone + 'static,
    L: RawLock,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ShareAcquire")
            .field("class", &self.class)
            .field("permits", &self.permits)
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}
