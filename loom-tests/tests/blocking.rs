#![cfg(loom)]
//! The blocking `wait()` (`src/blocking.rs`): a thread parks in the semaphore's line and
//! another releases. Under loom the crate parks with loom's `park`/`unpark` and keeps its
//! per-thread waker in a loom thread-local (see `src/loom.rs`), so this is the real code. A
//! lost wake-up leaves the waiting thread parked forever: loom reports a deadlock.

use std::sync::Arc;

use loom::thread;
use prio_semaphore::Semaphore;

use loom_tests::model;

/// A thread blocks in `wait()` while another releases the permit it needs: it wakes up with
/// the permit, whether the release comes before it queues, while it queues, or after it
/// parked.
#[test]
fn a_release_wakes_a_parked_waiter() {
    model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.clone().try_acquire_owned().unwrap();
        let waiter = {
            let sem = sem.clone();
            thread::spawn(move || sem.acquire().wait().unwrap().num_permits())
        };
        let releaser = thread::spawn(move || drop(held));
        assert_eq!(waiter.join().unwrap(), 1);
        releaser.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.waiter_count(), 0);
    });
}

/// Two waits in a row on one thread, each served by a separate release: the second wait
/// reuses the thread's waker, whose flag a late wake-up of the first wait may have left
/// set; that costs at most an extra poll, never a missed wake-up or a wrong grant.
#[test]
fn consecutive_waits_on_one_thread_reuse_the_waker() {
    model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let waiter = {
            let sem = sem.clone();
            thread::spawn(move || {
                let first = sem.acquire().wait().unwrap();
                let second = sem.clone().acquire_owned().wait().unwrap();
                first.num_permits() + second.num_permits()
            })
        };
        sem.add_permits(1);
        sem.add_permits(1);
        assert_eq!(waiter.join().unwrap(), 2);
        assert_eq!(sem.available_permits(), 2);
        assert_eq!(sem.waiter_count(), 0);
    });
}

/// `close()` wakes a parked waiter with an error.
#[test]
fn close_wakes_a_parked_waiter_with_an_error() {
    model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let waiter = {
            let sem = sem.clone();
            thread::spawn(move || sem.clone().acquire_owned().wait().map(drop))
        };
        sem.close();
        assert!(waiter.join().unwrap().unwrap_err().is_closed());
        assert_eq!(sem.waiter_count(), 0);
        assert_eq!(sem.available_permits(), 0);
    });
}
