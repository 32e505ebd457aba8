#![cfg(loom)]
//! Cancellation racing with releases: dropping an `Acquire` at any point loses neither
//! permits nor wake-ups.

use std::sync::Arc;

use loom::future::block_on;
use loom::thread;
use loom_tests::{model, Polled};
use prio_semaphore::Semaphore;

/// The front waiter is dropped while a permit is released: whether the drop unlinks it
/// first or the release grants it first, the permit ends with the waiter behind it.
#[test]
fn dropping_a_queued_waiter_while_a_permit_is_released() {
    model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let front = Polled::start(sem.acquire());
        let mut next = Polled::start(sem.acquire());
        let releaser = {
            let sem = sem.clone();
            thread::spawn(move || sem.add_permits(1))
        };
        drop(front);
        releaser.join().unwrap();
        assert!(next.poll(), "the permit did not reach the next waiter");
        assert_eq!(next.wakes(), 1, "granted without a wake-up");
        assert_eq!(sem.available_permits(), 0);
        assert_eq!(sem.waiter_count(), 0);
        drop(next.output().unwrap());
        assert_eq!(sem.available_permits(), 1);
    });
}

/// A waiter that was granted and woken is dropped before it is polled, racing with a
/// lower-priority waiter queueing on another thread: the permit and the wake-up pass on,
/// so that thread finishes (a lost wake-up would park it forever: loom's deadlock).
#[test]
fn dropping_a_woken_unpolled_waiter_passes_permit_and_wake_up_on() {
    model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let granted = Polled::start(sem.acquire().priority(0));
        sem.add_permits(1);
        assert_eq!(granted.wakes(), 1);
        let next = {
            let sem = sem.clone();
            thread::spawn(move || {
                block_on(async { drop(sem.acquire().priority(1).await.unwrap()) })
            })
        };
        drop(granted);
        next.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.waiter_count(), 0);
    });
}

/// A weighted waiter holding a partial grant is dropped while another permit is released
/// and a second waiter queues behind it: the partial grant is returned and, with the new
/// permit, serves the second waiter.
#[test]
fn dropping_a_partly_granted_waiter_returns_its_permits() {
    model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let big = Polled::start(sem.acquire_many(3));
        assert!(!big.is_ready());
        assert_eq!(
            sem.available_permits(),
            0,
            "the free permit is parked with `big`"
        );
        let releaser = {
            let sem = sem.clone();
            thread::spawn(move || sem.add_permits(1))
        };
        let next = {
            let sem = sem.clone();
            thread::spawn(move || {
                block_on(async { drop(sem.acquire_many(2).priority(1).await.unwrap()) })
            })
        };
        drop(big);
        releaser.join().unwrap();
        next.join().unwrap();
        assert_eq!(sem.available_permits(), 2);
        assert_eq!(sem.waiter_count(), 0);
    });
}
