//! The async connection of the fast path (feature `tokio`): one multiplexed connection per
//! handle, made on first use, every call bounded by a deadline. It speaks RESP3 and hears
//! this process's grants itself (`push.rs`); a server without RESP3 (before Redis 6) gets
//! a plain RESP2 connection, and the pub/sub thread keeps hearing them.
//!
//! The deadline is kept by this crate's own timer, not by tokio's: the fast path runs on
//! any tokio runtime, including one built without timers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ProtocolVersion};

use crate::error::Error;
use crate::push::{GrantPush, Hearer};
use crate::scripts::Reply;
use crate::timer;

/// The async connection of one semaphore handle.
#[derive(Debug)]
pub(crate) struct FastLink {
    client: redis::Client,
    /// The same server in RESP3, for a connection that hears grants.
    resp3: redis::Client,
    hearer: Arc<Hearer>,
    /// Set once the server refused RESP3: plain connections from then on.
    resp2_only: AtomicBool,
    io_timeout: Duration,
    connection: Mutex<Option<MultiplexedConnection>>,
}

impl FastLink {
    pub(crate) fn new(client: redis::Client, hearer: Hearer, io_timeout: Duration) -> Self {
        let info = client.get_connection_info().clone();
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        // Same address, TLS settings and credentials: only the protocol differs.
        let resp3 = redis::Client::open(info.set_redis_settings(settings))
            .expect("a client's own connection info is valid");
        FastLink {
            client,
            resp3,
            hearer: Arc::new(hearer),
            resp2_only: AtomicBool::new(false),
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
        let connection = if self.resp2_only.load(Ordering::Relaxed) {
            self.connect_plain(deadline).await?
        } else {
            match self.connect_hearing(deadline).await {
                Ok(connection) => connection,
                // Refused by the server, not lost on the way: no RESP3 there.
                Err(Error::Redis(_)) => {
                    self.resp2_only.store(true, Ordering::Relaxed);
                    self.connect_plain(deadline).await?
                }
                Err(error) => return Err(error),
            }
        };
        self.set_cached(Some(connection.clone()));
        Ok(connection)
    }

    fn config() -> AsyncConnectionConfig {
        // No timeouts of redis-rs's own: they would need tokio's timer.
        AsyncConnectionConfig::new()
            .set_connection_timeout(None)
            .set_response_timeout(None)
    }

    fn timed_out(&self) -> Error {
        Error::TimedOut {
            after: self.io_timeout,
        }
    }

    async fn connect_plain(&self, deadline: Instant) -> Result<MultiplexedConnection, Error> {
        let config = Self::config();
        let connecting = self
            .client
            .get_multiplexed_async_connection_with_config(&config);
        timer::timeout(deadline, connecting)
            .await
            .ok_or_else(|| self.timed_out())?
            .map_err(|e| Error::from_redis_within(e, self.io_timeout))
    }

    /// A RESP3 connection subscribed to this process's channel: grants are heard on it
    /// from the moment the subscription is confirmed.
    async fn connect_hearing(&self, deadline: Instant) -> Result<MultiplexedConnection, Error> {
        let (push, subscribed) = GrantPush::new(self.hearer.clone());
        let config = Self::config().set_push_sender(push);
        let own = self.hearer.own_channel();
        let connecting = async {
            let mut connection = self
                .resp3
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            connection.subscribe(own.as_str()).await?;
            Ok::<_, redis::RedisError>(connection)
        };
        let connection = timer::timeout(deadline, connecting)
            .await
            .ok_or_else(|| self.timed_out())?
            .map_err(|e| Error::from_redis_within(e, self.io_timeout))?;
        subscribed.confirm();
        Ok(connection)
    }

    /// One call of `script` (`call` is its `EVALSHA`), given up at `deadline`. Like the
    /// blocking side, a call that fails at once on a kept connection (a restarted Redis)
    /// is sent once more on a fresh one; one that timed out is not.
    pub(crate) async fn call(
        &self,
        script: &redis::Script,
        call: &redis::Cmd,
        deadline: Instant,
    ) -> Result<Reply, Error> {
        let reused = self.cached();
        let retry = reused.is_some();
        let mut connection = match reused {
            Some(connection) => connection,
            None => self.connect(deadline).await?,
        };
        let mut result = self
            .call_once(&mut connection, script, call, deadline)
            .await;
        if let Err(error) = &result {
            self.set_cached(None);
            if retry && !error.is_timeout() {
                let mut fresh = self.connect(deadline).await?;
                result = self.call_once(&mut fresh, script, call, deadline).await;
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
        script: &redis::Script,
        call: &redis::Cmd,
        deadline: Instant,
    ) -> Result<Reply, Error> {
        let value = timer::timeout(deadline, eval(connection, script, call))
            .await
            .ok_or_else(|| self.timed_out())?
            .map_err(|e| Error::from_redis_within(e, self.io_timeout))?;
        Reply::parse(value).ok_or_else(|| {
            Error::Redis(redis::RedisError::from((
                redis::ErrorKind::Parse,
                "unexpected script reply",
            )))
        })
    }
}

/// `call`, the `EVALSHA` of `script`; after a `NOSCRIPT` (a restarted or flushed Redis) the
/// script is loaded and the call sent once more, as `ScriptInvocation::invoke_async` does.
async fn eval(
    connection: &mut MultiplexedConnection,
    script: &redis::Script,
    call: &redis::Cmd,
) -> redis::RedisResult<redis::Value> {
    match call.query_async(connection).await {
        Err(error)
            if error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
        {
            script.load_async(connection).await?;
            call.query_async(connection).await
        }
        other => other,
    }
}
