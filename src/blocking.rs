//! Blocking acquire for plain threads: [`Acquire::wait`] and [`AcquireOwned::wait`], and
//! tokio's names for them, `Semaphore::blocking_acquire` and its variants.
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
//! the thread parks is not lost (it leaves the flag set, and `unpark`'s token). The waker is
//! an `Arc` kept per thread, so blocking allocates nothing after a thread's first wait.

use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use crate::acquire::Acquire;
use crate::error::AcquireError;
use crate::lock::RawLock;
// Parking, the flag and the waker cache go through the sync facade: loom's under loom, so
// the loom models check `wait()` itself.
use crate::loom::thread::{self, Thread};
use crate::loom::{AtomicBool, Ordering};
use crate::owned::{AcquireOwned, OwnedPermit};
use crate::permit::Permit;
use crate::semaphore::Semaphore;

/// tokio's names for blocking acquire: `sem.blocking_acquire()` is
/// `sem.acquire().wait()`, and so on. They wait at the ambient priority (see
/// [`priority_scope`](crate::priority_scope)), else `P::default()`; for an explicit priority
/// use `sem.acquire().priority(p).wait()`.
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
impl<P, L: RawLock> Semaphore<P, L>
where
    P: Ord + Default + Clone + 'static,
{
    /// Blocks the current thread until a permit is acquired, or the semaphore is closed.
    ///
    /// tokio's name for `self.acquire().wait()` (see [`Acquire::wait`]), so ported
    /// synchronous code keeps compiling. The thread waits in the same line as async
    /// waiters, at the ambient priority (see [`priority_scope`](crate::priority_scope)),
    /// else `P::default()`; for an explicit priority write
    /// `sem.acquire().priority(p).wait()`.
    ///
    /// Do not call it from async code: it blocks the executor's thread (tokio's version
    /// panics there; this one cannot tell, and may deadlock a single-threaded executor).
    ///
    /// # Cancellation
    ///
    /// It cannot be cancelled: it returns once the permit is acquired or the semaphore is
    /// closed.
    ///
    /// # Panics
    ///
    /// If the priority type's `Ord` or `Clone` panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::thread;
    /// use prio_semaphore::Semaphore;
    ///
    /// let sem = Arc::new(Semaphore::new(1));
    /// let worker = thread::spawn({
    ///     let sem = sem.clone();
    ///     move || {
    ///         let _permit = sem.blocking_acquire().unwrap();
    ///         // ... blocking work while holding the permit ...
    ///     }
    /// });
    /// worker.join().unwrap();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn blocking_acquire(&self) -> Result<Permit<'_, P, L>, AcquireError> {
        self.acquire().wait()
    }

    /// Blocks the current thread until `n` permits are acquired, or the semaphore is closed.
    ///
    /// tokio's name for `self.acquire_many(n).wait()`; otherwise as
    /// [`blocking_acquire`](Semaphore::blocking_acquire). A request for more than
    /// [`MAX_PERMITS`](crate::MAX_PERMITS) returns
    /// [`AcquireError::is_too_many_permits`] at once (tokio panics).
    ///
    /// # Panics
    ///
    /// If the priority type's `Ord` or `Clone` panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::Semaphore;
    ///
    /// let sem = Semaphore::new(5);
    /// let permit = sem.blocking_acquire_many(3).unwrap();
    /// assert_eq!(sem.available_permits(), 2);
    /// assert!(sem.blocking_acquire_many(u32::MAX).unwrap_err().is_too_many_permits());
    /// # drop(permit);
    /// ```
    pub fn blocking_acquire_many(&self, n: u32) -> Result<Permit<'_, P, L>, AcquireError> {
        self.acquire_many(n).wait()
    }

    /// Blocks the current thread until a permit is acquired through an `Arc`, or the
    /// semaphore is closed.
    ///
    /// tokio's name for `self.acquire_owned().wait()`; otherwise as
    /// [`blocking_acquire`](Semaphore::blocking_acquire).
    ///
    /// # Panics
    ///
    /// If the priority type's `Ord` or `Clone` panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::Semaphore;
    ///
    /// let sem = Arc::new(Semaphore::new(1));
    /// let permit = sem.clone().blocking_acquire_owned().unwrap();
    /// let worker = std::thread::spawn(move || drop(permit)); // the permit moves freely
    /// worker.join().unwrap();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn blocking_acquire_owned(self: Arc<Self>) -> Result<OwnedPermit<P, L>, AcquireError> {
        self.acquire_owned().wait()
    }

    /// Blocks the current thread until `n` permits are acquired through an `Arc`, or the
    /// semaphore is closed.
    ///
    /// tokio's name for `self.acquire_many_owned(n).wait()`; otherwise as
    /// [`blocking_acquire_many`](Semaphore::blocking_acquire_many).
    ///
    /// # Panics
    ///
    /// If the priority type's `Ord` or `Clone` panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::Semaphore;
    ///
    /// let sem = Arc::new(Semaphore::new(4));
    /// let permit = sem.clone().blocking_acquire_many_owned(3).unwrap();
    /// assert_eq!((permit.num_permits(), sem.available_permits()), (3, 1));
    /// sem.close();
    /// assert!(sem.blocking_acquire_many_owned(1).unwrap_err().is_closed());
    /// ```
    pub fn blocking_acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> Result<OwnedPermit<P, L>, AcquireError> {
        self.acquire_many_owned(n).wait()
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
impl<'a, P: Ord, L: RawLock> Acquire<'a, P, L> {
    /// Blocks the current thread until the permits are acquired, or the semaphore is closed.
    ///
    /// The blocking counterpart of `.await`: the request waits in the same line as async
    /// waiters, served by the same priority rules (including an ambient priority from an
    /// enclosing [`priority_scope`](crate::priority_scope)), and the thread is parked while
    /// it waits.
    ///
    /// Do not call it from async code: it blocks the executor's thread, and on a
    /// single-threaded executor the permit can then never be released. Use `.await` there.
    ///
    /// # Cancellation
    ///
    /// It cannot be cancelled: it returns only once the permits are acquired or the semaphore
    /// is closed. A thread that must give up after a while should await the request under
    /// an async runtime's timeout instead.
    ///
    /// # Panics
    ///
    /// If the priority type's `Ord` or `Clone` panics, as `.await` would.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::thread;
    /// use prio_semaphore::Semaphore;
    ///
    /// let sem = Arc::new(Semaphore::new(1));
    /// let held = sem.try_acquire().unwrap();
    /// let worker = thread::spawn({
    ///     let sem = sem.clone();
    ///     move || {
    ///         let permit = sem.acquire().priority(2).wait().unwrap();
    ///         permit.num_permits()
    ///     }
    /// });
    /// # while sem.waiter_count() == 0 { thread::yield_now(); }
    /// drop(held); // hands the permit to the blocked thread
    /// assert_eq!(worker.join().unwrap(), 1);
    /// ```
    pub fn wait(self) -> Result<Permit<'a, P, L>, AcquireError> {
        block_on(self)
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
impl<P: Ord, L: RawLock> AcquireOwned<P, L> {
    /// Blocks the current thread until the permits are acquired, or the semaphore is closed.
    ///
    /// The owned counterpart of [`Acquire::wait`]; see there.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::Semaphore;
    ///
    /// let sem = Arc::new(Semaphore::new(2));
    /// let permit = sem.clone().acquire_many_owned(2).wait().unwrap();
    /// sem.close();
    /// assert!(sem.clone().acquire_owned().wait().unwrap_err().is_closed());
    /// drop(permit);
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    pub fn wait(self) -> Result<OwnedPermit<P, L>, AcquireError> {
        block_on(self)
    }
}

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
fn block_on<F: Future>(future: F) -> F::Output {
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
    let output = loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            break output;
        }
        while !parker.notified.swap(false, Ordering::Acquire) {
            thread::park();
        }
    };
    drop(waker);
    // A wake-up left over from this wait only costs the next wait one extra poll.
    let _ = WAKER.try_with(|slot| slot.set(Some(parker)));
    output
}
