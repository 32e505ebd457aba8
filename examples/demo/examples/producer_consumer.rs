//! A bounded producer/consumer queue built from two semaphores: free slots and ready items.
//!
//! The `BoundedQueue` of the fourth use case in the article “Semaphores in Python Async
//! Programming: Real-World Use Cases”. A producer takes a *slot* permit before pushing and
//! adds an *item* permit after; a consumer takes an item permit before popping and gives a
//! slot permit back after. Permits are `forget`-ed when taken and re-created with
//! `add_permits` on the other semaphore, because they move from one side to the other. Two
//! producers and two consumers each run on their own OS thread under
//! `futures::executor::block_on`, so every hand-off crosses threads (no runtime involved).
//!
//! What to look for: the throughput, and that the queue never held more than `CAPACITY`
//! items although producers are faster than consumers; at the end both semaphores are back
//! to their starting counts.
//!
//! Run it with `cargo run --release --example producer_consumer` (debug builds work too,
//! just slower).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use prio_semaphore::Semaphore;

const CAPACITY: usize = 8;
const PRODUCERS: usize = 2;
const CONSUMERS: usize = 2;
const ITEMS_PER_PRODUCER: usize = 50_000;

struct BoundedQueue<T> {
    items: Mutex<VecDeque<T>>,
    free_slots: Semaphore,
    ready_items: Semaphore,
    /// The most items ever queued at once.
    high_water: Mutex<usize>,
}

impl<T> BoundedQueue<T> {
    fn new(capacity: usize) -> Self {
        Self {
            items: Mutex::new(VecDeque::with_capacity(capacity)),
            free_slots: Semaphore::new(capacity),
            ready_items: Semaphore::new(0),
            high_water: Mutex::new(0),
        }
    }

    /// Waits for a free slot, then queues `item`.
    async fn put(&self, item: T) {
        let slot = self.free_slots.acquire().await.expect("never closed");
        slot.forget(); // the slot is now taken by the item; `get` frees it
        let len = {
            let mut items = self.items.lock().unwrap();
            items.push_back(item);
            items.len()
        };
        let mut high_water = self.high_water.lock().unwrap();
        *high_water = (*high_water).max(len);
        drop(high_water);
        self.ready_items.add_permits(1);
    }

    /// Waits for an item, then takes it.
    async fn get(&self) -> T {
        let item = self.ready_items.acquire().await.expect("never closed");
        item.forget();
        let item = self.items.lock().unwrap().pop_front();
        self.free_slots.add_permits(1);
        item.expect("an item permit guarantees a queued item")
    }
}

fn main() {
    let queue = Arc::new(BoundedQueue::new(CAPACITY));
    let total = PRODUCERS * ITEMS_PER_PRODUCER;
    let started = Instant::now();

    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let queue = queue.clone();
            std::thread::spawn(move || {
                futures::executor::block_on(async {
                    for i in 0..ITEMS_PER_PRODUCER {
                        queue.put((p, i)).await;
                    }
                })
            })
        })
        .collect();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let queue = queue.clone();
            std::thread::spawn(move || {
                futures::executor::block_on(async {
                    let mut received = 0;
                    for _ in 0..total / CONSUMERS {
                        let (_producer, _i) = queue.get().await;
                        received += 1;
                    }
                    received
                })
            })
        })
        .collect();

    for producer in producers {
        producer.join().unwrap();
    }
    let received: usize = consumers.into_iter().map(|c| c.join().unwrap()).sum();
    let elapsed = started.elapsed();

    println!(
        "{PRODUCERS} producers, {CONSUMERS} consumers, each on its own thread; queue capacity {CAPACITY}"
    );
    println!(
        "moved {received} items in {:.0} ms: {:.0} items/s",
        elapsed.as_secs_f64() * 1000.0,
        received as f64 / elapsed.as_secs_f64()
    );
    let high_water = *queue.high_water.lock().unwrap();
    println!("the queue never held more than {high_water} items (bound {CAPACITY})");
    assert!(high_water <= CAPACITY);
    assert_eq!(received, total);
    assert_eq!(queue.free_slots.available_permits(), CAPACITY);
    assert_eq!(queue.ready_items.available_permits(), 0);
    println!("both semaphores are back where they started: {CAPACITY} free slots, 0 items");
}
