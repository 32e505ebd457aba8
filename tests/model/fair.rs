//! The lockstep model extended with flows: a real `FairSemaphore` and a reference model of
//! its contract, run side by side on one thread (futures polled by hand), compared after
//! every step, down to the keys in the line.
//!
//! The reference is start-time fair queuing as the module docs state it, on top of the
//! core's model (`lockstep.rs`, whose line is ordered by `(priority, start tag)`):
//!
//! * a request that can be served at once (nobody waits, enough free) takes no tag;
//! * else, at its first poll, `S = max(V, F)` and `F = S + permits / weight` (fixed point,
//!   at least 1), where `V` is its level's virtual time and `F` its flow's finish tag;
//! * served (its future completes with permits): `V = max(V, S)`;
//! * gone without permits: if it was its flow's latest, `F` goes back to `S`;
//! * a flow with nothing left has `F` = the finish tag of its last request served; a level
//!   with nothing left is forgotten, with its flows.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use super::lockstep::{Key, Model, Outcome, Phase};
use prio_semaphore::fair::{FairAcquire, FairKey, FairSemaphore, HashFlows};
use prio_semaphore::{AcquireError, Permit};

/// Virtual time per permit at weight 1 (the crate's fixed point).
const SCALE: u64 = 1 << 16;

/// One step. Indices pick among live futures or permits modulo their count.
#[derive(Clone, Debug)]
pub enum FairOp {
    Create {
        priority: i64,
        flow: Option<u8>,
        weight: u32,
        permits: u32,
    },
    Poll {
        index: usize,
    },
    DropFuture {
        index: usize,
    },
    DropPermit {
        index: usize,
    },
    AddPermits(usize),
    Close,
}

#[derive(Clone, Copy, Debug, Default)]
struct Level {
    v: u64,
    pending: usize,
}

#[derive(Clone, Copy, Debug, Default)]
struct Flow {
    finish: u64,
    served: u64,
    pending: usize,
}

/// A counted request's ticket.
#[derive(Clone, Copy, Debug)]
struct Ticket {
    level: i64,
    flow: Option<u8>,
    start: u64,
    cost: u64,
}

/// The clock of the reference.
#[derive(Debug, Default)]
struct Sfq {
    levels: HashMap<i64, Level>,
    flows: HashMap<(i64, Option<u8>), Flow>,
}

impl Sfq {
    fn assign(&mut self, level: i64, flow: Option<u8>, permits: u32, weight: u32) -> Ticket {
        let cost = (u64::from(permits) * SCALE / u64::from(weight)).max(1);
        let l = self.levels.entry(level).or_default();
        let f = self.flows.entry((level, flow)).or_default();
        let start = l.v.max(f.finish);
        f.finish = start + cost;
        f.pending += 1;
        l.pending += 1;
        Ticket {
            level,
            flow,
            start,
            cost,
        }
    }

    fn granted(&mut self, t: Ticket) {
        let l = self.levels.get_mut(&t.level).unwrap();
        l.v = l.v.max(t.start);
        let f = self.flows.get_mut(&(t.level, t.flow)).unwrap();
        f.served = f.served.max(t.start + t.cost);
        self.give_back(t);
    }

    fn withdrawn(&mut self, t: Ticket) {
        let f = self.flows.get_mut(&(t.level, t.flow)).unwrap();
        if f.finish == t.start + t.cost {
            f.finish = t.start;
        }
        self.give_back(t);
    }

    fn give_back(&mut self, t: Ticket) {
        let f = self.flows.get_mut(&(t.level, t.flow)).unwrap();
        f.pending -= 1;
        if f.pending == 0 {
            f.finish = f.served;
        }
        let l = self.levels.get_mut(&t.level).unwrap();
        l.pending -= 1;
        if l.pending == 0 {
            self.levels.remove(&t.level);
            self.flows.retain(|&(level, _), _| level != t.level);
        }
    }
}

struct CountingWaker(Arc<AtomicUsize>);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

type Sem = FairSemaphore<u8, i64, HashFlows>;

struct Tracked<'s> {
    id: usize,
    future: Pin<Box<FairAcquire<'s, u8, i64, HashFlows>>>,
    wakes: Arc<AtomicUsize>,
    waker: Waker,
    done: bool,
}

/// The real fair semaphore, its futures and permits, and the reference.
pub struct FairLockstep<'s> {
    sem: &'s Sem,
    futures: Vec<Tracked<'s>>,
    permits: Vec<Permit<'s, FairKey<i64>>>,
    model: Model,
    sfq: Sfq,
    /// Per future: what it asks for, and its ticket once counted.
    asks: Vec<(i64, Option<u8>, u32)>,
    tickets: Vec<Option<Ticket>>,
    log: Vec<String>,
}

impl<'s> FairLockstep<'s> {
    pub fn new(sem: &'s Sem, permits: usize) -> Self {
        assert_eq!(sem.available_permits(), permits);
        Self {
            sem,
            futures: Vec::new(),
            permits: Vec::new(),
            model: Model::new(permits, None),
            sfq: Sfq::default(),
            asks: Vec::new(),
            tickets: Vec::new(),
            log: Vec::new(),
        }
    }

    pub fn run(mut self, ops: impl IntoIterator<Item = FairOp>) {
        for op in ops {
            self.step(op);
        }
        while !self.futures.is_empty() {
            self.step(FairOp::DropFuture { index: 0 });
        }
        while !self.permits.is_empty() {
            self.step(FairOp::DropPermit { index: 0 });
        }
        self.check(
            self.sem.available_permits() == self.model.total,
            "all permits back",
        );
        self.check(self.sem.entries() == (0, 0), "nothing left counted");
    }

    fn step(&mut self, op: FairOp) {
        self.log.push(format!("{op:?}"));
        match op {
            FairOp::Create {
                priority,
                flow,
                weight,
                permits,
            } => {
                let id = self.model.create((priority, 0), permits as usize);
                self.asks.push((priority, flow, weight));
                self.tickets.push(None);
                let mut future = self
                    .sem
                    .acquire_many(permits)
                    .priority(priority)
                    .weight(weight);
                if let Some(flow) = flow {
                    future = future.flow(flow);
                }
                let wakes = Arc::new(AtomicUsize::new(0));
                self.futures.push(Tracked {
                    id,
                    future: Box::pin(future),
                    waker: Waker::from(Arc::new(CountingWaker(wakes.clone()))),
                    wakes,
                    done: false,
                });
            }
            FairOp::Poll { index } => {
                let pollable: Vec<usize> = (0..self.futures.len())
                    .filter(|&i| !self.futures[i].done)
                    .collect();
                if pollable.is_empty() {
                    return;
                }
                let at = pollable[index % pollable.len()];
                let id = self.futures[at].id;
                let expected = self.model_poll(id);
                let tracked = &mut self.futures[at];
                let mut cx = Context::from_waker(&tracked.waker);
                let (real, permit) = match tracked.future.as_mut().poll(&mut cx) {
                    Poll::Pending => (Outcome::Pending, None),
                    Poll::Ready(Ok(permit)) => {
                        (Outcome::Granted(permit.num_permits()), Some(permit))
                    }
                    Poll::Ready(Err(err)) => (closed(&err), None),
                };
                tracked.done = real != Outcome::Pending;
                self.check(
                    real == expected,
                    format_args!("poll: got {real:?}, expected {expected:?}"),
                );
                self.permits.extend(permit);
            }
            FairOp::DropFuture { index } => {
                if self.futures.is_empty() {
                    return;
                }
                let tracked = self.futures.remove(index % self.futures.len());
                let id = tracked.id;
                drop(tracked);
                if let Some(ticket) = self.tickets[id].take() {
                    self.sfq.withdrawn(ticket);
                }
                self.model.drop_future(id);
            }
            FairOp::DropPermit { index } => {
                if self.permits.is_empty() {
                    return;
                }
                let permit = self.permits.remove(index % self.permits.len());
                let n = permit.num_permits();
                drop(permit);
                self.model.release(n);
            }
            FairOp::AddPermits(n) => {
                self.sem.add_permits(n);
                self.model.total += n;
                self.model.release(n);
            }
            FairOp::Close => {
                self.sem.close();
                self.model.close();
            }
        }
        self.compare();
    }

    /// The reference's answer to a poll of future `id`.
    fn model_poll(&mut self, id: usize) -> Outcome {
        let m = &mut self.model;
        if let Phase::Unpolled { permits, .. } = m.phases[id] {
            let at_once =
                permits == 0 || m.closed || (m.queue.is_empty() && m.available >= permits);
            if !at_once {
                // Counted: its key is `(priority, start tag)`.
                let (priority, flow, weight) = self.asks[id];
                let ticket = self.sfq.assign(priority, flow, permits as u32, weight);
                m.phases[id] = Phase::Unpolled {
                    priority: (priority, ticket.start),
                    permits,
                };
                self.tickets[id] = Some(ticket);
            }
        }
        let outcome = self.model.poll(id);
        if outcome != Outcome::Pending {
            if let Some(ticket) = self.tickets[id].take() {
                match outcome {
                    Outcome::Granted(_) => self.sfq.granted(ticket),
                    _ => self.sfq.withdrawn(ticket),
                }
            }
        }
        outcome
    }

    /// Everything observable, after a step: counts, wake-ups, and the keys in the line.
    fn compare(&self) {
        let m = &self.model;
        self.check(
            self.sem.available_permits() == m.available,
            "available permits",
        );
        self.check(
            self.sem.semaphore().waiter_count() == m.queue.len(),
            "waiter count",
        );
        self.check(self.sem.is_closed() == m.closed, "closed");
        for f in &self.futures {
            let (got, expected) = (f.wakes.load(Ordering::SeqCst), m.wakes[f.id]);
            self.check(
                got == expected,
                format_args!("future #{} woken {got} times, expected {expected}", f.id),
            );
        }
        // The line shows one class per flow that waits (its next request's key, and how
        // many wait), in key order.
        let mut lanes: HashMap<(i64, Option<u8>), (Key, usize)> = HashMap::new();
        for w in &m.queue {
            let (priority, flow, _) = self.asks[w.future];
            let lane = lanes.entry((priority, flow)).or_insert((w.priority, 0));
            lane.0 = lane.0.min(w.priority);
            lane.1 += 1;
        }
        let mut expected: Vec<(Key, usize)> = lanes.into_values().collect();
        expected.sort();
        let real: Vec<(Key, usize)> = (self.sem.snapshot().classes.iter())
            .map(|c| ((*c.priority.priority(), c.priority.tag()), c.waiters))
            .collect();
        self.check(
            real.windows(2).all(|pair| pair[0].0 <= pair[1].0),
            format_args!("classes in key order: {real:?}"),
        );
        let mut sorted = real.clone();
        sorted.sort();
        self.check(
            sorted == expected,
            format_args!("classes in line: {real:?}, expected {expected:?}"),
        );
    }

    #[track_caller]
    fn check(&self, ok: bool, what: impl fmt::Display) {
        if !ok {
            panic!(
                "{what}\nmodel: {:#?}\nclock: {:#?}\nops:\n  {}",
                self.model,
                self.sfq,
                self.log.join("\n  ")
            );
        }
    }
}

fn closed(err: &AcquireError) -> Outcome {
    assert!(err.is_closed(), "unexpected error: {err}");
    Outcome::Closed
}
