//! The demo from the CPython discussion that proposed `asyncio.PrioritySemaphore`, in Rust.
//!
//! Twenty tasks, numbered 20 down to 1, share a semaphore with 4 permits. Each acquires a
//! permit, holds it across one yield to the executor (the Python demo's
//! `await asyncio.sleep(0)`), then records its number.
//!
//! * With a plain `acquire()` every task has the same priority, so they are served in
//!   arrival order: `20, 19, ..., 1`.
//! * With `.priority(number)` the first four (20 to 17) get the free permits at once;
//!   every later one waits, and smaller numbers are served first: `20, 19, 18, 17, 1, 2,
//!   ..., 16`.
//!
//! Runtime-agnostic: a `FuturesUnordered` driven by `futures::executor::block_on` plays
//! the part of `asyncio.gather`, polling tasks in the order they are woken, like asyncio's
//! event loop. Run it with `cargo run --example priority_demo`.

use std::cell::RefCell;

use futures::stream::{FuturesUnordered, StreamExt as _};
use prio_semaphore::Semaphore;

/// Runs both halves of the demo and returns the order in which the tasks recorded
/// themselves: first with plain acquires, then with `.priority(number)`.
pub fn run_demo() -> (Vec<i64>, Vec<i64>) {
    (gather(false), gather(true))
}

/// Starts tasks 20 down to 1 on a 4-permit semaphore and returns their recording order.
fn gather(prioritised: bool) -> Vec<i64> {
    let sem = Semaphore::new(4);
    let order = RefCell::new(Vec::new());
    let tasks: FuturesUnordered<_> = (1..=20)
        .rev()
        .map(|number: i64| {
            let (sem, order) = (&sem, &order);
            async move {
                let acquire = if prioritised {
                    sem.acquire().priority(number)
                } else {
                    sem.acquire()
                };
                let _permit = acquire.await.expect("the semaphore is never closed");
                yield_now().await;
                order.borrow_mut().push(number);
            }
        })
        .collect();
    futures::executor::block_on(tasks.collect::<Vec<()>>());
    order.into_inner()
}

/// Yields to the executor once (any executor): wakes itself, then returns `Pending` once.
async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if std::mem::replace(&mut yielded, true) {
            return std::task::Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await;
}

fn main() {
    let (plain, prioritised) = run_demo();
    for line in [plain, prioritised] {
        let numbers: Vec<String> = line.iter().map(i64::to_string).collect();
        println!("{}", numbers.join(", "));
    }
}
