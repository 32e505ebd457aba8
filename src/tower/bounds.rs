//! The layer's overload bounds: [`QueueLimitFn`] (how many may wait, per priority) and
//! [`Timer`] (how long one may wait, on the caller's runtime).

use core::future::Future;
use core::time::Duration;

/// The queue limit for a request of priority `P`
/// ([`PriorityLimitLayer::queue_limit`](super::PriorityLimitLayer::queue_limit)):
/// implemented by [`NoQueueLimit`] and every `Fn(&P) -> usize`.
pub trait QueueLimitFn<P> {
    /// The most requests that may already wait for a request of `priority` to join the
    /// line ([`Acquire::queue_limit`](crate::Acquire::queue_limit)).
    fn queue_limit(&self, priority: &P) -> usize;
}

/// No queue limit (the default): every request joins the line.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoQueueLimit;

impl<P> QueueLimitFn<P> for NoQueueLimit {
    fn queue_limit(&self, _: &P) -> usize {
        usize::MAX
    }
}

impl<P, G: Fn(&P) -> usize> QueueLimitFn<P> for G {
    fn queue_limit(&self, priority: &P) -> usize {
        self(priority)
    }
}

/// How long a request may wait for its permit
/// ([`PriorityLimitLayer::max_wait`](super::PriorityLimitLayer::max_wait)): implemented by
/// [`NoTimer`] and [`MaxWait`].
pub trait Timer {
    /// The timer future, from the caller's runtime.
    type Sleep: Future;
    /// A timer for one request, or `None` to wait as long as it takes.
    fn sleep(&self) -> Option<Self::Sleep>;
}

/// No bound on the wait (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTimer;

impl Timer for NoTimer {
    type Sleep = core::future::Pending<()>;

    fn sleep(&self) -> Option<Self::Sleep> {
        None
    }
}

/// A bound on the wait: `sleep(after)` is each request's timer.
#[derive(Debug, Clone, Copy)]
pub struct MaxWait<G> {
    after: Duration,
    sleep: G,
}

impl<G> MaxWait<G> {
    pub(super) fn new(after: Duration, sleep: G) -> Self {
        Self { after, sleep }
    }
}

impl<G: Fn(Duration) -> S, S: Future> Timer for MaxWait<G> {
    type Sleep = S;

    fn sleep(&self) -> Option<S> {
        Some((self.sleep)(self.after))
    }
}
