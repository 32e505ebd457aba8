//! [`FairAcquire`] and [`FairAcquireOwned`]: the futures of a [`FairSemaphore`], thin
//! faces of one [`FairRequest`].

#[cfg(feature = "alloc")]
use alloc::sync::Arc;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::key::FairKey;
use super::request::FairRequest;
use super::semaphore::FairSemaphore;
use super::store::FlowStore;
use crate::error::AcquireError;
use crate::into_priority::IntoPriority;
use crate::lock::{RawLock, SpinLock};
#[cfg(feature = "alloc")]
use crate::permit::OwnedPermit;
use crate::permit::Permit;
use crate::timeout::Timeout;

pin_project_lite::pin_project! {
    /// A request for permits of a [`FairSemaphore`]: it waits by priority, then in fair
    /// order among the flows of its priority, then (within its flow) in arrival order.
    ///
    /// Returned by [`FairSemaphore::acquire`] and [`FairSemaphore::acquire_many`]; set
    /// its [`priority`](FairAcquire::priority), [`flow`](FairAcquire::flow) and
    /// [`weight`](FairAcquire::weight) before the first poll, which is when it takes its
    /// place in the fair order. It resolves to a [`Permit`] of the line, which gives the
    /// permits back when dropped.
    ///
    /// # Cancellation
    ///
    /// Dropping it at any point loses nothing, as for [`Acquire`](crate::Acquire): a
    /// queued request leaves the line and permits handed to it go on, with the wake-up.
    /// The fair order of the others is left as it was: if it was the latest request of its
    /// flow, the flow's place goes back to where it was before it; if later requests of
    /// its flow wait, they keep their places (module docs, "Cancellation").
    ///
    /// # Panics
    ///
    /// Polling it again after it completed panics, as does polling it after its flow key's
    /// or priority's code panicked. A builder method called after the first poll cannot
    /// happen: they take the future by value.
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::fair::FairSemaphore;
    ///
    /// # futures::executor::block_on(async {
    /// let sem: FairSemaphore<&str> = FairSemaphore::new(1);
    /// let permit = sem.acquire().priority(3).flow("tenant-a").weight(2).await.unwrap();
    /// # drop(permit);
    /// # });
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct FairAcquire<'a, K, P, S, L = SpinLock>
    where
        P: Ord,
        P: Default,
        P: Clone,
        P: 'static,
        S: FlowStore<P, K>,
        L: RawLock,
    {
        #[pin]
        request: FairRequest<&'a FairSemaphore<K, P, S, L>>,
    }
}

impl<'a, K, P, S, L> FairAcquire<'a, K, P, S, L>
where
    P: Ord + Default + Clone + 'static,
    S: FlowStore<P, K>,
    L: RawLock,
{
    pub(crate) fn new(sem: &'a FairSemaphore<K, P, S, L>, permits: u32) -> Self {
        Self {
            request: FairRequest::new(sem, permits),
        }
    }

    /// Sets the priority: smaller values are served first; flows share a priority fairly.
    /// Takes what [`IntoPriority`] accepts, like [`Acquire::priority`](crate::Acquire::priority).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let sem: prio_semaphore::fair::FairSemaphore = prio_semaphore::fair::FairSemaphore::new(1);
    /// let permit = sem.acquire().priority(2u8).await.unwrap();
    /// # drop(permit);
    /// # });
    /// ```
    pub fn priority(mut self, priority: impl IntoPriority<P>) -> Self {
        self.request.set_priority(priority.into_priority());
        self
    }

    /// Sets the request's flow: requests of one flow are served in arrival order, and
    /// flows of one priority share it by weight. Without it, the request is in its
    /// priority's unkeyed flow.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let sem: prio_semaphore::fair::FairSemaphore<String> =
    ///     prio_semaphore::fair::FairSemaphore::new(1);
    /// let permit = sem.acquire().flow("tenant-7".to_owned()).await.unwrap();
    /// # drop(permit);
    /// # });
    /// ```
    pub fn flow(mut self, flow: K) -> Self {
        self.request.set_flow(flow);
        self
    }

    /// Sets the request's weight (1 if not set): its cost in the fair order is its
    /// permits divided by its weight, so a flow whose requests weigh 2 is served twice as
    /// many permits as one whose requests weigh 1, while both wait.
    ///
    /// # Panics
    ///
    /// If `weight` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let sem: prio_semaphore::fair::FairSemaphore<u8> = prio_semaphore::fair::FairSemaphore::new(1);
    /// let permit = sem.acquire().flow(1).weight(4).await.unwrap();
    /// # drop(permit);
    /// # });
    /// ```
    pub fn weight(mut self, weight: u32) -> Self {
        self.request.set_weight(weight);
        self
    }

    /// Bounds the line this request is willing to join, as
    /// [`Acquire::queue_limit`](crate::Acquire::queue_limit) does (the rule is there: the
    /// limit counts every request waiting in the line, of every priority and flow).
    ///
    /// A refused request takes no place in the fair order: its flow's next request starts
    /// where this one would have.
    ///
    /// # Errors
    ///
    /// [`AcquireError::is_queue_full`] when it would have queued behind `limit` or more
    /// waiting requests.
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::fair::FairSemaphore;
    ///
    /// # futures::executor::block_on(async {
    /// let sem: FairSemaphore<&str> = FairSemaphore::new(0);
    /// let err = sem.acquire().flow("a").queue_limit(0).await.unwrap_err();
    /// assert!(err.is_queue_full());
    /// assert_eq!(sem.entries(), (0, 0)); // nothing left counted
    /// # });
    /// ```
    pub fn queue_limit(mut self, limit: usize) -> Self {
        self.request.set_queue_limit(limit);
        self
    }

    /// Gives up waiting when `timer` completes, as
    /// [`Acquire::timeout`](crate::Acquire::timeout) does ([`Timeout`] has the rules); a
    /// request that gives up leaves the fair order as a dropped one does.
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::fair::FairSemaphore;
    ///
    /// # futures::executor::block_on(async {
    /// let sem: FairSemaphore<&str> = FairSemaphore::new(0);
    /// let err = sem.acquire().flow("a").timeout(std::future::ready(())).await.unwrap_err();
    /// assert!(err.is_timed_out());
    /// # });
    /// ```
    pub fn timeout<T: Future>(self, timer: T) -> Timeout<Self, T> {
        Timeout::new(self, Some(timer))
    }
}

impl<'a, K, P, S, L> Future for FairAcquire<'a, K, P, S, L>
where
    P: Ord + Default + Clone + 'static,
    S: FlowStore<P, K>,
    L: RawLock,
{
    type Output = Result<Permit<'a, FairKey<P>, L>, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().request.poll(cx)
    }
}

impl<K, P, S, L> core::fmt::Debug for FairAcquire<'_, K, P, S, L>
where
    P: Ord + Default + Clone + 'static,
    S: FlowStore<P, K>,
    L: RawLock,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.request.fmt_as("FairAcquire", f)
    }
}

#[cfg(feature = "alloc")]
pin_project_lite::pin_project! {
    /// A request for permits through an `Arc<FairSemaphore>`: it behaves exactly like
    /// [`FairAcquire`] and resolves to an [`OwnedPermit`], which keeps the line alive.
    ///
    /// # Cancellation
    ///
    /// As for [`FairAcquire`](FairAcquire#cancellation).
    ///
    /// # Panics
    ///
    /// As for [`FairAcquire`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::fair::FairSemaphore;
    ///
    /// # futures::executor::block_on(async {
    /// let sem: Arc<FairSemaphore<u32>> = Arc::new(FairSemaphore::new(1));
    /// let permit = sem.acquire_owned().priority(1).flow(9).await.unwrap();
    /// # drop(permit);
    /// # });
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct FairAcquireOwned<K, P, S, L = SpinLock>
    where
        P: Ord,
        P: Default,
        P: Clone,
        P: 'static,
        S: FlowStore<P, K>,
        L: RawLock,
    {
        #[pin]
        request: FairRequest<Arc<FairSemaphore<K, P, S, L>>>,
    }
}

#[cfg(feature = "alloc")]
impl<K, P, S, L> FairAcquireOwned<K, P, S, L>
where
    P: Ord + Default + Clone + 'static,
    S: FlowStore<P, K>,
    L: RawLock,
{
    pub(crate) fn new(sem: Arc<FairSemaphore<K, P, S, L>>, permits: u32) -> Self {
        Self {
            request: FairRequest::new(sem, permits),
        }
    }

    /// Sets the priority; as [`FairAcquire::priority`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # futures::executor::block_on(async {
    /// let sem: Arc<prio_semaphore::fair::FairSemaphore> = Arc::new(prio_semaphore::fair::FairSemaphore::new(1));
    /// let permit = sem.acquire_owned().priority(-1).await.unwrap();
    /// # drop(permit);
    /// # });
    /// ```
    pub fn priority(mut self, priority: impl IntoPriority<P>) -> Self {
        self.request.set_priority(priority.into_priority());
        self
    }

    /// Sets the flow; as [`FairAcquire::flow`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # futures::executor::block_on(async {
    /// let sem: Arc<prio_semaphore::fair::FairSemaphore<&str>> = Arc::new(prio_semaphore::fair::FairSemaphore::new(1));
    /// let permit = sem.acquire_owned().flow("a").await.unwrap();
    /// # drop(permit);
    /// # });
    /// ```
    pub fn flow(mut self, flow: K) -> Self {
        self.request.set_flow(flow);
        self
    }

    /// Sets the weight; as [`FairAcquire::weight`].
    ///
    /// # Panics
    ///
    /// If `weight` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # futures::executor::block_on(async {
    /// let sem: Arc<prio_semaphore::fair::FairSemaphore<&str>> = Arc::new(prio_semaphore::fair::FairSemaphore::new(1));
    /// let permit = sem.acquire_owned().flow("a").weight(3).await.unwrap();
    /// # drop(permit);
    /// # });
    /// ```
    pub fn weight(mut self, weight: u32) -> Self {
        self.request.set_weight(weight);
        self
    }

    /// Bounds the line this request is willing to join; as
    /// [`FairAcquire::queue_limit`].
    ///
    /// # Errors
    ///
    /// [`AcquireError::is_queue_full`] when it would have queued behind `limit` or more
    /// waiting requests.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # futures::executor::block_on(async {
    /// let sem: Arc<prio_semaphore::fair::FairSemaphore<&str>> = Arc::new(prio_semaphore::fair::FairSemaphore::new(0));
    /// let err = sem.acquire_owned().flow("a").queue_limit(0).await.unwrap_err();
    /// assert!(err.is_queue_full());
    /// # });
    /// ```
    pub fn queue_limit(mut self, limit: usize) -> Self {
        self.request.set_queue_limit(limit);
        self
    }

    /// Gives up waiting when `timer` completes; as [`FairAcquire::timeout`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # futures::executor::block_on(async {
    /// let sem: Arc<prio_semaphore::fair::FairSemaphore<&str>> = Arc::new(prio_semaphore::fair::FairSemaphore::new(0));
    /// let err = sem.acquire_owned().timeout(std::future::ready(())).await.unwrap_err();
    /// assert!(err.is_timed_out());
    /// # });
    /// ```
    pub fn timeout<T: Future>(self, timer: T) -> Timeout<Self, T> {
        Timeout::new(self, Some(timer))
    }
}

#[cfg(feature = "alloc")]
impl<K, P, S, L> Future for FairAcquireOwned<K, P, S, L>
where
    P: Ord + Default + Clone + 'static,
    S: FlowStore<P, K>,
    L: RawLock,
{
    type Output = Result<OwnedPermit<FairKey<P>, L>, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().request.poll(cx)
    }
}

#[cfg(feature = "alloc")]
impl<K, P, S, L> core::fmt::Debug for FairAcquireOwned<K, P, S, L>
where
    P: Ord + Default + Clone + 'static,
    S: FlowStore<P, K>,
    L: RawLock,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.request.fmt_as("FairAcquireOwned", f)
    }
}
