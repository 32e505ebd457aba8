//! The pub/sub thread: hands each grant to this process straight to its waiter (one
//! thread hop fewer than through the semaphore's thread, which hears of it only if the
//! process's place in the line must change or a grant must be given back), forwards the
//! closing of the semaphore, and subscribes again after a lost connection (asking for a
//! poll, since messages sent meanwhile are gone: pub/sub is at most once).
//!
//! In a cluster every node carries every message, so when its node goes away the thread
//! moves on to the next node it knows.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::command::Command;
use crate::leases::Leases;
use crate::line::Line;
use crate::scripts::Event;
use crate::topology;

/// How often the thread looks at its stop flag while no message comes.
const STOP_CHECK: Duration = Duration::from_millis(200);

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
        pubsub
            .subscribe(&[self.channel.as_str(), own.as_str()])
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
                    self.deliver(grant)
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

    /// Hands a grant to its waiter; what is left (a grant to give back, a place in the line
    /// to change) goes to the semaphore's thread. False if that thread is gone.
    fn deliver(&self, grant: crate::scripts::Grant) -> bool {
        let handoff = self.line.deliver(grant, None, &self.leases);
        let settle = handoff.settle;
        for lease in handoff.hand_over() {
            let release = Command::Release { lease, reply: None };
            if self.commands.send(release).is_err() {
                return false;
            }
        }
        !settle || self.commands.send(Command::Settle).is_ok()
    }
}
