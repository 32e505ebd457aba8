//! Group c: cancellation churn, 1,000 waiters queued behind a held permit and dropped
//! before they are served.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};

use crate::peers::{for_each_peer, Peer};
use crate::shared::{noop_context, SplitMix64};

pub const CHURN: usize = 1_000;

/// `None`, typed as an `Option` of what `make` returns (the futures' types are unnameable).
fn none_of<T>(_make: &impl Fn(i64) -> T) -> Option<T> {
    None
}

/// Empty slots for `CHURN` futures made by `make`, allocated before any clock starts.
pub fn churn_slots<F>(make: &impl Fn(i64) -> F) -> Vec<Pin<Box<Option<F>>>> {
    (0..CHURN).map(|_| Box::pin(none_of(make))).collect()
}

/// Queues one waiter per slot (behind a held permit), then drops them in `cancel_order`.
pub fn churn_round<F: Future>(
    make: &impl Fn(i64) -> F,
    slots: &mut [Pin<Box<Option<F>>>],
    priorities: &[i64],
    cancel_order: &[usize],
) {
    let mut cx = noop_context();
    for (slot, &priority) in slots.iter_mut().zip(priorities) {
        slot.as_mut().set(Some(make(priority)));
        let fut = slot.as_mut().as_pin_mut().expect("just filled");
        assert!(fut.poll(&mut cx).is_pending());
    }
    for &i in cancel_order {
        slots[i].as_mut().set(None);
    }
}

fn churn<P: Peer>(g: &mut BenchmarkGroup<'_, WallTime>, priorities: &[i64], order: &[usize]) {
    let sem = P::with_permits(1);
    let mut held = sem.try_acquire();
    let make = |priority| sem.acquire_prio(priority);
    let mut slots = churn_slots(&make);
    g.bench_function(P::NAME, |b| {
        b.iter_custom(|rounds| {
            let start = Instant::now();
            for _ in 0..rounds {
                churn_round(&make, &mut slots, priorities, order);
                // Release and retake the permit, so that an implementation that leaves
                // cancelled waiters queued (`ranked-semaphore`) cleans them up inside the
                // timed round rather than accumulating them.
                drop(held.take());
                held = sem.try_acquire();
                assert!(held.is_some(), "the permit is free again");
            }
            start.elapsed()
        })
    });
    drop(slots);
    drop(held);
}

pub fn group_c(c: &mut Criterion) {
    let equal = vec![0; CHURN];
    let random_priorities: Vec<i64> = SplitMix64::permutation(0xC0FFEE, CHURN)
        .into_iter()
        .map(|p| p as i64)
        .collect();
    let oldest_first: Vec<usize> = (0..CHURN).collect();
    let random_order = SplitMix64::permutation(0xD1CE, CHURN);
    for (name, priorities, order) in [
        ("c_oldest_first", &equal, &oldest_first),
        ("c_random_order", &equal, &random_order),
        ("c_random_priorities", &random_priorities, &random_order),
    ] {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(CHURN as u64));
        for_each_peer!(churn(&mut g, priorities, order));
        g.finish();
    }
}
