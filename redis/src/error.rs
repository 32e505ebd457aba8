//! Typed errors.

use std::fmt;
use std::time::Duration;

/// Why an acquire, or connecting, failed.
///
/// Every failure that involves Redis is bounded in time: connecting, an acquire that is
/// not yet in line, a release and a close each give up after the builder's
/// [`io_timeout`](crate::Builder::io_timeout) (plus a few milliseconds of local work)
/// with [`Error::TimedOut`], and a queued waiter that cannot reach Redis for a whole
/// lease fails with [`Error::Unreachable`] or [`Error::TimedOut`].
///
/// The core crate's `AcquireError` is opaque because a local acquire fails only when the
/// semaphore closes. Here an acquire crosses a network and can fail in several ways that
/// call for different reactions (retry later, fix the configuration), so the error is
/// this enum, and [`AcquireError`] is its alias.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The semaphore was closed ([`RedisSemaphore::close`](crate::RedisSemaphore::close),
    /// by this or any other process).
    Closed,
    /// The request asks for more permits than the semaphore holds in all: it could never
    /// be granted.
    TooManyPermits {
        /// Permits asked for.
        requested: u32,
        /// The semaphore's limit.
        limit: u32,
    },
    /// Redis could not be reached (connection refused or lost). Nothing was granted to
    /// this request; retrying later is safe.
    Unreachable(redis::RedisError),
    /// Redis did not answer within the I/O timeout (a paused or overloaded server, a
    /// network that drops packets). Nothing usable was granted to this request (a grant
    /// whose answer was lost is never renewed and expires); retrying later is safe.
    TimedOut {
        /// The I/O timeout that ran out ([`Builder::io_timeout`](crate::Builder::io_timeout)).
        after: Duration,
    },
    /// Redis refused the credentials of the URL (wrong password or user).
    Authentication(redis::RedisError),
    /// The semaphore already exists in Redis with another limit.
    LimitMismatch {
        /// The limit this handle was built with.
        requested: u32,
        /// The limit stored in Redis.
        existing: u32,
    },
    /// The URL, the name or a setting of the builder is invalid.
    InvalidConfig(String),
    /// Redis answered with an error or a reply this crate does not understand.
    Redis(redis::RedisError),
    /// The semaphore's background thread is gone (it panicked or could not start).
    Stopped,
}

/// The error of [`acquire`](crate::RedisSemaphore::acquire), named like the core crate's.
pub type AcquireError = Error;

impl Error {
    /// Whether the semaphore was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, Error::Closed)
    }

    /// Whether the request asked for more permits than the semaphore holds.
    pub fn is_too_many_permits(&self) -> bool {
        matches!(self, Error::TooManyPermits { .. })
    }

    /// Whether Redis could not be reached, or did not answer in time
    /// ([`Error::Unreachable`] or [`Error::TimedOut`]).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Unreachable(_) | Error::TimedOut { .. })
    }

    /// Whether Redis did not answer within the I/O timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::TimedOut { .. })
    }

    /// Sorts a client error into timed out, unreachable, authentication or other; `budget`
    /// is the I/O timeout of the call.
    pub(crate) fn from_redis_within(error: redis::RedisError, budget: Duration) -> Self {
        if error.is_timeout() {
            Error::TimedOut { after: budget }
        } else {
            Self::from_redis(error)
        }
    }

    /// Sorts a client error into unreachable, authentication or other.
    pub(crate) fn from_redis(error: redis::RedisError) -> Self {
        use redis::ErrorKind;
        if error.kind() == ErrorKind::AuthenticationFailed
            || error.to_string().contains("WRONGPASS")
            || error.to_string().contains("NOAUTH")
        {
            Error::Authentication(error)
        } else if error.is_io_error()
            || error.is_timeout()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || error.is_unrecoverable_error()
        {
            Error::Unreachable(error)
        } else {
            Error::Redis(error)
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Closed => f.write_str("the semaphore is closed"),
            Error::TooManyPermits { requested, limit } => write!(
                f,
                "requested {requested} permits but the semaphore holds only {limit}"
            ),
            Error::Unreachable(e) => write!(f, "Redis is unreachable: {e}"),
            Error::TimedOut { after } => write!(
                f,
                "timed out: Redis did not answer within {after:?} (the I/O timeout, \
                 `Builder::io_timeout`)"
            ),
            Error::Authentication(e) => write!(f, "Redis refused the credentials: {e}"),
            Error::LimitMismatch {
                requested,
                existing,
            } => write!(
                f,
                "the semaphore exists in Redis with limit {existing}, not {requested}"
            ),
            Error::InvalidConfig(s) => write!(f, "invalid configuration: {s}"),
            Error::Redis(e) => write!(f, "unexpected Redis reply: {e}"),
            Error::Stopped => f.write_str("the semaphore's background thread has stopped"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Unreachable(e) | Error::Authentication(e) | Error::Redis(e) => Some(e),
            _ => None,
        }
    }
}

/// Why [`try_acquire`](crate::RedisSemaphore::try_acquire) got no permit.
///
/// The first two variants are the core crate's `TryAcquireError`; a try here also crosses
/// a network, which adds [`Failed`](Self::Failed).
#[derive(Debug)]
#[non_exhaustive]
pub enum TryAcquireError {
    /// The semaphore is closed.
    Closed,
    /// Not enough free permits, or someone is already waiting (no barging).
    NoPermits,
    /// The attempt itself failed (unreachable, timed out, misconfigured, ...); never
    /// [`Error::Closed`], which is [`Closed`](Self::Closed).
    Failed(Error),
}

impl TryAcquireError {
    /// Whether there were simply no permits to take.
    pub fn is_no_permits(&self) -> bool {
        matches!(self, TryAcquireError::NoPermits)
    }

    /// Whether the semaphore is closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, TryAcquireError::Closed)
    }

    /// The error of a failed attempt, with `Closed` as [`Error::Closed`].
    pub(crate) fn from_error(error: Error) -> Self {
        match error {
            Error::Closed => TryAcquireError::Closed,
            other => TryAcquireError::Failed(other),
        }
    }
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::Closed => Error::Closed.fmt(f),
            TryAcquireError::NoPermits => f.write_str("no permits available"),
            TryAcquireError::Failed(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for TryAcquireError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TryAcquireError::Closed | TryAcquireError::NoPermits => None,
            TryAcquireError::Failed(e) => Some(e),
        }
    }
}
