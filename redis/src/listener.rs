//! The pub/sub thread: forwards grants to this process and the closing of the semaphore
//! to the semaphore's thread, and resubscribes after a lost connection (asking for a poll,
//! since messages sent meanwhile are gone: pub/sub is at most once).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, SyncSender};
use std::sync::Arc;
use std::time::Duration;

use crate::agent::Command;
use crate::connection::connect;
use crate::scripts::Event;

/// How often the thread looks at its stop flag while no message comes.
const STOP_CHECK: Duration = Duration::from_millis(200);

pub(crate) struct Listener {
    pub(crate) client: redis::Client,
    pub(crate) channel: String,
    pub(crate) client_id: String,
    pub(crate) timeout: Duration,
    pub(crate) commands: Sender<Command>,
    pub(crate) stop: Arc<AtomicBool>,
}

impl Listener {
    /// Runs until `stop`; reports the outcome of the first subscription on `subscribed`.
    pub(crate) fn run(self, subscribed: SyncSender<Result<(), redis::RedisError>>) {
        let mut first = Some(subscribed);
        while !self.stop.load(Ordering::Acquire) {
            let result = self.listen(&mut first);
            if let (Err(error), Some(report)) = (result, first.take()) {
                let _ = report.send(Err(error));
                return;
            }
            std::thread::sleep(STOP_CHECK);
        }
    }

    fn listen(
        &self,
        first: &mut Option<SyncSender<Result<(), redis::RedisError>>>,
    ) -> Result<(), redis::RedisError> {
        let mut connection = connect(&self.client, self.timeout)?;
        let mut pubsub = connection.as_pubsub();
        // Grants to this process come on its own channel, the closing on the shared one.
        let own = format!("{}:{}", self.channel, self.client_id);
        pubsub.subscribe(&[self.channel.as_str(), own.as_str()])?;
        pubsub.set_read_timeout(Some(STOP_CHECK))?;
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
                Err(_) => return Ok(()), // reconnect
            };
            let Ok(payload) = message.get_payload::<String>() else {
                continue;
            };
            let event = match Event::parse(&payload) {
                Some(Event::Granted { client, grant }) if client == self.client_id => {
                    Event::Granted { client, grant }
                }
                Some(Event::Closed) => Event::Closed,
                _ => continue,
            };
            if self.commands.send(Command::Event(event)).is_err() {
                return Ok(());
            }
        }
        Ok(())
    }
}
