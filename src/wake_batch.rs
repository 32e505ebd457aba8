//! A fixed-size batch of wakers, collected under the lock and woken after it is released.

use core::mem::ManuallyDrop;
use core::task::Waker;

use crate::loom::WAKE_BATCH;

/// The slots after the first.
type Rest = ManuallyDrop<[Option<Waker>; WAKE_BATCH - 1]>;

/// Wakers to wake once the lock is released: at most [`WAKE_BATCH`], so the time spent
/// under the lock per batch is bounded, and no heap is needed.
///
/// Every waker put in is woken exactly once: by [`WakeBatch::wake_all`], or, if a waker
/// panics while being woken (or the batch is dropped early), by the destructor, which wakes
/// the rest. Waiters granted permits are therefore never left asleep by someone else's
/// faulty waker. (A second panicking waker during that unwinding aborts, as Rust does for
/// any panic while unwinding.)
///
/// Most batches hold one waker (a release handing its permit to the next in line), so the
/// first slot stands apart and the other `WAKE_BATCH - 1` are only initialised when a
/// second waker arrives: a new batch is a few words to write, not a 512-byte clear (what
/// that saved is in `docs/benchmarks.md`, "The wake list"). The slots sit in
/// `ManuallyDrop` because every slot is `None` whenever the batch is dropped (`Drop` wakes
/// what is left), so the compiler's drop glue has nothing to do and is not even called.
/// All of it is safe code: an uninitialised array would save little more.
pub(crate) struct WakeBatch {
    first: ManuallyDrop<Option<Waker>>,
    rest: Option<Rest>,
    /// Slots `woken..len` hold wakers still to be woken; all others are `None`.
    len: usize,
    woken: usize,
}

impl WakeBatch {
    #[inline]
    pub(crate) const fn new() -> Self {
        Self {
            first: ManuallyDrop::new(None),
            rest: None,
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
        let slot = match self.len {
            0 => &mut *self.first,
            i => &mut self.rest.get_or_insert_with(Self::empty_rest)[i - 1],
        };
        *slot = Some(waker);
        self.len += 1;
    }

    #[cold]
    fn empty_rest() -> Rest {
        const NONE: Option<Waker> = None;
        ManuallyDrop::new([NONE; WAKE_BATCH - 1])
    }

    /// Wakes every collected waker, in the order they were pushed, leaving the batch empty
    /// and ready for reuse.
    #[inline]
    pub(crate) fn wake_all(&mut self) {
        while self.woken < self.len {
            // Taken before waking: if this waker panics, `Drop` wakes the rest, not it again.
            let waker = match self.woken {
                0 => self.first.take(),
                i => self.rest.as_mut().and_then(|rest| rest[i - 1].take()),
            };
            self.woken += 1;
            if let Some(waker) = waker {
                waker.wake();
            }
        }
        self.len = 0;
        self.woken = 0;
    }
}

impl Drop for WakeBatch {
    #[inline]
    fn drop(&mut self) {
        // Usually already woken (the check is inlined; the loop is not needed then).
        // Leaves every slot `None`, so skipping the slots' own destructors leaks nothing.
        if !self.is_empty() {
            self.wake_all();
        }
    }
}

impl core::fmt::Debug for WakeBatch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WakeBatch")
            .field("pending", &(self.len - self.woken))
            .finish()
    }
}
