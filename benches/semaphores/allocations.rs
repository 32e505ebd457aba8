//! The allocation audit: heap allocations per queued waiter for every implementation,
//! counted by this binary's global allocator, written to `allocations.json`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::c_churn::{churn_round, churn_slots, CHURN};
use crate::peers::{for_each_peer, Peer};
use crate::shared::criterion_home;

/// The global allocator of this whole binary: the system allocator, counting allocations
/// while `COUNTING` is set (only during the audit).
struct CountingAllocator;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call unchanged to `System`; the counter has no effect on memory.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Heap allocations per waiter while `CHURN` waiters queue (all at one priority, or at
/// distinct priorities) and are cancelled, on a fresh semaphore.
fn allocations_per_waiter<P: Peer>(distinct: bool) -> f64 {
    let sem = P::with_permits(1);
    let held = sem.try_acquire().expect("a free permit");
    let priorities: Vec<i64> = if distinct {
        (0..CHURN as i64).rev().collect()
    } else {
        vec![0; CHURN]
    };
    let order: Vec<usize> = (0..CHURN).collect();
    let make = |priority| sem.acquire_prio(priority);
    let mut slots = churn_slots(&make);
    // Warm the semaphore once (lazily built parts are not per waiter), then count.
    churn_round(&make, &mut slots, &priorities[..1], &order[..1]);
    ALLOCATIONS.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    churn_round(&make, &mut slots, &priorities, &order);
    COUNTING.store(false, Ordering::Relaxed);
    drop(held);
    ALLOCATIONS.load(Ordering::Relaxed) as f64 / CHURN as f64
}

/// Writes `{"<peer>": {"equal": a, "distinct": b, "future_bytes": n}, ...}` next to
/// criterion's output.
pub fn allocation_audit() {
    let mut rows = Vec::new();
    fn row<P: Peer>(rows: &mut Vec<String>) {
        let equal = allocations_per_waiter::<P>(false);
        let distinct = if P::PRIORITIES {
            format!("{:.3}", allocations_per_waiter::<P>(true))
        } else {
            "null".to_owned()
        };
        // What a waiter costs in place of a heap allocation: the future's own size.
        let future_bytes = std::mem::size_of_val(&P::with_permits(1).acquire_prio(1));
        println!(
            "{:<20} heap allocations per queued waiter: equal {equal:.3}, distinct {distinct}; \
             acquire future: {future_bytes} bytes",
            P::NAME
        );
        rows.push(format!(
            "  \"{}\": {{\"equal\": {equal:.3}, \"distinct\": {distinct}, \
             \"future_bytes\": {future_bytes}}}",
            P::NAME
        ));
    }
    for_each_peer!(row(&mut rows));
    let dir = criterion_home();
    let json = format!("{{\n{}\n}}\n", rows.join(",\n"));
    if std::fs::create_dir_all(&dir).is_ok() {
        // Best effort: the report says so when the file is missing.
        let _ = std::fs::write(dir.join("allocations.json"), json);
    }
}
