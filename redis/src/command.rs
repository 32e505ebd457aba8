//! The messages between callers, the pub/sub thread and the semaphore's thread.

use std::sync::Arc;

use crate::error::Error;
use crate::scripts::{Event, Grant};
use crate::slot::{LeaseSignal, Slot};

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
}

/// A grant handed to the async side (it becomes a `RedisPermit`).
#[derive(Debug)]
pub(crate) struct Granted {
    pub(crate) lease: Lease,
    pub(crate) signal: Arc<LeaseSignal>,
}

/// Requests to the thread.
pub(crate) enum Command {
    Acquire {
        id: u64,
        priority: i64,
        permits: u32,
        try_only: bool,
        reply: Arc<Slot<Outcome>>,
    },
    /// An `Acquire` future was dropped before its grant arrived.
    Cancel {
        id: u64,
    },
    Release {
        lease: Lease,
        reply: Option<Arc<Slot<Result<(), Error>>>>,
    },
    Close {
        reply: Arc<Slot<Result<(), Error>>>,
    },
    /// From the pub/sub thread.
    Event(Event),
    /// The pub/sub thread (re)subscribed: messages may have been missed, poll now.
    Resync,
    /// Grants to this process that a caller's own call made (the fast path).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    Grants(Vec<Grant>),
    /// The last handle is gone.
    Shutdown,
}
