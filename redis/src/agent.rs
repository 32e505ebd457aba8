//! The semaphore's own thread: it queues waiters (all but a process's first one on the
//! fast path), makes sure that the best of this process's waiters, and only that one,
//! stands in the global line (the crate docs prove why that keeps the global order
//! exact; `line.rs` why the view it acts on may lag), renews leases and this process's
//! place in the line, polls as a fallback for lost pub/sub messages, and turns a Redis
//! that stays unreachable into errors and lost leases. It is the only one that re-enters
//! the line.
//!
//! # Time bounds
//!
//! A command a caller waits for carries its deadline (the caller's I/O budget). Every
//! call gets at most the budget of what it serves, and after a call fails to reach Redis
//! the thread makes no background call (renewal, re-entering the line, a dropped permit's
//! release) until the next renewal is due: so a command waits behind at most one call
//! that started before it, and a caller hears back within its budget.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::command::{Command, Granted, Lease, Outcome};
use crate::error::Error;
use crate::lease_state::{valid_for, LeaseState, ServerTime};
use crate::leases::Leases;
use crate::line::{Handoff, Line, Settle, Standing};
use crate::link::Link;
use crate::names::encode_priority;
use crate::scripts::{scripts, Context, Grant, Reply};
use crate::slot::Slot;

/// The thread's configuration: what does not change while it runs.
pub(crate) struct Settings {
    pub(crate) context: Context,
    pub(crate) lease: Duration,
    pub(crate) io_timeout: Duration,
    pub(crate) leases: Arc<Leases>,
    pub(crate) line: Arc<Line>,
}

pub(crate) struct Agent {
    settings: Settings,
    link: Link,
    commands: Receiver<Command>,
    /// Releases whose call failed or was put off: retried with the next renewal.
    unreleased: Vec<Lease>,
    renew_every: Duration,
    next_sync: Instant,
    /// When the last successful call was sent.
    last_success: Instant,
    last_error: Option<Error>,
    /// The last call failed to reach Redis: background calls wait for the next renewal.
    down: bool,
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
            unreleased: Vec::new(),
            renew_every,
            next_sync: Instant::now() + renew_every,
            last_success: Instant::now(),
            last_error: None,
            down: false,
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
        self.settings.line.fail_all(&Error::Stopped, false);
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
                    self.settings.line.saw_server_time(time);
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
            Command::Cancel { id } => self.settings.line.cancel(id),
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
            Command::Closed => self.on_closed(),
            Command::Resync => self.next_sync = Instant::now(),
            // The loop settles after every command.
            Command::Settle => {}
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
            let line = self.settings.line.clone();
            let more = line.has_waiters();
            let counted = line.begin_acquire(false);
            debug_assert!(counted, "the semaphore's thread may always queue");
            let mut call = self.settings.context.invocation(&scripts().acquire);
            call.arg(encode_priority(priority))
                .arg(permits)
                .arg(if try_only { "try" } else { "wait" })
                .arg(if more { "1" } else { "0" });
            match self.call(&call, deadline) {
                Err(error) => {
                    let handoff = line.end_acquire(&self.settings.leases);
                    self.finish(handoff);
                    Outcome::Failed(error)
                }
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
        let line = self.settings.line.clone();
        let outcome = match answer.status.as_str() {
            "granted" => {
                let state = Arc::new(LeaseState::new(valid_for(sent, self.settings.lease)));
                let lease = Lease {
                    member: answer.member.clone(),
                    permits,
                    token: answer.number as u64,
                };
                self.settings.leases.adopt(&lease, state.clone());
                Some(Outcome::Granted(Granted { lease, state }))
            }
            "queued" => None,
            "busy" => Some(Outcome::Busy),
            "closed" => Some(Outcome::Failed(Error::Closed)),
            "too_many" => Some(Outcome::Failed(Error::TooManyPermits {
                requested: permits,
                limit: answer.number as u32,
            })),
            "limit_mismatch" => Some(Outcome::Failed(self.limit_mismatch(&answer))),
            other => Some(Outcome::Failed(unexpected(other))),
        };
        let handoff = match &outcome {
            None => line.queued(
                id,
                answer.member.clone(),
                permits,
                reply.clone(),
                &self.settings.leases,
            ),
            Some(_) => line.end_acquire(&self.settings.leases),
        };
        self.finish(handoff);
        if answer.status == "closed" {
            self.on_closed();
        }
        // Grants this call made to other waiters of this process (the line moved on while
        // it ran); the new waiter's own grant is already recorded.
        for grant in answer.grants {
            self.deliver(grant, time);
        }
        outcome
    }

    /// Hands a grant to its waiter; a grant nobody waits for any more is released. `time`
    /// relates the grant's expiry to this process's clock (`None`: the newest reading).
    fn deliver(&mut self, grant: Grant, time: Option<ServerTime>) {
        let handoff = self
            .settings
            .line
            .deliver(grant, time, &self.settings.leases);
        self.finish(handoff);
    }

    /// Hands over what a line operation left: grants to their waiters, unwanted ones back.
    fn finish(&mut self, handoff: Handoff) {
        for lease in handoff.hand_over() {
            let _ = self.release(&lease, None);
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
    /// change; a call that reveals a grant delivers it and looks again. Bounded: each
    /// round either settles or delivers a grant (or leaves the line).
    fn settle_place(&mut self) {
        for _ in 0..64 {
            if self.stopping && self.settings.line.has_waiters() {
                return;
            }
            let Settle::Enter {
                member,
                permits,
                more,
            } = self.settings.line.settle()
            else {
                return;
            };
            let mut call = self.settings.context.invocation(&scripts().enter);
            call.arg(&member)
                .arg(permits)
                .arg(if more { "1" } else { "0" });
            let Some(Ok((reply, sent))) = self.background_call(&call) else {
                // Retried after the next renewal; waiters fail if it stays unreachable.
                return;
            };
            match reply.status.as_str() {
                "entered" => self.settings.line.entered(&member),
                "stale" => {}
                "closed" => self.on_closed(),
                "limit_mismatch" => {
                    let error = self.limit_mismatch(&reply);
                    self.settings.line.fail_all(&error, false);
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
        if !self.settings.leases.is_empty() || !self.settings.line.is_idle() {
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
    fn after_sync(&mut self, mut reply: Reply) {
        for member in &reply.lost {
            self.settings.leases.lose(member);
        }
        self.settings.line.synced(if reply.member.is_empty() {
            Standing::None
        } else if reply.number == 0 {
            Standing::Barrier(reply.member.clone())
        } else {
            Standing::Entry(reply.member.clone())
        });
        for grant in std::mem::take(&mut reply.grants) {
            self.deliver(grant, None);
        }
        match reply.status.as_str() {
            "closed" => self.on_closed(),
            "limit_mismatch" => {
                let error = self.limit_mismatch(&reply);
                self.settings.line.fail_all(&error, false);
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
        // The call that queued the newest waiter counts as a success too: on the fast path
        // this thread made no call, and may have made none for a while before (idle).
        let reached = self
            .settings
            .line
            .last_queued()
            .map_or(self.last_success, |queued| queued.max(self.last_success));
        if self.settings.line.has_waiters() && now.duration_since(reached) >= self.settings.lease {
            let error = self.last_error.clone().unwrap_or(Error::Stopped);
            self.settings.line.fail_all(&error, false);
        }
    }

    fn on_closed(&mut self) {
        self.settings.line.fail_all(&Error::Closed, true);
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
        self.settings.line.fail_all(&Error::Stopped, false);
    }
}

fn unexpected(status: &str) -> Error {
    Error::Redis(redis::RedisError::from((
        redis::ErrorKind::Parse,
        "unexpected script status",
        status.to_owned(),
    )))
}
