//! Variants of prio-semaphore's own internals, measured beside it in groups f and g: other
//! locks for the wait list (any [`RawLock`] slots in: `PrioSemaphore<PlainSpin>`), other spins before a blocked thread
//! parks, and the request boxed (with tokio's, boxed the same way, and padded to
//! prio-semaphore's size with `overtake-limit`), so a candidate change is judged in the same paired rounds as
//! the current code.

use std::cell::Cell;
use std::future::Future;
use std::hint::spin_loop;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use prio_semaphore::{RawLock, Semaphore};

use crate::peers::{NamedLock, Peer};

/// A test-and-test-and-set lock that spins with `spin_loop` only, never yielding:
/// `SpinLock` as it was before it learnt to back off and yield (and as it still is without
/// `std`).
pub struct PlainSpin(AtomicBool);

// SAFETY: the closure runs only after winning the `false -> true` exchange (Acquire) and
// the guard stores `false` (Release) when it returns or unwinds: closures never overlap
// and each happens-after the previous; a nested call spins forever (a deadlock).
unsafe impl RawLock for PlainSpin {
    #[allow(
        clippy::declare_interior_mutable_const,
        reason = "`RawLock::INIT` is a fresh lock per use, by design"
    )]
    const INIT: Self = Self(AtomicBool::new(false));

    #[inline]
    fn with_lock<R>(&self, f: impl FnOnce() -> R) -> R {
        while self
            .0
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            while self.0.load(Ordering::Relaxed) {
                spin_loop();
            }
        }
        let _unlock = Unlock(&self.0);
        f()
    }
}

impl NamedLock for PlainSpin {
    const NAME: &'static str = "prio-semaphore (plain spin lock)";
}

/// Stores `false` on drop (on return or unwind).
struct Unlock<'a>(&'a AtomicBool);

impl Drop for Unlock<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// `std::sync::Mutex<()>` (a futex on Linux: a short spin, then the kernel).
pub struct StdMutex(std::sync::Mutex<()>);

// SAFETY: std's mutex gives mutual exclusion with release/acquire ordering and releases
// on unwind (its guard); a nested lock on the same thread deadlocks or panics.
unsafe impl RawLock for StdMutex {
    #[allow(
        clippy::declare_interior_mutable_const,
        reason = "`RawLock::INIT` is a fresh lock per use, by design"
    )]
    const INIT: Self = Self(std::sync::Mutex::new(()));

    #[inline]
    fn with_lock<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f()
    }
}

impl NamedLock for StdMutex {
    const NAME: &'static str = "prio-semaphore (std mutex lock)";
}

/// prio-semaphore's `wait()` with `SPINS` checks of the wake-up flag before each park
/// instead of its own 100: the executor of `src/blocking.rs` with that number changed.
/// `SPINS = 0` is `wait()` as it was before it spun. Who gets the permit is unchanged: the
/// semaphore grants it; the spin only decides how the granted thread notices.
pub struct PrioSpinThenPark<const SPINS: u32>(Semaphore);

impl<const SPINS: u32> Peer for PrioSpinThenPark<SPINS> {
    const NAME: &'static str = match SPINS {
        0 => "prio-semaphore (wait: park at once)",
        1000 => "prio-semaphore (wait: spin 1000, then park)",
        _ => "prio-semaphore (wait: spin, then park)",
    };
    const PRIORITIES: bool = true;

    fn with_permits(permits: usize) -> Self {
        Self(Semaphore::new(permits))
    }

    #[inline]
    fn try_acquire(&self) -> Option<impl Sized + '_> {
        self.0.try_acquire().ok()
    }

    #[inline]
    fn acquire(&self) -> impl Future<Output = impl Sized + Send + '_> + Send + '_ {
        self.0.acquire()
    }

    #[inline]
    fn acquire_prio(
        &self,
        priority: i64,
    ) -> impl Future<Output = impl Sized + Send + '_> + Send + '_ {
        self.0.acquire().priority(priority)
    }

    #[inline]
    fn acquire_blocking(&self) -> impl Sized + '_ {
        spin_then_park::<SPINS, _>(self.0.acquire())
    }
}

struct ThreadWaker {
    thread: Thread,
    notified: AtomicBool,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.notified.swap(true, Ordering::Release) {
            self.thread.unpark();
        }
    }
}

thread_local! {
    static PARKER: Cell<Option<Arc<ThreadWaker>>> = const { Cell::new(None) };
}

/// `src/blocking.rs`'s `block_on` with `SPINS` looks before each park.
fn spin_then_park<const SPINS: u32, F: Future>(future: F) -> F::Output {
    let parker = PARKER.take().unwrap_or_else(|| {
        Arc::new(ThreadWaker {
            thread: thread::current(),
            notified: AtomicBool::new(false),
        })
    });
    let waker = Waker::from(Arc::clone(&parker));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    let output = loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            break output;
        }
        let mut spins = 0;
        while spins < SPINS && !parker.notified.load(Ordering::Relaxed) {
            spin_loop();
            spins += 1;
        }
        while !parker.notified.swap(false, Ordering::Acquire) {
            thread::park();
        }
    };
    drop(waker);
    PARKER.set(Some(parker));
    output
}

/// prio-semaphore with its request boxed (one allocation per acquire), which shrinks a
/// task that holds it from 160 bytes to well under 128: group f measures what the size of the
/// spawned future costs on tokio's multi-thread runtime, which moves it while spawning.
pub struct PrioBoxed(Semaphore);

impl Peer for PrioBoxed {
    const NAME: &'static str = "prio-semaphore (boxed acquire)";
    const PRIORITIES: bool = true;

    fn with_permits(permits: usize) -> Self {
        Self(Semaphore::new(permits))
    }

    #[inline]
    fn try_acquire(&self) -> Option<impl Sized + '_> {
        self.0.try_acquire().ok()
    }

    #[inline]
    fn acquire(&self) -> impl Future<Output = impl Sized + Send + '_> + Send + '_ {
        Box::pin(self.0.acquire())
    }

    #[inline]
    fn acquire_prio(
        &self,
        priority: i64,
    ) -> impl Future<Output = impl Sized + Send + '_> + Send + '_ {
        Box::pin(self.0.acquire().priority(priority))
    }
}

/// tokio's semaphore with its request boxed, the same change for comparison.
pub struct TokioBoxed(tokio::sync::Semaphore);

impl Peer for TokioBoxed {
    const NAME: &'static str = "tokio (boxed acquire)";

    fn with_permits(permits: usize) -> Self {
        Self(tokio::sync::Semaphore::new(permits))
    }

    #[inline]
    fn try_acquire(&self) -> Option<impl Sized + '_> {
        self.0.try_acquire().ok()
    }

    #[inline]
    fn acquire(&self) -> impl Future<Output = impl Sized + Send + '_> + Send + '_ {
        Box::pin(self.0.acquire())
    }

    #[inline]
    fn acquire_prio(
        &self,
        _priority: i64,
    ) -> impl Future<Output = impl Sized + Send + '_> + Send + '_ {
        Box::pin(self.0.acquire())
    }
}

/// tokio's semaphore with its request padded to 104 bytes, prio-semaphore's size with
/// feature `overtake-limit` (88 without, as tokio's): the same code, only a bigger future
/// in every task, to show what the size alone costs.
pub struct TokioPadded(tokio::sync::Semaphore);

/// tokio's request (88 bytes) plus this much is prio-semaphore's with `overtake-limit`
/// (104 bytes).
const TO_PRIO_SIZE: usize = 16;

pin_project_lite::pin_project! {
    /// `F` with [`TO_PRIO_SIZE`] bytes beside it, so that a task holding it grows by that
    /// much.
    pub struct Padded<F> {
        #[pin]
        inner: F,
        pad: [u8; TO_PRIO_SIZE],
    }
}

impl<F: Future> Future for Padded<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // The padding is never read: it only has to be there, in every task that holds
        // the request, as prio-semaphore's larger request is.
        self.project().inner.poll(cx)
    }
}

impl Peer for TokioPadded {
    const NAME: &'static str = "tokio (request padded to 104 bytes)";

    fn with_permits(permits: usize) -> Self {
        Self(tokio::sync::Semaphore::new(permits))
    }

    #[inline]
    fn try_acquire(&self) -> Option<impl Sized + '_> {
        self.0.try_acquire().ok()
    }

    #[inline]
    fn acquire(&self) -> impl Future<Output = impl Sized + Send + '_> + Send + '_ {
        Padded {
            inner: self.0.acquire(),
            pad: [0; TO_PRIO_SIZE],
        }
    }

    #[inline]
    fn acquire_prio(
        &self,
        _priority: i64,
    ) -> impl Future<Output = impl Sized + Send + '_> + Send + '_ {
        self.acquire()
    }
}
