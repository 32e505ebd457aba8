//! `limited`: bounded concurrency over inputs of any length, its limits, its memory, and
//! what each kind of panic leads to.
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

mod fair;
mod limits;
mod memory;
mod panics;
mod unordered;
