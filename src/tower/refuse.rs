//! [`OnClosed`]: what a request gets when the semaphore is closed.

use crate::error::AcquireError;

/// What a request gets when the semaphore is closed: the output of its response future.
///
/// Implemented by [`ErrorOnClosed`] (the default) and by every
/// `Fn(AcquireError) -> Result<Response, Error>`.
pub trait OnClosed<Response, Error> {
    /// The result for a request that found the semaphore closed.
    fn on_closed(&self, error: AcquireError) -> Result<Response, Error>;
}

/// The default [`OnClosed`] policy: the inner service's error, built `From<AcquireError>`
/// (`tower::BoxError` and `Box<dyn Error + Send + Sync>` are).
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorOnClosed;

impl<Response, Error: From<AcquireError>> OnClosed<Response, Error> for ErrorOnClosed {
    fn on_closed(&self, error: AcquireError) -> Result<Response, Error> {
        Err(error.into())
    }
}

impl<Response, Error, G> OnClosed<Response, Error> for G
where
    G: Fn(AcquireError) -> Result<Response, Error>,
{
    fn on_closed(&self, error: AcquireError) -> Result<Response, Error> {
        self(error)
    }
}
