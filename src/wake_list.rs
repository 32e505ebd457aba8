//! A fixed-size batch of wakers, collected under the lock and woken after it is released.

use core::mem::ManuallyDrop;
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
///
/// It is passed by reference and reused between batches, and its slots sit in a
/// `ManuallyDrop` (every slot is `None` whenever the list is dropped, so there is nothing to
/// drop): an empty list costs one 512-byte clear, with no copies and no drop loop. An
/// uninitialised array would save the clear too, but not enough to justify `unsafe` here.
pub(crate) struct WakeList {
    wakers: ManuallyDrop<[Option<Waker>; WAKE_BATCH]>,
    /// Slots `woken..len` hold wakers still to be woken; all others are `None`.
    len: usize,
    woken: usize,
}

impl WakeList {
    #[inline]
    pub(crate) const fn new() -> Self {
        const NONE: Option<Waker> = None;
        Self {
            wakers: ManuallyDrop::new([NONE; WAKE_BATCH]),
            len: 0,
            woken: 0,
        }
    }

    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.len == WAKE_BATCH
    }

    /// Whether no waker is waiting to be woken.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.woken == self.len
    }

    #[inline]
    pub(crate) fn push(&mut self, waker: Waker) {
        debug_assert!(!self.is_full(), "wake batch overflow");
        self.wakers[self.len] = Some(waker);
        self.len += 1;
    }

    /// Wakes every collected waker, in the order they were pushed, leaving the list empty
    /// and ready for reuse.
    #[inline]
    pub(crate) fn wake_all(&mut self) {
        while self.woken < self.len {
            // Taken before waking: if this waker panics, `Drop` wakes the rest, not it again.
            let waker = self.wakers[self.woken].take();
            self.woken += 1;
            if let Some(waker) = waker {
                waker.wake();
            }
        }
        self.len = 0;
        self.woken = 0;
    }
}

impl Drop for WakeList {
    fn drop(&mut self) {
        // Leaves every slot `None`, so skipping the slots' own destructors leaks nothing.
        self.wake_all();
    }
}

impl core::fmt::Debug for WakeList {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WakeList")
            .field("pending", &(self.len - self.woken))
            .finish()
    }
}
