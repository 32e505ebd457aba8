#![cfg(loom)]
//! The share dispatcher under concurrency: it decides under its own lock and adds permits
//! to a class's line after unlocking, so requests that queue, leave or release between the
//! two must neither strand a waiter while permits are free nor lose a permit.

use std::sync::Arc;

use loom::future::block_on;
use loom::thread;
use loom_tests::{model, Polled};
use prio_semaphore::share::{Share, ShareSemaphore};

fn two_classes(permits: usize) -> Arc<ShareSemaphore> {
    Arc::new(ShareSemaphore::new(
        permits,
        &[Share::new(1), Share::new(1)],
    ))
}

/// A request of another class queues on its thread while the only permit is released:
/// whichever comes first (the release finding no waiter, or the waiter finding no free
/// permit), it is served (a stranded waiter would park its thread forever: loom's
/// deadlock).
#[test]
fn a_waiter_queues_while_a_permit_is_released() {
    model(|| {
        let sem = two_classes(1);
        let held = sem.try_acquire(0).unwrap();
        let waiter = {
            let sem = sem.clone();
            thread::spawn(move || block_on(async { drop(sem.acquire(1).await.unwrap()) }))
        };
        drop(held);
        waiter.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
        assert_eq!((sem.assigned(0), sem.assigned(1)), (0, 0));
    });
}

/// A queued request is dropped while a permit is added and dispatched to its class: the
/// permits the dispatcher sent to its line come back, whichever side runs first.
#[test]
fn a_waiter_leaves_while_permits_are_dispatched_to_it() {
    model(|| {
        let sem = two_classes(0);
        let request = Polled::start(sem.acquire(1));
        let releaser = {
            let sem = sem.clone();
            thread::spawn(move || sem.add_permits(1))
        };
        drop(request);
        releaser.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.waiter_count(), 0);
        assert_eq!((sem.assigned(0), sem.assigned(1)), (0, 0));
    });
}

/// Two classes wait on their threads while two permits are released at once: each class
/// is below its share, so each gets one, and both threads finish.
#[test]
fn two_classes_share_a_release() {
    model(|| {
        let sem = two_classes(2);
        let held = sem.try_acquire_many(0, 2).unwrap();
        let waiters: Vec<_> = (0..2)
            .map(|class| {
                let sem = sem.clone();
                thread::spawn(move || block_on(async { drop(sem.acquire(class).await.unwrap()) }))
            })
            .collect();
        drop(held);
        for waiter in waiters {
            waiter.join().unwrap();
        }
        assert_eq!(sem.available_permits(), 2);
    });
}
