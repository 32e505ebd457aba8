//! The public [`Semaphore`].

use crate::acquire::Acquire;
use crate::error::TryAcquireError;
use crate::lock::{RawLock, SpinLock};
use crate::permit::Permit;
use crate::raw::{const_unless_loom, RawSemaphore, MAX_PERMITS};

/// An async counting semaphore whose waiters are served by priority.
///
/// `P` is the priority type: smaller values are served first, equal values in arrival
/// order. It defaults to `i64`, so integer priorities work out of the box, and a plain
/// [`acquire`](Semaphore::acquire) uses `P::default()` (`0`). Any [`Ord`] type works:
/// your own enum, a tuple, [`core::cmp::Reverse`] to serve larger values first, or
/// [`FloatPriority`](crate::FloatPriority) for `f64`. `L` is the lock that guards the wait
/// list; the default [`SpinLock`] suits threads and executors (see [`RawLock`] for interrupt
/// handlers).
///
/// The API follows `tokio::sync::Semaphore`: code that uses tokio's semaphore compiles
/// unchanged against this one, and behaves the same while it sets no priorities.
///
/// # Fairness
///
/// * Waiters are served by priority, then arrival: the queue is never reordered.
/// * **No barging:** [`try_acquire`](Semaphore::try_acquire) and a fresh `acquire` never take
///   permits while a waiter is queued that would be served first. A waiter at the front that
///   needs more permits than are free collects them as they are released, and the waiters
///   behind it wait, so a large request is not starved by later small ones of the same or a
///   lower priority.
/// * **No priority inversion:** permits collected by a waiting large request are taken back
///   and handed to a more urgent request that arrives later.
/// * Strict priority can starve low priorities under a constant stream of urgent work;
///   that is the contract, as in any priority queue.
///
/// # Priorities that misbehave
///
/// It is a logic error for a priority's [`Ord`] to answer inconsistently: to disagree with
/// itself, to change its answer while the request waits (a priority read through a cell
/// that another thread changes, say), or to panic. As with the keys of
/// [`BTreeMap`](https://doc.rust-lang.org/std/collections/struct.BTreeMap.html), the
/// behaviour that results is not specified, but it is confined to the order of service:
/// it will not be undefined behaviour, and no waiter, permit or wake-up is lost. Every
/// queued request is still served once enough permits are free; cancellation, `close` and
/// the counts stay exact. An `Ord` that panics fails the request being queued (its poll
/// panics, and it is not queued), and leaves the rest of the line as it was.
///
/// `Ord` is the only user code that runs while the semaphore's lock is held (wakers are
/// cloned, woken and dropped outside it), so it must not use the semaphore it orders. With
/// the `std` feature and the default [`SpinLock`], or with `CriticalSectionLock`, doing so
/// panics with a message that says so; without `std`, the default spin lock has no way to
/// tell the holder from another thread and deadlocks instead.
///
/// # Examples
///
/// ```
/// use prio_semaphore::Semaphore;
///
/// # futures::executor::block_on(async {
/// let sem = Semaphore::new(2);
/// let a = sem.acquire().await.unwrap(); // plain, like tokio
/// let b = sem.acquire().priority(-5).await.unwrap(); // served before priority 0
/// assert_eq!(sem.available_permits(), 0);
/// assert!(sem.try_acquire().is_err());
/// drop((a, b));
/// assert_eq!(sem.available_permits(), 2);
/// # });
/// ```
///
/// A `static` semaphore (`new` is a `const fn`):
///
/// ```
/// use prio_semaphore::Semaphore;
///
/// static DB_CONNECTIONS: Semaphore = Semaphore::new(10);
/// assert_eq!(DB_CONNECTIONS.available_permits(), 10);
/// ```
pub struct Semaphore<P = i64, L = SpinLock> {
    pub(crate) raw: RawSemaphore<P, L>,
}

impl Semaphore {
    /// The largest number of permits a semaphore can hold: see [`MAX_PERMITS`](crate::MAX_PERMITS).
    pub const MAX_PERMITS: usize = MAX_PERMITS;

    const_unless_loom! {
        /// Creates a semaphore with `permits` permits, `i64` priorities and the spin lock.
        ///
        /// For another priority or lock type use [`Semaphore::new_generic`].
        ///
        /// # Panics
        ///
        /// If `permits` exceeds [`MAX_PERMITS`](crate::MAX_PERMITS) (at compile time in a
        /// `const` or `static`).
        ///
        /// # Examples
        ///
        /// ```
        /// let sem = prio_semaphore::Semaphore::new(4);
        /// assert_eq!(sem.available_permits(), 4);
        /// ```
                pub fn new(permits: usize) -> Self {
            Self::new_generic(permits)
        }
    }

    const_unless_loom! {
        /// tokio's name for its `const` constructor: the same as [`Semaphore::new`], so
        /// ported code that calls it keeps compiling.
        ///
        /// # Panics
        ///
        /// If `permits` exceeds [`MAX_PERMITS`](crate::MAX_PERMITS).
        ///
        /// # Examples
        ///
        /// ```
        /// static SEM: prio_semaphore::Semaphore = prio_semaphore::Semaphore::const_new(2);
        /// assert_eq!(SEM.available_permits(), 2);
        /// ```
        pub fn const_new(permits: usize) -> Self {
            Self::new_generic(permits)
        }
    }
}

impl<P, L: RawLock> Semaphore<P, L> {
    const_unless_loom! {
        /// Creates a semaphore with `permits` permits for any priority type `P` and lock `L`.
        ///
        /// # Panics
        ///
        /// If `permits` exceeds [`MAX_PERMITS`](crate::MAX_PERMITS).
        ///
        /// # Examples
        ///
        /// ```
        /// use prio_semaphore::Semaphore;
        ///
        /// #[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        /// enum Urgency { Realtime, #[default] Normal, Batch }
        ///
        /// # futures::executor::block_on(async {
        /// let sem: Semaphore<Urgency> = Semaphore::new_generic(1);
        /// let permit = sem.acquire().priority(Urgency::Realtime).await.unwrap();
        /// # drop(permit);
        /// # });
        /// ```
        pub fn new_generic(permits: usize) -> Self {
            Self { raw: RawSemaphore::new(permits) }
        }
    }

    /// Turns on anti-starvation: no waiter is overtaken by more than `limit` later arrivals.
    ///
    /// Strict priority (the default) lets a steady stream of urgent requests starve the
    /// rest. With a limit, a waiter that has watched `limit` other waiters be granted since
    /// it queued goes to the front of the line, ahead of the priority order (such waiters
    /// are served oldest first). The priority order still decides everything else, nothing
    /// is re-sorted, and the cost is O(1).
    ///
    /// The guarantee, as a number: **a waiter is overtaken by at most `limit` requests
    /// that arrived after it.** So it is served within `limit` grants plus the grants owed
    /// to the (fewer than its queue position) waiters that arrived before it. `limit = 0` is
    /// plain FIFO.
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::Semaphore;
    ///
    /// // Batch work (priority 10) is overtaken by at most 8 later realtime requests.
    /// static LLM: Semaphore = Semaphore::new(4).with_overtake_limit(8);
    /// assert_eq!(LLM.overtake_limit(), Some(8));
    /// ```
    pub const fn with_overtake_limit(mut self, limit: usize) -> Self {
        // `usize::MAX` is the internal "off"; a limit that large would never trigger anyway.
        self.raw.set_overtake_limit(limit);
        self
    }

    /// The anti-starvation bound set by
    /// [`with_overtake_limit`](Semaphore::with_overtake_limit), if any.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = prio_semaphore::Semaphore::new(1);
    /// assert_eq!(sem.overtake_limit(), None);
    /// ```
    pub fn overtake_limit(&self) -> Option<usize> {
        self.raw.overtake_limit()
    }

    /// Acquires one permit, waiting in line if none is free.
    ///
    /// The returned [`Acquire`] future queues at the priority given by
    /// [`.priority(p)`](Acquire::priority). Without one it uses the ambient priority (feature
    /// `std`): that of the innermost `with_priority` or `priority_scope` of type `P` that is
    /// active when the future is **first polled**, which is when it joins the line; with no
    /// such scope, `P::default()`. It resolves to a [`Permit`] that gives the permit back when
    /// dropped, or to an error if the semaphore is closed.
    ///
    /// The bounds `Clone + 'static` on `P` are what the ambient lookup needs (to find a scope
    /// by type and copy its priority); they are the same with and without `std`, so enabling
    /// a feature never breaks a build.
    ///
    /// # Cancellation
    ///
    /// Dropping the future at any point gives back whatever it was handed; see [`Acquire`].
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::Semaphore;
    ///
    /// # futures::executor::block_on(async {
    /// let sem = Semaphore::new(1);
    /// let permit = sem.acquire().await.unwrap();
    /// assert_eq!(permit.num_permits(), 1);
    /// # });
    /// ```
    pub fn acquire(&self) -> Acquire<'_, P, L>
    where
        P: Ord + Default + Clone + 'static,
    {
        Acquire::new(self, 1)
    }

    /// Acquires `n` permits at once, waiting in line if they are not free.
    ///
    /// A request for more than [`MAX_PERMITS`](crate::MAX_PERMITS) permits fails at once
    /// with [`AcquireError::is_too_many_permits`](crate::AcquireError::is_too_many_permits).
    /// A request for zero permits succeeds at once unless the semaphore is closed. The
    /// priority is chosen as for [`acquire`](Semaphore::acquire).
    ///
    /// # Fairness
    ///
    /// The request is served whole, in its place in line: while it is at the front it
    /// collects released permits and the waiters behind it wait, so it is not starved by
    /// smaller requests. A more urgent request that arrives later takes those collected
    /// permits first.
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::Semaphore;
    ///
    /// # futures::executor::block_on(async {
    /// let sem = Semaphore::new(5);
    /// let permit = sem.acquire_many(3).priority(1).await.unwrap();
    /// assert_eq!(permit.num_permits(), 3);
    /// assert_eq!(sem.available_permits(), 2);
    /// # });
    /// ```
    pub fn acquire_many(&self, n: u32) -> Acquire<'_, P, L>
    where
        P: Ord + Default + Clone + 'static,
    {
        Acquire::new(self, n)
    }

    /// Takes one permit if one is free and nobody is waiting, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::{Semaphore, TryAcquireError};
    ///
    /// let sem = Semaphore::new(1);
    /// let permit = sem.try_acquire().unwrap();
    /// assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    /// drop(permit);
    /// assert!(sem.try_acquire().is_ok());
    /// ```
    pub fn try_acquire(&self) -> Result<Permit<'_, P, L>, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if they are free and nobody is waiting, without waiting.
    ///
    /// Fails with [`TryAcquireError::NoPermits`] while any waiter is queued, even if it
    /// needs more permits than are free: a waiter in line is served first. A request for
    /// zero permits succeeds unless the semaphore is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::Semaphore;
    ///
    /// let sem = Semaphore::new(4);
    /// let permit = sem.try_acquire_many(3).unwrap();
    /// assert!(sem.try_acquire_many(2).is_err());
    /// assert_eq!(permit.num_permits(), 3);
    /// ```
    pub fn try_acquire_many(&self, n: u32) -> Result<Permit<'_, P, L>, TryAcquireError> {
        let n = n as usize;
        self.raw.try_acquire(n)?;
        Ok(Permit::new(self, n))
    }

    /// Adds `n` permits, handing them to waiters in order first.
    ///
    /// # Panics
    ///
    /// If the permits in existence (free, held, and being handed out) would exceed
    /// [`MAX_PERMITS`](crate::MAX_PERMITS). The semaphore is unchanged when it panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::Semaphore;
    ///
    /// let sem = Semaphore::new(0);
    /// sem.add_permits(2);
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    pub fn add_permits(&self, n: usize) {
        self.raw.add_permits(n);
    }

    /// Removes up to `n` free permits for good, returning how many were removed.
    ///
    /// Permits held by [`Permit`]s and permits being collected by a waiter are not free,
    /// so they are not removed. A closed semaphore stays closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::Semaphore;
    ///
    /// let sem = Semaphore::new(3);
    /// let _held = sem.try_acquire().unwrap();
    /// assert_eq!(sem.forget_permits(5), 2);
    /// assert_eq!(sem.available_permits(), 0);
    /// ```
    pub fn forget_permits(&self, n: usize) -> usize {
        self.raw.forget_permits(n)
    }

    /// The number of free permits.
    ///
    /// Permits being collected by a waiting multi-permit request are not counted.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = prio_semaphore::Semaphore::new(3);
    /// assert_eq!(sem.available_permits(), 3);
    /// ```
    pub fn available_permits(&self) -> usize {
        self.raw.available_permits()
    }

    /// The number of acquire futures currently queued.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::Future;
    /// use std::pin::pin;
    /// use std::task::{Context, Waker};
    /// use prio_semaphore::Semaphore;
    ///
    /// let sem = Semaphore::new(0);
    /// let mut waiting = pin!(sem.acquire());
    /// assert!(waiting.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending());
    /// assert_eq!(sem.waiter_count(), 1);
    /// ```
    pub fn waiter_count(&self) -> usize {
        self.raw.waiter_count()
    }

    /// Closes the semaphore: every queued and every future acquire fails with
    /// [`AcquireError`](crate::AcquireError), every `try_acquire` with
    /// [`TryAcquireError::Closed`]. Permits already held stay valid and are still given back
    /// when dropped. Queued waiters are woken outside the lock, in batches.
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::Semaphore;
    ///
    /// # futures::executor::block_on(async {
    /// let sem = Semaphore::new(1);
    /// let held = sem.acquire().await.unwrap();
    /// sem.close();
    /// assert!(sem.is_closed());
    /// assert!(sem.acquire().await.is_err());
    /// drop(held);
    /// assert_eq!(sem.available_permits(), 1);
    /// # });
    /// ```
    pub fn close(&self) {
        self.raw.close();
    }

    /// Whether [`close`](Semaphore::close) has been called.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = prio_semaphore::Semaphore::new(1);
    /// assert!(!sem.is_closed());
    /// sem.close();
    /// assert!(sem.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.raw.is_closed()
    }
}

// A panic anywhere (a priority's `Ord`, a waker, `add_permits` overflow, `merge` of foreign
// permits) leaves the semaphore consistent and its counts exact, so observing it after
// catching a panic is fine.
impl<P, L> core::panic::RefUnwindSafe for Semaphore<P, L> {}
impl<P, L> core::panic::UnwindSafe for Semaphore<P, L> {}

impl<P, L> core::fmt::Debug for Semaphore<P, L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.raw.fmt(f)
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
