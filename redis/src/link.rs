//! The semaphore thread's blocking connection to Redis: one server or a cluster, every
//! call bounded by a deadline, reconnecting on the next call after a failure.

use std::time::{Duration, Instant};

use redis::Value;

use crate::error::Error;
use crate::scripts::Reply;
use crate::topology::{self, Topology, CLUSTER_ATTEMPTS};

enum Connection {
    Single(redis::Connection),
    Cluster(Box<redis::cluster::ClusterConnection>),
}

/// The command connection of a semaphore's thread.
pub(crate) struct Link {
    topology: Topology,
    connection: Option<Connection>,
    io_timeout: Duration,
}

impl Link {
    /// A link to `topology`; `opened` is a connection to its single server, if one is
    /// already open.
    pub(crate) fn new(
        topology: Topology,
        opened: Option<redis::Connection>,
        io_timeout: Duration,
    ) -> Self {
        Link {
            topology,
            connection: opened.map(Connection::Single),
            io_timeout,
        }
    }

    /// Runs one script call, giving up at `deadline` with [`Error::TimedOut`].
    ///
    /// A failure that may have left the connection mid-reply drops it, so a late reply
    /// can never be read as the answer to a later call. A call that fails at once on a
    /// connection kept from before (Redis restarted, an idle link cut) is sent once more
    /// on a fresh one if time is left: a first attempt that did reach Redis can at worst
    /// have made a grant nobody renews, which expires; Redis never grants twice by itself.
    /// A call that timed out is not sent again: its budget is spent.
    pub(crate) fn call(
        &mut self,
        call: &redis::ScriptInvocation<'_>,
        deadline: Instant,
    ) -> Result<Reply, Error> {
        let reused = self.connection.is_some();
        match self.call_once(call, deadline) {
            Err(error) if reused && self.connection.is_none() && !error.is_timeout() => {
                self.call_once(call, deadline)
            }
            result => result,
        }
    }

    fn call_once(
        &mut self,
        call: &redis::ScriptInvocation<'_>,
        deadline: Instant,
    ) -> Result<Reply, Error> {
        let io_timeout = self.io_timeout;
        let result = invoke(self.connected(deadline)?, call, deadline);
        let value = match result {
            Ok(value) => value,
            Err(error) => {
                // A connection that failed mid-call is never reused.
                if error.is_io_error()
                    || error.is_timeout()
                    || error.is_connection_dropped()
                    || error.is_unrecoverable_error()
                {
                    self.connection = None;
                }
                return Err(Error::from_redis_within(error, io_timeout));
            }
        };
        if Instant::now() > deadline {
            // The answer came, but after the caller's budget: the caller has given up.
            return Err(Error::TimedOut { after: io_timeout });
        }
        Reply::parse(value).ok_or_else(|| {
            Error::Redis(redis::RedisError::from((
                redis::ErrorKind::Parse,
                "unexpected script reply",
            )))
        })
    }

    /// The connection, made if needed within the deadline.
    fn connected(&mut self, deadline: Instant) -> Result<&mut Connection, Error> {
        if self.connection.is_none() {
            let io_timeout = self.io_timeout;
            let connection = match &self.topology {
                Topology::Single(client) => {
                    Connection::Single(topology::connect(client, deadline, io_timeout)?)
                }
                Topology::Cluster { client, .. } => {
                    topology::remaining(deadline, io_timeout)?;
                    let connection = client
                        .get_connection()
                        .map_err(|e| Error::from_redis_within(e, io_timeout))?;
                    Connection::Cluster(Box::new(connection))
                }
            };
            self.connection = Some(connection);
        }
        Ok(self.connection.as_mut().expect("connected above"))
    }
}

/// Sends one call on `connection`, its timeouts set to what is left until `deadline`.
fn invoke(
    connection: &mut Connection,
    call: &redis::ScriptInvocation<'_>,
    deadline: Instant,
) -> redis::RedisResult<Value> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into());
    }
    match connection {
        Connection::Single(connection) => {
            connection.set_read_timeout(Some(remaining))?;
            connection.set_write_timeout(Some(remaining))?;
            call.invoke(connection)
        }
        Connection::Cluster(connection) => {
            // The cluster client's attempts (redirects, retries) share the budget.
            let attempt = (remaining / CLUSTER_ATTEMPTS).max(Duration::from_millis(1));
            connection.set_read_timeout(Some(attempt))?;
            connection.set_write_timeout(Some(attempt))?;
            call.invoke(connection.as_mut())
        }
    }
}
