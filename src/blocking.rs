//! The engine of blocking acquire for plain threads ([`Acquire::wait`](crate::Acquire::wait),
//! [`AcquireOwned::wait`](crate::AcquireOwned::wait), and tokio's names for them,
//! `Semaphore::blocking_acquire` and its variants): a tiny executor that parks the thread.
//!
//! A blocked thread waits with the very same request as an async task: the `Acquire` future
//! and its embedded node, polled by a tiny executor that parks the thread between polls. So
//! threads and tasks share one line, ordered by priority, with the same hand-off,
//! close and counting rules.
//!
//! The primitive is named `wait` and lives on the request futures, so that the priority
//! builder and every acquire variant work unchanged: `sem.acquire().priority(2).wait()`,
//! `sem.acquire_many(3).wait()`, `sem.acquire_owned().wait()`. It is the name std uses for
//! blocking until something happens (`Barrier::wait`, `Condvar::wait`), and that
//! `event-listener` uses for the blocking counterpart of awaiting a listener. tokio's
//! `blocking_acquire`, `blocking_acquire_many`, `blocking_acquire_owned` and
//! `blocking_acquire_many_owned` are thin wrappers of it, so code ported from tokio keeps
//! compiling.
//!
//! The waker unparks the thread and sets a flag, so a spurious unpark (which `park` allows,
//! and which other code may cause) does not cost a poll, and a wake-up that arrives before
//! the thread parks is not lost (it leaves the flag set, and `unpark`'s token). Before it
//! parks, the thread watches the flag for a moment (`spin_before_park`), which saves the
//! park and the unpark when the wake-up is imminent. The waker is an `Arc` kept per
//! thread, so blocking allocates nothing after a thread's first wait.

use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

// Parking, the flag and the waker cache go through the sync facade: loom's under loom, so
// the loom models check `wait()` itself.
use crate::loom::thread::{self, Thread};
use crate::loom::{AtomicBool, Ordering};

/// Wakes a parked thread.
struct ThreadWaker {
    thread: Thread,
    /// Set by a wake-up, consumed by the waiting thread before it polls again.
    notified: AtomicBool,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Release: the waiting thread, which swaps the flag with Acquire, then sees everything
        // the waker saw. The thread needs unparking only for the first wake-up in a row.
        if !self.notified.swap(true, Ordering::Release) {
            self.thread.unpark();
        }
    }
}

crate::loom::const_thread_local! {
    /// This thread's waker, between waits. Taken out while a wait runs, so a wait nested in
    /// another (from a priority's `Ord`, say) gets a waker of its own and steals no wake-up.
    static WAKER: Cell<Option<Arc<ThreadWaker>>> = const { Cell::new(None) };
}

/// Polls `future` to completion on this thread, parking it while the future is pending.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let parked = || {
        thread::park();
        true
    };
    run(future, parked).expect("waits without a deadline never give up")
}

/// Polls `future` on this thread until it completes or `deadline` passes, parking it with
/// a timeout while the future is pending; `None` if the deadline passed first. The future
/// is polled once more after the deadline (a wake-up that came as the time ran out is
/// taken, not handed on) and is dropped before this returns, so a request gives up its
/// place (or passes on permits handed to it) at once.
#[cfg(not(loom))]
pub(crate) fn block_on_until<F: Future>(
    future: F,
    deadline: std::time::Instant,
) -> Option<F::Output> {
    let parked = || {
        let now = std::time::Instant::now();
        if now >= deadline {
            return false;
        }
        thread::park_timeout(deadline - now);
        true
    };
    run(future, parked)
}

/// The executor: polls, and between polls `park`s until woken; `park` returns `false`
/// when the wait should end (its deadline passed), and the future then gets one last poll.
fn run<F: Future>(future: F, mut park: impl FnMut() -> bool) -> Option<F::Output> {
    let parker = WAKER
        .try_with(Cell::take)
        .ok()
        .flatten()
        .unwrap_or_else(|| {
            Arc::new(ThreadWaker {
                thread: thread::current(),
                notified: AtomicBool::new(false),
            })
        });
    let waker = Waker::from(Arc::clone(&parker));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    let output = 'wait: loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            break Some(output);
        }
        spin_before_park(&parker.notified);
        while !parker.notified.swap(false, Ordering::Acquire) {
            if !park() {
                break 'wait match future.as_mut().poll(&mut cx) {
                    Poll::Ready(output) => Some(output),
                    Poll::Pending => None,
                };
            }
        }
    };
    drop(waker);
    // A wake-up left over from this wait only costs the next wait one extra poll.
    let _ = WAKER.try_with(|slot| slot.set(Some(parker)));
    output
}

/// Checks of the wake-up flag before a waiting thread parks: about 2.4 µs on the AMD EPYC
/// the benchmarks ran on (`spin_loop` is a `pause` of about 24 ns there; shorter on many
/// other CPUs), less than the context switch it saves. 1,000 (25 µs there) also avoided
/// the convoys that 100 still fell into with 2 threads on a busy machine, but spins longer
/// than a context switch lasts, and was no better with 4 or 8 threads
/// (`docs/benchmarks.md`, group g).
#[cfg(not(loom))]
const SPINS_BEFORE_PARK: u32 = 100;

/// Watches `notified` for a moment before the thread parks. When the wake-up comes within
/// that moment (the releaser was running as the thread queued), it skips the park and the
/// unpark: with blocking threads outnumbering cores that turned a hand-off costing a
/// context switch into one that mostly costs none (`docs/benchmarks.md`, group g). Who gets
/// the permit does not change: the semaphore has granted it before the flag is set; this
/// only changes how soon the granted thread notices.
///
/// Not under loom, where every look would be one more interleaving to explore.
#[inline]
fn spin_before_park(notified: &AtomicBool) {
    #[cfg(not(loom))]
    for _ in 0..SPINS_BEFORE_PARK {
        if notified.load(Ordering::Relaxed) {
            return;
        }
        core::hint::spin_loop();
    }
    #[cfg(loom)]
    let _ = notified;
}
