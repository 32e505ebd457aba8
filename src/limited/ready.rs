//! The wake-up queue of [`Unordered`](super::Unordered): which of its futures to poll next.
//!
//! Each slot (and the feeder, which pulls the next input and its permit) owns one node and
//! one [`Waker`], built once when the stream is first polled. Waking a node pushes its index
//! onto a lock-free stack (a Treiber stack that only ever grows by pushes and is emptied
//! whole by one `swap`, so it has no ABA problem), unless the node is already queued. The
//! stream takes the whole stack at once, reverses it so that the oldest wake-up comes first,
//! and polls exactly the nodes on it: one wake-up costs one push, one link reversal and one
//! poll, however many futures are running.
//!
//! A node's `queued` flag is set from the moment it is pushed until just before the stream
//! polls it, so each node is on at most one chain at a time and its `next` link is only
//! written by whoever set the flag.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::task::Wake;
use alloc::vec::Vec;
use core::task::Waker;

use crate::lock::{Mutex, SpinLock};
use crate::loom::{AtomicBool, AtomicUsize, Ordering};

/// The end of a chain: node links store `index + 1`.
const NIL: usize = 0;

struct Node {
    queued: AtomicBool,
    /// The next node down the chain, as `index + 1`, or [`NIL`].
    next: AtomicUsize,
}

struct Shared {
    nodes: Box<[Node]>,
    /// The most recently woken node, as `index + 1`, or [`NIL`].
    head: AtomicUsize,
    /// The waker of the task that polls the stream.
    parent: Mutex<SpinLock, Option<Waker>>,
}

impl Shared {
    /// Queues node `index` unless it is queued already; wakes the stream's task if the stack
    /// was empty (otherwise whoever pushed first has woken it since the stream last looked).
    fn wake(&self, index: usize) {
        let node = &self.nodes[index];
        if node.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            node.next.store(head, Ordering::Relaxed);
            match self.head.compare_exchange_weak(
                head,
                index + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => head = actual,
            }
        }
        if head == NIL {
            // Cloning a waker only bumps a reference count in every executor we know of;
            // waking it, which may run arbitrary code, happens outside the lock.
            if let Some(parent) = self.parent.with(|parent| parent.clone()) {
                parent.wake();
            }
        }
    }
}

struct NodeWaker {
    shared: Arc<Shared>,
    index: usize,
}

impl Wake for NodeWaker {
    fn wake(self: Arc<Self>) {
        self.shared.wake(self.index);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.shared.wake(self.index);
    }
}

/// The stream's side of the queue: the nodes to poll next, oldest wake-up first.
pub(super) struct ReadyQueue {
    shared: Arc<Shared>,
    /// First and last node of the local chain: nodes taken from `shared` or queued by the
    /// stream itself, not yet handed out.
    first: usize,
    last: usize,
}

impl ReadyQueue {
    /// A queue for nodes `0..nodes`, none of them queued, and the waker of each node (the
    /// waker to poll that node's future with). All the allocations it will ever make
    /// (`nodes + 3`) happen here.
    pub(super) fn new(nodes: usize) -> (Self, Box<[Waker]>) {
        let shared = Arc::new(Shared {
            nodes: (0..nodes)
                .map(|_| Node {
                    queued: AtomicBool::new(false),
                    next: AtomicUsize::new(NIL),
                })
                .collect(),
            head: AtomicUsize::new(NIL),
            parent: Mutex::new(None),
        });
        let wakers = (0..nodes)
            .map(|index| {
                Waker::from(Arc::new(NodeWaker {
                    shared: Arc::clone(&shared),
                    index,
                }))
            })
            .collect::<Vec<_>>()
            .into_boxed_slice();
        let queue = Self {
            shared,
            first: NIL,
            last: NIL,
        };
        (queue, wakers)
    }

    /// Records the waker of the task polling the stream; node wake-ups wake it.
    pub(super) fn register(&self, waker: &Waker) {
        let current = self
            .shared
            .parent
            .with(|parent| parent.as_ref().is_some_and(|p| p.will_wake(waker)));
        if !current {
            let fresh = waker.clone();
            let replaced = self.shared.parent.with(|parent| parent.replace(fresh));
            drop(replaced); // outside the lock: dropping a waker may run arbitrary code
        }
    }

    /// Queues node `index` at the end of the local chain without waking anyone: for the
    /// stream itself, which is running already.
    pub(super) fn push_local(&mut self, index: usize) {
        if self.shared.nodes[index].queued.swap(true, Ordering::AcqRel) {
            return; // already on a chain, so it will be handed out anyway
        }
        self.append(index + 1, index + 1);
    }

    /// Hands out the first node of the local chain, clearing its flag so that a wake-up
    /// from now on queues it again. Woken nodes join the chain only through
    /// [`take_woken`](Self::take_woken).
    pub(super) fn pop(&mut self) -> Option<usize> {
        let index = self.first.checked_sub(1)?;
        let node = &self.shared.nodes[index];
        // Read the link before clearing the flag: after that a waker may push the node
        // again and overwrite it.
        self.first = node.next.load(Ordering::Relaxed);
        if self.first == NIL {
            self.last = NIL;
        }
        node.queued.store(false, Ordering::Release);
        Some(index)
    }

    /// Moves every node woken since the last call to the end of the local chain, oldest
    /// wake-up first; false if none was woken.
    pub(super) fn take_woken(&mut self) -> bool {
        let mut newest = self.shared.head.swap(NIL, Ordering::AcqRel);
        if newest == NIL {
            return false;
        }
        // The stack links newest to oldest; reverse it so that wake-ups are served in
        // order. Every node on it has its flag set, so only this code writes its link.
        let last = newest;
        let mut reversed = NIL;
        while newest != NIL {
            let node = &self.shared.nodes[newest - 1];
            let older = node.next.load(Ordering::Relaxed);
            node.next.store(reversed, Ordering::Relaxed);
            reversed = newest;
            newest = older;
        }
        self.append(reversed, last);
        true
    }

    /// Appends the chain `first..=last` (links as `index + 1`) to the local chain.
    fn append(&mut self, first: usize, last: usize) {
        self.shared.nodes[last - 1]
            .next
            .store(NIL, Ordering::Relaxed);
        match self.last.checked_sub(1) {
            Some(tail) => self.shared.nodes[tail].next.store(first, Ordering::Relaxed),
            None => self.first = first,
        }
        self.last = last;
    }
}

impl Drop for ReadyQueue {
    fn drop(&mut self) {
        // Wakers handed to futures may outlive the stream; they must not wake its task.
        let parent = self.shared.parent.with(Option::take);
        drop(parent);
    }
}

impl core::fmt::Debug for ReadyQueue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReadyQueue")
            .field("nodes", &self.shared.nodes.len())
            .finish_non_exhaustive()
    }
}
