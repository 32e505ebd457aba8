//! The fast path on a tokio runtime (feature `tokio`): the calling task sends an
//! uncontended acquire and every release itself, over an async connection driven by its
//! own runtime, instead of handing them to the semaphore's thread. That saves two thread
//! wake-ups per call, which on a busy machine cost more than the round trip itself.
//!
//! The semaphore's thread still owns everything that must be sequential: re-entering
//! the line, renewals, queueing behind other waiters of the process. A fast acquire
//! queues only a process's first waiter, and only while the process has no place in the
//! line and no other acquire in flight (`line.rs` explains why that keeps the order
//! exact); a fast grant is handed to the thread for renewal, and a fast release tells the
//! thread first.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::command::{Command, Granted, Lease, Outcome};
use crate::error::Error;
use crate::lease_state::{valid_for, LeaseState};
use crate::line::Handoff;
use crate::names::encode_priority;
use crate::scripts::scripts;
use crate::shared::{FastPath, Shared};
use crate::slot::Slot;

/// Whether the caller runs on a tokio runtime (which drives the connection).
pub(crate) fn on_tokio() -> bool {
    tokio::runtime::Handle::try_current().is_ok()
}

/// The handle's fast path, when it can be used here and now.
pub(crate) fn available(shared: &Shared) -> Option<&FastPath> {
    shared.fast.as_ref().filter(|_| on_tokio())
}

/// How a fast acquire ended.
#[derive(Debug)]
pub(crate) enum Fast {
    /// Granted, refused or failed.
    Done(Outcome),
    /// A `try_acquire` found no permit, or a request that may not queue here must go
    /// through the semaphore's thread.
    Busy,
    /// Queued as this process's first waiter: its grant comes through `reply`.
    Queued { id: u64, reply: Arc<Slot<Outcome>> },
}

/// A fast acquire's call, on the caller's runtime.
pub(crate) type Attempt = Pin<Box<dyn Future<Output = Fast> + Send>>;

/// What a fast acquire may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `try_acquire`: granted or busy, never queued.
    Try,
    /// The process has no waiter, no place in the line and no acquire in flight (checked
    /// and counted by `Line::begin_acquire`): granted, or queued as its first waiter.
    Queue,
}

pub(crate) fn acquire(shared: Arc<Shared>, priority: i64, permits: u32, mode: Mode) -> Attempt {
    let deadline = shared.deadline();
    Box::pin(async move { attempt(&shared, priority, permits, mode, deadline).await })
}

/// An attempt dropped mid-call finishes as a task of its own, which gives back a grant
/// that nobody will take and takes a queued waiter out of line.
pub(crate) fn finish_abandoned(shared: Arc<Shared>, attempt: Attempt) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            match attempt.await {
                Fast::Done(Outcome::Granted(granted)) => {
                    let _ = release(shared, granted.lease).await;
                }
                Fast::Queued { id, reply } => {
                    if let Some(Outcome::Granted(granted)) = reply.abandon() {
                        let _ = release(shared.clone(), granted.lease).await;
                    }
                    shared.send(Command::Cancel { id });
                }
                _ => {}
            }
        });
    }
}

async fn attempt(
    shared: &Arc<Shared>,
    priority: i64,
    permits: u32,
    mode: Mode,
    deadline: Instant,
) -> Fast {
    // Counted in flight by `Line::begin_acquire` (queue mode): uncounted however this
    // ends, even if the future is dropped mid-call. Made first, before any way out.
    let mut counted = InFlight {
        shared,
        armed: mode == Mode::Queue,
    };
    let Some(fast) = shared.fast.as_ref() else {
        return Fast::Busy;
    };
    let mut call = fast.acquire.clone();
    call.arg(fast.context.seen_arg())
        .arg(encode_priority(priority))
        .arg(permits)
        .arg(if mode == Mode::Try { "try" } else { "wait" })
        .arg("0");
    let sent = Instant::now();
    let result = fast.link.call(&scripts().acquire, &call, deadline).await;
    let line = &shared.line;
    let reply = match result {
        Ok(reply) => reply,
        Err(error) => return Fast::Done(Outcome::Failed(error)),
    };
    let time = reply.server_time(sent);
    let outcome = match reply.status.as_str() {
        "granted" => {
            let state = Arc::new(LeaseState::new(valid_for(sent, shared.lease)));
            let lease = Lease {
                member: reply.member.clone(),
                permits,
                token: reply.number as u64,
            };
            shared.leases.adopt(&lease, state.clone());
            Fast::Done(Outcome::Granted(Granted { lease, state }))
        }
        "queued" if mode == Mode::Queue => {
            counted.armed = false;
            let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
            let slot = Slot::new();
            let member = reply.member.clone();
            let queued = line.queued(id, member, permits, slot.clone(), &shared.leases);
            hand_over(shared, queued);
            Fast::Queued { id, reply: slot }
        }
        "busy" => Fast::Busy,
        "closed" => Fast::Done(Outcome::Failed(Error::Closed)),
        "too_many" => Fast::Done(Outcome::Failed(Error::TooManyPermits {
            requested: permits,
            limit: reply.number as u32,
        })),
        "limit_mismatch" => Fast::Done(Outcome::Failed(Error::LimitMismatch {
            requested: shared.limit,
            existing: reply.number as u32,
        })),
        other => Fast::Done(Outcome::Failed(Error::Redis(redis::RedisError::from((
            redis::ErrorKind::Parse,
            "unexpected script status",
            other.to_owned(),
        ))))),
    };
    drop(counted);
    // Grants this call made to other waiters of this process (its first step serves the
    // line). The new request's own grant is not among them.
    for grant in reply.grants {
        if grant.member != reply.member {
            hand_over(shared, line.deliver(grant, time, &shared.leases));
        }
    }
    outcome
}

/// An acquire counted in flight: uncounted when dropped, unless its waiter was queued.
struct InFlight<'a> {
    shared: &'a Shared,
    armed: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.armed {
            let shared = self.shared;
            hand_over(shared, shared.line.end_acquire(&shared.leases));
        }
    }
}

/// Hands over what a line operation left; the semaphore's thread gives back unwanted
/// grants and settles the process's place in the line if it must change.
fn hand_over(shared: &Shared, handoff: Handoff) {
    let settle = handoff.settle;
    for lease in handoff.hand_over() {
        shared.send(Command::Release { lease, reply: None });
    }
    if settle {
        shared.send(Command::Settle);
    }
}

/// Releases on the caller's runtime; the semaphore's thread stops renewing first and
/// takes over if the call fails (or the release is dropped before it completes).
pub(crate) async fn release(shared: Arc<Shared>, lease: Lease) -> Result<(), Error> {
    let fallback = Fallback::new(shared, lease);
    fallback.run().await
}

/// Releases from a permit's `Drop`: as a task of the caller's runtime. If the runtime
/// drops the task unrun (it is shutting down), the release goes to the semaphore's thread.
pub(crate) fn release_in_background(
    runtime: &tokio::runtime::Handle,
    shared: Arc<Shared>,
    lease: Lease,
) {
    let fallback = Fallback::new(shared, lease);
    drop(runtime.spawn(async move {
        let _ = fallback.run().await;
    }));
}

/// A release in progress; unless it completes, its drop hands it to the semaphore's thread.
struct Fallback {
    shared: Arc<Shared>,
    lease: Option<Lease>,
}

impl Fallback {
    fn new(shared: Arc<Shared>, lease: Lease) -> Self {
        shared.leases.forget(&lease.member);
        Fallback {
            shared,
            lease: Some(lease),
        }
    }

    async fn run(mut self) -> Result<(), Error> {
        let Some(fast) = self.shared.fast.as_ref() else {
            return Err(Error::Stopped); // never: the fast path is only taken when it exists
        };
        let mut call = fast.release.clone();
        call.arg(fast.context.seen_arg());
        self.lease
            .as_ref()
            .expect("set until completed")
            .push_cmd_args(&mut call);
        let sent = Instant::now();
        let deadline = self.shared.deadline();
        let reply = fast.link.call(&scripts().release, &call, deadline).await?;
        self.lease = None;
        let time = reply.server_time(sent);
        for grant in reply.grants {
            let shared = &self.shared;
            hand_over(shared, shared.line.deliver(grant, time, &shared.leases));
        }
        Ok(())
    }
}

impl Drop for Fallback {
    fn drop(&mut self) {
        if let Some(lease) = self.lease.take() {
            self.shared.send(Command::Release { lease, reply: None });
        }
    }
}
