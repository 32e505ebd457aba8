//! The hand-off from the semaphore's thread to an async task: one value, awaited through
//! the task's `Waker`, so it works on every executor.

use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// One value, sent once from the semaphore's thread to one awaiting task.
#[derive(Debug)]
pub(crate) struct Slot<T> {
    state: Mutex<SlotState<T>>,
}

#[derive(Debug)]
enum SlotState<T> {
    Empty(Option<Waker>),
    Full(T),
    Taken,
    /// The receiver is gone: a value sent now comes back to the sender.
    Abandoned,
}

impl<T> Slot<T> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Slot {
            state: Mutex::new(SlotState::Empty(None)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, SlotState<T>> {
        // A panic while holding this lock cannot leave the state half-written (every
        // update is one assignment), so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores `value` and wakes the receiver; gives `value` back if the receiver left.
    pub(crate) fn fill(&self, value: T) -> Result<(), T> {
        let waker = {
            let mut state = self.lock();
            match std::mem::replace(&mut *state, SlotState::Taken) {
                SlotState::Empty(waker) => {
                    *state = SlotState::Full(value);
                    waker
                }
                other => {
                    *state = other;
                    return Err(value);
                }
            }
        };
        // Woken outside the lock: a waker may run arbitrary code.
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Takes the value, or registers the task to be woken when it comes.
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>) -> Poll<T> {
        let mut state = self.lock();
        match std::mem::replace(&mut *state, SlotState::Taken) {
            SlotState::Full(value) => Poll::Ready(value),
            SlotState::Empty(_) => {
                *state = SlotState::Empty(Some(cx.waker().clone()));
                Poll::Pending
            }
            other => {
                *state = other;
                Poll::Pending
            }
        }
    }

    /// The receiver leaves: later values bounce; a value already here is returned so the
    /// caller can dispose of it (a grant nobody will use must be released).
    pub(crate) fn abandon(&self) -> Option<T> {
        let mut state = self.lock();
        match std::mem::replace(&mut *state, SlotState::Abandoned) {
            SlotState::Full(value) => Some(value),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    #[test]
    fn slot_hands_over_once_and_bounces_after_abandon() {
        let mut cx = Context::from_waker(Waker::noop());
        let slot = Slot::new();
        assert!(slot.poll_take(&mut cx).is_pending());
        slot.fill(1).unwrap();
        assert_eq!(slot.poll_take(&mut cx), Poll::Ready(1));
        let slot = Slot::new();
        slot.fill(2).unwrap();
        assert_eq!(slot.abandon(), Some(2));
        let slot = Slot::new();
        assert_eq!(slot.abandon(), None);
        assert_eq!(slot.fill(3), Err(3));
    }
}
