//! Owned permits: `acquire_owned` and friends through an `Arc<Semaphore>`.

use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::common::{
    assert_exact, expect_panic, expect_ready, poll_noop, poll_with, yield_now, FlagWaker, Gauge,
};
use prio_semaphore::{AcquireOwned, OwnedPermit, OwnedSemaphorePermit, Semaphore, TryAcquireError};

fn assert_send_sync_static<T: Send + Sync + 'static>() {}
fn assert_send_static<T: Send + 'static>() {}

#[test]
fn owned_types_are_static_and_thread_safe() {
    assert_send_sync_static::<OwnedPermit>();
    assert_send_sync_static::<OwnedSemaphorePermit>();
    assert_send_static::<AcquireOwned>();
    assert_send_static::<AcquireOwned<prio_semaphore::FloatPriority>>();
}

/// The backpressure pattern for 10,000s of tasks: acquire *before* spawning, so at most `LIMIT` tasks
/// exist at once however many items there are, and every permit comes back at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(miri, ignore)] // tokio's multi-thread runtime
async fn acquire_before_spawn_bounds_the_number_of_live_tasks() {
    const LIMIT: usize = 4;
    const ITEMS: usize = 200;

    /// A task's state: the gauge guard is a field declared before the permit, so the task
    /// stops counting as alive before it gives its permit back.
    struct Slot<'g> {
        _alive: crate::common::GaugeGuard<'g>,
        _permit: OwnedPermit,
    }

    let sem = Arc::new(Semaphore::new(LIMIT));
    let alive: &'static Gauge = Box::leak(Box::default());
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(ITEMS);
    for item in 0..ITEMS {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let slot = Slot {
            _alive: alive.enter(),
            _permit: permit,
        };
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let _slot = slot;
            for _ in 0..item % 3 {
                tokio::task::yield_now().await;
            }
            done.fetch_add(1, Ordering::SeqCst);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert!(alive.max() <= LIMIT, "{} tasks alive at once", alive.max());
    assert!(alive.max() >= 1);
    assert_eq!(alive.now(), 0);
    assert_eq!(done.load(Ordering::SeqCst), ITEMS);
    assert_exact(&sem, LIMIT);
}

#[test]
fn owned_waiters_are_served_by_priority_then_arrival() {
    let sem = Arc::new(Semaphore::new(1));
    let order = Mutex::new(Vec::new());
    futures::executor::block_on(async {
        let held = sem.clone().try_acquire_owned().unwrap();
        let waiters = [5_i64, 3, 9, 3, 1]
            .into_iter()
            .enumerate()
            .map(|(i, priority)| {
                let acquire = sem.clone().acquire_owned().priority(priority);
                let order = &order;
                async move {
                    let _permit = acquire.await.unwrap();
                    order.lock().unwrap().push((priority, i));
                }
            });
        let all = futures::future::join_all(waiters);
        let release = async {
            yield_now().await;
            drop(held);
        };
        futures::future::join(all, release).await;
    });
    assert_eq!(
        *order.lock().unwrap(),
        [(1, 4), (3, 1), (3, 3), (5, 0), (9, 2)]
    );
    assert_exact(&sem, 1);
}

#[test]
fn owned_and_borrowed_waiters_share_one_line() {
    let sem = Arc::new(Semaphore::new(0));
    let mut borrowed = pin!(sem.acquire().priority(2));
    let mut owned = pin!(sem.clone().acquire_owned().priority(1));
    assert!(poll_noop(borrowed.as_mut()).is_pending());
    assert!(poll_noop(owned.as_mut()).is_pending());
    assert_eq!(sem.waiter_count(), 2);

    sem.add_permits(1);
    let first = expect_ready(poll_noop(owned.as_mut()), "priority 1").unwrap();
    assert!(poll_noop(borrowed.as_mut()).is_pending());
    drop(first);
    let second = expect_ready(poll_noop(borrowed.as_mut()), "priority 2").unwrap();
    drop(second);
    assert_exact(&sem, 1);
}

#[test]
fn dropping_a_queued_owned_request_leaves_the_line() {
    let sem = Arc::new(Semaphore::new(0));
    {
        let mut queued = pin!(sem.clone().acquire_owned());
        assert!(poll_noop(queued.as_mut()).is_pending());
        assert_eq!(sem.waiter_count(), 1);
    }
    assert_eq!(sem.waiter_count(), 0);
    // Only `sem` itself holds the `Arc` again: the future gave its clone back.
    assert_eq!(Arc::strong_count(&sem), 1);
    sem.add_permits(1);
    assert_exact(&sem, 1);
}

#[test]
fn dropping_a_granted_owned_request_hands_its_permits_on_with_the_wake_up() {
    let sem = Arc::new(Semaphore::new(0));
    let (first_flag, first_waker) = FlagWaker::new();
    let (second_flag, second_waker) = FlagWaker::new();
    let mut second = pin!(sem.clone().acquire_many_owned(2).priority(2));
    {
        let mut first = pin!(sem.clone().acquire_many_owned(2).priority(1));
        assert!(poll_with(first.as_mut(), &first_waker).is_pending());
        assert!(poll_with(second.as_mut(), &second_waker).is_pending());
        sem.add_permits(2);
        assert!(first_flag.woken(), "granted to the first request");
        assert!(!second_flag.woken());
        // Dropped without being polled again: its two permits must move on.
    }
    assert!(second_flag.woken(), "the wake-up passed on");
    let permit = expect_ready(poll_noop(second.as_mut()), "second request").unwrap();
    assert_eq!(permit.num_permits(), 2);
    drop(permit);
    assert_exact(&sem, 2);
}

#[test]
fn a_partial_grant_goes_back_when_an_owned_request_is_dropped() {
    let sem = Arc::new(Semaphore::new(2));
    {
        let mut big = pin!(sem.clone().acquire_many_owned(5));
        assert!(poll_noop(big.as_mut()).is_pending());
        assert_eq!(sem.available_permits(), 0, "collected by the big request");
    }
    assert_exact(&sem, 2);
}

#[test]
fn merging_owned_permits_of_different_semaphores_panics_and_keeps_counts_exact() {
    let a = Arc::new(Semaphore::new(2));
    let b = Arc::new(Semaphore::new(2));
    let mut from_a = a.clone().try_acquire_owned().unwrap();
    let from_b = b.clone().try_acquire_owned().unwrap();
    let msg = expect_panic(|| from_a.merge(from_b));
    assert_eq!(msg, "cannot merge permits from different semaphores");
    assert_eq!(from_a.num_permits(), 1);
    assert_exact(&b, 2);
    drop(from_a);
    assert_exact(&a, 2);
}

#[test]
fn merge_split_forget_and_semaphore() {
    let sem = Arc::new(Semaphore::new(5));
    let mut permit = sem.clone().try_acquire_many_owned(3).unwrap();
    assert!(Arc::ptr_eq(permit.semaphore(), &sem));
    assert!(permit.split(4).is_none());
    assert_eq!(permit.num_permits(), 3);
    let two = permit.split(2).unwrap();
    assert!(Arc::ptr_eq(two.semaphore(), &sem));
    two.forget();
    assert_eq!(sem.available_permits(), 2);
    permit.merge(sem.clone().try_acquire_owned().unwrap());
    assert_eq!(permit.num_permits(), 2);
    drop(permit);
    assert_exact(&sem, 3);
}

#[test]
fn a_permit_keeps_the_semaphore_alive() {
    let sem = Arc::new(Semaphore::new(1));
    let weak = Arc::downgrade(&sem);
    let permit = sem.try_acquire_owned().unwrap();
    assert!(weak.upgrade().is_some());
    drop(permit);
    assert!(weak.upgrade().is_none());
}

#[test]
fn try_acquire_owned_errors() {
    let sem = Arc::new(Semaphore::new(1));
    let held = sem.clone().try_acquire_owned().unwrap();
    assert_eq!(
        sem.clone().try_acquire_owned().unwrap_err(),
        TryAcquireError::NoPermits
    );
    assert_eq!(
        sem.clone().try_acquire_many_owned(u32::MAX).unwrap_err(),
        TryAcquireError::NoPermits
    );
    sem.close();
    assert_eq!(
        sem.clone().try_acquire_owned().unwrap_err(),
        TryAcquireError::Closed
    );
    drop(held);
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn acquire_owned_errors_and_zero_permits() {
    let sem = Arc::new(Semaphore::new(1));
    let mut too_many = pin!(sem.clone().acquire_many_owned(u32::MAX));
    let err = expect_ready(poll_noop(too_many.as_mut()), "too many").unwrap_err();
    assert!(err.is_too_many_permits());

    let mut zero = pin!(sem.clone().acquire_many_owned(0));
    let none = expect_ready(poll_noop(zero.as_mut()), "zero permits").unwrap();
    assert_eq!(none.num_permits(), 0);

    let mut queued = pin!(sem.clone().acquire_many_owned(2));
    assert!(poll_noop(queued.as_mut()).is_pending());
    sem.close();
    let err = expect_ready(poll_noop(queued.as_mut()), "closed").unwrap_err();
    assert!(err.is_closed());
    let mut late = pin!(sem.clone().acquire_owned());
    assert!(expect_ready(poll_noop(late.as_mut()), "late")
        .unwrap_err()
        .is_closed());
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn polling_a_completed_owned_request_panics() {
    let sem = Arc::new(Semaphore::new(1));
    let mut acquire = pin!(sem.clone().acquire_owned());
    let permit = expect_ready(poll_noop(acquire.as_mut()), "free permit").unwrap();
    let msg = expect_panic(|| poll_noop(acquire.as_mut()));
    assert!(msg.contains("polled after it completed"), "{msg}");
    drop(permit);
    assert_exact(&sem, 1);
}

/// Owned permits move anywhere; here one is given back on another thread, to a waiter.
#[test]
fn an_owned_permit_released_on_another_thread_goes_to_the_waiter() {
    let sem = Arc::new(Semaphore::new(1));
    let permit = sem.clone().try_acquire_owned().unwrap();
    let mut waiter = Box::pin(sem.clone().acquire_owned());
    assert!(poll_noop(waiter.as_mut()).is_pending());
    std::thread::spawn(move || drop(permit)).join().unwrap();
    assert_eq!(sem.waiter_count(), 0, "handed over directly");
    let permit = futures::executor::block_on(waiter).unwrap();
    assert_eq!(permit.num_permits(), 1);
    drop(permit);
    assert_exact(&sem, 1);
}
