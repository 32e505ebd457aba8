//! "No allocation per waiter" (the crate docs), checked with a counting global allocator:
//! queueing, serving, cancelling and closing 10,000 waiters allocates nothing.
//!
//! The futures are created (and their storage allocated) before counting starts, pinned in
//! place in one boxed slice. Counting is per thread, so the test harness and tests running
//! in parallel do not disturb it. This file is its own test binary because it installs a
//! `#[global_allocator]` (the tests' shared one, `crate::common::counting_alloc`).

use std::pin::Pin;
use std::sync::Arc;
use std::task::Waker;

use crate::common::counting_alloc::allocations_during;
use crate::common::{assert_exact, expect_ready, poll_with, FlagWaker};
use prio_semaphore::{Acquire, Semaphore};

/// Waiters per test: enough that any per-waiter allocation shows, few enough for miri.
const N: usize = if cfg!(miri) { 300 } else { 10_000 };

#[test]
fn the_counting_allocator_counts() {
    // Guards against a vacuous pass: an allocation made while counting is seen.
    let n = allocations_during(|| drop(std::hint::black_box(Box::new(1u64))));
    assert_eq!(n, 1);
}

// ---------------------------------------------------------------------------------------
// Futures pinned in place
// ---------------------------------------------------------------------------------------

/// Futures pinned in place in one allocation made up front. A slot is emptied (the future
/// dropped in place, which cancels it) with `cancel`.
struct Slots<F>(Pin<Box<[Option<F>]>>);

impl<F> Slots<F> {
    fn new(futures: impl IntoIterator<Item = F>) -> Self {
        let slots: Box<[Option<F>]> = futures.into_iter().map(Some).collect();
        Self(Box::into_pin(slots))
    }

    fn slot(&mut self, i: usize) -> Pin<&mut Option<F>> {
        // SAFETY: pinning is structural for the slice's elements: the boxed slice is never
        // resized, and no element is ever moved out of it; each is dropped in place
        // (by `Pin::set` in `cancel` or by the slice's own drop).
        unsafe { self.0.as_mut().map_unchecked_mut(|slots| &mut slots[i]) }
    }

    fn get(&mut self, i: usize) -> Pin<&mut F> {
        self.slot(i).as_pin_mut().expect("slot was cancelled")
    }

    fn cancel(&mut self, i: usize) {
        self.slot(i).set(None);
    }
}

/// Queues `N` waiters with `priority(i)`, then, counting allocations: polls each once,
/// cancels every third, serves the first half one permit at a time (each dropped permit
/// handed straight to the next waiter), and the rest in two `add_permits` waves of many
/// wake batches each. Checks the service order. Returns how many waiters were served.
fn queue_serve_and_cancel_without_allocating(
    priority: impl Fn(usize) -> i64,
    waker: &Waker,
) -> usize {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let mut waiters: Slots<Acquire<'_>> =
        Slots::new((0..N).map(|i| sem.acquire().priority(priority(i))));

    // Who should be served, in order: by priority, then arrival; cancelled ones skipped.
    let cancelled = |i: usize| i % 3 == 1;
    let mut expected: Vec<usize> = (0..N).filter(|&i| !cancelled(i)).collect();
    expected.sort_by_key(|&i| (priority(i), i));
    let (one_by_one, in_bulk) = expected.split_at(expected.len() / 2);
    let (first_wave, second_wave) = in_bulk.split_at(in_bulk.len() / 2);
    let mut served = Vec::with_capacity(N);
    let mut permits = Vec::with_capacity(N);

    let allocations = allocations_during(|| {
        for i in 0..N {
            assert!(poll_with(waiters.get(i), waker).is_pending());
        }
        assert_eq!(sem.waiter_count(), N);
        for i in (0..N).filter(|&i| cancelled(i)) {
            waiters.cancel(i);
        }
        assert_eq!(sem.waiter_count(), expected.len());

        // Hand-off: each dropped permit goes straight to the next waiter in line.
        drop(held);
        for &i in one_by_one {
            let permit = expect_ready(poll_with(waiters.get(i), waker), "next in line");
            served.push(i);
            drop(permit.unwrap());
        }
        // The last drop handed the permit to `first_wave[0]`.
        assert_eq!(sem.waiter_count(), in_bulk.len() - 1);

        // Bulk: a release serves many waiters at once, and exactly the first ones.
        sem.add_permits(first_wave.len() - 1);
        for &i in first_wave {
            let permit = expect_ready(poll_with(waiters.get(i), waker), "first wave");
            served.push(i);
            permits.push(permit.unwrap());
        }
        assert!(poll_with(waiters.get(second_wave[0]), waker).is_pending());
        sem.add_permits(second_wave.len());
        assert_eq!(sem.waiter_count(), 0);
        for &i in second_wave {
            let permit = expect_ready(poll_with(waiters.get(i), waker), "second wave");
            served.push(i);
            permits.push(permit.unwrap());
        }
        permits.clear();
    });

    assert_eq!(
        allocations, 0,
        "the semaphore allocated while waiters came and went"
    );
    assert_eq!(served, expected, "served in priority, then arrival, order");
    drop(waiters);
    assert_exact(&sem, in_bulk.len());
    expected.len()
}

#[test]
fn ten_thousand_waiters_in_a_few_priority_classes_never_allocate() {
    // The common case: runs of equal priority, appended to in O(1).
    queue_serve_and_cancel_without_allocating(|i| (i % 8) as i64, Waker::noop());
}

#[test]
fn ten_thousand_waiters_with_distinct_priorities_never_allocate() {
    // Every waiter heads its own run: tree insertions, rotations and removals. The
    // multiplier is coprime with N, so the priorities are distinct and arrive shuffled.
    let (flag, waker) = FlagWaker::new();
    let shuffled = |i: usize| (i * 7919 % N) as i64;
    let served = queue_serve_and_cancel_without_allocating(shuffled, &waker);
    // A real waker (cloned into each node) costs nothing either; every served waiter was
    // woken once, and no cancelled one was.
    assert_eq!(flag.wakes(), served);
    assert_eq!(
        Arc::strong_count(&flag),
        2,
        "every clone stored was dropped"
    );
}

#[test]
fn closing_the_semaphore_on_ten_thousand_waiters_never_allocates() {
    let sem = Semaphore::new(0);
    let mut waiters: Slots<Acquire<'_>> =
        Slots::new((0..N).map(|i| sem.acquire_many(1 + (i % 3) as u32)));
    let mut closed = 0;
    let allocations = allocations_during(|| {
        for i in 0..N {
            assert!(poll_with(waiters.get(i), Waker::noop()).is_pending());
        }
        sem.close();
        for i in 0..N {
            let result = expect_ready(poll_with(waiters.get(i), Waker::noop()), "closed");
            closed += usize::from(result.unwrap_err().is_closed());
        }
    });
    assert_eq!(allocations, 0);
    assert_eq!(closed, N);
    assert_eq!(sem.waiter_count(), 0);
}
