#![cfg(loom)]
//! Releases racing with acquires: no wake-up is lost, every waiter finishes. A lost
//! wake-up leaves a thread parked in `block_on` forever, which loom reports as a deadlock.

use std::sync::Arc;

use loom::future::block_on;
use loom::thread;
use loom_tests::model;
use prio_semaphore::Semaphore;

/// The holder's release races with two acquirers queueing: whichever way the release's
/// fast path and the queueing compare-and-swap interleave, both acquirers finish.
#[test]
fn release_racing_acquire_loses_no_wake_up() {
    model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.try_acquire().unwrap();
        let acquirers: Vec<_> = [0, 1]
            .into_iter()
            .map(|priority| {
                let sem = sem.clone();
                thread::spawn(move || {
                    block_on(async { drop(sem.acquire().priority(priority).await.unwrap()) })
                })
            })
            .collect();
        drop(held);
        for t in acquirers {
            t.join().unwrap();
        }
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.waiter_count(), 0);
    });
}

/// Permits released one at a time, racing with a weighted and a single acquirer: the
/// weighted one collects its permits across releases, and both finish.
#[test]
fn piecewise_release_completes_weighted_and_single_waiters() {
    model(|| {
        let sem = Arc::new(Semaphore::new(2));
        let mut held = sem.try_acquire_many(2).unwrap();
        let acquirers: Vec<_> = [2, 1]
            .into_iter()
            .map(|n| {
                let sem = sem.clone();
                thread::spawn(move || block_on(async { drop(sem.acquire_many(n).await.unwrap()) }))
            })
            .collect();
        let one = held.split(1).unwrap();
        drop(one);
        drop(held);
        for t in acquirers {
            t.join().unwrap();
        }
        assert_eq!(sem.available_permits(), 2);
        assert_eq!(sem.waiter_count(), 0);
    });
}
