//! The [`Unordered`] stream: how it is made ([`unordered`], [`unordered_stream`] and the
//! `with_semaphore` adaptors), what it holds, and what it tells about itself. How it runs is
//! in [`stream`](super::stream).

use alloc::sync::Arc;
use core::fmt;
use core::future::Future;

use futures_core::stream::Stream;

use super::gate::{Gate, NoGate, OwnedSemaphoreGate, SemaphoreGate};
use super::input::{Input, Iter};
use super::running::Running;
use crate::into_priority::IntoPriority;
use crate::lock::RawLock;
use crate::semaphore::Semaphore;

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

pin_project_lite::pin_project! {
    /// A stream that runs at most `limit` futures at a time and yields their outputs in
    /// completion order; see the [module docs](super) for memory, cost and stalls.
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
        pub(super) source: S,
        pub(super) gate: G,
        pub(super) limit: usize,
        pub(super) input: Input,
        // The next future, pulled from the input but waiting for its permit. Never polled
        // here, so it need not be pinned.
        pub(super) staged: Option<S::Item>,
        // Allocated on the first poll, freed when the stream finishes.
        pub(super) running: Option<Running<S::Item, G>>,
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
    /// (and see the [module docs](super#stalls-futures-run-only-while-the-stream-is-polled)
    /// on why that matters). The items become `Result<F::Output, AcquireError>`: if the
    /// semaphore is closed the stream yields the error once, starts nothing more, yields
    /// the outputs of the futures already running, and ends.
    ///
    /// # Panics
    ///
    /// If the stream has been polled and has not finished (a finished stream yields nothing
    /// more, with or without a gate).
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
    /// If the stream has been polled and has not finished, as for
    /// [`with_semaphore`](Self::with_semaphore).
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

    pub(super) fn with_gate<G: Gate>(self, gate: G) -> Unordered<S, G> {
        assert!(
            self.running.is_none(),
            "`with_semaphore`, `with_semaphore_owned` and `with_fair_semaphore` must be called \
             before the stream is first polled"
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
