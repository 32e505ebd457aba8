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

mod ready;
mod running;
mod slots;

use alloc::sync::Arc;
use core::convert::Infallible;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures_core::stream::{FusedStream, Stream};

use crate::acquire::Acquire;
use crate::error::AcquireError;
use crate::into_priority::IntoPriority;
use crate::lock::RawLock;
use crate::permit::Permit;
use crate::semaphore::Semaphore;
use crate::{AcquireOwned, OwnedPermit};

use self::running::Running;

/// Runs the futures of `futures` with at most `limit` running at a time, yielding their
/// outputs in completion order.
///
/// The iterator is advanced only when a slot is free, so it may be lazy and endless. For a
/// [`Stream`] of futures use [`unordered_stream`]. To make each future also hold a permit
/// of a [`Semaphore`], call [`with_semaphore`](Unordered::with_semaphore) on the result.
///
/// Nothing runs until the returned stream is polled.
///
/// # Panics
///
/// If `limit` is zero: such a stream could never start a future. Any larger limit is
/// fine, up to `usize::MAX` for no limit at all: memory follows the futures actually
/// running. For panics of the input or the futures while the stream runs, see
/// [`Unordered`'s panics](Unordered#panics).
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use prio_semaphore::limited;
///
/// # futures::executor::block_on(async {
/// let lengths = ["a", "bb", "ccc"].into_iter().map(|s| async move { s.len() });
/// let mut lengths: Vec<usize> = limited::unordered(lengths, 2).collect().await;
/// lengths.sort();
/// assert_eq!(lengths, [1, 2, 3]);
/// # });
/// ```
pub fn unordered<I>(futures: I, limit: usize) -> Unordered<Iter<I::IntoIter>>
where
    I: IntoIterator,
    I::Item: Future,
{
    unordered_stream(
        Iter {
            iter: futures.into_iter(),
        },
        limit,
    )
}

/// Runs the futures that `futures` yields with at most `limit` running at a time, yielding
/// their outputs in completion order.
///
/// The input stream is polled only when a slot is free. For an [`Iterator`] of futures use
/// [`unordered`].
///
/// # Panics
///
/// If `limit` is zero: such a stream could never start a future. Any larger limit is
/// fine, up to `usize::MAX` for no limit at all: memory follows the futures actually
/// running. For panics of the input or the futures while the stream runs, see
/// [`Unordered`'s panics](Unordered#panics).
///
/// # Examples
///
/// ```
/// use futures::{stream, StreamExt};
/// use prio_semaphore::limited;
///
/// # futures::executor::block_on(async {
/// let jobs = stream::iter(1..=4).map(|n| async move { n * n });
/// let total: u32 = limited::unordered_stream(jobs, 2).collect::<Vec<_>>().await.iter().sum();
/// assert_eq!(total, 30);
/// # });
/// ```
pub fn unordered_stream<S>(futures: S, limit: usize) -> Unordered<S>
where
    S: Stream,
    S::Item: Future,
{
    assert!(
        limit > 0,
        "`limited::unordered` needs a limit of at least 1"
    );
    Unordered {
        source: futures,
        gate: NoGate,
        limit,
        input: Input::Open,
        staged: None,
        running: None,
    }
}

/// A [`Stream`] over an [`Iterator`]: the input of [`unordered`].
///
/// The iterator is only ever advanced from `poll_next`, which never returns `Pending`.
///
/// # Examples
///
/// ```
/// use prio_semaphore::limited::{self, Iter, Unordered};
///
/// let stream: Unordered<Iter<_>> = limited::unordered([async { 1 }], 1);
/// # drop(stream);
/// ```
#[derive(Debug, Clone)]
#[must_use = "streams do nothing unless polled"]
pub struct Iter<I> {
    iter: I,
}

// The iterator is never pinned: `poll_next` only calls `next` on it.
impl<I> Unpin for Iter<I> {}

impl<I: Iterator> Stream for Iter<I> {
    type Item = I::Item;

    fn poll_next(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<I::Item>> {
        Poll::Ready(self.get_mut().iter.next())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

mod sealed {
    pub trait Sealed {}
}

/// What a future must hold, besides a free slot, before an [`Unordered`] starts it.
///
/// Implemented by [`NoGate`] (nothing more), [`SemaphoreGate`] (a permit of a borrowed
/// [`Semaphore`]) and [`OwnedSemaphoreGate`] (an owned permit of an `Arc<Semaphore>`). It
/// is sealed: the stream's guarantees rest on how these acquire and release.
///
/// # Examples
///
/// Code that works with any `Unordered`, gated or not:
///
/// ```
/// use futures::Stream;
/// use prio_semaphore::limited::{self, Gate, Unordered};
/// use prio_semaphore::Semaphore;
///
/// fn occupancy<S: Stream, G: Gate>(stream: &Unordered<S, G>) -> String {
///     format!("{}/{} running", stream.running(), stream.limit())
/// }
///
/// let sem = Semaphore::new(2);
/// let plain = limited::unordered([async { 1 }], 4);
/// assert_eq!(occupancy(&plain), "0/4 running");
/// assert_eq!(occupancy(&plain.with_semaphore(&sem, 1)), "0/4 running");
/// ```
pub trait Gate: sealed::Sealed {
    /// Held by a running future, dropped (released) when the future completes.
    type Permit;
    /// Why a permit could not be acquired: [`AcquireError`] for semaphores.
    type Error;
    /// The request for one permit, queued while the stream waits for it.
    type Acquire: Future<Output = Result<Self::Permit, Self::Error>>;

    /// Starts a request for one permit.
    #[doc(hidden)]
    fn acquire(&self) -> Self::Acquire;

    /// Whether acquiring can fail, ending the input early.
    #[doc(hidden)]
    const FALLIBLE: bool;
}

/// The [`Gate`] of a plain [`Unordered`]: a free slot is all a future needs.
///
/// # Examples
///
/// ```
/// use prio_semaphore::limited::{self, NoGate, Unordered};
///
/// let stream: Unordered<_, NoGate> = limited::unordered([async { 1 }], 4);
/// # drop(stream);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoGate;

impl sealed::Sealed for NoGate {}

impl Gate for NoGate {
    type Permit = ();
    type Error = Infallible;
    type Acquire = core::future::Ready<Result<(), Infallible>>;

    fn acquire(&self) -> Self::Acquire {
        core::future::ready(Ok(()))
    }

    const FALLIBLE: bool = false;
}

/// The [`Gate`] set by [`Unordered::with_semaphore`]: each future holds one permit of a
/// borrowed [`Semaphore`], requested at a fixed priority.
///
/// # Examples
///
/// ```
/// use prio_semaphore::limited::{self, SemaphoreGate, Unordered};
/// use prio_semaphore::Semaphore;
///
/// let database = Semaphore::new(10);
/// let batch: Unordered<_, SemaphoreGate<'_>> =
///     limited::unordered((0..100).map(|i| async move { i }), 8).with_semaphore(&database, 10);
/// # drop(batch);
/// ```
pub struct SemaphoreGate<'a, P = i64, L: RawLock = crate::SpinLock> {
    semaphore: &'a Semaphore<P, L>,
    priority: P,
}

impl<P, L: RawLock> sealed::Sealed for SemaphoreGate<'_, P, L> {}

impl<'a, P, L> Gate for SemaphoreGate<'a, P, L>
where
    P: Ord + Default + Clone + 'static,
    L: RawLock,
{
    type Permit = Permit<'a, P, L>;
    type Error = AcquireError;
    type Acquire = Acquire<'a, P, L>;

    fn acquire(&self) -> Self::Acquire {
        self.semaphore.acquire().priority(self.priority.clone())
    }

    const FALLIBLE: bool = true;
}

impl<P: fmt::Debug, L: RawLock> fmt::Debug for SemaphoreGate<'_, P, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreGate")
            .field("semaphore", self.semaphore)
            .field("priority", &self.priority)
            .finish()
    }
}

/// The [`Gate`] set by [`Unordered::with_semaphore_owned`]: each future holds one owned
/// permit of a shared [`Semaphore`], requested at a fixed priority.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use prio_semaphore::limited::{self, OwnedSemaphoreGate, Unordered};
/// use prio_semaphore::Semaphore;
///
/// fn assert_static<T: 'static>(_: &T) {}
///
/// let database = Arc::new(Semaphore::new(10));
/// let batch: Unordered<_, OwnedSemaphoreGate> =
///     limited::unordered((0..100).map(|i| async move { i }), 8)
///         .with_semaphore_owned(database, 10);
/// assert_static(&batch); // borrows nothing
/// ```
pub struct OwnedSemaphoreGate<P = i64, L: RawLock = crate::SpinLock> {
    semaphore: Arc<Semaphore<P, L>>,
    priority: P,
}

impl<P, L: RawLock> sealed::Sealed for OwnedSemaphoreGate<P, L> {}

impl<P, L> Gate for OwnedSemaphoreGate<P, L>
where
    P: Ord + Default + Clone + 'static,
    L: RawLock,
{
    type Permit = OwnedPermit<P, L>;
    type Error = AcquireError;
    type Acquire = AcquireOwned<P, L>;

    fn acquire(&self) -> Self::Acquire {
        Arc::clone(&self.semaphore)
            .acquire_owned()
            .priority(self.priority.clone())
    }

    const FALLIBLE: bool = true;
}

impl<P: fmt::Debug, L: RawLock> fmt::Debug for OwnedSemaphoreGate<P, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphoreGate")
            .field("semaphore", &self.semaphore)
            .field("priority", &self.priority)
            .finish()
    }
}

/// Where the input stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    /// More futures may come.
    Open,
    /// The input ended.
    Exhausted,
    /// The semaphore was closed: no further future is started.
    Closed,
    /// The feeder is running, or user code it ran panicked: then the input is never
    /// pulled again, and the next poll drops what the feeder held.
    Panicked,
    /// Everything was yielded; the stream returns `None` from now on.
    Finished,
}

pin_project_lite::pin_project! {
    /// A stream that runs at most `limit` futures at a time and yields their outputs in
    /// completion order; see the [module docs](self) for memory, cost and stalls.
    ///
    /// Created by [`unordered`] and [`unordered_stream`]. Its items are the futures'
    /// outputs; after [`with_semaphore`](Unordered::with_semaphore) or
    /// [`with_semaphore_owned`](Unordered::with_semaphore_owned) they are
    /// `Result<Output, AcquireError>`, because the semaphore may be closed.
    ///
    /// It is [`Unpin`] whenever its input is (the running futures live in heap slots that
    /// never move), so `.next().await` works on it directly.
    ///
    /// # Cancellation
    ///
    /// Dropping it drops each running future and then releases its permit; a queued permit
    /// request leaves the line, handing on anything it was granted; the rest of the input is
    /// dropped unconsumed. If a future's `Drop` panics, the other futures are still dropped
    /// and every permit released before the panic propagates (a second panic aborts).
    ///
    /// # Panics
    ///
    /// `poll_next` runs user code: the input's `next` (or `poll_next`), the futures'
    /// `poll` and `Drop`, and with a semaphore the priority's `Clone` and `Ord`. A panic in
    /// any of them propagates out of `poll_next`, and afterwards the stream is still sound
    /// to poll or drop: every slot and permit is given back, and it never returns `Pending`
    /// without a wake-up to come. What happens next depends on where the panic was:
    ///
    /// * **A future's `poll`**: that future is dropped (while unwinding, so a second panic
    ///   in its `Drop` aborts the process) and then its permit is released. The stream
    ///   carries on with the other futures and the rest of the input.
    /// * **A future's `Drop`, after it completed**: its slot is freed and its permit
    ///   released all the same; its output is dropped while unwinding, the panic taking
    ///   its place. The stream carries on.
    /// * **The input, or the request for a permit** (the priority's `Clone`, its `Ord`
    ///   under the semaphore's lock, or the `Drop` of a pulled future when the semaphore
    ///   closes): the input counts as ended and is never pulled again. The next poll drops
    ///   the future that was pulled but not started, and the permit request in line, if
    ///   any (a panic in their `Drop` propagates from that poll; they are gone all the
    ///   same). The stream then yields the outputs of the futures already running, and
    ///   ends. Its item for a closed semaphore is lost if the panic took its place.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use prio_semaphore::limited;
    ///
    /// # futures::executor::block_on(async {
    /// let mut squares = limited::unordered((1..=3).map(|n| async move { n * n }), 2);
    /// assert_eq!(squares.limit(), 2);
    /// let mut got = Vec::new();
    /// while let Some(square) = squares.next().await {
    ///     got.push(square);
    /// }
    /// got.sort();
    /// assert_eq!(got, [1, 4, 9]);
    /// # });
    /// ```
    #[must_use = "streams do nothing unless polled"]
    pub struct Unordered<S, G = NoGate>
    where
        S: Stream,
        G: Gate,
    {
        #[pin]
        source: S,
        gate: G,
        limit: usize,
        input: Input,
        // The next future, pulled from the input but waiting for its permit. Never polled
        // here, so it need not be pinned.
        staged: Option<S::Item>,
        // Allocated on the first poll, freed when the stream finishes.
        running: Option<Running<S::Item, G>>,
    }
}

impl<S, F> Unordered<S, NoGate>
where
    S: Stream<Item = F>,
    F: Future,
{
    /// Makes each future also hold one permit of `semaphore`, requested at `priority`,
    /// from before it starts until it completes.
    ///
    /// At most `limit` futures still run at once, so `limit` caps this stream's share of
    /// the semaphore: keep it below the semaphore's capacity to leave room for other work
    /// (and see the [module docs](self#stalls-futures-run-only-while-the-stream-is-polled)
    /// on why that matters). The items become `Result<F::Output, AcquireError>`: if the
    /// semaphore is closed the stream yields the error once, starts nothing more, yields
    /// the outputs of the futures already running, and ends.
    ///
    /// # Panics
    ///
    /// If the stream has already been polled.
    ///
    /// # Examples
    ///
    /// A realtime request overtakes the batch's request for the next permit:
    ///
    /// ```
    /// use std::future::Future;
    /// use std::pin::pin;
    /// use std::task::{Context, Poll, Waker};
    /// use futures::Stream;
    /// use prio_semaphore::{limited, Semaphore};
    ///
    /// let sem = Semaphore::new(1);
    /// let held = sem.try_acquire().unwrap();
    /// let batch = limited::unordered((0..100).map(|i| async move { i }), 4);
    /// let mut batch = pin!(batch.with_semaphore(&sem, 10));
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(batch.as_mut().poll_next(&mut cx).is_pending()); // in line at priority 10
    ///
    /// let mut realtime = pin!(sem.acquire().priority(0));
    /// assert!(realtime.as_mut().poll(&mut cx).is_pending()); // in line at priority 0
    /// drop(held);
    /// let Poll::Ready(Ok(permit)) = realtime.as_mut().poll(&mut cx) else {
    ///     panic!("the realtime request is served first");
    /// };
    /// assert!(batch.as_mut().poll_next(&mut cx).is_pending());
    /// drop(permit);
    /// assert!(matches!(batch.as_mut().poll_next(&mut cx), Poll::Ready(Some(Ok(0)))));
    /// ```
    pub fn with_semaphore<'a, P, L>(
        self,
        semaphore: &'a Semaphore<P, L>,
        priority: impl IntoPriority<P>,
    ) -> Unordered<S, SemaphoreGate<'a, P, L>>
    where
        P: Ord + Default + Clone + 'static,
        L: RawLock,
    {
        self.with_gate(SemaphoreGate {
            semaphore,
            priority: priority.into_priority(),
        })
    }

    /// [`with_semaphore`](Unordered::with_semaphore) through an `Arc`: the stream borrows
    /// nothing, so it can be returned from a function or driven by a spawned task.
    ///
    /// # Panics
    ///
    /// If the stream has already been polled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use futures::StreamExt;
    /// use prio_semaphore::{limited, Semaphore};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let api = Arc::new(Semaphore::new(10));
    /// let batch = limited::unordered((0..100).map(|i| async move { i }), 5)
    ///     .with_semaphore_owned(api.clone(), 10);
    /// let total = tokio::spawn(batch.map(Result::unwrap).fold(0, |sum, i| async move { sum + i }));
    /// assert_eq!(total.await.unwrap(), 4950);
    /// assert_eq!(api.available_permits(), 10);
    /// # }
    /// ```
    pub fn with_semaphore_owned<P, L>(
        self,
        semaphore: Arc<Semaphore<P, L>>,
        priority: impl IntoPriority<P>,
    ) -> Unordered<S, OwnedSemaphoreGate<P, L>>
    where
        P: Ord + Default + Clone + 'static,
        L: RawLock,
    {
        self.with_gate(OwnedSemaphoreGate {
            semaphore,
            priority: priority.into_priority(),
        })
    }

    fn with_gate<G: Gate>(self, gate: G) -> Unordered<S, G> {
        assert!(
            self.running.is_none(),
            "`with_semaphore` and `with_semaphore_owned` must be called before the stream is \
             first polled"
        );
        Unordered {
            source: self.source,
            gate,
            limit: self.limit,
            input: self.input,
            staged: self.staged,
            running: None,
        }
    }
}

impl<S, G> Unordered<S, G>
where
    S: Stream,
    G: Gate,
{
    /// The most futures this stream runs at once.
    ///
    /// # Examples
    ///
    /// ```
    /// let stream = prio_semaphore::limited::unordered([async {}], 8);
    /// assert_eq!(stream.limit(), 8);
    /// ```
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How many futures are running: started and not yet completed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::pin::pin;
    /// use std::task::{Context, Waker};
    /// use futures::{future, Stream};
    /// use prio_semaphore::limited;
    ///
    /// let mut stream = pin!(limited::unordered((0..10).map(|_| future::pending::<()>()), 3));
    /// assert_eq!(stream.running(), 0);
    /// let _ = stream.as_mut().poll_next(&mut Context::from_waker(Waker::noop()));
    /// assert_eq!(stream.running(), 3);
    /// ```
    pub fn running(&self) -> usize {
        self.running.as_ref().map_or(0, Running::count)
    }
}

impl<S, G> Unordered<S, G>
where
    S: Stream,
    S::Item: Future,
    G: Gate,
{
    /// The stream's engine, shared by every gate: the next output, or the error that closed
    /// the input.
    #[allow(clippy::type_complexity)]
    fn poll_event(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<<S::Item as Future>::Output, G::Error>>> {
        let mut this = self.project();
        if *this.input == Input::Finished {
            return Poll::Ready(None);
        }
        let running = this.running.get_or_insert_with(Running::new);
        running.queue().register(cx.waker());
        if *this.input == Input::Panicked {
            // Dropped here rather than while unwinding, where a second panic would abort.
            *this.input = Input::Exhausted;
            let unstarted = this.staged.take();
            running.drop_admission();
            drop(unstarted);
        }
        // Nodes woken from now on wake this task again, so taking the woken ones once per
        // call is enough, and keeps a future that keeps waking itself from looping here.
        let mut took_woken = false;
        loop {
            let node = match running.queue().pop() {
                Some(node) => node,
                None if !took_woken => {
                    took_woken = true;
                    if running.queue().take_woken() {
                        continue;
                    }
                    break;
                }
                None => break,
            };
            if Running::<S::Item, G>::is_feeder(node) {
                let fed = running.feed(
                    this.source.as_mut(),
                    this.gate,
                    this.staged,
                    this.input,
                    *this.limit,
                );
                if let Err(err) = fed {
                    return Poll::Ready(Some(Err(err)));
                }
            } else if let Some(output) = running.poll_node(node) {
                return Poll::Ready(Some(Ok(output)));
            }
        }
        if *this.input != Input::Open && running.count() == 0 {
            *this.input = Input::Finished;
            *this.running = None; // gives the memory back now, not when the stream is dropped
            return Poll::Ready(None);
        }
        Poll::Pending
    }

    fn size_hint_inner(&self) -> (usize, Option<usize>) {
        let running = self.running();
        if self.input != Input::Open {
            return (running, Some(running));
        }
        let in_hand = running + usize::from(self.staged.is_some());
        let (low, high) = self.source.size_hint();
        let high = high.and_then(|high| high.checked_add(in_hand));
        if G::FALLIBLE {
            // A closed semaphore ends the input early, with one error item instead.
            (running, high)
        } else {
            (low.saturating_add(in_hand), high)
        }
    }
}

impl<S, F> Stream for Unordered<S, NoGate>
where
    S: Stream<Item = F>,
    F: Future,
{
    type Item = F::Output;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        self.poll_event(cx).map(|event| {
            event.map(|result| match result {
                Ok(output) => output,
                Err(never) => match never {},
            })
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.size_hint_inner()
    }
}

impl<'a, S, F, P, L> Stream for Unordered<S, SemaphoreGate<'a, P, L>>
where
    S: Stream<Item = F>,
    F: Future,
    P: Ord + Default + Clone + 'static,
    L: RawLock,
{
    type Item = Result<F::Output, AcquireError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_event(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.size_hint_inner()
    }
}

impl<S, F, P, L> Stream for Unordered<S, OwnedSemaphoreGate<P, L>>
where
    S: Stream<Item = F>,
    F: Future,
    P: Ord + Default + Clone + 'static,
    L: RawLock,
{
    type Item = Result<F::Output, AcquireError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_event(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.size_hint_inner()
    }
}

impl<S, G> FusedStream for Unordered<S, G>
where
    S: Stream,
    S::Item: Future,
    G: Gate,
    Self: Stream,
{
    fn is_terminated(&self) -> bool {
        self.input == Input::Finished
    }
}

impl<S, G> fmt::Debug for Unordered<S, G>
where
    S: Stream,
    G: Gate,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unordered")
            .field("limit", &self.limit)
            .field("running", &self.running())
            .field("input", &self.input)
            .finish_non_exhaustive()
    }
}
