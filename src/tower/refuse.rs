//! [`OnRefused`]: what a request gets when it is refused a permit (the semaphore closed,
//! or overload), and [`Refuse`], the default.

use core::convert::Infallible;

use crate::error::AcquireError;

/// What a request gets when it is refused a permit: the output of its response future.
///
/// A request is refused when the semaphore is closed ([`AcquireError::is_closed`]), or
/// under overload, only if the layer bounds it
/// ([`PriorityLimitLayer::queue_limit`](super::PriorityLimitLayer::queue_limit),
/// [`PriorityLimitLayer::max_wait`](super::PriorityLimitLayer::max_wait);
/// [`AcquireError::is_overload`]).
///
/// Implemented by [`Refuse`] (the default) and by every
/// `Fn(AcquireError) -> Result<Response, Error>`.
#[diagnostic::on_unimplemented(
    message = "`PriorityLimitLayer` cannot answer a refused request of a service whose response is `{Response}` and error `{Error}`",
    label = "no refusal policy for `Result<{Response}, {Error}>`",
    note = "the default policy, `Refuse`, answers an `http::Response<B>` (with `B: Default`) with 503 or 429 when the error type is `Infallible` (axum), and otherwise returns the error built `From<AcquireError>` (`tower::BoxError`)",
    note = "for other services, give the layer a closure: `.on_refused(|error: AcquireError| Ok(/* your response */))`"
)]
pub trait OnRefused<Response, Error> {
    /// The result for a request that was refused.
    fn on_refused(&self, error: AcquireError) -> Result<Response, Error>;
}

/// The default [`OnRefused`] policy.
///
/// * For HTTP services that never fail (axum's: `http::Response<B>` with `B: Default`,
///   error `Infallible`): a response with an empty body, `503 Service Unavailable` for a
///   closed semaphore; for overload, `503` with `Retry-After: 1` by default
///   ([`retry_after`](Refuse::retry_after)), or `429 Too Many Requests`
///   ([`too_many_requests`](Refuse::too_many_requests)).
/// * For every other service whose error is built `From<AcquireError>` (`tower::BoxError`,
///   `Box<dyn Error + Send + Sync>`): that error.
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use axum::{body::Body, http::Response};
/// use prio_semaphore::tower::{OnRefused, Refuse};
///
/// # futures::executor::block_on(async {
/// let sem = prio_semaphore::Semaphore::new(0);
/// let full = sem.acquire().queue_limit(0).await.unwrap_err();
/// let response: Result<Response<Body>, Infallible> = Refuse::default().on_refused(full);
/// let response = response.unwrap();
/// assert_eq!(response.status(), 503);
/// assert_eq!(response.headers()["retry-after"], "1");
///
/// let full = sem.acquire().queue_limit(0).await.unwrap_err();
/// let response: Result<Response<Body>, Infallible> = Refuse::too_many_requests().on_refused(full);
/// assert_eq!(response.unwrap().status(), 429);
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refuse {
    /// Answer overload with 429 rather than 503.
    too_many: bool,
    /// `Retry-After` on overload answers, in seconds.
    retry_after: Option<u32>,
}

impl Default for Refuse {
    fn default() -> Self {
        Self::service_unavailable()
    }
}

impl Refuse {
    /// Overload answered with `503 Service Unavailable` and `Retry-After: 1` (the default).
    pub const fn service_unavailable() -> Self {
        Self {
            too_many: false,
            retry_after: Some(1),
        }
    }

    /// Overload answered with `429 Too Many Requests` and `Retry-After: 1`.
    pub const fn too_many_requests() -> Self {
        Self {
            too_many: true,
            retry_after: Some(1),
        }
    }

    /// Sets the `Retry-After` of overload answers, in seconds; `None` sends none.
    ///
    /// ```
    /// let policy = prio_semaphore::tower::Refuse::default().retry_after(Some(5));
    /// # drop(policy);
    /// ```
    pub const fn retry_after(self, seconds: Option<u32>) -> Self {
        Self {
            retry_after: seconds,
            ..self
        }
    }

    /// The response for `error`, with an empty body.
    fn response<B: Default>(&self, error: &AcquireError) -> http::Response<B> {
        let mut response = http::Response::new(B::default());
        if !error.is_overload() {
            *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
            return response;
        }
        *response.status_mut() = if self.too_many {
            http::StatusCode::TOO_MANY_REQUESTS
        } else {
            http::StatusCode::SERVICE_UNAVAILABLE
        };
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
        }
        response
    }
}

impl<B: Default> OnRefused<http::Response<B>, Infallible> for Refuse {
    fn on_refused(&self, error: AcquireError) -> Result<http::Response<B>, Infallible> {
        Ok(self.response(&error))
    }
}

impl<Response, Error: From<AcquireError>> OnRefused<Response, Error> for Refuse {
    fn on_refused(&self, error: AcquireError) -> Result<Response, Error> {
        Err(error.into())
    }
}

impl<Response, Error, G> OnRefused<Response, Error> for G
where
    G: Fn(AcquireError) -> Result<Response, Error>,
{
    fn on_refused(&self, error: AcquireError) -> Result<Response, Error> {
        self(error)
    }
}
