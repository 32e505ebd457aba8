//! The lock-free fast paths: with nobody waiting, acquiring, releasing, adding and
//! forgetting permits never take the wait list's lock (one atomic word does it all), and the
//! lock is taken exactly when someone waits. Checked with a lock that counts its uses.

use std::cell::Cell;
use std::pin::pin;

use crate::common::{expect_ready, poll_noop};
use prio_semaphore::{RawLock, Semaphore, SpinLock};

thread_local! {
    /// Locks taken on this thread (tests run on threads of their own).
    static LOCKED: Cell<usize> = const { Cell::new(0) };
}

/// The default spin lock, counting every time it is taken.
struct CountingLock(SpinLock);

// SAFETY: every call is forwarded to a `SpinLock`, which provides the mutual exclusion.
unsafe impl RawLock for CountingLock {
    #[allow(
        clippy::declare_interior_mutable_const,
        reason = "a fresh lock per use, by design"
    )]
    const INIT: Self = CountingLock(SpinLock::INIT);

    fn with_lock<R>(&self, f: impl FnOnce() -> R) -> R {
        LOCKED.with(|locked| locked.set(locked.get() + 1));
        self.0.with_lock(f)
    }
}

fn locks_taken(f: impl FnOnce()) -> usize {
    let before = LOCKED.with(Cell::get);
    f();
    LOCKED.with(Cell::get) - before
}

type Counted = Semaphore<i64, CountingLock>;

#[test]
fn uncontended_acquire_and_release_never_lock() {
    let sem: Counted = Semaphore::new_generic(2);
    let locks = locks_taken(|| {
        for _ in 0..10 {
            let one = sem.try_acquire().unwrap();
            let two = sem.try_acquire_many(1).unwrap();
            drop((one, two));
            let permit = expect_ready(poll_noop(pin!(sem.acquire().priority(3))), "free");
            drop(permit.unwrap());
            let mut many = expect_ready(poll_noop(pin!(sem.acquire_many(2))), "free").unwrap();
            drop(many.split(1));
            drop(many);
        }
    });
    assert_eq!(locks, 0);
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn adding_and_forgetting_permits_with_nobody_waiting_never_lock() {
    let sem: Counted = Semaphore::new_generic(0);
    let locks = locks_taken(|| {
        sem.add_permits(5);
        assert_eq!(sem.forget_permits(2), 2);
        sem.try_acquire().unwrap().forget();
        sem.close();
        assert!(sem.try_acquire().is_err());
    });
    // `close` locks once to fail the waiters it might have.
    assert_eq!(locks, 1);
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn a_queued_waiter_routes_releases_through_the_lock() {
    let sem: Counted = Semaphore::new_generic(1);
    let held = sem.try_acquire().unwrap();
    let mut waiting = pin!(sem.acquire());
    assert!(locks_taken(|| assert!(poll_noop(waiting.as_mut()).is_pending())) >= 1);
    // The release must hand the permit over under the lock, not to the permit word.
    assert!(locks_taken(|| drop(held)) >= 1);
    assert_eq!(sem.available_permits(), 0);
    drop(expect_ready(poll_noop(waiting.as_mut()), "handed over").unwrap());
    // Nobody waits any more: back to the fast path.
    assert_eq!(locks_taken(|| drop(sem.try_acquire().unwrap())), 0);
}

#[test]
fn cancelling_the_last_waiter_brings_back_the_fast_path() {
    let sem: Counted = Semaphore::new_generic(1);
    let held = sem.try_acquire().unwrap();
    {
        let mut waiting = pin!(sem.acquire_many(1));
        assert!(poll_noop(waiting.as_mut()).is_pending());
        assert_eq!(sem.waiter_count(), 1);
    } // cancelled: nobody waits, and nothing was handed out
    assert_eq!(sem.waiter_count(), 0);
    // So the permit goes straight back to the permit word, without the lock.
    assert_eq!(locks_taken(|| drop(held)), 0);
    assert_eq!(locks_taken(|| drop(sem.try_acquire().unwrap())), 0);
    assert_eq!(sem.available_permits(), 1);
}
