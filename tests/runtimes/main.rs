//! The same semaphore under each executor and lock: tokio, smol, async-std, `futures`,
//! embassy on the host, `critical-section` and the lock adapters, and stress with many
//! threads.
//!
//! One test binary per subject (each links the crate and the runtimes once); each file
//! here is one module of it.

#[path = "../common/mod.rs"]
mod common;

mod critical_section;
mod embassy_host;
mod executors;
mod lock_adapters;
mod stress;
