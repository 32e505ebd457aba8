//! Every public entry point has a defined answer for bad input (a clear error
//! or a documented panic with a precise message), and the semaphore's counts stay exact
//! afterwards.
//!
//! Everything here is polled by hand, so the whole file runs under miri.

use std::cmp::Ordering;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Wake, Waker};

use crate::common::{
    assert_exact, expect_panic, expect_ready, poll_noop, poll_with, FlagWaker, PanickingWaker,
    WAKER_PANIC,
};
use prio_semaphore::{FloatPriority, Permit, Semaphore, TryAcquireError, MAX_PERMITS};

// ---------------------------------------------------------------------------------------
// Zero permits
// ---------------------------------------------------------------------------------------

#[test]
fn acquire_many_zero_is_ready_at_once_with_an_empty_permit() {
    let sem = Semaphore::new(2);
    let permit = expect_ready(poll_noop(pin!(sem.acquire_many(0))), "acquire_many(0)").unwrap();
    assert_eq!(permit.num_permits(), 0);
    assert_eq!(sem.available_permits(), 2);
    drop(permit);
    assert_exact(&sem, 2);

    // Also with no permits free at all: a zero request needs none.
    let sem = Semaphore::new(0);
    let permit = expect_ready(poll_noop(pin!(sem.acquire_many(0))), "acquire_many(0)").unwrap();
    assert_eq!(permit.num_permits(), 0);
    drop(permit);
    assert_exact(&sem, 0);
}

#[test]
fn acquire_many_zero_is_ready_at_once_even_while_others_wait() {
    // `Semaphore::acquire_many` documents: "A request for zero permits succeeds at once
    // unless the semaphore is closed." It needs nothing, so nobody is overtaken. (It used
    // to queue like any request, and at the front wait for a release that might never come.)
    let sem = Semaphore::new(0);
    let mut waiting = pin!(sem.acquire_many(1).priority(5));
    assert!(poll_noop(waiting.as_mut()).is_pending());

    // Behind the waiter (equal priority, later arrival)...
    let behind = poll_noop(pin!(sem.acquire_many(0).priority(5)));
    let permit = expect_ready(behind, "acquire_many(0) behind a waiter").unwrap();
    assert_eq!(permit.num_permits(), 0);
    drop(permit);

    // ...and in front of it (nobody will ever release, so it must not wait for that).
    let front = poll_noop(pin!(sem.acquire_many(0).priority(0)));
    let permit = expect_ready(front, "acquire_many(0) ahead of a waiter").unwrap();
    drop(permit);
    // So does `try_acquire_many(0)`: taking nothing cannot barge.
    assert_eq!(sem.try_acquire_many(0).unwrap().num_permits(), 0);
    assert_eq!(sem.waiter_count(), 1);
    assert_eq!(sem.available_permits(), 0);

    // The waiter is undisturbed.
    sem.add_permits(1);
    drop(expect_ready(poll_noop(waiting.as_mut()), "waiter").unwrap());
    assert_exact(&sem, 1);
}

#[test]
fn acquire_many_zero_fails_when_closed() {
    let sem = Semaphore::new(1);
    sem.close();
    let err = expect_ready(poll_noop(pin!(sem.acquire_many(0))), "closed").unwrap_err();
    assert!(err.is_closed());
    assert!(!err.is_too_many_permits());
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn try_acquire_many_zero_succeeds_unless_closed() {
    let sem = Semaphore::new(0);
    let permit = sem.try_acquire_many(0).unwrap();
    assert_eq!(permit.num_permits(), 0);
    drop(permit);
    assert_exact(&sem, 0);

    sem.close();
    assert_eq!(
        sem.try_acquire_many(0).unwrap_err(),
        TryAcquireError::Closed
    );
    assert_eq!(sem.available_permits(), 0);
}

// ---------------------------------------------------------------------------------------
// More than MAX_PERMITS
// ---------------------------------------------------------------------------------------

#[test]
fn acquire_many_u32_max_fails_at_once_with_too_many_permits() {
    // On 64-bit targets MAX_PERMITS is u32::MAX >> 1, so u32::MAX can never be satisfied.
    assert!(u32::MAX as usize > MAX_PERMITS);
    let sem = Semaphore::new(3);
    let err = expect_ready(poll_noop(pin!(sem.acquire_many(u32::MAX))), "u32::MAX").unwrap_err();
    assert!(err.is_too_many_permits());
    assert!(!err.is_closed());
    let msg = err.to_string();
    assert!(msg.contains("MAX_PERMITS"), "{msg}");
    assert!(
        msg.contains(&u32::MAX.to_string()),
        "names the request: {msg}"
    );
    // It never queued and took nothing.
    assert_exact(&sem, 3);
}

#[test]
fn acquire_many_just_over_max_permits_fails_but_max_permits_waits() {
    let over = u32::try_from(MAX_PERMITS + 1).unwrap();
    let max = u32::try_from(MAX_PERMITS).unwrap();
    let sem = Semaphore::new(0);

    let err = expect_ready(poll_noop(pin!(sem.acquire_many(over))), "over").unwrap_err();
    assert!(err.is_too_many_permits());

    // Exactly MAX_PERMITS is satisfiable, so it waits rather than failing...
    let mut all = pin!(sem.acquire_many(max));
    assert!(poll_noop(all.as_mut()).is_pending());
    assert_eq!(sem.waiter_count(), 1);
    // ...and completes once the semaphore holds that many.
    sem.add_permits(MAX_PERMITS);
    let permit = expect_ready(poll_noop(all.as_mut()), "MAX_PERMITS").unwrap();
    assert_eq!(permit.num_permits(), MAX_PERMITS);
    drop(permit);
    assert_exact(&sem, MAX_PERMITS);
}

#[test]
fn too_many_permits_is_reported_even_on_a_closed_semaphore() {
    // Either error is defined; what matters is that it is an error and nothing changes.
    let sem = Semaphore::new(1);
    sem.close();
    let err = expect_ready(poll_noop(pin!(sem.acquire_many(u32::MAX))), "closed").unwrap_err();
    assert!(err.is_too_many_permits() || err.is_closed());
    assert_eq!(sem.available_permits(), 1);
    assert!(sem.is_closed());
}

#[test]
fn try_acquire_many_u32_max_is_no_permits_or_closed() {
    let sem = Semaphore::new(5);
    assert_eq!(
        sem.try_acquire_many(u32::MAX).unwrap_err(),
        TryAcquireError::NoPermits
    );
    assert_exact(&sem, 5);
    sem.close();
    assert_eq!(
        sem.try_acquire_many(u32::MAX).unwrap_err(),
        TryAcquireError::Closed
    );
    assert_eq!(sem.available_permits(), 5);
}

#[test]
fn new_with_more_than_max_permits_panics_with_a_clear_message() {
    let msg = expect_panic(|| Semaphore::new(MAX_PERMITS + 1));
    assert_eq!(
        msg,
        "a semaphore may not have more than MAX_PERMITS permits"
    );
    let msg = expect_panic(|| Semaphore::new(usize::MAX));
    assert_eq!(
        msg,
        "a semaphore may not have more than MAX_PERMITS permits"
    );
    // The boundary itself is fine.
    assert_exact(&Semaphore::new(MAX_PERMITS), MAX_PERMITS);
}

#[test]
fn add_permits_overflow_panics_and_changes_nothing() {
    let sem = Semaphore::new(MAX_PERMITS - 10);
    let held = sem.try_acquire_many(4).unwrap();

    let msg = expect_panic(|| sem.add_permits(11));
    assert!(msg.contains("exceed MAX_PERMITS"), "{msg}");
    // `checked_add` territory too: no wrap-around.
    let msg = expect_panic(|| sem.add_permits(usize::MAX));
    assert!(msg.contains("exceed MAX_PERMITS"), "{msg}");

    assert_eq!(sem.available_permits(), MAX_PERMITS - 14);
    // The failed calls added nothing: exactly 10 more still fit, the 11th does not.
    sem.add_permits(10);
    assert!(expect_panic(|| sem.add_permits(1)).contains("exceed MAX_PERMITS"));
    drop(held);
    assert_exact(&sem, MAX_PERMITS);
}

#[test]
fn add_permits_overflow_while_a_waiter_collects_changes_nothing() {
    // Permits parked as a partial grant count as "in existence" too.
    let sem = Semaphore::new(MAX_PERMITS - 1);
    let held = sem.try_acquire_many(5).unwrap();
    let mut big = pin!(sem.acquire_many(u32::try_from(MAX_PERMITS - 1).unwrap()));
    assert!(poll_noop(big.as_mut()).is_pending());
    assert_eq!(
        sem.available_permits(),
        0,
        "the front waiter collects the free ones"
    );

    assert!(expect_panic(|| sem.add_permits(2)).contains("exceed MAX_PERMITS"));
    assert_eq!(sem.waiter_count(), 1);
    assert!(poll_noop(big.as_mut()).is_pending(), "still 5 short");

    drop(held);
    let all = expect_ready(poll_noop(big.as_mut()), "big request").unwrap();
    assert_eq!(all.num_permits(), MAX_PERMITS - 1);
    drop(all);
    sem.add_permits(1);
    assert_exact(&sem, MAX_PERMITS);
}

// ---------------------------------------------------------------------------------------
// Permits from two semaphores
// ---------------------------------------------------------------------------------------

#[test]
fn merging_permits_from_different_semaphores_panics_and_counts_stay_exact() {
    let a = Semaphore::new(3);
    let b = Semaphore::new(4);
    let mut from_a = a.try_acquire_many(2).unwrap();
    let from_b = b.try_acquire_many(3).unwrap();

    let msg = expect_panic(|| from_a.merge(from_b));
    assert_eq!(msg, "cannot merge permits from different semaphores");

    // `from_b` went back to `b` as it unwound; `from_a` is untouched.
    assert_eq!(from_a.num_permits(), 2);
    assert_eq!(a.available_permits(), 1);
    assert_exact(&b, 4);
    drop(from_a);
    assert_exact(&a, 3);
}

#[test]
fn merge_split_and_forget_keep_counts_exact() {
    let sem = Semaphore::new(5);
    let mut p = sem.try_acquire_many(3).unwrap();
    assert!(p.split(4).is_none(), "cannot split more than held");
    assert_eq!(p.num_permits(), 3);
    let empty = p.split(0).unwrap();
    assert_eq!(empty.num_permits(), 0);
    p.merge(empty);
    let one = p.split(1).unwrap();
    one.forget();
    assert_eq!(p.num_permits(), 2);
    drop(p);
    assert_exact(&sem, 4);
}

// ---------------------------------------------------------------------------------------
// NaN priorities
// ---------------------------------------------------------------------------------------

#[test]
fn nan_priorities_are_served_after_every_number_and_fifo_among_themselves() {
    let sem: Semaphore<FloatPriority> = Semaphore::new_generic(1);
    let held = sem.try_acquire().unwrap();
    let nan = f64::NAN;
    // A negative-signed NaN too: NaN is NaN whatever its sign bit.
    let priorities = [
        nan,
        1.0,
        -nan,
        f64::NEG_INFINITY,
        f64::INFINITY,
        nan,
        0.0,
        -0.0,
    ];

    let mut futs: Vec<_> = priorities
        .iter()
        .map(|&p| Box::pin(sem.acquire().priority(p)))
        .collect();
    let flags: Vec<_> = futs
        .iter_mut()
        .map(|fut| {
            let (flag, waker) = FlagWaker::new();
            assert!(poll_with(fut.as_mut(), &waker).is_pending());
            flag
        })
        .collect();
    assert_eq!(sem.waiter_count(), priorities.len());

    // Hand the single permit down the line, recording who gets it.
    let mut served = Vec::new();
    let mut permit = held;
    for step in 0..priorities.len() {
        drop(permit);
        let woken: Vec<usize> = (0..futs.len()).filter(|&i| flags[i].wakes() == 1).collect();
        let next = *woken
            .iter()
            .find(|i| !served.contains(*i))
            .unwrap_or_else(|| panic!("step {step}: nobody new was woken"));
        assert_eq!(woken.len(), step + 1, "exactly one wake per release");
        permit = expect_ready(poll_noop(futs[next].as_mut()), "woken waiter").unwrap();
        served.push(next);
        assert_eq!(sem.waiter_count(), priorities.len() - step - 1);
    }
    // -inf, then 0.0 and -0.0 (equal, so by arrival), 1.0, +inf, then the NaNs by arrival.
    assert_eq!(served, [3, 6, 7, 1, 4, 0, 2, 5]);
    drop(permit);
    assert_exact(&sem, 1);
}

#[test]
fn nan_waiters_can_be_cancelled_anywhere_in_their_run() {
    let sem: Semaphore<FloatPriority> = Semaphore::new_generic(0);
    let mut a = Box::pin(sem.acquire().priority(f64::NAN));
    let mut b = Box::pin(sem.acquire().priority(f64::NAN));
    let mut c = Box::pin(sem.acquire().priority(f64::NAN));
    let mut d = Box::pin(sem.acquire().priority(2.5));
    for fut in [&mut a, &mut b, &mut c, &mut d] {
        assert!(poll_noop(fut.as_mut()).is_pending());
    }
    drop(b); // middle of the NaN run
    drop(a); // head of the NaN run
    assert_eq!(sem.waiter_count(), 2);

    sem.add_permits(1);
    let pd = expect_ready(poll_noop(d.as_mut()), "the number first").unwrap();
    assert!(poll_noop(c.as_mut()).is_pending());
    drop(pd);
    let pc = expect_ready(poll_noop(c.as_mut()), "the last NaN").unwrap();
    drop(pc);
    assert_exact(&sem, 1);
}

// ---------------------------------------------------------------------------------------
// Closed semaphores
// ---------------------------------------------------------------------------------------

#[test]
fn acquire_on_a_closed_semaphore_fails_and_held_permits_stay_valid() {
    let sem = Semaphore::new(3);
    let held = sem.try_acquire_many(2).unwrap();
    sem.close();
    sem.close(); // idempotent

    for n in [1, 2, 3] {
        let err = expect_ready(poll_noop(pin!(sem.acquire_many(n))), "closed").unwrap_err();
        assert!(err.is_closed());
        assert_eq!(err.to_string(), "semaphore closed");
    }
    let err = expect_ready(poll_noop(pin!(sem.acquire().priority(-1))), "closed").unwrap_err();
    assert!(err.is_closed());
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);

    // The held permits still count and come back.
    assert_eq!(held.num_permits(), 2);
    assert_eq!(sem.available_permits(), 1);
    drop(held);
    assert_eq!(sem.available_permits(), 3);
    // Added permits are counted too, but still cannot be taken.
    sem.add_permits(2);
    assert_eq!(sem.available_permits(), 5);
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
    assert!(sem.is_closed());
    assert_eq!(sem.waiter_count(), 0);
}

#[test]
fn forget_permits_on_a_closed_semaphore_keeps_it_closed() {
    // tokio#8020: `forget_permits` rewrote the state word and reopened the semaphore.
    let sem = Semaphore::new(3);
    sem.close();
    assert_eq!(sem.forget_permits(2), 2);
    assert!(sem.is_closed());
    assert_eq!(sem.available_permits(), 1);
    assert_eq!(
        sem.forget_permits(5),
        1,
        "only what is free can be forgotten"
    );
    assert_eq!(sem.forget_permits(1), 0);
    assert!(sem.is_closed());
    assert_eq!(
        sem.try_acquire_many(0).unwrap_err(),
        TryAcquireError::Closed
    );
    let err = expect_ready(poll_noop(pin!(sem.acquire())), "closed").unwrap_err();
    assert!(err.is_closed());
}

// ---------------------------------------------------------------------------------------
// Faulty wakers and priorities
// ---------------------------------------------------------------------------------------

#[test]
fn a_panicking_waker_fails_the_release_but_every_grant_is_woken_and_counts_stay_exact() {
    let sem = Semaphore::new(0);
    let mut bad = pin!(sem.acquire());
    let mut b = pin!(sem.acquire());
    let mut c = pin!(sem.acquire());
    assert!(poll_with(bad.as_mut(), &PanickingWaker::waker()).is_pending());
    let (b_flag, b_waker) = FlagWaker::new();
    let (c_flag, c_waker) = FlagWaker::new();
    assert!(poll_with(b.as_mut(), &b_waker).is_pending());
    assert!(poll_with(c.as_mut(), &c_waker).is_pending());

    // All three are granted in one batch; the first waker panics.
    let msg = expect_panic(|| sem.add_permits(3));
    assert_eq!(msg, WAKER_PANIC);
    assert_eq!(b_flag.wakes(), 1, "the rest of the batch is still woken");
    assert_eq!(c_flag.wakes(), 1, "the rest of the batch is still woken");
    assert_eq!(sem.waiter_count(), 0);

    let permits: Vec<_> = [bad.as_mut(), b.as_mut(), c.as_mut()]
        .into_iter()
        .map(|fut| expect_ready(poll_noop(fut), "granted").unwrap())
        .collect();
    assert_eq!(sem.available_permits(), 0);
    drop(permits);
    assert_exact(&sem, 3);
}

#[test]
fn a_panicking_waker_fails_the_permit_drop_that_woke_it_but_the_permit_moves_on() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let mut bad = pin!(sem.acquire());
    assert!(poll_with(bad.as_mut(), &PanickingWaker::waker()).is_pending());

    assert_eq!(expect_panic(move || drop(held)), WAKER_PANIC);
    // The permit was handed over before the wake-up panicked.
    let permit = expect_ready(poll_noop(bad.as_mut()), "granted").unwrap();
    assert!(sem.try_acquire().is_err());
    drop(permit);
    assert_exact(&sem, 1);

    // And the semaphore keeps working, waiting included.
    let held = sem.try_acquire().unwrap();
    let (flag, waker) = FlagWaker::new();
    let mut next = pin!(sem.acquire());
    assert!(poll_with(next.as_mut(), &waker).is_pending());
    drop(held);
    assert!(flag.woken());
    drop(expect_ready(poll_noop(next.as_mut()), "next").unwrap());
    assert_exact(&sem, 1);
}

#[test]
fn a_panicking_waker_does_not_strand_waiters_beyond_its_wake_batch() {
    const N: usize = 40; // more than one wake batch
    let sem = Semaphore::new(0);
    let mut bad = Box::pin(sem.acquire());
    assert!(poll_with(bad.as_mut(), &PanickingWaker::waker()).is_pending());
    let mut rest: Vec<_> = (0..N - 1).map(|_| Box::pin(sem.acquire())).collect();
    let flags: Vec<_> = rest
        .iter_mut()
        .map(|fut| {
            let (flag, waker) = FlagWaker::new();
            assert!(poll_with(fut.as_mut(), &waker).is_pending());
            flag
        })
        .collect();

    assert_eq!(expect_panic(|| sem.add_permits(N)), WAKER_PANIC);
    let asleep = flags.iter().filter(|f| !f.woken()).count();
    assert_eq!(
        asleep, 0,
        "every waiter had a permit to take, so every one is woken"
    );
    assert_eq!(sem.waiter_count(), 0);
    let mut permits = vec![expect_ready(poll_noop(bad.as_mut()), "bad").unwrap()];
    for fut in &mut rest {
        permits.push(expect_ready(poll_noop(fut.as_mut()), "granted").unwrap());
    }
    drop(permits);
    assert_exact(&sem, N);
}

#[test]
fn a_panicking_waker_of_a_request_granted_as_it_queues_leaves_it_cancellable() {
    // The new request outranks a collecting one, takes its permit while queueing, and its
    // own (panicking) waker is woken by that same poll. The poll panics; the request is
    // granted, and both polling it again and dropping it must account for the permit.
    for poll_again in [true, false] {
        let sem = Semaphore::new(1);
        let mut big = pin!(sem.acquire_many(2).priority(5));
        let (big_flag, big_waker) = FlagWaker::new();
        assert!(poll_with(big.as_mut(), &big_waker).is_pending());
        assert_eq!(sem.available_permits(), 0, "big collects the free permit");
        {
            let mut urgent = pin!(sem.acquire().priority(0));
            let msg = expect_panic(|| poll_with(urgent.as_mut(), &PanickingWaker::waker()));
            assert_eq!(msg, WAKER_PANIC);
            assert_eq!(sem.waiter_count(), 1, "urgent was granted, big still waits");
            if poll_again {
                let permit = expect_ready(poll_noop(urgent.as_mut()), "granted").unwrap();
                assert_eq!(permit.num_permits(), 1);
                drop(permit);
            }
            // Otherwise dropped granted-but-unpolled: its permit must still move on.
        }
        assert!(
            !big_flag.woken(),
            "big has 1 of 2 permits again, not yet served"
        );
        sem.add_permits(1);
        assert_eq!(big_flag.wakes(), 1);
        let permit = expect_ready(poll_noop(big.as_mut()), "big").unwrap();
        assert_eq!(permit.num_permits(), 2);
        drop(permit);
        assert_exact(&sem, 2);
    }
}

#[test]
fn a_panicking_waker_during_close_still_closes_every_waiter() {
    let sem = Semaphore::new(0);
    let mut bad = pin!(sem.acquire());
    let mut other = pin!(sem.acquire_many(2));
    assert!(poll_with(bad.as_mut(), &PanickingWaker::waker()).is_pending());
    let (flag, waker) = FlagWaker::new();
    assert!(poll_with(other.as_mut(), &waker).is_pending());

    assert_eq!(expect_panic(|| sem.close()), WAKER_PANIC);
    assert!(sem.is_closed());
    assert!(flag.woken());
    assert_eq!(sem.waiter_count(), 0);
    assert!(expect_ready(poll_noop(bad.as_mut()), "bad")
        .unwrap_err()
        .is_closed());
    assert!(expect_ready(poll_noop(other.as_mut()), "other")
        .unwrap_err()
        .is_closed());
    assert_eq!(sem.available_permits(), 0);
}

#[test]
fn a_panicking_waker_during_close_does_not_strand_waiters_beyond_its_wake_batch() {
    const N: usize = 40; // more than one wake batch
    let sem = Semaphore::new(0);
    let mut bad = Box::pin(sem.acquire());
    assert!(poll_with(bad.as_mut(), &PanickingWaker::waker()).is_pending());
    let mut rest: Vec<_> = (0..N - 1).map(|_| Box::pin(sem.acquire())).collect();
    let flags: Vec<_> = rest
        .iter_mut()
        .map(|fut| {
            let (flag, waker) = FlagWaker::new();
            assert!(poll_with(fut.as_mut(), &waker).is_pending());
            flag
        })
        .collect();

    assert_eq!(expect_panic(|| sem.close()), WAKER_PANIC);
    assert!(sem.is_closed());
    let asleep = flags.iter().filter(|f| !f.woken()).count();
    assert_eq!(
        asleep, 0,
        "close() fails every waiter, so every one is woken"
    );
    assert_eq!(sem.waiter_count(), 0);
    for fut in &mut rest {
        assert!(expect_ready(poll_noop(fut.as_mut()), "closed")
            .unwrap_err()
            .is_closed());
    }
}

/// A waker that owns a permit: dropping its last clone gives the permit back, which
/// re-enters the semaphore. tokio#5429: a waker dropped under the lock deadlocked.
struct PermitWaker {
    _permit: Permit<'static>,
}

impl PermitWaker {
    fn waker(permit: Permit<'static>) -> Waker {
        Waker::from(Arc::new(PermitWaker { _permit: permit }))
    }
}

impl Wake for PermitWaker {
    fn wake(self: Arc<Self>) {}
}

#[test]
fn a_waker_whose_drop_releases_a_permit_is_replaced_outside_the_lock() {
    static SEM: Semaphore = Semaphore::new(2);
    let waker = PermitWaker::waker(SEM.try_acquire().unwrap());
    let mut big = pin!(SEM.acquire_many(2));
    assert!(poll_with(big.as_mut(), &waker).is_pending());
    drop(waker); // the queued request now holds the only clone
                 // Re-polled with another waker: the old one is dropped (outside the lock), its
                 // permit comes back, and completes this very request.
    let permit = expect_ready(poll_noop(big.as_mut()), "big").unwrap();
    assert_eq!(permit.num_permits(), 2);
    drop(permit);
    assert_exact(&SEM, 2);
}

#[test]
fn a_waker_whose_drop_releases_a_permit_is_dropped_outside_the_lock_on_cancel() {
    static SEM: Semaphore = Semaphore::new(2);
    {
        let waker = PermitWaker::waker(SEM.try_acquire().unwrap());
        let mut big = pin!(SEM.acquire_many(2));
        assert!(poll_with(big.as_mut(), &waker).is_pending());
        drop(waker);
    }
    assert_exact(&SEM, 2);
}

#[test]
fn a_waker_whose_drop_releases_a_permit_is_woken_outside_the_lock_on_grant_and_close() {
    static SEM: Semaphore = Semaphore::new(2);
    let held = SEM.try_acquire().unwrap();
    let waker = PermitWaker::waker(SEM.try_acquire().unwrap());
    let mut waiting = pin!(SEM.acquire());
    assert!(poll_with(waiting.as_mut(), &waker).is_pending());
    drop(waker);
    // Granted: the waker is woken and dropped, giving its permit back.
    drop(held);
    assert_eq!(SEM.available_permits(), 1);
    drop(expect_ready(poll_noop(waiting.as_mut()), "granted").unwrap());
    assert_exact(&SEM, 2);

    static CLOSING: Semaphore = Semaphore::new(1);
    let waker = PermitWaker::waker(CLOSING.try_acquire().unwrap());
    let mut waiting = pin!(CLOSING.acquire());
    assert!(poll_with(waiting.as_mut(), &waker).is_pending());
    drop(waker);
    CLOSING.close();
    assert_eq!(CLOSING.available_permits(), 1);
    assert!(expect_ready(poll_noop(waiting.as_mut()), "closed").is_err());
}

/// A priority whose comparison panics whenever [`Touchy::POISON`] is involved.
#[derive(Debug, Default, Clone, Copy)]
struct Touchy(i32);

impl Touchy {
    const POISON: i32 = 13;
}

impl Ord for Touchy {
    fn cmp(&self, other: &Self) -> Ordering {
        assert!(
            self.0 != Self::POISON && other.0 != Self::POISON,
            "unlucky priority"
        );
        self.0.cmp(&other.0)
    }
}

impl PartialOrd for Touchy {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Touchy {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Touchy {}

#[test]
fn a_panicking_ord_fails_that_acquire_and_leaves_the_semaphore_usable_and_exact() {
    let sem: Semaphore<Touchy> = Semaphore::new_generic(1);
    let held = sem.try_acquire().unwrap();
    let mut two = pin!(sem.acquire().priority(Touchy(2)));
    let mut one = pin!(sem.acquire().priority(Touchy(1)));
    let (two_flag, two_waker) = FlagWaker::new();
    let (one_flag, one_waker) = FlagWaker::new();
    assert!(poll_with(two.as_mut(), &two_waker).is_pending());
    assert!(poll_with(one.as_mut(), &one_waker).is_pending());

    {
        let mut unlucky = pin!(sem.acquire().priority(Touchy(Touchy::POISON)));
        let msg = expect_panic(|| poll_noop(unlucky.as_mut()));
        assert_eq!(msg, "unlucky priority");
        assert_eq!(sem.waiter_count(), 2, "the panicking request never queued");
        // Dropping the failed future is harmless.
    }
    assert_eq!(sem.waiter_count(), 2);

    // The queue is intact and still in priority order.
    drop(held);
    assert!(one_flag.woken() && !two_flag.woken());
    let p1 = expect_ready(poll_noop(one.as_mut()), "priority 1").unwrap();
    drop(p1);
    assert!(two_flag.woken());
    let p2 = expect_ready(poll_noop(two.as_mut()), "priority 2").unwrap();
    drop(p2);
    assert_exact(&sem, 1);
}

#[test]
fn a_panicking_ord_does_not_take_free_permits_or_block_the_fast_path() {
    // On an uncontended semaphore no comparison happens at all.
    let sem: Semaphore<Touchy> = Semaphore::new_generic(1);
    let p = expect_ready(
        poll_noop(pin!(sem.acquire().priority(Touchy(Touchy::POISON)))),
        "fast path",
    )
    .unwrap();
    drop(p);

    // Queued behind a poisoned first waiter, a new one panics; counts stay exact.
    let held = sem.try_acquire().unwrap();
    let mut poisoned = pin!(sem.acquire().priority(Touchy(Touchy::POISON)));
    assert!(
        poll_noop(poisoned.as_mut()).is_pending(),
        "alone: no comparison"
    );
    let msg = expect_panic(|| poll_noop(pin!(sem.acquire().priority(Touchy(0)))));
    assert_eq!(msg, "unlucky priority");
    assert_eq!(sem.waiter_count(), 1);
    drop(held);
    drop(expect_ready(poll_noop(poisoned.as_mut()), "poisoned").unwrap());
    assert_exact(&sem, 1);
}

// ---------------------------------------------------------------------------------------
// Misuse of futures and permits
// ---------------------------------------------------------------------------------------

#[test]
fn polling_an_acquire_after_it_completed_panics() {
    const MSG: &str = "`Acquire` polled after it completed";
    let sem = Semaphore::new(1);

    // After success (fast path)...
    let mut fut = pin!(sem.acquire());
    let permit = expect_ready(poll_noop(fut.as_mut()), "first poll").unwrap();
    assert_eq!(expect_panic(|| poll_noop(fut.as_mut())), MSG);
    assert_eq!(permit.num_permits(), 1, "the permit is unaffected");

    // ...after success through the queue...
    let mut queued = pin!(sem.acquire());
    assert!(poll_noop(queued.as_mut()).is_pending());
    drop(permit);
    let permit = expect_ready(poll_noop(queued.as_mut()), "granted").unwrap();
    assert_eq!(expect_panic(|| poll_noop(queued.as_mut())), MSG);
    drop(permit);
    assert_exact(&sem, 1);

    // ...after a too-many-permits error...
    let mut huge = pin!(sem.acquire_many(u32::MAX));
    assert!(expect_ready(poll_noop(huge.as_mut()), "huge").is_err());
    assert_eq!(expect_panic(|| poll_noop(huge.as_mut())), MSG);

    // ...and after a closed error.
    sem.close();
    let mut closed = pin!(sem.acquire());
    assert!(expect_ready(poll_noop(closed.as_mut()), "closed").is_err());
    assert_eq!(expect_panic(|| poll_noop(closed.as_mut())), MSG);
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn a_permit_dropped_on_another_thread_is_returned_and_wakes_the_waiter() {
    static SEM: Semaphore = Semaphore::new(2);
    let held = SEM.try_acquire_many(2).unwrap();
    let (flag, waker) = FlagWaker::new();
    let mut waiting = pin!(SEM.acquire_many(2));
    assert!(poll_with(waiting.as_mut(), &waker).is_pending());

    std::thread::spawn(move || drop(held)).join().unwrap();
    assert!(flag.woken(), "the releasing thread woke the waiter");
    let permit = expect_ready(poll_noop(waiting.as_mut()), "granted").unwrap();
    assert_eq!(permit.num_permits(), 2);

    // And a permit taken here, given back there, with nobody waiting.
    std::thread::spawn(move || drop(permit)).join().unwrap();
    assert_exact(&SEM, 2);
}
