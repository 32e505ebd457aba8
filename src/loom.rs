//! The sync facade: `core` primitives normally, loom's under `--cfg loom`.
//!
//! Everything in the crate that is shared between threads goes through this module, so the
//! loom models in `loom-tests/` check the real waiter list and hand-off code, not a copy.
//! Under loom the wake batch is also shrunk (see [`WAKE_BATCH`]) so that the rare
//! "batch full, unlock, wake, re-lock" path is explored with only a few waiters.

#[cfg(not(loom))]
mod imp {
    // Targets with compare-and-swap use `core`'s atomics directly: the code is exactly what
    // it would be without this facade, and no dependency is added.
    #[cfg(all(target_has_atomic = "8", target_has_atomic = "ptr"))]
    pub(crate) use core::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

    // Targets without compare-and-swap (Cortex-M0/M0+ `thumbv6m-none-eabi`, RISC-V without
    // the A extension such as `riscv32imc-unknown-none-elf`) have atomic loads and stores
    // only. `portable-atomic` (a dependency on those targets alone) provides the same types
    // with compare-and-swap and read-modify-write emulated by masking interrupts: through
    // the `critical-section` crate when our `critical-section` feature is on, or directly
    // under `--cfg portable_atomic_unsafe_assume_single_core` (see the crate docs,
    // "Microcontrollers without compare-and-swap"). Its `require-cas` feature turns a build
    // that has neither into one clear compile error.
    #[cfg(not(all(target_has_atomic = "8", target_has_atomic = "ptr")))]
    pub(crate) use portable_atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

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

    /// Threads (blocking `wait()`): std's, or loom's under loom.
    #[cfg(feature = "std")]
    pub(crate) use std::thread;
}

#[cfg(loom)]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    #[allow(
        unused_imports,
        reason = "`AtomicBool` is only used with the `alloc` feature under loom"
    )]
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

    // No `spin_loop`: under loom `SpinLock` blocks on loom's mutex instead of spinning
    // (see its `locked` field).

    /// Shrunk so that a model with three waiters already crosses a batch boundary.
    pub(crate) const WAKE_BATCH: usize = 2;

    /// Loom's threads run on one OS thread: parking must be loom's `park`/`unpark` (std's
    /// would block them all).
    #[cfg(feature = "std")]
    pub(crate) use loom::thread;
}

pub(crate) use imp::*;

/// `thread_local!` with a `const` initialiser (blocking `wait()`'s waker cache, ambient
/// scopes): std's, or loom's under loom, whose model threads share one OS thread and so
/// must not share std's thread-locals (which would also outlive each execution).
#[cfg(feature = "std")]
macro_rules! const_thread_local {
    ($(#[$attr:meta])* static $name:ident: $t:ty = const { $($init:tt)* };) => {
        #[cfg(not(loom))]
        std::thread_local! { $(#[$attr])* static $name: $t = const { $($init)* }; }
        #[cfg(loom)]
        loom::thread_local! { $(#[$attr])* static $name: $t = { $($init)* }; }
    };
}
#[cfg(feature = "std")]
pub(crate) use const_thread_local;

/// Declares a function `const` except under loom, whose primitives are built at run time.
macro_rules! const_unless_loom {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty $(where ($($bound:tt)*))? $body:block) => {
        #[cfg(not(loom))]
        $(#[$meta])* $vis const fn $name($($arg: $ty),*) -> $ret $(where $($bound)*)? $body
        #[cfg(loom)]
        $(#[$meta])* $vis fn $name($($arg: $ty),*) -> $ret $(where $($bound)*)? $body
    };
}
pub(crate) use const_unless_loom;
