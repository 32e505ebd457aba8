//! Group f: group b's workload on tokio's multi-thread runtime, with 2 and 8 workers (8
//! outnumbers the cores of a small machine), measured in paired rounds only
//! (`paired_f.json`).
//!
//! Each run spawns one root task, which spawns 10,000 tasks and awaits them; each task
//! acquires one of 4 permits, holds it across `tokio::task::yield_now()` and releases it.
//! The time is the whole run, spawning included (the same for everyone). tokio's semaphore
//! runs inside its own runtime here, so it obeys tokio's cooperative budget, as it would in
//! a service. Not `ranked-semaphore` 0.1: it loses wake-ups under threads (group d), and a
//! lost wake-up here hangs the run. prio-semaphore also runs with other locks around its
//! wait list ([`crate::variants`]), the lock being what threads contend on, and, like
//! tokio's, with its request boxed, to show what the spawned future's size costs; tokio
//! also runs with its request padded to 104 bytes (prio-semaphore's with feature
//! `overtake-limit`), to show what those 16 bytes cost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Runtime};

use crate::peers::{AsyncLock, Maitake, Peer, PrioSemaphore, PrioritySemaphore02, Tokio};
use crate::shared::{paired_rounds, write_paired, PairedRun};
use crate::variants::{PlainSpin, PrioBoxed, StdMutex, TokioBoxed, TokioPadded};

const TASKS: usize = 10_000;
const PERMITS: usize = 4;
const WORKERS: [usize; 2] = [2, 8];
/// Rounds per worker count.
const ROUNDS: usize = 201;

/// One run: 10,000 tasks through `P` on `rt`.
fn run<P: Peer>(rt: &Runtime) -> Duration {
    let sem = Arc::new(P::with_permits(PERMITS));
    let start = Instant::now();
    rt.block_on(async move {
        let root = tokio::spawn(async move {
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    let sem = Arc::clone(&sem);
                    tokio::spawn(async move {
                        let permit = sem.acquire().await;
                        tokio::task::yield_now().await;
                        drop(permit);
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("a task panicked");
            }
        });
        root.await.expect("the root task panicked");
    });
    start.elapsed()
}

fn add<'a, P: Peer>(runs: &mut Vec<PairedRun<'a>>, rt: &'a Runtime) {
    runs.push((P::NAME, Box::new(move || run::<P>(rt))));
}

/// The paired rounds for each worker count; writes `paired_f.json`.
pub fn paired_f() {
    let mut groups = Vec::new();
    for workers in WORKERS {
        let rt = Builder::new_multi_thread()
            .worker_threads(workers)
            .build()
            .expect("a tokio runtime");
        let mut runs = Vec::new();
        add::<PrioSemaphore>(&mut runs, &rt);
        add::<Tokio>(&mut runs, &rt);
        add::<AsyncLock>(&mut runs, &rt);
        add::<Maitake>(&mut runs, &rt);
        add::<PrioritySemaphore02>(&mut runs, &rt);
        add::<PrioSemaphore<PlainSpin>>(&mut runs, &rt);
        add::<PrioSemaphore<StdMutex>>(&mut runs, &rt);
        add::<PrioBoxed>(&mut runs, &rt);
        add::<TokioBoxed>(&mut runs, &rt);
        add::<TokioPadded>(&mut runs, &rt);
        let times = paired_rounds(&mut runs, ROUNDS);
        let peers = runs.iter().map(|(name, _)| *name).zip(times).collect();
        groups.push((format!("f_multi_thread_{workers}"), peers));
    }
    write_paired("paired_f.json", &groups);
}
