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

use std::time::Duration;

use crate::peers::{AsyncLock, Maitake, Peer, PrioSemaphore, PrioritySemaphore02, Tokio};
use crate::shared::{critical_section, paired_rounds, timed_threads, write_paired, PairedRun};
use crate::variants::PrioSpinThenPark;

/// Acquire/release pairs per run, spread evenly over the threads.
const OPS: usize = 10_000;
/// Rounds per thread count.
const ROUNDS: usize = 21;

/// One run: `threads` threads, [`OPS`] acquire/release pairs in all, one permit (timed as
/// [`timed_threads`] says).
fn run<P: Peer>(threads: usize) -> Duration {
    let sem = P::with_permits(1);
    timed_threads(threads, OPS / threads, || {
        let permit = sem.acquire_blocking();
        critical_section();
        drop(permit);
    })
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
