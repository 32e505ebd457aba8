//! [`ScopedRawMutexLock`]: any `mutex-traits` `ScopedRawMutex` as the semaphore's lock.

use core::cell::Cell;

use mutex_traits::{ConstInit, ScopedRawMutex};

use crate::lock::RawLock;

/// A [`RawLock`] made of a [`mutex-traits`] [`ScopedRawMutex`] (feature `mutex-traits`):
/// the lock interface shared by maitake-sync (its `Spinlock` and `DefaultMutex`), the
/// `mutex` crate's implementations (critical-section, lock_api, ...) and locks of your own.
///
/// Every [`mutex_traits::RawMutex`] is a `ScopedRawMutex` too. The mutex must also
/// implement [`ConstInit`], so that `Semaphore::new_generic` stays a `const fn`.
///
/// # Nesting
///
/// `ScopedRawMutex` leaves to each implementation what a nested `with_lock` on the same
/// mutex does, and some implementations (a critical section) let it run. The semaphore's
/// lock must not be re-entered: a priority type's `Ord`, which runs under the lock, that used
/// the same semaphore would get a second, aliasing access to its wait list. This adapter
/// keeps a flag, read and written only under the mutex, and panics on such a nested use
/// (where the mutex itself would not already block or panic).
///
/// [`mutex-traits`]: https://docs.rs/mutex-traits
///
/// # Examples
///
/// With maitake-sync's spin lock:
///
/// ```
/// use maitake_sync::spin::Spinlock;
/// use prio_semaphore::{ScopedRawMutexLock, Semaphore};
///
/// static POOL: Semaphore<i64, ScopedRawMutexLock<Spinlock>> = Semaphore::new_generic(2);
///
/// # futures::executor::block_on(async {
/// let urgent = POOL.acquire().priority(-1).await.unwrap();
/// let batch = POOL.acquire().priority(10).await.unwrap();
/// assert_eq!(POOL.available_permits(), 0);
/// drop((urgent, batch));
/// # });
/// ```
///
/// With a lock of your own: implement `ScopedRawMutex` (its safety contract is mutual
/// exclusion) and `ConstInit`.
///
/// ```
/// use core::sync::atomic::{AtomicBool, Ordering};
/// use mutex_traits::{ConstInit, ScopedRawMutex};
/// use prio_semaphore::{ScopedRawMutexLock, Semaphore};
///
/// /// A lock that never waits: it panics when it is taken.
/// struct TryOnly(AtomicBool);
///
/// impl ConstInit for TryOnly {
///     #[allow(clippy::declare_interior_mutable_const)]
///     const INIT: Self = TryOnly(AtomicBool::new(false));
/// }
///
/// // SAFETY: a closure runs only after the `false -> true` exchange (Acquire) succeeds,
/// // and the lock is released (Release) after it returns or unwinds.
/// unsafe impl ScopedRawMutex for TryOnly {
///     fn try_with_lock<R>(&self, f: impl FnOnce() -> R) -> Option<R> {
///         struct Unlock<'a>(&'a AtomicBool);
///         impl Drop for Unlock<'_> {
///             fn drop(&mut self) {
///                 self.0.store(false, Ordering::Release);
///             }
///         }
///         self.0
///             .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
///             .ok()?;
///         let _unlock = Unlock(&self.0);
///         Some(f())
///     }
///
///     fn with_lock<R>(&self, f: impl FnOnce() -> R) -> R {
///         self.try_with_lock(f).expect("TryOnly is taken")
///     }
///
///     fn is_locked(&self) -> bool {
///         self.0.load(Ordering::Relaxed)
///     }
/// }
///
/// let sem: Semaphore<i64, ScopedRawMutexLock<TryOnly>> = Semaphore::new_generic(1);
/// let permit = sem.try_acquire().unwrap();
/// assert!(sem.try_acquire().is_err());
/// drop(permit);
/// assert_eq!(sem.available_permits(), 1);
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "mutex-traits")))]
pub struct ScopedRawMutexLock<M> {
    raw: M,
    /// Whether a `with_lock` closure is running: read and written only while `raw` is locked.
    held: Cell<bool>,
}

impl<M: ScopedRawMutex + ConstInit> ScopedRawMutexLock<M> {
    #[cfg(not(loom))]
    const fn unlocked() -> Self {
        Self {
            raw: M::INIT,
            held: Cell::new(false),
        }
    }
}

// SAFETY: `held` is the only field that is not `Sync`, and it is only touched inside
// `raw.with_lock`, which `ScopedRawMutex`'s safety contract makes exclusive between threads
// (with the ordering that makes one locked section's writes visible to the next, as every
// blocking mutex built on the trait relies on). A mutex that is not `Sync` keeps this adapter
// `!Sync` too.
unsafe impl<M: ScopedRawMutex + Sync> Sync for ScopedRawMutexLock<M> {}

// SAFETY: mutual exclusion between threads: `with_lock` runs its closure only inside
// `raw.with_lock`, which `ScopedRawMutex`'s safety contract makes exclusive ("while locked, no
// other thread can lock"), the end of one locked section happening-before the start of the
// next. Within one thread: the trait lets an implementation run a nested `with_lock`; the
// `held` flag, only accessed inside the mutex, turns a nested call into a panic before its
// closure runs. Unwinding: `Release` clears `held`; releasing `raw` when the closure unwinds
// is the implementation's (the blanket implementation for `mutex_traits::RawMutex` uses a
// drop guard). One that stayed locked would make later calls wait or panic, never overlap.
unsafe impl<M: ScopedRawMutex + ConstInit> RawLock for ScopedRawMutexLock<M> {
    #[cfg(not(loom))]
    #[allow(
        clippy::declare_interior_mutable_const,
        reason = "a fresh lock per use, by design"
    )]
    const INIT: Self = Self::unlocked();

    #[cfg(loom)]
    fn new() -> Self {
        Self {
            raw: M::INIT,
            held: Cell::new(false),
        }
    }

    #[inline]
    fn with_lock<R>(&self, f: impl FnOnce() -> R) -> R {
        self.raw.with_lock(|| crate::lock::unnested(&self.held, f))
    }
}

impl<M> core::fmt::Debug for ScopedRawMutexLock<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ScopedRawMutexLock")
            .field("raw", &core::any::type_name::<M>())
            .finish_non_exhaustive()
    }
}
