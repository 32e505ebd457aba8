//! [`FairSemaphoreGate`]: each future of an [`Unordered`] holds a permit of a
//! [`FairSemaphore`], requested in one flow, so a pipeline is one tenant among others.

use core::fmt;
use core::future::Future;

use futures_core::stream::Stream;

use super::gate::{sealed, Gate, NoGate};
use super::unordered::Unordered;
use crate::error::AcquireError;
use crate::fair::{FairAcquire, FairKey, FairSemaphore, FlowStore};
use crate::into_priority::IntoPriority;
use crate::lock::RawLock;
use crate::permit::Permit;

/// The [`Gate`] set by [`Unordered::with_fair_semaphore`]: each future holds one permit of
/// a borrowed [`FairSemaphore`], requested at a fixed priority, in a fixed flow and weight.
///
/// # Examples
///
/// ```
/// use prio_semaphore::fair::{FairSemaphore, HashFlows};
/// use prio_semaphore::limited::{self, FairSemaphoreGate, Unordered};
///
/// let gateway: FairSemaphore<&str> = FairSemaphore::new(8);
/// let batch: Unordered<_, FairSemaphoreGate<'_, &str, i64, HashFlows>> =
///     limited::unordered((0..100).map(|i| async move { i }), 4)
///         .with_fair_semaphore(&gateway, 10, "nightly-report", 1);
/// # drop(batch);
/// ```
pub struct FairSemaphoreGate<'a, K, P, S, L = crate::SpinLock>
where
    S: FlowStore<P, K>,
    L: RawLock,
{
    semaphore: &'a FairSemaphore<K, P, S, L>,
    priority: P,
    flow: K,
    weight: u32,
}

impl<K, P, S: FlowStore<P, K>, L: RawLock> sealed::Sealed for FairSemaphoreGate<'_, K, P, S, L> {}

impl<'a, K, P, S, L> Gate for FairSemaphoreGate<'a, K, P, S, L>
where
    K: Clone,
    P: Ord + Default + Clone + 'static,
    S: FlowStore<P, K>,
    L: RawLock,
{
    type Permit = Permit<'a, FairKey<P>, L>;
    type Error = AcquireError;
    type Acquire = FairAcquire<'a, K, P, S, L>;

    fn acquire(&self) -> Self::Acquire {
        self.semaphore
            .acquire()
            .priority(self.priority.clone())
            .flow(self.flow.clone())
            .weight(self.weight)
    }

    const FALLIBLE: bool = true;

    type Item<O> = Result<O, AcquireError>;

    fn into_item<O>(event: Result<O, AcquireError>) -> Self::Item<O> {
        event
    }
}

impl<K: fmt::Debug, P: fmt::Debug, S: FlowStore<P, K>, L: RawLock> fmt::Debug
    for FairSemaphoreGate<'_, K, P, S, L>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FairSemaphoreGate")
            .field("priority", &self.priority)
            .field("flow", &self.flow)
            .field("weight", &self.weight)
            .finish_non_exhaustive()
    }
}

impl<St, F> Unordered<St, NoGate>
where
    St: Stream<Item = F>,
    F: Future,
{
    /// Makes each future also hold one permit of a [`FairSemaphore`], requested at
    /// `priority` in flow `flow` at `weight`: as
    /// [`with_semaphore`](Unordered::with_semaphore), with the pipeline one flow among
    /// the others of its priority, so it takes its weighted share and no more while
    /// others wait.
    ///
    /// # Panics
    ///
    /// If the stream has been polled and has not finished, as for
    /// [`with_semaphore`](Unordered::with_semaphore); if `weight` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use prio_semaphore::fair::FairSemaphore;
    /// use prio_semaphore::limited;
    ///
    /// # futures::executor::block_on(async {
    /// let gateway: FairSemaphore<&str> = FairSemaphore::new(8);
    /// let outputs: Vec<_> = limited::unordered((0..10).map(|i| async move { i }), 4)
    ///     .with_fair_semaphore(&gateway, 5, "tenant-a", 1)
    ///     .collect()
    ///     .await;
    /// assert_eq!(outputs.len(), 10);
    /// # });
    /// ```
    pub fn with_fair_semaphore<'a, K, P, S, L>(
        self,
        semaphore: &'a FairSemaphore<K, P, S, L>,
        priority: impl IntoPriority<P>,
        flow: K,
        weight: u32,
    ) -> Unordered<St, FairSemaphoreGate<'a, K, P, S, L>>
    where
        K: Clone,
        P: Ord + Default + Clone + 'static,
        S: FlowStore<P, K>,
        L: RawLock,
    {
        assert!(weight > 0, "a flow's weight must be at least 1");
        self.with_gate(FairSemaphoreGate {
            semaphore,
            priority: priority.into_priority(),
            flow,
            weight,
        })
    }
}
