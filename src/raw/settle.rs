//! Locked operations and their wake-ups: run a step under the lock, hand the list's
//! surplus to waiters in order, wake them outside the lock in bounded batches, and finish
//! the remaining batches even if a waker panics.

use crate::lock::RawLock;
use crate::loom::Ordering;
use crate::waitlist::{Progress, WaitList};
use crate::wake_batch::WakeBatch;

use super::{RawSemaphore, CLOSED};

impl<P, L: RawLock> RawSemaphore<P, L> {
    /// Runs `f` under the lock, then hands the wait list's surplus to waiters in order,
    /// waking them outside the lock in bounded batches (re-locking between batches), and
    /// finally returns what `f` returned. `f`'s result is dropped by the caller after the
    /// lock is released, which is how replaced wakers are dropped outside it.
    #[inline]
    pub(super) fn locked_then_settle<R>(&self, f: impl FnOnce(&mut WaitList<P>) -> R) -> R {
        let mut wakers = WakeBatch::new();
        let (result, progress, notes) = self.waiters.with(|list| {
            let result = f(list);
            let progress = self.settle(list, &mut wakers);
            // Grants noted for the futurelock watch (`crate::diag`), copied out only if any.
            let notes = list.take_grant_notes(self.watch.is_on());
            (result, progress, notes)
        });
        self.watch.absorb(notes);
        self.wake_and_finish(&mut wakers, progress, Self::settle);
        result
    }

    /// Wakes `wakers` outside the lock; then, while the last step stopped on a full batch,
    /// runs `step` under the lock for the next batch and wakes that one.
    ///
    /// If a waker panics, the batches left are still finished while the panic unwinds
    /// (by `FinishOnUnwind`), so no waiter is left asleep in the line holding permits or
    /// waiting for a close. A second panicking waker during that unwinding aborts, as any
    /// panic during unwinding does.
    #[inline]
    pub(super) fn wake_and_finish(
        &self,
        wakers: &mut WakeBatch,
        progress: Progress,
        step: Step<P, L>,
    ) {
        if progress == Progress::Complete {
            // The common case: at most one batch (usually none after queueing or
            // cancelling, one waker after a release), and no step left to run if a waker
            // panics (the list's own `Drop` wakes the rest of the batch).
            wakers.wake_all();
            return;
        }
        self.wake_batches(wakers, progress, step);
    }

    /// The loop of [`RawSemaphore::wake_and_finish`] for operations that filled a
    /// batch, out of line.
    #[inline(never)]
    fn wake_batches(&self, wakers: &mut WakeBatch, mut progress: Progress, step: Step<P, L>) {
        loop {
            let finish = FinishOnUnwind {
                sem: self,
                step,
                armed: progress == Progress::BatchFull,
            };
            // Leaves `wakers` empty, ready for the next batch.
            wakers.wake_all();
            if !finish.disarm() {
                return;
            }
            progress = self.waiters.with(|list| step(self, list, wakers));
            if wakers.is_empty() && progress == Progress::Complete {
                return;
            }
        }
    }

    /// Under the lock: grants what the surplus allows; once nobody is left waiting (or the
    /// semaphore is closed) the rest goes back to the permit word.
    #[inline]
    pub(super) fn settle(&self, list: &mut WaitList<P>, wakers: &mut WakeBatch) -> Progress {
        if !list.may_distribute() && !list.is_empty() {
            // Nothing to hand out, no partial grant to move, and waiters remain: the common
            // case after queueing or cancelling, and nothing can change.
            return Progress::Complete;
        }
        if self.state.load(Ordering::Acquire) & CLOSED != 0 {
            // `close` fails every queued waiter; granting them now would be pointless.
            self.sync_permit_word(list);
            return Progress::Complete;
        }
        let progress = list.distribute(self.overtake_limit, wakers);
        if progress == Progress::Complete && list.is_empty() {
            self.sync_permit_word(list);
        }
        progress
    }
}

/// One step of a batched operation under the lock: settle or close.
type Step<P, L> = fn(&RawSemaphore<P, L>, &mut WaitList<P>, &mut WakeBatch) -> Progress;

/// Finishes the remaining batches of a settle or close if a waker panics (see
/// [`RawSemaphore::wake_and_finish`]).
struct FinishOnUnwind<'a, P, L: RawLock> {
    sem: &'a RawSemaphore<P, L>,
    step: Step<P, L>,
    armed: bool,
}

impl<P, L: RawLock> FinishOnUnwind<'_, P, L> {
    /// Defuses the guard after the wakers ran normally; returns whether batches are left.
    #[inline]
    fn disarm(self) -> bool {
        let armed = self.armed;
        // Nothing to drop (two references and a flag), and skipping `Drop` spares a call.
        core::mem::forget(self);
        armed
    }
}

impl<P, L: RawLock> Drop for FinishOnUnwind<'_, P, L> {
    fn drop(&mut self) {
        if self.armed {
            let mut wakers = WakeBatch::new();
            let progress = self
                .sem
                .waiters
                .with(|list| (self.step)(self.sem, list, &mut wakers));
            self.sem.wake_and_finish(&mut wakers, progress, self.step);
        }
    }
}
