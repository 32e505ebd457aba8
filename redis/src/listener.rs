//! The pub/sub thread: hands each grant to this process straight to its waiter (one
//! thread hop fewer than through the semaphore's thread, which hears of it only if the
//! process's place in the line must change or a grant must be given back), forwards the
//! closing of the semaphore, and subscribes again after a lost connection (asking for a
//! poll, since messages sent meanwhile are gone: pub/sub is at most once).
//!
//! In a cluster every node carries every message, so when its node goes away the thread
//! moves on to the next node it knows.
//!
//! On tokio the fast path's own connection hears this process's grants instead (RESP3
//! push, `push.rs`): one thread hop fewer again, the grant reaches the caller's runtime
//! directly. While such a connection is subscribed ([`Hearing`]) this thread leaves the
//! process's own channel, so a grant is not heard twice; when it goes, the thread takes
//! the channel back and asks for a poll, which claims the grants nobody heard meanwhile.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Sender, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::command::Command;
use crate::leases::Leases;
use crate::line::Line;
use crate::scripts::Event;
use crate::topology;

/// How often the thread looks at its stop flag and at [`Hearing`] while no message comes.
const STOP_CHECK: Duration = Duration::from_millis(200);

/// How many fast-path connections hear this process's own channel now (0 or 1, briefly 2
/// while one replaces another): while any does, the thread does not.
#[derive(Debug, Default)]
pub(crate) struct Hearing {
    fast: AtomicUsize,
}

impl Hearing {
    #[cfg(feature = "tokio")]
    pub(crate) fn fast_subscribed(&self) {
        self.fast.fetch_add(1, Ordering::AcqRel);
    }

    /// Only after a matching [`fast_subscribed`](Self::fast_subscribed).
    #[cfg(feature = "tokio")]
    pub(crate) fn fast_gone(&self) {
        self.fast.fetch_sub(1, Ordering::AcqRel);
    }

    fn by_fast(&self) -> bool {
        self.fast.load(Ordering::Acquire) > 0
    }
}

pub(crate) struct Listener {
    /// The nodes to subscribe on, tried in turn.
    pub(crate) nodes: Vec<redis::Client>,
    pub(crate) channel: String,
    pub(crate) client_id: String,
    pub(crate) io_timeout: Duration,
    pub(crate) commands: Sender<Command>,
    pub(crate) line: Arc<Line>,
    pub(crate) leases: Arc<Leases>,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) hearing: Arc<Hearing>,
}

impl Listener {
    /// Runs until `stop`; reports the outcome of the first subscription on `subscribed`.
    pub(crate) fn run(self, subscribed: SyncSender<Result<(), crate::error::Error>>) {
        let mut first = Some(subscribed);
        let mut node = 0;
        while !self.stop.load(Ordering::Acquire) {
            let result = self.listen(&self.nodes[node % self.nodes.len()], &mut first);
            if let (Err(error), Some(report)) = (result, first.take()) {
                let _ = report.send(Err(error));
                return;
            }
            node += 1;
            std::thread::sleep(STOP_CHECK);
        }
    }

    fn listen(
        &self,
        node: &redis::Client,
        first: &mut Option<SyncSender<Result<(), crate::error::Error>>>,
    ) -> Result<(), crate::error::Error> {
        let deadline = Instant::now() + self.io_timeout;
        let within = |e| crate::error::Error::from_redis_within(e, self.io_timeout);
        let mut connection = topology::connect(node, deadline, self.io_timeout)?;
        let mut pubsub = connection.as_pubsub();
        // Grants to this process come on its own channel, the closing on the shared one.
        let own = format!("{}:{}", self.channel, self.client_id);
        let mut own_heard = !self.hearing.by_fast();
        if own_heard {
            pubsub.subscribe(&[self.channel.as_str(), own.as_str()])
        } else {
            pubsub.subscribe(self.channel.as_str())
        }
        .map_err(within)?;
        pubsub.set_read_timeout(Some(STOP_CHECK)).map_err(within)?;
        match first.take() {
            Some(report) => {
                let _ = report.send(Ok(()));
            }
            None => {
                if self.commands.send(Command::Resync).is_err() {
                    return Ok(());
                }
            }
        }
        while !self.stop.load(Ordering::Acquire) {
            // Before each read: hands the own channel over (after the fast connection
            // subscribed, so nothing falls between) or takes it back (then polls).
            if own_heard == self.hearing.by_fast() {
                let changed = if own_heard {
                    pubsub.unsubscribe(own.as_str())
                } else {
                    pubsub.subscribe(own.as_str())
                };
                if changed.is_err() {
                    return Ok(()); // subscribe again
                }
                own_heard = !own_heard;
                if own_heard && self.commands.send(Command::Resync).is_err() {
                    return Ok(());
                }
            }
            let message = match pubsub.get_message() {
                Ok(message) => message,
                Err(error) if error.is_timeout() => continue,
                Err(_) => return Ok(()), // subscribe again
            };
            let Ok(payload) = message.get_payload::<String>() else {
                continue;
            };
            let forwarded = match Event::parse(&payload) {
                Some(Event::Granted { client, grant }) if client == self.client_id => {
                    deliver(&self.line, &self.leases, &self.commands, grant)
                }
                Some(Event::Closed) => self.commands.send(Command::Closed).is_ok(),
                _ => true,
            };
            if !forwarded {
                return Ok(()); // the semaphore's thread is gone
            }
        }
        Ok(())
    }
}

/// Hands a grant heard on a channel to its waiter; what is left (a grant to give back, a
/// place in the line to change) goes to the semaphore's thread. False if that thread is
/// gone.
pub(crate) fn deliver(
    line: &Line,
    leases: &Leases,
    commands: &Sender<Command>,
    grant: crate::scripts::Grant,
) -> bool {
    let handoff = line.deliver(grant, None, leases);
    let settle = handoff.settle;
    for lease in handoff.hand_over() {
        let release = Command::Release { lease, reply: None };
        if commands.send(release).is_err() {
            return false;
        }
    }
    !settle || commands.send(Command::Settle).is_ok()
}
