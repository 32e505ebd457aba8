//! The lock that guards the wait list, behind a small trait so other locks slot in.
//!
//! The default is [`SpinLock`]: it needs no operating system and no allocator, and the
//! critical sections it guards are short and bounded (see the `waitlist` module). It must
//! not be used from interrupt handlers (see [`SpinLock`]).

use crate::loom::UnsafeCell;
#[cfg(not(loom))]
use crate::loom::{spin_loop, AtomicBool, Ordering};

/// A raw mutual-exclusion lock that guards the semaphore's wait list.
///
/// The semaphore only ever calls [`RawLock::with_lock`] with short closures that never
/// block, allocate or call user code other than the priority type's `Ord` implementation
/// (wakers are cloned, woken and dropped after the lock is released).
///
/// The default is [`SpinLock`]. On a single-core microcontroller, code that uses a
/// semaphore from an interrupt handler needs a lock that masks interrupts instead, such as
/// `CriticalSectionLock` (feature `critical-section`): see [`SpinLock`] for why.
///
/// # Safety
///
/// Implementations must guarantee mutual exclusion: while one call to `with_lock` runs its
/// closure, no other call (on any thread or interrupt context) may run a closure on the same
/// lock, and the end of one closure must happen-before the start of the next (release on
/// unlock, acquire on lock). That includes a nested call from inside the closure on the same
/// thread: it must block, deadlock or panic, never run (a re-entrant lock would hand out a
/// second `&mut` to the wait list). If the closure panics, the lock must be released.
pub unsafe trait RawLock {
    /// A new, unlocked lock. A constant so that `Semaphore::new` can be a `const fn`.
    #[cfg(not(loom))]
    const INIT: Self;

    /// A new, unlocked lock (loom's primitives cannot be built in a constant).
    #[cfg(loom)]
    fn new() -> Self;

    /// Runs `f` with the lock held.
    fn with_lock<R>(&self, f: impl FnOnce() -> R) -> R;
}

/// A test-and-test-and-set spin lock: the default [`RawLock`].
///
/// Fine on threads and async executors, where critical sections are a few dozen
/// instructions long. With the `std` feature a waiter spins briefly with exponential
/// backoff and then yields its thread on every look at the lock, so a holder that was
/// preempted (threads outnumbering cores) gets a core back sooner; without `std` it spins.
///
/// With the `std` feature, a thread that runs a priority's `Ord` under this lock and tries
/// to take the same lock from inside it (an `Ord` that uses the semaphore it orders)
/// panics instead of spinning forever. Without `std` there is no thread to tell apart, and
/// it deadlocks.
///
/// # Not from interrupt handlers
///
/// On a single-core microcontroller, an interrupt handler that tries to take a spin lock
/// held by the code it interrupted spins forever: the holder cannot run until the handler
/// returns. If a semaphore is touched from an interrupt handler, give it a lock that masks
/// interrupts instead (`CriticalSectionLock`, feature `critical-section`).
///
/// # Examples
///
/// ```
/// use prio_semaphore::{Semaphore, SpinLock};
///
/// // `SpinLock` is the default lock type, so these two are the same type.
/// let sem: Semaphore<i64, SpinLock> = Semaphore::new(1);
/// assert_eq!(sem.available_permits(), 1);
/// ```
#[derive(Debug)]
pub struct SpinLock {
    #[cfg(not(loom))]
    locked: AtomicBool,
    /// Under loom a blocking mutex stands in for the spin. Loom treats every turn of a spin
    /// loop as a scheduling point that the preemption bound does not limit: a three-thread
    /// model that finishes in a fraction of a second this way ran for over five minutes
    /// without finishing with the spin. The models need mutual exclusion with
    /// happens-before from the lock, which loom's mutex gives, so they check the
    /// semaphore's protocol rather than the ten lines of spinning.
    #[cfg(loom)]
    locked: loom::sync::Mutex<()>,
}

impl SpinLock {
    #[cfg(not(loom))]
    const fn unlocked() -> Self {
        Self {
            locked: AtomicBool::new(false),
        }
    }

    #[cfg(not(loom))]
    #[inline]
    fn lock(&self) {
        let mut backoff = Backoff::new();
        loop {
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
            // A thread that holds this lock while running a priority's `Ord` and asks for
            // it again from inside that `Ord` would spin forever: make it a panic.
            #[cfg(feature = "std")]
            user_code::assert_not_running_under(self as *const Self as usize);
            // Wait on a plain load so waiting cores share the cache line until it is free.
            while self.locked.load(Ordering::Relaxed) {
                backoff.snooze();
            }
        }
    }
}

/// How a [`SpinLock`] waiter waits between two looks at the lock.
///
/// With `std`: exponential backoff (1, then 2, then 4 `spin_loop` hints: `SPIN_STEPS`
/// steps, about 170 ns on the AMD EPYC the benchmarks ran on, longer than a critical
/// section whose holder is running), then `std::thread::yield_now()` on every look, so
/// that when the holder was preempted, which happens once threads outnumber cores, the
/// waiter hands its core over instead of spinning out its time slice
/// (`docs/benchmarks.md`, group f). Without `std` there is no scheduler to yield to: a
/// plain `spin_loop` on every look.
#[cfg(not(loom))]
struct Backoff {
    #[cfg(feature = "std")]
    step: u32,
}

/// Backoff steps before a [`SpinLock`] waiter starts yielding its thread (with `std`).
#[cfg(all(feature = "std", not(loom)))]
const SPIN_STEPS: u32 = 3;

#[cfg(not(loom))]
impl Backoff {
    #[inline]
    const fn new() -> Self {
        Self {
            #[cfg(feature = "std")]
            step: 0,
        }
    }

    #[inline]
    fn snooze(&mut self) {
        #[cfg(feature = "std")]
        if self.step < SPIN_STEPS {
            for _ in 0..1u32 << self.step {
                spin_loop();
            }
            self.step += 1;
        } else {
            std::thread::yield_now();
        }
        #[cfg(not(feature = "std"))]
        spin_loop();
    }
}

// SAFETY: `with_lock` runs its closure only after winning the `false -> true` exchange
// (Acquire), and a `Guard` stores `false` (Release) when the closure returns or unwinds, so
// closures never overlap and each one happens-after the previous. (Under loom, loom's mutex
// gives the same guarantees.)
unsafe impl RawLock for SpinLock {
    #[cfg(not(loom))]
    #[allow(
        clippy::declare_interior_mutable_const,
        reason = "it is a fresh lock per use, by design"
    )]
    const INIT: Self = Self::unlocked();

    #[cfg(loom)]
    fn new() -> Self {
        Self {
            locked: loom::sync::Mutex::new(()),
        }
    }

    #[cfg(loom)]
    fn with_lock<R>(&self, f: impl FnOnce() -> R) -> R {
        // A poisoned lock only means an earlier closure panicked; the guard was released.
        let _guard = self
            .locked
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f()
    }

    #[cfg(not(loom))]
    #[inline]
    fn with_lock<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Guard<'a>(&'a AtomicBool);
        impl Drop for Guard<'_> {
            #[inline]
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        self.lock();
        let _guard = Guard(&self.locked);
        f()
    }
}

/// Runs `f` inside a lock that lets one context lock it again (critical sections, embassy's
/// and `mutex-traits`' raw mutexes): `held`, read and written only while that lock is held,
/// turns a nested call into a panic before its closure runs, and is cleared again when `f`
/// returns or unwinds.
#[cfg(any(
    feature = "critical-section",
    feature = "embassy-sync",
    feature = "mutex-traits"
))]
#[inline]
pub(crate) fn unnested<R>(held: &core::cell::Cell<bool>, f: impl FnOnce() -> R) -> R {
    struct Release<'a>(&'a core::cell::Cell<bool>);
    impl Drop for Release<'_> {
        fn drop(&mut self) {
            self.0.set(false);
        }
    }
    assert!(
        !held.replace(true),
        "semaphore lock re-entered: a priority's `Ord` used the same semaphore"
    );
    let _release = Release(held);
    f()
}

/// A value guarded by a [`RawLock`].
pub(crate) struct Mutex<L, T> {
    lock: L,
    value: UnsafeCell<T>,
}

impl<L: RawLock, T> Mutex<L, T> {
    #[cfg(not(loom))]
    pub(crate) const fn new(value: T) -> Self {
        Self {
            lock: L::INIT,
            value: UnsafeCell::new(value),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new(value: T) -> Self {
        Self {
            lock: L::new(),
            value: UnsafeCell::new(value),
        }
    }

    /// Runs `f`, which calls user code (a priority's `Ord`), while this thread holds the
    /// lock: with `std`, a [`SpinLock`] that this user code tries to take again panics
    /// instead of spinning forever. (`CriticalSectionLock` panics by itself.)
    #[inline]
    pub(crate) fn running_user_code<R>(&self, f: impl FnOnce() -> R) -> R {
        #[cfg(all(feature = "std", not(loom)))]
        let _mark = user_code::Mark::new(&self.lock as *const L as usize);
        f()
    }

    /// Runs `f` with exclusive access to the value.
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        self.lock.with_lock(|| {
            self.value.with_mut(|ptr| {
                // SAFETY: `RawLock`'s contract makes this closure the only code touching
                // `value` until it returns, so the `&mut` is unique for its lifetime.
                f(unsafe { &mut *ptr })
            })
        })
    }
}

// SAFETY: the value is only reached through `with`, which holds the lock (mutual exclusion
// by `RawLock`'s contract), so sharing the mutex hands the value to one thread at a time:
// that needs `T: Send`, and the lock itself must be shareable.
unsafe impl<L: Sync, T: Send> Sync for Mutex<L, T> {}

impl<L, T> core::fmt::Debug for Mutex<L, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Mutex { .. }")
    }
}

/// The locks this thread holds while it runs user code under them, so that a nested attempt
/// to take one of them is a clear panic rather than a silent deadlock. Only with `std`:
/// without threads there is no "this thread" to ask.
#[cfg(all(feature = "std", not(loom)))]
mod user_code {
    use std::cell::Cell;

    /// How many nested marks are remembered (a priority's `Ord` that uses a second
    /// semaphore whose `Ord` uses a third...); deeper ones are counted but not checked.
    const DEPTH: usize = 4;

    std::thread_local! {
        /// `(marks, addresses of the first DEPTH marked locks)`.
        static MARKED: Cell<(usize, [usize; DEPTH])> = const { Cell::new((0, [0; DEPTH])) };
    }

    /// Marks a lock as held by this thread while user code runs, until dropped.
    pub(super) struct Mark(());

    impl Mark {
        #[inline]
        pub(super) fn new(lock: usize) -> Self {
            // `try_with`: during thread teardown the mark is skipped, not a panic.
            let _ = MARKED.try_with(|marked| {
                let (len, mut locks) = marked.get();
                if let Some(slot) = locks.get_mut(len) {
                    *slot = lock;
                }
                marked.set((len + 1, locks));
            });
            Mark(())
        }
    }

    impl Drop for Mark {
        #[inline]
        fn drop(&mut self) {
            let _ = MARKED.try_with(|marked| {
                let (len, locks) = marked.get();
                marked.set((len.saturating_sub(1), locks));
            });
        }
    }

    /// Panics if this thread runs user code while holding `lock`.
    #[cold]
    #[inline(never)]
    pub(super) fn assert_not_running_under(lock: usize) {
        let held = MARKED
            .try_with(|marked| {
                let (len, locks) = marked.get();
                locks[..len.min(DEPTH)].contains(&lock)
            })
            .unwrap_or(false);
        assert!(
            !held,
            "semaphore lock re-entered: a priority's `Ord` used the semaphore it orders"
        );
    }
}
