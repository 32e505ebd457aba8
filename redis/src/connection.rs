//! One blocking Redis connection with bounded connect and reply times, reconnecting on
//! the next call after any failure.

use std::time::Duration;

use redis::Value;

use crate::error::Error;
use crate::scripts::{scripts, Reply};

/// The command connection of a semaphore's thread.
pub(crate) struct Connection {
    client: redis::Client,
    connection: Option<redis::Connection>,
    timeout: Duration,
}

impl Connection {
    pub(crate) fn new(client: redis::Client, timeout: Duration) -> Self {
        Self {
            client,
            connection: None,
            timeout,
        }
    }

    /// Connects if needed: at most `timeout` to connect and authenticate, then the
    /// scripts are loaded so that every later call is a single `EVALSHA`.
    fn connection(&mut self) -> redis::RedisResult<&mut redis::Connection> {
        if self.connection.is_none() {
            let mut connection = connect(&self.client, self.timeout)?;
            let all = scripts();
            for script in [
                &all.acquire,
                &all.enter,
                &all.release,
                &all.sync,
                &all.close,
            ] {
                script.prepare_invoke().load(&mut connection)?;
            }
            self.connection = Some(connection);
        }
        Ok(self.connection.as_mut().expect("connected above"))
    }

    /// Runs one script call. A failure that may have left the connection mid-reply drops
    /// it, so a late reply can never be read as the answer to a later call. A call that
    /// fails on a connection kept from before (Redis restarted, an idle link cut) is sent
    /// once more on a fresh one: a first attempt that did reach Redis can at worst have
    /// made a grant nobody renews, which expires; Redis never grants twice by itself.
    pub(crate) fn call(&mut self, call: &redis::ScriptInvocation<'_>) -> Result<Reply, Error> {
        let reused = self.connection.is_some();
        match self.call_once(call) {
            Err(error) if reused && self.connection.is_none() => {
                let _ = error;
                self.call_once(call)
            }
            result => result,
        }
    }

    fn call_once(&mut self, call: &redis::ScriptInvocation<'_>) -> Result<Reply, Error> {
        let result = match self.connection() {
            Ok(connection) => call.invoke::<Value>(connection),
            Err(error) => Err(error),
        };
        match result {
            Ok(value) => Reply::parse(value).ok_or_else(|| {
                Error::Redis(redis::RedisError::from((
                    redis::ErrorKind::Parse,
                    "unexpected script reply",
                )))
            }),
            Err(error) => {
                if error.is_io_error()
                    || error.is_timeout()
                    || error.is_connection_dropped()
                    || error.is_unrecoverable_error()
                {
                    self.connection = None;
                }
                Err(Error::from_redis(error))
            }
        }
    }
}

/// A connection whose connect, writes and reads each give up after `timeout`.
pub(crate) fn connect(
    client: &redis::Client,
    timeout: Duration,
) -> redis::RedisResult<redis::Connection> {
    let connection = client.get_connection_with_timeout(timeout)?;
    connection.set_read_timeout(Some(timeout))?;
    connection.set_write_timeout(Some(timeout))?;
    Ok(connection)
}
