//! Group h: the fair layer's cost of one more waiter of an existing flow (create, poll
//! once, drop) at queue depths 100 to 100,000, beside group e's one more waiter of an
//! existing class of the core.
//!
//! `depth` waiters of 8 flows at priority 0, flow `f` at weight `f + 1`, so their start
//! tags spread over the line (flow 0's reach `depth / 8` permits of virtual time, flow 7's
//! `depth / 64`); the newcomer joins flow 3, whose next tag falls in the middle of them.
//! Flow 3 already waits, so the newcomer joins the end of its flow's run in the line: O(1)
//! at every depth (the `fair` module docs, "Costs"; `tests/behaviour/fair_costs.rs` counts
//! its comparisons: none).

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;

use criterion::{BenchmarkId, Criterion, Throughput};
use prio_semaphore::fair::FairSemaphore;

use crate::shared::noop_context;

const DEPTHS: [usize; 4] = [100, 1_000, 10_000, 100_000];
const FLOWS: u32 = 8;

pub fn group_h(c: &mut Criterion) {
    let mut g = c.benchmark_group("h_fair_existing_flow");
    g.throughput(Throughput::Elements(1));
    for depth in DEPTHS {
        let sem: FairSemaphore<u32> = FairSemaphore::new(0);
        let mut cx = noop_context();
        let queued: Vec<_> = (0..depth as u32)
            .map(|i| {
                let flow = i % FLOWS;
                let mut fut = Box::pin(sem.acquire().flow(flow).weight(flow + 1));
                assert!(
                    fut.as_mut().poll(&mut cx).is_pending(),
                    "the waiter must queue"
                );
                fut
            })
            .collect();
        g.bench_with_input(BenchmarkId::new("prio-semaphore", depth), &depth, |b, _| {
            b.iter(|| {
                let mut fut = pin!(black_box(&sem).acquire().flow(black_box(3)).weight(4));
                assert!(fut.as_mut().poll(&mut cx).is_pending());
            })
        });
        drop(queued);
    }
    g.finish();
}
