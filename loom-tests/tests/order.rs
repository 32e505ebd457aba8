#![cfg(loom)]
//! Service order under concurrent releases: FIFO among equals, priority first, partial
//! grants given up to more urgent arrivals, and the batched wake path.

use std::sync::Arc;

use loom::future::block_on;
use loom::thread;
use loom_tests::{model, Polled};
use prio_semaphore::Semaphore;

/// Two equal-priority waiters queued in order, a permit released concurrently with the
/// waiters being polled, and a third equal-priority waiter arriving on another thread:
/// the permit goes to the first arrival, then the second, then the third.
#[test]
fn equal_priorities_are_served_in_arrival_order() {
    model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let mut first = Polled::start(sem.acquire());
        let mut second = Polled::start(sem.acquire());
        let releaser = {
            let sem = sem.clone();
            thread::spawn(move || sem.add_permits(1))
        };
        // Arrives after `first` and `second` were queued: it must come last.
        let third = {
            let sem = sem.clone();
            thread::spawn(move || block_on(async { drop(sem.acquire().await.unwrap()) }))
        };
        second.poll();
        first.poll();
        releaser.join().unwrap();
        assert!(!second.poll(), "the second arrival was served first");
        assert!(first.poll(), "the first arrival was not served");
        assert_eq!(first.wakes(), 1, "granted without a wake-up");
        drop(first.output().unwrap());
        assert!(second.poll(), "the permit skipped the second arrival");
        assert_eq!(second.wakes(), 1);
        drop(second.output().unwrap());
        third.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.waiter_count(), 0);
    });
}

/// A waiter queued with a smaller value is served before one with a larger value that
/// arrived earlier.
#[test]
fn a_smaller_priority_value_is_served_first() {
    model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let mut low = Polled::start(sem.acquire().priority(2));
        let mut high = Polled::start(sem.acquire().priority(1));
        let releaser = {
            let sem = sem.clone();
            thread::spawn(move || sem.add_permits(1))
        };
        low.poll();
        high.poll();
        releaser.join().unwrap();
        assert!(!low.poll(), "priority 2 was served before priority 1");
        assert!(high.poll());
        assert_eq!(high.wakes(), 1, "granted without a wake-up");
        drop(high.output().unwrap());
        assert!(low.poll());
        assert_eq!(low.wakes(), 1);
        drop(low.output().unwrap());
        assert_eq!(sem.available_permits(), 1);
    });
}

/// With an overtake limit of 0 (plain FIFO) the earlier arrival is served first even
/// though a later one has a smaller priority value, whichever way the release and the
/// polls interleave.
#[test]
fn overtake_limit_zero_serves_in_arrival_order() {
    model(|| {
        let sem = Arc::new(Semaphore::new(0).with_overtake_limit(0));
        let mut early = Polled::start(sem.acquire().priority(2));
        let mut urgent = Polled::start(sem.acquire().priority(1));
        let releaser = {
            let sem = sem.clone();
            thread::spawn(move || sem.add_permits(1))
        };
        urgent.poll();
        early.poll();
        releaser.join().unwrap();
        assert!(
            !urgent.poll(),
            "a later arrival overtook with the limit at 0"
        );
        assert!(early.poll());
        assert_eq!(early.wakes(), 1, "granted without a wake-up");
        drop(early.output().unwrap());
        assert!(urgent.poll());
        assert_eq!(urgent.wakes(), 1);
        drop(urgent.output().unwrap());
        assert_eq!(sem.available_permits(), 1);
    });
}

/// A large request at the front collects released permits; a more urgent request that
/// arrives concurrently must get them instead (else it would wait forever here: loom
/// reports the deadlock).
#[test]
fn a_more_urgent_arrival_takes_a_partial_grant() {
    model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let mut big = Polled::start(sem.acquire_many(2).priority(5));
        let releaser = {
            let sem = sem.clone();
            thread::spawn(move || sem.add_permits(1))
        };
        let urgent = {
            let sem = sem.clone();
            thread::spawn(move || {
                block_on(async { drop(sem.acquire().priority(1).await.unwrap()) })
            })
        };
        big.poll();
        releaser.join().unwrap();
        urgent.join().unwrap();
        assert!(!big.poll(), "two permits granted when only one exists");
        sem.add_permits(1);
        assert!(big.poll());
        assert!(big.wakes() >= 1, "granted without a wake-up");
        drop(big.output().unwrap());
        assert_eq!(sem.available_permits(), 2);
        assert_eq!(sem.waiter_count(), 0);
    });
}

/// Three waiters released at once cross a wake batch (2 under loom): the releaser wakes
/// two, re-locks and grants the third, while the waiters are polled and a lower-priority
/// waiter arrives on another thread, possibly between the batches. The three are granted
/// and woken once each; the late one waits for a fourth permit.
#[test]
fn batched_wake_relocks_and_serves_the_rest() {
    model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let mut waiters: Vec<_> = (0..3).map(|_| Polled::start(sem.acquire())).collect();
        let releaser = {
            let sem = sem.clone();
            thread::spawn(move || sem.add_permits(3))
        };
        let late = {
            let sem = sem.clone();
            thread::spawn(move || {
                block_on(async { drop(sem.acquire().priority(1).await.unwrap()) })
            })
        };
        waiters[2].poll();
        releaser.join().unwrap();
        let mut held = Vec::new();
        for mut waiter in waiters {
            assert!(waiter.poll(), "a waiter was left queued");
            assert_eq!(waiter.wakes(), 1, "granted without exactly one wake-up");
            held.push(waiter.output().unwrap());
        }
        assert_eq!(sem.available_permits(), 0);
        sem.add_permits(1);
        late.join().unwrap();
        assert_eq!(sem.waiter_count(), 0);
        drop(held);
        assert_eq!(sem.available_permits(), 4);
    });
}

/// A waiter is dropped while three permits are handed out across a wake batch: its
/// permit (if it was granted) passes on, and every waiter still queued is granted and
/// woken.
#[test]
fn dropping_a_waiter_during_a_batched_wake() {
    model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let a = Polled::start(sem.acquire());
        let b = Polled::start(sem.acquire());
        let mut c = Polled::start(sem.acquire());
        let d = Polled::start(sem.acquire());
        let releaser = {
            let sem = sem.clone();
            thread::spawn(move || sem.add_permits(3))
        };
        drop(b);
        c.poll();
        releaser.join().unwrap();
        // Three permits and `b` gone: `a`, `c` and `d` must all hold one.
        let mut held = Vec::new();
        for mut waiter in [a, c, d] {
            assert!(waiter.poll(), "a waiter was left queued");
            assert_eq!(waiter.wakes(), 1, "granted without exactly one wake-up");
            held.push(waiter.output().unwrap());
        }
        assert_eq!(sem.available_permits(), 0);
        assert_eq!(sem.waiter_count(), 0);
        drop(held);
        assert_eq!(sem.available_permits(), 3);
    });
}
