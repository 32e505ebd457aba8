//! [`EmbassyRawMutexLock`]: any embassy-sync `RawMutex` as the semaphore's lock.

use core::cell::Cell;

use embassy_sync::blocking_mutex::raw::RawMutex;

use crate::lock::RawLock;

/// A [`RawLock`] made of an [embassy-sync] [`RawMutex`] (feature `embassy-sync`), so a
/// semaphore is locked the way the rest of an embassy application is.
///
/// embassy-sync's mutex kinds carry over with their meaning:
///
/// | `M` | the semaphore can be used from |
/// |---|---|
/// | [`CriticalSectionRawMutex`] | any task, any executor and interrupt handlers (like [`CriticalSectionLock`](crate::CriticalSectionLock) with feature `critical-section`) |
/// | `ThreadModeRawMutex` (Cortex-M only) | thread mode only (tasks of a thread-mode executor); locking it from an interrupt handler panics |
/// | [`NoopRawMutex`] | one executor only: the semaphore is then not `Sync`, so it cannot be a `static` or be shared between threads, which the compiler enforces |
///
/// # Nesting
///
/// embassy-sync's raw mutexes may be locked again from inside their own closure (a
/// critical section nests; a no-op mutex is always free), but the semaphore's lock must not
/// be: a priority type's `Ord`, which runs under the lock, that used the same semaphore would
/// get a second, aliasing access to its wait list. This adapter keeps a flag, read and
/// written only under the mutex, and panics on such a nested use instead.
///
/// [embassy-sync]: https://docs.rs/embassy-sync
/// [`CriticalSectionRawMutex`]: embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex
/// [`NoopRawMutex`]: embassy_sync::blocking_mutex::raw::NoopRawMutex
///
/// # Examples
///
/// A `static` semaphore that tasks and interrupt handlers share:
///
/// ```
/// use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
/// use prio_semaphore::{EmbassyRawMutexLock, Semaphore};
///
/// type Lock = EmbassyRawMutexLock<CriticalSectionRawMutex>;
/// static RADIO: Semaphore<i64, Lock> = Semaphore::new_generic(1);
///
/// # futures::executor::block_on(async {
/// let permit = RADIO.acquire().priority(0).await.unwrap();
/// assert!(RADIO.try_acquire().is_err());
/// drop(permit);
/// assert_eq!(RADIO.available_permits(), 1);
/// # });
/// ```
///
/// With `NoopRawMutex`, for a semaphore that never leaves one executor:
///
/// ```
/// use embassy_sync::blocking_mutex::raw::NoopRawMutex;
/// use prio_semaphore::{EmbassyRawMutexLock, Semaphore};
///
/// let local: Semaphore<u8, EmbassyRawMutexLock<NoopRawMutex>> = Semaphore::new_generic(2);
/// let permit = local.try_acquire_many(2).unwrap();
/// assert_eq!(local.available_permits(), 0);
/// drop(permit);
/// ```
///
/// Such a semaphore cannot be a `static`, which every thread and interrupt handler could reach:
///
/// ```compile_fail
/// use embassy_sync::blocking_mutex::raw::NoopRawMutex;
/// use prio_semaphore::{EmbassyRawMutexLock, Semaphore};
///
/// // error[E0277]: cannot be shared between threads safely (`NoopRawMutex` is not `Sync`)
/// static SHARED: Semaphore<u8, EmbassyRawMutexLock<NoopRawMutex>> = Semaphore::new_generic(2);
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "embassy-sync")))]
pub struct EmbassyRawMutexLock<M> {
    raw: M,
    /// Whether a `with_lock` closure is running: read and written only while `raw` is locked.
    held: Cell<bool>,
}

impl<M: RawMutex> EmbassyRawMutexLock<M> {
    #[cfg(not(loom))]
    const fn unlocked() -> Self {
        Self {
            raw: M::INIT,
            held: Cell::new(false),
        }
    }
}

// SAFETY: `held` is the only field that is not `Sync`, and it is only touched inside
// `raw.lock`, which `RawMutex`'s contract makes exclusive between threads (and between every
// context that can reach a `Sync` raw mutex, interrupt handlers included: embassy-sync's own
// `blocking_mutex::Mutex<M, RefCell<T>>` is `Sync` on exactly that guarantee). A mutex that is
// not `Sync` (`NoopRawMutex`) keeps this adapter `!Sync` too.
unsafe impl<M: RawMutex + Sync> Sync for EmbassyRawMutexLock<M> {}

// SAFETY: mutual exclusion between threads and contexts: `with_lock` runs its closure only
// inside `raw.lock`, which `RawMutex`'s safety contract makes exclusive across threads, and
// the end of one locked section happens-before the start of the next (the synchronisation
// that embassy-sync's `Mutex<M, RefCell<T>>` relies on for its `Sync`). Mutual exclusion
// within one context: `RawMutex` allows re-entrant locking, so a nested `with_lock` would
// reach `raw.lock`'s closure; the `held` flag, only accessed there, makes it panic before the
// nested closure runs. Unwinding: `Release` clears `held` when the closure panics, and
// releasing `raw` on unwind is the raw mutex's own (its closure API leaves no other way:
// `CriticalSectionRawMutex` goes through `critical_section::with`, which releases on unwind;
// the other two hold nothing). A raw mutex that stayed locked after a panic would make later
// calls wait or panic, never overlap.
unsafe impl<M: RawMutex> RawLock for EmbassyRawMutexLock<M> {
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
        self.raw.lock(|| crate::lock::unnested(&self.held, f))
    }
}

impl<M> core::fmt::Debug for EmbassyRawMutexLock<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EmbassyRawMutexLock")
            .field("raw", &core::any::type_name::<M>())
            .finish_non_exhaustive()
    }
}
