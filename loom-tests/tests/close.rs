#![cfg(loom)]
//! `close` racing with acquires and releases: every waiter finishes, counts stay exact.

use std::sync::Arc;

use loom::future::block_on;
use loom::thread;
use loom_tests::{model, Polled};
use prio_semaphore::Semaphore;

/// Two acquirers (on their own threads) race with the main thread, which holds the only
/// permit and either releases it and then closes, or closes and then releases it. Returns
/// how many acquirers got the permit, after checking every one finished, the permit came
/// back and the semaphore stayed closed.
fn acquirers_racing_close(release_first: bool) -> usize {
    let sem = Arc::new(Semaphore::new(1));
    let held = sem.try_acquire().unwrap();
    let acquirers: Vec<_> = [0, 1]
        .into_iter()
        .map(|priority| {
            let sem = sem.clone();
            thread::spawn(move || {
                block_on(async { sem.acquire().priority(priority).await.map(drop).is_ok() })
            })
        })
        .collect();
    if release_first {
        drop(held);
        sem.close();
    } else {
        sem.close();
        drop(held);
    }
    let granted = acquirers
        .into_iter()
        .map(|t| t.join().unwrap())
        .filter(|&ok| ok)
        .count();
    assert!(sem.is_closed());
    assert_eq!(sem.available_permits(), 1, "a permit was lost");
    assert_eq!(sem.waiter_count(), 0);
    assert!(sem.try_acquire().is_err(), "closed stays closed");
    granted
}

/// Release, then close: each acquirer finishes with `Ok` (and gives the permit back) or
/// `Err`.
#[test]
fn close_racing_acquire_and_release_finishes_everyone() {
    model(|| {
        acquirers_racing_close(true);
    });
}

/// Close, then release: the permit is released into a closed semaphore, so nobody may be
/// granted it, whether they queued before the close or arrive after it.
#[test]
fn no_permit_is_granted_after_close() {
    model(|| assert_eq!(acquirers_racing_close(false), 0));
}

/// `close` crosses a wake batch (three queued waiters, batch of 2 under loom) while a
/// permit is released and one waiter is dropped. The front waiter wants two permits, so the
/// released one can only be parked with it as a partial grant, which `close` must return:
/// every remaining waiter is woken once and fails, and no permit is lost.
#[test]
fn close_across_wake_batches_fails_every_queued_waiter() {
    model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let front = Polled::start(sem.acquire_many(2));
        let second = Polled::start(sem.acquire());
        let third = Polled::start(sem.acquire());
        let closer = {
            let sem = sem.clone();
            thread::spawn(move || sem.close())
        };
        let releaser = {
            let sem = sem.clone();
            thread::spawn(move || sem.add_permits(1))
        };
        drop(second);
        closer.join().unwrap();
        releaser.join().unwrap();
        for mut waiter in [front, third] {
            assert!(waiter.poll(), "a waiter was left queued after close");
            assert_eq!(waiter.wakes(), 1, "failed without exactly one wake-up");
            assert!(waiter.output().unwrap_err().is_closed());
        }
        assert_eq!(sem.available_permits(), 1, "the partial grant was lost");
        assert_eq!(sem.waiter_count(), 0);
    });
}
