//! Group d: multi-thread hand-off, one thread per core acquiring and releasing on a
//! semaphore with half as many permits.

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use futures::executor::block_on;

use crate::peers::{AsyncLock, Maitake, Peer, PrioSemaphore, PrioritySemaphore02, Tokio};
use crate::shared::{critical_section, timed_threads};

/// Threads in the hand-off benchmark: one per core, at least 2.
fn handoff_threads() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(2)
        .max(2)
}

/// Runs about `ops` acquire/release pairs spread over the threads; returns the time the
/// `ops` took (scaled from what was actually run; see [`timed_threads`]).
fn handoff<P: Peer>(ops: u64) -> Duration {
    let threads = handoff_threads();
    let sem = P::with_permits((threads / 2).max(1));
    let per_thread = ops.div_ceil(threads as u64).max(1);
    let took = timed_threads(threads, per_thread as usize, || {
        let permit = block_on(sem.acquire());
        critical_section();
        drop(permit);
    });
    took.mul_f64(ops as f64 / (per_thread * threads as u64) as f64)
}

fn handoff_bench<P: Peer>(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.bench_function(P::NAME, |b| b.iter_custom(handoff::<P>));
}

pub fn group_d(c: &mut Criterion) {
    let mut g = c.benchmark_group("d_handoff");
    g.throughput(Throughput::Elements(1));
    handoff_bench::<PrioSemaphore>(&mut g);
    handoff_bench::<Tokio>(&mut g);
    handoff_bench::<AsyncLock>(&mut g);
    handoff_bench::<Maitake>(&mut g);
    handoff_bench::<PrioritySemaphore02>(&mut g);
    // Not ranked-semaphore 0.1: in this workload it can lose a wake-up and leave every
    // thread parked with the permit free, which would hang the whole run (what was seen:
    // `docs/benchmarks.md`, "What the peers do").
    g.finish();
}
