//! Priorities whose `Ord` misbehaves: answers that contradict each other, change while a
//! request waits, come at random, or use the semaphore they order. The contract (as
//! `BTreeMap` states it for its keys): the order of service is then unspecified, or a clear
//! panic happens, but no waiter, permit or wake-up is ever lost, and nothing is unsound
//! (miri runs these tests).

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use crate::common::{assert_exact, expect_panic, expect_ready, poll_noop};
use prio_semaphore::{Acquire, Permit, Semaphore};

/// A priority with a rank, and optionally a script of answers that its comparisons give
/// (as `self.cmp(other)`, from either side) before falling back to the rank.
#[derive(Clone, Default)]
struct Scripted {
    rank: i64,
    script: Option<Arc<Mutex<VecDeque<Ordering>>>>,
}

impl Scripted {
    fn honest(rank: i64) -> Self {
        Self { rank, script: None }
    }

    fn lying(rank: i64, answers: impl IntoIterator<Item = Ordering>) -> Self {
        let script = answers.into_iter().collect();
        Self {
            rank,
            script: Some(Arc::new(Mutex::new(script))),
        }
    }

    fn next_answer(&self) -> Option<Ordering> {
        self.script.as_ref()?.lock().unwrap().pop_front()
    }
}

impl Ord for Scripted {
    fn cmp(&self, other: &Self) -> Ordering {
        if let Some(answer) = self.next_answer() {
            return answer;
        }
        if let Some(answer) = other.next_answer() {
            return answer.reverse();
        }
        self.rank.cmp(&other.rank)
    }
}

impl PartialOrd for Scripted {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Scripted {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Scripted {}

type Pending<'a, P> = Pin<Box<Acquire<'a, P>>>;

/// Polls every request until none makes progress, dropping each permit as soon as it is
/// granted; returns how many completed. With nobody else holding permits, every request
/// must complete: one left over is a waiter stranded while permits are free.
fn serve_all<P: Ord>(requests: &mut Vec<Pending<'_, P>>) -> usize {
    let mut completed = 0;
    loop {
        let before = requests.len();
        requests.retain_mut(|request| match poll_noop(request.as_mut()) {
            Poll::Ready(permit) => {
                drop(permit.expect("the semaphore is open"));
                completed += 1;
                false
            }
            Poll::Pending => true,
        });
        if requests.len() == before {
            return completed;
        }
    }
}

/// The case that corrupts a list that trusts two comparisons to agree: compared with the
/// front waiter the new one says "after", and on the walk down the tree "before". Linked
/// below the front while the front stays cached as first, it would have its slot
/// overwritten by the next more urgent request: counted, but never served, even with every
/// permit free.
#[test]
fn a_waiter_whose_ord_contradicts_itself_is_still_served() {
    let sem: Semaphore<Scripted> = Semaphore::new_generic(1);
    let held = sem.try_acquire().unwrap();
    let mut requests: Vec<Pending<'_, Scripted>> = vec![
        Box::pin(sem.acquire().priority(Scripted::honest(5))),
        Box::pin(
            sem.acquire()
                .priority(Scripted::lying(5, [Ordering::Greater, Ordering::Less])),
        ),
        Box::pin(sem.acquire().priority(Scripted::honest(0))),
    ];
    for request in &mut requests {
        assert!(poll_noop(request.as_mut()).is_pending());
    }
    assert_eq!(sem.waiter_count(), 3);
    drop(held);
    assert_eq!(serve_all(&mut requests), 3, "a waiter was stranded");
    assert_exact(&sem, 1);
}

/// The same contradiction, then the waiters leave in every order while still queued: each
/// departure must unlink exactly one waiter and touch no freed memory (under miri, the old
/// code read a dangling parent pointer here).
#[test]
fn waiters_queued_by_a_contradicting_ord_can_leave_in_any_order() {
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for order in orders {
        let sem: Semaphore<Scripted> = Semaphore::new_generic(1);
        let held = sem.try_acquire().unwrap();
        let mut requests: Vec<Option<Pending<'_, Scripted>>> = vec![
            Some(Box::pin(sem.acquire().priority(Scripted::honest(5)))),
            Some(Box::pin(sem.acquire().priority(Scripted::lying(
                5,
                [Ordering::Greater, Ordering::Less],
            )))),
            Some(Box::pin(sem.acquire().priority(Scripted::honest(0)))),
        ];
        for request in requests.iter_mut().flatten() {
            assert!(poll_noop(request.as_mut()).is_pending());
        }
        for (left, &index) in order.iter().enumerate() {
            requests[index] = None;
            assert_eq!(sem.waiter_count(), 2 - left, "order {order:?}");
        }
        drop(held);
        assert_exact(&sem, 1);
    }
}

/// A small deterministic generator, so failures reproduce (also `fair_share.rs`'s).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A priority whose every comparison is a coin toss among the three answers.
#[derive(Clone)]
struct Random(Arc<Mutex<Rng>>);

impl Default for Random {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(Rng(1))))
    }
}

impl Ord for Random {
    fn cmp(&self, _: &Self) -> Ordering {
        match self.0.lock().unwrap().below(3) {
            0 => Ordering::Less,
            1 => Ordering::Equal,
            _ => Ordering::Greater,
        }
    }
}

impl PartialOrd for Random {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Random {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Random {}

/// Random answers to every comparison, weighted requests and cancellations anywhere: every
/// request left is served once permits are free, and the counts stay exact.
#[test]
fn random_answers_lose_no_waiter_and_no_permit() {
    let rounds = if cfg!(miri) { 4 } else { 200 };
    for seed in 1..=rounds {
        let rng = Arc::new(Mutex::new(Rng(0x9E37_79B9_7F4A_7C15 ^ seed)));
        let priority = Random(rng.clone());
        let permits = 1 + rng.lock().unwrap().below(3) as usize;
        let sem: Semaphore<Random> = Semaphore::new_generic(permits);
        let held = sem.try_acquire_many(permits as u32).unwrap();
        let n = if cfg!(miri) { 12 } else { 60 };
        let mut requests: Vec<Pending<'_, Random>> = Vec::new();
        for _ in 0..n {
            let needed = 1 + rng.lock().unwrap().below(permits as u64) as u32;
            let mut request = Box::pin(sem.acquire_many(needed).priority(priority.clone()));
            assert!(poll_noop(request.as_mut()).is_pending());
            requests.push(request);
            // Now and then a waiter leaves, from anywhere in the line.
            if rng.lock().unwrap().below(4) == 0 {
                let index = rng.lock().unwrap().below(requests.len() as u64) as usize;
                drop(requests.swap_remove(index));
            }
        }
        assert_eq!(sem.waiter_count(), requests.len(), "seed {seed}");
        let queued = requests.len();
        drop(held);
        assert_eq!(
            serve_all(&mut requests),
            queued,
            "seed {seed}: a waiter was stranded"
        );
        assert_exact(&sem, permits);
    }
}

/// A priority read through a shared cell that another thread changes while the request
/// waits: a "priority boost" some users will write. Order among boosted requests is then
/// unspecified, but every request completes and the counts stay exact.
#[derive(Clone, Default)]
struct Boostable(Arc<AtomicI64>);

impl Ord for Boostable {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (
            self.0.load(AtomicOrdering::Relaxed),
            other.0.load(AtomicOrdering::Relaxed),
        );
        a.cmp(&b)
    }
}

impl PartialOrd for Boostable {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Boostable {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Boostable {}

#[test]
#[cfg_attr(miri, ignore = "threads spinning for real: too slow under miri")]
fn priorities_changed_by_another_thread_while_queued_lose_nothing() {
    const WORKERS: usize = 6;
    const ROUNDS: usize = 20_000;
    let sem: Arc<Semaphore<Boostable>> = Arc::new(Semaphore::new_generic(2));
    let cells: Arc<Vec<Arc<AtomicI64>>> =
        Arc::new((0..16).map(|i| Arc::new(AtomicI64::new(i))).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let booster = {
        let (cells, stop) = (cells.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(7);
            while !stop.load(AtomicOrdering::Relaxed) {
                let cell = &cells[rng.below(16) as usize];
                cell.store(rng.below(8) as i64, AtomicOrdering::Relaxed);
                std::thread::yield_now();
            }
        })
    };
    let done = Arc::new(AtomicUsize::new(0));
    let (finished_tx, finished) = mpsc::channel();
    for worker in 0..WORKERS {
        let (sem, cells, done, finished_tx) = (
            sem.clone(),
            cells.clone(),
            done.clone(),
            finished_tx.clone(),
        );
        std::thread::spawn(move || {
            let mut rng = Rng(100 + worker as u64);
            for _ in 0..ROUNDS {
                let cell = cells[rng.below(16) as usize].clone();
                let permit = sem
                    .acquire_many(1 + rng.below(2) as u32)
                    .priority(Boostable(cell))
                    .wait()
                    .unwrap();
                drop(permit);
                done.fetch_add(1, AtomicOrdering::Relaxed);
            }
            finished_tx.send(()).unwrap();
        });
    }
    for _ in 0..WORKERS {
        // A stranded waiter shows up as a worker that never finishes.
        finished
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| {
                panic!(
                    "stuck after {} of {} acquires, {} waiting",
                    done.load(AtomicOrdering::Relaxed),
                    WORKERS * ROUNDS,
                    sem.waiter_count()
                )
            });
    }
    stop.store(true, AtomicOrdering::Relaxed);
    booster.join().unwrap();
    assert_exact(&sem, 2);
}

/// A priority whose `Ord` panics on the `n`th comparison of the whole test.
#[derive(Clone, Default)]
struct PanicsOnCall(i64, Arc<AtomicUsize>, usize);

impl Ord for PanicsOnCall {
    fn cmp(&self, other: &Self) -> Ordering {
        let call = self.1.fetch_add(1, AtomicOrdering::Relaxed);
        assert_ne!(call, self.2, "comparison {call} panics");
        self.0.cmp(&other.0)
    }
}

impl PartialOrd for PanicsOnCall {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for PanicsOnCall {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for PanicsOnCall {}

/// A panic at any comparison of a descent (the front check or any level of the tree) fails
/// only the request being queued: the others stay queued in order and are all served.
#[test]
fn a_panic_at_any_comparison_fails_only_the_request_being_queued() {
    for panic_at in 0..12 {
        let calls = Arc::new(AtomicUsize::new(0));
        let priority = |rank| PanicsOnCall(rank, calls.clone(), panic_at);
        let sem: Semaphore<PanicsOnCall> = Semaphore::new_generic(1);
        let held = sem.try_acquire().unwrap();
        let mut requests: Vec<Pending<'_, PanicsOnCall>> = Vec::new();
        let mut panicked = 0;
        for rank in [8, 4, 12, 2, 6, 10, 14, 1] {
            let mut request = Box::pin(sem.acquire().priority(priority(rank)));
            let queued = requests.len();
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                poll_noop(request.as_mut()).is_pending()
            })) {
                Ok(pending) => {
                    assert!(pending);
                    requests.push(request);
                }
                Err(_) => {
                    panicked += 1;
                    assert_eq!(
                        sem.waiter_count(),
                        queued,
                        "the failed request is not queued"
                    );
                }
            }
        }
        assert!(panicked <= 1);
        let queued = requests.len();
        drop(held);
        assert_eq!(serve_all(&mut requests), queued, "panic at {panic_at}");
        assert_exact(&sem, 1);
    }
}

// ---------------------------------------------------------------------------------------
// An `Ord` that uses the semaphore it orders
// ---------------------------------------------------------------------------------------

/// A priority whose comparison reads the waiter count of [`REENTERED`].
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Reentrant(i64);

impl PartialOrd for Reentrant {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Reentrant {
    fn cmp(&self, other: &Self) -> Ordering {
        let _ = REENTERED.waiter_count();
        self.0.cmp(&other.0)
    }
}

static REENTERED: Semaphore<Reentrant> = Semaphore::new_generic(1);

/// With the default spin lock and `std`, the re-entrant call panics rather than spinning
/// forever; the request that compared fails and the semaphore is untouched.
#[test]
fn an_ord_that_uses_its_own_semaphore_gets_a_clear_panic_not_a_deadlock() {
    let (tx, rx) = mpsc::channel();
    // On a thread of its own, so that a regression hangs that thread, not the test.
    std::thread::spawn(move || {
        let sem = &REENTERED;
        let held = sem.try_acquire().unwrap();
        let mut first = pin!(sem.acquire().priority(Reentrant(1)));
        // Alone in the line: nothing to compare with.
        assert!(poll_noop(first.as_mut()).is_pending());
        let message = expect_panic(|| poll_noop(pin!(sem.acquire().priority(Reentrant(2)))));
        assert!(message.contains("re-entered"), "{message}");
        assert_eq!(sem.waiter_count(), 1);
        drop(held);
        let permit: Permit<'_, Reentrant> =
            expect_ready(poll_noop(first.as_mut()), "first").unwrap();
        drop(permit);
        assert_exact(sem, 1);
        tx.send(()).unwrap();
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the re-entrant `Ord` deadlocked");
}
