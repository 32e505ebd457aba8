//! The lockstep model extended with shares: a real `ShareSemaphore` and a reference model
//! of its contract, run side by side on one thread (futures polled by hand), compared after
//! every step.
//!
//! The reference is the rules of the `share` module docs, over one core model per class
//! (`lockstep.rs`) for the class's line:
//!
//! * a request takes free permits at once if no request of any class is registered (queued,
//!   or granted and not yet polled), `n` are free and its class stays within its cap;
//! * else it queues in its class's line, and the free permits are dispatched: to classes
//!   with waiters below their nominal share (class order), then below their cap (class
//!   order), each no more than its registered requests ask for; permits a line holds with
//!   nobody waiting come back and are dispatched again;
//! * a permit dropped, or a request leaving, gives its permits back and dispatches.

use std::fmt;

use super::lockstep::{pick, Model, Outcome, Tracked};
use prio_semaphore::share::{ShareAcquire, SharePermit, ShareSemaphore};
use prio_semaphore::TryAcquireError;

/// One step. Indices pick among live futures or permits modulo their count.
#[derive(Clone, Debug)]
pub enum ShareOp {
    Create {
        class: usize,
        priority: i64,
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
    TryAcquire {
        class: usize,
        permits: u32,
    },
    AddPermits(usize),
    Close,
}

/// The dispatcher of the reference.
#[derive(Debug)]
struct Books {
    weights: Vec<u32>,
    borrowing: Vec<Option<u32>>,
    total: usize,
    free: usize,
    closed: bool,
    nominal: Vec<usize>,
    cap: Vec<usize>,
    assigned: Vec<usize>,
    demand: Vec<usize>,
    registered: usize,
}

impl Books {
    fn rescale(&mut self) {
        let sum: u64 = self.weights.iter().map(|&w| u64::from(w)).sum();
        let n = self.weights.len();
        for c in 0..n {
            let weighted = self.total as u64 * u64::from(self.weights[c]);
            self.nominal[c] = weighted.checked_div(sum).unwrap_or(0) as usize;
        }
        let mut left = self.total - self.nominal.iter().sum::<usize>();
        for c in 0..n {
            if left > 0 && sum > 0 && self.weights[c] > 0 {
                self.nominal[c] += 1;
                left -= 1;
            }
        }
        for c in 0..n {
            self.cap[c] = match self.borrowing[c] {
                None => self.total,
                Some(p) => (self.nominal[c] + self.nominal[c] * p as usize / 100).min(self.total),
            };
        }
    }
}

/// The reference's view of one future.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Unpolled,
    /// In its class's line, as the line model's future `local`.
    Registered {
        local: usize,
    },
    /// Completed or dropped; `local` if it had queued.
    Done {
        local: Option<usize>,
    },
}

/// The real share semaphore, its futures and permits, and the reference.
pub struct ShareLockstep<'s> {
    sem: &'s ShareSemaphore,
    futures: Vec<Tracked<ShareAcquire<'s>>>,
    permits: Vec<SharePermit<'s>>,
    books: Books,
    lines: Vec<Model>,
    /// Per future: class, priority, permits, stage.
    asks: Vec<(usize, i64, usize, Stage)>,
    log: Vec<String>,
}

impl<'s> ShareLockstep<'s> {
    /// Wraps a semaphore made with `permits` and one `Share` per weight (with the
    /// borrowing limit of the same index, if any), not used before.
    pub fn new(
        sem: &'s ShareSemaphore,
        permits: usize,
        weights: &[u32],
        borrowing: &[Option<u32>],
    ) -> Self {
        let n = weights.len();
        let mut books = Books {
            weights: weights.to_vec(),
            borrowing: borrowing.to_vec(),
            total: permits,
            free: permits,
            closed: false,
            nominal: vec![0; n],
            cap: vec![0; n],
            assigned: vec![0; n],
            demand: vec![0; n],
            registered: 0,
        };
        books.rescale();
        let this = Self {
            sem,
            futures: Vec::new(),
            permits: Vec::new(),
            books,
            lines: (0..n).map(|_| Model::new(0, None)).collect(),
            asks: Vec::new(),
            log: Vec::new(),
        };
        this.compare();
        this
    }

    pub fn run(mut self, ops: impl IntoIterator<Item = ShareOp>) {
        for op in ops {
            self.step(op);
        }
        while !self.futures.is_empty() {
            self.step(ShareOp::DropFuture { index: 0 });
        }
        while !self.permits.is_empty() {
            self.step(ShareOp::DropPermit { index: 0 });
        }
        self.check(
            self.sem.available_permits() == self.books.total,
            "all permits back",
        );
        self.check(self.sem.waiter_count() == 0, "nobody waits");
    }

    fn step(&mut self, op: ShareOp) {
        self.log.push(format!("{op:?}"));
        let classes = self.lines.len();
        match op {
            ShareOp::Create {
                class,
                priority,
                permits,
            } => {
                let class = class % classes;
                let id = self.asks.len();
                self.asks
                    .push((class, priority, permits as usize, Stage::Unpolled));
                let future = self.sem.acquire_many(class, permits).priority(priority);
                self.futures.push(Tracked::new(id, future));
            }
            ShareOp::Poll { index } => {
                let Some(at) = pick(&self.futures, index) else {
                    return;
                };
                let id = self.futures[at].id;
                let expected = self.model_poll(id);
                let (real, permit) = self.futures[at].poll(false, SharePermit::num_permits);
                self.check(
                    real == expected,
                    format_args!("poll #{id}: got {real:?}, expected {expected:?}"),
                );
                self.permits.extend(permit);
            }
            ShareOp::DropFuture { index } => {
                if self.futures.is_empty() {
                    return;
                }
                let tracked = self.futures.remove(index % self.futures.len());
                let id = tracked.id;
                drop(tracked);
                let (class, _, n, stage) = self.asks[id];
                if let Stage::Registered { local } = stage {
                    self.lines[class].drop_future(local);
                    self.asks[id].3 = Stage::Done { local: Some(local) };
                    self.left(class, n);
                }
            }
            ShareOp::DropPermit { index } => {
                if self.permits.is_empty() {
                    return;
                }
                let permit = self.permits.remove(index % self.permits.len());
                let (class, n) = (permit.class(), permit.num_permits());
                drop(permit);
                if n > 0 {
                    self.books.assigned[class] -= n;
                    self.books.free += n;
                    self.dispatch();
                }
            }
            ShareOp::TryAcquire { class, permits } => {
                let class = class % classes;
                let real = self.sem.try_acquire_many(class, permits);
                let n = permits as usize;
                let expected = if self.books.closed {
                    Err(TryAcquireError::Closed)
                } else if n == 0 || self.take_free(class, n) {
                    Ok(n)
                } else {
                    Err(TryAcquireError::NoPermits)
                };
                let same = match (&real, &expected) {
                    (Ok(p), Ok(n)) => p.num_permits() == *n,
                    (Err(a), Err(b)) => a == b,
                    _ => false,
                };
                self.check(
                    same,
                    format_args!("try_acquire: got {real:?}, expected {expected:?}"),
                );
                self.permits.extend(real.ok());
            }
            ShareOp::AddPermits(n) => {
                self.sem.add_permits(n);
                self.books.total += n;
                self.books.free += n;
                self.books.rescale();
                self.dispatch();
            }
            ShareOp::Close => {
                self.sem.close();
                self.books.closed = true;
                for line in &mut self.lines {
                    line.close();
                }
            }
        }
        self.compare();
    }

    fn take_free(&mut self, class: usize, n: usize) -> bool {
        let b = &mut self.books;
        if b.registered != 0 || b.free < n || b.assigned[class] + n > b.cap[class] {
            return false;
        }
        b.free -= n;
        b.assigned[class] += n;
        true
    }

    /// A registered request of `class` left without permits: its demand goes, and what its
    /// line holds for nobody comes back.
    fn left(&mut self, class: usize, n: usize) {
        self.books.registered -= 1;
        self.books.demand[class] -= n;
        if self.reclaim(class) {
            self.dispatch();
        }
    }

    fn reclaim(&mut self, class: usize) -> bool {
        let line = &mut self.lines[class];
        let parked = std::mem::take(&mut line.available);
        line.total -= parked;
        self.books.assigned[class] -= parked;
        self.books.free += parked;
        parked > 0
    }

    fn dispatch(&mut self) {
        loop {
            if self.books.closed || self.books.free == 0 {
                return;
            }
            let n = self.lines.len();
            let waiting: Vec<bool> = self.lines.iter().map(|l| !l.queue.is_empty()).collect();
            let mut plan = vec![0; n];
            for tier in [self.books.nominal.clone(), self.books.cap.clone()] {
                for c in 0..n {
                    let b = &mut self.books;
                    if !waiting[c] || b.free == 0 {
                        continue;
                    }
                    let give = b
                        .free
                        .min(tier[c].saturating_sub(b.assigned[c]))
                        .min(b.demand[c] - plan[c]);
                    plan[c] += give;
                    b.assigned[c] += give;
                    b.free -= give;
                }
            }
            let mut moved = false;
            for (c, &given) in plan.iter().enumerate() {
                if given > 0 {
                    self.lines[c].total += given;
                    self.lines[c].release(given);
                    moved |= self.reclaim(c);
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// The reference's answer to a poll of future `id`.
    fn model_poll(&mut self, id: usize) -> Outcome {
        let (class, priority, n, stage) = self.asks[id];
        let local = match stage {
            Stage::Done { .. } => unreachable!("completed futures are not polled"),
            Stage::Registered { local } => local,
            Stage::Unpolled => {
                self.asks[id].3 = Stage::Done { local: None };
                if n == 0 {
                    return if self.books.closed {
                        Outcome::Closed
                    } else {
                        Outcome::Granted(0)
                    };
                }
                if self.books.closed {
                    return Outcome::Closed;
                }
                if self.take_free(class, n) {
                    return Outcome::Granted(n);
                }
                self.books.registered += 1;
                self.books.demand[class] += n;
                let local = self.lines[class].create((priority, 0), n);
                self.asks[id].3 = Stage::Registered { local };
                // Served at once only if it takes a partial grant over (it is more urgent
                // than the waiter collecting one); else the dispatcher may owe its class.
                match self.lines[class].poll(local) {
                    Outcome::Pending => self.dispatch(),
                    first => return self.completed(id, first),
                }
                local
            }
        };
        let outcome = self.lines[class].poll(local);
        self.completed(id, outcome)
    }

    /// The books after future `id`'s line request returned `outcome`.
    fn completed(&mut self, id: usize, outcome: Outcome) -> Outcome {
        let (class, _, n, stage) = self.asks[id];
        let local = match stage {
            Stage::Registered { local } => local,
            _ => unreachable!("only a registered request is in a line"),
        };
        match outcome {
            Outcome::Pending => {}
            Outcome::Granted(n) => {
                self.asks[id].3 = Stage::Done { local: Some(local) };
                // The line's permits are forgotten there: held through the share permit.
                self.lines[class].total -= n;
                self.books.registered -= 1;
                self.books.demand[class] -= n;
            }
            Outcome::Closed => {
                self.asks[id].3 = Stage::Done { local: Some(local) };
                self.left(class, n);
            }
        }
        outcome
    }

    /// The wake-ups future `id` must have seen: its line's count, once it queued.
    fn wakes(&self, id: usize) -> usize {
        let (class, .., stage) = self.asks[id];
        match stage {
            Stage::Registered { local } | Stage::Done { local: Some(local) } => {
                self.lines[class].wakes[local]
            }
            _ => 0,
        }
    }

    fn compare(&self) {
        let b = &self.books;
        for line in &self.lines {
            self.check(
                line.closed || line.available == 0,
                "model: a line holds permits for nobody",
            );
        }
        let parked: usize = self.lines.iter().map(|l| l.available).sum();
        self.check(
            self.sem.available_permits() == b.free + parked,
            "available permits",
        );
        let waiting: usize = self.lines.iter().map(|l| l.queue.len()).sum();
        self.check(self.sem.waiter_count() == waiting, "waiter count");
        self.check(self.sem.is_closed() == b.closed, "closed");
        for c in 0..self.lines.len() {
            self.check(
                self.sem.nominal(c) == b.nominal[c],
                format_args!("nominal of {c}"),
            );
            self.check(self.sem.cap(c) == b.cap[c], format_args!("cap of {c}"));
            self.check(
                self.sem.assigned(c) == b.assigned[c],
                format_args!("assigned to {c}"),
            );
        }
        let held: usize = self.permits.iter().map(SharePermit::num_permits).sum();
        let in_lines: usize = self.lines.iter().map(|l| l.total).sum();
        self.check(b.free + held + in_lines == b.total, "model: permits add up");
        for f in &self.futures {
            let expected = self.wakes(f.id);
            if expected != usize::MAX {
                let got = f.wakes();
                self.check(
                    got == expected,
                    format_args!("future #{} woken {got} times, expected {expected}", f.id),
                );
            }
        }
    }

    #[track_caller]
    fn check(&self, ok: bool, what: impl fmt::Display) {
        if !ok {
            panic!(
                "{what}\nbooks: {:#?}\nlines: {:#?}\nops:\n  {}",
                self.books,
                self.lines,
                self.log.join("\n  ")
            );
        }
    }
}
