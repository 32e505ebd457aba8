//! `limited::unordered` keeps memory `O(limit)`: a counting global allocator records the peak
//! of live heap bytes and allocations while 100,000 futures run with a limit of 100.
//!
//! In a test binary of its own, with a single test, and counting only the allocations of
//! the thread that measures (the test harness's own threads allocate now and then).

use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::common::counting_alloc::{live_bytes, measure, Usage};
use crate::common::yield_now;
use futures::Stream;
use prio_semaphore::{limited, Semaphore};

const LIMIT: usize = 100;
/// Each future carries this much state, so a materialised input would be plain to see.
const PAYLOAD: usize = 256;

/// Runs `items` futures, `LIMIT` at a time, sharing a semaphore, polling by hand (no
/// executor, so every allocation counted is the stream's or the futures').
fn run(items: usize) -> Usage {
    let sem = Semaphore::new(LIMIT * 2);
    let before_bytes = live_bytes();
    let ((), usage) = measure(|| {
        let futures = (0..items).map(|i| async move {
            let payload = [i as u8; PAYLOAD];
            // Yield once (all but every third), so that futures are alive together and
            // complete out of order.
            if i % 3 != 0 {
                yield_now().await;
            }
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
    });
    assert_eq!(live_bytes(), before_bytes, "everything is freed");
    usage
}

#[test]
#[cfg_attr(miri, ignore)] // 100,000 futures take minutes under miri
fn memory_is_bounded_by_the_limit_not_by_the_number_of_items() {
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
