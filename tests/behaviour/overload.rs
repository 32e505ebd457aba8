//! Overload bounds: `queue_limit` (refused at once when too many wait), `timeout` (a timer
//! of the caller's runtime), and the blocking `wait_timeout`; at the limit exactly, with
//! zero and huge limits, and with the timer racing a grant.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use crate::common::{assert_exact, expect_ready, poll_noop, poll_with, FlagWaker};
use prio_semaphore::{with_priority, Semaphore};

/// A timer the test fires by hand.
#[derive(Clone, Default)]
struct Trigger(Arc<AtomicBool>);

impl Trigger {
    fn fire(&self) {
        self.0.store(true, SeqCst);
    }
}

impl Future for Trigger {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0.load(SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[test]
fn the_limit_refuses_the_request_that_would_wait_behind_exactly_limit_others() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let limit = 3;
    let mut queued: Vec<_> = (0..limit)
        .map(|_| Box::pin(sem.acquire().queue_limit(limit)))
        .collect();
    for request in &mut queued {
        assert!(
            poll_noop(request.as_mut()).is_pending(),
            "below the limit it queues"
        );
    }
    assert_eq!(sem.waiter_count(), limit);
    let refused = expect_ready(poll_noop(pin!(sem.acquire().queue_limit(limit))), "refused");
    let err = refused.unwrap_err();
    assert!(err.is_queue_full() && err.is_overload() && !err.is_closed());
    assert_eq!(
        sem.waiter_count(),
        limit,
        "the refused request never joined"
    );
    // One more slot and it queues again.
    let mut fits = Box::pin(sem.acquire().queue_limit(limit + 1));
    assert!(poll_noop(fits.as_mut()).is_pending());
    drop(held);
    for request in queued.iter_mut().chain([&mut fits]) {
        let permit = expect_ready(poll_noop(request.as_mut()), "granted in order").unwrap();
        drop(permit);
    }
    assert_exact(&sem, 1);
}

#[test]
fn the_limit_counts_every_priority_so_urgent_requests_get_a_larger_one() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let mut batch = Box::pin(sem.acquire().priority(10).queue_limit(1));
    assert!(poll_noop(batch.as_mut()).is_pending());
    let refused = poll_noop(pin!(sem.acquire().priority(10).queue_limit(1)));
    assert!(expect_ready(refused, "batch refused")
        .unwrap_err()
        .is_queue_full());
    // Realtime with no limit queues, and ahead of the batch request.
    let mut realtime = Box::pin(sem.acquire().priority(0));
    assert!(poll_noop(realtime.as_mut()).is_pending());
    drop(held);
    assert!(poll_noop(batch.as_mut()).is_pending());
    drop(expect_ready(poll_noop(realtime.as_mut()), "realtime first").unwrap());
    drop(expect_ready(poll_noop(batch.as_mut()), "then batch").unwrap());
    assert_exact(&sem, 1);
}

#[test]
fn a_zero_limit_never_waits_but_takes_free_permits() {
    let sem = Semaphore::new(1);
    let permit = expect_ready(poll_noop(pin!(sem.acquire().queue_limit(0))), "free").unwrap();
    let refused = expect_ready(poll_noop(pin!(sem.acquire().queue_limit(0))), "refused");
    assert!(refused.unwrap_err().is_queue_full());
    // Also when nobody waits but too few permits are free: it would have to wait.
    let refused = poll_noop(pin!(sem.acquire_many(2).queue_limit(0)));
    assert!(expect_ready(refused, "refused")
        .unwrap_err()
        .is_queue_full());
    drop(permit);
    assert_exact(&sem, 1);
}

#[test]
fn huge_limits_are_no_limit() {
    for limit in [
        usize::MAX,
        u32::MAX as usize,
        u32::MAX as usize - 1,
        u32::MAX as usize - 2,
    ] {
        let sem = Semaphore::new(0);
        let mut first = Box::pin(sem.acquire().queue_limit(limit));
        let mut second = Box::pin(sem.acquire().queue_limit(limit));
        assert!(poll_noop(first.as_mut()).is_pending(), "limit {limit}");
        assert!(poll_noop(second.as_mut()).is_pending(), "limit {limit}");
        assert_eq!(sem.waiter_count(), 2);
        sem.add_permits(2);
        drop(expect_ready(poll_noop(first.as_mut()), "granted").unwrap());
        drop(expect_ready(poll_noop(second.as_mut()), "granted").unwrap());
        assert_exact(&sem, 2);
    }
}

#[test]
fn a_refused_request_loses_no_wake_up_of_the_line() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let (flag, waker) = FlagWaker::new();
    let mut queued = pin!(sem.acquire());
    assert!(poll_with(queued.as_mut(), &waker).is_pending());
    let (refused_flag, refused_waker) = FlagWaker::new();
    let refused = poll_with(pin!(sem.acquire().queue_limit(1)), &refused_waker);
    assert!(expect_ready(refused, "refused")
        .unwrap_err()
        .is_queue_full());
    drop(held);
    assert!(flag.woken(), "the queued request is woken");
    assert!(
        !refused_flag.woken(),
        "the refused one kept no waker in the line"
    );
    drop(expect_ready(poll_noop(queued), "granted").unwrap());
    assert_exact(&sem, 1);
}

#[test]
fn the_limit_survives_an_ambient_priority() {
    let sem = Semaphore::new(0);
    let refused = futures::executor::block_on(with_priority(3, sem.acquire().queue_limit(0)));
    assert!(refused.unwrap_err().is_queue_full());
    let owned = Arc::new(Semaphore::new(0));
    let refused = futures::executor::block_on(with_priority(
        3,
        owned.clone().acquire_owned().queue_limit(0),
    ));
    assert!(refused.unwrap_err().is_queue_full());
    assert_exact(&owned, 0);
}

#[test]
fn the_timer_gives_up_and_the_request_leaves_the_line() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let timer = Trigger::default();
    let mut request = pin!(sem.acquire().priority(1).timeout(timer.clone()));
    assert!(poll_noop(request.as_mut()).is_pending());
    assert_eq!(sem.waiter_count(), 1);
    timer.fire();
    let err = expect_ready(poll_noop(request.as_mut()), "timed out").unwrap_err();
    assert!(err.is_timed_out() && err.is_overload());
    assert_eq!(sem.waiter_count(), 0, "gone before the future is dropped");
    drop(held);
    assert_exact(&sem, 1);
}

#[test]
fn a_grant_that_arrived_before_the_timer_fired_is_taken() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let timer = Trigger::default();
    let mut request = pin!(sem.acquire().timeout(timer.clone()));
    assert!(poll_noop(request.as_mut()).is_pending());
    drop(held); // granted, not yet polled
    timer.fire();
    let permit = expect_ready(poll_noop(request.as_mut()), "granted").unwrap();
    assert_eq!(sem.available_permits(), 0);
    drop(permit);
    assert_exact(&sem, 1);
}

#[test]
fn a_grant_handed_to_a_request_that_times_out_goes_to_the_next() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let timer = Trigger::default();
    let mut first = Box::pin(sem.acquire().priority(0).timeout(timer.clone()));
    assert!(poll_noop(first.as_mut()).is_pending());
    let (flag, waker) = FlagWaker::new();
    let mut second = pin!(sem.acquire().priority(1));
    assert!(poll_with(second.as_mut(), &waker).is_pending());
    drop(held); // the first is granted
    assert!(!flag.woken());
    drop(first); // gives up before it ever sees the grant
    assert!(flag.woken(), "the permit and the wake-up go on");
    drop(expect_ready(poll_noop(second), "granted").unwrap());
    assert_exact(&sem, 1);
}

#[test]
#[cfg_attr(miri, ignore)] // 200 rounds of real threads and sleeps
fn a_timed_out_wait_returns_every_permit_however_the_race_goes() {
    let sem = Arc::new(Semaphore::new(1));
    let (mut granted, mut timed_out) = (0, 0);
    for round in 0..200 {
        let held = sem.clone().try_acquire_owned().unwrap();
        let releaser = thread::spawn(move || {
            // Around the waiter's deadline, sometimes before, sometimes after.
            thread::sleep(Duration::from_micros(round % 3 * 500));
            drop(held);
        });
        match sem
            .acquire()
            .priority(1)
            .wait_timeout(Duration::from_micros(500))
        {
            Ok(permit) => {
                granted += 1;
                assert_eq!(permit.num_permits(), 1);
            }
            Err(err) => {
                assert!(err.is_timed_out());
                timed_out += 1;
            }
        }
        releaser.join().unwrap();
        assert_exact(&sem, 1);
    }
    assert_eq!(granted + timed_out, 200);
}

#[test]
fn blocking_timeouts_succeed_when_permits_come_in_time() {
    let sem = Arc::new(Semaphore::new(0));
    let adder = thread::spawn({
        let sem = sem.clone();
        move || {
            while sem.waiter_count() == 0 {
                thread::yield_now();
            }
            sem.add_permits(2);
        }
    });
    let permit = sem
        .blocking_acquire_timeout(Duration::from_secs(600))
        .unwrap();
    adder.join().unwrap();
    let owned = sem
        .clone()
        .acquire_owned()
        .wait_timeout(Duration::MAX)
        .unwrap();
    assert_eq!(permit.num_permits() + owned.num_permits(), 2);
    drop((permit, owned));
    let err = sem
        .acquire_many(3)
        .wait_timeout(Duration::ZERO)
        .unwrap_err();
    assert!(err.is_timed_out());
    assert_exact(&sem, 2);
}
