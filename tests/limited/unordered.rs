//! `limited::unordered`: completion order, the concurrency limit, lazy input, wake-up cost,
//! the shared-semaphore mode (priority, permits, close, drop), and every runtime.
//!
//! Tests that drive the stream by hand (a no-op or counting waker and `poll_next`) need no
//! runtime and also run under miri; those that need a runtime are ignored there.

use std::cell::Cell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use crate::common::yield_now;
use futures::channel::{mpsc, oneshot};
use futures::stream::{FusedStream, Stream, StreamExt};
use prio_semaphore::{limited, Semaphore};

/// A waker that counts its wake-ups.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn counting_waker() -> (Arc<CountingWaker>, Waker) {
    let counter = Arc::new(CountingWaker::default());
    (counter.clone(), Waker::from(counter))
}

/// Polls `stream` once with a no-op waker.
fn poll_once<S: Stream + ?Sized>(stream: Pin<&mut S>) -> Poll<Option<S::Item>> {
    stream.poll_next(&mut Context::from_waker(Waker::noop()))
}

/// Counts the futures alive between their first poll and their completion.
#[derive(Default)]
struct LiveGauge {
    live: AtomicUsize,
    peak: AtomicUsize,
}

impl LiveGauge {
    fn enter(&self) -> impl Drop + '_ {
        let now = self.live.fetch_add(1, SeqCst) + 1;
        self.peak.fetch_max(now, SeqCst);
        struct Exit<'a>(&'a AtomicUsize);
        impl Drop for Exit<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, SeqCst);
            }
        }
        Exit(&self.live)
    }
}

/// Futures waiting on oneshot channels, so the test decides when each completes.
fn controlled(n: usize) -> (Vec<oneshot::Sender<usize>>, Vec<oneshot::Receiver<usize>>) {
    (0..n).map(|_| oneshot::channel()).unzip()
}

#[test]
fn outputs_arrive_in_completion_order() {
    let (senders, receivers) = controlled(5);
    let mut stream = pin!(limited::unordered(
        receivers
            .into_iter()
            .map(|rx| async move { rx.await.unwrap() }),
        5
    ));
    assert!(poll_once(stream.as_mut()).is_pending());
    let mut senders: Vec<_> = senders.into_iter().map(Some).collect();
    for i in [3, 0, 4, 1, 2] {
        senders[i].take().unwrap().send(i * 10).unwrap();
        assert_eq!(poll_once(stream.as_mut()), Poll::Ready(Some(i * 10)));
        assert!(poll_once(stream.as_mut()).is_pending() || i == 2);
    }
    assert_eq!(poll_once(stream.as_mut()), Poll::Ready(None));
}

#[test]
fn never_runs_more_than_limit_and_keeps_the_limit_full() {
    let gauge = LiveGauge::default();
    let items = if cfg!(miri) { 40 } else { 400 };
    let futures = (0..items).map(|i| {
        let gauge = &gauge;
        async move {
            let _live = gauge.enter();
            for _ in 0..i % 5 {
                yield_now().await;
            }
            i
        }
    });
    let outputs: Vec<usize> = futures::executor::block_on(limited::unordered(futures, 7).collect());
    assert_eq!(outputs.len(), items);
    assert_eq!(outputs.iter().sum::<usize>(), items * (items - 1) / 2);
    assert_eq!(gauge.peak.load(SeqCst), 7);
    assert_eq!(gauge.live.load(SeqCst), 0);
}

#[test]
fn pulls_the_input_only_when_a_slot_is_free() {
    let pulled = Cell::new(0);
    let (senders, receivers) = controlled(10);
    let futures = receivers.into_iter().map(|rx| {
        pulled.set(pulled.get() + 1);
        async move { rx.await.unwrap() }
    });
    let mut stream = pin!(limited::unordered(futures, 3));
    assert_eq!(pulled.get(), 0, "nothing happens before the first poll");
    assert!(poll_once(stream.as_mut()).is_pending());
    assert_eq!((pulled.get(), stream.running()), (3, 3));
    let mut senders = senders.into_iter();
    senders.next().unwrap().send(7).unwrap();
    assert_eq!(poll_once(stream.as_mut()), Poll::Ready(Some(7)));
    // The replacement is pulled on the next poll, not while the output is being handled.
    assert_eq!((pulled.get(), stream.running()), (3, 2));
    assert!(poll_once(stream.as_mut()).is_pending());
    assert_eq!((pulled.get(), stream.running()), (4, 3));
}

#[test]
fn a_wake_up_polls_only_the_woken_future() {
    const LIMIT: usize = 64;
    let polls = Rc::new(Cell::new(0usize));
    let (senders, receivers) = controlled(LIMIT);
    let futures = receivers.into_iter().map(|mut rx| {
        let polls = polls.clone();
        std::future::poll_fn(move |cx| {
            polls.set(polls.get() + 1);
            Pin::new(&mut rx).poll(cx).map(Result::unwrap)
        })
    });
    let (wakes, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut stream = pin!(limited::unordered(futures, LIMIT));
    assert!(stream.as_mut().poll_next(&mut cx).is_pending());
    assert_eq!(polls.get(), LIMIT);
    for (completed, sender) in senders.into_iter().enumerate() {
        sender.send(completed).unwrap();
        assert!(
            wakes.0.load(SeqCst) > completed,
            "the stream's task is woken"
        );
        assert_eq!(
            stream.as_mut().poll_next(&mut cx),
            Poll::Ready(Some(completed))
        );
        assert_eq!(polls.get(), LIMIT + completed + 1, "one poll per wake-up");
    }
    assert_eq!(stream.as_mut().poll_next(&mut cx), Poll::Ready(None));
}

#[test]
fn a_future_that_keeps_waking_itself_does_not_hold_the_poll() {
    let busy = std::future::poll_fn(|cx: &mut Context<'_>| {
        cx.waker().wake_by_ref();
        Poll::<u32>::Pending
    });
    let (wakes, waker) = counting_waker();
    let mut stream = pin!(limited::unordered([busy], 1));
    // Returns instead of spinning, and asks to be polled again.
    assert!(stream
        .as_mut()
        .poll_next(&mut Context::from_waker(&waker))
        .is_pending());
    assert!(wakes.0.load(SeqCst) >= 1);
}

#[test]
fn works_from_a_stream_that_is_sometimes_pending() {
    let (tx, rx) = mpsc::unbounded::<oneshot::Receiver<u32>>();
    let (wakes, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut stream = pin!(limited::unordered_stream(
        rx.map(|done| async move { done.await.unwrap() }),
        2
    ));
    assert!(stream.as_mut().poll_next(&mut cx).is_pending());
    let (first_tx, first_rx) = oneshot::channel();
    tx.unbounded_send(first_rx).unwrap();
    assert!(wakes.0.load(SeqCst) >= 1, "new input wakes the stream");
    assert!(stream.as_mut().poll_next(&mut cx).is_pending());
    assert_eq!(stream.running(), 1);
    first_tx.send(1).unwrap();
    assert_eq!(stream.as_mut().poll_next(&mut cx), Poll::Ready(Some(1)));
    let (second_tx, second_rx) = oneshot::channel();
    tx.unbounded_send(second_rx).unwrap();
    drop(tx);
    second_tx.send(2).unwrap();
    assert_eq!(stream.as_mut().poll_next(&mut cx), Poll::Ready(Some(2)));
    assert_eq!(stream.as_mut().poll_next(&mut cx), Poll::Ready(None));
    assert!(stream.is_terminated());
}

#[test]
fn empty_input_ends_at_once_and_stays_ended() {
    let mut stream = limited::unordered(std::iter::empty::<std::future::Ready<()>>(), 4);
    assert!(!stream.is_terminated());
    assert_eq!(stream.size_hint(), (0, Some(0)));
    assert_eq!(poll_once(Pin::new(&mut stream)), Poll::Ready(None));
    assert!(stream.is_terminated());
    assert_eq!(poll_once(Pin::new(&mut stream)), Poll::Ready(None));
}

#[test]
#[should_panic(expected = "needs a limit of at least 1")]
fn a_zero_limit_panics() {
    let _ = limited::unordered([async {}], 0);
}

#[test]
fn size_hint_counts_running_and_remaining_futures() {
    let mut stream = limited::unordered((0..10).map(|_| std::future::pending::<()>()), 4);
    assert_eq!(stream.size_hint(), (10, Some(10)));
    assert!(poll_once(Pin::new(&mut stream)).is_pending());
    assert_eq!(stream.running(), 4);
    assert_eq!(stream.size_hint(), (10, Some(10)));
}

#[test]
fn stale_wakers_only_cause_spurious_polls() {
    let stash: Arc<Mutex<Option<Waker>>> = Arc::default();
    let polls = Rc::new(Cell::new(0));
    // The first future stashes its waker and completes; the second reuses its slot.
    let first = {
        let stash = stash.clone();
        std::future::poll_fn(move |cx| {
            *stash.lock().unwrap() = Some(cx.waker().clone());
            Poll::Ready(1)
        })
    };
    let second = {
        let polls = polls.clone();
        std::future::poll_fn(move |_| {
            polls.set(polls.get() + 1);
            Poll::<i32>::Pending
        })
    };
    let futures: [Pin<Box<dyn Future<Output = i32>>>; 2] = [Box::pin(first), Box::pin(second)];
    let mut stream = limited::unordered(futures, 1);
    assert_eq!(poll_once(Pin::new(&mut stream)), Poll::Ready(Some(1)));
    assert!(poll_once(Pin::new(&mut stream)).is_pending());
    assert_eq!(polls.get(), 1);
    let stale = stash.lock().unwrap().take().unwrap();
    stale.wake_by_ref();
    assert!(poll_once(Pin::new(&mut stream)).is_pending());
    assert_eq!(polls.get(), 2, "one spurious poll");
    drop(stream);
    stale.wake(); // after the stream is gone: nothing to do, nothing breaks
}

#[test]
fn a_panicking_future_is_dropped_and_its_permit_released() {
    let sem = Semaphore::new(2);
    let futures = (0..3).map(|i| async move {
        assert!(i != 0, "future {i} fails");
        i
    });
    let mut stream = pin!(limited::unordered(futures, 2).with_semaphore(&sem, 0));
    let (mut outputs, mut panics) = (Vec::new(), 0);
    loop {
        match catch_unwind(AssertUnwindSafe(|| poll_once(stream.as_mut()))) {
            Err(_) => panics += 1,
            Ok(Poll::Ready(Some(output))) => outputs.push(output.unwrap()),
            Ok(Poll::Ready(None)) => break,
            Ok(Poll::Pending) => panic!("every future is ready at once"),
        }
        assert!(sem.available_permits() + stream.running() == 2);
    }
    outputs.sort();
    assert_eq!((outputs, panics), (vec![1, 2], 1));
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn the_stream_is_unpin_and_send_for_unpin_send_inputs() {
    fn assert_unpin_send<T: Unpin + Send>(_: &T) {}
    let sem = Semaphore::new(1);
    let plain = limited::unordered((0..3).map(|i| async move { i }), 2);
    assert_unpin_send(&plain);
    assert_unpin_send(&plain.with_semaphore(&sem, 3));
}

// ---- the shared-semaphore mode ----

#[test]
fn semaphore_mode_serves_more_urgent_acquirers_first() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let started = Cell::new(0);
    let futures = (0..3).map(|i| {
        let started = &started;
        async move {
            started.set(started.get() + 1);
            i
        }
    });
    let mut batch = pin!(limited::unordered(futures, 2).with_semaphore(&sem, 10));
    assert!(poll_once(batch.as_mut()).is_pending());
    assert_eq!(
        (sem.waiter_count(), started.get()),
        (1, 0),
        "queued, not started"
    );

    let mut realtime = pin!(sem.acquire().priority(0));
    let mut idle = pin!(sem.acquire().priority(20));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(realtime.as_mut().poll(&mut cx).is_pending());
    assert!(idle.as_mut().poll(&mut cx).is_pending());

    drop(held);
    let Poll::Ready(Ok(realtime_permit)) = realtime.as_mut().poll(&mut cx) else {
        panic!("the realtime request is served before the batch")
    };
    assert!(poll_once(batch.as_mut()).is_pending());
    assert_eq!(started.get(), 0);

    drop(realtime_permit);
    // The batch (priority 10) is served before the idle request (priority 20); its first
    // future starts, completes, and gives the permit back before its output is returned.
    assert!(matches!(
        poll_once(batch.as_mut()),
        Poll::Ready(Some(Ok(0)))
    ));
    assert_eq!(started.get(), 1);
    assert!(
        idle.as_mut().poll(&mut cx).is_pending(),
        "the batch asked again first"
    );
}

#[test]
fn semaphore_mode_holds_permits_only_while_futures_run() {
    let sem = Semaphore::new(3);
    let (senders, receivers) = controlled(4);
    let mut stream = pin!(limited::unordered(
        receivers
            .into_iter()
            .map(|rx| async move { rx.await.unwrap() }),
        2
    )
    .with_semaphore(&sem, 0));
    assert!(poll_once(stream.as_mut()).is_pending());
    assert_eq!((stream.running(), sem.available_permits()), (2, 1));
    let mut senders = senders.into_iter();
    senders.next().unwrap().send(5).unwrap();
    assert!(matches!(
        poll_once(stream.as_mut()),
        Poll::Ready(Some(Ok(5)))
    ));
    assert_eq!(
        sem.available_permits(),
        2,
        "released before the output was returned"
    );
    assert!(poll_once(stream.as_mut()).is_pending());
    assert_eq!(sem.available_permits(), 1);
    for (i, sender) in senders.enumerate() {
        sender.send(i).unwrap();
    }
    let rest: Vec<_> = futures::executor::block_on(stream.as_mut().collect());
    assert_eq!(rest.len(), 3);
    assert_eq!(sem.available_permits(), 3);
}

#[test]
fn dropping_the_stream_mid_way_releases_every_permit() {
    let sem = Semaphore::new(2);
    // Three slots but two permits: two futures run, the third input waits in line.
    let mut stream = limited::unordered((0..10).map(|_| std::future::pending::<()>()), 3)
        .with_semaphore(&sem, 0);
    assert!(poll_once(Pin::new(&mut stream)).is_pending());
    assert_eq!(stream.running(), 2);
    assert_eq!((sem.available_permits(), sem.waiter_count()), (0, 1));
    drop(stream);
    assert_eq!((sem.available_permits(), sem.waiter_count()), (2, 0));
}

#[test]
fn dropping_the_stream_hands_on_a_permit_granted_while_it_was_not_polled() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let mut stream = limited::unordered([async {}], 1).with_semaphore(&sem, 0);
    assert!(poll_once(Pin::new(&mut stream)).is_pending());
    let mut next = pin!(sem.acquire().priority(5));
    assert!(next
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_pending());
    drop(held); // handed straight to the stream's request, which is not being polled
    assert_eq!(sem.available_permits(), 0);
    drop(stream);
    let Poll::Ready(Ok(permit)) = next.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    else {
        panic!("the permit was handed on to the next waiter");
    };
    drop(permit);
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn a_closed_semaphore_yields_one_error_then_the_running_outputs() {
    let sem = Semaphore::new(1);
    let pulled = Cell::new(0);
    let (senders, receivers) = controlled(5);
    let futures = receivers.into_iter().map(|rx| {
        pulled.set(pulled.get() + 1);
        async move { rx.await.unwrap() }
    });
    let mut stream = pin!(limited::unordered(futures, 2).with_semaphore(&sem, 0));
    assert!(poll_once(stream.as_mut()).is_pending());
    assert_eq!(
        (stream.running(), pulled.get()),
        (1, 2),
        "one runs, one waits"
    );
    sem.close();
    let Poll::Ready(Some(Err(err))) = poll_once(stream.as_mut()) else {
        panic!("the close is reported once");
    };
    assert!(err.is_closed());
    assert!(poll_once(stream.as_mut()).is_pending());
    let mut senders = senders.into_iter();
    senders.next().unwrap().send(9).unwrap();
    assert!(matches!(
        poll_once(stream.as_mut()),
        Poll::Ready(Some(Ok(9)))
    ));
    assert!(matches!(poll_once(stream.as_mut()), Poll::Ready(None)));
    assert_eq!(pulled.get(), 2, "nothing more is pulled from the input");
    assert_eq!(sem.available_permits(), 1);
}

#[test]
#[should_panic(expected = "before the stream is first polled")]
fn with_semaphore_after_polling_panics() {
    let sem = Semaphore::new(1);
    let mut stream = limited::unordered([std::future::pending::<()>()], 1);
    let _ = poll_once(Pin::new(&mut stream));
    let _ = stream.with_semaphore(&sem, 0);
}

#[test]
fn owned_semaphore_mode_borrows_nothing_and_gives_every_permit_back() {
    fn assert_static_send<T: Send + 'static>(value: T) -> T {
        value
    }
    let sem = Arc::new(Semaphore::new(3));
    let (senders, receivers) = controlled(4);
    let stream = limited::unordered(
        receivers
            .into_iter()
            .map(|rx| async move { rx.await.unwrap() }),
        2,
    )
    .with_semaphore_owned(sem.clone(), 5);
    let mut stream = assert_static_send(stream);
    assert!(poll_once(Pin::new(&mut stream)).is_pending());
    assert_eq!((stream.running(), sem.available_permits()), (2, 1));
    for (i, sender) in senders.into_iter().enumerate() {
        sender.send(i).unwrap();
    }
    let mut outputs: Vec<usize> = futures::executor::block_on(stream.map(Result::unwrap).collect());
    outputs.sort();
    assert_eq!(outputs, [0, 1, 2, 3]);
    assert_eq!(sem.available_permits(), 3);
    assert_eq!(
        Arc::strong_count(&sem),
        1,
        "the stream and its permits are gone"
    );
}

// ---- every runtime ----

/// The same workload on any executor: 300 futures, at most 16 at once; some finish at
/// once, some yield, and every 25th is completed from another OS thread.
async fn mixed_workload() {
    let gauge = Arc::new(LiveGauge::default());
    let futures = (0..300usize).map(|i| {
        let gauge = gauge.clone();
        async move {
            let _live = gauge.enter();
            if i % 25 == 0 {
                let (tx, rx) = oneshot::channel();
                std::thread::spawn(move || tx.send(i).unwrap());
                return rx.await.unwrap();
            }
            for _ in 0..i % 4 {
                yield_now().await;
            }
            i
        }
    });
    let sem = Semaphore::new(20);
    let mut stream = limited::unordered(futures, 16).with_semaphore(&sem, 1);
    let mut sum = 0;
    while let Some(output) = stream.next().await {
        sum += output.unwrap();
        assert!(sem.available_permits() >= 4);
    }
    assert_eq!(sum, 300 * 299 / 2);
    assert_eq!(gauge.peak.load(SeqCst), 16);
    assert_eq!(sem.available_permits(), 20);
}

#[test]
#[cfg_attr(miri, ignore)] // spawns threads, runs long under miri
fn runs_under_futures_executor() {
    futures::executor::block_on(mixed_workload());
}

#[test]
#[cfg_attr(miri, ignore)]
fn runs_under_tokio_multi_thread() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    runtime.block_on(async { tokio::spawn(mixed_workload()).await.unwrap() });
}

#[test]
#[cfg_attr(miri, ignore)]
fn runs_under_tokio_current_thread() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(mixed_workload());
}

#[test]
#[cfg_attr(miri, ignore)]
fn runs_under_smol() {
    smol::block_on(smol::spawn(mixed_workload()));
}

#[test]
#[cfg_attr(miri, ignore)]
fn runs_under_async_std() {
    async_std::task::block_on(async_std::task::spawn(mixed_workload()));
}

/// The gate's priority converts like `.priority(p)`: any integer for the default `i64`,
/// saturating beyond its range.
#[test]
fn the_gate_priority_takes_any_integer_like_acquire_does() {
    let sem = Arc::new(Semaphore::new(1));
    let held = sem.try_acquire().unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    let mut low = pin!(limited::unordered([async { 1 }], 1).with_semaphore(&sem, u64::MAX));
    assert!(low.as_mut().poll_next(&mut cx).is_pending());
    let mut high =
        pin!(limited::unordered([async { 2 }], 1).with_semaphore_owned(sem.clone(), 3_usize));
    assert!(high.as_mut().poll_next(&mut cx).is_pending());
    drop(held);
    // `3` (from a `usize`) goes before `i64::MAX` (from `u64::MAX`): the low stream gets
    // the permit only once the high one's future has finished with it.
    assert!(low.as_mut().poll_next(&mut cx).is_pending());
    assert!(matches!(
        high.as_mut().poll_next(&mut cx),
        Poll::Ready(Some(Ok(2)))
    ));
    assert!(matches!(
        low.as_mut().poll_next(&mut cx),
        Poll::Ready(Some(Ok(1)))
    ));
    assert!(matches!(
        high.as_mut().poll_next(&mut cx),
        Poll::Ready(None)
    ));
}

#[test]
fn a_gate_is_refused_while_the_stream_runs_and_accepted_once_it_finished() {
    let sem = Semaphore::new(1);
    let mut running = limited::unordered((0..3).map(|_| std::future::pending::<()>()), 2);
    assert!(poll_once(Pin::new(&mut running)).is_pending());
    let refused = catch_unwind(AssertUnwindSafe(|| running.with_semaphore(&sem, 0)));
    assert!(refused.is_err(), "a running stream must not take a gate");

    let mut finished = limited::unordered([1, 2].map(std::future::ready), 2);
    let outputs: Vec<i32> = futures::executor::block_on((&mut finished).collect());
    assert_eq!(outputs.len(), 2);
    let mut gated = finished.with_semaphore(&sem, 0);
    assert!(futures::executor::block_on(gated.next()).is_none());
    assert_eq!(sem.available_permits(), 1);
}
