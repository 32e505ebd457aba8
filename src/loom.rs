//! The sync facade: `core` primitives normally, loom's under `--cfg loom`.
//!
//! Everything in the crate that is shared between threads goes through this module, so the
//! loom models in `loom-tests/` check the real waiter list and hand-off code, not a copy.
//! Under loom the wake batch is also shrunk (see [`WAKE_BATCH`]) so that the rare
//! "batch full, unlock, wake, re-lock" path is explored with only a few waiters.

#[cfg(not(loom))]
mod imp {
    pub(crate) use core::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

    /// Tell the CPU we are spinning.
    #[inline]
    pub(crate) fn spin_loop() {
        core::hint::spin_loop();
    }

    /// An `UnsafeCell` with loom's closure-style access API, so call sites read the same
    /// under loom (which tracks every access) and without it (where this compiles away).
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self(core::cell::UnsafeCell::new(value))
        }

        #[inline]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }

    /// How many wakers are collected under the lock before it is released to wake them.
    pub(crate) const WAKE_BATCH: usize = 32;
}

#[cfg(loom)]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    #[allow(unused_imports)] // `AtomicBool` is only used with the `alloc` feature under loom
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

    // No `spin_loop`: under loom `SpinLock` blocks on loom's mutex instead of spinning
    // (see its `locked` field).

    /// Shrunk so that a model with three waiters already crosses a batch boundary.
    pub(crate) const WAKE_BATCH: usize = 2;
}

pub(crate) use imp::*;
