//! Blocking acquire: `Acquire::wait` and `AcquireOwned::wait` from plain threads.
//!
//! Threads are started one at a time, and the test waits until `waiter_count()` shows each
//! one queued before going on: no sleeps, so the order is deterministic.
//!
//! This binary installs a counting global allocator (per thread) to check that blocking
//! allocates nothing once a thread has waited before.

use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use crate::common::counting_alloc::allocations;
use crate::common::{assert_exact, expect_ready, poll_with, FlagWaker};
use prio_semaphore::{priority_scope, AcquireError, Semaphore};

/// Spins (yielding) until `sem` has `n` waiters.
fn wait_for_waiters<P>(sem: &Semaphore<P>, n: usize) {
    for _ in 0..100_000_000u64 {
        if sem.waiter_count() == n {
            return;
        }
        thread::yield_now();
    }
    panic!("gave up waiting for {n} waiters");
}

/// Starts a thread that blocks on `sem` at `priority`, then logs `name` and gives the
/// permit back; returns once the thread is queued.
fn spawn_waiter(
    sem: &Arc<Semaphore>,
    log: &Arc<Mutex<Vec<String>>>,
    name: &str,
    priority: i64,
) -> JoinHandle<()> {
    let queued = sem.waiter_count();
    let (sem2, log, name) = (sem.clone(), log.clone(), name.to_owned());
    let handle = thread::spawn(move || {
        let permit = sem2.acquire().priority(priority).wait().unwrap();
        log.lock().unwrap().push(name);
        drop(permit);
    });
    wait_for_waiters(sem, queued + 1);
    handle
}

#[test]
fn blocked_threads_are_served_by_priority_then_arrival() {
    let sem = Arc::new(Semaphore::new(0));
    let log = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = [("a", 5), ("b", 3), ("c", 9), ("d", 3), ("e", 1)]
        .into_iter()
        .map(|(name, priority)| spawn_waiter(&sem, &log, name, priority))
        .collect();
    sem.add_permits(1);
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(*log.lock().unwrap(), ["e", "b", "d", "a", "c"]);
    assert_exact(&sem, 1);
}

#[test]
fn blocked_threads_and_async_waiters_share_one_line() {
    let sem = Arc::new(Semaphore::new(0));
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut async_2 = pin!(sem.acquire().priority(2));
    let mut async_4 = pin!(sem.acquire().priority(4));
    let (flag_2, waker_2) = FlagWaker::new();
    let (flag_4, waker_4) = FlagWaker::new();

    let thread_1 = spawn_waiter(&sem, &log, "thread 1", 1);
    assert!(poll_with(async_2.as_mut(), &waker_2).is_pending());
    let thread_3 = spawn_waiter(&sem, &log, "thread 3", 3);
    assert!(poll_with(async_4.as_mut(), &waker_4).is_pending());
    assert_eq!(sem.waiter_count(), 4);

    // Thread 1 is served, and gives its permit straight to the async waiter at 2.
    sem.add_permits(1);
    thread_1.join().unwrap();
    assert!(flag_2.woken() && !flag_4.woken());
    let permit = expect_ready(poll_with(async_2.as_mut(), &waker_2), "async 2").unwrap();
    log.lock().unwrap().push("async 2".to_owned());
    // The async waiter gives it on to thread 3, which gives it to the async waiter at 4.
    drop(permit);
    thread_3.join().unwrap();
    assert!(flag_4.woken());
    let permit = expect_ready(poll_with(async_4.as_mut(), &waker_4), "async 4").unwrap();
    log.lock().unwrap().push("async 4".to_owned());
    drop(permit);

    assert_eq!(
        *log.lock().unwrap(),
        ["thread 1", "async 2", "thread 3", "async 4"]
    );
    assert_exact(&sem, 1);
}

#[test]
fn close_wakes_blocked_threads_with_an_error() {
    // One permit, requests for two: the first in line collects the free one meanwhile.
    let sem = Arc::new(Semaphore::new(1));
    let threads: Vec<_> = (0..3)
        .map(|i| {
            let sem2 = sem.clone();
            let handle = thread::spawn(move || sem2.acquire_many(2).priority(i).wait().err());
            wait_for_waiters(&sem, i as usize + 1);
            handle
        })
        .collect();
    sem.close();
    for thread in threads {
        let err: Option<AcquireError> = thread.join().unwrap();
        assert!(err.unwrap().is_closed());
    }
    assert_eq!(sem.waiter_count(), 0);
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn owned_requests_block_too() {
    let sem = Arc::new(Semaphore::new(0));
    let waiter = thread::spawn({
        let sem = sem.clone();
        move || sem.acquire_many_owned(2).wait().unwrap()
    });
    wait_for_waiters(&sem, 1);
    sem.add_permits(2);
    let permit = waiter.join().unwrap();
    assert_eq!(permit.num_permits(), 2);
    drop(permit);
    assert_exact(&sem, 2);
}

#[test]
fn a_blocked_thread_takes_the_ambient_priority() {
    let sem = Arc::new(Semaphore::new(0));
    let log = Arc::new(Mutex::new(Vec::new()));
    let in_scope = {
        let (sem2, log) = (sem.clone(), log.clone());
        let handle = thread::spawn(move || {
            let permit = priority_scope(5, || sem2.acquire().wait()).unwrap();
            log.lock().unwrap().push("scope 5".to_owned());
            drop(permit);
        });
        wait_for_waiters(&sem, 1);
        handle
    };
    let explicit = spawn_waiter(&sem, &log, "explicit 4", 4);
    let default = spawn_waiter(&sem, &log, "explicit 6", 6);
    sem.add_permits(1);
    for thread in [in_scope, explicit, default] {
        thread.join().unwrap();
    }
    assert_eq!(
        *log.lock().unwrap(),
        ["explicit 4", "scope 5", "explicit 6"]
    );
}

#[test]
fn an_uncontended_wait_returns_at_once() {
    let sem = Semaphore::new(2);
    let permit = sem.acquire_many(2).wait().unwrap();
    assert_eq!(permit.num_permits(), 2);
    assert!(sem
        .acquire_many(u32::MAX)
        .wait()
        .unwrap_err()
        .is_too_many_permits());
    drop(permit);
    assert_exact(&sem, 2);
}

#[test]
fn spurious_unparks_are_harmless() {
    let sem = Arc::new(Semaphore::new(0));
    let waiter = thread::spawn({
        let sem = sem.clone();
        move || sem.acquire().wait().unwrap().num_permits()
    });
    wait_for_waiters(&sem, 1);
    for _ in 0..100 {
        waiter.thread().unpark();
        thread::yield_now();
    }
    assert_eq!(sem.waiter_count(), 1, "still waiting in line");
    sem.add_permits(1);
    assert_eq!(waiter.join().unwrap(), 1);
    assert_exact(&sem, 1);
}

#[test]
fn blocking_allocates_nothing_after_a_threads_first_wait() {
    let sem = Arc::new(Semaphore::new(1));
    drop(sem.acquire().wait().unwrap()); // the thread's first wait creates its waker

    let held = sem.clone().try_acquire_owned().unwrap();
    let releaser = thread::spawn({
        let sem = sem.clone();
        move || {
            wait_for_waiters(&sem, 1);
            drop(held);
        }
    });
    let before = allocations();
    let permit = sem.acquire().priority(3).wait().unwrap();
    let after = allocations();
    assert_eq!(after, before, "a contended wait allocated");
    drop(permit);
    releaser.join().unwrap();
    assert_exact(&sem, 1);
}
