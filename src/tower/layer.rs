//! [`PriorityLimitLayer`] and the service it makes, [`PriorityLimit`].

use alloc::sync::Arc;
use core::future::Future;
use core::task::{Context, Poll};
use core::time::Duration;

use tower_layer::Layer;
use tower_service::Service;

use super::bounds::{MaxWait, NoQueueLimit, NoTimer, QueueLimitFn, Timer};
use super::future::ResponseFuture;
use super::kind::{Ask, Fair, FlowFn, NoFlows, Plain, SemaphoreKind};
use super::refuse::{OnRefused, Refuse};
use crate::error::AcquireError;
use crate::fair::{FairSemaphore, FlowStore};
use crate::into_priority::IntoPriority;
use crate::lock::{RawLock, SpinLock};
use crate::semaphore::Semaphore;
use crate::timeout::Timeout;

/// A tower [`Layer`] that limits concurrency through a shared [`Semaphore`] or
/// [`FairSemaphore`], serving waiting requests by a priority (and, with a fair semaphore, a
/// flow) computed from each request.
///
/// See the [module docs](crate::tower) for how it meets tower's readiness contract and how
/// long a permit is held.
///
/// * `F`: the priority function, `Fn(&Request) -> R` where `R` is anything
///   [`IntoPriority<P>`] accepts (any integer for the default `i64`); it must be `Clone`
///   (a function, or a closure that captures only `Clone` values).
/// * `P`, `L`: the semaphore's priority and lock types.
/// * `C`: what a refused request gets ([`OnRefused`]; [`Refuse`] by default).
/// * `Q`, `T`: the overload bounds, [`queue_limit`](PriorityLimitLayer::queue_limit) and
///   [`max_wait`](PriorityLimitLayer::max_wait); none by default.
/// * `M`: the kind of semaphore, [`Plain`] (the default, made by
///   [`new`](PriorityLimitLayer::new)) or [`Fair`] (made by
///   [`fair`](PriorityLimitLayer::fair)).
/// * `G`: the flow function of a fair layer ([`FlowFn`]); [`NoFlows`] for a plain one.
///
/// # Examples
///
/// With hyper and a plain `tower::service_fn`, whose error type is built from
/// [`AcquireError`] (what the default [`Refuse`] policy returns there):
///
/// ```
/// use std::convert::Infallible;
/// use std::sync::Arc;
/// use prio_semaphore::{tower::PriorityLimitLayer, Semaphore};
/// use tower::{BoxError, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let database = Arc::new(Semaphore::new(2));
/// let query = tower::service_fn(|sql: String| async move { Ok::<_, BoxError>(sql.len()) });
/// let limited = PriorityLimitLayer::new(database.clone(), |sql: &String| {
///     if sql.starts_with("SELECT") { 0 } else { 10 } // reads before batch writes
/// })
/// .layer(query);
/// assert_eq!(limited.clone().oneshot("SELECT 1".to_owned()).await?, 8);
///
/// database.close();
/// let err = limited.oneshot("UPDATE t".to_owned()).await.unwrap_err();
/// assert!(err.downcast_ref::<prio_semaphore::AcquireError>().unwrap().is_closed());
/// # Ok(())
/// # }
/// ```
#[must_use = "a layer does nothing until it wraps a service"]
pub struct PriorityLimitLayer<
    F,
    P = i64,
    L: RawLock = SpinLock,
    C = Refuse,
    Q = NoQueueLimit,
    T = NoTimer,
    M: SemaphoreKind<P, L> = Plain,
    G = NoFlows,
> {
    semaphore: Arc<M::Semaphore>,
    priority: F,
    flow: G,
    on_refused: C,
    queue_limit: Q,
    timer: T,
}

impl<F, P, L: RawLock> PriorityLimitLayer<F, P, L> {
    /// A layer whose requests wait for a permit of `semaphore` at `priority(&request)`.
    ///
    /// A refused request is answered by [`Refuse`]: an HTTP `503` for services that never
    /// fail, else the inner service's error built `From<AcquireError>`; set another answer
    /// with [`on_refused`](PriorityLimitLayer::on_refused). For HTTP services,
    /// [`PriorityLimitLayer::http`] is the same with a closure that needs no type
    /// annotation.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::{tower::PriorityLimitLayer, Semaphore};
    ///
    /// struct Job { interactive: bool }
    ///
    /// let layer = PriorityLimitLayer::new(Arc::new(Semaphore::new(4)), |job: &Job| {
    ///     if job.interactive { 0u8 } else { 1u8 }
    /// });
    /// # drop(layer);
    /// ```
    pub fn new(semaphore: Arc<Semaphore<P, L>>, priority: F) -> Self {
        Self {
            semaphore,
            priority,
            flow: NoFlows,
            on_refused: Refuse::default(),
            queue_limit: NoQueueLimit,
            timer: NoTimer,
        }
    }

    /// [`new`](PriorityLimitLayer::new) for HTTP services (axum, hyper, tonic): the
    /// priority function takes an `http::Request<B>`, so a closure needs no annotation.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use axum::{routing::get, Router};
    /// use prio_semaphore::{tower::PriorityLimitLayer, Semaphore};
    ///
    /// let app: Router = Router::new().route("/", get(|| async { "hi" })).layer(
    ///     PriorityLimitLayer::http(Arc::new(Semaphore::new(4)), |request| {
    ///         if request.headers().contains_key("x-realtime") { 0 } else { 10 }
    ///     }),
    /// );
    /// # drop(app);
    /// ```
    pub fn http<B, R>(semaphore: Arc<Semaphore<P, L>>, priority: F) -> Self
    where
        F: Fn(&http::Request<B>) -> R,
        R: IntoPriority<P>,
    {
        Self::new(semaphore, priority)
    }
}

impl<F, G, K, P, S, L> PriorityLimitLayer<F, P, L, Refuse, NoQueueLimit, NoTimer, Fair<K, S>, G>
where
    P: Ord + Default + Clone + 'static,
    S: FlowStore<P, K>,
    L: RawLock,
{
    /// A layer whose requests wait for a permit of the fair `semaphore` at
    /// `priority(&request)`, in the flow `flow(&request)`: `Some((key, weight))`, or `None`
    /// for the priority's unkeyed flow.
    ///
    /// Requests of one priority are served by weighted fair queuing among their flows
    /// ([`FairSemaphore`] has the order and its bound), so a tenant that floods the layer
    /// does not delay another tenant's request behind the whole flood. Everything else is
    /// as for [`new`](PriorityLimitLayer::new): refusals,
    /// [`queue_limit`](PriorityLimitLayer::queue_limit) and
    /// [`max_wait`](PriorityLimitLayer::max_wait). For HTTP services,
    /// [`fair_http`](PriorityLimitLayer::fair_http) is the same with closures that need no
    /// type annotation.
    ///
    /// `flow` must be `Clone`, as `priority` must; it runs in `call`, after `priority`.
    ///
    /// # Panics
    ///
    /// A request whose weight is 0 panics in `call`, before anything is queued, as a
    /// panicking priority function does ([module docs](crate::tower#panics)).
    ///
    /// # Examples
    ///
    /// Each customer's jobs form a flow: a customer that submits a thousand batch jobs
    /// delays another customer's batch job by about one job, not a thousand.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::{fair::FairSemaphore, tower::PriorityLimitLayer};
    /// use tower::{BoxError, Layer, ServiceExt};
    ///
    /// struct Job { customer: u64, interactive: bool }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// let workers: Arc<FairSemaphore<u64>> = Arc::new(FairSemaphore::new(2));
    /// let run = tower::service_fn(|job: Job| async move { Ok::<_, BoxError>(job.customer) });
    /// let limited = PriorityLimitLayer::fair(
    ///     workers,
    ///     |job: &Job| if job.interactive { 0 } else { 10 },
    ///     |job: &Job| Some((job.customer, 1)), // weight 1: equal shares
    /// )
    /// .layer(run);
    /// assert_eq!(limited.oneshot(Job { customer: 7, interactive: false }).await?, 7);
    /// # Ok(())
    /// # }
    /// ```
    pub fn fair(semaphore: Arc<FairSemaphore<K, P, S, L>>, priority: F, flow: G) -> Self {
        Self {
            semaphore,
            priority,
            flow,
            on_refused: Refuse::default(),
            queue_limit: NoQueueLimit,
            timer: NoTimer,
        }
    }

    /// [`fair`](PriorityLimitLayer::fair) for HTTP services (axum, hyper, tonic): both
    /// functions take an `http::Request<B>`, so closures need no annotation.
    ///
    /// # Examples
    ///
    /// An axum router whose requests are flows by their `x-tenant` header (requests
    /// without one share a flow), realtime ones first:
    ///
    /// ```
    /// use std::sync::Arc;
    /// use axum::{http::HeaderValue, routing::get, Router};
    /// use prio_semaphore::{fair::FairSemaphore, tower::PriorityLimitLayer};
    ///
    /// let backend: Arc<FairSemaphore<HeaderValue>> = Arc::new(FairSemaphore::new(4));
    /// let app: Router = Router::new().route("/work", get(|| async { "done" })).layer(
    ///     PriorityLimitLayer::fair_http(
    ///         backend,
    ///         |request| if request.headers().contains_key("x-realtime") { 0 } else { 10 },
    ///         |request| Some((request.headers().get("x-tenant")?.clone(), 1)),
    ///     ),
    /// );
    /// # drop(app);
    /// ```
    pub fn fair_http<B, R>(semaphore: Arc<FairSemaphore<K, P, S, L>>, priority: F, flow: G) -> Self
    where
        F: Fn(&http::Request<B>) -> R,
        R: IntoPriority<P>,
        G: Fn(&http::Request<B>) -> Option<(K, u32)>,
    {
        Self::fair(semaphore, priority, flow)
    }
}

impl<F, P, L: RawLock, C, Q, T, M: SemaphoreKind<P, L>, G>
    PriorityLimitLayer<F, P, L, C, Q, T, M, G>
{
    /// Sets what a refused request gets (the semaphore closed, or overload):
    /// `on_refused(error)` is the result of its response future. Any
    /// `Fn(AcquireError) -> Result<Response, Error>` that is `Clone` will do.
    ///
    /// # Examples
    ///
    /// axum, with a body that says why (the error type is inferred where the layer is
    /// used, as in `Router::layer`; standing alone it needs naming):
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use std::sync::Arc;
    /// use axum::{extract::Request, http::StatusCode, response::IntoResponse};
    /// use prio_semaphore::{tower::PriorityLimitLayer, Semaphore};
    ///
    /// let layer = PriorityLimitLayer::new(Arc::new(Semaphore::new(4)), |_: &Request| 0)
    ///     .on_refused(|error| {
    ///         Ok::<_, Infallible>((StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response())
    ///     });
    /// # drop(layer);
    /// ```
    pub fn on_refused<C2, Response, Error>(
        self,
        on_refused: C2,
    ) -> PriorityLimitLayer<F, P, L, C2, Q, T, M, G>
    where
        C2: Fn(AcquireError) -> Result<Response, Error> + Clone,
    {
        PriorityLimitLayer {
            semaphore: self.semaphore,
            priority: self.priority,
            flow: self.flow,
            on_refused,
            queue_limit: self.queue_limit,
            timer: self.timer,
        }
    }

    /// Sets the refusal policy to a [`Refuse`] (say, `Refuse::too_many_requests()` for
    /// `429` instead of `503`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::{tower::{PriorityLimitLayer, Refuse}, Semaphore};
    ///
    /// let layer = PriorityLimitLayer::new(Arc::new(Semaphore::new(4)), |_: &()| 0)
    ///     .refuse_with(Refuse::too_many_requests().retry_after(Some(2)));
    /// # drop(layer);
    /// ```
    pub fn refuse_with(self, refuse: Refuse) -> PriorityLimitLayer<F, P, L, Refuse, Q, T, M, G> {
        PriorityLimitLayer {
            semaphore: self.semaphore,
            priority: self.priority,
            flow: self.flow,
            on_refused: refuse,
            queue_limit: self.queue_limit,
            timer: self.timer,
        }
    }

    /// Sheds load: a request of priority `p` that would wait while `queue_limit(&p)` or
    /// more requests already wait is refused at once
    /// ([`Acquire::queue_limit`](crate::Acquire::queue_limit) has the rule: the limit
    /// counts the whole line, every flow's too). Give urgent classes a larger limit, or
    /// `usize::MAX` for none.
    ///
    /// # Examples
    ///
    /// Batch requests (priority 10) are refused while 64 or more requests wait; realtime
    /// ones (0) always queue, ahead of them:
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::{tower::PriorityLimitLayer, Semaphore};
    ///
    /// let layer = PriorityLimitLayer::new(Arc::new(Semaphore::new(4)), |_: &()| 10)
    ///     .queue_limit(|&priority| if priority == 0 { usize::MAX } else { 64 });
    /// # drop(layer);
    /// ```
    pub fn queue_limit<Q2>(self, queue_limit: Q2) -> PriorityLimitLayer<F, P, L, C, Q2, T, M, G>
    where
        Q2: Fn(&P) -> usize + Clone,
    {
        PriorityLimitLayer {
            semaphore: self.semaphore,
            priority: self.priority,
            flow: self.flow,
            on_refused: self.on_refused,
            queue_limit,
            timer: self.timer,
        }
    }

    /// Bounds the wait: a request that has not got its permit `after` it arrived is
    /// refused. `sleep` is your runtime's timer (`tokio::time::sleep`, or any
    /// `Fn(Duration) -> impl Future`): the crate has none of its own.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// use prio_semaphore::{tower::PriorityLimitLayer, Semaphore};
    ///
    /// let layer = PriorityLimitLayer::new(Arc::new(Semaphore::new(4)), |_: &()| 0)
    ///     .max_wait(Duration::from_millis(250), tokio::time::sleep);
    /// # drop(layer);
    /// ```
    pub fn max_wait<W, S>(
        self,
        after: Duration,
        sleep: W,
    ) -> PriorityLimitLayer<F, P, L, C, Q, MaxWait<W>, M, G>
    where
        W: Fn(Duration) -> S + Clone,
        S: Future,
    {
        PriorityLimitLayer {
            semaphore: self.semaphore,
            priority: self.priority,
            flow: self.flow,
            on_refused: self.on_refused,
            queue_limit: self.queue_limit,
            timer: MaxWait::new(after, sleep),
        }
    }

    /// The semaphore.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::{tower::PriorityLimitLayer, Semaphore};
    ///
    /// let layer = PriorityLimitLayer::new(Arc::new(Semaphore::new(4)), |_: &()| 0);
    /// assert_eq!(layer.semaphore().available_permits(), 4);
    /// ```
    pub fn semaphore(&self) -> &Arc<M::Semaphore> {
        &self.semaphore
    }
}

impl<S, F, P, L, C, Q, T, M, G> Layer<S> for PriorityLimitLayer<F, P, L, C, Q, T, M, G>
where
    L: RawLock,
    M: SemaphoreKind<P, L>,
    Self: Clone,
{
    type Service = PriorityLimit<S, F, P, L, C, Q, T, M, G>;

    fn layer(&self, inner: S) -> Self::Service {
        PriorityLimit {
            inner,
            layer: self.clone(),
        }
    }
}

impl<F, P, L, C, Q, T, M, G> Clone for PriorityLimitLayer<F, P, L, C, Q, T, M, G>
where
    F: Clone,
    L: RawLock,
    C: Clone,
    Q: Clone,
    T: Clone,
    M: SemaphoreKind<P, L>,
    G: Clone,
{
    fn clone(&self) -> Self {
        Self {
            semaphore: Arc::clone(&self.semaphore),
            priority: self.priority.clone(),
            flow: self.flow.clone(),
            on_refused: self.on_refused.clone(),
            queue_limit: self.queue_limit.clone(),
            timer: self.timer.clone(),
        }
    }
}

impl<F, P, L: RawLock, C, Q, T, M: SemaphoreKind<P, L>, G> core::fmt::Debug
    for PriorityLimitLayer<F, P, L, C, Q, T, M, G>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PriorityLimitLayer")
            .field("semaphore", &self.semaphore)
            .finish_non_exhaustive()
    }
}

/// A service that waits for a permit of a shared [`Semaphore`] or [`FairSemaphore`], at a
/// priority (and in a flow) computed from each request, before calling its inner service.
/// Made by [`PriorityLimitLayer`].
///
/// Its `poll_ready` is always ready; the waiting happens in the [`ResponseFuture`] (see the
/// [module docs](crate::tower)).
pub struct PriorityLimit<
    S,
    F,
    P = i64,
    L: RawLock = SpinLock,
    C = Refuse,
    Q = NoQueueLimit,
    T = NoTimer,
    M: SemaphoreKind<P, L> = Plain,
    G = NoFlows,
> {
    inner: S,
    /// What it was made from: the semaphore and the functions and bounds for each request.
    layer: PriorityLimitLayer<F, P, L, C, Q, T, M, G>,
}

impl<S, F, P, L: RawLock, C, Q, T, M: SemaphoreKind<P, L>, G>
    PriorityLimit<S, F, P, L, C, Q, T, M, G>
{
    /// The inner service.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::{tower::PriorityLimitLayer, Semaphore};
    /// use tower::Layer;
    ///
    /// let layer = PriorityLimitLayer::new(Arc::new(Semaphore::new(1)), |_: &()| 0);
    /// let mut svc = layer.layer(String::from("inner"));
    /// assert_eq!(svc.get_ref(), "inner");
    /// svc.get_mut().push('!');
    /// assert_eq!(svc.into_inner(), "inner!");
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably (see [`get_ref`](PriorityLimit::get_ref)).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped (see [`get_ref`](PriorityLimit::get_ref)).
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, F, R, Req, P, L, C, Q, T, M, G> Service<Req> for PriorityLimit<S, F, P, L, C, Q, T, M, G>
where
    S: Service<Req> + Clone,
    F: Fn(&Req) -> R,
    R: IntoPriority<P>,
    P: Ord + 'static,
    L: RawLock,
    C: OnRefused<S::Response, S::Error> + Clone,
    Q: QueueLimitFn<P>,
    T: Timer,
    M: SemaphoreKind<P, L>,
    M::Acquire: Future<Output = Result<M::Permit, AcquireError>>,
    G: FlowFn<Req, M::Flow>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S, Req, P, L, C, T::Sleep, M>;

    /// Always ready: the permit is awaited in the response future, at the request's
    /// priority, and the inner service is made ready after that.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let layer = &self.layer;
        // A panic here leaves nothing behind: nothing is queued yet.
        let priority: P = (layer.priority)(&request).into_priority();
        let flow = layer.flow.flow(&request);
        let queue_limit = layer.queue_limit.queue_limit(&priority);
        let ask = Ask {
            priority,
            flow,
            queue_limit,
        };
        let acquire = Timeout::new(M::acquire(&layer.semaphore, ask), layer.timer.sleep());
        ResponseFuture::new(
            acquire,
            self.inner.clone(),
            request,
            layer.on_refused.clone(),
        )
    }
}

impl<S, F, P, L, C, Q, T, M, G> Clone for PriorityLimit<S, F, P, L, C, Q, T, M, G>
where
    S: Clone,
    L: RawLock,
    M: SemaphoreKind<P, L>,
    PriorityLimitLayer<F, P, L, C, Q, T, M, G>: Clone,
{
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S: core::fmt::Debug, F, P, L: RawLock, C, Q, T, M: SemaphoreKind<P, L>, G> core::fmt::Debug
    for PriorityLimit<S, F, P, L, C, Q, T, M, G>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PriorityLimit")
            .field("inner", &self.inner)
            .field("semaphore", &self.layer.semaphore)
            .finish_non_exhaustive()
    }
}
