//! The one counting global allocator of the tests: it counts, per thread, the allocations
//! made and the heap bytes and blocks live, for tests that assert "no heap allocation" or
//! "memory stays bounded" on the calling thread while the test harness (and other tests)
//! allocate on theirs.
//!
//! `#[global_allocator]` must be declared in the test crate itself; a test binary opts in
//! with `#[global_allocator] static ALLOCATOR: PerThreadCounter = PerThreadCounter;`.
//! Without that line the functions here compile but count nothing.
//!
//! `realloc` and `alloc_zeroed` keep `GlobalAlloc`'s default methods, which go through
//! `alloc` (and `dealloc`): each counts as one allocation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Forwards to the system allocator, counting allocations and live bytes per thread.
pub struct PerThreadCounter;

std::thread_local! {
    // `const` thread-locals without destructors: touching them from the allocator neither
    // allocates nor can find them torn down.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    static LIVE_BYTES: Cell<usize> = const { Cell::new(0) };
    static PEAK_BYTES: Cell<usize> = const { Cell::new(0) };
    static LIVE_BLOCKS: Cell<usize> = const { Cell::new(0) };
    static PEAK_BLOCKS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards every call to `System` unchanged; the counters are only bookkeeping in
// const thread-locals without destructors, which never allocate.
unsafe impl GlobalAlloc for PerThreadCounter {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as is.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
            let _ = LIVE_BYTES.try_with(|live| {
                live.set(live.get() + layout.size());
                let _ = PEAK_BYTES.try_with(|peak| peak.set(peak.get().max(live.get())));
            });
            let _ = LIVE_BLOCKS.try_with(|live| {
                live.set(live.get() + 1);
                let _ = PEAK_BLOCKS.try_with(|peak| peak.set(peak.get().max(live.get())));
            });
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract, passed on as is.
        unsafe { System.dealloc(ptr, layout) };
        // Saturating: memory allocated on another thread may be freed on this one.
        let _ = LIVE_BYTES.try_with(|live| live.set(live.get().saturating_sub(layout.size())));
        let _ = LIVE_BLOCKS.try_with(|live| live.set(live.get().saturating_sub(1)));
    }
}

/// Allocations made by this thread so far.
pub fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

/// Heap bytes this thread allocated and has not freed (less what it freed for others).
pub fn live_bytes() -> usize {
    LIVE_BYTES.with(Cell::get)
}

/// Runs `f` and returns how many allocations this thread made meanwhile.
pub fn allocations_during(f: impl FnOnce()) -> usize {
    let before = allocations();
    f();
    allocations() - before
}

/// What [`measure`]d code added on this thread, on top of what was live before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// The most heap bytes live at once.
    pub peak_bytes: usize,
    /// The most heap blocks live at once.
    pub peak_allocations: usize,
    /// Allocations made.
    pub allocations: usize,
}

/// Runs `f` and returns its result with the heap it used on this thread. Not nested: an
/// inner `measure` restarts the outer one's peaks.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Usage) {
    let before_bytes = LIVE_BYTES.with(Cell::get);
    let before_blocks = LIVE_BLOCKS.with(Cell::get);
    let before_allocations = allocations();
    PEAK_BYTES.with(|peak| peak.set(before_bytes));
    PEAK_BLOCKS.with(|peak| peak.set(before_blocks));
    let result = f();
    let usage = Usage {
        peak_bytes: PEAK_BYTES.with(Cell::get) - before_bytes,
        peak_allocations: PEAK_BLOCKS.with(Cell::get) - before_blocks,
        allocations: allocations() - before_allocations,
    };
    (result, usage)
}
