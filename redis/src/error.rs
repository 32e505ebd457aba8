//! Typed errors.

use std::fmt;

/// Why an acquire, or connecting, failed.
///
/// Every failure that involves Redis is bounded in time: connecting and each call give up
/// after the builder's [`io_timeout`](crate::Builder::io_timeout), and a queued waiter
/// that cannot reach Redis for a whole lease fails with [`Error::Unreachable`].
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
    /// Redis could not be reached (refused, timed out, connection lost) within the
    /// bounded time. Nothing was granted to this request; retrying later is safe.
    Unreachable(redis::RedisError),
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

    /// Whether Redis could not be reached in time.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Unreachable(_))
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
#[derive(Debug)]
#[non_exhaustive]
pub enum TryAcquireError {
    /// Not enough free permits, or someone is already waiting (no barging).
    NoPermits,
    /// The attempt itself failed (closed, unreachable, ...).
    Failed(Error),
}

impl TryAcquireError {
    /// Whether there were simply no permits to take.
    pub fn is_no_permits(&self) -> bool {
        matches!(self, TryAcquireError::NoPermits)
    }

    /// Whether the semaphore is closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, TryAcquireError::Failed(Error::Closed))
    }
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::NoPermits => f.write_str("no permits available"),
            TryAcquireError::Failed(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for TryAcquireError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TryAcquireError::NoPermits => None,
            TryAcquireError::Failed(e) => Some(e),
        }
    }
}
