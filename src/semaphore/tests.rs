//! Unit tests that need the crate's internals (the `total` permit count).

use std::pin::pin;
use std::task::{Context, Poll, Waker};

use super::*;

fn poll<F: core::future::Future>(fut: core::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn total_tracks_add_forget_and_permit_forget() {
    let sem = Semaphore::new(3);
    assert_eq!(sem.raw.total_permits(), 3);
    sem.add_permits(2);
    assert_eq!(sem.raw.total_permits(), 5);
    assert_eq!(sem.forget_permits(1), 1);
    let held = sem.try_acquire_many(2).unwrap();
    held.forget();
    assert_eq!(sem.raw.total_permits(), 2);
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn add_permits_overflow_panics_before_changing_anything() {
    let sem = Semaphore::new(MAX_PERMITS - 1);
    let held = sem.try_acquire_many(5).unwrap();
    let caught = std::panic::catch_unwind(|| sem.add_permits(2));
    let msg = *caught.unwrap_err().downcast::<String>().unwrap();
    assert!(msg.contains("exceed MAX_PERMITS"), "{msg}");
    assert_eq!(sem.raw.total_permits(), MAX_PERMITS - 1);
    assert_eq!(sem.available_permits(), MAX_PERMITS - 6);
    drop(held);
    sem.add_permits(1);
    assert_eq!(sem.available_permits(), MAX_PERMITS);
}

#[test]
fn partial_grant_is_counted_in_total_and_returned_on_cancel() {
    let sem = Semaphore::new(2);
    {
        let mut big = pin!(sem.acquire_many(5));
        assert!(poll(big.as_mut()).is_pending());
        // The two free permits are now being collected by `big`.
        assert_eq!(sem.available_permits(), 0);
        assert_eq!(sem.raw.total_permits(), 2);
    }
    assert_eq!(sem.available_permits(), 2);
    assert_eq!(sem.waiter_count(), 0);
    assert!(sem.try_acquire_many(2).is_ok());
}

#[test]
fn zero_permit_requests_complete_at_once_even_behind_waiters() {
    let sem = Semaphore::new(0);
    let mut queued = pin!(sem.acquire());
    assert!(poll(queued.as_mut()).is_pending());
    let mut zero = pin!(sem.acquire_many(0));
    match poll(zero.as_mut()) {
        Poll::Ready(Ok(permit)) => assert_eq!(permit.num_permits(), 0),
        other => panic!("expected an empty permit at once, got {other:?}"),
    }
    assert_eq!(sem.try_acquire_many(0).unwrap().num_permits(), 0);
    assert_eq!(sem.waiter_count(), 1, "only the real waiter is queued");
    sem.close();
    assert!(sem.try_acquire_many(0).is_err());
    assert!(matches!(
        poll(pin!(sem.acquire_many(0))),
        Poll::Ready(Err(_))
    ));
}
