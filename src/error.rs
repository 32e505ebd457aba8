//! Errors returned by acquire operations.

use core::fmt;

use crate::max_permits::MAX_PERMITS;

/// Why an [`Acquire`](crate::Acquire) future failed.
///
/// Either the semaphore was closed ([`AcquireError::is_closed`]), or the request asked for
/// more than [`MAX_PERMITS`](crate::MAX_PERMITS) permits, which no semaphore can ever hold
/// ([`AcquireError::is_too_many_permits`]): that request fails at once instead of waiting
/// forever.
///
/// # Examples
///
/// ```
/// use prio_semaphore::Semaphore;
///
/// # futures::executor::block_on(async {
/// let sem = Semaphore::new(1);
/// sem.close();
/// let err = sem.acquire().await.unwrap_err();
/// assert!(err.is_closed());
/// assert_eq!(err.to_string(), "semaphore closed");
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcquireError {
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Closed,
    TooManyPermits { requested: u32 },
}

impl AcquireError {
    pub(crate) const fn closed() -> Self {
        Self { kind: Kind::Closed }
    }

    pub(crate) const fn too_many_permits(requested: u32) -> Self {
        Self {
            kind: Kind::TooManyPermits { requested },
        }
    }

    /// The semaphore was closed before the permits could be acquired.
    ///
    /// ```
    /// use prio_semaphore::Semaphore;
    ///
    /// # futures::executor::block_on(async {
    /// let sem = Semaphore::new(0);
    /// sem.close();
    /// assert!(sem.acquire().await.unwrap_err().is_closed());
    /// # });
    /// ```
    pub fn is_closed(&self) -> bool {
        self.kind == Kind::Closed
    }

    /// The request was for more than [`MAX_PERMITS`](crate::MAX_PERMITS) permits.
    ///
    /// ```
    /// use prio_semaphore::Semaphore;
    ///
    /// # futures::executor::block_on(async {
    /// let sem = Semaphore::new(1);
    /// let err = sem.acquire_many(u32::MAX).await.unwrap_err();
    /// assert!(err.is_too_many_permits());
    /// # });
    /// ```
    pub fn is_too_many_permits(&self) -> bool {
        matches!(self.kind, Kind::TooManyPermits { .. })
    }
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Closed => f.write_str("semaphore closed"),
            Kind::TooManyPermits { requested } => write!(
                f,
                "cannot acquire {requested} permits: more than MAX_PERMITS ({MAX_PERMITS}), \
                 so the request could never be satisfied"
            ),
        }
    }
}

impl core::error::Error for AcquireError {}

/// Why a `try_acquire` call failed.
///
/// The same two variants as tokio's, so code matching on them ports unchanged. A request
/// for more than [`MAX_PERMITS`](crate::MAX_PERMITS) permits is `NoPermits`: it cannot
/// succeed now (or ever), and a `try_` call never waits.
///
/// # Examples
///
/// ```
/// use prio_semaphore::{Semaphore, TryAcquireError};
///
/// let sem = Semaphore::new(1);
/// let _held = sem.try_acquire().unwrap();
/// assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
/// sem.close();
/// assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryAcquireError {
    /// The semaphore has been closed.
    Closed,
    /// Not enough permits are free, or waiters are queued ahead of this request.
    NoPermits,
}

impl TryAcquireError {
    /// Whether the semaphore was closed.
    ///
    /// ```
    /// let sem = prio_semaphore::Semaphore::new(1);
    /// sem.close();
    /// assert!(sem.try_acquire().unwrap_err().is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self, TryAcquireError::Closed)
    }

    /// Whether there were not enough permits (or waiters were queued).
    ///
    /// ```
    /// let sem = prio_semaphore::Semaphore::new(0);
    /// assert!(sem.try_acquire().unwrap_err().is_no_permits());
    /// ```
    pub fn is_no_permits(&self) -> bool {
        matches!(self, TryAcquireError::NoPermits)
    }
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::Closed => f.write_str("semaphore closed"),
            TryAcquireError::NoPermits => f.write_str("no permits available"),
        }
    }
}

impl core::error::Error for TryAcquireError {}
