//! Misbehaving user code: an `Ord` that contradicts itself, changes, panics or uses its own
//! semaphore; wakers that use the semaphore or panic; and a property test of the contract
//! that holds for any `Ord` and any waker.
//!
//! One test binary per subject (each links the crate and the runtimes once); each file
//! here is one module of it.

#[path = "../common/mod.rs"]
mod common;

mod fair_share;
#[path = "interp.rs"]
mod interp;
mod model;
mod ord;
mod wakers;
