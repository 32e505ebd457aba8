//! The futures of a handle: `Acquire`, `TryAcquire` and `Close`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::command::{Command, Outcome};
use crate::error::{Error, TryAcquireError};
use crate::permit::RedisPermit;
use crate::shared::Shared;
use crate::slot::Slot;

/// Waits for permits; returned by
/// [`RedisSemaphore::acquire`](crate::RedisSemaphore::acquire) and
/// [`acquire_many`](crate::RedisSemaphore::acquire_many).
///
/// Nothing happens until it is first polled: that is when it takes its global arrival
/// number (its place among equal priorities, across all processes) and, uncontended, its
/// permit, in one round trip.
///
/// # Errors
///
/// Until it is in line, it fails within the I/O timeout
/// ([`Builder::io_timeout`](crate::Builder::io_timeout), plus a few milliseconds) if Redis
/// does not answer; once in line it waits for its turn, and fails if this process cannot
/// reach Redis for a whole lease.
///
/// # Cancellation
///
/// Dropping it at any point loses nothing: a waiter leaves the line (if it was this
/// process's best, the next best takes its place in one call), and a grant that arrives
/// for it anyway is released at once. Any runtime's timeout around it is therefore a
/// correct acquire-with-timeout.
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct Acquire {
    shared: Arc<Shared>,
    permits: u32,
    priority: Option<i64>,
    try_only: bool,
    state: State,
}

enum State {
    Start,
    /// The caller's own call (feature `tokio`): a `try_acquire`, or a process's first
    /// waiter, which may queue itself.
    #[cfg(feature = "tokio")]
    Fast {
        priority: i64,
        attempt: crate::fast::Attempt,
    },
    Waiting {
        id: u64,
        reply: Arc<Slot<Outcome>>,
    },
    Done,
}

impl Acquire {
    pub(crate) fn new(shared: Arc<Shared>, permits: u32, try_only: bool) -> Self {
        Acquire {
            shared,
            permits,
            priority: None,
            try_only,
            state: State::Start,
        }
    }

    /// Sets the priority: smaller values are served first (`0` by default, or the
    /// ambient priority of [`prio_semaphore::with_priority`]), the core crate's rule.
    /// Takes every integer type, like the core crate's `.priority(p)`: values beyond
    /// `i64` saturate (`u64::MAX` is served after every smaller value).
    pub fn priority(mut self, priority: impl prio_semaphore::IntoPriority<i64>) -> Self {
        self.priority = Some(priority.into_priority());
        self
    }

    fn poll_outcome(&mut self, cx: &mut Context<'_>) -> Poll<Outcome> {
        if let State::Start = self.state {
            if self.permits == 0 {
                self.state = State::Done;
                return Poll::Ready(Outcome::Failed(Error::InvalidConfig(
                    "a request must ask for at least one permit".into(),
                )));
            }
            if self.permits > self.shared.limit {
                self.state = State::Done;
                return Poll::Ready(Outcome::Failed(Error::TooManyPermits {
                    requested: self.permits,
                    limit: self.shared.limit,
                }));
            }
            // Read at the first poll, like the core crate's ambient priority.
            let priority = self
                .priority
                .or_else(prio_semaphore::current_priority::<i64>)
                .unwrap_or(0);
            #[cfg(feature = "tokio")]
            if crate::fast::available(&self.shared).is_some() {
                use crate::fast::Mode;
                let mode = if self.try_only {
                    Some(Mode::Try)
                } else if self.shared.line.begin_acquire(true) {
                    Some(Mode::Queue)
                } else {
                    None // other waiters of this process: the thread puts it among them
                };
                if let Some(mode) = mode {
                    let shared = self.shared.clone();
                    let attempt = crate::fast::acquire(shared, priority, self.permits, mode);
                    self.state = State::Fast { priority, attempt };
                }
            }
            if let State::Start = self.state {
                if let Some(done) = self.queue(priority) {
                    return Poll::Ready(done);
                }
            }
        }
        #[cfg(feature = "tokio")]
        if let State::Fast { priority, attempt } = &mut self.state {
            use crate::fast::Fast;
            match std::task::ready!(attempt.as_mut().poll(cx)) {
                Fast::Done(outcome) => {
                    self.state = State::Done;
                    return Poll::Ready(outcome);
                }
                Fast::Busy if self.try_only => {
                    self.state = State::Done;
                    return Poll::Ready(Outcome::Busy);
                }
                Fast::Busy => {
                    let priority = *priority;
                    if let Some(done) = self.queue(priority) {
                        return Poll::Ready(done);
                    }
                }
                Fast::Queued { id, reply } => self.state = State::Waiting { id, reply },
            }
        }
        match &self.state {
            State::Waiting { reply, .. } => {
                let outcome = std::task::ready!(reply.poll_take(cx));
                self.state = State::Done;
                Poll::Ready(outcome)
            }
            State::Done => panic!("`Acquire` polled after it completed"),
            _ => unreachable!("started above"),
        }
    }

    /// Hands the request to the semaphore's thread, which queues it if it must wait.
    fn queue(&mut self, priority: i64) -> Option<Outcome> {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let reply = Slot::new();
        let sent = self.shared.send(Command::Acquire {
            id,
            priority,
            permits: self.permits,
            try_only: self.try_only,
            deadline: self.shared.deadline(),
            reply: reply.clone(),
        });
        if !sent {
            self.state = State::Done;
            return Some(Outcome::Failed(Error::Stopped));
        }
        self.state = State::Waiting { id, reply };
        None
    }
}

impl Future for Acquire {
    type Output = Result<RedisPermit, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let outcome = std::task::ready!(this.poll_outcome(cx));
        Poll::Ready(match outcome {
            Outcome::Granted(granted) => Ok(RedisPermit::new(this.shared.clone(), granted)),
            Outcome::Busy => Err(Error::Redis(redis::RedisError::from((
                redis::ErrorKind::Parse,
                "a waiting acquire was answered as a try",
            )))),
            Outcome::Failed(error) => Err(error),
        })
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        #[cfg(feature = "tokio")]
        if let State::Fast { .. } = &self.state {
            if let State::Fast { attempt, .. } = std::mem::replace(&mut self.state, State::Done) {
                crate::fast::finish_abandoned(self.shared.clone(), attempt);
            }
            return;
        }
        if let State::Waiting { id, reply } = &self.state {
            match reply.abandon() {
                // Granted but never taken: the permit's drop releases it.
                Some(Outcome::Granted(granted)) => {
                    drop(RedisPermit::new(self.shared.clone(), granted));
                }
                Some(_) => {}
                None => {
                    self.shared.send(Command::Cancel { id: *id });
                }
            }
        }
    }
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            State::Start => f.write_str("Start"),
            #[cfg(feature = "tokio")]
            State::Fast { priority, .. } => {
                f.debug_struct("Fast").field("priority", priority).finish()
            }
            State::Waiting { id, .. } => f.debug_struct("Waiting").field("id", id).finish(),
            State::Done => f.write_str("Done"),
        }
    }
}

/// Takes permits only if free and nobody waits; returned by
/// [`RedisSemaphore::try_acquire`](crate::RedisSemaphore::try_acquire). One round trip.
/// It never waits in line, so it has no priority (as in the core crate); it fails within
/// the I/O timeout if Redis does not answer.
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct TryAcquire {
    acquire: Acquire,
}

impl TryAcquire {
    pub(crate) fn new(acquire: Acquire) -> Self {
        TryAcquire { acquire }
    }
}

impl Future for TryAcquire {
    type Output = Result<RedisPermit, TryAcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let outcome = std::task::ready!(this.acquire.poll_outcome(cx));
        Poll::Ready(match outcome {
            Outcome::Granted(granted) => Ok(RedisPermit::new(this.acquire.shared.clone(), granted)),
            Outcome::Busy => Err(TryAcquireError::NoPermits),
            Outcome::Failed(error) => Err(TryAcquireError::from_error(error)),
        })
    }
}

/// Closes the semaphore; returned by [`RedisSemaphore::close`](crate::RedisSemaphore::close).
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct Close {
    reply: Arc<Slot<Result<(), Error>>>,
    sent: bool,
}

impl Close {
    pub(crate) fn new(reply: Arc<Slot<Result<(), Error>>>, sent: bool) -> Self {
        Close { reply, sent }
    }
}

impl Future for Close {
    type Output = Result<(), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if !self.sent {
            return Poll::Ready(Err(Error::Stopped));
        }
        self.reply.poll_take(cx)
    }
}
