//! `share::ShareSemaphore`: guaranteed shares between classes, borrowing of idle capacity,
//! and the return of a class to its share, checked by counting grants in a controlled
//! loop (futures polled by hand, permits released oldest first), never by the clock.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::common::expect_panic;
use prio_semaphore::share::{Share, ShareAcquire, SharePermit, ShareSemaphore};

const REALTIME: usize = 0;
const BATCH: usize = 1;

fn rt_batch(permits: usize) -> ShareSemaphore {
    ShareSemaphore::new(permits, &[Share::new(75), Share::new(25)])
}

/// Requests of each class queued by hand; permits held are released oldest first.
struct Load<'s> {
    sem: &'s ShareSemaphore,
    queued: Vec<VecDeque<Pin<Box<ShareAcquire<'s>>>>>,
    held: VecDeque<SharePermit<'s>>,
    /// Grants per class so far.
    grants: Vec<usize>,
}

impl<'s> Load<'s> {
    fn new(sem: &'s ShareSemaphore) -> Self {
        Self {
            sem,
            queued: (0..sem.classes()).map(|_| VecDeque::new()).collect(),
            held: VecDeque::new(),
            grants: vec![0; sem.classes()],
        }
    }

    /// Queues `n` one-permit requests of `class` (polling each once) and collects the
    /// ones that were granted at once.
    fn queue(&mut self, class: usize, n: usize) {
        for _ in 0..n {
            self.queued[class].push_back(Box::pin(self.sem.acquire(class)));
        }
        self.collect();
    }

    /// Polls the queued requests (in each class's order) and holds what was granted.
    fn collect(&mut self) {
        let cx = &mut Context::from_waker(Waker::noop());
        for class in 0..self.queued.len() {
            while let Some(front) = self.queued[class].front_mut() {
                match front.as_mut().poll(cx) {
                    Poll::Ready(Ok(permit)) => {
                        assert_eq!(permit.class(), class);
                        self.held.push_back(permit);
                        self.grants[class] += 1;
                        self.queued[class].pop_front();
                    }
                    Poll::Ready(Err(err)) => panic!("{err}"),
                    // Within a class the line is FIFO: the front waits, so do the others.
                    Poll::Pending => break,
                }
            }
        }
    }

    /// Releases the oldest held permit, and collects what that granted.
    fn release_oldest(&mut self) {
        drop(self.held.pop_front().expect("something held"));
        self.collect();
    }

    fn holding(&self, class: usize) -> usize {
        self.held.iter().filter(|p| p.class() == class).count()
    }
}

#[test]
fn both_flooding_each_class_gets_its_share() {
    // Under miri each poll is slow: fewer grants, so a looser margin for the start-up.
    let (grants, margin) = if cfg!(miri) {
        (80, 0.05)
    } else {
        (1_000, 0.02)
    };
    let sem = rt_batch(8);
    let mut load = Load::new(&sem);
    load.queue(REALTIME, 2 * grants);
    load.queue(BATCH, 2 * grants);
    assert_eq!((load.holding(REALTIME), load.holding(BATCH)), (8, 0));
    let start = load.grants.clone();
    for _ in 0..grants {
        load.release_oldest();
        assert_eq!(load.held.len(), 8, "every permit in use");
    }
    // Within a few grants the 8 realtime permits are released and batch takes its 2.
    let batch = load.grants[BATCH] - start[BATCH];
    let realtime = load.grants[REALTIME] - start[REALTIME];
    assert_eq!(batch + realtime, grants);
    let batch_share = batch as f64 / grants as f64;
    assert!(
        (0.25 - margin..=0.25 + margin).contains(&batch_share),
        "batch got {batch_share:.3}"
    );
    assert_eq!((load.holding(REALTIME), load.holding(BATCH)), (6, 2));
}

#[test]
fn an_idle_class_lends_everything_and_gets_it_back() {
    let sem = rt_batch(8);
    let mut load = Load::new(&sem);
    load.queue(BATCH, 100);
    assert_eq!(
        load.holding(BATCH),
        8,
        "realtime idle: batch borrows everything"
    );
    for _ in 0..20 {
        load.release_oldest();
    }
    assert_eq!(load.holding(BATCH), 8);
    // Realtime returns: each permit batch releases goes to realtime until it has its 6.
    load.queue(REALTIME, 20);
    for released in 1..=6 {
        load.release_oldest();
        assert_eq!(load.holding(REALTIME), released);
    }
    load.release_oldest();
    assert_eq!((load.holding(REALTIME), load.holding(BATCH)), (6, 2));
    assert_eq!((sem.assigned(REALTIME), sem.assigned(BATCH)), (6, 2));
}

#[test]
fn a_borrowing_limit_caps_what_a_class_takes() {
    let sem = ShareSemaphore::new(8, &[Share::new(75), Share::new(25).borrowing_limit(50)]);
    let mut load = Load::new(&sem);
    load.queue(BATCH, 20);
    assert_eq!(load.holding(BATCH), 3, "its 2 and half as much again");
    assert_eq!(sem.available_permits(), 5);
    assert!(sem.try_acquire(BATCH).is_err());
    load.queue(REALTIME, 1);
    assert_eq!(load.holding(REALTIME), 1);
}

#[test]
fn without_waiters_permits_are_taken_at_once() {
    let sem = rt_batch(4);
    let a = sem.try_acquire_many(BATCH, 4).unwrap();
    assert_eq!(sem.assigned(BATCH), 4);
    drop(a);
    assert_eq!(sem.available_permits(), 4);
    futures::executor::block_on(async {
        let p = sem.acquire_many(REALTIME, 3).await.unwrap();
        assert_eq!((p.class(), p.num_permits()), (REALTIME, 3));
    });
}

#[test]
fn nobody_overtakes_a_waiter() {
    let sem = rt_batch(2);
    let mut load = Load::new(&sem);
    load.queue(REALTIME, 2);
    load.queue(BATCH, 1); // waits
    assert!(sem.try_acquire(REALTIME).is_err());
    load.release_oldest();
    // Batch is below its share: it is served, not a later realtime request.
    assert_eq!(load.holding(BATCH), 1);
}

#[test]
fn cancellation_in_every_state_loses_nothing() {
    let sem = rt_batch(4);
    let cx = &mut Context::from_waker(Waker::noop());
    let held = sem.try_acquire_many(REALTIME, 4).unwrap();
    let mut big = Box::pin(sem.acquire_many(BATCH, 3));
    let mut small = Box::pin(sem.acquire(REALTIME));
    let mut other = Box::pin(sem.acquire(BATCH));
    assert!(big.as_mut().poll(cx).is_pending());
    assert!(small.as_mut().poll(cx).is_pending());
    assert!(other.as_mut().poll(cx).is_pending());
    drop(held); // batch under its share: its big request collects; realtime's gets 1
    drop(big); // cancelled while collecting: what it had goes on
    drop(sem.acquire(REALTIME)); // never polled
    assert!(matches!(small.as_mut().poll(cx), Poll::Ready(Ok(_))));
    drop(small);
    let Poll::Ready(Ok(p)) = other.as_mut().poll(cx) else {
        panic!("batch not served")
    };
    drop(p);
    assert_eq!(sem.available_permits(), 4);
    assert_eq!(
        (
            sem.assigned(REALTIME),
            sem.assigned(BATCH),
            sem.waiter_count()
        ),
        (0, 0, 0)
    );
    assert_eq!(sem.try_acquire_many(BATCH, 4).unwrap().num_permits(), 4);
}

#[test]
fn close_fails_the_waiters_and_keeps_the_holders() {
    let sem = rt_batch(1);
    let cx = &mut Context::from_waker(Waker::noop());
    let held = sem.try_acquire(BATCH).unwrap();
    let mut waiting = Box::pin(sem.acquire(REALTIME));
    assert!(waiting.as_mut().poll(cx).is_pending());
    sem.close();
    assert!(matches!(waiting.as_mut().poll(cx), Poll::Ready(Err(e)) if e.is_closed()));
    assert!(sem.try_acquire(REALTIME).unwrap_err().is_closed());
    assert_eq!(held.num_permits(), 1);
    drop(held);
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn permits_added_and_forgotten_move_the_shares() {
    let sem = rt_batch(4);
    assert_eq!((sem.nominal(REALTIME), sem.nominal(BATCH)), (3, 1));
    sem.add_permits(4);
    assert_eq!((sem.nominal(REALTIME), sem.nominal(BATCH)), (6, 2));
    sem.try_acquire(BATCH).unwrap().forget();
    assert_eq!(sem.forget_permits(3), 3);
    assert_eq!((sem.nominal(REALTIME), sem.nominal(BATCH)), (3, 1));
    assert_eq!(sem.available_permits(), 4);
    let message = expect_panic(|| sem.add_permits(usize::MAX));
    assert!(message.contains("MAX_PERMITS"), "{message}");
    assert_eq!(sem.available_permits(), 4, "unchanged by the failed add");
}

#[test]
fn bad_classes_and_sizes() {
    let sem = rt_batch(1);
    let message = expect_panic(|| sem.acquire(2));
    assert!(message.contains("class 2 out of range"), "{message}");
    expect_panic(|| ShareSemaphore::new(1, &[]));
    expect_panic(|| ShareSemaphore::new(1, &[Share::new(1); 9]));
    futures::executor::block_on(async {
        assert!(sem
            .acquire_many(0, u32::MAX)
            .await
            .unwrap_err()
            .is_too_many_permits());
        assert_eq!(sem.acquire_many(0, 0).await.unwrap().num_permits(), 0);
    });
}

#[test]
fn priorities_order_a_class_line() {
    let sem = rt_batch(1);
    let cx = &mut Context::from_waker(Waker::noop());
    let held = sem.try_acquire(BATCH).unwrap();
    let mut late = Box::pin(sem.acquire(BATCH).priority(5));
    let mut urgent = Box::pin(sem.acquire(BATCH).priority(1));
    assert!(late.as_mut().poll(cx).is_pending());
    assert!(urgent.as_mut().poll(cx).is_pending());
    drop(held);
    assert!(late.as_mut().poll(cx).is_pending());
    assert!(urgent.as_mut().poll(cx).is_ready());
}

#[test]
fn a_static_share_semaphore() {
    static SEM: ShareSemaphore = ShareSemaphore::new(2, &[Share::new(1), Share::new(1)]);
    let p = SEM.try_acquire(1).unwrap();
    assert_eq!(SEM.assigned(1), 1);
    drop(p);
}
