//! Dropping an `Acquire` future in every state it can be in loses nothing: permits handed
//! to it move on to the next waiters, and so does the wake-up (`Acquire`'s docs,
//! "Cancellation").
//! That is what makes every runtime's timeout a correct acquire-with-timeout, checked at
//! the end with tokio's and async-std's.
//!
//! The state-by-state tests poll by hand with flag wakers and run under miri; the timeout
//! tests need real timers and are skipped there.

use std::pin::{pin, Pin};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{assert_exact, expect_ready, poll_noop, poll_with, FlagWaker};
use prio_semaphore::{Acquire, Semaphore};

/// Polls `fut` once with a fresh flag waker, asserts it is queued, and returns the flag.
#[track_caller]
fn queue(fut: Pin<&mut Acquire<'_>>) -> Arc<FlagWaker> {
    let (flag, waker) = FlagWaker::new();
    assert!(poll_with(fut, &waker).is_pending(), "expected to queue");
    flag
}

// ---------------------------------------------------------------------------------------
// One test per state
// ---------------------------------------------------------------------------------------

#[test]
fn dropping_a_never_polled_acquire_changes_nothing() {
    let sem = Semaphore::new(1);
    drop(sem.acquire());
    drop(sem.acquire_many(5).priority(-3));
    assert_exact(&sem, 1);

    // Nor does it disturb a queue it never joined.
    let held = sem.try_acquire().unwrap();
    let mut waiting = pin!(sem.acquire());
    let flag = queue(waiting.as_mut());
    drop(sem.acquire().priority(-100));
    assert_eq!(sem.waiter_count(), 1);
    drop(held);
    assert_eq!(flag.wakes(), 1);
    drop(expect_ready(poll_noop(waiting.as_mut()), "waiter").unwrap());
    assert_exact(&sem, 1);
}

#[test]
fn dropping_a_queued_waiter_behind_the_front_unlinks_it_and_nobody_else_notices() {
    let sem = Semaphore::new(0);
    let mut a = pin!(sem.acquire());
    let mut c = pin!(sem.acquire());
    let a_flag = queue(a.as_mut());
    let b_flag = {
        let mut b = pin!(sem.acquire());
        let flag = queue(b.as_mut());
        let _ = queue(c.as_mut());
        assert_eq!(sem.waiter_count(), 3);
        flag
        // `b` is dropped here, queued between `a` and `c`.
    };
    assert_eq!(sem.waiter_count(), 2);
    assert!(!a_flag.woken(), "cancelling another waiter wakes nobody");

    sem.add_permits(2);
    assert_eq!(a_flag.wakes(), 1);
    assert_eq!(b_flag.wakes(), 0, "a cancelled waiter is never woken");
    let pa = expect_ready(poll_noop(a.as_mut()), "a").unwrap();
    let pc = expect_ready(poll_noop(c.as_mut()), "c got b's place").unwrap();
    drop((pa, pc));
    assert_exact(&sem, 2);
}

#[test]
fn dropping_the_front_waiter_hands_its_partial_grant_to_the_next_and_wakes_it() {
    let sem = Semaphore::new(2);
    let mut next = pin!(sem.acquire_many(2));
    let next_flag;
    {
        let mut big = pin!(sem.acquire_many(5));
        let _ = queue(big.as_mut());
        // `big` now collects the two free permits.
        assert_eq!(sem.available_permits(), 0);
        assert!(sem.try_acquire().is_err());
        next_flag = queue(next.as_mut());
        assert!(!next_flag.woken());
    }
    // `big` left: its two permits went straight to `next`, with the wake-up.
    assert_eq!(next_flag.wakes(), 1);
    assert_eq!(sem.waiter_count(), 0);
    let permit = expect_ready(poll_noop(next.as_mut()), "next").unwrap();
    assert_eq!(permit.num_permits(), 2);
    assert_eq!(sem.available_permits(), 0);
    drop(permit);
    assert_exact(&sem, 2);
}

#[test]
fn dropping_the_front_waiter_spreads_its_partial_grant_over_several_waiters() {
    let sem = Semaphore::new(3);
    let mut smalls: Vec<_> = (0..4).map(|_| Box::pin(sem.acquire())).collect();
    let flags: Vec<_>;
    {
        let mut big = pin!(sem.acquire_many(5));
        let _ = queue(big.as_mut());
        flags = smalls.iter_mut().map(|f| queue(f.as_mut())).collect();
    }
    // Three permits for four waiters: the first three are served, in order.
    let wakes: Vec<_> = flags.iter().map(|f| f.wakes()).collect();
    assert_eq!(wakes, [1, 1, 1, 0]);
    let permits: Vec<_> = smalls[..3]
        .iter_mut()
        .map(|f| expect_ready(poll_noop(f.as_mut()), "small").unwrap())
        .collect();
    // Re-polled with its own waker: a noop waker here would replace it.
    let waker = std::task::Waker::from(flags[3].clone());
    assert!(poll_with(smalls[3].as_mut(), &waker).is_pending());
    drop(permits);
    assert_eq!(flags[3].wakes(), 1);
    drop(expect_ready(poll_noop(smalls[3].as_mut()), "last").unwrap());
    assert_exact(&sem, 3);
}

#[test]
fn dropping_the_front_waiter_with_a_partial_grant_too_small_for_the_next_keeps_it_parked() {
    let sem = Semaphore::new(1);
    let mut next = pin!(sem.acquire_many(3));
    let next_flag;
    {
        let mut big = pin!(sem.acquire_many(4));
        let _ = queue(big.as_mut());
        next_flag = queue(next.as_mut());
    }
    // One permit is not enough for `next`: it is parked with `next`, which sleeps on.
    assert!(!next_flag.woken());
    assert_eq!(sem.available_permits(), 0);
    assert_eq!(sem.waiter_count(), 1);
    sem.add_permits(2);
    assert_eq!(next_flag.wakes(), 1);
    let permit = expect_ready(poll_noop(next.as_mut()), "next").unwrap();
    assert_eq!(permit.num_permits(), 3);
    drop(permit);
    assert_exact(&sem, 3);
}

#[test]
fn dropping_a_granted_but_unpolled_waiter_passes_permits_and_wake_up_on() {
    let sem = Semaphore::new(2);
    let held = sem.try_acquire_many(2).unwrap();
    let mut b = pin!(sem.acquire_many(2));
    let b_flag;
    {
        let mut a = pin!(sem.acquire_many(2));
        let a_flag = queue(a.as_mut());
        b_flag = queue(b.as_mut());
        drop(held);
        assert_eq!(a_flag.wakes(), 1, "a is granted and woken");
        assert!(!b_flag.woken());
        assert_eq!(sem.waiter_count(), 1);
        // `a` is dropped before its task gets to poll it.
    }
    assert_eq!(b_flag.wakes(), 1, "the wake-up moved on with the permits");
    let permit = expect_ready(poll_noop(b.as_mut()), "b").unwrap();
    assert_eq!(permit.num_permits(), 2);
    drop(permit);
    assert_exact(&sem, 2);
}

#[test]
fn dropping_a_granted_waiter_with_nobody_behind_returns_its_permits() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    {
        let mut a = pin!(sem.acquire());
        let flag = queue(a.as_mut());
        drop(held);
        assert!(flag.woken());
        assert_eq!(sem.available_permits(), 0, "the permit is a's now");
    }
    assert_exact(&sem, 1);
}

#[test]
fn dropping_a_completed_acquire_is_a_no_op() {
    let sem = Semaphore::new(2);
    // Completed on the fast path.
    let mut fast = Box::pin(sem.acquire());
    let p1 = expect_ready(poll_noop(fast.as_mut()), "fast").unwrap();
    // Completed through the queue.
    let mut slow = Box::pin(sem.acquire_many(2));
    let _ = poll_noop(slow.as_mut());
    drop(p1);
    let p2 = expect_ready(poll_noop(slow.as_mut()), "slow").unwrap();

    drop(fast);
    drop(slow);
    assert_eq!(
        sem.available_permits(),
        0,
        "the permits stay with their holder"
    );
    assert_eq!(p2.num_permits(), 2);
    drop(p2);
    assert_exact(&sem, 2);
}

#[test]
fn dropping_an_acquire_that_failed_because_of_close_is_a_no_op() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let mut waiting = Box::pin(sem.acquire());
    let flag = queue(waiting.as_mut());
    sem.close();
    assert!(flag.woken());
    assert!(expect_ready(poll_noop(waiting.as_mut()), "closed").is_err());
    drop(waiting);
    drop(held);
    assert_eq!(sem.available_permits(), 1);
    assert_eq!(sem.waiter_count(), 0);

    // Cancelled after being closed but before being polled: also nothing to give back.
    let sem = Semaphore::new(0);
    let mut waiting = Box::pin(sem.acquire());
    let _ = queue(waiting.as_mut());
    sem.close();
    drop(waiting);
    sem.add_permits(1);
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn cancelling_the_head_does_not_leave_the_waiters_behind_it_asleep() {
    // embassy#6964, futures-intrusive#61, shuttle#167: the head was woken, cancelled, and
    // the wake-up died with it. Here it is cancelled at every stage, one after another.
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let mut futs: Vec<_> = (0..4).map(|_| Box::pin(sem.acquire())).collect();
    let flags: Vec<_> = futs.iter_mut().map(|f| queue(f.as_mut())).collect();

    // Cancel the head while it merely waits: nobody needs waking yet.
    drop(futs.remove(0));
    assert!(flags[1..].iter().all(|f| !f.woken()));

    // Release: the new head (1) is granted and woken; cancel it before it runs.
    drop(held);
    assert_eq!(flags[1].wakes(), 1);
    drop(futs.remove(0));
    assert_eq!(flags[2].wakes(), 1, "the wake-up moved on to the next head");
    // And again.
    drop(futs.remove(0));
    assert_eq!(flags[3].wakes(), 1, "and on again");
    let permit = expect_ready(poll_noop(futs[0].as_mut()), "last waiter").unwrap();
    drop(permit);
    drop(futs);
    assert_exact(&sem, 1);
}

#[test]
fn cancelling_many_granted_waiters_in_one_batch_wakes_those_behind() {
    // More waiters than fit in one wake batch, granted together, then all of the first
    // half cancelled unpolled: the permits and wake-ups reach the second half.
    const N: usize = if cfg!(miri) { 40 } else { 100 };
    let sem = Semaphore::new(0);
    let mut futs: Vec<_> = (0..2 * N).map(|_| Box::pin(sem.acquire())).collect();
    let flags: Vec<_> = futs.iter_mut().map(|f| queue(f.as_mut())).collect();

    sem.add_permits(N);
    assert!(flags[..N].iter().all(|f| f.wakes() == 1));
    assert!(flags[N..].iter().all(|f| !f.woken()));

    let survivors = futs.split_off(N);
    drop(futs);
    assert!(flags[N..].iter().all(|f| f.wakes() == 1));
    let permits: Vec<_> = survivors
        .into_iter()
        .map(|mut f| expect_ready(poll_noop(f.as_mut()), "survivor").unwrap())
        .collect();
    assert_eq!(sem.available_permits(), 0);
    drop(permits);
    assert_exact(&sem, N);
}

#[test]
fn repolling_with_a_new_waker_then_cancelling_wakes_the_next_waiter() {
    // A task that moved (new waker) and was then cancelled: only the latest waker matters,
    // and the next waiter must still be served.
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let mut b = pin!(sem.acquire());
    let (old_flag, new_flag, b_flag);
    {
        let mut a = pin!(sem.acquire());
        old_flag = queue(a.as_mut());
        b_flag = queue(b.as_mut());
        new_flag = queue(a.as_mut());
        drop(held);
        assert_eq!(
            (old_flag.wakes(), new_flag.wakes()),
            (0, 1),
            "latest waker only"
        );
    }
    assert_eq!(b_flag.wakes(), 1);
    drop(expect_ready(poll_noop(b.as_mut()), "b").unwrap());
    assert_exact(&sem, 1);
}

// ---------------------------------------------------------------------------------------
// Runtime timeouts: correct acquire-with-timeout because cancellation is
// ---------------------------------------------------------------------------------------

/// Short enough to keep the suite fast; the tests only need it to pass at some point.
const SHORT: Duration = Duration::from_millis(20);
/// A deadline that is never meant to be reached: if it is, the test fails instead of hanging.
const GENEROUS: Duration = Duration::from_secs(30);

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

#[test]
#[cfg_attr(miri, ignore = "needs tokio's timer driver")]
fn tokio_timeout_elapses_when_no_permit_comes() {
    let sem = Semaphore::new(2);
    let held = sem.try_acquire_many(2).unwrap();
    tokio_rt().block_on(async {
        let result = tokio::time::timeout(SHORT, sem.acquire()).await;
        assert!(result.is_err(), "expected Elapsed");
        let result = tokio::time::timeout(SHORT, sem.acquire_many(2).priority(-1)).await;
        assert!(result.is_err(), "expected Elapsed");
    });
    assert_eq!(sem.waiter_count(), 0, "the timed-out waiters left the line");
    drop(held);
    assert_exact(&sem, 2);
}

#[test]
#[cfg_attr(miri, ignore = "needs tokio's timer driver")]
fn tokio_timeout_succeeds_when_the_permit_is_released_before_the_deadline() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    tokio_rt().block_on(async {
        let acquire = tokio::time::timeout(GENEROUS, sem.acquire());
        let release = async {
            crate::common::yield_until("the acquire is queued", || sem.waiter_count() == 1).await;
            drop(held);
        };
        let (result, ()) = tokio::join!(acquire, release);
        let permit = result.expect("released long before the deadline").unwrap();
        assert_eq!(permit.num_permits(), 1);
    });
    assert_exact(&sem, 1);
}

#[test]
#[cfg_attr(miri, ignore = "needs tokio's timer driver")]
fn after_a_tokio_timeout_its_partial_grant_goes_to_the_next_waiter() {
    // The timed-out request was at the front collecting permits: they must reach the
    // waiter behind it without anyone releasing anything.
    let sem = Semaphore::new(2);
    tokio_rt().block_on(async {
        let big = tokio::time::timeout(SHORT, sem.acquire_many(3));
        let small = async {
            crate::common::yield_until("big is queued", || sem.waiter_count() == 1).await;
            tokio::time::timeout(GENEROUS, sem.acquire_many(2)).await
        };
        let (big, small) = tokio::join!(big, small);
        assert!(big.is_err(), "3 of 2 permits never come");
        let small = small.expect("served once big timed out").unwrap();
        assert_eq!(small.num_permits(), 2);
        assert_eq!(sem.available_permits(), 0);
    });
    assert_exact(&sem, 2);
}

#[test]
#[cfg_attr(miri, ignore = "needs tokio's timer driver")]
fn after_a_tokio_timeout_the_next_waiter_is_served_by_the_next_release() {
    let sem = Arc::new(Semaphore::new(1));
    let held = sem.try_acquire().unwrap();
    tokio_rt().block_on(async {
        // Queued first and more urgent, but gives up.
        let first = tokio::time::timeout(SHORT, sem.acquire().priority(-1));
        let second = tokio::spawn({
            let sem = sem.clone();
            async move {
                let permit = sem.acquire().await.unwrap();
                permit.num_permits()
            }
        });
        assert!(first.await.is_err());
        assert_eq!(sem.waiter_count(), 1, "only the spawned waiter is left");
        drop(held);
        let got = tokio::time::timeout(GENEROUS, second).await;
        assert_eq!(got.expect("served").unwrap(), 1);
    });
    assert_exact(&sem, 1);
}

#[test]
#[cfg_attr(miri, ignore = "needs async-std's timers")]
fn async_std_timeout_elapses_then_counts_are_exact_and_the_next_waiter_is_served() {
    let sem = Semaphore::new(2);
    async_std::task::block_on(async {
        let held = sem.try_acquire().unwrap();
        let elapsed = async_std::future::timeout(SHORT, sem.acquire_many(2)).await;
        assert!(elapsed.is_err(), "expected TimeoutError");
        assert_eq!(sem.waiter_count(), 0);
        assert_eq!(sem.available_permits(), 1, "the partial grant came back");

        // A timed-out front request hands its collected permits on.
        let big = async_std::future::timeout(SHORT, sem.acquire_many(2));
        let small = async {
            crate::common::yield_until("big is queued", || sem.waiter_count() == 1).await;
            async_std::future::timeout(GENEROUS, sem.acquire()).await
        };
        let (big, small) = futures::future::join(big, small).await;
        assert!(big.is_err());
        let small = small.expect("served once big timed out").unwrap();
        drop((small, held));
    });
    assert_exact(&sem, 2);
}

#[test]
#[cfg_attr(miri, ignore = "needs async-std's timers")]
fn async_std_timeout_succeeds_when_the_permit_is_released_before_the_deadline() {
    let sem = Semaphore::new(1);
    async_std::task::block_on(async {
        let held = sem.try_acquire().unwrap();
        let acquire = async_std::future::timeout(GENEROUS, sem.acquire_many(1));
        let release = async {
            crate::common::yield_until("the acquire is queued", || sem.waiter_count() == 1).await;
            drop(held);
        };
        let (result, ()) = futures::future::join(acquire, release).await;
        drop(result.expect("released long before the deadline").unwrap());
    });
    assert_exact(&sem, 1);
}

#[test]
#[cfg_attr(miri, ignore = "needs smol's timers")]
fn smol_timer_race_is_a_correct_acquire_with_timeout() {
    use smol::future::FutureExt as _;
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    smol::block_on(async {
        let timed_out = async { Some(sem.acquire().await) }
            .or(async {
                smol::Timer::after(SHORT).await;
                None
            })
            .await;
        assert!(timed_out.is_none());
    });
    assert_eq!(sem.waiter_count(), 0);
    drop(held);
    assert_exact(&sem, 1);
}
