//! Group g: blocking threads on one permit, as many threads as cores and then more (2× and
//! 4× the cores), measured in paired rounds only (`paired_g.json`).
//!
//! Every thread loops: acquire through the crate's blocking path, a few dozen instructions
//! of work, release. The blocking paths ([`Peer::acquire_blocking`]): prio-semaphore's
//! `acquire().wait()`; async-lock's `acquire_blocking()`; `futures::executor::block_on`
//! of `acquire()` for tokio, maitake-sync and priority-semaphore (none has its own).
//! prio-semaphore also runs with `wait()` as it was before it spun on the wake-up flag
//! before parking, and with a longer spin ([`crate::variants::PrioSpinThenPark`]). Not `ranked-semaphore` 0.1: it loses a
//! wake-up here and hangs (group d).
//!
//! With one permit, a FIFO semaphore hands the permit to the longest waiter, which is
//! parked: every hand-off pays an unpark and a context switch. A semaphore that lets the
//! releaser take the permit straight back (async-lock: a woken waiter races newcomers)
//! runs each thread's loop mostly alone, without switching, and gives up the order.

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::peers::{AsyncLock, Maitake, Peer, PrioSemaphore, PrioritySemaphore02, Tokio};
use crate::shared::{paired_rounds, write_paired, PairedRun};
use crate::variants::PrioSpinThenPark;

/// Acquire/release pairs per run, spread evenly over the threads.
const OPS: usize = 10_000;
/// Rounds per thread count.
const ROUNDS: usize = 21;

/// Work done while holding the permit.
#[inline(never)]
fn critical_section() {
    for i in 0..16u32 {
        black_box(i);
    }
}

/// One run: `threads` threads, [`OPS`] acquire/release pairs in all, one permit. The time
/// runs from the first thread's start to the last one's end, each read by the thread
/// itself (a clock read by the spawning thread can come after the whole run, when that
/// thread is not scheduled in between).
fn run<P: Peer>(threads: usize) -> Duration {
    let sem = P::with_permits(1);
    let arrived = AtomicUsize::new(0);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    // A start line that lets a thread go only once every thread runs: with
                    // a `Barrier`, the first thread woken often ran its whole loop before
                    // the others were scheduled, and nothing was contended.
                    arrived.fetch_add(1, Ordering::SeqCst);
                    while arrived.load(Ordering::SeqCst) < threads {
                        std::thread::yield_now();
                    }
                    let start = Instant::now();
                    for _ in 0..OPS / threads {
                        let permit = sem.acquire_blocking();
                        critical_section();
                        drop(permit);
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a thread panicked"))
            .collect()
    });
    let first = spans.iter().map(|s| s.0).min().expect("threads");
    let last = spans.iter().map(|s| s.1).max().expect("threads");
    last - first
}

fn add<P: Peer>(runs: &mut Vec<PairedRun<'_>>, threads: usize) {
    runs.push((P::NAME, Box::new(move || run::<P>(threads))));
}

/// The paired rounds for each thread count; writes `paired_g.json`.
pub fn paired_g() {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let mut groups = Vec::new();
    for threads in [cores, 2 * cores, 4 * cores] {
        let mut runs = Vec::new();
        add::<PrioSemaphore>(&mut runs, threads);
        add::<Tokio>(&mut runs, threads);
        add::<AsyncLock>(&mut runs, threads);
        add::<Maitake>(&mut runs, threads);
        add::<PrioritySemaphore02>(&mut runs, threads);
        add::<PrioSpinThenPark<0>>(&mut runs, threads);
        add::<PrioSpinThenPark<1000>>(&mut runs, threads);
        let times = paired_rounds(&mut runs, ROUNDS);
        let peers = runs.iter().map(|(name, _)| *name).zip(times).collect();
        groups.push((format!("g_blocking_{threads}_threads"), peers));
    }
    write_paired("paired_g.json", &groups);
}
