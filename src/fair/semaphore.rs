//! [`FairSemaphore`]: a priority semaphore whose requests of equal priority are served by
//! weighted fair queuing among their flows.

#[cfg(feature = "alloc")]
use alloc::sync::Arc;

use super::acquire::FairAcquire;
#[cfg(feature = "alloc")]
use super::acquire::FairAcquireOwned;
use super::clock::Clock;
use super::key::FairKey;
use super::store::{FlowStore, HashFlows, Table};
use crate::error::{AcquireError, TryAcquireError};
use crate::lock::{Mutex, RawLock, SpinLock};
#[cfg(feature = "alloc")]
use crate::permit::OwnedPermit;
use crate::permit::Permit;
use crate::request::without_waiting;
use crate::semaphore::Semaphore;
#[cfg(feature = "alloc")]
use crate::snapshot::Snapshot;
use crate::snapshot::{ClassInfo, Summary};

use super::request::FairHandle;
use crate::acquire::Acquire;
#[cfg(feature = "alloc")]
use crate::acquire::AcquireOwned;

/// The core semaphore that holds the line: in an `Arc` where there is one, so owned
/// requests can hold it; in place without `alloc`.
#[cfg(feature = "alloc")]
type Line<P, L> = Arc<Semaphore<FairKey<P>, L>>;
#[cfg(not(feature = "alloc"))]
type Line<P, L> = Semaphore<FairKey<P>, L>;

/// A priority semaphore that serves requests of equal priority by **weighted fair
/// queuing** among their flows (tenants, API keys, customers).
///
/// Priorities work as in [`Semaphore`]: smaller first, strictly. Among requests of equal
/// priority, each request names its flow (any key `K` you pick) and a weight, and flows are
/// served in start-time fair order, weighted by the permits they ask for: one tenant that
/// queues 10,000 requests no longer delays another tenant's single request behind all of
/// them. One flow is served first in, first out. Requests without a flow key share one
/// flow per priority, so a semaphore whose requests name no flows behaves exactly as a
/// [`Semaphore`].
///
/// The algorithm, its bound, its costs and what is stored are in [the module
/// docs](crate::fair).
///
/// `S` is where levels and flows are kept: [`HashFlows`](crate::fair::HashFlows) (the
/// default, feature `std`), [`OrdFlows`](crate::fair::OrdFlows) (feature `alloc`) or
/// [`ArrayFlows`](crate::fair::ArrayFlows) (fixed capacity, `no_std`). `L` is the lock of
/// both the line and the flow table.
///
/// # Keys that misbehave
///
/// As for priorities (see [`Semaphore`], "Priorities that misbehave"): a flow key whose
/// `Hash`, `Eq` or `Ord` lies, or a priority whose `Clone` does, changes which flow a
/// request is counted in, so the order of service; it never loses a permit, a wake-up or
/// a waiter, and never hangs. A key whose code panics fails the request being polled (its
/// poll panics and it is not queued; polling it again panics too) and leaves the rest as
/// it was. The keys' code runs under the flow table's lock, never under the line's, so it
/// must not use the same semaphore (with `std` that panics).
///
/// # Examples
///
/// ```
/// use prio_semaphore::fair::FairSemaphore;
///
/// # futures::executor::block_on(async {
/// let gateway: FairSemaphore<&str> = FairSemaphore::new(4);
/// let permit = gateway
///     .acquire()
///     .priority(5)
///     .flow("team-search")
///     .weight(2) // twice the share of a weight-1 team at priority 5
///     .await
///     .unwrap();
/// assert_eq!(gateway.available_permits(), 3);
/// # drop(permit);
/// # });
/// ```
///
/// Without `std` the default store does not exist: name one, as in
/// `FairSemaphore<K, P, ArrayFlows<16>>`.
pub struct FairSemaphore<K = u64, P = i64, S: FlowStore<P, K> = HashFlows, L: RawLock = SpinLock> {
    line: Line<P, L>,
    clock: Mutex<L, Clock<S::Table>>,
    /// The flows' lane cells that live beside the table (`Table::Cells`): the line points
    /// to them while their flows wait, so they are never reached through the clock's lock.
    cells: Cells<P, K, S>,
}

/// The lane cells a store keeps beside its table.
type Cells<P, K, S> = <<S as FlowStore<P, K>>::Table as Table<P, K>>::Cells;

#[cfg(feature = "std")]
impl<K: core::hash::Hash + Eq> FairSemaphore<K> {
    /// A fair semaphore with `permits` permits, `i64` priorities, flows keyed by `K` in a
    /// hash map, and the spin lock.
    ///
    /// # Panics
    ///
    /// If `permits` exceeds [`MAX_PERMITS`](crate::MAX_PERMITS).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem: prio_semaphore::fair::FairSemaphore<String> =
    ///     prio_semaphore::fair::FairSemaphore::new(8);
    /// assert_eq!(sem.available_permits(), 8);
    /// ```
    pub fn new(permits: usize) -> Self {
        Self::new_generic(permits)
    }
}

impl<K, P, S: FlowStore<P, K>, L: RawLock> FairSemaphore<K, P, S, L> {
    /// A fair semaphore with `permits` permits, for any priority, flow key, store and lock.
    ///
    /// # Panics
    ///
    /// If `permits` exceeds [`MAX_PERMITS`](crate::MAX_PERMITS).
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::fair::{ArrayFlows, FairSemaphore};
    ///
    /// let sem: FairSemaphore<u32, u8, ArrayFlows<16>> = FairSemaphore::new_generic(2);
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    pub fn new_generic(permits: usize) -> Self {
        // SAFETY: `lane_of` reads a key's lane, fixed when the key is made. Keys with a lane
        // are made only by this semaphore's requests (`FairRequest::poll`), which move them
        // into this line, and a clone forgets the lane; each names a cell of this
        // semaphore's table (`Table::lane`: alive and in place while the table and
        // `cells` are, so while this semaphore is, which every request borrows or holds
        // an `Arc` of), and a request leaves the line before it gives back the ticket
        // that keeps its flow's slot, so its cell, for its flow.
        let line = unsafe { Semaphore::new_generic(permits).with_lanes(FairKey::lane_of) };
        Self {
            #[cfg(feature = "alloc")]
            line: Arc::new(line),
            #[cfg(not(feature = "alloc"))]
            line,
            clock: Mutex::new(Clock::new(S::Table::new())),
            cells: S::Table::new_cells(),
        }
    }

    /// Acquires one permit, waiting in line by priority, then in fair order among flows.
    ///
    /// Set the request's priority with [`priority`](FairAcquire::priority) (else the
    /// ambient one, feature `std`, else `P::default()`), its flow with
    /// [`flow`](FairAcquire::flow) (else the priority's unkeyed flow) and its weight with
    /// [`weight`](FairAcquire::weight) (else 1).
    ///
    /// # Cancellation
    ///
    /// Dropping the future at any point loses nothing and leaves the fair order of the
    /// others as it was; see [`FairAcquire`].
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::fair::FairSemaphore;
    ///
    /// # futures::executor::block_on(async {
    /// let sem: FairSemaphore<u64> = FairSemaphore::new(1);
    /// let permit = sem.acquire().flow(42).await.unwrap();
    /// assert_eq!(permit.num_permits(), 1);
    /// # });
    /// ```
    pub fn acquire(&self) -> FairAcquire<'_, K, P, S, L>
    where
        P: Ord + Default + Clone + 'static,
    {
        FairAcquire::new(self, 1)
    }

    /// Acquires `n` permits at once; a request costs its flow `n / weight` in the fair
    /// order. As [`acquire`](FairSemaphore::acquire) otherwise.
    ///
    /// More than [`MAX_PERMITS`](crate::MAX_PERMITS) fails at once with
    /// [`AcquireError::is_too_many_permits`](crate::AcquireError::is_too_many_permits); zero permits succeed at once unless the
    /// semaphore is closed (neither is counted in the fair order).
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::fair::FairSemaphore;
    ///
    /// # futures::executor::block_on(async {
    /// let sem: FairSemaphore<&str> = FairSemaphore::new(4);
    /// let permit = sem.acquire_many(3).flow("bulk").await.unwrap();
    /// assert_eq!(sem.available_permits(), 1);
    /// # drop(permit);
    /// # });
    /// ```
    pub fn acquire_many(&self, n: u32) -> FairAcquire<'_, K, P, S, L>
    where
        P: Ord + Default + Clone + 'static,
    {
        FairAcquire::new(self, n)
    }

    /// Takes one permit if one is free and nobody waits, without waiting (a request that
    /// does not wait needs no place in the fair order, and is not counted in it).
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::fair::FairSemaphore;
    ///
    /// let sem: FairSemaphore = FairSemaphore::new(1);
    /// let permit = sem.try_acquire().unwrap();
    /// assert!(sem.try_acquire().is_err());
    /// # drop(permit);
    /// ```
    pub fn try_acquire(&self) -> Result<Permit<'_, FairKey<P>, L>, TryAcquireError> {
        self.line.try_acquire()
    }

    /// Takes `n` permits if they are free and nobody waits, without waiting; see
    /// [`Semaphore::try_acquire_many`].
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::fair::FairSemaphore;
    ///
    /// let sem: FairSemaphore = FairSemaphore::new(3);
    /// assert_eq!(sem.try_acquire_many(2).unwrap().num_permits(), 2);
    /// ```
    pub fn try_acquire_many(&self, n: u32) -> Result<Permit<'_, FairKey<P>, L>, TryAcquireError> {
        self.line.try_acquire_many(n)
    }

    /// Adds `n` permits, handing them to waiters in order first.
    ///
    /// # Panics
    ///
    /// As [`Semaphore::add_permits`]: if the permits would exceed
    /// [`MAX_PERMITS`](crate::MAX_PERMITS).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem: prio_semaphore::fair::FairSemaphore = prio_semaphore::fair::FairSemaphore::new(0);
    /// sem.add_permits(2);
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    pub fn add_permits(&self, n: usize) {
        self.line.add_permits(n);
    }

    /// Removes up to `n` free permits for good; see [`Semaphore::forget_permits`].
    ///
    /// # Examples
    ///
    /// ```
    /// let sem: prio_semaphore::fair::FairSemaphore = prio_semaphore::fair::FairSemaphore::new(3);
    /// assert_eq!(sem.forget_permits(2), 2);
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn forget_permits(&self, n: usize) -> usize {
        self.line.forget_permits(n)
    }

    /// The number of free permits.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem: prio_semaphore::fair::FairSemaphore = prio_semaphore::fair::FairSemaphore::new(3);
    /// assert_eq!(sem.available_permits(), 3);
    /// ```
    pub fn available_permits(&self) -> usize {
        self.line.available_permits()
    }

    /// Closes the semaphore: every queued and later request fails; permits held stay
    /// valid.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let sem: prio_semaphore::fair::FairSemaphore = prio_semaphore::fair::FairSemaphore::new(1);
    /// sem.close();
    /// assert!(sem.is_closed());
    /// assert!(sem.acquire().await.unwrap_err().is_closed());
    /// # });
    /// ```
    pub fn close(&self) {
        self.line.close();
    }

    /// Whether [`close`](FairSemaphore::close) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem: prio_semaphore::fair::FairSemaphore = prio_semaphore::fair::FairSemaphore::new(1);
    /// assert!(!sem.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.line.is_closed()
    }

    /// The line itself: the core semaphore whose waiters are ordered by [`FairKey`], for
    /// [`summary`](Semaphore::summary) and the waiter count. Its classes are shown by
    /// [`FairSemaphore::snapshot`] and [`FairSemaphore::snapshot_into`].
    ///
    /// # Examples
    ///
    /// ```
    /// let sem: prio_semaphore::fair::FairSemaphore = prio_semaphore::fair::FairSemaphore::new(2);
    /// assert_eq!(sem.semaphore().summary().waiters, 0);
    /// ```
    pub fn semaphore(&self) -> &Semaphore<FairKey<P>, L> {
        &self.line
    }

    /// The line as [`Semaphore::snapshot_into`] shows it: one class per flow that waits
    /// (with the key of its next request) and per request of no flow, in the order of the
    /// line.
    ///
    /// A flow's requests wait as one class: that is what makes one more request of a
    /// waiting flow O(1) (module docs, "Costs"). `P: Copy`, as for the core's snapshots:
    /// nothing but a bitwise copy runs under the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::{future::Future, pin::pin, task::{Context, Waker}};
    /// use prio_semaphore::fair::FairSemaphore;
    /// use prio_semaphore::ClassInfo;
    ///
    /// let sem: FairSemaphore<&str> = FairSemaphore::new(0);
    /// let cx = &mut Context::from_waker(Waker::noop());
    /// let mut a1 = pin!(sem.acquire().priority(5).flow("a"));
    /// let mut a2 = pin!(sem.acquire().priority(5).flow("a"));
    /// let mut b = pin!(sem.acquire().priority(5).flow("b"));
    /// assert!(a1.as_mut().poll(cx).is_pending() && a2.as_mut().poll(cx).is_pending());
    /// assert!(b.as_mut().poll(cx).is_pending());
    ///
    /// // `FairKey` is not `Copy`: fill the buffer with `from_fn`, not `[x; n]`.
    /// let mut buf: [ClassInfo<_>; 4] = std::array::from_fn(|_| ClassInfo::default());
    /// let summary = sem.snapshot_into(&mut buf);
    /// let classes: Vec<_> = buf[..summary.classes].iter().map(|c| c.waiters).collect();
    /// assert_eq!(classes, [2, 1]); // flow "a" (two requests), then flow "b"
    /// ```
    pub fn snapshot_into(&self, buf: &mut [ClassInfo<FairKey<P>>]) -> Summary
    where
        P: Copy,
    {
        self.line.snapshot_into_as(buf, FairKey::shown)
    }

    /// The line as [`Semaphore::snapshot`] shows it, classes as in
    /// [`snapshot_into`](FairSemaphore::snapshot_into).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::{future::Future, pin::pin, task::{Context, Waker}};
    /// use prio_semaphore::fair::FairSemaphore;
    ///
    /// let sem: FairSemaphore<&str> = FairSemaphore::new(0);
    /// let cx = &mut Context::from_waker(Waker::noop());
    /// let mut a = pin!(sem.acquire().priority(1).flow("a"));
    /// assert!(a.as_mut().poll(cx).is_pending());
    /// let snapshot = sem.snapshot();
    /// assert_eq!(*snapshot.classes[0].priority.priority(), 1);
    /// assert_eq!(snapshot.summary.waiters, 1);
    /// ```
    #[cfg(feature = "alloc")]
    #[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
    pub fn snapshot(&self) -> Snapshot<FairKey<P>>
    where
        P: Copy,
    {
        self.line.snapshot_as(FairKey::shown)
    }

    /// How many levels (priority values) and flows the table holds entries for now:
    /// those with requests counted, and idle flows not yet swept (module docs, "Memory").
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use prio_semaphore::fair::FairSemaphore;
    ///
    /// let sem: FairSemaphore<&str> = FairSemaphore::new(1);
    /// drop(sem.acquire().flow("a").await.unwrap()); // never waited: nothing counted
    /// assert_eq!(sem.entries(), (0, 0));
    /// # });
    /// ```
    pub fn entries(&self) -> (usize, usize) {
        self.clock.with(|clock| clock.entries::<P, K>())
    }
}

#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
impl<K, P, S: FlowStore<P, K>, L: RawLock> FairSemaphore<K, P, S, L> {
    /// Acquires one permit through an `Arc`, resolving to an [`OwnedPermit`] that keeps the
    /// line alive; as [`acquire`](FairSemaphore::acquire) otherwise.
    ///
    /// # Cancellation
    ///
    /// As for [`acquire`](FairSemaphore::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::fair::FairSemaphore;
    ///
    /// # futures::executor::block_on(async {
    /// let sem: Arc<FairSemaphore<&str>> = Arc::new(FairSemaphore::new(1));
    /// let permit = sem.clone().acquire_owned().flow("a").await.unwrap();
    /// let worker = std::thread::spawn(move || drop(permit));
    /// worker.join().unwrap();
    /// assert_eq!(sem.available_permits(), 1);
    /// # });
    /// ```
    pub fn acquire_owned(self: Arc<Self>) -> FairAcquireOwned<K, P, S, L>
    where
        P: Ord + Default + Clone + 'static,
    {
        FairAcquireOwned::new(self, 1)
    }

    /// Acquires `n` permits through an `Arc`; as
    /// [`acquire_many`](FairSemaphore::acquire_many) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use prio_semaphore::fair::FairSemaphore;
    ///
    /// # futures::executor::block_on(async {
    /// let sem: Arc<FairSemaphore<u8>> = Arc::new(FairSemaphore::new(3));
    /// let permit = sem.clone().acquire_many_owned(2).flow(7).await.unwrap();
    /// assert_eq!(permit.num_permits(), 2);
    /// # });
    /// ```
    pub fn acquire_many_owned(self: Arc<Self>, n: u32) -> FairAcquireOwned<K, P, S, L>
    where
        P: Ord + Default + Clone + 'static,
    {
        FairAcquireOwned::new(self, n)
    }
}

impl<K, P, S: FlowStore<P, K>, L: RawLock> core::fmt::Debug for FairSemaphore<K, P, S, L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FairSemaphore")
            .field("line", self.semaphore())
            .finish_non_exhaustive()
    }
}

// As for `Semaphore`: a panic anywhere (a key's code, a waker) leaves the semaphore
// consistent and its counts exact.
impl<K, P, S: FlowStore<P, K>, L: RawLock> core::panic::RefUnwindSafe
    for FairSemaphore<K, P, S, L>
{
}
impl<K, P, S: FlowStore<P, K>, L: RawLock> core::panic::UnwindSafe for FairSemaphore<K, P, S, L> {}

impl<'a, K, P: 'a, S: FlowStore<P, K>, L: RawLock> FairHandle for &'a FairSemaphore<K, P, S, L>
where
    P: Ord + Default + Clone + 'static,
{
    type Key = K;
    type Priority = P;
    type Lock = L;
    type Table = S::Table;
    type Line = Acquire<'a, FairKey<P>, L>;
    type Permit = Permit<'a, FairKey<P>, L>;

    fn clock(&self) -> &Mutex<L, Clock<S::Table>> {
        &self.clock
    }

    fn cells(&self) -> &Cells<P, K, S> {
        &self.cells
    }

    fn try_line(&self, permits: u32) -> Option<Result<Self::Permit, AcquireError>> {
        let line: &'a Semaphore<FairKey<P>, L> = &self.line;
        without_waiting(line.try_acquire_many(permits))
    }

    fn line(&self, permits: u32, key: FairKey<P>, queue_limit: usize) -> Self::Line {
        let line: &'a Semaphore<FairKey<P>, L> = &self.line;
        line.acquire_many(permits)
            .priority(key)
            .queue_limit(queue_limit)
    }
}

#[cfg(feature = "alloc")]
impl<K, P, S: FlowStore<P, K>, L: RawLock> FairHandle for Arc<FairSemaphore<K, P, S, L>>
where
    P: Ord + Default + Clone + 'static,
{
    type Key = K;
    type Priority = P;
    type Lock = L;
    type Table = S::Table;
    type Line = AcquireOwned<FairKey<P>, L>;
    type Permit = OwnedPermit<FairKey<P>, L>;

    fn clock(&self) -> &Mutex<L, Clock<S::Table>> {
        &self.clock
    }

    fn cells(&self) -> &Cells<P, K, S> {
        &self.cells
    }

    fn try_line(&self, permits: u32) -> Option<Result<Self::Permit, AcquireError>> {
        without_waiting(Arc::clone(&self.line).try_acquire_many_owned(permits))
    }

    fn line(&self, permits: u32, key: FairKey<P>, queue_limit: usize) -> Self::Line {
        Arc::clone(&self.line)
            .acquire_many_owned(permits)
            .priority(key)
            .queue_limit(queue_limit)
    }
}
