//! `Builder`: checks a configuration, connects, and starts a handle's threads.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::agent::{Agent, Settings};
use crate::command::Command;
use crate::error::Error;
use crate::leases::Leases;
use crate::line::Line;
use crate::link::Link;
use crate::listener::{Hearing, Listener};
use crate::names::{check_name, new_client_id, Keys};
use crate::scripts::Context as ScriptContext;
use crate::semaphore::RedisSemaphore;
use crate::shared::Shared;
use crate::slot::Slot;
use crate::topology::{self, Topology};

/// The default lease: long enough for a paused process or a slow network to renew in
/// time, short enough that a crashed holder's permits come back soon.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

/// The default bound on connecting to Redis and on each operation.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(2);

/// The shortest lease accepted: renewals run every third of it.
pub const MIN_LEASE: Duration = Duration::from_millis(300);

/// Configures and connects a [`RedisSemaphore`]; made by [`RedisSemaphore::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `connect` is awaited"]
pub struct Builder {
    url: String,
    name: String,
    permits: u32,
    lease: Duration,
    io_timeout: Duration,
    root_certificate: Option<Vec<u8>>,
}

impl Builder {
    pub(crate) fn new(url: String, name: String, permits: u32) -> Self {
        Builder {
            url,
            name,
            permits,
            lease: DEFAULT_LEASE,
            io_timeout: DEFAULT_IO_TIMEOUT,
            root_certificate: None,
        }
    }

    /// The lease of each permit (default [`DEFAULT_LEASE`]). Renewed every third of it
    /// while the permit lives; a holder that dies gives its permits back within it, and a
    /// waiter that dies leaves the line within it. At least [`MIN_LEASE`]. Every process
    /// of one semaphore should use the same lease (see the crate docs, "Failure modes").
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The bound on connecting and on each operation (default [`DEFAULT_IO_TIMEOUT`]):
    /// `connect`, an acquire that is not yet in line, a release or a close against a Redis
    /// that does not answer fails with [`Error::TimedOut`] after this long (plus a few
    /// milliseconds of local work), never hangs.
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

    /// Connects (within the I/O timeout), creates the semaphore in Redis if it does not
    /// exist, and checks its limit. The URL may name one server or any node of a Redis
    /// Cluster. Runs on the semaphore's own threads, so the returned future works on any
    /// executor.
    ///
    /// A new semaphore grants at once, except on a server that started less than a lease
    /// ago: there it waits until one lease after the server's start, because to Redis it
    /// looks like a semaphore whose data a restart just lost, and holders of lost leases
    /// must find out before anyone else is granted (see the crate docs).
    pub fn connect(self) -> Connect {
        let reply = Slot::new();
        let early = self.check().and_then(|()| self.spawn(reply.clone())).err();
        Connect { reply, early }
    }

    /// Refuses what can never work, before any thread starts.
    fn check(&self) -> Result<(), Error> {
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
        Ok(())
    }

    /// Starts the semaphore's thread, which connects and answers on `reply`.
    fn spawn(&self, reply: Arc<Slot<Result<RedisSemaphore, Error>>>) -> Result<(), Error> {
        let deadline = Instant::now() + self.io_timeout;
        let client = topology::client(&self.url, self.root_certificate.as_deref())?;
        let builder = self.clone();
        std::thread::Builder::new()
            .name(format!("prio-semaphore-redis {}", self.name))
            .spawn(move || match builder.start(client, deadline) {
                Ok((semaphore, agent)) => {
                    if reply.fill(Ok(semaphore)).is_ok() {
                        agent.run();
                    }
                }
                Err(error) => {
                    let _ = reply.fill(Err(error));
                }
            })
            .map(drop)
            .map_err(|_| Error::Stopped)
    }

    /// On the semaphore's thread: finds the topology, starts the pub/sub thread, makes
    /// the first call, and waits for the subscription, all by `deadline`.
    fn start(
        self,
        client: redis::Client,
        deadline: Instant,
    ) -> Result<(RedisSemaphore, Agent), Error> {
        let (sender, receiver) = mpsc::channel();
        let (topology, opened) = topology::discover(
            &client,
            self.root_certificate.as_deref(),
            deadline,
            self.io_timeout,
        )?;
        let keys = Keys::new(&self.name);
        let context = ScriptContext {
            keys: keys.clone(),
            client: new_client_id(),
            limit: self.permits,
            lease_ms: self.lease.as_millis() as u64,
            seen: Arc::new(AtomicBool::new(false)),
        };
        let shared = Arc::new(self.shared(&topology, &client, context.clone(), sender));
        let subscribed = self.start_listener(&topology, &client, &keys, &context, &shared)?;
        let settings = Settings {
            context,
            lease: self.lease,
            io_timeout: self.io_timeout,
            leases: shared.leases.clone(),
            line: shared.line.clone(),
        };
        let mut agent = Agent::new(
            settings,
            Link::new(topology, opened, self.io_timeout),
            receiver,
        );
        agent.start(deadline)?;
        let left = deadline.saturating_duration_since(Instant::now());
        match subscribed.recv_timeout(left) {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(error),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(Error::TimedOut {
                    after: self.io_timeout,
                })
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err(Error::Stopped),
        }
        Ok((RedisSemaphore { shared }, agent))
    }

    fn shared(
        &self,
        topology: &Topology,
        client: &redis::Client,
        context: ScriptContext,
        commands: mpsc::Sender<Command>,
    ) -> Shared {
        #[cfg(not(feature = "tokio"))]
        let _ = (topology, client, context);
        let leases = Arc::new(Leases::default());
        let line = Arc::new(Line::default());
        let hearing = Arc::new(Hearing::default());
        Shared {
            name: self.name.clone(),
            limit: self.permits,
            lease: self.lease,
            io_timeout: self.io_timeout,
            next_id: AtomicU64::new(0),
            #[cfg(feature = "tokio")]
            fast: match topology {
                Topology::Single(_) => Some(crate::shared::FastPath {
                    link: crate::fast_link::FastLink::new(
                        client.clone(),
                        crate::push::Hearer {
                            channel: context.keys.channel.clone(),
                            client_id: context.client.clone(),
                            commands: commands.clone(),
                            line: line.clone(),
                            leases: leases.clone(),
                            hearing: hearing.clone(),
                        },
                        self.io_timeout,
                    ),
                    acquire: context.command_prefix(&crate::scripts::scripts().acquire),
                    release: context.command_prefix(&crate::scripts::scripts().release),
                    context,
                }),
                Topology::Cluster { .. } => None,
            },
            commands,
            leases,
            line,
            hearing,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Starts the pub/sub thread; its first subscription is reported on the receiver
    /// (subscribed before the first acquire, so no early grant message is missed).
    fn start_listener(
        &self,
        topology: &Topology,
        client: &redis::Client,
        keys: &Keys,
        context: &ScriptContext,
        shared: &Shared,
    ) -> Result<Receiver<Result<(), Error>>, Error> {
        let listener = Listener {
            nodes: topology.pubsub_nodes(client),
            channel: keys.channel.clone(),
            client_id: context.client.clone(),
            io_timeout: self.io_timeout,
            commands: shared.commands.clone(),
            line: shared.line.clone(),
            leases: shared.leases.clone(),
            stop: shared.stop.clone(),
            hearing: shared.hearing.clone(),
        };
        let (subscribed, first) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("prio-semaphore-redis pub/sub".into())
            .spawn(move || listener.run(subscribed))
            .map_err(|_| Error::Stopped)?;
        Ok(first)
    }
}

/// Connects a semaphore; returned by [`Builder::connect`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct Connect {
    reply: Arc<Slot<Result<RedisSemaphore, Error>>>,
    early: Option<Error>,
}

impl Future for Connect {
    type Output = Result<RedisSemaphore, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(error) = this.early.take() {
            return Poll::Ready(Err(error));
        }
        this.reply.poll_take(cx)
    }
}
