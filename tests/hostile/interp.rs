//! The hostile interpreter shared by `tests/hostile_model.rs` (proptest) and the fuzz target
//! `fuzz/fuzz_targets/hostile.rs`: random operation sequences on a semaphore whose
//! priorities answer comparisons from a script (lies, contradictions, panics) and whose
//! wakers use the semaphore from `clone`, `wake` and `drop`.
//!
//! No reference order is checked (with a lying `Ord` the order is unspecified); what is
//! checked is the part of the contract that holds for any `Ord`: no panic but the `Ord`'s
//! own, counts that stay exact, and every request served once permits are free.

use std::cmp::Ordering;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use prio_semaphore::{AcquireError, AcquireOwned, OwnedPermit, Semaphore};

/// The message of the scripted `Ord` panic, the only panic a step may raise.
pub const ORD_PANIC: &str = "the scripted Ord panics";

/// How a comparison involving a lying priority answers, one entry per comparison, cycling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Less,
    Equal,
    Greater,
    /// By rank, as an honest priority would.
    Honest,
    Panic,
}

/// The script of answers, shared by every lying priority of one run.
#[derive(Debug)]
pub struct Script {
    answers: Mutex<(Vec<Answer>, usize)>,
    /// Off for the final drain, so every request can be queued in the end.
    panics: AtomicBool,
}

impl Script {
    pub fn new(answers: Vec<Answer>) -> Arc<Self> {
        Arc::new(Self {
            answers: Mutex::new((answers, 0)),
            panics: AtomicBool::new(true),
        })
    }

    fn next(&self) -> Answer {
        let mut guard = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        let (answers, at) = &mut *guard;
        if answers.is_empty() {
            return Answer::Honest;
        }
        let answer = answers[*at % answers.len()];
        *at += 1;
        answer
    }
}

/// A priority: a rank, and for a liar the shared script its comparisons follow.
#[derive(Debug, Clone, Default)]
pub struct Liar {
    rank: u8,
    script: Option<Arc<Script>>,
}

impl Ord for Liar {
    fn cmp(&self, other: &Self) -> Ordering {
        let script = self.script.as_ref().or(other.script.as_ref());
        let answer = script.map_or(Answer::Honest, |s| s.next());
        match answer {
            Answer::Less => Ordering::Less,
            Answer::Equal => Ordering::Equal,
            Answer::Greater => Ordering::Greater,
            Answer::Panic if script.is_some_and(|s| s.panics.load(AtomicOrdering::SeqCst)) => {
                panic!("{ORD_PANIC}")
            }
            Answer::Honest | Answer::Panic => self.rank.cmp(&other.rank),
        }
    }
}

impl PartialOrd for Liar {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Liar {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Liar {}

/// One step.
#[derive(Debug, Clone)]
pub enum Op {
    /// A new request for `permits` (0..=3), a liar or not.
    Create {
        rank: u8,
        permits: u32,
        liar: bool,
    },
    /// Polls request `index` (modulo the live count) with a plain waker or with one that
    /// uses the semaphore from `clone`, `wake` and `drop`.
    Poll {
        index: usize,
        reentrant: bool,
    },
    DropRequest {
        index: usize,
    },
    DropPermit {
        index: usize,
    },
    AddPermits(usize),
    ForgetPermits(usize),
    TryAcquire(u32),
    Close,
}

type Sem = Semaphore<Liar>;

/// The run: the semaphore, the live requests and permits, and the permits in existence.
pub struct Hostile {
    sem: Arc<Sem>,
    script: Arc<Script>,
    /// Live requests, with the permits each asks for.
    requests: Vec<(u32, Pin<Box<AcquireOwned<Liar>>>)>,
    permits: Vec<OwnedPermit<Liar>>,
    /// Permits in existence: the initial ones, plus added, minus forgotten.
    total: usize,
}

impl Hostile {
    pub fn new(permits: usize, overtake_limit: Option<usize>, answers: Vec<Answer>) -> Self {
        let sem: Sem = match overtake_limit {
            #[cfg(feature = "overtake-limit")]
            Some(limit) => Semaphore::new_generic(permits).with_overtake_limit(limit),
            #[cfg(not(feature = "overtake-limit"))]
            Some(_) => panic!("an overtake limit needs feature `overtake-limit`"),
            None => Semaphore::new_generic(permits),
        };
        Self {
            sem: Arc::new(sem),
            script: Script::new(answers),
            requests: Vec::new(),
            permits: Vec::new(),
            total: permits,
        }
    }

    /// Runs every step, then checks that everything left is served.
    pub fn run(mut self, ops: impl IntoIterator<Item = Op>) {
        for op in ops {
            self.step(op);
        }
        self.drain();
    }

    pub fn step(&mut self, op: Op) {
        match op {
            Op::Create {
                rank,
                permits,
                liar,
            } => {
                let priority = Liar {
                    rank,
                    script: liar.then(|| self.script.clone()),
                };
                let request = self
                    .sem
                    .clone()
                    .acquire_many_owned(permits)
                    .priority(priority);
                self.requests.push((permits, Box::pin(request)));
            }
            Op::Poll { index, reentrant } => {
                if self.requests.is_empty() {
                    return;
                }
                let index = index % self.requests.len();
                let waker = if reentrant {
                    reentrant_waker(&self.sem)
                } else {
                    Waker::noop().clone()
                };
                if let Some(result) = self.poll(index, &waker) {
                    let _completed = self.requests.swap_remove(index);
                    self.accept(result);
                }
            }
            Op::DropRequest { index } => {
                if !self.requests.is_empty() {
                    let index = index % self.requests.len();
                    drop(self.requests.swap_remove(index));
                }
            }
            Op::DropPermit { index } => {
                if !self.permits.is_empty() {
                    let index = index % self.permits.len();
                    drop(self.permits.swap_remove(index));
                }
            }
            Op::AddPermits(n) => {
                self.sem.add_permits(n);
                self.total += n;
            }
            Op::ForgetPermits(n) => {
                let forgotten = self.sem.forget_permits(n);
                assert!(forgotten <= n);
                self.total -= forgotten;
            }
            Op::TryAcquire(n) => {
                if let Ok(permit) = self.sem.clone().try_acquire_many_owned(n) {
                    assert_eq!(permit.num_permits(), n as usize);
                    self.permits.push(permit);
                }
            }
            Op::Close => self.sem.close(),
        }
        self.check_counts();
    }

    /// Polls request `index`: `Some` once it completed. A panic other than the scripted
    /// `Ord` panic fails the run; after the `Ord` panic the request is as if never polled.
    fn poll(
        &mut self,
        index: usize,
        waker: &Waker,
    ) -> Option<Result<OwnedPermit<Liar>, AcquireError>> {
        let request = self.requests[index].1.as_mut();
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            request.poll(&mut Context::from_waker(waker))
        }));
        match polled {
            Ok(Poll::Ready(result)) => Some(result),
            Ok(Poll::Pending) => None,
            Err(payload) => {
                let message = payload
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| payload.downcast_ref::<&str>().copied())
                    .unwrap_or("");
                assert_eq!(message, ORD_PANIC, "only the scripted `Ord` may panic");
                None
            }
        }
    }

    fn accept(&mut self, result: Result<OwnedPermit<Liar>, AcquireError>) {
        match result {
            Ok(permit) => self.permits.push(permit),
            Err(_) => assert!(
                self.sem.is_closed(),
                "only a closed semaphore fails a request"
            ),
        }
    }

    /// Never more permits available and held than exist (the rest are with granted
    /// requests not yet polled, or collected by the front waiter); exactness is checked
    /// when everything is returned, at the end.
    fn check_counts(&self) {
        let held: usize = self.permits.iter().map(OwnedPermit::num_permits).sum();
        assert!(
            self.sem.available_permits() + held <= self.total,
            "available ({}) + held ({held}) exceed the permits in existence ({})",
            self.sem.available_permits(),
            self.total
        );
    }

    /// Returns every permit and makes sure the largest request (3) fits, then polls every
    /// request until none makes progress (dropping each permit at once): all of them must
    /// complete, and the counts must be exact.
    fn drain(mut self) {
        self.script.panics.store(false, AtomicOrdering::SeqCst);
        self.permits.clear();
        if self.total < 3 {
            self.sem.add_permits(3 - self.total);
            self.total = 3;
        }
        loop {
            let before = self.requests.len();
            let mut index = 0;
            while index < self.requests.len() {
                let waker = reentrant_waker(&self.sem);
                match self.poll(index, &waker) {
                    Some(result) => {
                        let _completed = self.requests.swap_remove(index);
                        match result {
                            Ok(permit) => drop(permit),
                            Err(_) => assert!(self.sem.is_closed()),
                        }
                    }
                    None => index += 1,
                }
            }
            if self.requests.len() == before {
                break;
            }
        }
        let stranded: Vec<u32> = self.requests.iter().map(|(needed, _)| *needed).collect();
        assert!(
            stranded.is_empty(),
            "requests for {stranded:?} permits stranded with {} free",
            self.sem.available_permits()
        );
        assert_eq!(self.sem.waiter_count(), 0);
        assert_eq!(self.sem.available_permits(), self.total, "no permit lost");
    }
}

/// A waker that uses the semaphore from `clone` (reads its counts), `wake` (tries to take
/// and give back a permit) and `drop` (reads the waiter count).
fn reentrant_waker(sem: &Arc<Sem>) -> Waker {
    let data = Arc::into_raw(sem.clone()).cast::<()>();
    // SAFETY: `data` is an `Arc<Sem>` turned into a raw pointer, which every function of
    // `VTABLE` expects; the waker owns that reference.
    unsafe { Waker::from_raw(RawWaker::new(data, &VTABLE)) }
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// # Safety
///
/// `data` comes from a waker made by [`reentrant_waker`] that is still alive.
unsafe fn sem<'a>(data: *const ()) -> &'a Sem {
    // SAFETY: the caller's condition keeps the semaphore alive.
    unsafe { &*data.cast::<Sem>() }
}

unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: called on a live waker made by `reentrant_waker`.
    let sem = unsafe { sem(data) };
    let _ = (sem.waiter_count(), sem.available_permits(), sem.is_closed());
    // SAFETY: as above; the new waker owns one more reference.
    unsafe { Arc::increment_strong_count(data.cast::<Sem>()) };
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: as for `clone`; `wake` consumes the waker.
    unsafe {
        wake_by_ref(data);
        drop_waker(data);
    }
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: as for `clone`.
    let sem = unsafe { sem(data) };
    // Barging is impossible while anyone waits; if nobody does, take one and give it back.
    if let Ok(permit) = sem.try_acquire() {
        drop(permit);
    }
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: as for `clone`; this waker's reference is given back.
    let sem = unsafe { Arc::from_raw(data.cast::<Sem>()) };
    let _ = sem.waiter_count();
}
