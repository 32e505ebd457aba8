//! `fair::FairSemaphore`: weighted fair queuing among the flows of one priority, checked by
//! counting grants in a controlled loop (one permit, handed from each request to the next,
//! every future polled by hand), never by the clock.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::common::counting_alloc::allocations;
use crate::common::{assert_exact, expect_panic, FlagWaker};
use prio_semaphore::fair::{ArrayFlows, FairKey, FairSemaphore, FlowStore, PollFairSemaphore};
use prio_semaphore::{AcquireError, Permit};

/// Under miri each poll costs a lot: scale the workloads down.
fn scaled(n: usize) -> usize {
    if cfg!(miri) {
        (n / 20).max(4)
    } else {
        n
    }
}

type Granted<'s> = Result<Permit<'s, FairKey<i64>>, AcquireError>;
type Fut<'s> = Pin<Box<dyn Future<Output = Granted<'s>> + 's>>;

/// Requests queued behind one held permit, served one at a time: each granted request's
/// permit is dropped at once, which hands it to the next. Records who was served.
struct Line<'s, T> {
    queued: Vec<(T, Fut<'s>, Arc<FlagWaker>, Waker)>,
    held: Option<Permit<'s, FairKey<i64>>>,
}

impl<'s, T: Copy> Line<'s, T> {
    /// Takes the semaphore's only permit, so every request queues.
    fn new<K, S: FlowStore<i64, K>>(sem: &'s FairSemaphore<K, i64, S>) -> Self {
        assert_eq!(
            sem.available_permits(),
            1,
            "one permit handed from request to request"
        );
        Self {
            queued: Vec::new(),
            held: Some(sem.try_acquire().expect("one free permit")),
        }
    }

    /// Polls `request` once (it must queue) and keeps it, labelled.
    fn queue(&mut self, label: T, request: impl Future<Output = Granted<'s>> + 's) {
        let (flag, waker) = FlagWaker::new();
        let mut fut: Fut<'s> = Box::pin(request);
        assert!(fut
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        self.queued.push((label, fut, flag, waker));
    }

    /// Drops the queued request labelled `label` (the first one).
    fn cancel(&mut self, label: T)
    where
        T: PartialEq,
    {
        let at = self
            .queued
            .iter()
            .position(|q| q.0 == label)
            .expect("queued");
        drop(self.queued.remove(at));
    }

    /// Hands the permit on once: returns who got it.
    fn grant(&mut self) -> T {
        drop(self.held.take());
        let at = (self.queued.iter())
            .position(|q| q.2.woken())
            .expect("a queued request was handed the permit and woken");
        let (label, mut fut, _, waker) = self.queued.remove(at);
        match fut.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(Ok(permit)) => self.held = Some(permit),
            other => panic!("woken but not granted: {:?}", other.map(|r| r.map(|_| ()))),
        }
        label
    }

    fn grants(&mut self, n: usize) -> Vec<T> {
        (0..n).map(|_| self.grant()).collect()
    }
}

fn position<T: PartialEq>(order: &[T], who: T) -> usize {
    order.iter().position(|w| *w == who).expect("served") + 1
}

#[test]
fn a_flood_does_not_delay_another_flows_request() {
    let flood = scaled(1_000);
    let sem: FairSemaphore<&str> = FairSemaphore::new(1);
    let mut line = Line::new(&sem);
    for _ in 0..flood {
        line.queue("A", sem.acquire().priority(5).flow("A"));
    }
    line.queue("B", sem.acquire().priority(5).flow("B"));
    let order = line.grants(3);
    assert!(
        position(&order, "B") <= 2,
        "B waited behind the flood: {order:?}"
    );

    // Without flows it is one FIFO line: B waits behind the whole flood.
    let fifo: FairSemaphore<&str> = FairSemaphore::new(1);
    let mut line = Line::new(&fifo);
    for _ in 0..flood {
        line.queue("A", fifo.acquire().priority(5));
    }
    line.queue("B", fifo.acquire().priority(5));
    assert_eq!(line.grants(flood + 1).last(), Some(&"B"));
}

#[test]
fn weights_share_every_window_of_grants() {
    let per_flow = scaled(2_100);
    let sem: FairSemaphore<u32> = FairSemaphore::new(1);
    let mut line = Line::new(&sem);
    for _ in 0..per_flow {
        for (flow, weight) in [(1, 1), (2, 2), (3, 4)] {
            line.queue(flow, sem.acquire().priority(0).flow(flow).weight(weight));
        }
    }
    // While all three are backlogged (the lightest has most left): 1/7, 2/7, 4/7.
    let order = line.grants(per_flow);
    for window in order.windows(70) {
        let count = |flow| window.iter().filter(|&&f| f == flow).count();
        for (flow, expected) in [(1, 10), (2, 20), (3, 40)] {
            let got = count(flow);
            // SFQ's bound: within a request's cost of each side (one grant each).
            assert!(
                got.abs_diff(expected) <= 2,
                "flow {flow}: {got} of 70, expected {expected}"
            );
        }
    }
}

#[test]
fn a_flow_is_served_in_arrival_order() {
    let sem: FairSemaphore<&str> = FairSemaphore::new(1);
    let mut line = Line::new(&sem);
    // Different weights: one flow's tags still increase.
    for (i, weight) in [1, 2, 7, 1, 1].into_iter().enumerate() {
        line.queue(i, sem.acquire().flow("a").weight(weight));
        line.queue(100 + i, sem.acquire().flow("b"));
    }
    let served = line.grants(10);
    let of_a: Vec<usize> = served.iter().copied().filter(|&l| l < 100).collect();
    let of_b: Vec<usize> = served.iter().copied().filter(|&l| l >= 100).collect();
    assert_eq!(of_a, [0, 1, 2, 3, 4]);
    assert_eq!(of_b, [100, 101, 102, 103, 104]);
}

/// A multi-permit request is served whole, in its flow's order, and costs its flow its
/// permits: one 3-permit request of `a` weighs as three 1-permit ones of `b`.
#[test]
fn a_request_costs_its_permits() {
    let sem: FairSemaphore<&str> = FairSemaphore::new(1);
    let cx = &mut Context::from_waker(Waker::noop());
    let held = sem.try_acquire().unwrap();
    // Tags: a: 0, then 3 (after its 3-permit request); b: 0, 1, 2, 3, 4, 5.
    let mut big = Box::pin(sem.acquire_many(3).flow("a"));
    let mut next_of_a = Box::pin(sem.acquire().flow("a"));
    let mut small: Vec<_> = (0..6).map(|_| Box::pin(sem.acquire().flow("b"))).collect();
    assert!(big.as_mut().poll(cx).is_pending());
    assert!(next_of_a.as_mut().poll(cx).is_pending());
    for f in &mut small {
        assert!(f.as_mut().poll(cx).is_pending());
    }
    drop(held);
    sem.add_permits(2);
    let Poll::Ready(Ok(three)) = big.as_mut().poll(cx) else {
        panic!("big not served first")
    };
    assert_eq!(three.num_permits(), 3);
    drop(three);
    // b's tags 0, 1, 2 (the three permits), not a's 3.
    let mut held = Vec::new();
    for f in &mut small[..3] {
        let Poll::Ready(Ok(permit)) = f.as_mut().poll(cx) else {
            panic!("b not served")
        };
        held.push(permit);
    }
    assert!(next_of_a.as_mut().poll(cx).is_pending());
    // a's tag 3 ties with b's, and a's arrived first.
    held.pop();
    let Poll::Ready(Ok(_a)) = next_of_a.as_mut().poll(cx) else {
        panic!("a's turn")
    };
    assert!(small[3].as_mut().poll(cx).is_pending());
}

#[test]
fn an_idle_flow_banks_no_credit() {
    let backlog = scaled(200);
    let sem: FairSemaphore<char> = FairSemaphore::new(1);
    let mut line = Line::new(&sem);
    for _ in 0..backlog {
        line.queue('A', sem.acquire().flow('A'));
    }
    line.queue('B', sem.acquire().flow('B'));
    // B is served early, then idles while A is served on and on.
    line.grants(backlog / 2);
    let back = backlog / 4;
    for _ in 0..back {
        line.queue('B', sem.acquire().flow('B'));
    }
    // Back from idling: B shares equally from now on, it does not catch up.
    let next = line.grants(2 * back);
    let of_b = next.iter().filter(|&&f| f == 'B').count();
    assert!(
        of_b.abs_diff(back) <= 1,
        "B got {of_b} of {}: {next:?}",
        2 * back
    );
}

#[test]
fn without_flow_keys_the_order_is_the_semaphores() {
    let sem: FairSemaphore<u8> = FairSemaphore::new(1);
    let mut line = Line::new(&sem);
    for (i, priority) in [3, 1, 3, 2, 1, 3].into_iter().enumerate() {
        line.queue(i, sem.acquire().priority(priority));
    }
    assert_eq!(line.grants(6), [1, 4, 3, 0, 2, 5]);
}

#[test]
fn priorities_come_before_flows() {
    let sem: FairSemaphore<u8> = FairSemaphore::new(1);
    let mut line = Line::new(&sem);
    for _ in 0..5 {
        line.queue((9, 1), sem.acquire().priority(9).flow(1));
    }
    line.queue((0, 2), sem.acquire().priority(0).flow(2));
    assert_eq!(line.grant(), (0, 2));
    // Levels have their own virtual time: level 9's order is untouched by level 0's.
    line.queue((9, 3), sem.acquire().priority(9).flow(3));
    let order = line.grants(6);
    assert!(position(&order, (9, 3)) <= 2, "{order:?}");
}

/// The line as a snapshot shows it: per flow that waits, its next request's start tag and
/// how many of its requests wait.
fn classes(sem: &FairSemaphore<&str>) -> Vec<(u64, usize)> {
    let snapshot = sem.snapshot();
    snapshot
        .classes
        .iter()
        .map(|c| (c.priority.tag(), c.waiters))
        .collect()
}

/// Virtual time per permit at weight 1 (`fair` module docs).
const PERMIT: u64 = 1 << 16;

#[test]
fn cancelling_the_latest_request_gives_its_flow_place_back() {
    let sem: FairSemaphore<&str> = FairSemaphore::new(1);
    let mut line = Line::new(&sem);
    line.queue(0, sem.acquire().flow("a"));
    line.queue(1, sem.acquire_many(3).flow("a"));
    let [(t0, 2)] = classes(&sem)[..] else {
        panic!("one flow of two requests: {:?}", classes(&sem))
    };
    line.cancel(1);
    line.queue(2, sem.acquire().flow("a"));
    line.queue(3, sem.acquire().flow("a"));
    assert_eq!(line.grant(), 0);
    // Request 2 starts where the cancelled one did, one permit after request 0 (not three
    // more permits later).
    assert_eq!(classes(&sem), [(t0 + PERMIT, 2)]);
    // Cancelling an earlier one (2, now its flow's next) leaves the later ones where they
    // are (a hole), and once the flow has nothing left its place is that of its last
    // request served.
    line.cancel(2);
    assert_eq!(classes(&sem), [(t0 + 2 * PERMIT, 1)]);
    assert_eq!(line.grant(), 3);
    drop(line);
    assert_eq!(sem.entries(), (0, 0), "nothing left counted");
    assert_exact(sem.semaphore(), 1);
}

/// The overload bounds of the core work on fair requests: one refused by its queue limit,
/// or whose timer fired, takes no place in the fair order.
#[test]
fn queue_limits_and_timeouts_leave_no_place_behind() {
    let sem: FairSemaphore<&str> = FairSemaphore::new(1);
    let mut line = Line::new(&sem);
    line.queue(0, sem.acquire().flow("a"));
    line.queue(1, sem.acquire().flow("a"));
    let before = classes(&sem);
    let cx = &mut Context::from_waker(Waker::noop());
    let refused = pin!(sem.acquire().flow("a").queue_limit(2)).poll(cx);
    assert!(matches!(refused, Poll::Ready(Err(e)) if e.is_queue_full()));
    let timed_out = pin!(sem.acquire().flow("a").timeout(std::future::ready(()))).poll(cx);
    assert!(matches!(timed_out, Poll::Ready(Err(e)) if e.is_timed_out()));
    assert_eq!(classes(&sem), before, "the line is as it was");
    // The next request of the flow starts where the refused ones would have: one permit
    // after request 1, as request 1 after request 0.
    line.queue(2, sem.acquire().flow("a").queue_limit(2 + 1));
    let t0 = before[0].0;
    assert_eq!(line.grant(), 0);
    assert_eq!(classes(&sem), [(t0 + PERMIT, 2)]);
    assert_eq!(line.grant(), 1);
    assert_eq!(classes(&sem), [(t0 + 2 * PERMIT, 1)]);
    assert_eq!(line.grant(), 2);
    drop(line);
    assert_eq!(sem.entries(), (0, 0), "nothing left counted");
    assert_exact(sem.semaphore(), 1);

    // Owned requests alike.
    let sem: Arc<FairSemaphore<&str>> = Arc::new(FairSemaphore::new(1));
    let held = sem.try_acquire().unwrap();
    let mut waiting = Box::pin(sem.clone().acquire_owned().flow("b"));
    assert!(waiting.as_mut().poll(cx).is_pending());
    let refused = pin!(sem.clone().acquire_owned().flow("b").queue_limit(1)).poll(cx);
    assert!(matches!(refused, Poll::Ready(Err(e)) if e.is_queue_full()));
    let timed_out = pin!(sem.clone().acquire_owned().timeout(std::future::ready(()))).poll(cx);
    assert!(matches!(timed_out, Poll::Ready(Err(e)) if e.is_timed_out()));
    drop((held, waiting));
    assert_eq!(sem.entries(), (0, 0));
    assert_exact(sem.semaphore(), 1);
}

#[test]
fn cancellation_in_every_state_loses_nothing() {
    let sem: FairSemaphore<u8> = FairSemaphore::new(2);
    let cx = &mut Context::from_waker(Waker::noop());
    let held = sem.try_acquire_many(2).unwrap();
    let mut queued: Vec<_> = (0..6u8)
        .map(|i| Box::pin(sem.acquire_many(u32::from(i % 2) + 1).flow(i % 3)))
        .collect();
    for f in &mut queued {
        assert!(f.as_mut().poll(cx).is_pending());
    }
    let never_polled = sem.acquire().flow(9);
    drop(held); // the first request is granted (not yet polled), the second collects
    drop(queued.remove(0)); // granted, unpolled: its permits go on
    drop(queued.remove(2)); // queued
    drop(never_polled);
    drop(queued);
    assert_eq!(sem.entries(), (0, 0));
    assert_exact(sem.semaphore(), 2);
}

#[test]
fn idle_flows_are_swept() {
    let sem: FairSemaphore<usize> = FairSemaphore::new(1);
    let mut line = Line::new(&sem);
    line.queue(usize::MAX, sem.acquire().flow(usize::MAX)); // keeps the level busy
    let mut most = 0;
    for flow in 0..scaled(2_000) {
        line.queue(flow, sem.acquire().flow(flow));
        line.queue(usize::MAX, sem.acquire().flow(usize::MAX));
        line.grants(2);
        most = most.max(sem.entries().1);
    }
    // Two flows have requests at any time: the table stays within twice that (16 at least).
    assert!(most <= 17, "the table grew to {most} flows");
}

#[test]
fn a_full_array_table_falls_back_to_arrival_order() {
    let sem: FairSemaphore<u8, i64, ArrayFlows<2>> = FairSemaphore::new_generic(1);
    let mut line = Line::new(&sem);
    for flow in [1, 2, 3, 3] {
        line.queue(flow, sem.acquire().flow(flow));
    }
    line.queue(1, sem.acquire().flow(1));
    // Flows 1 and 2 fill the table; flow 3 waits behind everything counted so far (flow
    // 1's second request comes later, at the same tag, so after it).
    assert_eq!(line.grants(5), [1, 2, 3, 3, 1]);
    drop(line);
    assert_exact(sem.semaphore(), 1);
}

#[test]
fn an_array_table_allocates_nothing() {
    let sem: FairSemaphore<u8, i64, ArrayFlows<4>> = FairSemaphore::new_generic(1);
    let cx = &mut Context::from_waker(Waker::noop());
    let held = sem.try_acquire().unwrap();
    let before = allocations();
    let mut a = pin!(sem.acquire().flow(0));
    let mut b = pin!(sem.acquire().flow(1));
    let mut c = pin!(sem.acquire().flow(0).weight(3));
    let mut d = pin!(sem.acquire().priority(4));
    assert!(a.as_mut().poll(cx).is_pending());
    assert!(b.as_mut().poll(cx).is_pending());
    assert!(c.as_mut().poll(cx).is_pending());
    assert!(d.as_mut().poll(cx).is_pending());
    drop(held);
    assert!(a.as_mut().poll(cx).is_ready());
    assert_eq!(allocations() - before, 0);
}

#[test]
fn the_ambient_priority_applies() {
    let sem: FairSemaphore<u8> = FairSemaphore::new(1);
    let mut line = Line::new(&sem);
    line.queue("late", sem.acquire().flow(1));
    line.queue(
        "urgent",
        prio_semaphore::with_priority(-1i64, sem.acquire().flow(1)),
    );
    assert_eq!(line.grant(), "urgent");
}

#[test]
fn a_weight_of_zero_panics() {
    let sem: FairSemaphore<u8> = FairSemaphore::new(1);
    let message = expect_panic(|| sem.acquire().weight(0));
    assert!(message.contains("weight must be at least 1"), "{message}");
}

#[test]
fn zero_and_too_many_permits() {
    futures::executor::block_on(async {
        let sem: FairSemaphore<u8> = FairSemaphore::new(1);
        assert_eq!(sem.acquire_many(0).flow(1).await.unwrap().num_permits(), 0);
        assert!(sem
            .acquire_many(u32::MAX)
            .flow(1)
            .await
            .unwrap_err()
            .is_too_many_permits());
        assert_eq!(sem.entries(), (0, 0));
    });
}

#[test]
fn owned_requests_share_the_order() {
    let sem: Arc<FairSemaphore<u8>> = Arc::new(FairSemaphore::new(1));
    let cx = &mut Context::from_waker(Waker::noop());
    let held = sem.try_acquire().unwrap();
    let mut flood: Vec<_> = (0..10)
        .map(|_| Box::pin(sem.clone().acquire_owned().flow(1)))
        .collect();
    for f in &mut flood {
        assert!(f.as_mut().poll(cx).is_pending());
    }
    let mut other = Box::pin(sem.clone().acquire_many_owned(1).flow(2));
    assert!(other.as_mut().poll(cx).is_pending());
    drop(held);
    let Poll::Ready(Ok(first)) = flood[0].as_mut().poll(cx) else {
        panic!("flow 1 first")
    };
    drop(first);
    assert!(
        other.as_mut().poll(cx).is_ready(),
        "flow 2 next, ahead of the flood"
    );
    drop(flood);
    assert_eq!(sem.entries(), (0, 0));
}

#[test]
fn poll_handles_carry_a_flow() {
    let sem: Arc<FairSemaphore<&str>> = Arc::new(FairSemaphore::new(1));
    let cx = &mut Context::from_waker(Waker::noop());
    let mut holder = PollFairSemaphore::new(sem.clone()).flow("A");
    let Poll::Ready(Some(held)) = holder.poll_acquire(cx) else {
        panic!()
    };
    let mut flood: Vec<_> = (0..20)
        .map(|_| PollFairSemaphore::new(sem.clone()).flow("A"))
        .collect();
    for handle in &mut flood {
        assert!(handle.poll_acquire(cx).is_pending());
    }
    let mut b = PollFairSemaphore::new(sem.clone()).flow("B").weight(2);
    assert!(b.poll_acquire(cx).is_pending());
    drop(held);
    // The flood's first (tag 0) is served, then B (tag 0, later), ahead of the rest.
    let Poll::Ready(Some(first)) = flood[0].poll_acquire(cx) else {
        panic!("A first")
    };
    assert!(b.poll_acquire(cx).is_pending());
    drop(first);
    assert!(matches!(b.poll_acquire(cx), Poll::Ready(Some(_))));
    // One allocation per handle that waited, reused by its next request.
    let before = allocations();
    assert!(b.poll_acquire(cx).is_pending());
    assert_eq!(allocations() - before, 0);
    drop(flood);
    drop(b);
    assert_eq!(sem.entries(), (0, 0));
}
