//! Helpers shared by the integration tests: wakers that record what happened to them,
//! polling a pinned future once by hand, a runtime-agnostic `yield_now`, and exact-count
//! checks on a semaphore.
//!
//! Every test binary includes this module but uses only part of it.
#![allow(dead_code, reason = "each test binary uses a different part")]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use prio_semaphore::{RawLock, Semaphore};

pub mod counting_alloc;
pub mod hook_waker;

/// Yields to the executor once: wakes its own task, then returns `Pending` a single time.
///
/// Works on any executor (no runtime's `yield_now` needed).
pub fn yield_now() -> impl Future<Output = ()> {
    let mut yielded = false;
    std::future::poll_fn(move |cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
}

/// Yields until `done()` holds, panicking after an absurd number of rounds instead of
/// hanging the test suite if it never does.
pub async fn yield_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..10_000_000u32 {
        if done() {
            return;
        }
        yield_now().await;
    }
    panic!("gave up waiting until {what}");
}

/// A waker that counts how often it was woken.
#[derive(Debug, Default)]
pub struct FlagWaker {
    wakes: AtomicUsize,
}

impl FlagWaker {
    /// A new flag and a [`Waker`] that sets it.
    pub fn new() -> (Arc<Self>, Waker) {
        let flag = Arc::new(Self::default());
        let waker = Waker::from(flag.clone());
        (flag, waker)
    }

    /// How many times the waker was woken so far.
    pub fn wakes(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }

    /// Whether the waker was woken at least once.
    pub fn woken(&self) -> bool {
        self.wakes() > 0
    }
}

impl Wake for FlagWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

/// A waker that panics when woken: a faulty executor, from the semaphore's point of view.
#[derive(Debug)]
pub struct PanickingWaker;

/// The panic message of [`PanickingWaker`].
pub const WAKER_PANIC: &str = "this waker panics when woken";

impl PanickingWaker {
    pub fn waker() -> Waker {
        Waker::from(Arc::new(PanickingWaker))
    }
}

impl Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("{WAKER_PANIC}");
    }
}

/// Polls `fut` once with `waker`.
pub fn poll_with<F: Future + ?Sized>(fut: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(waker))
}

/// Polls `fut` once with a waker that does nothing.
pub fn poll_noop<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    poll_with(fut, Waker::noop())
}

/// Unwraps a `Ready` poll result, panicking with `what` on `Pending`.
#[track_caller]
pub fn expect_ready<T>(poll: Poll<T>, what: &str) -> T {
    match poll {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("{what}: expected Ready, got Pending"),
    }
}

/// The message of a caught panic (`&str` or `String` payloads).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

/// Runs `f`, expects it to panic, and returns the panic message.
#[track_caller]
pub fn expect_panic<R>(f: impl FnOnce() -> R) -> String {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a panic"),
        Err(payload) => panic_message(&*payload),
    }
}

/// Asserts that an idle semaphore (nobody waiting, nobody holding permits) holds exactly
/// `free` permits: the count says so, and exactly that many can be taken, not one more.
///
/// The semaphore is left as it was found.
#[track_caller]
pub fn assert_exact<P, L: RawLock>(sem: &Semaphore<P, L>, free: usize) {
    assert_eq!(sem.waiter_count(), 0, "nobody should be waiting");
    assert_eq!(sem.available_permits(), free, "available permits");
    if sem.is_closed() {
        return;
    }
    let all = sem
        .try_acquire_many(u32::try_from(free).unwrap())
        .expect("every available permit can be taken");
    assert_eq!(all.num_permits(), free);
    assert!(
        sem.try_acquire().is_err(),
        "no permit beyond the {free} counted ones may exist"
    );
    drop(all);
    assert_eq!(
        sem.available_permits(),
        free,
        "taking and giving back is exact"
    );
}

/// Tracks how many holders are inside a region at once, and the most ever seen.
#[derive(Debug, Default)]
pub struct Gauge {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl Gauge {
    /// Enters the region until the returned guard is dropped.
    pub fn enter(&self) -> GaugeGuard<'_> {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        GaugeGuard(self)
    }

    /// The most holders ever inside at once.
    pub fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }

    /// Holders inside right now.
    pub fn now(&self) -> usize {
        self.now.load(Ordering::SeqCst)
    }
}

/// Leaves the [`Gauge`] region when dropped.
#[derive(Debug)]
pub struct GaugeGuard<'a>(&'a Gauge);

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}
