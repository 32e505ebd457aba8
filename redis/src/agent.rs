//! The semaphore's own thread: the only place that talks to Redis for one handle.
//!
//! It keeps this process's waiters in (priority, arrival) order and makes sure that the
//! best of them, and only that one, stands in the global line (the crate docs prove why
//! that keeps the global order exact). It renews leases, polls as a fallback for lost
//! pub/sub messages, and turns a Redis that stays unreachable into errors and lost leases
//! within one lease time. Because every call is made here, in order, the process's view
//! of its own place in the line is never raced by another of its own calls.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) use crate::command::{Command, Granted, Lease, Outcome};
use crate::connection::Connection;
use crate::error::Error;
use crate::leases::Leases;
use crate::names::encode_priority;
use crate::scripts::{scripts, Context, Event, Grant, Reply};
use crate::slot::{LeaseSignal, Slot};

/// A waiter of this process, queued in Redis under its member.
struct Local {
    id: u64,
    permits: u32,
    reply: Arc<Slot<Outcome>>,
}

/// This process's place in the global line, as far as this thread knows.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    None,
    /// A waiter of this process, by member.
    Entry(String),
    /// Left by a grant: the process's other waiters all come after this key.
    Barrier(String),
}

pub(crate) struct Agent {
    context: Context,
    connection: Connection,
    commands: Receiver<Command>,
    local: BTreeMap<String, Local>,
    ids: HashMap<u64, String>,
    held: Arc<Leases>,
    place: Place,
    /// Releases whose call failed: retried before the next renewal.
    unreleased: Vec<Lease>,
    lease: Duration,
    renew_every: Duration,
    next_sync: Instant,
    /// When the last successful call was sent.
    last_success: Instant,
    last_error: Option<Error>,
    closed: bool,
    /// Cleared when an arrival is granted at once (see `Inner::contended`).
    contended: Arc<AtomicBool>,
}

impl Agent {
    pub(crate) fn new(
        context: Context,
        connection: Connection,
        commands: Receiver<Command>,
        held: Arc<Leases>,
        lease: Duration,
    ) -> Self {
        let renew_every = lease / 3;
        Agent {
            context,
            connection,
            commands,
            local: BTreeMap::new(),
            ids: HashMap::new(),
            held,
            place: Place::None,
            unreleased: Vec::new(),
            lease,
            renew_every,
            next_sync: Instant::now() + renew_every,
            last_success: Instant::now(),
            last_error: None,
            closed: false,
            contended: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Shares the handle's "line is busy" flag, which this thread clears.
    pub(crate) fn share_contended(&mut self, contended: Arc<AtomicBool>) {
        self.contended = contended;
    }

    /// The first call: creates or checks the semaphore in Redis (limit, credentials,
    /// scripts), so that `connect` reports those errors at once.
    pub(crate) fn start(&mut self) -> Result<(), Error> {
        let reply = self.call_sync()?;
        if reply.status == "limit_mismatch" {
            return Err(self.limit_mismatch(&reply));
        }
        Ok(())
    }

    /// Serves commands until the last handle is gone.
    pub(crate) fn run(mut self) {
        loop {
            let wait = self.next_sync.saturating_duration_since(Instant::now());
            match self.commands.recv_timeout(wait) {
                Ok(Command::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(command) => self.handle(command),
                Err(RecvTimeoutError::Timeout) => {}
            }
            while let Ok(command) = self.commands.try_recv() {
                if matches!(command, Command::Shutdown) {
                    return self.shutdown();
                }
                self.handle(command);
            }
            if Instant::now() >= self.next_sync {
                self.sync();
            }
            self.settle_place();
            self.expire_unreachable();
        }
        self.shutdown();
    }

    fn shutdown(mut self) {
        self.fail_waiters(&Error::Stopped);
        self.settle_place();
    }

    fn call(&mut self, call: &redis::ScriptInvocation<'_>) -> Result<Reply, Error> {
        let sent = Instant::now();
        match self.connection.call(call) {
            Ok(reply) => {
                self.last_success = sent;
                self.last_error = None;
                Ok(reply)
            }
            Err(error) => {
                self.last_error = Some(error.clone());
                Err(error)
            }
        }
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Acquire {
                id,
                priority,
                permits,
                try_only,
                reply,
            } => self.acquire(id, priority, permits, try_only, reply),
            Command::Cancel { id } => {
                // Only the local record goes; if it stood in the line, `settle_place`
                // puts the next best there (or leaves the line) in one call.
                if let Some(member) = self.ids.remove(&id) {
                    self.local.remove(&member);
                }
            }
            Command::Release { lease, reply } => {
                let result = self.release(&lease);
                if let Some(reply) = reply {
                    let _ = reply.fill(result);
                }
            }
            Command::Close { reply } => {
                let call = self.context.invocation(&scripts().close);
                let result = self.call(&call).map(|_| self.on_closed());
                let _ = reply.fill(result);
            }
            Command::Event(Event::Granted { client, grant }) => {
                if client == self.context.client {
                    self.deliver(grant);
                }
            }
            Command::Event(Event::Closed) => self.on_closed(),
            Command::Resync => self.next_sync = Instant::now(),
            Command::Grants(grants) => {
                for grant in grants {
                    self.deliver(grant);
                }
            }
            Command::Shutdown => {}
        }
    }

    fn acquire(
        &mut self,
        id: u64,
        priority: i64,
        permits: u32,
        try_only: bool,
        reply: Arc<Slot<Outcome>>,
    ) {
        let mut call = self.context.invocation(&scripts().acquire);
        call.arg(encode_priority(priority))
            .arg(permits)
            .arg(if try_only { "try" } else { "wait" })
            .arg(if self.local.is_empty() { "0" } else { "1" });
        let sent = Instant::now();
        let answer = match self.call(&call) {
            Err(error) => Outcome::Failed(error),
            Ok(answer) => {
                let outcome = match answer.status.as_str() {
                    "granted" => {
                        // Granted on arrival: the line is free, callers may try directly.
                        self.contended.store(false, Ordering::Relaxed);
                        let signal = LeaseSignal::new();
                        let lease = Lease {
                            member: answer.member.clone(),
                            permits,
                            token: answer.number as u64,
                        };
                        self.held.adopt(&lease, signal.clone(), sent);
                        Some(Outcome::Granted(Granted { lease, signal }))
                    }
                    "queued" => {
                        let member = answer.member.clone();
                        let better = match &self.place {
                            Place::None => true,
                            Place::Entry(p) | Place::Barrier(p) => member < *p,
                        };
                        if better {
                            self.place = Place::Entry(member.clone());
                        }
                        self.ids.insert(id, member.clone());
                        self.local.insert(
                            member,
                            Local {
                                id,
                                permits,
                                reply: reply.clone(),
                            },
                        );
                        None
                    }
                    "busy" => Some(Outcome::Busy),
                    "closed" => {
                        self.on_closed();
                        Some(Outcome::Failed(Error::Closed))
                    }
                    "too_many" => Some(Outcome::Failed(Error::TooManyPermits {
                        requested: permits,
                        limit: answer.number as u32,
                    })),
                    "limit_mismatch" => Some(Outcome::Failed(self.limit_mismatch(&answer))),
                    other => Some(Outcome::Failed(unexpected(other))),
                };
                // Grants this call made to other waiters of this process (the line moved
                // on while it ran); the new waiter's own grant is already recorded.
                for grant in answer.grants {
                    self.deliver(grant);
                }
                match outcome {
                    Some(outcome) => outcome,
                    None => return,
                }
            }
        };
        if let Err(Outcome::Granted(granted)) = reply.fill(answer) {
            // The future was dropped while the call ran: give the permits straight back.
            let _ = self.release(&granted.lease);
        }
    }

    /// Hands a grant to its waiter; a grant nobody waits for any more is released.
    fn deliver(&mut self, grant: Grant) {
        if let Place::Entry(member) | Place::Barrier(member) = &self.place {
            if *member == grant.member {
                self.place = if grant.barrier {
                    Place::Barrier(grant.member.clone())
                } else {
                    Place::None
                };
            }
        }
        if self.held.contains(&grant.member) {
            return; // heard twice: by reply and by pub/sub
        }
        let lease = Lease {
            member: grant.member,
            permits: grant.permits,
            token: grant.token,
        };
        let Some(local) = self.local.remove(&lease.member) else {
            // Its waiter was cancelled after the grant was made.
            let _ = self.release(&lease);
            return;
        };
        self.ids.remove(&local.id);
        let signal = LeaseSignal::new();
        // Granted no earlier than the last call this thread sent before hearing of it;
        // the pub/sub delay is the only imprecision.
        self.held.adopt(&lease, signal.clone(), Instant::now());
        if let Err(Outcome::Granted(granted)) = local
            .reply
            .fill(Outcome::Granted(Granted { lease, signal }))
        {
            let _ = self.release(&granted.lease);
        }
    }

    fn release(&mut self, lease: &Lease) -> Result<(), Error> {
        self.held.forget(&lease.member);
        let mut call = self.context.invocation(&scripts().release);
        lease.push_args(&mut call);
        match self.call(&call) {
            Ok(reply) => {
                for grant in reply.grants {
                    self.deliver(grant);
                }
                Ok(())
            }
            Err(error) => {
                // The lease expires on its own if Redis never hears of this release.
                self.unreleased.push(lease.clone());
                Err(error)
            }
        }
    }

    /// Makes this process's place in the line its best waiter (or nothing), one call per
    /// change; a call that reveals a grant delivers it and looks again.
    fn settle_place(&mut self) {
        for _ in 0..=self.local.len() + 1 {
            let best = self
                .local
                .iter()
                .next()
                .map(|(m, l)| (m.clone(), l.permits));
            let settled = match (&best, &self.place) {
                (None, Place::None) => true,
                (Some((member, _)), Place::Entry(entry)) => member == entry,
                _ => false,
            };
            if settled || self.closed {
                return;
            }
            let (member, permits) = best.unwrap_or_default();
            let more = self.local.len() > 1;
            let mut call = self.context.invocation(&scripts().enter);
            call.arg(&member)
                .arg(permits)
                .arg(if more { "1" } else { "0" });
            let Ok(reply) = self.call(&call) else {
                // Retried after the next renewal; waiters fail if it stays unreachable.
                return;
            };
            match reply.status.as_str() {
                "entered" => {
                    self.place = if member.is_empty() {
                        Place::None
                    } else {
                        Place::Entry(member)
                    };
                }
                "stale" => {}
                "closed" => self.on_closed(),
                "limit_mismatch" => {
                    let error = self.limit_mismatch(&reply);
                    self.fail_waiters(&error);
                }
                _ => return,
            }
            for grant in reply.grants {
                self.deliver(grant);
            }
        }
    }

    fn call_sync(&mut self) -> Result<Reply, Error> {
        let mut call = self.context.invocation(&scripts().sync);
        let renewing = self.held.all();
        for lease in &renewing {
            lease.push_args(&mut call);
        }
        let sent = Instant::now();
        let reply = self.call(&call)?;
        self.held.renewed(&renewing, sent);
        Ok(reply)
    }

    /// Renewal and fallback poll in one call.
    fn sync(&mut self) {
        self.next_sync = Instant::now() + self.renew_every;
        for lease in std::mem::take(&mut self.unreleased) {
            if self.release(&lease).is_err() {
                break;
            }
        }
        if self.held.is_empty() && self.local.is_empty() && self.place == Place::None {
            return;
        }
        let Ok(reply) = self.call_sync() else {
            return;
        };
        for member in &reply.lost {
            self.held.lose(member);
        }
        for grant in reply.grants.clone() {
            self.deliver(grant);
        }
        self.place = if reply.member.is_empty() {
            Place::None
        } else if reply.number == 0 {
            Place::Barrier(reply.member.clone())
        } else {
            Place::Entry(reply.member.clone())
        };
        match reply.status.as_str() {
            "closed" => self.on_closed(),
            "limit_mismatch" => {
                let error = self.limit_mismatch(&reply);
                self.fail_waiters(&error);
                self.held.lose_all();
            }
            _ => {}
        }
    }

    /// Leases not renewed for a whole lease are presumed lost, and waiters that could not
    /// reach Redis for that long fail: an unreachable Redis never means a silent hang.
    fn expire_unreachable(&mut self) {
        let now = Instant::now();
        let lease = self.lease;
        self.held.expire(lease, now);
        if !self.local.is_empty() && now.duration_since(self.last_success) >= lease {
            let error = self.last_error.clone().unwrap_or(Error::Stopped);
            self.fail_waiters(&error);
            self.place = Place::None;
        }
    }

    fn fail_waiters(&mut self, error: &Error) {
        self.ids.clear();
        for (_, local) in std::mem::take(&mut self.local) {
            let _ = local.reply.fill(Outcome::Failed(error.clone()));
        }
    }

    fn on_closed(&mut self) {
        self.closed = true;
        self.place = Place::None;
        self.fail_waiters(&Error::Closed);
    }

    fn limit_mismatch(&self, reply: &Reply) -> Error {
        Error::LimitMismatch {
            requested: self.context.limit,
            existing: reply.number as u32,
        }
    }
}

impl Drop for Agent {
    /// Waiters never hang on a thread that is gone, even one that panicked.
    fn drop(&mut self) {
        self.fail_waiters(&Error::Stopped);
    }
}

fn unexpected(status: &str) -> Error {
    Error::Redis(redis::RedisError::from((
        redis::ErrorKind::Parse,
        "unexpected script status",
        status.to_owned(),
    )))
}
