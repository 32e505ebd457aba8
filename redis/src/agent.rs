//! The semaphore's own thread: the only place that talks to Redis for one handle, except
//! the fast path's calls.
//!
//! It keeps this process's waiters in (priority, arrival) order and makes sure that the
//! best of them, and only that one, stands in the global line (the crate docs prove why
//! that keeps the global order exact). It renews leases and this process's place in the
//! line, polls as a fallback for lost pub/sub messages, and turns a Redis that stays
//! unreachable into errors and lost leases. Because every call is made here, in order,
//! the process's view of its own place in the line is never raced by another of its own
//! calls.
//!
//! # Time bounds
//!
//! A command a caller waits for carries its deadline (the caller's I/O budget). Every
//! call gets at most the budget of what it serves, and after a call fails to reach Redis
//! the thread makes no background call (renewal, re-entering the line, a dropped permit's
//! release) until the next renewal is due: so a command waits behind at most one call
//! that started before it, and a caller hears back within its budget.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::command::{Command, Granted, Lease, Outcome};
use crate::error::Error;
use crate::lease_state::{valid_for, LeaseState, ServerTime};
use crate::leases::Leases;
use crate::link::Link;
use crate::names::encode_priority;
use crate::scripts::{scripts, Context, Event, Grant, Reply};
use crate::slot::Slot;

/// A waiter of this process, queued in Redis under its member.
struct Local {
    id: u64,
    permits: u32,
    reply: Arc<Slot<Outcome>>,
}

/// This process's member in the global line, as far as this thread knows.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Standing {
    None,
    /// A waiter of this process, by member.
    Entry(String),
    /// Left by a grant: the process's other waiters all come after this key.
    Barrier(String),
}

/// The thread's configuration: what does not change while it runs.
pub(crate) struct Settings {
    pub(crate) context: Context,
    pub(crate) lease: Duration,
    pub(crate) io_timeout: Duration,
    pub(crate) leases: Arc<Leases>,
    /// Cleared when an arrival is granted at once (see `Shared::contended`).
    pub(crate) contended: Arc<AtomicBool>,
}

pub(crate) struct Agent {
    settings: Settings,
    link: Link,
    commands: Receiver<Command>,
    local: BTreeMap<String, Local>,
    ids: HashMap<u64, String>,
    standing: Standing,
    /// Releases whose call failed or was put off: retried with the next renewal.
    unreleased: Vec<Lease>,
    renew_every: Duration,
    next_sync: Instant,
    /// When the last successful call was sent.
    last_success: Instant,
    last_error: Option<Error>,
    /// The last call failed to reach Redis: background calls wait for the next renewal.
    down: bool,
    /// The newest reading of the server's clock, for grants heard of by pub/sub.
    server_time: Option<ServerTime>,
    closed: bool,
    /// A `Shutdown` was received while handling other commands.
    stopping: bool,
}

impl Agent {
    pub(crate) fn new(settings: Settings, link: Link, commands: Receiver<Command>) -> Self {
        let renew_every = settings.lease / 3;
        Agent {
            settings,
            link,
            commands,
            local: BTreeMap::new(),
            ids: HashMap::new(),
            standing: Standing::None,
            unreleased: Vec::new(),
            renew_every,
            next_sync: Instant::now() + renew_every,
            last_success: Instant::now(),
            last_error: None,
            down: false,
            server_time: None,
            closed: false,
            stopping: false,
        }
    }

    /// The first call: creates or checks the semaphore in Redis (limit, credentials), so
    /// that `connect` reports those errors at once, by `deadline`.
    pub(crate) fn start(&mut self, deadline: Instant) -> Result<(), Error> {
        let reply = self.call_sync(deadline)?;
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
            self.drain();
            if self.stopping {
                break;
            }
            if Instant::now() >= self.next_sync {
                self.sync();
                self.drain();
            }
            self.settle_place();
            self.expire_unreachable();
            if self.stopping {
                break;
            }
        }
        self.shutdown();
    }

    /// Handles every command already queued (each within its own deadline).
    fn drain(&mut self) {
        while !self.stopping {
            match self.commands.try_recv() {
                Ok(Command::Shutdown) | Err(TryRecvError::Disconnected) => self.stopping = true,
                Ok(command) => self.handle(command),
                Err(TryRecvError::Empty) => return,
            }
        }
    }

    fn shutdown(mut self) {
        self.fail_waiters(&Error::Stopped);
        self.settle_place();
    }

    /// One call, bounded by `deadline`; records the outcome for the time bounds and the
    /// reading of the server's clock.
    fn call(
        &mut self,
        call: &redis::ScriptInvocation<'_>,
        deadline: Instant,
    ) -> Result<(Reply, Instant), Error> {
        let sent = Instant::now();
        match self.link.call(call, deadline) {
            Ok(reply) => {
                self.last_success = sent;
                self.last_error = None;
                self.down = false;
                if let Some(time) = reply.server_time(sent) {
                    self.server_time = Some(time);
                }
                // The semaphore exists now: if its state goes missing later, Redis lost it.
                self.settings.context.seen.store(true, Ordering::Relaxed);
                Ok((reply, sent))
            }
            Err(error) => {
                if error.is_unreachable() {
                    self.down = true;
                }
                self.last_error = Some(error.clone());
                Err(error)
            }
        }
    }

    /// A call nobody waits for: put off while Redis is down (until the next renewal).
    fn background_call(
        &mut self,
        call: &redis::ScriptInvocation<'_>,
    ) -> Option<Result<(Reply, Instant), Error>> {
        if self.down {
            return None;
        }
        let deadline = Instant::now() + self.settings.io_timeout;
        Some(self.call(call, deadline))
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Acquire {
                id,
                priority,
                permits,
                try_only,
                deadline,
                reply,
            } => self.acquire(id, priority, permits, try_only, deadline, reply),
            Command::Cancel { id } => {
                // Only the local record goes; if it stood in the line, `settle_place`
                // puts the next best there (or leaves the line) in one call.
                if let Some(member) = self.ids.remove(&id) {
                    self.local.remove(&member);
                }
            }
            Command::Release { lease, reply } => match reply {
                Some((reply, deadline)) => {
                    let result = self.release(&lease, Some(deadline));
                    let _ = reply.fill(result);
                }
                None => {
                    let _ = self.release(&lease, None);
                }
            },
            Command::Close { deadline, reply } => {
                let result = if Instant::now() >= deadline {
                    Err(self.timed_out())
                } else {
                    let call = self.settings.context.invocation(&scripts().close);
                    self.call(&call, deadline).map(|_| self.on_closed())
                };
                let _ = reply.fill(result);
            }
            Command::Event(Event::Granted { client, grant }) => {
                if client == self.settings.context.client {
                    let time = self.server_time;
                    self.deliver(grant, time);
                }
            }
            Command::Event(Event::Closed) => self.on_closed(),
            Command::Resync => self.next_sync = Instant::now(),
            #[cfg(feature = "tokio")]
            Command::Grants(grants, time) => {
                for grant in grants {
                    self.deliver(grant, Some(time));
                }
            }
            Command::Shutdown => self.stopping = true,
        }
    }

    fn timed_out(&self) -> Error {
        Error::TimedOut {
            after: self.settings.io_timeout,
        }
    }

    fn acquire(
        &mut self,
        id: u64,
        priority: i64,
        permits: u32,
        try_only: bool,
        deadline: Instant,
        reply: Arc<Slot<Outcome>>,
    ) {
        let answer = if Instant::now() >= deadline {
            // It waited behind calls that used up its budget: Redis is too slow to answer.
            Outcome::Failed(self.timed_out())
        } else {
            let mut call = self.settings.context.invocation(&scripts().acquire);
            call.arg(encode_priority(priority))
                .arg(permits)
                .arg(if try_only { "try" } else { "wait" })
                .arg(if self.local.is_empty() { "0" } else { "1" });
            match self.call(&call, deadline) {
                Err(error) => Outcome::Failed(error),
                Ok((answer, sent)) => {
                    match self.answer_acquire(id, permits, answer, sent, &reply) {
                        Some(outcome) => outcome,
                        None => return, // queued: answered when granted
                    }
                }
            }
        };
        if let Err(Outcome::Granted(granted)) = reply.fill(answer) {
            // The future was dropped while the call ran: give the permits straight back.
            let _ = self.release(&granted.lease, None);
        }
    }

    /// What an acquire call answered: the outcome, or `None` when the waiter was queued.
    fn answer_acquire(
        &mut self,
        id: u64,
        permits: u32,
        answer: Reply,
        sent: Instant,
        reply: &Arc<Slot<Outcome>>,
    ) -> Option<Outcome> {
        let time = answer.server_time(sent);
        let outcome = match answer.status.as_str() {
            "granted" => {
                // Granted on arrival: the line is free, callers may try directly.
                self.settings.contended.store(false, Ordering::Relaxed);
                let state = Arc::new(LeaseState::new(valid_for(sent, self.settings.lease)));
                let lease = Lease {
                    member: answer.member.clone(),
                    permits,
                    token: answer.number as u64,
                };
                self.settings.leases.adopt(&lease, state.clone());
                Some(Outcome::Granted(Granted { lease, state }))
            }
            "queued" => {
                let member = answer.member.clone();
                let better = match &self.standing {
                    Standing::None => true,
                    Standing::Entry(p) | Standing::Barrier(p) => member < *p,
                };
                if better {
                    self.standing = Standing::Entry(member.clone());
                }
                self.ids.insert(id, member.clone());
                let local = Local {
                    id,
                    permits,
                    reply: reply.clone(),
                };
                self.local.insert(member, local);
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
        // Grants this call made to other waiters of this process (the line moved on while
        // it ran); the new waiter's own grant is already recorded.
        for grant in answer.grants {
            self.deliver(grant, time);
        }
        outcome
    }

    /// Hands a grant to its waiter; a grant nobody waits for any more is released. `time`
    /// relates the grant's expiry to this process's clock (`None`: no reading yet, so the
    /// lease counts as lost at once, the safe answer).
    fn deliver(&mut self, grant: Grant, time: Option<ServerTime>) {
        if let Standing::Entry(member) | Standing::Barrier(member) = &self.standing {
            if *member == grant.member {
                self.standing = if grant.barrier {
                    Standing::Barrier(grant.member.clone())
                } else {
                    Standing::None
                };
            }
        }
        if self.settings.leases.contains(&grant.member) {
            return; // heard twice: by reply and by pub/sub
        }
        let valid_until = time.map_or_else(Instant::now, |t| t.valid_until(grant.expiry_ms));
        let lease = Lease {
            member: grant.member,
            permits: grant.permits,
            token: grant.token,
        };
        let Some(local) = self.local.remove(&lease.member) else {
            // Its waiter was cancelled after the grant was made.
            let _ = self.release(&lease, None);
            return;
        };
        self.ids.remove(&local.id);
        let state = Arc::new(LeaseState::new(valid_until));
        self.settings.leases.adopt(&lease, state.clone());
        if let Err(Outcome::Granted(granted)) =
            local.reply.fill(Outcome::Granted(Granted { lease, state }))
        {
            let _ = self.release(&granted.lease, None);
        }
    }

    /// Gives a lease back. With a deadline a caller waits for the answer; without one the
    /// release is put off while Redis is down, and retried with the next renewal.
    fn release(&mut self, lease: &Lease, deadline: Option<Instant>) -> Result<(), Error> {
        self.settings.leases.forget(&lease.member);
        let mut call = self.settings.context.invocation(&scripts().release);
        lease.push_args(&mut call);
        let result = match deadline {
            Some(deadline) if Instant::now() >= deadline => Err(self.timed_out()),
            Some(deadline) => self.call(&call, deadline),
            None => match self.background_call(&call) {
                Some(result) => result,
                None => {
                    self.unreleased.push(lease.clone());
                    return Ok(());
                }
            },
        };
        match result {
            Ok((reply, sent)) => {
                let time = reply.server_time(sent);
                for grant in reply.grants {
                    self.deliver(grant, time);
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
            if self.stopping && !self.local.is_empty() {
                return;
            }
            let best = self
                .local
                .iter()
                .next()
                .map(|(m, l)| (m.clone(), l.permits));
            let settled = match (&best, &self.standing) {
                (None, Standing::None) => true,
                (Some((member, _)), Standing::Entry(entry)) => member == entry,
                _ => false,
            };
            if settled || self.closed {
                return;
            }
            let (member, permits) = best.unwrap_or_default();
            let more = self.local.len() > 1;
            let mut call = self.settings.context.invocation(&scripts().enter);
            call.arg(&member)
                .arg(permits)
                .arg(if more { "1" } else { "0" });
            let Some(Ok((reply, sent))) = self.background_call(&call) else {
                // Retried after the next renewal; waiters fail if it stays unreachable.
                return;
            };
            match reply.status.as_str() {
                "entered" => {
                    self.standing = if member.is_empty() {
                        Standing::None
                    } else {
                        Standing::Entry(member)
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
            let time = reply.server_time(sent);
            for grant in reply.grants {
                self.deliver(grant, time);
            }
            self.drain();
        }
    }

    /// The renewal call: renews every lease held and this process's place in the line.
    fn call_sync(&mut self, deadline: Instant) -> Result<Reply, Error> {
        let mut call = self.settings.context.invocation(&scripts().sync);
        let renewing = self.settings.leases.all();
        for lease in &renewing {
            lease.push_args(&mut call);
        }
        let (reply, sent) = self.call(&call, deadline)?;
        let until = valid_for(sent, self.settings.lease);
        let late = self.settings.leases.renewed(&renewing, sent, until);
        self.unreleased.extend(late);
        Ok(reply)
    }

    /// Renewal and fallback poll in one call (also the probe while Redis is down), then
    /// the releases that were put off.
    fn sync(&mut self) {
        self.next_sync = Instant::now() + self.renew_every;
        let leases = &self.settings.leases;
        if !leases.is_empty() || !self.local.is_empty() || self.standing != Standing::None {
            let deadline = Instant::now() + self.settings.io_timeout;
            match self.call_sync(deadline) {
                Ok(reply) => self.after_sync(reply),
                Err(_) => return,
            }
        }
        let mut pending = std::mem::take(&mut self.unreleased).into_iter();
        for lease in pending.by_ref() {
            let deadline = Instant::now() + self.settings.io_timeout;
            if self.release(&lease, Some(deadline)).is_err() {
                break; // `release` put it back
            }
        }
        self.unreleased.extend(pending);
    }

    /// What a renewal reported: leases lost, grants not heard of, this process's place.
    fn after_sync(&mut self, reply: Reply) {
        for member in &reply.lost {
            self.settings.leases.lose(member);
        }
        let time = self.server_time;
        for grant in reply.grants.clone() {
            self.deliver(grant, time);
        }
        self.standing = if reply.member.is_empty() {
            Standing::None
        } else if reply.number == 0 {
            Standing::Barrier(reply.member.clone())
        } else {
            Standing::Entry(reply.member.clone())
        };
        match reply.status.as_str() {
            "closed" => self.on_closed(),
            "limit_mismatch" => {
                let error = self.limit_mismatch(&reply);
                self.fail_waiters(&error);
                self.settings.leases.lose_all();
            }
            _ => {}
        }
    }

    /// Leases past their deadline are given back (their holders already read them as
    /// lost), and waiters that could not reach Redis for a whole lease fail: an
    /// unreachable Redis never means a silent hang.
    fn expire_unreachable(&mut self) {
        let lost = self.settings.leases.take_lost();
        self.unreleased.extend(lost);
        let now = Instant::now();
        if !self.local.is_empty() && now.duration_since(self.last_success) >= self.settings.lease {
            let error = self.last_error.clone().unwrap_or(Error::Stopped);
            self.fail_waiters(&error);
            self.standing = Standing::None;
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
        self.standing = Standing::None;
        self.fail_waiters(&Error::Closed);
    }

    fn limit_mismatch(&self, reply: &Reply) -> Error {
        Error::LimitMismatch {
            requested: self.settings.context.limit,
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
