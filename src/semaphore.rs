//! The public [`Semaphore`]: the type and every one of its methods, in one place (the owned
//! ones with `alloc`, the blocking ones with `std`, the futurelock watch with `std` and
//! `tracing`). Most of the file is their documentation; the work is done in `crate::raw`.

#[cfg(feature = "alloc")]
use alloc::sync::Arc;
#[cfg(all(feature = "std", feature = "tracing"))]
use std::time::Duration;

use crate::acquire::Acquire;
#[cfg(feature = "alloc")]
use crate::acquire::AcquireOwned;
#[cfg(feature = "std")]
use crate::error::AcquireError;
use crate::error::TryAcquireError;
use crate::handle::{Handle, Held, Sealed};
use crate::into_priority::IntoPriority;
use crate::lock::{RawLock, SpinLock};
use crate::loom::const_unless_loom;
use crate::max_permits::MAX_PERMITS;
#[cfg(feature = "alloc")]
use crate::permit::OwnedPermit;
use crate::permit::Permit;
use crate::priority::DefaultPriority;
use crate::raw::RawSemaphore;
#[cfg(feature = "alloc")]
use crate::snapshot::Snapshot;
use crate::snapshot::{ClassInfo, Summary};

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
}

/// The semaphore type [`Semaphore::new`] and [`Semaphore::const_new`] make:
/// `Semaphore<i64, SpinLock>`, the defaults, and no other; [`Semaphore::new_generic`]
/// makes every other. Implemented by `()` for `<i64, SpinLock>` only.
///
/// Why a trait: with `new` in an `impl Semaphore<i64, SpinLock>` block, asking it for
/// another priority type (`Semaphore::<Urgency>::new(4)`) failed with "no function named
/// `new`"; with this bound it fails with a message that names `new_generic`. Its one impl
/// also lets `Semaphore::new(4)` infer `i64` with no annotation, as before.
#[diagnostic::on_unimplemented(
    message = "`Semaphore::new` makes a `Semaphore<i64, SpinLock>`; for priority type `{P}` and lock `{L}` use `Semaphore::new_generic`",
    label = "`Semaphore::new` is only for the default `i64` priorities and spin lock",
    note = "`Semaphore::new_generic(permits)` is `new` for every priority type and lock, `const` too: `static SEM: Semaphore<{P}, {L}> = Semaphore::new_generic(4);`"
)]
pub trait NewDefaults<P, L> {}

impl NewDefaults<i64, SpinLock> for () {}

impl<P, L: RawLock> Semaphore<P, L> {
    const_unless_loom! {
        /// Creates a semaphore with `permits` permits, `i64` priorities and the spin lock.
        ///
        /// For another priority or lock type use [`Semaphore::new_generic`] (the bound,
        /// [`NewDefaults`], says so when you forget).
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
        pub fn new(permits: usize) -> Self where ((): NewDefaults<P, L>) {
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
        pub fn const_new(permits: usize) -> Self where ((): NewDefaults<P, L>) {
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
    /// Needs feature `overtake-limit`, off by default: the arrival order it reads costs
    /// every acquire future 16 bytes (crate docs, "Sizes"), limit or not.
    ///
    /// The guarantee, as a number: **a waiter is overtaken by at most `limit` requests
    /// that arrived after it.** So it is served within `limit` grants plus the grants owed
    /// to the (fewer than its queue position) waiters that arrived before it. `limit = 0` is
    /// plain FIFO.
    ///
    /// The grant clock behind it is 32 bits wide, so a limit above 4,294,967,294 (possible
    /// on 64-bit targets) is lowered to that, which only makes the promise stronger;
    /// `usize::MAX` means no limit, like not calling this.
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
    #[cfg(feature = "overtake-limit")]
    #[cfg_attr(docsrs, doc(cfg(feature = "overtake-limit")))]
    pub const fn with_overtake_limit(mut self, limit: usize) -> Self {
        // `usize::MAX` is the internal "off"; a limit that large would never trigger anyway.
        self.raw.set_overtake_limit(limit);
        self
    }

    /// Makes the line's runs the flows of a fair semaphore (`crate::fair`), which `lanes`
    /// reads from each waiter's priority: one more waiter of a flow that waits is then
    /// O(1). Before the semaphore is shared.
    ///
    /// # Safety
    ///
    /// As for `WaitList::set_lanes`: while a waiter is linked, `lanes` answers the same for
    /// it, and every lane cell it names stays alive and in place and is named by waiters
    /// of this semaphore only.
    pub(crate) unsafe fn with_lanes(self, lanes: crate::waitlist::LaneOf<P>) -> Self {
        // SAFETY: the caller's promise, passed on.
        unsafe { self.raw.set_lanes(lanes) };
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
    #[cfg(feature = "overtake-limit")]
    #[cfg_attr(docsrs, doc(cfg(feature = "overtake-limit")))]
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
        P: Ord + DefaultPriority,
    {
        Acquire::new(self, 1)
    }

    /// Acquires one permit at `priority`: the same as `acquire().priority(priority)`, for
    /// every priority type, also one without a `Default` (which a plain
    /// [`acquire`](Semaphore::acquire) needs, see [`DefaultPriority`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::Semaphore;
    ///
    /// #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    /// enum Urgency { Realtime, Batch }
    ///
    /// # futures::executor::block_on(async {
    /// let sem: Semaphore<Urgency> = Semaphore::new_generic(1);
    /// let permit = sem.acquire_at(Urgency::Realtime).queue_limit(8).await.unwrap();
    /// # drop(permit);
    /// # });
    /// ```
    pub fn acquire_at(&self, priority: impl IntoPriority<P>) -> Acquire<'_, P, L>
    where
        P: Ord + 'static,
    {
        Acquire::at(self, 1, priority.into_priority())
    }

    /// Acquires `n` permits at `priority`: [`acquire_many`](Semaphore::acquire_many) for
    /// every priority type, as [`acquire_at`](Semaphore::acquire_at) is for `acquire`.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let sem = prio_semaphore::Semaphore::new(3);
    /// assert_eq!(sem.acquire_many_at(2, 5).await.unwrap().num_permits(), 2);
    /// # });
    /// ```
    pub fn acquire_many_at(&self, n: u32, priority: impl IntoPriority<P>) -> Acquire<'_, P, L>
    where
        P: Ord + 'static,
    {
        Acquire::at(self, n, priority.into_priority())
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
        P: Ord + DefaultPriority,
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
        Ok(Permit::new(Held::new(self, n)))
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

#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
impl<P, L: RawLock> Semaphore<P, L> {
    /// Acquires one permit through an `Arc`, waiting in line if none is free: the permit
    /// holds the `Arc`, not a borrow, so it can move into a spawned task.
    ///
    /// Otherwise the same as [`acquire`](Semaphore::acquire): the future queues at the
    /// priority set with [`.priority(p)`](AcquireOwned::priority), else at the ambient one,
    /// else at `P::default()`.
    ///
    /// # Cancellation
    ///
    /// Dropping the future at any point gives back whatever it was handed; see
    /// [`AcquireOwned`].
    ///
    /// # Examples
    ///
    /// Backpressure: take a permit *before* spawning, so at most 8 tasks exist at once, however
    /// many items there are.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::Semaphore;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let limit = Arc::new(Semaphore::new(8));
    /// for item in 0..100 {
    ///     let permit = limit.clone().acquire_owned().await.unwrap();
    ///     tokio::spawn(async move {
    ///         let _ = item * 2; // ... process the item
    ///         drop(permit); // frees a slot for the next task
    ///     });
    /// }
    /// # }
    /// ```
    pub fn acquire_owned(self: Arc<Self>) -> AcquireOwned<P, L>
    where
        P: Ord + DefaultPriority,
    {
        AcquireOwned::new(self, 1)
    }

    /// Acquires one permit through an `Arc` at `priority`: `acquire_owned().priority(p)`
    /// for every priority type (see [`acquire_at`](Semaphore::acquire_at)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// # futures::executor::block_on(async {
    /// let sem = Arc::new(prio_semaphore::Semaphore::new(1));
    /// let permit = sem.acquire_owned_at(0).await.unwrap();
    /// # drop(permit);
    /// # });
    /// ```
    pub fn acquire_owned_at(self: Arc<Self>, priority: impl IntoPriority<P>) -> AcquireOwned<P, L>
    where
        P: Ord + 'static,
    {
        AcquireOwned::at(self, 1, priority.into_priority())
    }

    /// Acquires `n` permits through an `Arc` at `priority` (see
    /// [`acquire_at`](Semaphore::acquire_at)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// # futures::executor::block_on(async {
    /// let sem = Arc::new(prio_semaphore::Semaphore::new(2));
    /// assert_eq!(sem.acquire_many_owned_at(2, 0).await.unwrap().num_permits(), 2);
    /// # });
    /// ```
    pub fn acquire_many_owned_at(
        self: Arc<Self>,
        n: u32,
        priority: impl IntoPriority<P>,
    ) -> AcquireOwned<P, L>
    where
        P: Ord + 'static,
    {
        AcquireOwned::at(self, n, priority.into_priority())
    }

    /// Acquires `n` permits at once through an `Arc`, waiting in line if they are not free.
    ///
    /// Otherwise the same as [`acquire_many`](Semaphore::acquire_many), including the
    /// [`AcquireError::is_too_many_permits`] error for more than
    /// [`MAX_PERMITS`](crate::MAX_PERMITS).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::Semaphore;
    ///
    /// # futures::executor::block_on(async {
    /// let sem = Arc::new(Semaphore::new(5));
    /// let permit = sem.clone().acquire_many_owned(3).priority(1).await.unwrap();
    /// assert_eq!(permit.num_permits(), 3);
    /// assert_eq!(sem.available_permits(), 2);
    /// # });
    /// ```
    pub fn acquire_many_owned(self: Arc<Self>, n: u32) -> AcquireOwned<P, L>
    where
        P: Ord + DefaultPriority,
    {
        AcquireOwned::new(self, n)
    }

    /// Takes one permit through an `Arc` if one is free and nobody is waiting, without
    /// waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::{Semaphore, TryAcquireError};
    ///
    /// let sem = Arc::new(Semaphore::new(1));
    /// let permit = sem.clone().try_acquire_owned().unwrap();
    /// assert_eq!(sem.clone().try_acquire_owned().unwrap_err(), TryAcquireError::NoPermits);
    /// drop(permit);
    /// assert!(sem.try_acquire_owned().is_ok());
    /// ```
    pub fn try_acquire_owned(self: Arc<Self>) -> Result<OwnedPermit<P, L>, TryAcquireError> {
        self.try_acquire_many_owned(1)
    }

    /// Takes `n` permits through an `Arc` if they are free and nobody is waiting, without
    /// waiting.
    ///
    /// As for [`try_acquire_many`](Semaphore::try_acquire_many), a queued waiter is served
    /// first: this fails while anyone waits.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::Semaphore;
    ///
    /// let sem = Arc::new(Semaphore::new(4));
    /// let permit = sem.clone().try_acquire_many_owned(3).unwrap();
    /// assert!(sem.clone().try_acquire_many_owned(2).is_err());
    /// assert_eq!(permit.num_permits(), 3);
    /// ```
    pub fn try_acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> Result<OwnedPermit<P, L>, TryAcquireError> {
        let n = n as usize;
        self.raw.try_acquire(n)?;
        Ok(OwnedPermit::new(Held::new(self, n)))
    }
}

#[cfg(feature = "std")]
/// tokio's names for blocking acquire: `sem.blocking_acquire()` is
/// `sem.acquire().wait()`, and so on. They wait at the ambient priority (see
/// [`priority_scope`](crate::priority_scope)), else `P::default()`; for an explicit priority
/// use `sem.acquire().priority(p).wait()`.
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
impl<P, L: RawLock> Semaphore<P, L>
where
    P: Ord + DefaultPriority,
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

    /// [`blocking_acquire`](Semaphore::blocking_acquire) for at most `timeout`:
    /// `self.acquire().wait_timeout(timeout)` (see [`Acquire::wait_timeout`]).
    ///
    /// # Errors
    ///
    /// [`AcquireError::is_timed_out`] when `timeout` passed first; the request has then
    /// left the line. Closed, as `blocking_acquire`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let sem = prio_semaphore::Semaphore::new(0);
    /// let err = sem.blocking_acquire_timeout(Duration::from_millis(1)).unwrap_err();
    /// assert!(err.is_timed_out());
    /// ```
    #[cfg(not(loom))]
    pub fn blocking_acquire_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> Result<Permit<'_, P, L>, AcquireError> {
        self.acquire().wait_timeout(timeout)
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

/// Seeing who waits: the figures an operator asks for, read under the lock without running
/// any user code (see [`Summary`] and [`Snapshot`](crate::Snapshot)).
impl<P, L: RawLock> Semaphore<P, L> {
    /// The semaphore's figures (permits free, held and being collected, waiters, the
    /// oldest waiter's overtake count), read at once under the lock. Works for every
    /// priority type; O(1).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::{future::Future, pin::pin, task::{Context, Waker}};
    /// use prio_semaphore::Semaphore;
    ///
    /// let sem = Semaphore::new(1);
    /// let _held = sem.try_acquire().unwrap();
    /// let mut waiting = pin!(sem.acquire().priority(10));
    /// assert!(waiting.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending());
    /// let s = sem.summary();
    /// assert_eq!((s.available, s.held, s.waiters), (0, 1, 1));
    /// assert_eq!(s.oldest_overtaken, None); // no overtake limit set
    /// ```
    pub fn summary(&self) -> Summary {
        crate::snapshot::summary(&self.raw)
    }

    /// Writes the first `buf.len()` queued priority classes, in service order, into `buf`,
    /// and returns the figures of [`summary`](Semaphore::summary), with
    /// [`classes`](Summary::classes) the number of entries written and
    /// [`more_classes`](Summary::more_classes) whether more are queued. Never allocates, so
    /// it works without `alloc`.
    ///
    /// # Cost
    ///
    /// The lock is held for one step per class written plus one per waiter in those
    /// classes (they are counted, not stored); nothing beyond the first `buf.len()` classes
    /// is read. With an overtake limit, an aged waiter is served before its class's turn;
    /// the classes are still listed by priority.
    ///
    /// # What runs under the lock
    ///
    /// No user code. Priorities are never compared (the walk follows the list's links, so
    /// an `Ord` that misbehaved when they were queued changes the order shown, never what
    /// is read), and they are copied out bitwise: that is why `P: Copy`, since a `clone`
    /// would be user code under the lock, and so would the `drop` of the value it
    /// overwrites. For other priority types, [`summary`](Semaphore::summary) gives every
    /// figure but the per-class ones; map the priority to a `Copy` type (an enum's
    /// discriminant, say) to see the classes.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::{future::Future, pin::pin, task::{Context, Waker}};
    /// use prio_semaphore::{ClassInfo, Semaphore};
    ///
    /// let sem = Semaphore::new(0);
    /// let cx = &mut Context::from_waker(Waker::noop());
    /// let mut a = pin!(sem.acquire().priority(10));
    /// let mut b = pin!(sem.acquire_many(2).priority(0));
    /// let mut c = pin!(sem.acquire().priority(10));
    /// for f in [a.as_mut(), b.as_mut(), c.as_mut()] {
    ///     assert!(f.poll(cx).is_pending());
    /// }
    ///
    /// let mut buf = [ClassInfo::default(); 4];
    /// let s = sem.snapshot_into(&mut buf);
    /// assert_eq!((s.waiters, s.classes, s.more_classes), (3, 2, false));
    /// assert_eq!((buf[0].priority, buf[0].waiters, buf[0].permits), (0, 1, 2));
    /// assert_eq!((buf[1].priority, buf[1].waiters, buf[1].permits), (10, 2, 2));
    ///
    /// let mut one = [ClassInfo::default(); 1];
    /// assert!(sem.snapshot_into(&mut one).more_classes);
    /// ```
    pub fn snapshot_into(&self, buf: &mut [ClassInfo<P>]) -> Summary
    where
        P: Copy,
    {
        crate::snapshot::snapshot_into(&self.raw, buf)
    }

    /// Every queued priority class, in service order, with the semaphore's figures.
    ///
    /// Allocates outside the lock only: it reads into a buffer it sized beforehand, and
    /// reads again with a larger one if more classes are queued than it holds. Otherwise as
    /// [`snapshot_into`](Semaphore::snapshot_into).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::{future::Future, pin::pin, task::{Context, Waker}};
    /// use prio_semaphore::Semaphore;
    ///
    /// let sem = Semaphore::new(0);
    /// let cx = &mut Context::from_waker(Waker::noop());
    /// let mut a = pin!(sem.acquire().priority(5));
    /// let mut b = pin!(sem.acquire_many(3).priority(-1));
    /// assert!(a.as_mut().poll(cx).is_pending() && b.as_mut().poll(cx).is_pending());
    ///
    /// let snapshot = sem.snapshot();
    /// let classes: Vec<_> = snapshot.classes.iter().map(|c| (c.priority, c.waiters)).collect();
    /// assert_eq!(classes, [(-1, 1), (5, 1)]);
    /// println!("{snapshot}");
    /// ```
    #[cfg(feature = "alloc")]
    #[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
    pub fn snapshot(&self) -> Snapshot<P>
    where
        P: Copy,
    {
        crate::snapshot::snapshot(&self.raw)
    }

    /// [`snapshot`](Semaphore::snapshot), each priority shown as `show` makes it, under
    /// the lock: crate code that runs no user code (`crate::fair`'s keys).
    #[cfg(feature = "alloc")]
    pub(crate) fn snapshot_as<Q>(&self, show: impl Fn(&P) -> Q) -> Snapshot<Q> {
        crate::snapshot::snapshot_as(&self.raw, show)
    }

    /// [`snapshot_into`](Semaphore::snapshot_into), each priority shown as `show` makes
    /// it (see [`snapshot_as`](Semaphore::snapshot_as)).
    pub(crate) fn snapshot_into_as<Q>(
        &self,
        buf: &mut [ClassInfo<Q>],
        show: impl Fn(&P) -> Q,
    ) -> Summary {
        crate::snapshot::snapshot_into_as(&self.raw, buf, show)
    }
}

#[cfg(all(feature = "std", feature = "tracing"))]
impl<P, L: RawLock> Semaphore<P, L> {
    /// Warns when permits handed to a request stay unclaimed for longer than `limit`
    /// (`None`: stop watching). Features `std` and `tracing`.
    ///
    /// A request is handed its permits when they are released, and holds them until its
    /// future is polled (or dropped). A future kept alive but not polled, such as the
    /// losing branch of a `select!` in a loop, holds them hostage while everyone behind it
    /// waits: the "futurelock" hazard. With a limit set, such a grant produces one
    /// `WARN` event (target `prio_semaphore`) with the request's `priority`, its `permits`
    /// and how long it has been `unclaimed_for`.
    ///
    /// # Limits
    ///
    /// There is no background thread: the check runs at the end of the semaphore's
    /// operations that a stuck line keeps making (a poll of a request, a release or
    /// `add_permits` while requests wait, a cancellation). A grant is reported by the
    /// first such operation after `limit`, not at `limit`, and not at all if the semaphore
    /// is not used again. At most 16 unclaimed grants are
    /// watched at once, and grants made before the watch was turned on are not watched.
    /// The priority is shown as in the other `tracing` events (by value for integers and
    /// floats, else by type name).
    ///
    /// # Cost
    ///
    /// Off (the default): one relaxed load per locked operation. On: each poll takes the
    /// observed path of the `tracing` events; a grant's number, permits and priority are
    /// copied under the lock, and after it noted behind a `std` mutex; the poll that
    /// claims a grant takes that mutex once; while a noted grant is not yet warned about,
    /// each of the operations above reads the clock and scans 16 slots behind the mutex.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use prio_semaphore::Semaphore;
    ///
    /// static POOL: Semaphore = Semaphore::new(4);
    /// POOL.warn_unclaimed_after(Some(Duration::from_secs(1)));
    /// ```
    #[cfg_attr(docsrs, doc(cfg(all(feature = "std", feature = "tracing"))))]
    pub fn warn_unclaimed_after(&self, limit: Option<Duration>) {
        self.raw.watch().set(limit);
    }
}

// A panic anywhere (a priority's `Ord`, a waker, `add_permits` overflow, `merge` of foreign
// permits) leaves the semaphore consistent and its counts exact, so observing it after
// catching a panic is fine.
impl<P, L> core::panic::RefUnwindSafe for Semaphore<P, L> {}
impl<P, L> core::panic::UnwindSafe for Semaphore<P, L> {}

impl<P, L: RawLock> Sealed for &Semaphore<P, L> {}

// SAFETY: a shared borrow keeps the semaphore alive and unmoved (it cannot be moved or
// dropped while borrowed) for its whole lifetime, and copies of it point to the same place.
unsafe impl<P, L: RawLock> Handle for &Semaphore<P, L> {
    type Priority = P;
    type Lock = L;

    #[inline(always)]
    fn raw(&self) -> &RawSemaphore<P, L> {
        &self.raw
    }

    #[inline(always)]
    fn duplicate(&self) -> Self {
        self
    }
}

#[cfg(feature = "alloc")]
impl<P, L: RawLock> Sealed for Arc<Semaphore<P, L>> {}

// SAFETY: the semaphore lives in the `Arc`'s heap allocation, which never moves, and every
// clone of the `Arc` keeps that allocation alive; there is no `&mut` access to it while it
// is shared (`Arc::get_mut` needs the only handle, and a request or permit holds one).
#[cfg(feature = "alloc")]
unsafe impl<P, L: RawLock> Handle for Arc<Semaphore<P, L>> {
    type Priority = P;
    type Lock = L;

    #[inline(always)]
    fn raw(&self) -> &RawSemaphore<P, L> {
        &self.raw
    }

    #[inline(always)]
    fn duplicate(&self) -> Self {
        Arc::clone(self)
    }
}

impl<P, L> core::fmt::Debug for Semaphore<P, L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.raw.fmt(f)
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
