//! Backpressure when spawning 10,000 tasks: take a permit *before* spawning.
//!
//! The problem of a blog post on asyncio backpressure: spawning a task per item for 10,000s
//! of items creates them all up front, which stalls the program and wastes memory. A
//! semaphore inside each task limits the work, not the number of tasks. Acquiring an owned
//! permit (`acquire_owned`) before `tokio::spawn` and moving it into the task limits the
//! tasks themselves: the spawning loop waits whenever `LIMIT` tasks are alive, and each
//! finished task lets the next one in. For contrast, the same items are then spawned all at
//! once.
//!
//! What to look for: "peak live tasks: 100" (exactly the limit) with acquire-before-spawn,
//! against thousands when spawning everything (how many depends on how fast the loop spawns
//! compared with how fast tasks finish). Spawning everything finishes sooner here because
//! the "work" is only waiting; with real work (memory, connections, a rate-limited API)
//! the limit is what keeps the program healthy.
//!
//! Run it with `cargo run --example spawn_backpressure`.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prio_semaphore::Semaphore;
use tokio::task::JoinSet;

const ITEMS: u64 = 10_000;
const LIMIT: usize = 100;

/// Counts live tasks: from spawn until the task finishes.
#[derive(Default)]
struct TaskGauge {
    live: AtomicUsize,
    peak: AtomicUsize,
}

impl TaskGauge {
    fn spawned(self: &Arc<Self>) -> impl Drop + Send + 'static {
        self.peak
            .fetch_max(self.live.fetch_add(1, SeqCst) + 1, SeqCst);
        struct Finished(Arc<TaskGauge>);
        impl Drop for Finished {
            fn drop(&mut self) {
                self.0.live.fetch_sub(1, SeqCst);
            }
        }
        Finished(self.clone())
    }
}

/// The work for one item: 5 to 20 ms of waiting (a request, a query).
async fn process(item: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(5 + item % 16)).await;
    item
}

#[tokio::main]
async fn main() {
    // Acquire before spawn: at most LIMIT tasks exist at any time.
    let gauge = Arc::new(TaskGauge::default());
    let sem = Arc::new(Semaphore::new(LIMIT));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for item in 0..ITEMS {
        let permit = sem.clone().acquire_owned().await.expect("never closed");
        let alive = gauge.spawned();
        tasks.spawn(async move {
            let result = process(item).await;
            drop(alive);
            drop(permit); // lets the spawning loop go on
            result
        });
        // Reap finished tasks as we go, so that the JoinSet's memory stays bounded too.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let bounded = (started.elapsed(), gauge.peak.load(SeqCst));
    assert_eq!(bounded.1, LIMIT, "the limit held, and was reached");

    // Spawn everything at once, for contrast.
    let gauge = Arc::new(TaskGauge::default());
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for item in 0..ITEMS {
        let alive = gauge.spawned();
        tasks.spawn(async move {
            let result = process(item).await;
            drop(alive);
            result
        });
    }
    while tasks.join_next().await.is_some() {}
    let unbounded = (started.elapsed(), gauge.peak.load(SeqCst));

    println!("{ITEMS} items, 5-20 ms of work each");
    println!(
        "acquire-before-spawn (limit {LIMIT}): peak live tasks: {:>5}, total {:.2} s",
        bounded.1,
        bounded.0.as_secs_f64()
    );
    println!(
        "spawn everything at once:           peak live tasks: {:>5}, total {:.2} s",
        unbounded.1,
        unbounded.0.as_secs_f64()
    );
}
