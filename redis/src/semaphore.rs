//! `RedisSemaphore`, its builder and its shared handle.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::time::Duration;

use crate::acquire::{Acquire, Close, Connect, TryAcquire};
use crate::agent::{Agent, Command};
use crate::connection::Connection;
use crate::error::Error;
use crate::leases::Leases;
use crate::listener::Listener;
use crate::names::{check_name, new_client_id, Keys};
use crate::scripts::Context;
use crate::slot::Slot;

/// The default lease: long enough for a paused process or a slow network to renew in
/// time, short enough that a crashed holder's permits come back soon.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

/// The default bound on connecting to Redis and on each reply.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(2);

/// The shortest lease accepted: renewals run every third of it.
pub const MIN_LEASE: Duration = Duration::from_millis(300);

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
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) commands: Sender<Command>,
    pub(crate) name: String,
    pub(crate) limit: u32,
    pub(crate) lease: Duration,
    pub(crate) next_id: AtomicU64,
    /// The scripts' keys and common arguments (for calls made by the fast path).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) context: Context,
    #[cfg(feature = "tokio")]
    pub(crate) fast: crate::fast::FastPath,
    /// Set when a fast attempt found the line busy: later acquires go straight to the
    /// line (no doomed extra call) until one is granted on arrival again.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) contended: Arc<AtomicBool>,
    /// The leases held through this handle (renewed by its thread).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) leases: Arc<Leases>,
    stop: Arc<AtomicBool>,
}

impl Inner {
    /// Sends a command to the semaphore's thread (false if it is gone).
    pub(crate) fn send(&self, command: Command) -> bool {
        self.commands.send(command).is_ok()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.commands.send(Command::Shutdown);
    }
}

impl RedisSemaphore {
    /// Starts configuring a semaphore of `permits` permits called `name` on the Redis at
    /// `url` (`redis://`, or `rediss://` for TLS with the `tls` feature; user and
    /// password go in the URL: `redis://user:password@host:port/db`).
    pub fn builder(url: impl Into<String>, name: impl Into<String>, permits: u32) -> Builder {
        Builder {
            url: url.into(),
            name: name.into(),
            permits,
            lease: DEFAULT_LEASE,
            io_timeout: DEFAULT_IO_TIMEOUT,
            #[cfg(feature = "tls")]
            root_certificate: None,
        }
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
        Acquire::new(self.inner.clone(), n, false)
    }

    /// Takes one permit if it is free and nobody is waiting (no barging), in one round
    /// trip; never waits in line.
    pub fn try_acquire(&self) -> TryAcquire {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if they are free and nobody is waiting.
    pub fn try_acquire_many(&self, n: u32) -> TryAcquire {
        TryAcquire::new(Acquire::new(self.inner.clone(), n, true))
    }

    /// Closes the semaphore for every process: all waiting and future acquires fail with
    /// [`Error::Closed`]; permits already held stay valid until released or expired.
    pub fn close(&self) -> Close {
        let reply = Slot::new();
        let sent = self.inner.send(Command::Close {
            reply: reply.clone(),
        });
        Close::new(reply, sent)
    }

    /// The semaphore's name (its Redis hash tag).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The global limit: how many permits all processes together may hold.
    pub fn limit(&self) -> u32 {
        self.inner.limit
    }

    /// The lease time of every permit granted through this handle.
    pub fn lease(&self) -> Duration {
        self.inner.lease
    }
}

/// Configures and connects a [`RedisSemaphore`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `connect` is awaited"]
pub struct Builder {
    url: String,
    name: String,
    permits: u32,
    lease: Duration,
    io_timeout: Duration,
    #[cfg(feature = "tls")]
    root_certificate: Option<Vec<u8>>,
}

impl Builder {
    /// The lease of each permit (default [`DEFAULT_LEASE`]). Renewed every third of it
    /// while the permit lives; a holder that dies gives its permits back within it, and a
    /// waiter that dies leaves the line within it. At least [`MIN_LEASE`].
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The bound on connecting and on each reply (default [`DEFAULT_IO_TIMEOUT`]): an
    /// acquire against an unreachable Redis fails with [`Error::Unreachable`] after about
    /// this long, never hangs.
    pub fn io_timeout(mut self, timeout: Duration) -> Self {
        self.io_timeout = timeout;
        self
    }

    /// Trusts this PEM root certificate (instead of the system's) for `rediss://` URLs.
    #[cfg(feature = "tls")]
    pub fn tls_root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificate = Some(pem.into());
        self
    }

    fn client(&self) -> Result<redis::Client, Error> {
        #[cfg(feature = "tls")]
        {
            // rustls needs a process-wide crypto provider; `ring` is the one this crate
            // builds with. Installing twice is harmless (the first one stays).
            let _ = rustls::crypto::ring::default_provider().install_default();
            if let Some(root) = &self.root_certificate {
                let certificates = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root.clone()),
                };
                return redis::Client::build_with_tls(self.url.as_str(), certificates)
                    .map_err(|e| Error::InvalidConfig(format!("bad Redis URL: {e}")));
            }
        }
        redis::Client::open(self.url.as_str())
            .map_err(|e| Error::InvalidConfig(format!("bad Redis URL: {e}")))
    }

    /// Connects (bounded by the I/O timeout), creates the semaphore in Redis if it does
    /// not exist, and checks its limit. Runs on the semaphore's own threads, so the
    /// returned future works on any executor.
    ///
    /// A brand-new semaphore grants nothing during its first lease: to Redis a new
    /// semaphore looks exactly like one whose data was lost, and holders of lost leases
    /// must find out before anyone else is granted (see the crate docs).
    pub fn connect(self) -> Connect {
        let reply = Slot::new();
        let started = self.start(reply.clone());
        Connect::new(reply, started.err())
    }

    fn start(self, reply: Arc<Slot<Result<RedisSemaphore, Error>>>) -> Result<(), Error> {
        check_name(&self.name).map_err(Error::InvalidConfig)?;
        if self.permits == 0 || self.permits as usize > prio_semaphore::MAX_PERMITS {
            return Err(Error::InvalidConfig(format!(
                "a semaphore needs 1..={} permits, not {}",
                prio_semaphore::MAX_PERMITS,
                self.permits
            )));
        }
        if self.lease < MIN_LEASE {
            return Err(Error::InvalidConfig(format!(
                "the lease {:?} is shorter than the minimum {MIN_LEASE:?}",
                self.lease
            )));
        }
        if self.io_timeout.is_zero() {
            return Err(Error::InvalidConfig("the I/O timeout is zero".into()));
        }
        let client = self.client()?;
        let keys = Keys::new(&self.name);
        let client_id = new_client_id();
        let context = Context {
            keys: keys.clone(),
            client: client_id.clone(),
            limit: self.permits,
            lease_ms: self.lease.as_millis() as u64,
            alive_ms: self.lease.as_millis() as u64,
        };
        let (commands, receiver) = mpsc::channel();
        let leases = Arc::new(Leases::default());
        let contended = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let listener = Listener {
            client: client.clone(),
            channel: keys.channel.clone(),
            client_id,
            timeout: self.io_timeout,
            commands: commands.clone(),
            stop: stop.clone(),
        };
        let inner = Inner {
            commands,
            name: self.name.clone(),
            limit: self.permits,
            lease: self.lease,
            next_id: AtomicU64::new(0),
            context: context.clone(),
            leases: leases.clone(),
            contended: contended.clone(),
            #[cfg(feature = "tokio")]
            fast: crate::fast::FastPath::new(client.clone(), self.io_timeout),
            stop,
        };
        let connection = Connection::new(client, self.io_timeout);
        let lease = self.lease;
        let io_timeout = self.io_timeout;
        std::thread::Builder::new()
            .name(format!("prio-semaphore-redis {}", self.name))
            .spawn(move || {
                let mut agent = Agent::new(context, connection, receiver, leases, lease);
                agent.share_contended(contended);
                if let Err(error) = agent.start() {
                    let _ = reply.fill(Err(error));
                    return;
                }
                // Subscribed before the first acquire, so no early grant message is missed.
                let (subscribed, first) = mpsc::sync_channel(1);
                let spawned = std::thread::Builder::new()
                    .name("prio-semaphore-redis pub/sub".into())
                    .spawn(move || listener.run(subscribed));
                if spawned.is_err() {
                    let _ = reply.fill(Err(Error::Stopped));
                    return;
                }
                match first.recv_timeout(io_timeout * 2) {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => {
                        let _ = reply.fill(Err(Error::from_redis(error)));
                        return;
                    }
                    Err(_) => {
                        let _ = reply.fill(Err(Error::Stopped));
                        return;
                    }
                }
                let semaphore = RedisSemaphore {
                    inner: Arc::new(inner),
                };
                if reply.fill(Ok(semaphore)).is_ok() {
                    agent.run();
                }
            })
            .map_err(|_| Error::Stopped)?;
        Ok(())
    }
}
