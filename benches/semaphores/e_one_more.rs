//! Group e: the cost of one more waiter (create, poll once, drop) at queue depths 100 to
//! 100,000, joining an existing class or bringing a new distinct priority.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};

use crate::peers::{for_each_peer, Peer};
use crate::shared::{noop_context, queue_waiters, SplitMix64};

const DEPTHS: [usize; 4] = [100, 1_000, 10_000, 100_000];
/// Priority classes queued in the "existing class" shape.
const CLASSES: i64 = 8;

#[derive(Clone, Copy)]
pub enum Shape {
    /// `depth` waiters in `CLASSES` classes; the new one joins class 3 (not the front).
    ExistingClass,
    /// `depth` waiters with distinct even priorities, queued in random order; the new one
    /// has an odd priority in the middle.
    NewPriority,
}

impl Shape {
    pub fn queued(self, depth: usize) -> Vec<i64> {
        match self {
            Self::ExistingClass => (0..depth as i64).map(|i| i % CLASSES).collect(),
            Self::NewPriority => SplitMix64::permutation(0xE0 + depth as u64, depth)
                .into_iter()
                .map(|p| 2 * p as i64)
                .collect(),
        }
    }

    pub fn newcomer(self, depth: usize) -> i64 {
        match self {
            Self::ExistingClass => 3,
            Self::NewPriority => depth as i64 + 1,
        }
    }
}

fn one_more_waiter<P: Peer>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    shape: Shape,
    depth: usize,
    lazy_cancel: bool,
) {
    if P::LAZY_CANCEL != lazy_cancel {
        return;
    }
    let sem = P::with_permits(0);
    let make = |priority| sem.acquire_prio(priority);
    let queued = queue_waiters(&make, shape.queued(depth));
    let newcomer = shape.newcomer(depth);
    let mut cx = noop_context();
    g.bench_with_input(BenchmarkId::new(P::NAME, depth), &depth, |b, _| {
        b.iter(|| {
            let mut fut = pin!(black_box(&sem).acquire_prio(black_box(newcomer)));
            assert!(fut.as_mut().poll(&mut cx).is_pending());
        })
    });
    drop(queued);
}

pub fn group_e(c: &mut Criterion) {
    for (name, shape) in [
        ("e_existing_class", Shape::ExistingClass),
        ("e_new_priority", Shape::NewPriority),
    ] {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(1));
        for depth in DEPTHS {
            for_each_peer!(one_more_waiter(&mut g, shape, depth, false));
        }
        g.finish();
        // An implementation whose dropped waiters stay queued (about 70 bytes each) until
        // permits reach them, which never happens here, grows by one entry per iteration:
        // a short, fixed budget keeps that to a few hundred MB.
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(1));
        g.warm_up_time(Duration::from_millis(100));
        g.measurement_time(Duration::from_millis(300));
        for depth in DEPTHS {
            for_each_peer!(one_more_waiter(&mut g, shape, depth, true));
        }
        g.finish();
    }
}
