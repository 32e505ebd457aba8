//! The messages between callers, the pub/sub thread and the semaphore's thread.

use std::sync::Arc;
use std::time::Instant;

use crate::error::Error;
use crate::lease_state::LeaseState;
use crate::slot::Slot;

/// What an acquire request ends with.
#[derive(Debug)]
pub(crate) enum Outcome {
    Granted(Granted),
    /// `try_acquire` found no free permits, or someone waiting.
    Busy,
    Failed(Error),
}

/// A lease in Redis. Its member, permits and token, with the process's id, are its name
/// there (`lua/prelude.lua`): a release or renewal sends all three.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Lease {
    pub(crate) member: String,
    pub(crate) permits: u32,
    pub(crate) token: u64,
}

impl Lease {
    /// Adds the lease to a script call: ARGV `member permits token`.
    pub(crate) fn push_args(&self, call: &mut redis::ScriptInvocation<'_>) {
        call.arg(&self.member).arg(self.permits).arg(self.token);
    }

    /// The same, to a command (the fast path's).
    #[cfg(feature = "tokio")]
    pub(crate) fn push_cmd_args(&self, cmd: &mut redis::Cmd) {
        cmd.arg(&self.member).arg(self.permits).arg(self.token);
    }
}

/// A grant handed to the async side (it becomes a `RedisPermit`).
#[derive(Debug)]
pub(crate) struct Granted {
    pub(crate) lease: Lease,
    pub(crate) state: Arc<LeaseState>,
}

/// Where a caller waits for the answer to a release, and until when.
pub(crate) type Awaited = (Arc<Slot<Result<(), Error>>>, Instant);

/// Requests to the semaphore's thread. Those a caller waits for carry the instant the
/// caller gives up (its I/O budget): the thread answers `TimedOut` past it, so a caller
/// never waits longer than that, however busy the thread was.
pub(crate) enum Command {
    Acquire {
        id: u64,
        priority: i64,
        permits: u32,
        try_only: bool,
        deadline: Instant,
        reply: Arc<Slot<Outcome>>,
    },
    /// An `Acquire` future was dropped before its grant arrived.
    Cancel { id: u64 },
    /// Give a lease back: from a permit's drop (nobody waits for the answer), or from
    /// `RedisPermit::release` (the caller waits until `deadline`).
    Release {
        lease: Lease,
        reply: Option<Awaited>,
    },
    Close {
        deadline: Instant,
        reply: Arc<Slot<Result<(), Error>>>,
    },
    /// The semaphore was closed (heard by pub/sub).
    Closed,
    /// The pub/sub thread (re)subscribed: messages may have been missed, poll now.
    Resync,
    /// This process's waiters changed outside the thread (a grant heard by pub/sub, a
    /// waiter queued on the fast path): look whether its place in the line must change.
    Settle,
    /// The last handle is gone.
    Shutdown,
}
