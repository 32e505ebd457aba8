//! Wakers that misbehave: ones whose `clone`, `wake` or `drop` use the same semaphore, poll
//! or drop the request they belong to, or panic. None of that user code runs under the
//! semaphore's lock, so none of it can deadlock, lose a permit or strand a waiter.

use std::cmp::Ordering;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use crate::common::hook_waker::{hook_waker, Hooks};
use crate::common::{assert_exact, expect_panic, expect_ready, poll_noop, poll_with, FlagWaker};
use prio_semaphore::{AcquireOwned, OwnedPermit, Semaphore};

/// Runs `f` on a thread of its own and fails the test if it has not finished within a
/// minute: a deadlock then fails the test instead of hanging the suite.
fn without_deadlock(what: &str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(()) => worker.join().unwrap(),
        // Finished by panicking: surface the panic.
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(worker.join().unwrap_err())
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("deadlocked: {what}"),
    }
}

/// A waker whose `clone` reads the waiter count: the re-poll that stores it must clone it
/// outside the lock, or it spins forever.
#[test]
fn a_waker_whose_clone_uses_the_semaphore_is_cloned_outside_the_lock() {
    without_deadlock("waker cloned under the lock", || {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.try_acquire().unwrap();
        let mut request = Box::pin(sem.acquire());
        let (first, first_waker) = FlagWaker::new();
        assert!(poll_with(request.as_mut(), &first_waker).is_pending());
        let observed = Arc::new(AtomicUsize::new(0));
        let (hooks, waker) = hook_waker(Hooks::new().on_clone({
            let (sem, observed) = (sem.clone(), observed.clone());
            move || observed.store(sem.waiter_count(), AtomicOrdering::SeqCst)
        }));
        // Re-polled by another task: its waker replaces the first one.
        assert!(poll_with(request.as_mut(), &waker).is_pending());
        assert_eq!(hooks.clones(), 1);
        assert_eq!(observed.load(AtomicOrdering::SeqCst), 1);
        drop(held);
        assert!(!first.woken(), "the replaced waker is not woken");
        assert_eq!(hooks.wakes(), 1, "the stored clone is woken");
        drop(expect_ready(poll_noop(request.as_mut()), "granted").unwrap());
        drop(request);
        assert_exact(&sem, 1);
    });
}

/// A priority whose comparison panics when either side is [`Touchy::POISON`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Touchy(i32);

impl Touchy {
    const POISON: i32 = 13;
}

impl PartialOrd for Touchy {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Touchy {
    fn cmp(&self, other: &Self) -> Ordering {
        assert!(self.0 != Self::POISON && other.0 != Self::POISON, "unlucky");
        self.0.cmp(&other.0)
    }
}

/// A request whose `Ord` panics while it queues: its waker clone must not be dropped
/// during the unwinding under the lock, or a waker whose `drop` uses the semaphore spins
/// forever.
#[test]
fn a_waker_whose_drop_uses_the_semaphore_is_dropped_outside_the_lock_when_ord_panics() {
    without_deadlock("waker dropped under the lock", || {
        let sem: Arc<Semaphore<Touchy>> = Arc::new(Semaphore::new_generic(1));
        let held = sem.try_acquire().unwrap();
        let mut first = Box::pin(sem.acquire().priority(Touchy(1)));
        assert!(poll_noop(first.as_mut()).is_pending());
        let (hooks, waker) = hook_waker(Hooks::new().on_drop({
            let sem = sem.clone();
            move || assert_eq!(sem.waiter_count(), 1)
        }));
        let mut unlucky = Box::pin(sem.acquire().priority(Touchy(Touchy::POISON)));
        let message = expect_panic(|| poll_with(unlucky.as_mut(), &waker));
        assert_eq!(message, "unlucky");
        assert_eq!(hooks.clones(), 1);
        assert_eq!(hooks.drops(), 1, "the clone made for the queue was dropped");
        drop((unlucky, waker));
        drop(held);
        drop(expect_ready(poll_noop(first.as_mut()), "first").unwrap());
        drop(first);
        assert_exact(&sem, 1);
    });
}

/// A waker whose `drop` panics, replaced on a re-poll: the poll reports the panic, and the
/// request stays queued with the new waker and is served.
#[test]
fn a_waker_whose_drop_panics_when_replaced_leaves_the_request_queued() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let mut request = Box::pin(sem.acquire());
    let (_, touchy) = hook_waker(Hooks::new().on_drop(|| panic!("drop panics")));
    assert!(poll_with(request.as_mut(), &touchy).is_pending());
    drop(std::panic::catch_unwind(std::panic::AssertUnwindSafe(
        || drop(touchy),
    )));
    let (flag, waker) = FlagWaker::new();
    let message = expect_panic(|| poll_with(request.as_mut(), &waker));
    assert_eq!(message, "drop panics");
    assert_eq!(sem.waiter_count(), 1);
    drop(held);
    assert!(
        flag.woken(),
        "the new waker was stored before the old one was dropped"
    );
    drop(expect_ready(poll_noop(request.as_mut()), "granted").unwrap());
    drop(request);
    assert_exact(&sem, 1);
}

/// A waker whose `wake` takes and returns permits, and queues and cancels a request of
/// its own: it runs after the lock is released, so all of that just works.
#[test]
fn a_waker_whose_wake_uses_the_semaphore_sees_a_consistent_state() {
    without_deadlock("wake under the lock", || {
        let sem = Arc::new(Semaphore::new(2));
        let held = sem.try_acquire_many(2).unwrap();
        let (hooks, waker) = hook_waker(Hooks::new().on_wake({
            let sem = sem.clone();
            move || {
                // One permit is this waiter's now, one is still held by the test.
                assert_eq!(sem.available_permits(), 0);
                assert!(
                    sem.try_acquire().is_err(),
                    "no barging past the second waiter"
                );
                let mut own = Box::pin(sem.acquire().priority(-1));
                assert!(poll_noop(own.as_mut()).is_pending());
                assert_eq!(sem.waiter_count(), 2);
                drop(own);
                assert_eq!(sem.waiter_count(), 1);
            }
        }));
        let mut first = Box::pin(sem.acquire());
        let mut second = Box::pin(sem.acquire());
        assert!(poll_with(first.as_mut(), &waker).is_pending());
        assert!(poll_noop(second.as_mut()).is_pending());
        let mut held = held;
        drop(held.split(1));
        assert_eq!(hooks.wakes(), 1);
        drop(expect_ready(poll_noop(first.as_mut()), "first").unwrap());
        drop(held);
        drop(expect_ready(poll_noop(second.as_mut()), "second").unwrap());
        drop((first, second));
        assert_exact(&sem, 2);
    });
}

/// An executor that polls a task inline from its waker: every waiter's `wake` polls its
/// own request right away, takes the permit and releases it, which wakes the next one, all
/// from inside the first release.
#[test]
fn wakers_that_poll_their_request_inline_serve_the_whole_line() {
    type Slot = Arc<Mutex<Option<Pin<Box<AcquireOwned>>>>>;
    without_deadlock("inline polling", || {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.clone().try_acquire_owned().unwrap();
        let served = Arc::new(Mutex::new(Vec::new()));
        let mut slots: Vec<Slot> = Vec::new();
        for priority in [3_i64, 1, 2, 0] {
            let slot: Slot = Arc::new(Mutex::new(None));
            let (_, waker) = hook_waker(Hooks::new().on_wake({
                let (slot, served) = (slot.clone(), served.clone());
                move || {
                    let mut request = slot.lock().unwrap().take().expect("woken once");
                    let (_, noop) = hook_waker(Hooks::new());
                    match request.as_mut().poll(&mut Context::from_waker(&noop)) {
                        Poll::Ready(permit) => {
                            let permit: OwnedPermit = permit.unwrap();
                            served.lock().unwrap().push(priority);
                            drop(permit); // wakes the next waiter, inline again
                        }
                        Poll::Pending => panic!("woken but not granted"),
                    }
                }
            }));
            let mut request = Box::pin(sem.clone().acquire_owned().priority(priority));
            assert!(poll_with(request.as_mut(), &waker).is_pending());
            *slot.lock().unwrap() = Some(request);
            slots.push(slot);
        }
        drop(held);
        assert_eq!(*served.lock().unwrap(), [0, 1, 2, 3]);
        assert!(slots.iter().all(|slot| slot.lock().unwrap().is_none()));
        assert_exact(&sem, 1);
    });
}

/// A waker whose `drop` releases a permit to the same semaphore, dropped when its request
/// is granted, cancelled and replaced: every path drops it after the lock.
#[test]
fn a_waker_whose_drop_releases_permits_never_runs_under_the_lock() {
    without_deadlock("waker dropped under the lock", || {
        let sem = Arc::new(Semaphore::new(3));
        let spare = Arc::new(Mutex::new(Some(
            sem.clone().try_acquire_many_owned(2).unwrap(),
        )));
        let held = sem.clone().try_acquire_owned().unwrap();
        let give_back = || {
            let spare = spare.clone();
            Hooks::new().on_drop(move || {
                let taken = spare.lock().unwrap().take();
                // Each drop gives back one of the spare permits, while there are any.
                if let Some(mut permits) = taken {
                    if let Some(one) = permits.split(1) {
                        *spare.lock().unwrap() = Some(permits);
                        drop(one);
                    }
                }
            })
        };
        // Replaced on a re-poll, then cancelled.
        let mut request = Box::pin(sem.acquire_many(3));
        let (_, first) = hook_waker(give_back());
        assert!(poll_with(request.as_mut(), &first).is_pending());
        drop(first);
        let (_, second) = hook_waker(give_back());
        assert!(poll_with(request.as_mut(), &second).is_pending());
        drop(second);
        assert_eq!(sem.waiter_count(), 1);
        drop(request);
        assert_eq!(sem.waiter_count(), 0);
        drop(held);
        drop(spare.lock().unwrap().take());
        assert_exact(&sem, 3);
    });
}

/// More waiters than one wake batch, and the first one's waker releases a held permit
/// while `close` is still failing the rest: the line is closed but still non-empty then,
/// and the permit must go back to the permit word, counted exactly.
#[test]
fn a_waker_that_releases_permits_while_close_fails_the_line_keeps_counts_exact() {
    without_deadlock("release during close", || {
        let sem = Arc::new(Semaphore::new(3));
        let held = Arc::new(Mutex::new(Some(
            sem.clone().try_acquire_many_owned(3).unwrap(),
        )));
        let (hooks, releasing) = hook_waker(Hooks::new().on_wake({
            let (sem, held) = (sem.clone(), held.clone());
            move || {
                assert!(sem.is_closed());
                let taken = held.lock().unwrap().take();
                drop(taken); // three permits back, with waiters still in the line
            }
        }));
        let mut first = Box::pin(sem.acquire());
        assert!(poll_with(first.as_mut(), &releasing).is_pending());
        // Enough waiters behind it that `close` needs more than one batch.
        let mut rest: Vec<_> = (0..40).map(|_| Box::pin(sem.acquire())).collect();
        for request in &mut rest {
            assert!(poll_noop(request.as_mut()).is_pending());
        }
        sem.close();
        assert_eq!(hooks.wakes(), 1);
        assert!(held.lock().unwrap().is_none());
        assert!(expect_ready(poll_noop(first.as_mut()), "closed").is_err());
        for request in &mut rest {
            assert!(expect_ready(poll_noop(request.as_mut()), "closed").is_err());
        }
        assert_eq!(sem.waiter_count(), 0);
        assert_eq!(sem.available_permits(), 3);
    });
}
