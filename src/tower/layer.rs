//! [`PriorityLimitLayer`] and the service it makes, [`PriorityLimit`].

use alloc::sync::Arc;
use core::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use core::time::Duration;

use super::bounds::{MaxWait, NoQueueLimit, NoTimer, QueueLimitFn, Timer};
use super::future::ResponseFuture;
use super::refuse::{OnRefused, Refuse};
use crate::error::AcquireError;
use crate::into_priority::IntoPriority;
use crate::lock::{RawLock, SpinLock};
use crate::semaphore::Semaphore;
use crate::timeout::Timeout;

/// A tower [`Layer`] that limits concurrency through a shared [`Semaphore`], serving waiting
/// requests by a priority computed from each request.
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
> {
    semaphore: Arc<Semaphore<P, L>>,
    priority: F,
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

impl<F, P, L: RawLock, C, Q, T> PriorityLimitLayer<F, P, L, C, Q, T> {
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
    ) -> PriorityLimitLayer<F, P, L, C2, Q, T>
    where
        C2: Fn(AcquireError) -> Result<Response, Error> + Clone,
    {
        PriorityLimitLayer {
            semaphore: self.semaphore,
            priority: self.priority,
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
    pub fn refuse_with(self, refuse: Refuse) -> PriorityLimitLayer<F, P, L, Refuse, Q, T> {
        PriorityLimitLayer {
            semaphore: self.semaphore,
            priority: self.priority,
            on_refused: refuse,
            queue_limit: self.queue_limit,
            timer: self.timer,
        }
    }

    /// Sheds load: a request of priority `p` that would wait while `queue_limit(&p)` or
    /// more requests already wait is refused at once
    /// ([`Acquire::queue_limit`](crate::Acquire::queue_limit) has the rule: the limit
    /// counts the whole line). Give urgent classes a larger limit, or `usize::MAX` for none.
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
    pub fn queue_limit<Q2>(self, queue_limit: Q2) -> PriorityLimitLayer<F, P, L, C, Q2, T>
    where
        Q2: Fn(&P) -> usize + Clone,
    {
        PriorityLimitLayer {
            semaphore: self.semaphore,
            priority: self.priority,
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
    pub fn max_wait<G, S>(
        self,
        after: Duration,
        sleep: G,
    ) -> PriorityLimitLayer<F, P, L, C, Q, MaxWait<G>>
    where
        G: Fn(Duration) -> S + Clone,
        S: core::future::Future,
    {
        PriorityLimitLayer {
            semaphore: self.semaphore,
            priority: self.priority,
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
    pub fn semaphore(&self) -> &Arc<Semaphore<P, L>> {
        &self.semaphore
    }
}

impl<S, F: Clone, P, L: RawLock, C: Clone, Q: Clone, T: Clone> Layer<S>
    for PriorityLimitLayer<F, P, L, C, Q, T>
{
    type Service = PriorityLimit<S, F, P, L, C, Q, T>;

    fn layer(&self, inner: S) -> Self::Service {
        PriorityLimit {
            inner,
            semaphore: Arc::clone(&self.semaphore),
            priority: self.priority.clone(),
            on_refused: self.on_refused.clone(),
            queue_limit: self.queue_limit.clone(),
            timer: self.timer.clone(),
        }
    }
}

impl<F: Clone, P, L: RawLock, C: Clone, Q: Clone, T: Clone> Clone
    for PriorityLimitLayer<F, P, L, C, Q, T>
{
    fn clone(&self) -> Self {
        Self {
            semaphore: Arc::clone(&self.semaphore),
            priority: self.priority.clone(),
            on_refused: self.on_refused.clone(),
            queue_limit: self.queue_limit.clone(),
            timer: self.timer.clone(),
        }
    }
}

impl<F, P, L: RawLock, C, Q, T> core::fmt::Debug for PriorityLimitLayer<F, P, L, C, Q, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PriorityLimitLayer")
            .field("semaphore", &self.semaphore)
            .finish_non_exhaustive()
    }
}

/// A service that waits for a permit of a shared [`Semaphore`], at a priority computed from
/// each request, before calling its inner service. Made by [`PriorityLimitLayer`].
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
> {
    inner: S,
    semaphore: Arc<Semaphore<P, L>>,
    priority: F,
    on_refused: C,
    queue_limit: Q,
    timer: T,
}

impl<S, F, P, L: RawLock, C, Q, T> PriorityLimit<S, F, P, L, C, Q, T> {
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

impl<S, F, R, Req, P, L, C, Q, T> Service<Req> for PriorityLimit<S, F, P, L, C, Q, T>
where
    S: Service<Req> + Clone,
    F: Fn(&Req) -> R,
    R: IntoPriority<P>,
    P: Ord + 'static,
    L: RawLock,
    C: OnRefused<S::Response, S::Error> + Clone,
    Q: QueueLimitFn<P>,
    T: Timer,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S, Req, P, L, C, T::Sleep>;

    /// Always ready: the permit is awaited in the response future, at the request's
    /// priority, and the inner service is made ready after that.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Req) -> Self::Future {
        // A panic here leaves nothing behind: nothing is queued yet.
        let priority: P = (self.priority)(&request).into_priority();
        let limit = self.queue_limit.queue_limit(&priority);
        let acquire = Arc::clone(&self.semaphore)
            .acquire_owned_at(priority)
            .queue_limit(limit);
        let acquire = Timeout::new(acquire, self.timer.sleep());
        ResponseFuture::new(
            acquire,
            self.inner.clone(),
            request,
            self.on_refused.clone(),
        )
    }
}

impl<S: Clone, F: Clone, P, L: RawLock, C: Clone, Q: Clone, T: Clone> Clone
    for PriorityLimit<S, F, P, L, C, Q, T>
{
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            semaphore: Arc::clone(&self.semaphore),
            priority: self.priority.clone(),
            on_refused: self.on_refused.clone(),
            queue_limit: self.queue_limit.clone(),
            timer: self.timer.clone(),
        }
    }
}

impl<S: core::fmt::Debug, F, P, L: RawLock, C, Q, T> core::fmt::Debug
    for PriorityLimit<S, F, P, L, C, Q, T>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PriorityLimit")
            .field("inner", &self.inner)
            .field("semaphore", &self.semaphore)
            .finish_non_exhaustive()
    }
}
