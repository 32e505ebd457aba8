#![cfg(loom)]
//! Counting: the permit bound holds, totals are exact, and nobody barges past a waiter.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use loom::cell::UnsafeCell;
use loom::future::block_on;
use loom::thread;
use loom_tests::{model, Polled};
use prio_semaphore::{Semaphore, TryAcquireError};

/// With one permit, the permit holders' critical sections never overlap, and each one
/// happens-after the previous one: loom reports any two unordered accesses to `resource`,
/// so this also checks that handing a permit over publishes the previous holder's writes.
#[test]
fn one_permit_is_never_held_twice() {
    model(|| {
        let sem = Arc::new(Semaphore::new(1));
        // Shared unsynchronised on purpose: the permit is the only thing ordering the
        // accesses, and loom checks that it does.
        #[allow(
            clippy::arc_with_non_send_sync,
            reason = "shared unsynchronised on purpose (above)"
        )]
        let resource = Arc::new(UnsafeCell::new(0_usize));
        let use_resource = |sem: Arc<Semaphore>, resource: Arc<UnsafeCell<usize>>| {
            block_on(async {
                let _permit = sem.acquire().await.unwrap();
                // SAFETY: we hold the only permit; loom fails the model if another access
                // is not ordered with this one.
                resource.with_mut(|uses| unsafe { *uses += 1 });
            })
        };
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (sem, resource) = (sem.clone(), resource.clone());
                thread::spawn(move || use_resource(sem, resource))
            })
            .collect();
        use_resource(sem.clone(), resource.clone());
        for t in threads {
            t.join().unwrap();
        }
        // SAFETY: every other user has been joined.
        assert_eq!(resource.with(|uses| unsafe { *uses }), 3);
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.waiter_count(), 0);
    });
}

/// Weighted requests that cannot all be served at once never hold more than the total.
#[test]
fn weighted_holders_never_exceed_the_total() {
    model(|| {
        const TOTAL: usize = 3;
        let sem = Arc::new(Semaphore::new(TOTAL));
        let held = Arc::new(AtomicUsize::new(0));
        let hold = |sem: Arc<Semaphore>, held: Arc<AtomicUsize>, n: u32| {
            block_on(async {
                let permit = sem.acquire_many(n).await.unwrap();
                let before = held.fetch_add(n as usize, Ordering::SeqCst);
                assert!(before + n as usize <= TOTAL, "{before} + {n} permits held");
                held.fetch_sub(n as usize, Ordering::SeqCst);
                drop(permit);
            })
        };
        let threads: Vec<_> = [2, 2]
            .into_iter()
            .map(|n| {
                let (sem, held) = (sem.clone(), held.clone());
                thread::spawn(move || hold(sem, held, n))
            })
            .collect();
        hold(sem.clone(), held.clone(), 1);
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(sem.available_permits(), TOTAL);
        assert_eq!(sem.waiter_count(), 0);
    });
}

/// `add_permits`, `forget_permits` and `try_acquire` racing: available + held + forgotten
/// always equals what was put in.
#[test]
fn add_and_forget_racing_try_acquire_keep_totals_exact() {
    model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let adder = {
            let sem = sem.clone();
            thread::spawn(move || sem.add_permits(1))
        };
        let forgetter = {
            let sem = sem.clone();
            thread::spawn(move || sem.forget_permits(2))
        };
        let held = sem.try_acquire().ok();
        adder.join().unwrap();
        let forgotten = forgetter.join().unwrap();
        assert!(forgotten <= 2);
        let held_count = held.as_ref().map_or(0, |p| p.num_permits());
        assert_eq!(sem.available_permits() + held_count + forgotten, 2);
        drop(held);
        assert_eq!(sem.available_permits() + forgotten, 2);
        assert_eq!(sem.waiter_count(), 0);
    });
}

/// A permit released while a waiter is queued goes to the waiter, never to a racing
/// `try_acquire`.
#[test]
fn try_acquire_never_barges_past_a_queued_waiter() {
    model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let mut waiter = Polled::start(sem.acquire());
        assert!(!waiter.is_ready());
        let adder = {
            let sem = sem.clone();
            thread::spawn(move || sem.add_permits(1))
        };
        let barger = {
            let sem = sem.clone();
            thread::spawn(move || sem.try_acquire().map(drop))
        };
        waiter.poll();
        adder.join().unwrap();
        assert_eq!(barger.join().unwrap(), Err(TryAcquireError::NoPermits));
        assert!(waiter.poll(), "the queued waiter got the permit");
        assert_eq!(waiter.wakes(), 1);
        drop(waiter.output().unwrap());
        assert_eq!(sem.available_permits(), 1);
    });
}

/// Permits collected by a queued weighted request are not free: a racing `try_acquire`
/// cannot take them, even though the request cannot be served yet.
#[test]
fn try_acquire_never_takes_a_partial_grant() {
    model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let mut big = Polled::start(sem.acquire_many(2));
        let adder = {
            let sem = sem.clone();
            thread::spawn(move || sem.add_permits(1))
        };
        let barger = {
            let sem = sem.clone();
            thread::spawn(move || sem.try_acquire().map(drop))
        };
        big.poll();
        adder.join().unwrap();
        assert_eq!(barger.join().unwrap(), Err(TryAcquireError::NoPermits));
        assert!(!big.poll(), "one of two permits");
        assert_eq!(sem.available_permits(), 0);
        sem.add_permits(1);
        assert!(big.poll());
        assert_eq!(big.wakes(), 1);
        drop(big.output().unwrap());
        assert_eq!(sem.available_permits(), 2);
    });
}
