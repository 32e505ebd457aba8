//! How an [`Unordered`] runs: its one [`Stream`] impl, for every [`Gate`], over the engine
//! that starts new futures and polls the woken ones.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures_core::stream::{FusedStream, Stream};

use super::gate::Gate;
use super::input::Input;
use super::running::Running;
use super::unordered::Unordered;

impl<S, G> Unordered<S, G>
where
    S: Stream,
    S::Item: Future,
    G: Gate,
{
    /// The stream's engine, shared by every gate: the next output, or the error that closed
    /// the input.
    #[allow(
        clippy::type_complexity,
        reason = "the `Stream` item, spelled out once"
    )]
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
            running.drop_permit_request();
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
}

impl<S, G> Stream for Unordered<S, G>
where
    S: Stream,
    S::Item: Future,
    G: Gate,
{
    /// The futures' outputs; after [`with_semaphore`](Unordered::with_semaphore) or
    /// [`with_semaphore_owned`](Unordered::with_semaphore_owned),
    /// `Result<Output, AcquireError>`.
    type Item = G::Item<<S::Item as Future>::Output>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_event(cx).map(|event| event.map(G::into_item))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
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

impl<S, G> FusedStream for Unordered<S, G>
where
    S: Stream,
    S::Item: Future,
    G: Gate,
{
    fn is_terminated(&self) -> bool {
        self.input == Input::Finished
    }
}
