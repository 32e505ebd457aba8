#![cfg(loom)]
//! Owned permits (`acquire_owned`, `try_acquire_owned`, `OwnedPermit`) across threads: the
//! same line and hand-off as borrowed permits, with the permit (and the `Arc` it holds)
//! moving between threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use loom::future::block_on;
use loom::thread;
use loom_tests::{model, Polled};
use prio_semaphore::{Semaphore, TryAcquireError};

/// An owned permit dropped on another thread hands its permit to a thread waiting with
/// `acquire_owned`, while a third thread tries `try_acquire_owned`: nobody holds the one
/// permit at the same time, the waiter finishes, and the counts and the `Arc`'s reference
/// count are exact at the end.
#[test]
fn owned_permits_moved_and_dropped_across_threads() {
    model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let holders = Arc::new(AtomicUsize::new(0));
        let hold = |holders: &AtomicUsize| {
            let before = holders.fetch_add(1, Ordering::SeqCst);
            assert_eq!(before, 0, "the one permit is held twice");
        };
        let permit = sem.clone().try_acquire_owned().unwrap();
        hold(&holders);

        let dropper = {
            let holders = holders.clone();
            thread::spawn(move || {
                holders.fetch_sub(1, Ordering::SeqCst);
                drop(permit);
            })
        };
        let waiter = {
            let (sem, holders) = (sem.clone(), holders.clone());
            thread::spawn(move || {
                let permit = block_on(sem.acquire_owned()).unwrap();
                hold(&holders);
                holders.fetch_sub(1, Ordering::SeqCst);
                drop(permit);
            })
        };
        match sem.clone().try_acquire_owned() {
            Ok(permit) => {
                hold(&holders);
                holders.fetch_sub(1, Ordering::SeqCst);
                drop(permit);
            }
            Err(TryAcquireError::NoPermits) => {}
            Err(err) => panic!("unexpected {err:?}"),
        }
        dropper.join().unwrap();
        waiter.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.waiter_count(), 0);
        assert_eq!(
            Arc::strong_count(&sem),
            1,
            "a permit or request kept its Arc"
        );
    });
}

/// A queued `AcquireOwned` is dropped while a permit is released: whether the drop unlinks
/// it first or the release grants it first, the permit ends with the waiter behind it,
/// which is woken, and the dropped request gives its `Arc` back.
#[test]
fn cancelling_a_queued_acquire_owned_passes_the_permit_on() {
    model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let front = Polled::start(sem.clone().acquire_owned());
        let mut next = Polled::start(sem.clone().acquire_owned().priority(1));
        assert!(!front.is_ready() && !next.is_ready());
        let releaser = {
            let sem = sem.clone();
            thread::spawn(move || sem.add_permits(1))
        };
        drop(front);
        releaser.join().unwrap();
        assert!(next.poll(), "the permit did not reach the next waiter");
        assert_eq!(next.wakes(), 1, "granted without exactly one wake-up");
        assert_eq!(sem.available_permits(), 0);
        assert_eq!(sem.waiter_count(), 0);
        let permit = next.output().unwrap();
        assert_eq!(permit.num_permits(), 1);
        assert_eq!(Arc::strong_count(&sem), 2, "the permit and `sem` only");
        drop(permit);
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(Arc::strong_count(&sem), 1);
    });
}

/// `try_acquire_owned` never barges past a queued owned waiter: one thread releases the
/// held permit (handed to the waiter) and then adds one more, racing with another thread's
/// `try_acquire_owned`. The try may only succeed with the added permit, so whenever it
/// succeeds the waiter has already been served and left the line.
#[test]
fn try_acquire_owned_never_takes_a_released_permit_from_a_waiter() {
    model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.clone().try_acquire_owned().unwrap();
        let mut waiter = Polled::start(sem.clone().acquire_owned());
        assert!(!waiter.is_ready());
        let releaser = {
            let sem = sem.clone();
            thread::spawn(move || {
                drop(held);
                sem.add_permits(1);
            })
        };
        let barger = {
            let sem = sem.clone();
            thread::spawn(move || match sem.clone().try_acquire_owned() {
                Ok(permit) => {
                    assert_eq!(sem.waiter_count(), 0, "barged past a queued waiter");
                    Some(permit)
                }
                Err(TryAcquireError::NoPermits) => None,
                Err(err) => panic!("unexpected {err:?}"),
            })
        };
        releaser.join().unwrap();
        let tried = barger.join().unwrap();
        assert!(
            waiter.poll(),
            "the released permit did not reach the waiter"
        );
        assert_eq!(waiter.wakes(), 1);
        drop(waiter.output().unwrap());
        drop(tried);
        assert_eq!(sem.available_permits(), 2);
        assert_eq!(sem.waiter_count(), 0);
        assert_eq!(Arc::strong_count(&sem), 1);
    });
}
