//! [`PollSlot`]: the reusable boxed request behind the poll-style handles
//! ([`PollSemaphore`](crate::PollSemaphore), `fair::PollFairSemaphore`): a request that has
//! to wait stays in one heap slot between polls, and later requests reuse the slot.

use alloc::boxed::Box;
use core::future::Future;
use core::pin::Pin;
use core::task::{ready, Context, Poll};

/// One live request `F` at a time, asked for with the parameters `Q` (permits, priority,
/// ...): polled again while a poll asks for the same, replaced when it asks for something
/// else. The slot is allocated the first time a request has to wait, then reused: at most
/// one allocation per handle, none per request.
pub(crate) struct PollSlot<F, Q> {
    slot: Option<Pin<Box<F>>>,
    /// What the request in `slot` asks for while it is live (created and not completed).
    live: Option<Q>,
}

impl<F, Q> PollSlot<F, Q> {
    pub(crate) const fn new() -> Self {
        Self {
            slot: None,
            live: None,
        }
    }

    /// Whether a request is live (waiting, or granted and not yet polled).
    pub(crate) fn is_live(&self) -> bool {
        self.live.is_some()
    }
}

impl<F: Future, Q: PartialEq> PollSlot<F, Q> {
    /// Polls the live request if it asks for `params`; else starts one: first `fast` (only
    /// while nothing is allocated: `Some` is the answer without waiting, `None` means the
    /// request must wait), then `make`, in the slot. The next poll after `Ready` starts a
    /// new request.
    pub(crate) fn poll(
        &mut self,
        cx: &mut Context<'_>,
        params: Q,
        fast: impl FnOnce(&Q) -> Option<F::Output>,
        make: impl FnOnce(&Q) -> F,
    ) -> Poll<F::Output> {
        if self.live.as_ref() != Some(&params) {
            if self.slot.is_none() {
                if let Some(answer) = fast(&params) {
                    return Poll::Ready(answer);
                }
            }
            let request = make(&params);
            match &mut self.slot {
                // Drops the request in place (a live one leaves the line, handing on what it
                // was given) and reuses the allocation.
                Some(slot) => slot.set(request),
                None => self.slot = Some(Box::pin(request)),
            }
            self.live = Some(params);
        }
        let Some(slot) = &mut self.slot else {
            unreachable!("a live request has a slot");
        };
        let result = ready!(slot.as_mut().poll(cx));
        self.live = None;
        Poll::Ready(result)
    }
}
