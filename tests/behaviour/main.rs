//! Behaviour through the public API: the contract of `Semaphore`, its futures and permits,
//! the ambient priority, blocking waits, cancellation in every state, bad input, sizes,
//! snapshots, and the features that add to the surface (`tower`, `tracing`, `overtake-
//! limit`).
//!
//! One test binary per subject (each links the crate and the runtimes once); each file
//! here is one module of it.

#[path = "../common/mod.rs"]
mod common;

/// The per-thread counting allocator (`common::counting_alloc`), for the modules that
/// count allocations.
#[global_allocator]
static ALLOCATOR: common::counting_alloc::PerThreadCounter =
    common::counting_alloc::PerThreadCounter;

mod ambient;
#[cfg(feature = "overtake-limit")]
mod anti_starvation;
mod bad_input;
mod blocking;
mod cancellation;
mod debug_output;
mod drop_in;
mod fair_costs;
mod fair_queuing;
mod fast_paths;
mod no_alloc;
mod overload;
mod owned;
mod poll_semaphore;
mod priority_demo;
mod shares;
mod sizes;
mod snapshot;
mod tokio_parity;
#[cfg(feature = "tower")]
mod tower_flows;
#[cfg(feature = "tower")]
mod tower_layer;
#[cfg(feature = "tracing")]
mod tracing_events;
