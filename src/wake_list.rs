//! A fixed-size batch of wakers, collected under the lock and woken after it is released.

use core::task::Waker;

use crate::loom::WAKE_BATCH;

/// Wakers to wake once the lock is released: at most [`WAKE_BATCH`], so the time spent
/// under the lock per batch is bounded, and no heap is needed.
///
/// Every waker put in is woken exactly once: by [`WakeList::wake_all`], or, if a waker
/// panics while being woken (or the list is dropped early), by the destructor, which wakes
/// the rest. Waiters granted permits are therefore never left asleep by someone else's
/// faulty waker. (A second panicking waker during that unwinding aborts, as Rust does for
/// any panic while unwinding.)
pub(crate) struct WakeList {
    wakers: [Option<Waker>; WAKE_BATCH],
    len: usize,
}

impl WakeList {
    pub(crate) const fn new() -> Self {
        const NONE: Option<Waker> = None;
        Self {
            wakers: [NONE; WAKE_BATCH],
            len: 0,
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len == WAKE_BATCH
    }

    pub(crate) fn push(&mut self, waker: Waker) {
        debug_assert!(!self.is_full(), "wake batch overflow");
        self.wakers[self.len] = Some(waker);
        self.len += 1;
    }

    /// Wakes every collected waker, in the order they were pushed.
    pub(crate) fn wake_all(mut self) {
        self.wake_remaining();
    }

    fn wake_remaining(&mut self) {
        for slot in &mut self.wakers[..self.len] {
            if let Some(waker) = slot.take() {
                waker.wake();
            }
        }
    }
}

impl Drop for WakeList {
    fn drop(&mut self) {
        self.wake_remaining();
    }
}

impl core::fmt::Debug for WakeList {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WakeList").field("len", &self.len).finish()
    }
}
