//! Bounded concurrency over inputs of any length: run at most `limit` futures at a time
//! and get their outputs as they complete.
//!
//! [`unordered`] takes an [`Iterator`] of futures, [`unordered_stream`] a [`Stream`] of
//! them; both return an [`Unordered`] stream. It pulls the next future from the input only
//! when fewer than `limit` are running, so the input may be lazy and as long as you like:
//! a range mapped to requests, lines of a file, a channel. This is Python's
//! `asyncio.as_completed` with the `limit` that was proposed for it, and `futures`'
//! `buffer_unordered` for plain iterators.
//!
//! ```
//! use futures::StreamExt;
//! use prio_semaphore::limited;
//!
//! # futures::executor::block_on(async {
//! // 10,000 requests, but never more than 100 of them (and their memory) at once.
//! let requests = (0..10_000u64).map(|id| async move { id * 2 });
//! let mut responses = limited::unordered(requests, 100);
//! let mut sum = 0;
//! while let Some(response) = responses.next().await {
//!     sum += response; // in completion order, not input order
//! }
//! assert_eq!(sum, 99_990_000);
//! # });
//! ```
//!
//! # Sharing a limit with other work
//!
//! [`Unordered::with_semaphore`] makes every future also hold a permit of a [`Semaphore`],
//! acquired at a priority you choose before the future starts and released as soon as it
//! completes. A batch pipeline and realtime requests can then share one limit (say, the
//! connections to a database), with the realtime requests served first whenever both wait:
//!
//! ```
//! use futures::StreamExt;
//! use prio_semaphore::{limited, Semaphore};
//!
//! const REALTIME: i64 = 0;
//! const BATCH: i64 = 10;
//!
//! static DATABASE: Semaphore = Semaphore::new(8);
//!
//! async fn query(id: u32) -> u32 {
//!     id // ... talk to the database
//! }
//!
//! async fn handle_request(id: u32) -> u32 {
//!     let _permit = DATABASE.acquire().priority(REALTIME).await.unwrap();
//!     query(id).await
//! }
//!
//! # futures::executor::block_on(async {
//! // Uses at most 6 of the 8 connections, and only those that no request is waiting for.
//! let mut batch = limited::unordered((0..1_000).map(query), 6).with_semaphore(&DATABASE, BATCH);
//! # let mut done = 0;
//! while let Some(result) = batch.next().await {
//!     let row = result.expect("the semaphore is never closed");
//!     # done += 1; let _ = row;
//! }
//! # assert_eq!(done, 1_000);
//! # assert_eq!(handle_request(7).await, 7);
//! # });
//! ```
//!
//! # Memory
//!
//! An `Unordered` allocates nothing until it is first polled, and then only as futures
//! start: slots that hold the running futures inline (a future is never boxed), one waker
//! per slot, and a few words of bookkeeping. Slots are added in chunks, each doubling the
//! capacity, and reused once their future completes, so memory follows the most futures
//! that ever ran at once (at most about twice that), never more than `limit` of them.
//! Nothing is allocated per input item, and the input itself is never collected. A huge
//! `limit` (`usize::MAX` as "unbounded") costs nothing up front.
//!
//! # Cost of a wake-up
//!
//! Every slot polls its future with a waker of its own. Waking it pushes the slot's index
//! onto a lock-free stack and wakes the stream's task; the stream then polls exactly the
//! slots on that stack, in the order they were woken. So a wake-up costs `O(1)`, not a poll
//! of all `limit` futures. `FuturesUnordered` (and so `buffer_unordered`) gets the same by
//! allocating a task node per future; here the wakers belong to the slots and are made
//! once, with the slot. A future that wakes itself while being polled is polled at most
//! once more in the same call, so one call does bounded work and other tasks get to run.
//!
//! # Stalls: futures run only while the stream is polled
//!
//! Like `buffer_unordered` and `FuturesUnordered`, an `Unordered` runs its futures inside
//! the task that polls it. While that task is busy elsewhere, say in the body of a
//! `while let Some(x) = stream.next().await` loop awaiting something else, the running
//! futures make no progress. futures-rs issue #2387 ("Footgun lurking in
//! `FuturesUnordered` and other concurrency-enabling streams") describes two ways this
//! bites: a stalled future's peer times out, and a loop body that waits for a resource the
//! stalled futures hold (a semaphore permit, a connection) deadlocks.
//!
//! What this design does about it:
//!
//! * **Nothing starts while nobody polls.** The next input is pulled, its permit acquired,
//!   and its future first polled only inside `poll_next`; when a future completes, its
//!   output is returned at once and its replacement starts on the next poll, not while
//!   your loop body runs.
//! * **Permits are held only by started futures.** A permit is released the moment its
//!   future completes, before the output is returned to you. Besides the running futures
//!   the stream keeps at most one request in the semaphore's line (for the next input, and
//!   only while a slot is free), so it never holds or waits for more than `limit` permits
//!   in all. Hence a loop body may acquire a permit of the same semaphore without deadlock
//!   as long as the semaphore has more than `limit` permits (and whoever else holds
//!   permits gives them back): keep `limit` below the semaphore's capacity, which is also
//!   what leaves room for realtime work. A loop body that asks at a more urgent priority
//!   is served before the stream's queued request.
//!
//! What remains, and cannot be fixed inside a stream: futures that are already running
//! still stall while the loop body runs, and the request in line may be granted its permit
//! (by direct hand-off) while nobody polls the stream, idling that one permit until the
//! next poll. If the futures must keep making progress on their own, keep the loop body
//! short (hand the outputs to a channel), or spawn each item as a task holding an owned
//! permit, as the `spawn_backpressure` example does.
//!
//! # Cancellation
//!
//! Dropping an `Unordered` drops each running future and then releases its permit to the
//! semaphore's next waiters; its request in line leaves the line, handing on anything it
//! was granted (see [`Acquire`]). The rest of the input is dropped unconsumed.

// Only the module docs above link to these.
#[cfg(doc)]
use {crate::acquire::Acquire, crate::semaphore::Semaphore, futures_core::stream::Stream};

mod fair_gate;
mod gate;
mod input;
mod ready;
mod running;
mod slots;
mod stream;
mod unordered;

pub use self::fair_gate::FairSemaphoreGate;
pub use self::gate::{Gate, NoGate, OwnedSemaphoreGate, SemaphoreGate};
pub use self::input::Iter;
pub use self::unordered::{unordered, unordered_stream, Unordered};
