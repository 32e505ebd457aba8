//! [`PollFairSemaphore`]: acquire from a [`FairSemaphore`] by polling, with a flow.

use alloc::sync::Arc;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::acquire::FairAcquireOwned;
use super::key::FairKey;
use super::request::FairHandle;
use super::semaphore::FairSemaphore;
use super::store::FlowStore;
use crate::into_priority::IntoPriority;
use crate::lock::{RawLock, SpinLock};
use crate::permit::OwnedPermit;
use crate::poll_slot::PollSlot;

/// What a poll asks for: permits, priority, flow and weight. A poll asking for the same
/// polls the queued request again; anything else replaces it.
type Params<K, P> = (u32, Option<P>, Option<K>, u32);

/// [`PollSemaphore`](crate::PollSemaphore) for a [`FairSemaphore`]: a handle that acquires
/// by polling (`poll_acquire` instead of `.await`), whose requests carry the handle's
/// priority, flow and weight. For hand-written futures and streams, and
/// `tower::Service::poll_ready`.
///
/// As with `PollSemaphore`, a request that has to wait stays queued between polls in one
/// heap slot, allocated the first time a request waits and reused after: at most one
/// allocation per handle, none per acquire. A poll that asks for something else (another
/// number of permits, priority, flow or weight) replaces the queued request. Flows are
/// compared with their `Eq` at each poll.
///
/// # Cancellation
///
/// Dropping the handle loses nothing: a queued request leaves the line, permits handed to
/// it go on (see [`FairAcquire`](crate::fair::FairAcquire#cancellation)).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::task::{Context, Poll, Waker};
/// use prio_semaphore::fair::{FairSemaphore, PollFairSemaphore};
///
/// let sem: Arc<FairSemaphore<&str>> = Arc::new(FairSemaphore::new(1));
/// let mut tenant = PollFairSemaphore::new(sem.clone()).priority(2).flow("tenant-a");
/// let mut cx = Context::from_waker(Waker::noop());
/// let Poll::Ready(Some(permit)) = tenant.poll_acquire(&mut cx) else { panic!() };
/// assert!(tenant.poll_acquire(&mut cx).is_pending()); // queued in flow "tenant-a"
/// drop(permit);
/// assert!(matches!(tenant.poll_acquire(&mut cx), Poll::Ready(Some(_))));
/// ```
pub struct PollFairSemaphore<K, P = i64, S = super::store::HashFlows, L = SpinLock>
where
    P: Ord + Default + Clone + 'static,
    S: FlowStore<P, K>,
    L: RawLock,
{
    semaphore: Arc<FairSemaphore<K, P, S, L>>,
    priority: Option<P>,
    flow: Option<K>,
    weight: u32,
    slot: PollSlot<FairAcquireOwned<K, P, S, L>, Params<K, P>>,
}

impl<K, P, S, L> PollFairSemaphore<K, P, S, L>
where
    K: PartialEq + Clone,
    P: Ord + Default + Clone + 'static,
    S: FlowStore<P, K>,
    L: RawLock,
{
    /// A handle to `semaphore`, in the unkeyed flow, at weight 1 and the ambient priority
    /// (else `P::default()`) until set otherwise. Allocates nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::fair::{FairSemaphore, PollFairSemaphore};
    ///
    /// let handle = PollFairSemaphore::new(Arc::new(FairSemaphore::<u32>::new(3)));
    /// assert_eq!(handle.semaphore().available_permits(), 3);
    /// ```
    pub fn new(semaphore: Arc<FairSemaphore<K, P, S, L>>) -> Self {
        Self {
            semaphore,
            priority: None,
            flow: None,
            weight: 1,
            slot: PollSlot::new(),
        }
    }

    /// Sets the priority of the handle's requests (builder style).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use prio_semaphore::fair::{FairSemaphore, PollFairSemaphore};
    /// let handle = PollFairSemaphore::new(Arc::new(FairSemaphore::<u32>::new(1))).priority(3);
    /// # drop(handle);
    /// ```
    pub fn priority(mut self, priority: impl IntoPriority<P>) -> Self {
        self.set_priority(priority);
        self
    }

    /// Sets the priority of the handle's requests from now on; a queued request at
    /// another priority is replaced at the next poll.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use prio_semaphore::fair::{FairSemaphore, PollFairSemaphore};
    /// let mut handle = PollFairSemaphore::new(Arc::new(FairSemaphore::<u32>::new(1)));
    /// handle.set_priority(-2);
    /// ```
    pub fn set_priority(&mut self, priority: impl IntoPriority<P>) {
        self.priority = Some(priority.into_priority());
    }

    /// Sets the flow of the handle's requests (builder style).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use prio_semaphore::fair::{FairSemaphore, PollFairSemaphore};
    /// let handle = PollFairSemaphore::new(Arc::new(FairSemaphore::<&str>::new(1))).flow("a");
    /// # drop(handle);
    /// ```
    pub fn flow(mut self, flow: K) -> Self {
        self.set_flow(flow);
        self
    }

    /// Sets the flow of the handle's requests from now on; a queued request of another
    /// flow is replaced at the next poll.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use prio_semaphore::fair::{FairSemaphore, PollFairSemaphore};
    /// let mut handle = PollFairSemaphore::new(Arc::new(FairSemaphore::<&str>::new(1)));
    /// handle.set_flow("b");
    /// ```
    pub fn set_flow(&mut self, flow: K) {
        self.flow = Some(flow);
    }

    /// Sets the weight of the handle's requests (builder style).
    ///
    /// # Panics
    ///
    /// If `weight` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use prio_semaphore::fair::{FairSemaphore, PollFairSemaphore};
    /// let handle = PollFairSemaphore::new(Arc::new(FairSemaphore::<&str>::new(1))).weight(3);
    /// # drop(handle);
    /// ```
    pub fn weight(mut self, weight: u32) -> Self {
        assert!(weight > 0, "a flow's weight must be at least 1");
        self.weight = weight;
        self
    }

    /// Polls for one permit with the handle's priority, flow and weight: `Ready(Some)`
    /// once granted, `Ready(None)` if the semaphore is closed, `Pending` while queued (the
    /// last poll's waker is the one woken). The next call after `Ready` starts a new
    /// request.
    ///
    /// # Panics
    ///
    /// If the priority's or the flow key's code panics.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::task::{Context, Poll, Waker};
    /// # use prio_semaphore::fair::{FairSemaphore, PollFairSemaphore};
    /// let sem = Arc::new(FairSemaphore::<u8>::new(1));
    /// let mut handle = PollFairSemaphore::new(sem.clone()).flow(1);
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(matches!(handle.poll_acquire(&mut cx), Poll::Ready(Some(_))));
    /// sem.close();
    /// assert!(matches!(handle.poll_acquire(&mut cx), Poll::Ready(None)));
    /// ```
    pub fn poll_acquire(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<OwnedPermit<FairKey<P>, L>>> {
        self.poll_acquire_many(cx, 1)
    }

    /// Polls for `permits` permits at once; as [`poll_acquire`](Self::poll_acquire).
    /// `Ready(None)` also answers a request for more than
    /// [`MAX_PERMITS`](crate::MAX_PERMITS).
    ///
    /// # Panics
    ///
    /// If the priority's or the flow key's code panics.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::task::{Context, Poll, Waker};
    /// # use prio_semaphore::fair::{FairSemaphore, PollFairSemaphore};
    /// let mut handle = PollFairSemaphore::new(Arc::new(FairSemaphore::<u8>::new(4))).flow(1);
    /// let mut cx = Context::from_waker(Waker::noop());
    /// let Poll::Ready(Some(permit)) = handle.poll_acquire_many(&mut cx, 3) else { panic!() };
    /// assert_eq!(permit.num_permits(), 3);
    /// ```
    pub fn poll_acquire_many(
        &mut self,
        cx: &mut Context<'_>,
        permits: u32,
    ) -> Poll<Option<OwnedPermit<FairKey<P>, L>>> {
        let params = (
            permits,
            self.priority.clone(),
            self.flow.clone(),
            self.weight,
        );
        let semaphore = &self.semaphore;
        // A request that does not wait needs no place in the fair order.
        let fast = |&(permits, ..): &Params<K, P>| semaphore.try_line(permits);
        let make = |(permits, priority, flow, weight): &Params<K, P>| {
            let mut request = Arc::clone(semaphore)
                .acquire_many_owned(*permits)
                .weight(*weight);
            if let Some(priority) = priority {
                request = request.priority(priority.clone());
            }
            if let Some(flow) = flow {
                request = request.flow(flow.clone());
            }
            request
        };
        let result = core::task::ready!(self.slot.poll(cx, params, fast, make));
        Poll::Ready(result.ok())
    }

    /// The semaphore.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use prio_semaphore::fair::{FairSemaphore, PollFairSemaphore};
    /// let sem = Arc::new(FairSemaphore::<u8>::new(1));
    /// assert!(Arc::ptr_eq(PollFairSemaphore::new(sem.clone()).semaphore(), &sem));
    /// ```
    pub fn semaphore(&self) -> &Arc<FairSemaphore<K, P, S, L>> {
        &self.semaphore
    }
}

// The request is boxed and neither `P` nor `K` is ever pinned, so moving the handle moves
// nothing that is pinned.
impl<K, P, S, L> Unpin for PollFairSemaphore<K, P, S, L>
where
    P: Ord + Default + Clone + 'static,
    S: FlowStore<P, K>,
    L: RawLock,
{
}

/// Yields one permit at a time with the handle's priority, flow and weight, and ends once
/// the semaphore is closed.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use futures::StreamExt;
/// use prio_semaphore::fair::{FairSemaphore, PollFairSemaphore};
///
/// # futures::executor::block_on(async {
/// let sem = Arc::new(FairSemaphore::<&str>::new(2));
/// let mut permits = PollFairSemaphore::new(sem.clone()).flow("a");
/// let a = permits.next().await.unwrap();
/// sem.close();
/// assert!(permits.next().await.is_none());
/// # drop(a);
/// # });
/// ```
impl<K, P, S, L> futures_core::Stream for PollFairSemaphore<K, P, S, L>
where
    K: PartialEq + Clone,
    P: Ord + Default + Clone + 'static,
    S: FlowStore<P, K>,
    L: RawLock,
{
    type Item = OwnedPermit<FairKey<P>, L>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_acquire(cx)
    }
}

impl<K, P, S, L> core::fmt::Debug for PollFairSemaphore<K, P, S, L>
where
    P: Ord + Default + Clone + 'static,
    S: FlowStore<P, K>,
    L: RawLock,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PollFairSemaphore")
            .field("weight", &self.weight)
            .field("waiting", &self.slot.is_live())
            .finish_non_exhaustive()
    }
}
