//! `PollSemaphore`: acquire by polling, with a priority, at most one allocation per handle.
//!
//! Everything is polled by hand with recording wakers, so each step is deterministic. This
//! binary installs a per-thread counting allocator to check the allocation bound.

use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::common::counting_alloc::allocations;
use crate::common::{assert_exact, FlagWaker};
use futures::StreamExt;
use prio_semaphore::{OwnedPermit, PollSemaphore, Semaphore};

fn ready<P, L: prio_semaphore::RawLock>(
    poll: Poll<Option<OwnedPermit<P, L>>>,
    what: &str,
) -> OwnedPermit<P, L> {
    match poll {
        Poll::Ready(Some(permit)) => permit,
        Poll::Ready(None) => panic!("{what}: closed"),
        Poll::Pending => panic!("{what}: still pending"),
    }
}

#[test]
fn an_uncontended_acquire_allocates_nothing() {
    let sem = Arc::new(Semaphore::new(1));
    let mut handle = PollSemaphore::new(sem.clone()).priority(3);
    let mut cx = Context::from_waker(Waker::noop());
    let before = allocations();
    for _ in 0..1_000 {
        drop(ready(handle.poll_acquire(&mut cx), "uncontended"));
    }
    assert_eq!(allocations() - before, 0);
    assert_exact(&sem, 1);
}

/// 1,000 contended acquires (50 under miri), each queued and then handed a permit: one
/// allocation per handle in all (its request slot), not one per acquire.
#[test]
fn contended_acquires_reuse_one_allocation() {
    let rounds = if cfg!(miri) { 50 } else { 1_000 };
    let sem = Arc::new(Semaphore::new(1));
    let mut holder = PollSemaphore::new(sem.clone());
    let mut waiter = PollSemaphore::new(sem.clone()).priority(5);
    let (flag, waker) = FlagWaker::new();
    let mut cx = Context::from_waker(&waker);
    let mut held = ready(holder.poll_acquire(&mut cx), "first");

    let before = allocations();
    for round in 0..rounds {
        assert!(waiter.poll_acquire(&mut cx).is_pending(), "round {round}");
        assert_eq!(sem.waiter_count(), 1);
        let wakes = flag.wakes();
        drop(held); // handed over to the queued request
        assert_eq!(flag.wakes(), wakes + 1);
        held = ready(waiter.poll_acquire(&mut cx), "granted");
        std::mem::swap(&mut holder, &mut waiter); // alternate roles: both handles wait
    }
    assert_eq!(
        allocations() - before,
        2,
        "one slot per handle, none per acquire"
    );
    drop(held);
    assert_exact(&sem, 1);
}

#[test]
fn handles_are_served_by_priority_then_arrival() {
    let sem = Arc::new(Semaphore::new(0));
    let mut cx = Context::from_waker(Waker::noop());
    let mut handles: Vec<(&str, PollSemaphore)> = [("a", 5), ("b", 1), ("c", 5), ("d", 0)]
        .into_iter()
        .map(|(name, p)| (name, PollSemaphore::new(sem.clone()).priority(p)))
        .collect();
    for (_, handle) in &mut handles {
        assert!(handle.poll_acquire(&mut cx).is_pending());
    }
    let mut served = Vec::new();
    for _ in 0..handles.len() {
        sem.add_permits(1);
        for (name, handle) in &mut handles {
            if let Poll::Ready(Some(permit)) = handle.poll_acquire(&mut cx) {
                served.push(*name);
                permit.forget(); // the next `add_permits` serves exactly one
                                 // A ready handle would start a new request on its next poll: stop polling it.
                *name = "";
                break;
            }
        }
        handles.retain(|(name, _)| !name.is_empty());
    }
    assert_eq!(served, ["d", "b", "a", "c"]);
}

#[test]
fn per_call_priority_overrides_the_handles() {
    let sem = Arc::new(Semaphore::new(0));
    let mut cx = Context::from_waker(Waker::noop());
    let mut realtime_handle = PollSemaphore::new(sem.clone()).priority(0);
    let mut other = PollSemaphore::new(sem.clone()).priority(0);
    assert!(realtime_handle.poll_acquire(&mut cx).is_pending());
    assert!(other
        .poll_acquire_many_with_priority(&mut cx, 1, -1)
        .is_pending());
    sem.add_permits(1);
    assert!(realtime_handle.poll_acquire(&mut cx).is_pending());
    drop(ready(
        other.poll_acquire_many_with_priority(&mut cx, 1, -1),
        "more urgent",
    ));
    drop(ready(
        realtime_handle.poll_acquire(&mut cx),
        "then the handle",
    ));
}

/// Changing the request (priority or count) while queued replaces it: it moves to its new
/// place in line, and nothing is lost on the way.
#[test]
fn a_changed_request_moves_in_line() {
    let sem = Arc::new(Semaphore::new(0));
    let mut cx = Context::from_waker(Waker::noop());
    let mut mover = PollSemaphore::new(sem.clone()).priority(9);
    let mut middle = PollSemaphore::new(sem.clone()).priority(5);
    assert!(mover.poll_acquire(&mut cx).is_pending());
    assert!(middle.poll_acquire(&mut cx).is_pending());
    mover.set_priority(1);
    assert!(mover.poll_acquire(&mut cx).is_pending());
    assert_eq!(sem.waiter_count(), 2);
    sem.add_permits(1);
    assert!(middle.poll_acquire(&mut cx).is_pending());
    let first = ready(mover.poll_acquire(&mut cx), "moved ahead");

    // A request for 2 that collected one permit, replaced by a request for 1: the collected
    // permit goes back and on to the next waiter, then the new request queues behind it.
    assert!(mover.poll_acquire_many(&mut cx, 2).is_pending());
    drop(first); // `mover` (1) is at the front: it collects this permit, `middle` waits
    assert!(middle.poll_acquire(&mut cx).is_pending());
    assert_eq!(sem.available_permits(), 0);
    assert!(mover.poll_acquire_many(&mut cx, 1).is_pending());
    let second = ready(
        middle.poll_acquire(&mut cx),
        "the collected permit, handed on",
    );
    assert_eq!(sem.waiter_count(), 1);
    drop(second);
    let one = ready(mover.poll_acquire_many(&mut cx, 1), "the smaller request");
    assert_eq!(one.num_permits(), 1);
    drop(one);
    assert_exact(&sem, 1);
}

#[test]
fn dropping_a_queued_handle_loses_nothing() {
    let sem = Arc::new(Semaphore::new(1));
    let mut cx = Context::from_waker(Waker::noop());
    let mut holder = PollSemaphore::new(sem.clone());
    let held = ready(holder.poll_acquire(&mut cx), "holder");
    let mut queued = PollSemaphore::new(sem.clone()).priority(0);
    assert!(queued.poll_acquire(&mut cx).is_pending());
    assert_eq!(sem.waiter_count(), 1);
    drop(queued);
    assert_eq!(sem.waiter_count(), 0);
    drop(held);
    assert_exact(&sem, 1);
}

/// Granted but not polled again: dropping the handle passes the permit and the wake-up on.
#[test]
fn dropping_a_granted_handle_hands_the_permit_on() {
    let sem = Arc::new(Semaphore::new(1));
    let (_, noop) = FlagWaker::new();
    let (next_flag, next_waker) = FlagWaker::new();
    let mut holder = PollSemaphore::new(sem.clone());
    let held = ready(
        holder.poll_acquire(&mut Context::from_waker(&noop)),
        "holder",
    );
    let mut granted = PollSemaphore::new(sem.clone()).priority(0);
    let mut next = PollSemaphore::new(sem.clone()).priority(1);
    assert!(granted
        .poll_acquire(&mut Context::from_waker(&noop))
        .is_pending());
    assert!(next
        .poll_acquire(&mut Context::from_waker(&next_waker))
        .is_pending());
    drop(held); // handed to `granted`
    assert!(!next_flag.woken());
    drop(granted);
    assert!(next_flag.woken(), "the wake-up passed on");
    drop(ready(
        next.poll_acquire(&mut Context::from_waker(&next_waker)),
        "next",
    ));
    assert_exact(&sem, 1);
}

#[test]
fn a_closed_semaphore_answers_none_and_ends_the_stream() {
    let sem = Arc::new(Semaphore::new(1));
    let mut cx = Context::from_waker(Waker::noop());
    let mut holder = PollSemaphore::new(sem.clone());
    let held = ready(holder.poll_acquire(&mut cx), "holder");
    let mut queued = PollSemaphore::new(sem.clone());
    assert!(queued.poll_acquire(&mut cx).is_pending());
    sem.close();
    assert!(matches!(queued.poll_acquire(&mut cx), Poll::Ready(None)));
    assert!(matches!(queued.poll_acquire(&mut cx), Poll::Ready(None)));
    let mut fresh = PollSemaphore::new(sem.clone());
    assert!(matches!(fresh.poll_acquire(&mut cx), Poll::Ready(None)));
    futures::executor::block_on(async {
        assert!(queued.next().await.is_none());
    });
    drop(held);
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn too_many_permits_answer_none_without_closing() {
    let sem = Arc::new(Semaphore::new(1));
    let mut handle = PollSemaphore::new(sem.clone());
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(
        handle.poll_acquire_many(&mut cx, u32::MAX),
        Poll::Ready(None)
    ));
    assert!(!handle.semaphore().is_closed());
    drop(ready(handle.poll_acquire(&mut cx), "still usable"));
    assert_exact(&sem, 1);
}

#[test]
#[cfg_attr(miri, ignore = "tokio runtime")]
fn the_stream_yields_permits_in_priority_order_with_tokio() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.clone().try_acquire_owned().unwrap();
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (name, priority) in [("batch", 10), ("realtime", 0), ("normal", 5)] {
            let mut stream = PollSemaphore::new(sem.clone()).priority(priority);
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                let permit = stream.next().await.unwrap();
                log.lock().unwrap().push(name);
                tokio::task::yield_now().await;
                drop(permit);
            }));
            tokio::task::yield_now().await; // let it queue
        }
        assert_eq!(sem.waiter_count(), 3);
        drop(held);
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*log.lock().unwrap(), ["realtime", "normal", "batch"]);
        assert_exact(&sem, 1);
    });
}

#[test]
fn a_clone_shares_the_semaphore_and_priority_but_not_the_request() {
    let sem = Arc::new(Semaphore::new(0));
    let mut cx = Context::from_waker(Waker::noop());
    let mut a = PollSemaphore::new(sem.clone()).priority(2);
    assert!(a.poll_acquire(&mut cx).is_pending());
    let mut b = a.clone();
    assert!(b.poll_acquire(&mut cx).is_pending());
    assert_eq!(sem.waiter_count(), 2);
    sem.add_permits(1);
    drop(ready(
        a.poll_acquire(&mut cx),
        "a first (same priority, earlier)",
    ));
    assert!(format!("{b:?}").contains("priority: Some(2)"));
    drop(ready(b.poll_acquire(&mut cx), "then b"));
    assert!(Arc::ptr_eq(&a.into_inner(), &sem));
}

#[test]
fn without_a_priority_the_ambient_one_applies() {
    let sem = Arc::new(Semaphore::new(0));
    let mut cx = Context::from_waker(Waker::noop());
    let mut ambient = PollSemaphore::new(sem.clone());
    let mut explicit = PollSemaphore::new(sem.clone()).priority(5);
    assert!(explicit.poll_acquire(&mut cx).is_pending());
    prio_semaphore::priority_scope(1, || assert!(ambient.poll_acquire(&mut cx).is_pending()));
    sem.add_permits(1);
    assert!(explicit.poll_acquire(&mut cx).is_pending());
    // Polled again outside the scope: the same request, still at priority 1.
    drop(ready(ambient.poll_acquire(&mut cx), "ambient 1 before 5"));
}
