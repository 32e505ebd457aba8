//! The semaphore under embassy's executor on the host (`embassy-executor` with
//! `platform-std`, thread mode) and embassy-time's std driver: the way an embassy user runs
//! firmware logic in host tests. Tasks are `#[embassy_executor::task]`s on a real
//! `Executor`; timeouts are embassy-time's `with_timeout`.
//!
//! Each test runs its own executor until its `DONE` flag is set. A ticker task keeps the
//! executor polling, so a test that never finishes fails after [`LIMIT`] instead of hanging.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use embassy_executor::{Executor, Spawner};
use embassy_time::{with_timeout, Duration, Instant, Timer};
use prio_semaphore::Semaphore;

/// Longest a test may run before it is failed as hung.
const LIMIT: StdDuration = StdDuration::from_secs(20);

/// Runs a fresh executor: `init` spawns the test's tasks; returns once `done` is set.
fn run(done: &'static AtomicBool, init: impl FnOnce(Spawner)) {
    let executor: &'static mut Executor = Box::leak(Box::new(Executor::new()));
    let start = StdInstant::now();
    executor.run_until(
        |spawner| {
            spawner.spawn(ticker(done).expect("ticker pool has room"));
            init(spawner);
        },
        || {
            assert!(start.elapsed() < LIMIT, "embassy test hung");
            done.load(SeqCst)
        },
    );
}

/// Wakes the executor every few milliseconds until `done`, so `run`'s hang check runs.
#[embassy_executor::task(pool_size = 3)]
async fn ticker(done: &'static AtomicBool) {
    while !done.load(SeqCst) {
        Timer::after_millis(5).await;
    }
}

/// Waits (bounded) until `sem` has `n` waiters.
async fn until_waiters(sem: &Semaphore, n: usize) {
    for _ in 0..10_000 {
        if sem.waiter_count() == n {
            return;
        }
        Timer::after_millis(1).await;
    }
    panic!("{n} waiters never queued (now {})", sem.waiter_count());
}

// ---------------------------------------------------------------------------------------
// Priority order

static ORDER_SEM: Semaphore = Semaphore::new(0);
static ORDER: Mutex<Vec<&str>> = Mutex::new(Vec::new());
static ORDER_DONE: AtomicBool = AtomicBool::new(false);

#[embassy_executor::task(pool_size = 5)]
async fn worker(name: &'static str, priority: i64) {
    let permit = ORDER_SEM.acquire().priority(priority).await.unwrap();
    ORDER.lock().unwrap().push(name);
    // Hold it across a timer, so the next grant needs this task to give it back.
    Timer::after_millis(1).await;
    drop(permit);
}

#[embassy_executor::task]
async fn order_driver(spawner: Spawner) {
    // Spawned out of priority order, each one queued before the next arrives.
    let workers = [("e", 9), ("b", 1), ("d", 5), ("c", 1), ("a", -3)];
    for (i, (name, priority)) in workers.into_iter().enumerate() {
        spawner.spawn(worker(name, priority).expect("worker pool has room"));
        until_waiters(&ORDER_SEM, i + 1).await;
    }
    assert!(
        ORDER_SEM.try_acquire().is_err(),
        "nothing free, nobody barges"
    );
    ORDER_SEM.add_permits(1);
    until_waiters(&ORDER_SEM, 0).await;
    // The last worker still holds the permit for a millisecond.
    while ORDER_SEM.available_permits() != 1 {
        Timer::after_millis(1).await;
    }
    ORDER_DONE.store(true, SeqCst);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "embassy-time's std driver keeps a thread running, which miri reports as a leak"
)]
fn embassy_tasks_are_served_by_priority_then_arrival() {
    run(&ORDER_DONE, |spawner| {
        spawner.spawn(order_driver(spawner).expect("driver spawns once"));
    });
    assert_eq!(*ORDER.lock().unwrap(), ["a", "b", "c", "d", "e"]);
    crate::common::assert_exact(&ORDER_SEM, 1);
}

// ---------------------------------------------------------------------------------------
// Cancellation by embassy-time's timeout

static TIMEOUT_SEM: Semaphore = Semaphore::new(1);
static TIMEOUT_DONE: AtomicBool = AtomicBool::new(false);
static LOW_GOT_IT: AtomicBool = AtomicBool::new(false);

#[embassy_executor::task]
async fn low_waiter() {
    let _permit = TIMEOUT_SEM.acquire().priority(10).await.unwrap();
    LOW_GOT_IT.store(true, SeqCst);
}

#[embassy_executor::task]
async fn timeout_driver(spawner: Spawner) {
    let held = TIMEOUT_SEM.try_acquire().unwrap();
    spawner.spawn(low_waiter().expect("spawns once"));
    until_waiters(&TIMEOUT_SEM, 1).await;

    // The most urgent request queues at the head, then gives up.
    let start = Instant::now();
    let urgent = with_timeout(Duration::from_millis(30), TIMEOUT_SEM.acquire().priority(0)).await;
    let waited = start.elapsed();
    assert!(urgent.is_err(), "no permit was free: it must time out");
    assert!(
        waited >= Duration::from_millis(30),
        "timed out early: {waited:?}"
    );
    assert_eq!(TIMEOUT_SEM.waiter_count(), 1, "the timed-out request left");
    assert!(!LOW_GOT_IT.load(SeqCst));

    // The waiter that was behind the cancelled head is served by the next release.
    drop(held);
    while !LOW_GOT_IT.load(SeqCst) {
        Timer::after_millis(1).await;
    }
    TIMEOUT_DONE.store(true, SeqCst);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "embassy-time's std driver keeps a thread running, which miri reports as a leak"
)]
fn an_embassy_timeout_cancels_a_queued_acquire_and_loses_nothing() {
    run(&TIMEOUT_DONE, |spawner| {
        spawner.spawn(timeout_driver(spawner).expect("driver spawns once"));
    });
    crate::common::assert_exact(&TIMEOUT_SEM, 1);
}

// ---------------------------------------------------------------------------------------
// A release from another thread (as from an interrupt handler) wakes the embassy task

static CROSS_SEM: Semaphore = Semaphore::new(0);
static CROSS_DONE: AtomicBool = AtomicBool::new(false);

#[embassy_executor::task]
async fn cross_waiter() {
    let permit = CROSS_SEM.acquire_many(2).priority(3).await.unwrap();
    assert_eq!(permit.num_permits(), 2);
    drop(permit);
    CROSS_DONE.store(true, SeqCst);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "embassy-time's std driver keeps a thread running, which miri reports as a leak"
)]
fn a_release_on_another_thread_wakes_the_embassy_task() {
    let releaser = thread::spawn(|| {
        while CROSS_SEM.waiter_count() == 0 {
            thread::sleep(StdDuration::from_millis(1));
        }
        CROSS_SEM.add_permits(1);
        thread::sleep(StdDuration::from_millis(5));
        assert_eq!(
            CROSS_SEM.waiter_count(),
            1,
            "one of two permits is not enough"
        );
        CROSS_SEM.add_permits(1);
    });
    run(&CROSS_DONE, |spawner| {
        spawner.spawn(cross_waiter().expect("spawns once"));
    });
    releaser.join().unwrap();
    crate::common::assert_exact(&CROSS_SEM, 2);
}
