//! Drives a real [`Semaphore`] and a small reference model of its contract in lockstep,
//! on one thread, polling `Acquire` futures by hand, and checks after every operation that
//! they agree.
//!
//! Shared by the property test (`tests/model.rs`) and the fuzz target
//! (`fuzz/fuzz_targets/lockstep.rs`), which include this file with `#[path]`; each only
//! decides how to generate the [`Op`] sequences.
//!
//! The reference model is written from the contract, not from the implementation:
//!
//! * waiters are served by priority (smaller first), then arrival; with an overtake limit
//!   `k`, the oldest waiter goes first once `k` grants happened since it queued;
//! * a fresh acquire takes permits at once only if nobody waits; `try_acquire` fails while
//!   anyone waits; zero permits are granted at once while the semaphore is open;
//! * the front waiter collects released permits (a partial grant) and blocks those behind
//!   it; when another waiter becomes the front, it takes the partial grant back;
//! * dropping a future gives back whatever it was handed, to the next waiters;
//! * `close` fails every queued waiter (waking it) and every later acquire; permits held,
//!   and waiters granted before the close, stay valid;
//! * every waiter is woken exactly once when it is granted or failed by `close`, and never
//!   otherwise.

#![allow(dead_code, reason = "each includer uses a different part")]

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use prio_semaphore::{Acquire, AcquireError, Permit, Semaphore, TryAcquireError};

/// One step of a test case. Indices pick among the live futures or held permits modulo
/// their count (a step with nothing to pick is skipped), so every sequence is valid.
#[derive(Clone, Debug)]
pub enum Op {
    /// Creates an acquire future (not polled yet).
    Create {
        priority: i64,
        permits: u32,
    },
    /// Polls a future that has not completed, with a new waker (a different `Waker` for
    /// the same counter, so the stored one is replaced) or the one it was polled with.
    Poll {
        index: usize,
        new_waker: bool,
    },
    /// Drops a future in whatever state it is in: unpolled, queued, granted but not yet
    /// polled, failed by `close` but not yet polled, or completed.
    DropFuture {
        index: usize,
    },
    /// Drops a held permit, giving its permits back.
    DropPermit {
        index: usize,
    },
    /// `Permit::forget`: its permits leave the semaphore for good.
    ForgetPermit {
        index: usize,
    },
    AddPermits(usize),
    ForgetPermits(usize),
    TryAcquire(u32),
    Close,
}

/// A waker that counts wake-ups into a counter shared by all wakers of one future.
struct CountingWaker(Arc<AtomicUsize>);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// The order of the line: a priority, and the start tag of a fair request
/// (`tests/model/fair.rs`); a plain request's tag is 0.
pub type Key = (i64, u64);

/// What a poll is expected to return (or returned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pending,
    Granted(usize),
    Closed,
}

/// The reference model's view of one acquire future.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Unpolled {
        priority: Key,
        permits: usize,
    },
    /// In the line (its `Waiter` entry holds the details).
    Queued,
    /// Handed all its permits and woken; the next poll returns them.
    Granted {
        permits: usize,
    },
    /// Failed by `close` and woken; the next poll returns the error.
    Closed,
    /// Returned `Ready`.
    Done,
}

/// A queued request in the reference model.
#[derive(Clone, Debug)]
pub struct Waiter {
    pub future: usize,
    pub priority: Key,
    needed: usize,
    /// Permits collected so far; only ever non-zero for the `partial` waiter.
    assigned: usize,
    /// `grants` when it queued (overtake limit).
    ticket: usize,
}

/// The semaphore's contract, as plain data (shared with the fair and share models). `queue` is in arrival order.
#[derive(Clone, Debug)]
pub struct Model {
    pub available: usize,
    /// Permits in existence: available + held + collected by the partial waiter.
    pub total: usize,
    pub closed: bool,
    overtake_limit: Option<usize>,
    /// Waiters granted from the line so far: the overtake limit's clock.
    grants: usize,
    pub queue: Vec<Waiter>,
    /// The future holding a partial grant, if any.
    pub partial: Option<usize>,
    /// Per future (by id): its phase and how many wake-ups it must have seen.
    pub phases: Vec<Phase>,
    pub wakes: Vec<usize>,
}

impl Model {
    pub fn new(permits: usize, overtake_limit: Option<usize>) -> Self {
        Self {
            available: permits,
            total: permits,
            closed: false,
            overtake_limit,
            grants: 0,
            queue: Vec::new(),
            partial: None,
            phases: Vec::new(),
            wakes: Vec::new(),
        }
    }

    /// The index in `queue` of the waiter served next.
    fn front(&self) -> Option<usize> {
        if let (Some(limit), Some(oldest)) = (self.overtake_limit, self.queue.first()) {
            if self.grants - oldest.ticket >= limit {
                return Some(0);
            }
        }
        (0..self.queue.len()).min_by_key(|&i| self.queue[i].priority) // first of equals
    }

    /// Hands `surplus` released permits to the line in order; what nobody waits for goes
    /// back to `available`.
    pub fn settle(&mut self, mut surplus: usize) {
        assert!(!self.closed, "the line is empty once closed");
        while let Some(front) = self.front() {
            if let Some(holder) = self.partial {
                if holder != self.queue[front].future {
                    // Someone else is due first: the partial grant goes back.
                    let w = self.queue.iter_mut().find(|w| w.future == holder).unwrap();
                    surplus += std::mem::take(&mut w.assigned);
                    self.partial = None;
                }
            }
            if surplus == 0 {
                break;
            }
            let w = &mut self.queue[front];
            let missing = w.needed - w.assigned;
            if surplus < missing {
                w.assigned += std::mem::take(&mut surplus);
                self.partial = Some(w.future);
                break;
            }
            surplus -= missing;
            let w = self.queue.remove(front);
            if self.partial == Some(w.future) {
                self.partial = None;
            }
            self.grants += 1;
            self.phases[w.future] = Phase::Granted { permits: w.needed };
            self.wakes[w.future] += 1;
        }
        if self.queue.is_empty() {
            self.available += surplus;
        } else {
            assert_eq!(surplus, 0, "model: surplus left with waiters queued");
        }
    }

    pub fn release(&mut self, n: usize) {
        if n > 0 && !self.closed && !self.queue.is_empty() {
            self.settle(n);
        } else {
            self.available += n;
        }
    }

    pub fn create(&mut self, priority: Key, permits: usize) -> usize {
        self.phases.push(Phase::Unpolled { priority, permits });
        self.wakes.push(0);
        self.phases.len() - 1
    }

    pub fn poll(&mut self, id: usize) -> Outcome {
        let outcome = match self.phases[id] {
            Phase::Unpolled { permits: 0, .. } if !self.closed => Outcome::Granted(0),
            Phase::Unpolled { .. } if self.closed => Outcome::Closed,
            Phase::Unpolled { priority, permits } => {
                if self.queue.is_empty() && self.available >= permits {
                    self.available -= permits;
                    Outcome::Granted(permits)
                } else {
                    self.queue.push(Waiter {
                        future: id,
                        priority,
                        needed: permits,
                        assigned: 0,
                        ticket: self.grants,
                    });
                    self.phases[id] = Phase::Queued;
                    // Queueing moves the free permits into the line's hands.
                    let surplus = std::mem::take(&mut self.available);
                    self.settle(surplus);
                    // It may have been served at once (and woken: its waker was stored).
                    return self.poll_queued(id);
                }
            }
            Phase::Queued | Phase::Granted { .. } | Phase::Closed => return self.poll_queued(id),
            Phase::Done => unreachable!("completed futures are not polled"),
        };
        self.phases[id] = Phase::Done;
        outcome
    }

    pub fn poll_queued(&mut self, id: usize) -> Outcome {
        let outcome = match self.phases[id] {
            Phase::Queued => return Outcome::Pending,
            Phase::Granted { permits } => Outcome::Granted(permits),
            Phase::Closed => Outcome::Closed,
            phase => unreachable!("{phase:?}"),
        };
        self.phases[id] = Phase::Done;
        outcome
    }

    pub fn drop_future(&mut self, id: usize) {
        match self.phases[id] {
            Phase::Queued => {
                let at = self.queue.iter().position(|w| w.future == id).unwrap();
                let w = self.queue.remove(at);
                if self.partial == Some(id) {
                    self.partial = None;
                }
                // Its partial grant (if any) goes on; the line is settled even without one,
                // since the front may have changed.
                self.settle(w.assigned);
            }
            Phase::Granted { permits } => self.release(permits),
            Phase::Unpolled { .. } | Phase::Closed | Phase::Done => {}
        }
    }

    pub fn try_acquire(&mut self, n: usize) -> Result<usize, TryAcquireError> {
        if n == 0 && !self.closed {
            Ok(0)
        } else if self.closed {
            Err(TryAcquireError::Closed)
        } else if !self.queue.is_empty() || self.available < n {
            Err(TryAcquireError::NoPermits)
        } else {
            self.available -= n;
            Ok(n)
        }
    }

    pub fn forget_permits(&mut self, n: usize) -> usize {
        let taken = n.min(self.available);
        self.available -= taken;
        self.total -= taken;
        taken
    }

    pub fn close(&mut self) {
        self.closed = true;
        for w in std::mem::take(&mut self.queue) {
            self.available += w.assigned;
            self.phases[w.future] = Phase::Closed;
            self.wakes[w.future] += 1;
        }
        self.partial = None;
    }
}

/// A live acquire future (of any of the semaphores the models drive), polled by hand,
/// with a waker that counts its wake-ups.
pub struct Tracked<F> {
    /// The model's id of the future.
    pub id: usize,
    future: Pin<Box<F>>,
    wakes: Arc<AtomicUsize>,
    waker: Waker,
    /// Whether a poll returned `Ready`.
    pub done: bool,
}

impl<F: Future<Output = Result<T, AcquireError>>, T> Tracked<F> {
    pub fn new(id: usize, future: F) -> Self {
        let wakes = Arc::new(AtomicUsize::new(0));
        Self {
            id,
            future: Box::pin(future),
            waker: Waker::from(Arc::new(CountingWaker(wakes.clone()))),
            wakes,
            done: false,
        }
    }

    /// Polls it once, with a new waker for the same counter if `new_waker` (so the stored
    /// one is replaced): what it returned, and the permit if it was granted (`permits`
    /// reads a permit's count).
    pub fn poll(&mut self, new_waker: bool, permits: impl Fn(&T) -> usize) -> (Outcome, Option<T>) {
        if new_waker {
            self.waker = Waker::from(Arc::new(CountingWaker(self.wakes.clone())));
        }
        let mut cx = Context::from_waker(&self.waker);
        let (outcome, permit) = match self.future.as_mut().poll(&mut cx) {
            Poll::Pending => (Outcome::Pending, None),
            Poll::Ready(Ok(permit)) => (Outcome::Granted(permits(&permit)), Some(permit)),
            Poll::Ready(Err(err)) => (closed_error(&err), None),
        };
        self.done = outcome != Outcome::Pending;
        (outcome, permit)
    }

    /// How many times it was woken.
    pub fn wakes(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }
}

/// The position of the `index`-th (modulo their number) future not yet done, if any.
pub fn pick<F>(futures: &[Tracked<F>], index: usize) -> Option<usize> {
    let pollable: Vec<usize> = (0..futures.len()).filter(|&i| !futures[i].done).collect();
    (!pollable.is_empty()).then(|| pollable[index % pollable.len()])
}

/// The real semaphore's futures and permits, and the model they are checked against.
pub struct Lockstep<'s> {
    sem: &'s Semaphore,
    futures: Vec<Tracked<Acquire<'s>>>,
    permits: Vec<Permit<'s>>,
    model: Model,
    /// What happened so far, for failure messages.
    log: Vec<String>,
}

impl<'s> Lockstep<'s> {
    /// Wraps a semaphore made with `Semaphore::new(permits)` (and
    /// `with_overtake_limit(limit)` if `overtake_limit` is set), not used before.
    pub fn new(sem: &'s Semaphore, permits: usize, overtake_limit: Option<usize>) -> Self {
        assert_eq!(sem.available_permits(), permits);
        #[cfg(feature = "overtake-limit")]
        assert_eq!(sem.overtake_limit(), overtake_limit);
        #[cfg(not(feature = "overtake-limit"))]
        assert_eq!(
            overtake_limit, None,
            "a limit needs feature `overtake-limit`"
        );
        Self {
            sem,
            futures: Vec::new(),
            permits: Vec::new(),
            model: Model::new(permits, overtake_limit),
            log: Vec::new(),
        }
    }

    /// Runs every op, checking after each; then drops every future and permit, checking
    /// after each, and that all permits came back.
    pub fn run(mut self, ops: impl IntoIterator<Item = Op>) {
        for op in ops {
            self.step(op);
        }
        while !self.futures.is_empty() {
            self.step(Op::DropFuture { index: 0 });
        }
        while !self.permits.is_empty() {
            self.step(Op::DropPermit { index: 0 });
        }
        self.check(
            self.sem.available_permits() == self.model.total,
            "all permits back",
        );
        self.check(self.sem.waiter_count() == 0, "nobody waits");
    }

    /// Applies one op to both sides and compares them.
    pub fn step(&mut self, op: Op) {
        self.log.push(format!("{op:?}"));
        match op {
            Op::Create { priority, permits } => {
                let id = self.model.create((priority, 0), permits as usize);
                let future = self.sem.acquire_many(permits).priority(priority);
                self.futures.push(Tracked::new(id, future));
            }
            Op::Poll { index, new_waker } => {
                let Some(at) = pick(&self.futures, index) else {
                    return;
                };
                let tracked = &mut self.futures[at];
                let (real, permit) = tracked.poll(new_waker, Permit::num_permits);
                let expected = self.model.poll(tracked.id);
                self.check(
                    real == expected,
                    format_args!("poll: got {real:?}, expected {expected:?}"),
                );
                if let Some(permit) = permit {
                    self.permits.push(permit);
                }
            }
            Op::DropFuture { index } => {
                if self.futures.is_empty() {
                    return;
                }
                let tracked = self.futures.remove(index % self.futures.len());
                let id = tracked.id;
                drop(tracked);
                self.model.drop_future(id);
            }
            Op::DropPermit { index } => {
                if self.permits.is_empty() {
                    return;
                }
                let permit = self.permits.remove(index % self.permits.len());
                let n = permit.num_permits();
                drop(permit);
                self.model.release(n);
            }
            Op::ForgetPermit { index } => {
                if self.permits.is_empty() {
                    return;
                }
                let permit = self.permits.remove(index % self.permits.len());
                self.model.total -= permit.num_permits();
                permit.forget();
            }
            Op::AddPermits(n) => {
                self.sem.add_permits(n);
                self.model.total += n;
                self.model.release(n);
            }
            Op::ForgetPermits(n) => {
                let real = self.sem.forget_permits(n);
                let expected = self.model.forget_permits(n);
                self.check(
                    real == expected,
                    format_args!("forget_permits: {real} != {expected}"),
                );
            }
            Op::TryAcquire(n) => {
                let real = self.sem.try_acquire_many(n);
                let expected = self.model.try_acquire(n as usize);
                let same = match (&real, &expected) {
                    (Ok(permit), Ok(n)) => permit.num_permits() == *n,
                    (Err(a), Err(b)) => a == b,
                    _ => false,
                };
                self.check(
                    same,
                    format_args!("try_acquire: got {real:?}, expected {expected:?}"),
                );
                if let Ok(permit) = real {
                    self.permits.push(permit);
                }
            }
            Op::Close => {
                self.sem.close();
                self.model.close();
            }
        }
        self.compare();
    }

    /// Compares everything observable after a step.
    fn compare(&self) {
        let m = &self.model;
        let held: usize = self.permits.iter().map(Permit::num_permits).sum();
        let granted_unpolled: usize = (self.futures.iter())
            .filter_map(|f| match m.phases[f.id] {
                Phase::Granted { permits } => Some(permits),
                _ => None,
            })
            .sum();
        let collected: usize = m.queue.iter().map(|w| w.assigned).sum();
        self.check(
            m.available + held + granted_unpolled + collected == m.total,
            "model: permits add up",
        );
        self.check(
            m.queue
                .iter()
                .all(|w| w.assigned == 0 || m.partial == Some(w.future)),
            "model: only the partial waiter collects",
        );
        self.check(
            self.sem.available_permits() == m.available,
            "available permits",
        );
        self.check(self.sem.waiter_count() == m.queue.len(), "waiter count");
        self.check(self.sem.is_closed() == m.closed, "closed");
        for f in &self.futures {
            let (got, expected) = (f.wakes(), m.wakes[f.id]);
            self.check(
                got == expected,
                format_args!("future #{} woken {got} times, expected {expected}", f.id),
            );
        }
    }

    #[track_caller]
    fn check(&self, ok: bool, what: impl fmt::Display) {
        if !ok {
            panic!(
                "{what}\nreal: available {}, waiting {}, closed {}\nmodel: {:#?}\nops:\n  {}",
                self.sem.available_permits(),
                self.sem.waiter_count(),
                self.sem.is_closed(),
                self.model,
                self.log.join("\n  "),
            );
        }
    }
}

pub fn closed_error(err: &AcquireError) -> Outcome {
    assert!(err.is_closed(), "unexpected error: {err}");
    Outcome::Closed
}
