//! Errors returned by acquire operations.

use core::fmt;

use crate::max_permits::MAX_PERMITS;

/// Why an [`Acquire`](crate::Acquire) future failed.
///
/// * the semaphore was closed ([`AcquireError::is_closed`]);
/// * the request asked for more than [`MAX_PERMITS`](crate::MAX_PERMITS) permits, which no
///   semaphore can ever hold ([`AcquireError::is_too_many_permits`]): that request fails
///   at once instead of waiting forever;
/// * it was refused under overload, only if it asked to be
///   ([`Acquire::queue_limit`](crate::Acquire::queue_limit), [`Acquire::timeout`](crate::Acquire::timeout),
///   [`Acquire::wait_timeout`](crate::Acquire::wait_timeout)): the line was too long to join
///   ([`AcquireError::is_queue_full`]), or it waited as long as it was willing to
///   ([`AcquireError::is_timed_out`]). [`AcquireError::is_overload`] is either.
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
    TooManyPermits {
        requested: u32,
    },
    /// A queue limit is below `u32::MAX - 1` (larger ones are none), so it fits in 32 bits,
    /// which keeps the error, and a `Result` of a permit, small.
    QueueFull {
        limit: u32,
    },
    TimedOut,
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

    pub(crate) const fn queue_full(limit: usize) -> Self {
        Self {
            kind: Kind::QueueFull {
                limit: limit as u32,
            },
        }
    }

    pub(crate) const fn timed_out() -> Self {
        Self {
            kind: Kind::TimedOut,
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

    /// The request would have had to wait while as many requests as its queue limit were
    /// already waiting, so it did not join the line
    /// ([`Acquire::queue_limit`](crate::Acquire::queue_limit)).
    ///
    /// ```
    /// use prio_semaphore::Semaphore;
    ///
    /// # futures::executor::block_on(async {
    /// let sem = Semaphore::new(0);
    /// let err = sem.acquire().queue_limit(0).await.unwrap_err();
    /// assert!(err.is_queue_full() && err.is_overload());
    /// assert_eq!(err.to_string(), "request refused: the line is full (queue limit 0)");
    /// # });
    /// ```
    pub fn is_queue_full(&self) -> bool {
        matches!(self.kind, Kind::QueueFull { .. })
    }

    /// The request gave up waiting: its timer completed first
    /// ([`Acquire::timeout`](crate::Acquire::timeout),
    /// [`Acquire::wait_timeout`](crate::Acquire::wait_timeout)).
    ///
    /// ```
    /// use prio_semaphore::Semaphore;
    ///
    /// # futures::executor::block_on(async {
    /// let sem = Semaphore::new(0);
    /// let err = sem.acquire().timeout(std::future::ready(())).await.unwrap_err();
    /// assert!(err.is_timed_out() && err.is_overload());
    /// # });
    /// ```
    pub fn is_timed_out(&self) -> bool {
        self.kind == Kind::TimedOut
    }

    /// The request was refused under overload, as it asked to be: the line was full
    /// ([`is_queue_full`](AcquireError::is_queue_full)) or it waited too long
    /// ([`is_timed_out`](AcquireError::is_timed_out)). The semaphore itself is fine: a
    /// later request may succeed (an HTTP server answers `503` with `Retry-After`, or `429`).
    ///
    /// ```
    /// let sem = prio_semaphore::Semaphore::new(1);
    /// sem.close();
    /// let err = futures::executor::block_on(sem.acquire()).unwrap_err();
    /// assert!(!err.is_overload());
    /// ```
    pub fn is_overload(&self) -> bool {
        matches!(self.kind, Kind::QueueFull { .. } | Kind::TimedOut)
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
            Kind::QueueFull { limit } => {
                write!(f, "request refused: the line is full (queue limit {limit})")
            }
            Kind::TimedOut => f.write_str("request timed out waiting for a permit"),
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
