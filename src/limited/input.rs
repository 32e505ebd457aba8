//! The input of an [`Unordered`](super::Unordered): [`Iter`], which makes an iterator of
//! futures a stream of them, and [`Input`], where the input stands.

use core::pin::Pin;
use core::task::{Context, Poll};

use futures_core::stream::Stream;

/// A [`Stream`] over an [`Iterator`]: the input of [`unordered`](fn@super::unordered).
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
    pub(super) iter: I,
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

/// Where the input stands, and at the end the stream: [`Finished`](Input::Finished) once
/// it has yielded everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Input {
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
