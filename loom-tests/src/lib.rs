//! Exhaustive loom models of `prio-semaphore` live in `tests/`; this library holds the
//! helpers they share.
//!
//! Run them with
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!     cargo test -p loom-tests --release
//! ```
//!
//! (a quick run, about 13 s of model time; CI, `.ci/proofs.sh`, uses a bound of 3, about
//! ten times as many executions).
//!
//! Under `--cfg loom` the crate's sync facade swaps in loom's atomics, cells, thread parking
//! and thread-locals, and shrinks the wake batch to 2, so these models check the real wait
//! list and hand-off code, including the "batch full, unlock, wake, re-lock" path, the
//! blocking `wait()`, owned permits, the lock-free ready queue of `limited`, the fair
//! layer's flow table against the line (`tests/fair.rs`) and the share dispatcher against
//! the class lines (`tests/share.rs`) (the crate is built with `std`, so all of them are
//! compiled in).
//!
//! `std::sync::Arc` (owned permits, `limited`'s wakers) stays std's under loom: the owned
//! API takes `self: Arc<Self>`, which only std's `Arc` allows, and its reference counting is
//! std's, not ours to check. Everything the crate synchronises itself goes through the
//! facade.
#![cfg(loom)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// Explores every interleaving of `body` with at most two preemptions per execution
/// (unless `LOOM_MAX_PREEMPTIONS` says otherwise): bugs in code like this need few
/// preemptions to show, and the bound keeps each model to seconds.
///
/// Prints how many executions it explored (shown with `--nocapture`), so a model that
/// silently stopped exploring (one execution) is easy to spot.
pub fn model(body: impl Fn() + Send + Sync + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    let executions = Arc::new(AtomicUsize::new(0));
    let counter = executions.clone();
    builder.check(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        body();
    });
    eprintln!(
        "loom explored {} executions",
        executions.load(Ordering::Relaxed)
    );
}

/// A waker that counts its wake-ups, for futures polled by hand on the model's main thread.
///
/// The count is a plain std atomic: loom runs one thread at a time, and the count is only
/// read to check that a granted waiter was woken, not to synchronise anything, so keeping
/// it out of loom's view keeps the state space small.
#[derive(Debug, Default)]
pub struct WakeCounter(AtomicUsize);

impl WakeCounter {
    /// A new counter and a waker that bumps it.
    pub fn new() -> (Arc<Self>, Waker) {
        let counter = Arc::new(Self::default());
        let waker = Waker::from(counter.clone());
        (counter, waker)
    }

    /// How many times the waker (or a clone of it) was woken.
    pub fn wakes(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Wake for WakeCounter {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A future polled by hand: the pinned future, its latest result, and its wake-up counter.
pub struct Polled<F: Future> {
    fut: Pin<Box<F>>,
    counter: Arc<WakeCounter>,
    waker: Waker,
    output: Option<F::Output>,
}

impl<F: Future> Polled<F> {
    /// Pins `fut` and polls it once.
    pub fn start(fut: F) -> Self {
        let (counter, waker) = WakeCounter::new();
        let mut this = Self {
            fut: Box::pin(fut),
            counter,
            waker,
            output: None,
        };
        this.poll();
        this
    }

    /// Polls again unless it already completed; returns whether it has completed.
    pub fn poll(&mut self) -> bool {
        if self.output.is_none() {
            let mut cx = Context::from_waker(&self.waker);
            if let Poll::Ready(out) = self.fut.as_mut().poll(&mut cx) {
                self.output = Some(out);
            }
        }
        self.output.is_some()
    }

    /// Whether it has completed (as of its last poll).
    pub fn is_ready(&self) -> bool {
        self.output.is_some()
    }

    /// How many times it was woken.
    pub fn wakes(&self) -> usize {
        self.counter.wakes()
    }

    /// Its output; panics if it has not completed.
    pub fn output(self) -> F::Output {
        self.output.expect("future has not completed")
    }
}

/// An event other model threads set, possibly several times. Every `set` wakes the waker
/// last registered, without taking it (unlike `AtomicWaker`, which wakes a waker once), so
/// two `set`s before the next poll wake the same waker twice: the waker under test must
/// cope with repeated wake-ups. Register-then-check under a lock, so the event itself never
/// loses a wake-up, and a model that hangs points at the code under test.
#[derive(Debug)]
pub struct Signal {
    /// How many times it was set.
    count: loom::sync::atomic::AtomicUsize,
    waker: loom::sync::Mutex<Option<Waker>>,
}

impl Signal {
    /// A signal not yet set, shared.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            count: loom::sync::atomic::AtomicUsize::new(0),
            waker: loom::sync::Mutex::new(None),
        })
    }

    /// Sets it (once more) and wakes the future waiting for it.
    pub fn set(&self) {
        self.count
            .fetch_add(1, loom::sync::atomic::Ordering::SeqCst);
        let waker = self.waker.lock().unwrap().clone();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Completes once the signal has been set `times` times; counts its polls in `polls`.
    pub async fn wait(self: Arc<Self>, times: usize, polls: Arc<AtomicUsize>) {
        std::future::poll_fn(|cx| {
            polls.fetch_add(1, Ordering::SeqCst);
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            if self.count.load(loom::sync::atomic::Ordering::SeqCst) >= times {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }
}
