//! `limited::unordered` keeps memory `O(limit)`: a counting global allocator records the peak
//! of live heap bytes and allocations while 100,000 futures run with a limit of 100.
//!
//! In a test binary of its own, with a single test, and counting only the allocations of
//! the thread that measures (the test harness's own threads allocate now and then).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Waker};

use futures::Stream;
use prio_semaphore::{limited, Semaphore};

struct CountingAllocator;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static PEAK_BYTES: AtomicUsize = AtomicUsize::new(0);
static LIVE_ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static PEAK_ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static TOTAL_ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Set on the measuring thread only. A `const` thread-local never allocates itself.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn counting() -> bool {
    COUNTING.try_with(Cell::get).unwrap_or(false)
}

// SAFETY: forwards every call to `System` unchanged; the counters are only bookkeeping.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as is.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() && counting() {
            let bytes = LIVE_BYTES.fetch_add(layout.size(), SeqCst) + layout.size();
            PEAK_BYTES.fetch_max(bytes, SeqCst);
            let count = LIVE_ALLOCATIONS.fetch_add(1, SeqCst) + 1;
            PEAK_ALLOCATIONS.fetch_max(count, SeqCst);
            TOTAL_ALLOCATIONS.fetch_add(1, SeqCst);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract, passed on as is.
        unsafe { System.dealloc(ptr, layout) };
        if counting() {
            LIVE_BYTES.fetch_sub(layout.size(), SeqCst);
            LIVE_ALLOCATIONS.fetch_sub(1, SeqCst);
        }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// What one run added on top of what was live before it.
#[derive(Debug, PartialEq, Eq)]
struct Usage {
    peak_bytes: usize,
    peak_allocations: usize,
    allocations: usize,
}

const LIMIT: usize = 100;
/// Each future carries this much state, so a materialised input would be plain to see.
const PAYLOAD: usize = 256;

/// Runs `items` futures, `LIMIT` at a time, sharing a semaphore, polling by hand (no
/// executor, so every allocation counted is the stream's or the futures').
fn run(items: usize) -> Usage {
    let sem = Semaphore::new(LIMIT * 2);
    let before_bytes = LIVE_BYTES.load(SeqCst);
    let before_allocations = LIVE_ALLOCATIONS.load(SeqCst);
    PEAK_BYTES.store(before_bytes, SeqCst);
    PEAK_ALLOCATIONS.store(before_allocations, SeqCst);
    let total_before = TOTAL_ALLOCATIONS.load(SeqCst);

    let futures = (0..items).map(|i| async move {
        let payload = [i as u8; PAYLOAD];
        // Yield once, so that futures are alive together and complete out of order.
        let mut yielded = i % 3 == 0;
        std::future::poll_fn(|cx| {
            if yielded {
                return Poll::Ready(());
            }
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await;
        u64::from(payload[i % PAYLOAD])
    });
    let mut stream = limited::unordered(futures, LIMIT).with_semaphore(&sem, 1);
    let mut cx = Context::from_waker(Waker::noop());
    let (mut count, mut sum) = (0, 0);
    loop {
        match Pin::new(&mut stream).poll_next(&mut cx) {
            Poll::Ready(Some(output)) => {
                count += 1;
                sum += output.unwrap();
            }
            Poll::Ready(None) => break,
            Poll::Pending => {} // the futures woke themselves: poll again
        }
    }
    drop(stream);
    assert_eq!(count, items);
    assert_eq!(sum, (0..items).map(|i| (i as u8) as u64).sum::<u64>());
    assert_eq!(LIVE_BYTES.load(SeqCst), before_bytes, "everything is freed");

    Usage {
        peak_bytes: PEAK_BYTES.load(SeqCst) - before_bytes,
        peak_allocations: PEAK_ALLOCATIONS.load(SeqCst) - before_allocations,
        allocations: TOTAL_ALLOCATIONS.load(SeqCst) - total_before,
    }
}

#[test]
#[cfg_attr(miri, ignore)] // 100,000 futures take minutes under miri
fn memory_is_bounded_by_the_limit_not_by_the_number_of_items() {
    COUNTING.with(|counting| counting.set(true));
    let small = run(1_000);
    let large = run(100_000);
    println!("1,000 items: {small:?}\n100,000 items: {large:?}");

    // Exactly the same memory whatever the number of items: nothing is allocated per item.
    assert_eq!(small, large);
    // A few allocations per slot (its waker), made once.
    assert!(large.allocations <= 2 * LIMIT + 16, "{large:?}");
    assert!(large.peak_allocations <= 2 * LIMIT + 16, "{large:?}");
    // The slots hold the futures inline: about `LIMIT` payloads, nowhere near the 25 MB
    // that 100,000 materialised futures would need.
    assert!(large.peak_bytes <= LIMIT * (2 * PAYLOAD + 256), "{large:?}");
}
