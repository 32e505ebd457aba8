#![cfg(loom)]
//! The lock-free ready queue of `limited::Unordered` (`src/limited/ready.rs`): children
//! woken from other threads while the stream drains the queue and re-registers its own
//! waker. Every wake-up reaches the stream (a lost one leaves `block_on` parked forever,
//! which loom reports as a deadlock), and a woken child is polled once per wake-up, never
//! more (a node queued twice would be polled twice, or loop the chain).

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use loom::future::block_on;
use loom::thread;
use loom_tests::{model, Signal, WakeCounter};
use prio_semaphore::limited;

/// Polls `stream` to its end inside `block_on` (so with loom's waker, not the one it was
/// polled with before) and returns its outputs in order.
fn drain<S: Stream + Unpin>(stream: &mut S) -> Vec<S::Item> {
    let mut outputs = Vec::new();
    block_on(std::future::poll_fn(|cx| loop {
        match Pin::new(&mut *stream).poll_next(cx) {
            Poll::Ready(Some(output)) => outputs.push(output),
            Poll::Ready(None) => return Poll::Ready(()),
            Poll::Pending => return Poll::Pending,
        }
    }));
    outputs
}

/// Two children are woken at once from two threads (two pushes racing on the stack's head)
/// while the stream, now polled by another task, re-registers its waker and drains the
/// stack: both complete, each polled exactly twice (its first poll and the one its wake-up
/// asked for), and the stream ends.
#[test]
fn concurrent_wakes_of_two_children_are_each_served_once() {
    model(|| {
        let signals = [Signal::new(), Signal::new()];
        let polls = [Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0))];
        let children = (0..2).map(|i| {
            let (signal, polls) = (signals[i].clone(), polls[i].clone());
            async move {
                signal.wait(1, polls).await;
                i
            }
        });
        let mut stream = limited::unordered(children, 2);

        // First poll by hand, with a waker of its own: both children start and wait.
        let (first_task, waker) = WakeCounter::new();
        let polled = Pin::new(&mut stream).poll_next(&mut Context::from_waker(&waker));
        assert!(polled.is_pending());
        assert_eq!(stream.running(), 2);

        let wakers: Vec<_> = signals
            .iter()
            .map(|signal| {
                let signal = signal.clone();
                thread::spawn(move || signal.set())
            })
            .collect();
        // The stream moves to loom's `block_on` task while the wake-ups arrive.
        let mut outputs = drain(&mut stream);
        for t in wakers {
            t.join().unwrap();
        }
        outputs.sort_unstable();
        assert_eq!(outputs, [0, 1], "each child's output exactly once");
        for (i, polls) in polls.iter().enumerate() {
            assert_eq!(polls.load(Ordering::SeqCst), 2, "polls of child {i}");
        }
        assert_eq!(stream.running(), 0);
        // The first task may or may not have been woken (a wake-up racing with the
        // re-registration may go to either waker), but never more than once per child.
        assert!(first_task.wakes() <= 2);
    });
}

/// One child is woken twice, from two threads, while the stream polls it: one wake-up
/// finds the node already queued (and adds nothing), the other may arrive after the stream
/// took the node off the queue (and queues it again). Either way the child sees both
/// signals and completes, and it is never polled more than once per wake-up.
#[test]
fn a_child_woken_twice_while_being_polled_is_not_lost() {
    model(|| {
        let signal = Signal::new();
        let polls = Arc::new(AtomicUsize::new(0));
        let child = {
            let (signal, polls) = (signal.clone(), polls.clone());
            async move {
                signal.wait(2, polls).await;
                "done"
            }
        };
        let mut stream = limited::unordered([child], 1);
        let wakers: Vec<_> = (0..2)
            .map(|_| {
                let signal = signal.clone();
                thread::spawn(move || signal.set())
            })
            .collect();
        let outputs = drain(&mut stream);
        for t in wakers {
            t.join().unwrap();
        }
        assert_eq!(outputs, ["done"]);
        let polls = polls.load(Ordering::SeqCst);
        assert!(
            (1..=3).contains(&polls),
            "{polls} polls for at most two wake-ups"
        );
        assert_eq!(stream.running(), 0);
    });
}

/// A child taken off the queue is woken again while the child behind it is still queued
/// locally: the new wake-up may rewrite the popped node's link only after the stream has
/// read it, so the child behind is still polled. Two threads wake two children, one of
/// them twice.
#[test]
fn a_popped_child_woken_again_keeps_the_chain_behind_it() {
    model(|| {
        let signals = [Signal::new(), Signal::new()];
        let polls = [Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0))];
        let children = (0..2).map(|i| {
            let (signal, polls) = (signals[i].clone(), polls[i].clone());
            async move {
                signal.wait(2 - i, polls).await;
                i
            }
        });
        let mut stream = limited::unordered(children, 2);
        let (_first_task, waker) = WakeCounter::new();
        let polled = Pin::new(&mut stream).poll_next(&mut Context::from_waker(&waker));
        assert!(polled.is_pending());

        let wakers = [
            thread::spawn({
                let signal = signals[0].clone();
                move || {
                    signal.set();
                    signal.set();
                }
            }),
            thread::spawn({
                let signal = signals[1].clone();
                move || signal.set()
            }),
        ];
        let mut outputs = drain(&mut stream);
        for t in wakers {
            t.join().unwrap();
        }
        outputs.sort_unstable();
        assert_eq!(outputs, [0, 1], "each child's output exactly once");
        let polls = polls.map(|p| p.load(Ordering::SeqCst));
        assert!(
            (2..=3).contains(&polls[0]),
            "child 0 polled {} times",
            polls[0]
        );
        assert_eq!(polls[1], 2, "child 1 polled once per wake-up");
    });
}
