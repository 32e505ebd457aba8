//! `RedisSemaphore`: the public handle.

use std::sync::Arc;
use std::time::Duration;

use crate::acquire::{Acquire, Close, TryAcquire};
use crate::builder::Builder;
use crate::command::Command;
use crate::shared::Shared;
use crate::slot::Slot;

/// A priority semaphore shared by every process that opens the same `name` on the same
/// Redis.
///
/// Cloning is cheap and shares one connection and one background thread; every permit
/// and pending acquire keeps them alive. See the [crate docs](crate) for the ordering
/// rules, leases and failure modes.
///
/// # Examples
///
/// ```no_run
/// use prio_semaphore_redis::RedisSemaphore;
///
/// # async fn demo() -> Result<(), prio_semaphore_redis::Error> {
/// let llm = RedisSemaphore::builder("redis://:secret@127.0.0.1:6379/", "llm-endpoint", 4)
///     .connect()
///     .await?;
/// let permit = llm.acquire().priority(0).await?; // realtime work goes first
/// let token = permit.fencing_token(); // pass it to the resource, which rejects stale ones
/// # let _ = token;
/// drop(permit); // one round trip gives it back
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct RedisSemaphore {
    pub(crate) shared: Arc<Shared>,
}

impl RedisSemaphore {
    /// Starts configuring a semaphore of `permits` permits called `name` on the Redis at
    /// `url` (`redis://`, or `rediss://` for TLS with the `tls` feature; user and
    /// password go in the URL: `redis://user:password@host:port/db`).
    ///
    /// The URL may name one server or any node of a Redis Cluster (found out at
    /// `connect`).
    pub fn builder(url: impl Into<String>, name: impl Into<String>, permits: u32) -> Builder {
        Builder::new(url.into(), name.into(), permits)
    }

    /// Waits for one permit, in line with the ambient priority
    /// ([`prio_semaphore::with_priority`]) or `0`; set one with
    /// [`.priority(p)`](Acquire::priority). Smaller priorities go first; equal ones in
    /// order of arrival, across all processes.
    pub fn acquire(&self) -> Acquire {
        self.acquire_many(1)
    }

    /// Waits for `n` permits at once (granted together, never in parts).
    pub fn acquire_many(&self, n: u32) -> Acquire {
        Acquire::new(self.shared.clone(), n, false)
    }

    /// Takes one permit if it is free and nobody is waiting (no barging), in one round
    /// trip; never waits in line (so, as in the core crate, it takes no priority).
    pub fn try_acquire(&self) -> TryAcquire {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if they are free and nobody is waiting.
    pub fn try_acquire_many(&self, n: u32) -> TryAcquire {
        TryAcquire::new(Acquire::new(self.shared.clone(), n, true))
    }

    /// Closes the semaphore for every process: all waiting and future acquires fail with
    /// [`Error::Closed`](crate::Error::Closed); permits already held stay valid until
    /// released or expired.
    pub fn close(&self) -> Close {
        let reply = Slot::new();
        let sent = self.shared.send(Command::Close {
            deadline: self.shared.deadline(),
            reply: reply.clone(),
        });
        Close::new(reply, sent)
    }

    /// The semaphore's name (its Redis hash tag).
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The global limit: how many permits all processes together may hold.
    pub fn limit(&self) -> u32 {
        self.shared.limit
    }

    /// The lease time of every permit granted through this handle.
    pub fn lease(&self) -> Duration {
        self.shared.lease
    }
}
