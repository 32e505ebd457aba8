//! `limited::unordered` when user code panics: the input (an iterator or a stream), the
//! priority's `Clone`, a future's `poll` or its `Drop`. After the panic is caught, the
//! stream either ends or carries on as its `# Panics` docs say, with every slot and permit
//! given back and never a `Pending` that nothing will wake.
//!
//! Everything is polled by hand with a counting waker, so these tests also run under miri.

use std::cell::Cell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures::stream::{FusedStream, Stream};
use prio_semaphore::{limited, Semaphore};

/// A waker that counts its wake-ups.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

impl CountingWaker {
    fn new() -> (Arc<Self>, Waker) {
        let counter = Arc::new(Self::default());
        (counter.clone(), Waker::from(counter))
    }

    fn wakes(&self) -> usize {
        self.0.load(SeqCst)
    }
}

/// Polls once; `Err` if the poll panicked.
fn poll_catching<S: Stream + ?Sized>(
    stream: Pin<&mut S>,
    waker: &Waker,
) -> std::thread::Result<Poll<Option<S::Item>>> {
    catch_unwind(AssertUnwindSafe(|| {
        stream.poll_next(&mut Context::from_waker(waker))
    }))
}

/// Counts the values of this type dropped so far.
struct DropCounter(Rc<Cell<usize>>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// An input that yields `ok` futures which wait for `release` and then panics on every
/// further call, counting its calls. The futures hold a heap allocation, so that a double
/// drop or a leak shows under miri.
fn waiting_futures_then_panic(
    ok: usize,
    release: Rc<Cell<bool>>,
    calls: Rc<Cell<usize>>,
) -> impl Iterator<Item = impl Future<Output = usize>> {
    (0..).map(move |i| {
        calls.set(calls.get() + 1);
        assert!(i < ok, "the input fails at item {i}");
        let release = release.clone();
        let heap = Box::new(i);
        std::future::poll_fn(move |cx| {
            if release.get() {
                Poll::Ready(*heap)
            } else {
                // Woken below by hand through the stored waker.
                WAKERS.with(|wakers| wakers.borrow_mut().push(cx.waker().clone()));
                Poll::Pending
            }
        })
    })
}

std::thread_local! {
    static WAKERS: std::cell::RefCell<Vec<Waker>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn wake_stored() {
    for waker in WAKERS.with(|wakers| std::mem::take(&mut *wakers.borrow_mut())) {
        waker.wake();
    }
}

#[test]
fn a_panicking_iterator_ends_the_input_and_the_running_futures_finish() {
    let (release, calls) = (Rc::new(Cell::new(false)), Rc::new(Cell::new(0)));
    let input = waiting_futures_then_panic(1, release.clone(), calls.clone());
    let mut stream = pin!(limited::unordered(input, 4));
    let (wakes, waker) = CountingWaker::new();

    assert!(
        poll_catching(stream.as_mut(), &waker).is_err(),
        "the panic propagates"
    );
    assert_eq!((calls.get(), stream.running()), (2, 1));
    // The future that started keeps running, and its completion wakes the stream.
    assert!(matches!(
        poll_catching(stream.as_mut(), &waker),
        Ok(Poll::Pending)
    ));
    release.set(true);
    wake_stored();
    assert!(
        wakes.wakes() > 0,
        "the running future's wake-up reaches the stream's task"
    );
    assert!(matches!(
        poll_catching(stream.as_mut(), &waker),
        Ok(Poll::Ready(Some(0)))
    ));
    // Then the stream ends instead of waiting for an input that panicked.
    assert!(matches!(
        poll_catching(stream.as_mut(), &waker),
        Ok(Poll::Ready(None))
    ));
    assert!(stream.is_terminated());
    assert_eq!(calls.get(), 2, "a panicked input is never called again");
    assert!(matches!(
        poll_catching(stream.as_mut(), &waker),
        Ok(Poll::Ready(None))
    ));
}

#[test]
fn an_iterator_that_panics_first_ends_the_stream_on_the_next_poll() {
    let calls = Rc::new(Cell::new(0));
    let input = waiting_futures_then_panic(0, Rc::default(), calls.clone());
    let mut stream = pin!(limited::unordered(input, 1));
    let (_, waker) = CountingWaker::new();
    assert!(poll_catching(stream.as_mut(), &waker).is_err());
    assert_eq!(stream.running(), 0);
    assert!(matches!(
        poll_catching(stream.as_mut(), &waker),
        Ok(Poll::Ready(None))
    ));
    assert_eq!(calls.get(), 1);
}

/// A stream of ready futures that panics in `poll_next` after `ok` items.
struct PanickingStream {
    ok: usize,
    calls: Rc<Cell<usize>>,
}

impl Stream for PanickingStream {
    type Item = std::future::Ready<usize>;

    fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let calls = self.calls.get();
        self.calls.set(calls + 1);
        assert!(calls < self.ok, "the input stream fails");
        Poll::Ready(Some(std::future::ready(calls)))
    }
}

#[test]
fn a_panicking_input_stream_ends_the_input_and_gives_back_every_permit() {
    let sem = Semaphore::new(3);
    let calls = Rc::new(Cell::new(0));
    let input = PanickingStream {
        ok: 2,
        calls: calls.clone(),
    };
    let mut stream = pin!(limited::unordered_stream(input, 3).with_semaphore(&sem, 5));
    let (_, waker) = CountingWaker::new();
    assert!(poll_catching(stream.as_mut(), &waker).is_err());
    assert_eq!((stream.running(), sem.available_permits()), (2, 1));
    let mut outputs = Vec::new();
    while let Ok(Poll::Ready(Some(output))) = poll_catching(stream.as_mut(), &waker) {
        outputs.push(output.unwrap());
    }
    outputs.sort_unstable();
    assert_eq!(outputs, [0, 1]);
    assert!(stream.is_terminated(), "the stream ended");
    assert_eq!((stream.running(), sem.available_permits()), (0, 3));
    assert_eq!(calls.get(), 3);
}

/// A priority whose `Clone` panics once its shared countdown reaches zero.
#[derive(Debug, Default)]
struct FragilePriority {
    value: i64,
    clones_left: Option<Arc<AtomicUsize>>,
}

impl Clone for FragilePriority {
    fn clone(&self) -> Self {
        if let Some(left) = &self.clones_left {
            let before = left.fetch_sub(1, SeqCst);
            assert!(before > 0, "the priority's clone fails");
        }
        Self {
            value: self.value,
            clones_left: self.clones_left.clone(),
        }
    }
}

impl PartialEq for FragilePriority {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl Eq for FragilePriority {}

impl PartialOrd for FragilePriority {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for FragilePriority {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value.cmp(&other.value)
    }
}

/// A priority that may be cloned `clones` times.
fn fragile(clones: usize) -> FragilePriority {
    FragilePriority {
        value: 1,
        clones_left: Some(Arc::new(AtomicUsize::new(clones))),
    }
}

#[test]
fn a_panicking_priority_clone_ends_the_input_and_drops_the_pulled_future() {
    let sem: Semaphore<FragilePriority> = Semaphore::new_generic(4);
    let dropped = Rc::new(Cell::new(0));
    let pulled = Rc::new(Cell::new(0));
    let futures = (0..10).map(|i| {
        pulled.set(pulled.get() + 1);
        let guard = DropCounter(dropped.clone());
        async move {
            let _guard = guard;
            i
        }
    });
    let priority = fragile(1);
    let mut stream = pin!(limited::unordered(futures, 3).with_semaphore(&sem, priority));
    let (_, waker) = CountingWaker::new();
    assert!(poll_catching(stream.as_mut(), &waker).is_err());
    assert_eq!((pulled.get(), stream.running()), (2, 1));
    assert_eq!(sem.available_permits(), 3);

    assert!(matches!(
        poll_catching(stream.as_mut(), &waker),
        Ok(Poll::Ready(Some(Ok(0))))
    ));
    assert_eq!(
        dropped.get(),
        2,
        "the future pulled for the failed request is dropped"
    );
    assert!(matches!(
        poll_catching(stream.as_mut(), &waker),
        Ok(Poll::Ready(None))
    ));
    assert_eq!(pulled.get(), 2, "the input is not pulled again");
    assert_eq!((stream.running(), sem.available_permits()), (0, 4));
}

#[test]
fn a_panicking_priority_clone_in_owned_mode_ends_the_stream() {
    let sem: Arc<Semaphore<FragilePriority>> = Arc::new(Semaphore::new_generic(2));
    let futures = (0..5).map(std::future::ready);
    let mut stream =
        pin!(limited::unordered(futures, 2).with_semaphore_owned(sem.clone(), fragile(0)));
    let (_, waker) = CountingWaker::new();
    assert!(poll_catching(stream.as_mut(), &waker).is_err());
    assert!(matches!(
        poll_catching(stream.as_mut(), &waker),
        Ok(Poll::Ready(None))
    ));
    assert_eq!(sem.available_permits(), 2);
}

/// A future that completes with `output` at once and panics when dropped afterwards.
struct PanicsWhenDropped<T> {
    output: Option<T>,
    heap: Box<u8>,
}

impl<T: Unpin> Future for PanicsWhenDropped<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<T> {
        Poll::Ready(self.output.take().expect("polled after completion"))
    }
}

impl<T> Drop for PanicsWhenDropped<T> {
    fn drop(&mut self) {
        if self.output.is_none() {
            panic!("the future's drop fails ({})", self.heap);
        }
    }
}

#[test]
fn a_future_whose_drop_panics_on_completion_frees_its_slot_and_permit() {
    let sem = Semaphore::new(1);
    let outputs_dropped = Rc::new(Cell::new(0));
    let futures = (0..3u8).map(|i| {
        let output = (i, DropCounter(outputs_dropped.clone()));
        let fut: Pin<Box<dyn Future<Output = _>>> = if i == 0 {
            Box::pin(PanicsWhenDropped {
                output: Some(output),
                heap: Box::new(i),
            })
        } else {
            Box::pin(std::future::ready(output))
        };
        fut
    });
    let mut stream = pin!(limited::unordered(futures, 1).with_semaphore(&sem, 0));
    let (_, waker) = CountingWaker::new();
    assert!(poll_catching(stream.as_mut(), &waker).is_err());
    assert_eq!(stream.running(), 0, "the slot is free");
    assert_eq!(sem.available_permits(), 1, "the permit is back");
    assert_eq!(
        outputs_dropped.get(),
        1,
        "the lost output is dropped, not leaked"
    );

    // The stream carries on with the rest of the input.
    let mut rest = Vec::new();
    loop {
        match poll_catching(stream.as_mut(), &waker) {
            Ok(Poll::Ready(Some(output))) => rest.push(output.unwrap().0),
            Ok(Poll::Ready(None)) => break,
            other => panic!("every other future is ready at once: {:?}", other.is_ok()),
        }
    }
    assert_eq!(rest, [1, 2]);
    assert_eq!(sem.available_permits(), 1);
    assert_eq!(outputs_dropped.get(), 1 + 2);
}

#[test]
fn a_future_whose_drop_panics_in_a_plain_stream_lets_the_stream_end() {
    let futures = (0..2u8).map(|i| PanicsWhenDropped {
        output: Some(i),
        heap: Box::new(i),
    });
    let mut stream = pin!(limited::unordered(futures, 4));
    let (_, waker) = CountingWaker::new();
    let mut panics = 0;
    loop {
        match poll_catching(stream.as_mut(), &waker) {
            Err(_) => panics += 1,
            Ok(Poll::Ready(None)) => break,
            Ok(other) => panic!("every output is lost to its future's drop: {other:?}"),
        }
        assert!(panics <= 2, "the stream ends");
    }
    assert_eq!((panics, stream.running()), (2, 0));
}

#[test]
fn a_future_that_panics_when_polled_is_dropped_once_and_its_permit_released() {
    let sem = Semaphore::new(2);
    let heap_live = Rc::new(Cell::new(0));
    let futures = (0..2).map(|i| {
        let guard = DropCounter(heap_live.clone());
        async move {
            let _guard = guard;
            assert!(i != 0, "future {i} fails");
            i
        }
    });
    let mut stream = pin!(limited::unordered(futures, 2).with_semaphore(&sem, 0));
    let (_, waker) = CountingWaker::new();
    let mut outputs = Vec::new();
    let mut panics = 0;
    loop {
        match poll_catching(stream.as_mut(), &waker) {
            Err(_) => panics += 1,
            Ok(Poll::Ready(Some(output))) => outputs.push(output.unwrap()),
            Ok(Poll::Ready(None)) => break,
            Ok(Poll::Pending) => panic!("every future is ready at once"),
        }
    }
    assert_eq!((outputs, panics), (vec![1], 1));
    assert_eq!(heap_live.get(), 2, "each future dropped exactly once");
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn dropping_the_stream_when_a_futures_drop_panics_releases_every_permit() {
    let sem = Semaphore::new(3);
    let dropped = Rc::new(Cell::new(0));
    let futures = (0..3).map(|i| {
        let guard = DropCounter(dropped.clone());
        async move {
            let _guard = guard;
            // Only the first future panics when dropped: a second panic would abort.
            let _panics_when_dropped = (i == 0).then(|| PanicsWhenDropped {
                output: None::<u8>,
                heap: Box::new(i),
            });
            std::future::pending::<()>().await;
        }
    });
    let mut stream = Box::pin(limited::unordered(futures, 3).with_semaphore(&sem, 0));
    let (_, waker) = CountingWaker::new();
    assert!(matches!(
        poll_catching(stream.as_mut(), &waker),
        Ok(Poll::Pending)
    ));
    assert_eq!(sem.available_permits(), 0);
    assert!(catch_unwind(AssertUnwindSafe(|| drop(stream))).is_err());
    assert_eq!(dropped.get(), 3, "every future is dropped");
    assert_eq!(sem.available_permits(), 3);
}

/// A priority whose `Ord` panics when it meets [`Touchy::POISON`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Touchy(i64);

impl Touchy {
    const POISON: i64 = -1;
}

impl PartialOrd for Touchy {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Touchy {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        assert!(
            self.0 != Self::POISON && other.0 != Self::POISON,
            "the priority's comparison fails"
        );
        self.0.cmp(&other.0)
    }
}

#[test]
fn a_panicking_priority_comparison_ends_the_input_and_leaves_the_line() {
    let sem: Semaphore<Touchy> = Semaphore::new_generic(1);
    let held = sem.try_acquire().unwrap();
    let (_, waker) = CountingWaker::new();
    let mut cx = Context::from_waker(&waker);
    let mut other = pin!(sem.acquire().priority(Touchy(1)));
    assert!(other.as_mut().poll(&mut cx).is_pending());

    let pulled = Rc::new(Cell::new(0));
    let futures = (0..3).map(|i| {
        pulled.set(pulled.get() + 1);
        std::future::ready(i)
    });
    let stream = limited::unordered(futures, 2).with_semaphore(&sem, Touchy(Touchy::POISON));
    let mut stream = pin!(stream);
    // The stream's request meets the other waiter in the line: the comparison panics.
    assert!(poll_catching(stream.as_mut(), &waker).is_err());
    assert!(matches!(
        poll_catching(stream.as_mut(), &waker),
        Ok(Poll::Ready(None))
    ));
    assert_eq!((pulled.get(), stream.running()), (1, 0));
    assert_eq!(sem.waiter_count(), 1, "only the other waiter is in line");
    drop(held);
    assert!(matches!(other.as_mut().poll(&mut cx), Poll::Ready(Ok(_))));
    assert_eq!(sem.waiter_count(), 0);
}
