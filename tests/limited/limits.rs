//! `limited::unordered` with extreme limits: memory follows the futures that actually run,
//! not the `limit`, so `usize::MAX` used as "unbounded" costs nothing extra; a limit of one
//! works; zero is refused.
//!
//! The tests' counting global allocator (`crate::common::counting_alloc`) counts the live heap
//! bytes of each thread, so tests running in parallel (and the harness) do not disturb
//! each other's figures.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::common::counting_alloc::measure;
use crate::common::yield_now;
use futures::channel::oneshot;
use futures::stream::{FusedStream, Stream};
use prio_semaphore::{limited, Semaphore};

/// Drives `stream` to its end by hand, polling again whenever it is pending (its futures
/// wake themselves), and returns how many outputs it yielded.
fn drain<S: Stream>(mut stream: Pin<&mut S>) -> usize {
    let mut cx = Context::from_waker(Waker::noop());
    let mut outputs = 0;
    for _ in 0..10_000_000 {
        match stream.as_mut().poll_next(&mut cx) {
            Poll::Ready(Some(_)) => outputs += 1,
            Poll::Ready(None) => return outputs,
            Poll::Pending => {}
        }
    }
    panic!("the stream did not end");
}

/// Futures that yield once (so that they are alive together) and carry `PAYLOAD` bytes.
fn yielding(items: usize) -> impl Iterator<Item = impl std::future::Future<Output = usize>> {
    (0..items).map(|i| async move {
        let payload = [i as u8; PAYLOAD];
        yield_now().await;
        usize::from(payload[i % PAYLOAD])
    })
}

const PAYLOAD: usize = 64;

const HUGE_LIMITS: [usize; 3] = [usize::MAX, 1 << 40, 100_000_000];

#[test]
fn a_huge_limit_on_a_short_input_costs_what_the_input_needs() {
    for limit in HUGE_LIMITS {
        let (outputs, usage) = measure(|| {
            let stream = pin!(limited::unordered(yielding(3), limit));
            drain(stream)
        });
        let peak = usage.peak_bytes;
        assert_eq!(outputs, 3, "limit {limit}");
        println!("limit {limit}, 3 futures: peak of {peak} bytes");
        // Three small futures, their wakers and the bookkeeping: well under a page.
        assert!(peak < 4096, "limit {limit}: peak of {peak} bytes");
    }
}

#[test]
fn a_huge_limit_costs_about_as_much_as_the_exact_one() {
    const RUNNING: usize = if cfg!(miri) { 40 } else { 1_000 };
    let (_, usage) = measure(|| drain(pin!(limited::unordered(yielding(RUNNING), RUNNING))));
    let exact = usage.peak_bytes;
    for limit in HUGE_LIMITS {
        let (outputs, usage) = measure(|| {
            let stream = pin!(limited::unordered(yielding(RUNNING), limit));
            drain(stream)
        });
        let peak = usage.peak_bytes;
        assert_eq!(outputs, RUNNING);
        println!(
            "limit {limit}, {RUNNING} futures: peak of {peak} bytes, {exact} at the exact limit"
        );
        // The slots grow by doubling, so at most about twice what runs at the peak.
        assert!(
            peak <= 2 * exact,
            "limit {limit}: peak of {peak} bytes, {exact} with the exact limit"
        );
    }
}

/// An input stream the test fills by hand: `Pending` (and woken on the next push) while
/// empty, never ending.
struct Feed<F> {
    queue: Rc<RefCell<VecDeque<F>>>,
    waker: Rc<RefCell<Option<Waker>>>,
}

impl<F> Stream for Feed<F> {
    type Item = F;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F>> {
        match self.queue.borrow_mut().pop_front() {
            Some(future) => Poll::Ready(Some(future)),
            None => {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Runs `rounds` rounds of `batch` futures through one stream with `limit`: each round is
/// pushed to the input at once and fully drained before the next. Returns the peak of heap
/// bytes and the number of allocations.
fn rounds(limit: usize, batch: usize, rounds: usize) -> (usize, usize) {
    let ((), usage) = measure(|| {
        let queue = Rc::new(RefCell::new(VecDeque::with_capacity(batch)));
        let waker: Rc<RefCell<Option<Waker>>> = Rc::default();
        let input = Feed {
            queue: queue.clone(),
            waker: waker.clone(),
        };
        let mut stream = pin!(limited::unordered_stream(input, limit));
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..rounds {
            queue.borrow_mut().extend(yielding(batch));
            if let Some(waker) = waker.borrow_mut().take() {
                waker.wake();
            }
            let mut outputs = 0;
            while outputs < batch {
                match stream.as_mut().poll_next(&mut cx) {
                    Poll::Ready(Some(_)) => outputs += 1,
                    Poll::Ready(None) => panic!("the input never ends"),
                    Poll::Pending => {}
                }
                assert!(stream.running() <= batch);
            }
        }
    });
    (usage.peak_bytes, usage.allocations)
}

#[test]
fn memory_follows_the_futures_running_at_once_not_the_input_length() {
    const BATCH: usize = 10;
    let many = if cfg!(miri) { 5 } else { 200 };
    let exact = rounds(BATCH, BATCH, 2);
    for limit in HUGE_LIMITS {
        // Everything is allocated in the first round: later rounds reuse the slots.
        let (few_peak, few_allocations) = rounds(limit, BATCH, 2);
        let (many_peak, many_allocations) = rounds(limit, BATCH, many);
        println!("limit {limit}: {few_peak} bytes, {few_allocations} allocations; exact {exact:?}");
        assert_eq!((many_peak, many_allocations), (few_peak, few_allocations));
        // Room for what runs at once, rounded up to the slot storage's growth steps.
        assert!(
            few_peak <= 2 * exact.0,
            "limit {limit}: {few_peak} vs {exact:?}"
        );
    }
}

#[test]
fn a_huge_limit_with_a_semaphore_takes_only_the_permits_it_uses() {
    for limit in HUGE_LIMITS {
        let sem = Semaphore::new(5);
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..3).map(|_| oneshot::channel::<usize>()).unzip();
        let futures = receivers
            .into_iter()
            .map(|rx| async move { rx.await.unwrap() });
        let mut stream = pin!(limited::unordered(futures, limit).with_semaphore(&sem, 1));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(stream.as_mut().poll_next(&mut cx).is_pending());
        assert_eq!((stream.running(), sem.available_permits()), (3, 2));
        for (i, sender) in senders.into_iter().enumerate() {
            sender.send(i).unwrap();
            assert!(matches!(
                stream.as_mut().poll_next(&mut cx),
                Poll::Ready(Some(Ok(_)))
            ));
        }
        assert!(matches!(
            stream.as_mut().poll_next(&mut cx),
            Poll::Ready(None)
        ));
        assert!(stream.is_terminated());
        assert_eq!(sem.available_permits(), 5);
    }
}

#[test]
fn a_limit_of_one_runs_one_future_at_a_time_and_reuses_its_slot() {
    let items = if cfg!(miri) { 30 } else { 3_000 };
    let run = |items: usize| {
        measure(move || {
            let stream = pin!(limited::unordered(yielding(items), 1));
            drain(stream)
        })
    };
    let (few, few_usage) = run(3);
    let (many, many_usage) = run(items);
    assert_eq!((few, many), (3, items));
    // One slot, allocated once: nothing grows with the number of items.
    assert_eq!(
        (many_usage.peak_bytes, many_usage.allocations),
        (few_usage.peak_bytes, few_usage.allocations)
    );
}

#[test]
#[should_panic(expected = "needs a limit of at least 1")]
fn a_zero_limit_is_refused() {
    let _ = limited::unordered_stream(futures::stream::empty::<std::future::Ready<()>>(), 0);
}
