//! Grants heard on the fast path's own connection (feature `tokio`): it speaks RESP3 and
//! subscribes to this process's channel, so a grant arrives as a push message read by the
//! connection's task on the caller's runtime, which wakes the waiting task without a
//! thread hop (the pub/sub thread would first wake itself, then the runtime). While it is
//! subscribed the pub/sub thread leaves the channel ([`Hearing`], `listener.rs`).

use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use redis::aio::{AsyncPushSender, SendError};
use redis::{PushInfo, PushKind, Value};

use crate::command::Command;
use crate::leases::Leases;
use crate::line::Line;
use crate::listener::{deliver, Hearing};
use crate::scripts::Event;

/// What every connection's [`GrantPush`] needs.
#[derive(Debug)]
pub(crate) struct Hearer {
    pub(crate) channel: String,
    pub(crate) client_id: String,
    pub(crate) commands: Sender<Command>,
    pub(crate) line: Arc<Line>,
    pub(crate) leases: Arc<Leases>,
    pub(crate) hearing: Arc<Hearing>,
}

impl Hearer {
    /// This process's own channel.
    pub(crate) fn own_channel(&self) -> String {
        format!("{}:{}", self.channel, self.client_id)
    }
}

/// Whether one connection counts in [`Hearing`]: from its confirmed subscription until it
/// goes (disconnected, or its task dropped with its runtime), whichever order those come.
#[derive(Debug, Default)]
struct Counted {
    counted: bool,
    gone: bool,
}

/// The push sender of one fast connection.
pub(crate) struct GrantPush {
    hearer: Arc<Hearer>,
    counted: Arc<Mutex<Counted>>,
}

/// Marks a fast connection's subscription confirmed.
#[derive(Debug)]
pub(crate) struct Subscribed {
    hearer: Arc<Hearer>,
    counted: Arc<Mutex<Counted>>,
}

impl Subscribed {
    /// The subscription is confirmed: the pub/sub thread may leave the channel (unless the
    /// connection went meanwhile).
    pub(crate) fn confirm(self) {
        let mut counted = self.counted.lock().unwrap_or_else(|e| e.into_inner());
        if !counted.gone && !counted.counted {
            counted.counted = true;
            self.hearer.hearing.fast_subscribed();
        }
    }
}

impl GrantPush {
    /// A sender for a new connection, and the handle that confirms its subscription.
    pub(crate) fn new(hearer: Arc<Hearer>) -> (Self, Subscribed) {
        let counted = Arc::new(Mutex::new(Counted::default()));
        let subscribed = Subscribed {
            hearer: hearer.clone(),
            counted: counted.clone(),
        };
        (GrantPush { hearer, counted }, subscribed)
    }

    fn gone(&self) {
        let mut counted = self.counted.lock().unwrap_or_else(|e| e.into_inner());
        counted.gone = true;
        if std::mem::take(&mut counted.counted) {
            self.hearer.hearing.fast_gone();
        }
    }
}

impl AsyncPushSender for GrantPush {
    fn send(&self, info: PushInfo) -> Result<(), SendError> {
        match info.kind {
            PushKind::Message => {
                // [channel, payload]; the shared channel (closing) stays with the thread.
                let Some(Value::BulkString(payload)) = info.data.get(1) else {
                    return Ok(());
                };
                let Ok(payload) = std::str::from_utf8(payload) else {
                    return Ok(());
                };
                let hearer = &self.hearer;
                if let Some(Event::Granted { client, grant }) = Event::parse(payload) {
                    if client == hearer.client_id {
                        deliver(&hearer.line, &hearer.leases, &hearer.commands, grant);
                    }
                }
            }
            PushKind::Disconnection => self.gone(),
            _ => {}
        }
        Ok(())
    }
}

impl Drop for GrantPush {
    fn drop(&mut self) {
        self.gone();
    }
}
