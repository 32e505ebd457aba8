//! An async semaphore whose waiters are served **by priority**: smaller values first,
//! equal values in arrival order.
//!
//! Put it between your code and a scarce resource (database connections, model inference,
//! a rate-limited API, a bus on a microcontroller) when some callers must go first, for
//! example realtime requests ahead of a batch backlog sharing one limit.
//!
//! * **Any executor.** Waiting uses nothing but the [`Waker`](core::task::Waker) of the
//!   polling task: tokio, smol, async-std, `futures::executor`, embassy or your own.
//! * **A drop-in for tokio's semaphore.** Same names and behaviour while you set no
//!   priorities: `Semaphore::new`, `acquire`, `acquire_many`, `try_acquire`, `add_permits`,
//!   `forget_permits`, `close`, permit `forget`/`merge`/`split`.
//! * **No allocation per waiter.** Each [`Acquire`] future carries its own node of an
//!   intrusive wait list, sorted by priority, guarded by a short spin lock.
//! * **`no_std`.** The core needs neither `std` nor an allocator.
//!
//! # Quick start
//!
//! ```
//! use prio_semaphore::Semaphore;
//!
//! static INFERENCE: Semaphore = Semaphore::new(4);
//!
//! async fn realtime(prompt: &str) -> usize {
//!     let _permit = INFERENCE.acquire().priority(0).await.unwrap();
//!     prompt.len() // ... call the model while holding the permit
//! }
//!
//! async fn batch(prompt: &str) -> usize {
//!     let _permit = INFERENCE.acquire().priority(10).await.unwrap();
//!     prompt.len()
//! }
//! # futures::executor::block_on(async { assert_eq!(realtime("hi").await + batch("yo").await, 4) });
//! ```
//!
//! # Ordering rules
//!
//! | situation | who is served first |
//! |---|---|
//! | different priorities | the smaller value (`Reverse<T>` flips it) |
//! | equal priorities | the earlier arrival (strict FIFO) |
//! | plain `acquire()` | the ambient priority (`with_priority`, feature `std`), else `P::default()` (`0` for `i64`) |
//! | `try_acquire` while anyone waits | nobody barges: it fails |
//! | a large request at the front | it collects permits; those behind it wait |
//! | a more urgent request arrives behind it | it takes the collected permits first |
//!
//! Priorities can be any [`Ord`] type: integers (default `i64`), your own enums, tuples,
//! [`core::cmp::Reverse`], or [`FloatPriority`] for `f64` (NaN is served last).
//!
//! # Cancellation and timeouts
//!
//! Dropping an [`Acquire`] future at any point loses nothing (see its docs), so any
//! runtime's timeout around `acquire()` is a correct acquire-with-timeout.
//!
//! # Overload
//!
//! Without bounds a request waits as long as it takes. Two opt-in bounds refuse it
//! instead, with an [`AcquireError`] for which [`AcquireError::is_overload`] holds:
//! [`Acquire::queue_limit`] (a request that would wait while `n` requests already wait is
//! refused at once, decided under the lock in O(1); give urgent classes larger limits) and
//! [`Acquire::timeout`] (the request gives up when a timer future of your runtime
//! completes; the crate has no timer). Threads use [`Acquire::wait_timeout`] and
//! `Semaphore::blocking_acquire_timeout` (`std::thread::park_timeout`). The tower layer
//! turns refusals into `503` with `Retry-After`, or `429`. Neither bound makes any future
//! bigger.
//!
//! # Sizes
//!
//! On 64-bit targets, with `i64` priorities (smaller priority types take the same room):
//!
//! | type | default features | with `overtake-limit` | with `tracing` (and `std`) |
//! |---|---|---|---|
//! | [`Semaphore`] | 80 bytes | 112 bytes | 1,920 bytes (the futurelock watch) |
//! | [`Acquire`], `AcquireOwned` | 88 bytes | 104 bytes | 168 bytes (120 without `std`) |
//! | [`Permit`], `OwnedPermit` | 16 bytes | 16 bytes | 16 bytes |
//!
//! The acquire future carries its own wait-list node (priority, tree and run links, the
//! waker), so an awaiting task grows by that much; tokio's acquire future is 88 bytes too.
//! Feature `overtake-limit` adds the arrival links its anti-starvation reads, 16 bytes per
//! future whether a semaphore sets a limit or not, which is why it is opt-in; `tracing`
//! adds what its events show. With both (and `std`): 1,944 and 184 bytes. A semaphore's last
//! 8 bytes say whether its line holds a [`fair::FairSemaphore`]'s flows (`fair`, "Costs").
//!
//! The fair-share layers wrap a core request and leave the core's types as they are. With
//! the default features: a [`fair::FairAcquire`] is 168 bytes (the core request for
//! `FairKey<i64>`, 112 bytes, of which 16 are the key's flow in the line, and 56 for what
//! it asks for until its first poll and the way back to its semaphore), a
//! [`fair::FairSemaphore`] 256 bytes (an `Arc` of its line, and the flow table's vectors
//! and maps, whose entries are on the heap; inline with `ArrayFlows`), a
//! [`share::ShareAcquire`] 128 bytes (88 + 40) and a [`share::ShareSemaphore`] 1,040 bytes
//! (8 class lines and the books). Features grow them as
//! they grow the core request they wrap.
//!
//! # Seeing who waits
//!
//! [`Semaphore::summary`] gives the figures an operator asks for (permits free and held,
//! waiters, a partial grant being collected, how often the oldest waiter was overtaken);
//! [`Semaphore::snapshot_into`] adds each queued priority class, its waiters and the permits
//! they ask for, into a buffer you provide (no allocation, `no_std`), and
//! `Semaphore::snapshot` (feature `alloc`) returns them all. With the `tracing` feature the
//! semaphore emits events when a request queues, is granted (with how long it waited), is
//! cancelled, and when the semaphore closes. Neither runs any of your code under the lock.
//!
//! The events (target `prio_semaphore`; `semaphore` is the semaphore's address):
//!
//! | message | level | fields |
//! |---|---|---|
//! | `request queued` | `TRACE` | `semaphore`, `priority`, `permits`, `depth` (queued requests just after it joined) |
//! | `request granted` | `TRACE` | `semaphore`, `priority`, `permits`, `grants_waited` (requests served while it waited), `waited` (`Option<Duration>`, with `std`) |
//! | `request cancelled` | `DEBUG` | `semaphore`, `priority`, `permits`, `granted` (its permits had been handed over, and were handed on) |
//! | `request failed: semaphore closed` | `DEBUG` | `semaphore`, `priority`, `permits` |
//! | `semaphore closed` | `DEBUG` | `semaphore`, `waiters` (queued requests it fails) |
//! | `granted permits not claimed: …` | `WARN` | `semaphore`, `priority`, `permits`, `unclaimed_for` (`Duration`); only with `Semaphore::warn_unclaimed_after`, below |
//!
//! Events are emitted by the request's own poll or drop, after the lock is released. A
//! request that gets its permits in its first poll never waited and emits nothing. A
//! subscriber may panic in any event: the panic reaches the caller of the poll, drop,
//! release or `close` that sent it, and nothing is lost (permits a poll had taken go back
//! as the panic unwinds; a request in line stays there until it is dropped). The
//! `priority` field shows primitive integers, `f32`, `f64` and [`FloatPriority`] by value
//! and other types by their type name: the crate cannot require `P: Debug`, so it
//! recognises those types by `TypeId` and copies the number out before the request
//! queues. Without the feature, none of this is compiled: the instruction counts of every
//! path are unchanged (`scripts/profile.sh`).
//!
//! With `std` as well, `Semaphore::warn_unclaimed_after` emits a `WARN` event naming the
//! priority and permits of a grant whose future is not polled within a time limit (the
//! futurelock hazard of [`Acquire`]), checked by the semaphore's later locked operations.
//!
//! # Web services
//!
//! [`tower::PriorityLimitLayer`](crate::tower) (feature `tower`) limits how many requests an
//! axum, hyper or other tower service handles at once, and serves the waiting ones by a
//! priority computed from each request, such as a header. For hand-written futures and
//! `Service::poll_ready`, `PollSemaphore` (feature `alloc`) acquires by polling, like
//! tokio-util's `PollSemaphore`, with a priority.
//!
//! # Fair share
//!
//! Strict priority says who goes first; shared services also need fairness. Two layers
//! above the core answer the other two questions, and a plain `Semaphore` pays nothing for
//! them:
//!
//! * [`fair::FairSemaphore`]: requests of one priority carry a **flow** (a tenant, an API
//!   key) and a weight, and flows are served by weighted fair queuing, so one tenant's flood
//!   does not delay another's request at the same priority.
//! * [`share::ShareSemaphore`]: **classes** get guaranteed shares of the permits (realtime
//!   75 %, batch 25 %), lend what they leave idle, and get it back as it is released.
//!
//! The algorithms, their bounds and costs are in those modules' docs;
//! `examples/fair_share.rs` measures them. The tower layer takes a flow from each request
//! (a tenant header) beside its priority: [`PriorityLimitLayer::fair`](crate::tower#flows).
//! Across processes, the Redis crate (`prio-semaphore-redis`) says what they would take.
//!
//! # Microcontrollers
//!
//! The core is `no_std` and never allocates; a semaphore is a plain `static`. A semaphore
//! that an interrupt handler touches needs a lock that masks interrupts:
//! `CriticalSectionLock` (feature `critical-section`), or the lock your application
//! already has, through `EmbassyRawMutexLock` (feature `embassy-sync`) or
//! `ScopedRawMutexLock` (feature `mutex-traits`).
//!
//! **Chips without compare-and-swap** (`thumbv6m-none-eabi`: Cortex-M0/M0+ such as the
//! RP2040; `riscv32imc-unknown-none-elf`) get their atomics from `portable-atomic`, which
//! emulates compare-and-swap by masking interrupts. Enable the `critical-section` feature
//! (correct everywhere, multi-core chips included: your `critical-section` implementation
//! backs the atomics), or, on a single-core chip running privileged code, the
//! `unsafe-assume-single-core` feature (or `RUSTFLAGS="--cfg
//! portable_atomic_unsafe_assume_single_core"`). With neither the build stops with an error
//! of this crate that names both features. `alloc` needs `Arc`, which those targets lack: use
//! `default-features = false`. Other targets use `core`'s atomics directly.
//!
//! # Compared with other semaphores
//!
//! | | prio-semaphore | tokio | async-lock | maitake-sync |
//! |---|---|---|---|---|
//! | order | by priority, FIFO among equals | FIFO | FIFO | FIFO |
//! | executors | any | tokio's API, any executor | any | any |
//! | `no_std`, no allocator | yes | no | no | yes |
//! | allocation per waiter | none | none | one (a listener) | none |
//! | overload bounds (queue limit, timeout) | built in, typed errors | by hand | by hand | by hand |
//! | a tower layer | by priority, with load shedding | tower's `ConcurrencyLimit` (FIFO) | no | no |
//!
//! # Migrating from other semaphores
//!
//! Name by name; an empty cell means the peer has no such operation.
//!
//! | prio-semaphore | tokio | async-lock 3 | maitake-sync 0.3 | priority-semaphore 0.2 | ranked-semaphore 0.1 |
//! |---|---|---|---|---|---|
//! | `Semaphore::new(n)` (`const`) | `new(n)`, `const_new(n)` | `new(n)` | `new(n)` | `PrioritySemaphore::new(n)` | `RankedSemaphore::new_fifo(n)` |
//! | `Semaphore::<P, L>::new_generic(n)` (priority type, lock) | | | `new_with_raw_mutex(n, lock)` | | `new(n, strategy)`, `new_with_config(n, config)` |
//! | `acquire()` | `acquire()` | `acquire()` | `acquire(1)` | | `acquire()` |
//! | `acquire().priority(p)` | | | | `acquire(p)` (on `Arc`, owned permit) | `acquire_with_priority(p)` |
//! | `acquire_many(n)`, `.priority(p)` | `acquire_many(n)` | | `acquire(n)` | | `acquire_many(n)`, `acquire_many_with_priority(p, n)` |
//! | `try_acquire()`, `try_acquire_many(n)` | same | `try_acquire()` (an `Option`) | `try_acquire(n)` | `try_acquire(p)` | same |
//! | `acquire_owned()`, `acquire_many_owned(n)` on `Arc`, `.priority(p)` | same | `acquire_arc()` | `acquire_owned(n)` | `acquire(p)` | same, `..._with_priority(p, ..)` |
//! | `try_acquire_owned()`, `try_acquire_many_owned(n)` | same | `try_acquire_arc()` | `try_acquire_owned(n)` | | same |
//! | `blocking_acquire()`, `blocking_acquire_many(n)`, `blocking_acquire_owned()`, `blocking_acquire_many_owned(n)`; `acquire().priority(p).wait()` | same | `acquire_blocking()`, `acquire_arc_blocking()` | | | |
//! | `PollSemaphore` (`poll_acquire`, `poll_acquire_many`, `Stream`) | tokio-util's `PollSemaphore` | | | | |
//! | `add_permits(n)`, `forget_permits(n)` | same | `add_permits(n)` | `add_permits(n)` | | same |
//! | `available_permits()`, `waiter_count()` | `available_permits()` | `available_permits()` | `available_permits()` | `available_permits()`, `queued()` | `available_permits()` |
//! | `close()`, `is_closed()` | same | | `close()` | same | same |
//! | `Permit` (alias `SemaphorePermit`), `OwnedPermit` (alias `OwnedSemaphorePermit`) | `SemaphorePermit`, `OwnedSemaphorePermit` | `SemaphoreGuard`, `SemaphoreGuardArc` | `Permit`, `OwnedPermit` | `Permit` | `RankedSemaphorePermit`, `OwnedRankedSemaphorePermit` |
//! | permit `forget()`, `num_permits()`, `merge(p)`, `split(n)` | same | `forget()` | `forget()`, `permits()` | | same |
//! | `AcquireError` (`is_closed()`, `is_too_many_permits()`), `TryAcquireError::{Closed, NoPermits}` | `AcquireError`, same | | `Closed`, `TryAcquireError::{Closed, InsufficientPermits}` | `AcquireError::Closed`, same | `AcquireError`, same |
//! | `MAX_PERMITS`: 2³¹ − 1 (2²⁹ − 1 on 32-bit) | `usize::MAX >> 3` | | `usize::MAX − 1` | 2⁶² − 1 | `usize::MAX >> 3` |
//! | order: **smaller first**, FIFO among equals | FIFO | FIFO | FIFO | **larger** first | **larger** first |
//!
//! **Larger first.** priority-semaphore and ranked-semaphore serve the *higher* value first.
//! Keep your priority values and flip the order with `core::cmp::Reverse`, in one line:
//!
//! ```rust
//! use std::cmp::Reverse;
//! use prio_semaphore::Semaphore;
//!
//! static SEM: Semaphore<Reverse<i64>> = Semaphore::new_generic(4); // larger priorities first
//!
//! async fn job() {
//!     let _permit = SEM.acquire().priority(10).await.unwrap(); // was `acquire_with_priority(10)`
//! }
//! ```
//!
//! `.priority(p)` on `Reverse<i64>` takes the same plain integers (`i32`, `isize`, ...), and a
//! plain `acquire()` waits at `Reverse(0)`, as ranked-semaphore's `acquire()` waits at 0.
//!
//! **Limits.** `MAX_PERMITS` is smaller here (2³¹ − 1) than in the peers. Creating a
//! semaphore with more permits than that, or adding permits beyond it, panics, as in tokio.
//! A *request* for more than `MAX_PERMITS` is an error here, `AcquireError::is_too_many_permits()`,
//! never a panic nor a wait that can never end.
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `std` | yes | implies `alloc`; blocking acquire for threads (`Acquire::wait`, and tokio's `Semaphore::blocking_acquire` and its variants); ambient priority (`with_priority`, `priority_scope`) |
//! | `alloc` | via `std` | owned permits through an `Arc` (`Semaphore::acquire_owned`, `OwnedPermit`); `PollSemaphore`, acquire by polling; `limited`, at most `n` futures at a time over inputs of any length |
//! | `overtake-limit` | no | anti-starvation, [`Semaphore::with_overtake_limit`]: no waiter is overtaken by more than `limit` later arrivals. Costs every acquire future 16 bytes ("Sizes" above), limit or not |
//! | `tower` | no | implies `std`; [`tower::PriorityLimitLayer`](crate::tower), a concurrency limit for axum, hyper and other tower services with a priority computed from each request (and, over a `FairSemaphore`, a flow), queue limits and a maximum wait |
//! | `critical-section` | no | `CriticalSectionLock`, an interrupt-safe lock for embedded targets; on targets without compare-and-swap, also the atomics' fallback |
//! | `embassy-sync` | no | `EmbassyRawMutexLock`: an embassy-sync `RawMutex` as the semaphore's lock (needs Rust 1.88; the crate otherwise 1.85) |
//! | `unsafe-assume-single-core` | no | on targets without compare-and-swap, emulates it by masking interrupts: single-core chips running privileged code only |
//! | `mutex-traits` | no | `ScopedRawMutexLock`: a `mutex-traits` `ScopedRawMutex` as the semaphore's lock |
//! | `tracing` | no | `tracing` events: a request queued, granted (grants and, with `std`, time waited), cancelled; the semaphore closed. Compiled out without it |
//!
//! Without default features the crate is `#![no_std]` and needs no allocator.
#![cfg_attr(not(feature = "std"), no_std)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// `loom` is the crate's own model-checking build (`src/loom.rs`): no badge of it in the docs.
#![cfg_attr(docsrs, doc(auto_cfg(hide(loom))))]
#![warn(missing_docs, missing_debug_implementations, unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[cfg(feature = "alloc")]
extern crate alloc;

// `alloc::sync::Arc` (owned permits, `limited`) exists only where pointers have native
// compare-and-swap; `portable-atomic` cannot stand in for it because the owned API takes
// `self: Arc<Self>`, which only the standard `Arc` allows. Say so instead of failing with
// unresolved imports.
#[cfg(all(
    feature = "alloc",
    not(all(target_has_atomic = "8", target_has_atomic = "ptr"))
))]
compile_error!(
    "prio-semaphore: the `alloc` feature (owned permits, `limited`) needs native \
     compare-and-swap, which this target lacks (`alloc::sync::Arc` does not exist here); \
     build with `default-features = false` (and `features = [\"critical-section\"]`): the \
     borrowed API (`Semaphore::acquire`, `Permit`) works on this target"
);

// Targets without compare-and-swap (Cortex-M0/M0+, RISC-V without the A extension) get it
// emulated by `portable-atomic`, which must be told how: say so here, naming this crate's
// features, rather than fail inside `portable-atomic` or with missing methods.
#[cfg(all(
    not(target_has_atomic = "ptr"),
    not(feature = "critical-section"),
    not(feature = "unsafe-assume-single-core"),
    not(portable_atomic_unsafe_assume_single_core)
))]
compile_error!(
    "prio-semaphore: this target has no atomic compare-and-swap, so the semaphore emulates it \
     with `portable-atomic`, which needs a way to mask interrupts. Enable one feature of \
     prio-semaphore: `critical-section` (correct on every chip, multi-core ones included; your \
     application provides the `critical-section` implementation, e.g. cortex-m's \
     `critical-section-single-core` or your HAL's), or `unsafe-assume-single-core` (single-core \
     chips running privileged code only). For example: prio-semaphore = { version = \"0.1\", \
     default-features = false, features = [\"critical-section\"] }"
);

mod acquire;
#[cfg(feature = "std")]
mod ambient;
#[cfg(feature = "std")]
mod blocking;
#[cfg(feature = "critical-section")]
mod critical_section_lock;
mod diag;
#[cfg(feature = "embassy-sync")]
mod embassy_lock;
mod error;
pub mod fair;
mod handle;
mod into_priority;
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub mod limited;
mod line_request;
mod lock;
mod loom;
mod max_permits;
#[cfg(feature = "mutex-traits")]
mod mutex_traits_lock;
mod permit;
#[cfg(feature = "alloc")]
mod poll_semaphore;
#[cfg(feature = "alloc")]
mod poll_slot;
mod priority;
mod raw;
mod request;
mod semaphore;
pub mod share;

mod snapshot;
mod timeout;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;
mod waitlist;
mod wake_batch;

pub use acquire::Acquire;
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub use acquire::AcquireOwned;
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub use ambient::{current_priority, priority_scope, with_priority, WithPriority};
#[cfg(feature = "critical-section")]
#[cfg_attr(docsrs, doc(cfg(feature = "critical-section")))]
pub use critical_section_lock::CriticalSectionLock;
#[cfg(feature = "embassy-sync")]
#[cfg_attr(docsrs, doc(cfg(feature = "embassy-sync")))]
pub use embassy_lock::EmbassyRawMutexLock;
pub use error::{AcquireError, TryAcquireError};
pub use into_priority::IntoPriority;
pub use lock::{RawLock, SpinLock};
pub use max_permits::MAX_PERMITS;
#[cfg(feature = "mutex-traits")]
#[cfg_attr(docsrs, doc(cfg(feature = "mutex-traits")))]
pub use mutex_traits_lock::ScopedRawMutexLock;
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub use permit::{OwnedPermit, OwnedSemaphorePermit};
pub use permit::{Permit, SemaphorePermit};
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub use poll_semaphore::PollSemaphore;
pub use priority::{DefaultPriority, FloatPriority};
pub use semaphore::{NewDefaults, Semaphore};
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub use snapshot::Snapshot;
pub use snapshot::{ClassInfo, PartialGrant, Summary};
pub use timeout::Timeout;

// `Semaphore::new` is a `const fn`, so a `static` semaphore works in every configuration,
// `no_std` included: this item makes CI's thumbv7em-none-eabihf build prove it.
#[cfg(not(loom))]
const _: () = {
    #[allow(dead_code, reason = "never read: it only has to compile")]
    static STATIC_SEMAPHORE_COMPILES: Semaphore = Semaphore::new(4);
};

// Every Rust code block of the README compiles and runs as a doc test. Some need optional
// features, so they run with all of them (`cargo test --all-features`, as CI does).
#[cfg(all(doctest, feature = "tower", feature = "critical-section"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

// And every Rust code block of the guide the README links to.
#[cfg(all(doctest, feature = "tower", feature = "critical-section"))]
#[doc = include_str!("../docs/guide.md")]
pub struct GuideDoctests;
