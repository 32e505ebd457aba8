//! [`CriticalSectionLock`]: an interrupt-safe [`RawLock`] built on the `critical-section` crate.

use core::cell::Cell;

use crate::lock::RawLock;

/// A [`RawLock`] that takes a critical section: a semaphore that can be used from interrupt
/// handlers (feature `critical-section`).
///
/// # Why not the default spin lock
///
/// On a single-core microcontroller, an interrupt handler that tries to take a
/// [`SpinLock`](crate::SpinLock) held by the code it interrupted spins forever: the holder
/// cannot run again until the handler returns. This lock instead runs the semaphore's short
/// critical sections inside
/// [`critical_section::with`](https://docs.rs/critical-section/1/critical_section/fn.with.html),
/// which on single-core MCUs masks interrupts, so no handler can run while the lock is held,
/// and on multi-core chips also takes the implementation's cross-core lock. Use it for any
/// semaphore that an interrupt handler touches (`try_acquire`, `add_permits`, dropping a
/// permit, polling an acquire).
///
/// The critical section is held only for the semaphore's bounded list operations (a few
/// pointer updates and priority comparisons); wakers run after it is released. Every
/// `CriticalSectionLock` shares the one critical section of the program, as the
/// `critical-section` crate intends.
///
/// The application provides the critical-section implementation for its target, as usual
/// with that crate (for example `cortex-m`'s `critical-section-single-core` feature, or
/// `critical-section`'s `std` feature on a host).
///
/// # Nesting
///
/// Critical sections nest (an inner one is a no-op), but the semaphore's lock must not: a
/// priority type's `Ord`, which runs under the lock, that used the same semaphore would
/// otherwise get a second, aliasing access to its wait list. This lock detects that and
/// panics, where a spin lock would deadlock.
///
/// # Examples
///
/// ```
/// use prio_semaphore::{CriticalSectionLock, Semaphore};
///
/// static SEM: Semaphore<i64, CriticalSectionLock> = Semaphore::new_generic(1);
///
/// // In thread mode or in an interrupt handler alike:
/// let permit = SEM.try_acquire().unwrap();
/// assert!(SEM.try_acquire().is_err());
/// drop(permit);
/// assert_eq!(SEM.available_permits(), 1);
/// ```
pub struct CriticalSectionLock {
    /// Whether the lock is held: only touched inside a critical section.
    held: critical_section::Mutex<Cell<bool>>,
}

impl CriticalSectionLock {
    #[cfg(not(loom))]
    const fn unlocked() -> Self {
        Self {
            held: critical_section::Mutex::new(Cell::new(false)),
        }
    }
}

// SAFETY: `with_lock` runs its closure inside `critical_section::with`, whose contract (the
// `acquire`/`release` contract every implementation must uphold) makes critical sections
// mutually exclusive across all cores and interrupt contexts, with Acquire ordering on entry
// and Release on exit on a location shared by all of them: so the end of one closure
// happens-before the start of the next. Critical sections nest, so a nested `with_lock` on
// the same context would not be excluded: the `held` flag (read and written only inside the
// critical section) turns that into a panic before the closure runs. `critical_section::with`
// releases the critical section if the closure panics, and `Release` clears `held` on unwind.
unsafe impl RawLock for CriticalSectionLock {
    #[cfg(not(loom))]
    #[allow(
        clippy::declare_interior_mutable_const,
        reason = "a fresh lock per use, by design"
    )]
    const INIT: Self = Self::unlocked();

    #[cfg(loom)]
    fn new() -> Self {
        Self {
            held: critical_section::Mutex::new(Cell::new(false)),
        }
    }

    #[inline]
    fn with_lock<R>(&self, f: impl FnOnce() -> R) -> R {
        critical_section::with(|cs| crate::lock::unnested(self.held.borrow(cs), f))
    }
}

impl core::fmt::Debug for CriticalSectionLock {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CriticalSectionLock")
            .finish_non_exhaustive()
    }
}
