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
use std::sync::Arc;
use std::time::Instant;

use crate::command::{Command, Granted, Lease, Outcome};
use crate::error::Error;
use crate::lease_state::{valid_for, LeaseState};
use crate::names::encode_priority;
use crate::scripts::scripts;
use crate::shared::{FastPath, Shared};

/// Whether the caller runs on a tokio runtime (which drives the connection).
pub(crate) fn on_tokio() -> bool {
    tokio::runtime::Handle::try_current().is_ok()
}

/// The handle's fast path, when it can be used here and now.
pub(crate) fn available(shared: &Shared) -> Option<&FastPath> {
    shared.fast.as_ref().filter(|_| on_tokio())
}

/// A fast acquire's call: `None` means the request must wait in line (or, for a try, that
/// there is no permit) and goes through the semaphore's thread.
pub(crate) type Attempt = Pin<Box<dyn Future<Output = Option<Outcome>> + Send>>;

pub(crate) fn acquire(shared: Arc<Shared>, priority: i64, permits: u32, try_only: bool) -> Attempt {
    let mode = if try_only { "try" } else { "fast" };
    let deadline = shared.deadline();
    Box::pin(async move { attempt(&shared, priority, permits, mode, deadline).await })
}

/// An attempt dropped mid-call finishes as a task of its own, which releases a grant
/// that nobody will take.
pub(crate) fn finish_abandoned(shared: Arc<Shared>, attempt: Attempt) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            if let Some(Outcome::Granted(granted)) = attempt.await {
                let _ = release(shared, granted.lease).await;
            }
        });
    }
}

async fn attempt(
    shared: &Arc<Shared>,
    priority: i64,
    permits: u32,
    mode: &str,
    deadline: Instant,
) -> Option<Outcome> {
    let fast = shared.fast.as_ref()?;
    let mut call = fast.context.invocation(&scripts().acquire);
    call.arg(encode_priority(priority))
        .arg(permits)
        .arg(mode)
        .arg("0");
    let sent = Instant::now();
    let reply = match fast.link.call(&call, deadline).await {
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
        if let Some(time) = reply.server_time(sent) {
            shared.send(Command::Grants(others, time));
        }
    }
    match reply.status.as_str() {
        "granted" => {
            let state = Arc::new(LeaseState::new(valid_for(sent, shared.lease)));
            let lease = Lease {
                member: reply.member,
                permits,
                token: reply.number as u64,
            };
            shared.leases.adopt(&lease, state.clone());
            Some(Outcome::Granted(Granted { lease, state }))
        }
        "busy" => None,
        "closed" => Some(Outcome::Failed(Error::Closed)),
        "too_many" => Some(Outcome::Failed(Error::TooManyPermits {
            requested: permits,
            limit: reply.number as u32,
        })),
        "limit_mismatch" => Some(Outcome::Failed(Error::LimitMismatch {
            requested: shared.limit,
            existing: reply.number as u32,
        })),
        _ => None, // anything unexpected: let the thread's path decide
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
        let mut call = fast.context.invocation(&scripts().release);
        self.lease
            .as_ref()
            .expect("set until completed")
            .push_args(&mut call);
        let sent = Instant::now();
        let reply = fast.link.call(&call, self.shared.deadline()).await?;
        self.lease = None;
        if !reply.grants.is_empty() {
            if let Some(time) = reply.server_time(sent) {
                self.shared.send(Command::Grants(reply.grants, time));
            }
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
