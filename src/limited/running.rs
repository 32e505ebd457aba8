//! The running futures of an [`Unordered`](super::Unordered) and the feeder that starts
//! them: slots, free list, wake-up queue and the permit request in line.
//!
//! Panic safety rests on two rules. Bookkeeping comes before user code: a slot is counted
//! free, and its permit moved out, before its future is dropped, so a panicking `Drop`
//! cannot keep either. And the feeder, which runs the input and the gate, marks the input
//! [`Input::Panicked`] for as long as it runs, so a panic there leaves the stream knowing
//! that the input is done with and that what the feeder held is to be dropped.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures_core::stream::Stream;

use super::gate::Gate;
use super::input::Input;
use super::ready::ReadyQueue;
use super::slots::Slots;

/// The queue node of the feeder, added first. Slot `i` has node `i + 1`.
const FEEDER: usize = 0;

fn node_of(slot: usize) -> usize {
    slot + 1
}

/// A running future and the permit it holds.
struct Slot<F, T> {
    future: Option<F>,
    permit: Option<T>,
}

/// Everything an `Unordered` allocates, from its first poll on.
pub(super) struct Running<F, G: Gate> {
    /// Futures are pinned in their slots: dropped only in place, never moved.
    slots: Slots<Slot<F, G::Permit>>,
    /// Indices of empty slots. Its capacity covers every slot, so freeing one never
    /// allocates.
    free: Vec<usize>,
    queue: ReadyQueue,
    /// The permit request for the staged future; boxed once so the stream stays `Unpin`.
    permit_request: Pin<Box<Option<G::Acquire>>>,
    /// Slots holding a future.
    count: usize,
    /// The feeder stopped because `limit` futures run; a completion queues it again.
    feeder_needs_slot: bool,
}

impl<F, G: Gate> Running<F, G> {
    /// How many futures are running.
    pub(super) fn count(&self) -> usize {
        self.count
    }
}

impl<F: Future, G: Gate> Running<F, G> {
    /// No slot yet: they are added as futures start.
    pub(super) fn new() -> Self {
        let mut queue = ReadyQueue::new();
        let feeder = queue.add_node();
        debug_assert_eq!(feeder, FEEDER);
        // The feeder starts the first futures on the first poll.
        queue.push_local(FEEDER);
        Self {
            slots: Slots::new(),
            free: Vec::new(),
            queue,
            permit_request: Box::pin(None),
            count: 0,
            feeder_needs_slot: false,
        }
    }

    pub(super) fn queue(&mut self) -> &mut ReadyQueue {
        &mut self.queue
    }

    /// Whether queue node `node` is the feeder's; otherwise it is the slot
    /// [`poll_node`](Self::poll_node) polls.
    pub(super) fn is_feeder(node: usize) -> bool {
        node == FEEDER
    }

    /// Drops the permit request that a panic left behind. Its `Drop` (leaving the
    /// semaphore's line) may panic in turn; the request is gone either way.
    pub(super) fn drop_permit_request(&mut self) {
        self.permit_request.set(None);
    }

    /// Starts futures while fewer than `limit` run: pulls the next one from the input,
    /// waits for its permit, puts it in a slot and queues the slot to be polled. Returns
    /// when it has to wait (woken through the feeder's waker), when `limit` futures run
    /// (queued again by the next completion), or when the input ends.
    ///
    /// While it runs `*input` reads [`Input::Panicked`], so that is what a panic of the
    /// input, the gate or a `Drop` leaves there.
    pub(super) fn feed<S>(
        &mut self,
        source: Pin<&mut S>,
        gate: &G,
        staged: &mut Option<F>,
        input: &mut Input,
        limit: usize,
    ) -> Result<(), G::Error>
    where
        S: Stream<Item = F>,
    {
        let mut state = core::mem::replace(input, Input::Panicked);
        let fed = self.feed_until_blocked(source, gate, staged, &mut state, limit);
        *input = state;
        fed
    }

    fn feed_until_blocked<S>(
        &mut self,
        mut source: Pin<&mut S>,
        gate: &G,
        staged: &mut Option<F>,
        input: &mut Input,
        limit: usize,
    ) -> Result<(), G::Error>
    where
        S: Stream<Item = F>,
    {
        // A clone (a reference count) rather than a borrow, so that the queue can be
        // written below.
        let feeder_waker = self.queue.waker(FEEDER).clone();
        let mut cx = Context::from_waker(&feeder_waker);
        while *input == Input::Open {
            if self.count == limit {
                self.feeder_needs_slot = true;
                return Ok(());
            }
            if staged.is_none() {
                match source.as_mut().poll_next(&mut cx) {
                    Poll::Pending => return Ok(()),
                    Poll::Ready(None) => {
                        *input = Input::Exhausted;
                        return Ok(());
                    }
                    Poll::Ready(Some(future)) => *staged = Some(future),
                }
            }
            if self.permit_request.is_none() {
                self.permit_request.set(Some(gate.acquire()));
            }
            let Some(acquire) = self.permit_request.as_mut().as_pin_mut() else {
                unreachable!("the permit request was just set");
            };
            let Poll::Ready(result) = acquire.poll(&mut cx) else {
                return Ok(());
            };
            self.permit_request.set(None);
            match result {
                Ok(permit) => {
                    let index = self.take_free_slot(limit);
                    let slot = self.slots.get_mut(index);
                    slot.future = staged.take();
                    slot.permit = Some(permit);
                    self.count += 1;
                    self.queue.push_local(node_of(index));
                }
                Err(err) => {
                    *input = Input::Closed;
                    *staged = None;
                    return Err(err);
                }
            }
        }
        Ok(())
    }

    /// An empty slot, taken off the free list; adds slots if none is free. Only called
    /// while fewer than `limit` futures run, so there is room for one more.
    fn take_free_slot(&mut self, limit: usize) -> usize {
        if let Some(index) = self.free.pop() {
            return index;
        }
        let added = self.slots.grow(limit, || Slot {
            future: None,
            permit: None,
        });
        // Room for every slot on the free list, so that `clear_slot` never allocates.
        self.free.reserve_exact(self.slots.len() - self.free.len());
        self.queue.reserve(added.len());
        for index in added.clone() {
            let node = self.queue.add_node();
            debug_assert_eq!(node, node_of(index));
        }
        // Reversed so that the lowest index is used first; any order would do.
        self.free.extend(added.rev());
        match self.free.pop() {
            Some(index) => index,
            None => unreachable!("slots were just added"),
        }
    }

    /// Polls the future behind queue node `node`; on completion empties its slot (dropping
    /// the future, then releasing its permit) and returns the output. A stale wake-up of
    /// an empty slot, or of one reused since, only costs a spurious poll.
    pub(super) fn poll_node(&mut self, node: usize) -> Option<F::Output> {
        debug_assert!(!Self::is_feeder(node));
        let index = node - 1;
        // If the future panics, the guard empties its slot on the way out.
        let guard = ClearSlotOnUnwind {
            running: self,
            index,
        };
        let Running { slots, queue, .. } = &mut *guard.running;
        let Some(future) = slots.get_mut(index).future.as_mut() else {
            core::mem::forget(guard);
            return None; // a stale wake-up of an empty slot
        };
        // SAFETY: the future lives in a slot of `Slots`, whose chunks are never resized or
        // moved out of, so its address is stable until it is dropped in place: by
        // `clear_slot` (which assigns `None`) or when the storage itself is dropped. So it
        // is never moved after this first pin, as `Pin` requires.
        let future = unsafe { Pin::new_unchecked(future) };
        let poll = future.poll(&mut Context::from_waker(queue.waker(node)));
        core::mem::forget(guard);
        let Poll::Ready(output) = poll else {
            return None;
        };
        // If the future's `Drop` panics here, the output is dropped on the way out.
        self.clear_slot(index);
        Some(output)
    }

    /// Frees slot `index`: counts it free first, then drops its future in place, then
    /// releases its permit. Panics in the future's `Drop` (or the permit's) propagate, but
    /// by then the slot is free and the permit is a local that unwinding releases.
    fn clear_slot(&mut self, index: usize) {
        let permit = self.slots.get_mut(index).permit.take();
        self.free.push(index); // within capacity: never allocates, never panics
        self.count -= 1;
        if core::mem::take(&mut self.feeder_needs_slot) {
            self.queue.push_local(FEEDER);
        }
        // Dropped in place, as it is pinned. Even if its `Drop` panics the slot reads
        // `None` afterwards: an assignment stores the new value on the unwinding path too.
        self.slots.get_mut(index).future = None;
        drop(permit);
    }
}

/// Empties a slot whose future panicked while being polled.
struct ClearSlotOnUnwind<'r, F: Future, G: Gate> {
    running: &'r mut Running<F, G>,
    index: usize,
}

impl<F: Future, G: Gate> Drop for ClearSlotOnUnwind<'_, F, G> {
    fn drop(&mut self) {
        self.running.clear_slot(self.index);
    }
}
