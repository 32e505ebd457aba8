//! The wake-up queue of [`Unordered`](super::Unordered): which of its futures to poll next.
//!
//! Each slot (and the feeder, which pulls the next input and its permit) owns one node, and
//! the node is the [`Waker`] its future is polled with. Nodes are added as the stream
//! grows and never removed while the queue exists, so a node's index stays valid for as
//! long as its wakers live. Waking a node pushes its index onto a lock-free stack (a
//! Treiber stack that only ever grows by pushes and is emptied whole by one `swap`, so it
//! has no ABA problem), unless the node is already queued. The stream takes the whole
//! stack at once, reverses it so that the oldest wake-up comes first, and polls exactly the
//! nodes on it: one wake-up costs one push, one link reversal and one poll, however many
//! futures are running.
//!
//! A node's `queued` flag is set from the moment it is pushed until just before the stream
//! polls it, so each node is on at most one chain at a time and its `next` link is only
//! written by whoever set the flag.
//!
//! A waker reaches its own node through the `Arc` it holds and the stack's head through
//! [`Shared`]; only the stream maps indices back to nodes, through a vector that it alone
//! touches. So the vector may grow (and move) while wakers run on other threads.

use alloc::sync::Arc;
use alloc::task::Wake;
use alloc::vec::Vec;
use core::task::Waker;

use crate::lock::{Mutex, SpinLock};
use crate::loom::{AtomicBool, AtomicUsize, Ordering};

/// The end of a chain: links store `index + 1`. An index never reaches `usize::MAX`:
/// every node is a heap allocation of several words, so there cannot be that many.
const NIL: usize = 0;

/// What the stream and every waker share.
struct Shared {
    /// The most recently woken node, as `index + 1`, or [`NIL`].
    head: AtomicUsize,
    /// The waker of the task that polls the stream.
    parent: Mutex<SpinLock, Option<Waker>>,
}

/// One queue entry, and the waker of the future (or feeder) it stands for.
struct Node {
    shared: Arc<Shared>,
    index: usize,
    queued: AtomicBool,
    /// The next node down the chain, as `index + 1`, or [`NIL`].
    next: AtomicUsize,
}

impl Node {
    /// Queues this node unless it is queued already; wakes the stream's task if the stack
    /// was empty (otherwise whoever pushed first has woken it since the stream last looked).
    fn wake_node(&self) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let shared = &*self.shared;
        let mut head = shared.head.load(Ordering::Acquire);
        loop {
            self.next.store(head, Ordering::Relaxed);
            match shared.head.compare_exchange_weak(
                head,
                self.index + 1,
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
            if let Some(parent) = shared.parent.with(|parent| parent.clone()) {
                parent.wake();
            }
        }
    }
}

impl Wake for Node {
    fn wake(self: Arc<Self>) {
        self.wake_node();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wake_node();
    }
}

/// A node as the stream holds it: the node itself, to follow links, and a waker made from
/// it once, to poll with.
struct Entry {
    node: Arc<Node>,
    waker: Waker,
}

/// The stream's side of the queue: the nodes to poll next, oldest wake-up first.
pub(super) struct ReadyQueue {
    shared: Arc<Shared>,
    /// Node `i` at index `i`.
    entries: Vec<Entry>,
    /// First and last node of the local chain: nodes taken from `shared` or queued by the
    /// stream itself, not yet handed out.
    first: usize,
    last: usize,
}

impl ReadyQueue {
    /// A queue without nodes; [`add_node`](Self::add_node) adds them.
    pub(super) fn new() -> Self {
        Self {
            shared: Arc::new(Shared {
                head: AtomicUsize::new(NIL),
                parent: Mutex::new(None),
            }),
            entries: Vec::new(),
            first: NIL,
            last: NIL,
        }
    }

    /// Makes room for `additional` more nodes in one allocation.
    pub(super) fn reserve(&mut self, additional: usize) {
        self.entries.reserve_exact(additional);
    }

    /// Adds a node, not queued, and returns its index: the number of nodes added before.
    /// One allocation (the node, which is also its waker), plus the vector's growth.
    pub(super) fn add_node(&mut self) -> usize {
        let index = self.entries.len();
        let node = Arc::new(Node {
            shared: Arc::clone(&self.shared),
            index,
            queued: AtomicBool::new(false),
            next: AtomicUsize::new(NIL),
        });
        let waker = Waker::from(Arc::clone(&node));
        self.entries.push(Entry { node, waker });
        index
    }

    /// The waker of node `index`: what its future is polled with.
    pub(super) fn waker(&self, index: usize) -> &Waker {
        &self.entries[index].waker
    }

    fn node(&self, index: usize) -> &Node {
        &self.entries[index].node
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
        if self.node(index).queued.swap(true, Ordering::AcqRel) {
            return; // already on a chain, so it will be handed out anyway
        }
        self.append(index + 1, index + 1);
    }

    /// Hands out the first node of the local chain, clearing its flag so that a wake-up
    /// from now on queues it again. Woken nodes join the chain only through
    /// [`take_woken`](Self::take_woken).
    pub(super) fn pop(&mut self) -> Option<usize> {
        let index = self.first.checked_sub(1)?;
        let node = self.node(index);
        // Read the link before clearing the flag: after that a waker may push the node
        // again and overwrite it.
        let next = node.next.load(Ordering::Relaxed);
        node.queued.store(false, Ordering::Release);
        self.first = next;
        if self.first == NIL {
            self.last = NIL;
        }
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
            let node = self.node(newest - 1);
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
        self.node(last - 1).next.store(NIL, Ordering::Relaxed);
        match self.last.checked_sub(1) {
            Some(tail) => self.node(tail).next.store(first, Ordering::Relaxed),
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
            .field("nodes", &self.entries.len())
            .finish_non_exhaustive()
    }
}
