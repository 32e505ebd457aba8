//! The fast path on a tokio runtime (feature `tokio`): the calling task sends an
//! uncontended acquire and every release itself, over an async connection driven by its
//! own runtime, instead of handing them to the semaphore's thread. That saves two thread
//! wake-ups per call, which on a busy machine cost more than the round trip itself.
//!
//! The semaphore's thread still owns everything that must be sequential: queueing,
//! the process's place in the line, renewals. A fast acquire never queues (the script's
//! `fast` mode answers `busy` instead), so it cannot disturb that order; a fast grant is
//! handed to the thread for renewal, and a fast release tells the thread first.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;

use crate::agent::{Command, Granted, Lease, Outcome};
use crate::error::Error;
use crate::names::encode_priority;
use crate::scripts::{scripts, Reply};
use crate::semaphore::Inner;
use crate::slot::LeaseSignal;

/// The async connection of one semaphore handle, made on first use.
#[derive(Debug)]
pub(crate) struct FastPath {
    client: redis::Client,
    timeout: std::time::Duration,
    connection: Mutex<Option<MultiplexedConnection>>,
}

impl FastPath {
    pub(crate) fn new(client: redis::Client, timeout: std::time::Duration) -> Self {
        FastPath {
            client,
            timeout,
            connection: Mutex::new(None),
        }
    }

    /// Whether the caller runs on a tokio runtime (which drives the connection).
    pub(crate) fn available() -> bool {
        tokio::runtime::Handle::try_current().is_ok()
    }

    fn cached(&self) -> Option<MultiplexedConnection> {
        self.connection
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    async fn connect(&self) -> redis::RedisResult<MultiplexedConnection> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let connection = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        *self.connection.lock().unwrap_or_else(|e| e.into_inner()) = Some(connection.clone());
        Ok(connection)
    }

    /// One script call; like the blocking side, a failure on a kept connection (a
    /// restarted Redis) is retried once on a fresh one.
    async fn call(&self, call: &redis::ScriptInvocation<'_>) -> Result<Reply, Error> {
        let reused = self.cached();
        let retry = reused.is_some();
        let mut connection = match reused {
            Some(connection) => connection,
            None => self.connect().await.map_err(Error::from_redis)?,
        };
        let mut result = call.invoke_async::<redis::Value>(&mut connection).await;
        if result.is_err() && retry {
            *self.connection.lock().unwrap_or_else(|e| e.into_inner()) = None;
            let mut fresh = self.connect().await.map_err(Error::from_redis)?;
            result = call.invoke_async::<redis::Value>(&mut fresh).await;
        }
        match result {
            Ok(value) => Reply::parse(value).ok_or_else(|| {
                Error::Redis(redis::RedisError::from((
                    redis::ErrorKind::Parse,
                    "unexpected script reply",
                )))
            }),
            Err(error) => {
                *self.connection.lock().unwrap_or_else(|e| e.into_inner()) = None;
                Err(Error::from_redis(error))
            }
        }
    }
}

/// A fast acquire's call: `None` means the request must wait in line (or, for a try, that
/// there is no permit) and goes through the semaphore's thread.
pub(crate) type Attempt = Pin<Box<dyn Future<Output = Option<Outcome>> + Send>>;

pub(crate) fn acquire(inner: Arc<Inner>, priority: i64, permits: u32, try_only: bool) -> Attempt {
    let mode = if try_only { "try" } else { "fast" };
    Box::pin(async move { attempt(&inner, priority, permits, mode).await })
}

/// An attempt dropped mid-call finishes as a task of its own, which releases a grant
/// that nobody will take.
pub(crate) fn finish_abandoned(inner: Arc<Inner>, attempt: Attempt) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            if let Some(Outcome::Granted(granted)) = attempt.await {
                let _ = release(inner, granted.lease).await;
            }
        });
    }
}

async fn attempt(inner: &Arc<Inner>, priority: i64, permits: u32, mode: &str) -> Option<Outcome> {
    let mut call = inner.context.invocation(&scripts().acquire);
    call.arg(encode_priority(priority))
        .arg(permits)
        .arg(mode)
        .arg("0");
    let sent = Instant::now();
    let reply = match inner.fast.call(&call).await {
        Ok(reply) => reply,
        Err(error) => return Some(Outcome::Failed(error)),
    };
    // Grants this call made to other waiters of this process (its first step serves the
    // line): the thread hands them out. The new request's own grant is not among them.
    let others: Vec<_> = reply
        .grants
        .iter()
        .filter(|g| g.member != reply.member)
        .cloned()
        .collect();
    if !others.is_empty() {
        inner.send(Command::Grants(others));
    }
    match reply.status.as_str() {
        "granted" => {
            let signal = LeaseSignal::new();
            let lease = Lease {
                member: reply.member,
                permits,
                token: reply.number as u64,
            };
            inner.leases.adopt(&lease, signal.clone(), sent);
            Some(Outcome::Granted(Granted { lease, signal }))
        }
        "busy" => None,
        "closed" => Some(Outcome::Failed(Error::Closed)),
        "too_many" => Some(Outcome::Failed(Error::TooManyPermits {
            requested: permits,
            limit: reply.number as u32,
        })),
        "limit_mismatch" => Some(Outcome::Failed(Error::LimitMismatch {
            requested: inner.limit,
            existing: reply.number as u32,
        })),
        _ => None, // anything unexpected: let the thread's path decide
    }
}

/// Releases on the caller's runtime; the semaphore's thread stops renewing first and
/// takes over if the call fails (or the release is dropped before it completes).
pub(crate) async fn release(inner: Arc<Inner>, lease: Lease) -> Result<(), Error> {
    let fallback = Fallback::new(inner, lease);
    fallback.run().await
}

/// Releases from a permit's `Drop`: as a task of the caller's runtime. If the runtime
/// drops the task unrun (it is shutting down), the release goes to the semaphore's thread.
pub(crate) fn release_in_background(
    runtime: &tokio::runtime::Handle,
    inner: Arc<Inner>,
    lease: Lease,
) {
    let fallback = Fallback::new(inner, lease);
    drop(runtime.spawn(async move {
        let _ = fallback.run().await;
    }));
}

/// A release in progress; unless it completes, its drop hands it to the semaphore's thread.
struct Fallback {
    inner: Arc<Inner>,
    lease: Option<Lease>,
}

impl Fallback {
    fn new(inner: Arc<Inner>, lease: Lease) -> Self {
        inner.leases.forget(&lease.member);
        Fallback {
            inner,
            lease: Some(lease),
        }
    }

    async fn run(mut self) -> Result<(), Error> {
        let mut call = self.inner.context.invocation(&scripts().release);
        self.lease
            .as_ref()
            .expect("set until completed")
            .push_args(&mut call);
        let reply = self.inner.fast.call(&call).await?;
        self.lease = None;
        if !reply.grants.is_empty() {
            self.inner.send(Command::Grants(reply.grants));
        }
        Ok(())
    }
}

impl Drop for Fallback {
    fn drop(&mut self) {
        if let Some(lease) = self.lease.take() {
            self.inner.send(Command::Release { lease, reply: None });
        }
    }
}
