//! [`ResponseFuture`]: wait for the permit, make the inner service ready, call it.

use core::future::Future;
use core::pin::Pin;
use core::task::{ready, Context, Poll};

use tower_service::Service;

use super::kind::{Plain, SemaphoreKind};
use super::refuse::OnRefused;
use crate::error::AcquireError;
use crate::lock::RawLock;
use crate::timeout::Timeout;

pin_project_lite::pin_project! {
    /// The response future of [`PriorityLimit`](super::PriorityLimit): it waits in line for a
    /// permit at the request's priority (and, with a fair semaphore, in its flow), then
    /// makes its clone of the inner service ready, calls it, and holds the permit until the
    /// inner response future completes. `M` is the kind of semaphore ([`SemaphoreKind`]).
    ///
    /// A request refused a permit (the semaphore closed, or the layer's overload bounds:
    /// the line too long to join, or its timer `W` firing first) completes with the
    /// layer's [`OnRefused`] answer, without calling the inner service.
    ///
    /// # Cancellation
    ///
    /// Dropping it at any point loses nothing: in line, the request leaves the line (permits
    /// already handed to it go on to the next request); after that, the permit is given
    /// back with the inner service's future.
    ///
    /// # Panics
    ///
    /// Polling it again after it completed panics.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct ResponseFuture<S, Req, P, L: RawLock, C, W, M = Plain>
    where
        S: Service<Req>,
        M: SemaphoreKind<P, L>,
    {
        #[pin]
        acquire: Timeout<M::Acquire, W>,
        #[pin]
        response: Option<S::Future>,
        permit: Option<M::Permit>,
        inner: S,
        request: Option<Req>,
        on_refused: C,
        phase: Phase,
    }
}

/// Where a [`ResponseFuture`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting in line for the permit.
    Acquiring,
    /// Holding the permit; waiting for the inner service to be ready.
    Readying,
    /// Holding the permit; the inner service's future is running.
    Calling,
    /// The output was returned.
    Done,
}

impl<S, Req, P, L, C, W, M> ResponseFuture<S, Req, P, L, C, W, M>
where
    S: Service<Req>,
    L: RawLock,
    M: SemaphoreKind<P, L>,
{
    pub(super) fn new(
        acquire: Timeout<M::Acquire, W>,
        inner: S,
        request: Req,
        on_refused: C,
    ) -> Self {
        Self {
            acquire,
            response: None,
            permit: None,
            inner,
            request: Some(request),
            on_refused,
            phase: Phase::Acquiring,
        }
    }
}

impl<S, Req, P, L, C, W, M> Future for ResponseFuture<S, Req, P, L, C, W, M>
where
    S: Service<Req>,
    L: RawLock,
    C: OnRefused<S::Response, S::Error>,
    W: Future,
    M: SemaphoreKind<P, L>,
    M::Acquire: Future<Output = Result<M::Permit, AcquireError>>,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match *this.phase {
                Phase::Acquiring => match ready!(this.acquire.as_mut().poll(cx)) {
                    Ok(permit) => {
                        *this.permit = Some(permit);
                        *this.phase = Phase::Readying;
                    }
                    Err(refused) => {
                        *this.phase = Phase::Done;
                        return Poll::Ready(this.on_refused.on_refused(refused));
                    }
                },
                Phase::Readying => {
                    if let Err(error) = ready!(this.inner.poll_ready(cx)) {
                        *this.phase = Phase::Done;
                        *this.permit = None;
                        return Poll::Ready(Err(error));
                    }
                    let request = this.request.take().expect("the request is called once");
                    this.response.set(Some(this.inner.call(request)));
                    *this.phase = Phase::Calling;
                }
                Phase::Calling => {
                    let response = this.response.as_mut().as_pin_mut();
                    let output = ready!(response.expect("set when calling").poll(cx));
                    // The response is complete: the permit goes back now, not when this
                    // future is dropped.
                    this.response.set(None);
                    *this.permit = None;
                    *this.phase = Phase::Done;
                    return Poll::Ready(output);
                }
                Phase::Done => panic!("`ResponseFuture` polled after completion"),
            }
        }
    }
}

impl<S, Req, P, L, C, W, M> core::fmt::Debug for ResponseFuture<S, Req, P, L, C, W, M>
where
    S: Service<Req>,
    L: RawLock,
    M: SemaphoreKind<P, L>,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("phase", &self.phase)
            .field("permit", &self.permit)
            .finish_non_exhaustive()
    }
}
