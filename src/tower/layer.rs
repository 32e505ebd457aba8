//! [`PriorityLimitLayer`] and the service it makes, [`PriorityLimit`].

use alloc::sync::Arc;
use core::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::future::ResponseFuture;
use super::on_closed::{ErrorOnClosed, OnClosed};
use crate::error::AcquireError;
use crate::into_priority::IntoPriority;
use crate::lock::{RawLock, SpinLock};
use crate::semaphore::Semaphore;

/// A tower [`Layer`] that limits concurrency through a shared [`Semaphore`], serving waiting
/// requests by a priority computed from each request.
///
/// See the [module docs](crate::tower) for how it meets tower's readiness contract and how
/// long a permit is held.
///
/// * `F`: the priority function, `Fn(&Request) -> Q` where `Q` is anything
///   [`IntoPriority<P>`] accepts (any integer for the default `i64`); it must be `Clone`
///   (a function, or a closure that captures only `Clone` values).
/// * `P`, `L`: the semaphore's priority and lock types.
/// * `C`: what a request gets when the semaphore is closed ([`OnClosed`]).
///
/// # Examples
///
/// With hyper and a plain `tower::service_fn`, whose error type is built from
/// [`AcquireError`] (the default [`ErrorOnClosed`] policy):
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
pub struct PriorityLimitLayer<F, P = i64, L: RawLock = SpinLock, C = ErrorOnClosed> {
    semaphore: Arc<Semaphore<P, L>>,
    priority: F,
    on_closed: C,
}

impl<F, P, L: RawLock> PriorityLimitLayer<F, P, L> {
    /// A layer whose requests wait for a permit of `semaphore` at `priority(&request)`.
    ///
    /// A closed semaphore answers with the inner service's error built
    /// `From<AcquireError>` ([`ErrorOnClosed`]); set another answer with
    /// [`on_closed`](PriorityLimitLayer::on_closed).
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
            on_closed: ErrorOnClosed,
        }
    }
}

impl<F, P, L: RawLock, C> PriorityLimitLayer<F, P, L, C> {
    /// Sets what a request gets when the semaphore is closed: `on_closed(error)` is the
    /// result of its response future. Any `Fn(AcquireError) -> Result<Response, Error>`
    /// that is `Clone` will do.
    ///
    /// # Examples
    ///
    /// axum wants a response, not an error (the error type is inferred where the layer is
    /// used, as in `Router::layer`; standing alone it needs naming):
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use std::sync::Arc;
    /// use axum::{extract::Request, http::StatusCode, response::IntoResponse};
    /// use prio_semaphore::{tower::PriorityLimitLayer, Semaphore};
    ///
    /// let layer = PriorityLimitLayer::new(Arc::new(Semaphore::new(4)), |_: &Request| 0)
    ///     .on_closed(|_closed| Ok::<_, Infallible>(StatusCode::SERVICE_UNAVAILABLE.into_response()));
    /// # drop(layer);
    /// ```
    pub fn on_closed<C2, Response, Error>(self, on_closed: C2) -> PriorityLimitLayer<F, P, L, C2>
    where
        C2: Fn(AcquireError) -> Result<Response, Error> + Clone,
    {
        PriorityLimitLayer {
            semaphore: self.semaphore,
            priority: self.priority,
            on_closed,
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

impl<S, F: Clone, P, L: RawLock, C: Clone> Layer<S> for PriorityLimitLayer<F, P, L, C> {
    type Service = PriorityLimit<S, F, P, L, C>;

    fn layer(&self, inner: S) -> Self::Service {
        PriorityLimit {
            inner,
            semaphore: Arc::clone(&self.semaphore),
            priority: self.priority.clone(),
            on_closed: self.on_closed.clone(),
        }
    }
}

impl<F: Clone, P, L: RawLock, C: Clone> Clone for PriorityLimitLayer<F, P, L, C> {
    fn clone(&self) -> Self {
        Self {
            semaphore: Arc::clone(&self.semaphore),
            priority: self.priority.clone(),
            on_closed: self.on_closed.clone(),
        }
    }
}

impl<F, P, L: RawLock, C> core::fmt::Debug for PriorityLimitLayer<F, P, L, C> {
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
pub struct PriorityLimit<S, F, P = i64, L: RawLock = SpinLock, C = ErrorOnClosed> {
    inner: S,
    semaphore: Arc<Semaphore<P, L>>,
    priority: F,
    on_closed: C,
}

impl<S, F, P, L: RawLock, C> PriorityLimit<S, F, P, L, C> {
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

impl<S, F, Q, Req, P, L, C> Service<Req> for PriorityLimit<S, F, P, L, C>
where
    S: Service<Req> + Clone,
    F: Fn(&Req) -> Q,
    Q: IntoPriority<P>,
    P: Ord + Default + Clone + 'static,
    L: RawLock,
    C: OnClosed<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S, Req, P, L, C>;

    /// Always ready: the permit is awaited in the response future, at the request's
    /// priority, and the inner service is made ready after that.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Req) -> Self::Future {
        // A panic here leaves nothing behind: nothing is queued yet.
        let priority = (self.priority)(&request).into_priority();
        let acquire = Arc::clone(&self.semaphore)
            .acquire_owned()
            .priority(priority);
        ResponseFuture::new(acquire, self.inner.clone(), request, self.on_closed.clone())
    }
}

impl<S: Clone, F: Clone, P, L: RawLock, C: Clone> Clone for PriorityLimit<S, F, P, L, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            semaphore: Arc::clone(&self.semaphore),
            priority: self.priority.clone(),
            on_closed: self.on_closed.clone(),
        }
    }
}

impl<S: core::fmt::Debug, F, P, L: RawLock, C> core::fmt::Debug for PriorityLimit<S, F, P, L, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PriorityLimit")
            .field("inner", &self.inner)
            .field("semaphore", &self.semaphore)
            .finish_non_exhaustive()
    }
}
