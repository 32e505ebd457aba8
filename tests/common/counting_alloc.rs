//! A global allocator that counts the allocations made by each thread, for tests that
//! assert "no heap allocation" on the calling thread while the test harness (and other
//! tests) allocate on theirs. A test binary opts in with
//! `#[global_allocator] static ALLOCATOR: PerThreadCounter = PerThreadCounter;`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Forwards to the system allocator, counting allocations per thread.
pub struct PerThreadCounter;

std::thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; counting touches a const thread-local without a
// destructor, which neither allocates nor can be torn down.
unsafe impl GlobalAlloc for PerThreadCounter {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Allocations made by this thread so far (counted only where `PerThreadCounter` is the
/// global allocator).
pub fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}
