//! The async connection of the fast path (feature `tokio`): one multiplexed connection per
//! handle, made on first use, every call bounded by a deadline.
//!
//! The deadline is kept by this crate's own timer, not by tokio's: the fast path runs on
//! any tokio runtime, including one built without timers.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;

use crate::error::Error;
use crate::scripts::Reply;
use crate::timer;

/// The async connection of one semaphore handle.
#[derive(Debug)]
pub(crate) struct FastLink {
    client: redis::Client,
    io_timeout: Duration,
    connection: Mutex<Option<MultiplexedConnection>>,
}

impl FastLink {
    pub(crate) fn new(client: redis::Client, io_timeout: Duration) -> Self {
        FastLink {
            client,
            io_timeout,
            connection: Mutex::new(None),
        }
    }

    fn cached(&self) -> Option<MultiplexedConnection> {
        self.connection
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_cached(&self, connection: Option<MultiplexedConnection>) {
        *self.connection.lock().unwrap_or_else(|e| e.into_inner()) = connection;
    }

    async fn connect(&self, deadline: Instant) -> Result<MultiplexedConnection, Error> {
        // No timeouts of redis-rs's own: they would need tokio's timer.
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(None)
            .set_response_timeout(None);
        let connecting = self
            .client
            .get_multiplexed_async_connection_with_config(&config);
        let connection = timer::timeout(deadline, connecting)
            .await
            .ok_or(Error::TimedOut {
                after: self.io_timeout,
            })?
            .map_err(|e| Error::from_redis_within(e, self.io_timeout))?;
        self.set_cached(Some(connection.clone()));
        Ok(connection)
    }

    /// One script call, given up at `deadline`. Like the blocking side, a call that fails
    /// at once on a kept connection (a restarted Redis) is sent once more on a fresh one;
    /// one that timed out is not.
    pub(crate) async fn call(
        &self,
        call: &redis::ScriptInvocation<'_>,
        deadline: Instant,
    ) -> Result<Reply, Error> {
        let reused = self.cached();
        let retry = reused.is_some();
        let mut connection = match reused {
            Some(connection) => connection,
            None => self.connect(deadline).await?,
        };
        let mut result = self.call_once(&mut connection, call, deadline).await;
        if let Err(error) = &result {
            self.set_cached(None);
            if retry && !error.is_timeout() {
                let mut fresh = self.connect(deadline).await?;
                result = self.call_once(&mut fresh, call, deadline).await;
                if result.is_err() {
                    self.set_cached(None);
                }
            }
        }
        result
    }

    async fn call_once(
        &self,
        connection: &mut MultiplexedConnection,
        call: &redis::ScriptInvocation<'_>,
        deadline: Instant,
    ) -> Result<Reply, Error> {
        let value = timer::timeout(deadline, call.invoke_async::<redis::Value>(connection))
            .await
            .ok_or(Error::TimedOut {
                after: self.io_timeout,
            })?
            .map_err(|e| Error::from_redis_within(e, self.io_timeout))?;
        Reply::parse(value).ok_or_else(|| {
            Error::Redis(redis::RedisError::from((
                redis::ErrorKind::Parse,
                "unexpected script reply",
            )))
        })
    }
}
