//! Which semaphore a [`PriorityLimitLayer`](super::PriorityLimitLayer) waits on
//! ([`SemaphoreKind`]: [`Plain`] for a [`Semaphore`], [`Fair`] for a [`FairSemaphore`]),
//! and [`FlowFn`], the flow a request waits in.

use alloc::sync::Arc;
use core::convert::Infallible;
use core::fmt;
use core::marker::PhantomData;

use crate::fair::{FairAcquireOwned, FairKey, FairSemaphore, FlowStore, HashFlows};
use crate::lock::RawLock;
use crate::semaphore::Semaphore;
use crate::{AcquireOwned, OwnedPermit};

/// The semaphore a [`PriorityLimitLayer`](super::PriorityLimitLayer) waits on, with
/// priorities `P` and lock `L`: [`Plain`] (a [`Semaphore`], the default) or [`Fair`] (a
/// [`FairSemaphore`], whose requests also name a flow). Sealed: these two are all.
///
/// The layer holds an `Arc` of [`Self::Semaphore`](SemaphoreKind::Semaphore) and makes
/// each request's [`Acquire`](SemaphoreKind::Acquire) future from it. You meet the kind
/// only in the layer's type, and its constructors pick it:
/// [`new`](super::PriorityLimitLayer::new) and [`http`](super::PriorityLimitLayer::http)
/// make a [`Plain`] layer, [`fair`](super::PriorityLimitLayer::fair) and
/// [`fair_http`](super::PriorityLimitLayer::fair_http) a [`Fair`] one.
pub trait SemaphoreKind<P, L: RawLock>: sealed::Sealed {
    /// The semaphore the layer shares between its services.
    type Semaphore: fmt::Debug;
    /// A request's flow key: the fair semaphore's `K`; none ([`Infallible`]) for a plain
    /// semaphore.
    type Flow;
    /// The future that waits for a request's permit.
    type Acquire;
    /// The permit it resolves to, held until the inner service's response is ready.
    type Permit: fmt::Debug;

    /// The future for one request: `ask`'s priority, flow and queue limit.
    #[doc(hidden)]
    fn acquire(semaphore: &Arc<Self::Semaphore>, ask: sealed::Ask<P, Self::Flow>) -> Self::Acquire
    where
        P: Ord + 'static;
}

/// A layer over a plain [`Semaphore`]: requests wait by priority, then in arrival order
/// ([`SemaphoreKind`]). The default; never built, only named.
#[derive(Debug)]
pub enum Plain {}

impl<P, L: RawLock> SemaphoreKind<P, L> for Plain {
    type Semaphore = Semaphore<P, L>;
    type Flow = Infallible;
    type Acquire = AcquireOwned<P, L>;
    type Permit = OwnedPermit<P, L>;

    fn acquire(semaphore: &Arc<Semaphore<P, L>>, ask: sealed::Ask<P, Infallible>) -> Self::Acquire
    where
        P: Ord + 'static,
    {
        if let Some((never, _)) = ask.flow {
            match never {}
        }
        Arc::clone(semaphore)
            .acquire_owned_at(ask.priority)
            .queue_limit(ask.queue_limit)
    }
}

/// A layer over a [`FairSemaphore`] with flow keys `K` and store `S`: requests wait by
/// priority, then in weighted fair order among the flows of their priority, then in
/// arrival order within their flow ([`SemaphoreKind`]). Never built, only named.
pub struct Fair<K, S = HashFlows> {
    _types: PhantomData<fn() -> (K, S)>,
}

impl<K, S> fmt::Debug for Fair<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fair")
    }
}

impl<K, P, S, L> SemaphoreKind<P, L> for Fair<K, S>
where
    P: Ord + Default + Clone + 'static,
    S: FlowStore<P, K>,
    L: RawLock,
{
    type Semaphore = FairSemaphore<K, P, S, L>;
    type Flow = K;
    type Acquire = FairAcquireOwned<K, P, S, L>;
    type Permit = OwnedPermit<FairKey<P>, L>;

    fn acquire(semaphore: &Arc<Self::Semaphore>, ask: sealed::Ask<P, K>) -> Self::Acquire
    where
        P: Ord + 'static,
    {
        let acquire = Arc::clone(semaphore)
            .acquire_owned()
            .priority(ask.priority)
            .queue_limit(ask.queue_limit);
        match ask.flow {
            Some((flow, weight)) => acquire.flow(flow).weight(weight),
            None => acquire,
        }
    }
}

/// The flow of a request to a fair layer ([`PriorityLimitLayer::fair`]): implemented by
/// [`NoFlows`] and by every `Fn(&Req) -> Option<(K, u32)>`.
///
/// [`PriorityLimitLayer::fair`]: super::PriorityLimitLayer::fair
pub trait FlowFn<Req, K> {
    /// The request's flow key and weight, or `None` for its priority's unkeyed flow
    /// ([`FairAcquire::flow`](crate::fair::FairAcquire::flow),
    /// [`weight`](crate::fair::FairAcquire::weight)).
    fn flow(&self, request: &Req) -> Option<(K, u32)>;
}

/// No flows (the plain layer's): every request is in its priority's unkeyed flow.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFlows;

impl<Req, K> FlowFn<Req, K> for NoFlows {
    fn flow(&self, _: &Req) -> Option<(K, u32)> {
        None
    }
}

impl<Req, K, G: Fn(&Req) -> Option<(K, u32)>> FlowFn<Req, K> for G {
    fn flow(&self, request: &Req) -> Option<(K, u32)> {
        self(request)
    }
}

mod sealed {
    /// Implemented by [`Plain`](super::Plain) and [`Fair`](super::Fair) only.
    pub trait Sealed {}
    impl Sealed for super::Plain {}
    impl<K, S> Sealed for super::Fair<K, S> {}

    /// What the layer asks its semaphore for, for one request. Unnameable outside the
    /// crate, so nobody else can call `SemaphoreKind::acquire`.
    #[derive(Debug)]
    pub struct Ask<P, K> {
        pub(crate) priority: P,
        pub(crate) flow: Option<(K, u32)>,
        pub(crate) queue_limit: usize,
    }
}

pub(super) use sealed::Ask;
