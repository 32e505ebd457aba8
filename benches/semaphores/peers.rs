//! The implementations under test, each behind a thin adapter ([`Peer`]) that calls the
//! crate the way its documentation shows, and [`for_each_peer!`] to run a workload on all.

use std::future::Future;
use std::sync::Arc;

use prio_semaphore::{RawLock, SpinLock};

/// One semaphore implementation, used the way its documentation shows.
pub trait Peer: Send + Sync + Sized + 'static {
    /// The crate's name, as it appears in the report.
    const NAME: &'static str;
    /// Whether waiters can carry a priority. Without, `acquire_prio` is plain `acquire`.
    const PRIORITIES: bool = false;
    /// Whether a dropped waiter stays queued until permits reach it (lazy deletion).
    const LAZY_CANCEL: bool = false;

    fn with_permits(permits: usize) -> Self;

    /// Takes one permit without waiting; `None` if none is free.
    fn try_acquire(&self) -> Option<impl Sized + '_>;

    /// The crate's plain `acquire()` for one permit; the output holds the permit.
    fn acquire(&self) -> impl Future<Output = impl Sized + Send + '_> + Send + '_;

    /// Acquires one permit at `priority`, smaller values first.
    fn acquire_prio(
        &self,
        priority: i64,
    ) -> impl Future<Output = impl Sized + Send + '_> + Send + '_;

    /// Blocks this thread until it holds one permit: the crate's own blocking acquire if it
    /// has one, else `futures::executor::block_on(acquire())`.
    #[inline]
    fn acquire_blocking(&self) -> impl Sized + '_ {
        futures::executor::block_on(self.acquire())
    }
}

/// A lock this crate can guard its wait list with, and the name its row carries in the
/// report: the default [`SpinLock`], or a variant measured beside it
/// (`crate::variants`).
pub trait NamedLock: RawLock + Send + Sync + 'static {
    const NAME: &'static str;
}

impl NamedLock for SpinLock {
    const NAME: &'static str = "prio-semaphore";
}

/// This crate, with its default lock unless a variant names another.
pub struct PrioSemaphore<L: NamedLock = SpinLock>(prio_semaphore::Semaphore<i64, L>);

impl<L: NamedLock> Peer for PrioSemaphore<L> {
    const NAME: &'static str = L::NAME;
    const PRIORITIES: bool = true;

    fn with_permits(permits: usize) -> Self {
        Self(prio_semaphore::Semaphore::new_generic(permits))
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

    /// `acquire().wait()`: `src/blocking.rs`'s park/unpark executor.
    #[inline]
    fn acquire_blocking(&self) -> impl Sized + '_ {
        self.0.acquire().wait()
    }
}

/// `tokio::sync::Semaphore`: FIFO, weighted, intrusive wait list behind a mutex.
pub struct Tokio(tokio::sync::Semaphore);

impl Peer for Tokio {
    const NAME: &'static str = "tokio";

    fn with_permits(permits: usize) -> Self {
        Self(tokio::sync::Semaphore::new(permits))
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
        _priority: i64,
    ) -> impl Future<Output = impl Sized + Send + '_> + Send + '_ {
        self.0.acquire()
    }
}

/// `async_lock::Semaphore`: a counter plus an `event-listener` `Event`; not weighted.
pub struct AsyncLock(async_lock::Semaphore);

impl Peer for AsyncLock {
    const NAME: &'static str = "async-lock";

    fn with_permits(permits: usize) -> Self {
        Self(async_lock::Semaphore::new(permits))
    }

    #[inline]
    fn try_acquire(&self) -> Option<impl Sized + '_> {
        self.0.try_acquire()
    }

    #[inline]
    fn acquire(&self) -> impl Future<Output = impl Sized + Send + '_> + Send + '_ {
        self.0.acquire()
    }

    #[inline]
    fn acquire_prio(
        &self,
        _priority: i64,
    ) -> impl Future<Output = impl Sized + Send + '_> + Send + '_ {
        self.0.acquire()
    }

    /// Its own `acquire_blocking()` (event-listener's blocking wait).
    #[inline]
    fn acquire_blocking(&self) -> impl Sized + '_ {
        self.0.acquire_blocking()
    }
}

/// `maitake_sync::Semaphore`: FIFO, weighted, intrusive (cordyceps) list, no_std.
pub struct Maitake(maitake_sync::Semaphore);

impl Peer for Maitake {
    const NAME: &'static str = "maitake-sync";

    fn with_permits(permits: usize) -> Self {
        Self(maitake_sync::Semaphore::new(permits))
    }

    #[inline]
    fn try_acquire(&self) -> Option<impl Sized + '_> {
        self.0.try_acquire(1).ok()
    }

    #[inline]
    fn acquire(&self) -> impl Future<Output = impl Sized + Send + '_> + Send + '_ {
        self.0.acquire(1)
    }

    #[inline]
    fn acquire_prio(
        &self,
        _priority: i64,
    ) -> impl Future<Output = impl Sized + Send + '_> + Send + '_ {
        self.0.acquire(1)
    }
}

/// `priority_semaphore::PrioritySemaphore` 0.2: a binary heap of `Arc`'d waiters, larger
/// priorities first, one permit per request; its API takes `self: &Arc<Self>`.
pub struct PrioritySemaphore02(Arc<priority_semaphore::PrioritySemaphore>);

impl PrioritySemaphore02 {
    /// Its priorities are `i32`, larger first.
    #[inline]
    fn priority(priority: i64) -> i32 {
        i32::try_from(-priority).expect("benchmark priorities fit in i32")
    }
}

impl Peer for PrioritySemaphore02 {
    const NAME: &'static str = "priority-semaphore";
    const PRIORITIES: bool = true;

    fn with_permits(permits: usize) -> Self {
        Self(Arc::new(priority_semaphore::PrioritySemaphore::new(
            permits,
        )))
    }

    #[inline]
    fn try_acquire(&self) -> Option<impl Sized + '_> {
        self.0.try_acquire(0).ok()
    }

    #[inline]
    fn acquire(&self) -> impl Future<Output = impl Sized + Send + '_> + Send + '_ {
        // It has no priority-less acquire: 0 is its neutral value.
        self.0.acquire(0)
    }

    #[inline]
    fn acquire_prio(
        &self,
        priority: i64,
    ) -> impl Future<Output = impl Sized + Send + '_> + Send + '_ {
        self.0.acquire(Self::priority(priority))
    }
}

/// `ranked_semaphore::RankedSemaphore` 0.1: a `HashMap` of per-priority `VecDeque`s of
/// `Arc`'d waiters plus a `BinaryHeap` of priorities, larger first, behind a `std` mutex.
pub struct Ranked(ranked_semaphore::RankedSemaphore);

impl Peer for Ranked {
    const NAME: &'static str = "ranked-semaphore";
    const PRIORITIES: bool = true;
    /// Its `Acquire::drop` marks the waiter cancelled and leaves it in the queue.
    const LAZY_CANCEL: bool = true;

    fn with_permits(permits: usize) -> Self {
        Self(ranked_semaphore::RankedSemaphore::new_fifo(permits))
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
        self.0
            .acquire_with_priority(isize::try_from(-priority).expect("fits in isize"))
    }
}

/// Calls `$f::<Peer>($args)` for every implementation, in report order.
macro_rules! for_each_peer {
    ($f:ident($($arg:expr),* $(,)?)) => {{
        $f::<$crate::peers::PrioSemaphore>($($arg),*);
        $f::<$crate::peers::Tokio>($($arg),*);
        $f::<$crate::peers::AsyncLock>($($arg),*);
        $f::<$crate::peers::Maitake>($($arg),*);
        $f::<$crate::peers::PrioritySemaphore02>($($arg),*);
        $f::<$crate::peers::Ranked>($($arg),*);
    }};
}

pub(crate) use for_each_peer;
