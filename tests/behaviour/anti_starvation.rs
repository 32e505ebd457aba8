//! The opt-in overtake limit, through the public API: a low-priority waiter gets through
//! while higher-priority work keeps arriving, within the documented bound.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use prio_semaphore::{Acquire, Permit, Semaphore};

/// Polls once with a no-op waker; `Some(permit)` if it completed.
fn poll_once<'a>(fut: &mut Pin<Box<Acquire<'a>>>) -> Option<Permit<'a>> {
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => Some(result.expect("semaphore is open")),
        Poll::Pending => None,
    }
}

/// One permit; a batch waiter (priority 10) queues, then realtime requests (priority 0)
/// keep arriving, one before each release. Returns how many realtime requests were
/// served before the batch waiter, or `None` if it was still waiting after 1,000.
fn realtime_served_before_batch(sem: &Semaphore) -> Option<usize> {
    let mut held = sem.try_acquire().unwrap();
    let mut batch = Box::pin(sem.acquire().priority(10));
    assert!(poll_once(&mut batch).is_none(), "no permit is free yet");
    for realtime_served in 0..1_000 {
        let mut realtime = Box::pin(sem.acquire().priority(0));
        assert!(poll_once(&mut realtime).is_none());
        drop(held); // hands the permit to whoever is first in line
        if poll_once(&mut batch).is_some() {
            // The batch waiter got it; the realtime request leaves the line when dropped.
            return Some(realtime_served);
        }
        held = poll_once(&mut realtime).expect("the permit went to neither waiter");
    }
    None
}

#[test]
fn strict_priority_starves_the_batch_waiter() {
    let sem = Semaphore::new(1);
    assert_eq!(realtime_served_before_batch(&sem), None);
    assert_eq!(sem.available_permits(), 1, "every permit is back");
}

#[test]
fn overtake_limit_lets_the_batch_waiter_through_within_the_bound() {
    for limit in [0, 1, 4, 16] {
        let sem = Semaphore::new(1).with_overtake_limit(limit);
        assert_eq!(
            realtime_served_before_batch(&sem),
            Some(limit),
            "limit {limit}"
        );
        assert_eq!(sem.available_permits(), 1, "every permit is back");
        assert_eq!(sem.waiter_count(), 0);
    }
}

#[test]
fn equal_priorities_stay_fifo_under_a_limit() {
    let sem = Semaphore::new(0).with_overtake_limit(2);
    let mut waiters: Vec<_> = (0..6)
        .map(|_| Box::pin(sem.acquire().priority(3)))
        .collect();
    for w in &mut waiters {
        assert!(poll_once(w).is_none());
    }
    let mut held = Vec::new();
    for i in 0..waiters.len() {
        sem.add_permits(1);
        held.push(poll_once(&mut waiters[i]).expect("the oldest waiter is served"));
        for w in &mut waiters[i + 1..] {
            assert!(poll_once(w).is_none(), "later arrivals keep waiting");
        }
    }
}

#[test]
fn limits_beyond_the_32_bit_grant_clock_are_lowered_and_usize_max_turns_it_off() {
    let max = u32::MAX as usize - 1;
    assert_eq!(Semaphore::new(1).overtake_limit(), None);
    assert_eq!(
        Semaphore::new(1)
            .with_overtake_limit(usize::MAX)
            .overtake_limit(),
        None
    );
    assert_eq!(
        Semaphore::new(1).with_overtake_limit(max).overtake_limit(),
        Some(max)
    );
    // On 64-bit targets larger limits exist; they are lowered to the clock's range.
    assert_eq!(
        Semaphore::new(1)
            .with_overtake_limit(usize::MAX - 1)
            .overtake_limit(),
        Some(max)
    );
}
