//! What every clone of one [`RedisSemaphore`](crate::RedisSemaphore), its futures and its
//! permits share: the way to the semaphore's thread, the configuration, the leases held,
//! and the fast path's connection. The last of them to go stops the threads.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::command::Command;
use crate::leases::Leases;
use crate::line::Line;

/// The fast path's own connection, and the scripts' keys and common arguments.
#[cfg(feature = "tokio")]
#[derive(Debug)]
pub(crate) struct FastPath {
    pub(crate) link: crate::fast_link::FastLink,
    pub(crate) context: crate::scripts::Context,
    /// `Context::command_prefix` of the acquire and release scripts.
    pub(crate) acquire: redis::Cmd,
    pub(crate) release: redis::Cmd,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) commands: Sender<Command>,
    pub(crate) name: String,
    pub(crate) limit: u32,
    pub(crate) lease: Duration,
    pub(crate) io_timeout: Duration,
    pub(crate) next_id: AtomicU64,
    /// What the fast path needs to call scripts itself; `None` in a cluster, where every
    /// call goes through the semaphore's thread.
    #[cfg(feature = "tokio")]
    pub(crate) fast: Option<FastPath>,
    /// The leases held through this handle (renewed by its thread).
    pub(crate) leases: Arc<Leases>,
    /// This process's waiters and its place in the line.
    pub(crate) line: Arc<Line>,
    /// Whether the fast path's connection hears this process's grants (then the pub/sub
    /// thread does not).
    pub(crate) hearing: Arc<crate::listener::Hearing>,
    /// Tells the pub/sub thread to stop.
    pub(crate) stop: Arc<AtomicBool>,
}

impl Shared {
    /// Sends a command to the semaphore's thread (false if it is gone).
    pub(crate) fn send(&self, command: Command) -> bool {
        self.commands.send(command).is_ok()
    }

    /// The instant a call started now must give up: the I/O budget.
    pub(crate) fn deadline(&self) -> Instant {
        Instant::now() + self.io_timeout
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.commands.send(Command::Shutdown);
    }
}
