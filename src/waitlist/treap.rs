//! The treap of priority runs: the node the lock holder links, where a new waiter goes,
//! and the tree surgery (insertion, removal, rotations, treap keys).
//!
//! Nothing here touches the arrival list, the partial grant or a waiter's state: those are
//! the list operations' (`super`), which call these functions under the lock.
//!
//! Every `unsafe fn` here requires, beyond its own conditions, what its `# Safety` calls
//! **the tree's conditions**: the caller holds the lock, and every pointer passed or reached
//! is to a linked, hence live, waiter (module invariant 2), except where a function says
//! that one argument is live and unlinked.

use core::ptr::NonNull;
use core::task::Waker;

use super::waiter::{node, Waiter};
use super::WaitList;

pub(super) type Link<P> = Option<NonNull<Waiter<P>>>;

/// The start of every message of a structural check that fails. Such checks guard each
/// write into a tree slot; no input, `Ord` or waker can make them fail, so one failing means
/// a bug in this module, and panicking beats linking over a waiter.
const CORRUPT: &str = "prio-semaphore: wait list corrupted (a bug, please report it)";

/// The `treap_key` of a waiter that does not head a run (no treap key is ever 0).
pub(super) const NOT_A_HEAD: u32 = 0;

/// The part of a waiter that only the lock holder touches while it is linked: its links,
/// its grant so far and its waker. Embedded in [`Waiter`] behind an `UnsafeCell`, and
/// reached only through [`node`].
///
/// `repr(C)`: the fields a tree search reads (`priority`, `left`, `right`) come first, so
/// they share a cache line.
#[repr(C)]
pub(super) struct Node<P> {
    pub(super) priority: P,
    /// Treap links, meaningful only for a run head.
    pub(super) left: Link<P>,
    pub(super) right: Link<P>,
    pub(super) parent: Link<P>,
    /// The treap's heap-order key if this waiter heads its run, else [`NOT_A_HEAD`]
    /// (xorshift never yields 0, so no separate flag is needed).
    pub(super) treap_key: u32,
    /// The list's grant count when this waiter arrived (wrapping, like the count): its age
    /// for the overtake limit, and with `tracing` the grants it watched go to others.
    #[cfg(any(feature = "overtake-limit", feature = "tracing"))]
    pub(super) ticket: u32,
    pub(super) waker: Option<Waker>,
    /// Next in the run (circular).
    pub(super) next: Link<P>,
    /// Previous in the run (circular): for the run head, the run's tail. Doubles as the
    /// ambient lookup before the first poll, see [`Prev`].
    pub(super) prev: Prev<P>,
    /// Arrival list neighbours (feature `overtake-limit`).
    #[cfg(feature = "overtake-limit")]
    pub(super) older: Link<P>,
    #[cfg(feature = "overtake-limit")]
    pub(super) newer: Link<P>,
    /// The futurelock watch (`crate::hazard`): the priority as warnings show it, set by the
    /// owner before the waiter is queued, and the grant's number, set at the grant.
    #[cfg(all(feature = "std", feature = "tracing"))]
    pub(super) shown: crate::trace::Shown,
    #[cfg(all(feature = "std", feature = "tracing"))]
    pub(super) grant_seq: usize,
}

impl<P> Node<P> {
    /// The node of a new, unlinked waiter.
    pub(super) fn new(priority: P) -> Self {
        Self {
            priority,
            waker: None,
            next: None,
            prev: Prev { link: None },
            #[cfg(feature = "overtake-limit")]
            older: None,
            #[cfg(feature = "overtake-limit")]
            newer: None,
            #[cfg(any(feature = "overtake-limit", feature = "tracing"))]
            ticket: 0,
            #[cfg(all(feature = "std", feature = "tracing"))]
            shown: crate::trace::Shown::Type("?"),
            #[cfg(all(feature = "std", feature = "tracing"))]
            grant_seq: super::NO_GRANT_SEQ,
            left: None,
            right: None,
            parent: None,
            treap_key: NOT_A_HEAD,
        }
    }
}

/// A waiter's previous neighbour in its run while it is queued; before its owner first
/// polls it, where it looks its ambient priority up (`crate::ambient`). One word for both,
/// since the lookup is taken before the waiter can be queued: the waiter's
/// `lookup_pending` flag says the lookup is there. Otherwise it is the link, and every
/// read of the link follows a write of it: `enqueue` writes it for every waiter it queues
/// (`append_to_run`, `insert_run_head`), and nothing reads an unlinked waiter's links.
pub(super) union Prev<P> {
    pub(super) link: Link<P>,
    #[cfg(feature = "std")]
    pub(super) lookup: fn() -> Option<P>,
}

impl<P> Clone for Prev<P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P> Copy for Prev<P> {}

/// Where a new waiter goes.
pub(super) enum Place<P> {
    /// At the tail of the run headed by this waiter.
    Run(NonNull<Waiter<P>>),
    /// As the head of a new run: a leaf under `parent` (on its left if `left`).
    NewRun {
        parent: Link<P>,
        left: bool,
        becomes_first: bool,
    },
}

impl<P: Ord> WaitList<P> {
    /// Finds where `w` goes, only reading (so a panicking `Ord` changes nothing).
    ///
    /// Every decision rests on one comparison and on the tree's shape, never on two
    /// comparisons agreeing: the new run becomes the first iff its place is reached by
    /// going left only (the leftmost free slot is `first`'s left one). So an `Ord` that
    /// answers inconsistently can only put the waiter somewhere unspecified in the order,
    /// never corrupt the structure.
    ///
    /// # Safety
    ///
    /// The tree's conditions (module docs); `w` is live.
    pub(super) unsafe fn find_place(&self, w: NonNull<Waiter<P>>) -> Place<P> {
        // SAFETY: (whole body) the caller's conditions; only shared reads of priorities.
        unsafe {
            let prio = &(*node(w)).priority;
            let Some(first) = self.first else {
                return Place::NewRun {
                    parent: None,
                    left: true,
                    becomes_first: true,
                };
            };
            // The front run is the most common target: check it before walking the tree.
            match prio.cmp(&(*node(first)).priority) {
                core::cmp::Ordering::Equal => return Place::Run(first),
                // `first` is leftmost, so its left slot is free.
                core::cmp::Ordering::Less => {
                    return Place::NewRun {
                        parent: Some(first),
                        left: true,
                        becomes_first: true,
                    }
                }
                core::cmp::Ordering::Greater => {}
            }
            let mut cur = self.root.expect("non-empty list has a root");
            // Whether every step so far went left: then the free slot found is `first`'s.
            let mut only_left = true;
            loop {
                let c = node(cur);
                // A branch on purpose, not a conditional move: with a branch the CPU loads
                // the next node speculatively instead of waiting for the comparison
                // (`docs/benchmarks.md`, "Tried and reverted").
                let (next, left) = match prio.cmp(&(*c).priority) {
                    core::cmp::Ordering::Equal => return Place::Run(cur),
                    core::cmp::Ordering::Less => ((*c).left, true),
                    core::cmp::Ordering::Greater => ((*c).right, false),
                };
                only_left &= left;
                match next {
                    Some(next) => cur = next,
                    None => {
                        return Place::NewRun {
                            parent: Some(cur),
                            left,
                            becomes_first: only_left,
                        }
                    }
                }
            }
        }
    }
}

// Tree and run surgery.
impl<P> WaitList<P> {
    /// # Safety
    ///
    /// The tree's conditions (module docs); `head` heads a run, `w` is live and unlinked.
    pub(super) unsafe fn append_to_run(&mut self, head: NonNull<Waiter<P>>, w: NonNull<Waiter<P>>) {
        // SAFETY: the caller's conditions.
        unsafe {
            let h = node(head);
            assert_ne!(
                (*h).treap_key,
                NOT_A_HEAD,
                "{CORRUPT}: appending to a non-head"
            );
            // A queued waiter's `prev` is a link (see `Prev`).
            let tail = (*h).prev.link.expect("run is circular");
            let n = node(w);
            (*n).treap_key = NOT_A_HEAD;
            (*n).next = Some(head);
            (*n).prev.link = Some(tail);
            (*node(tail)).next = Some(w);
            (*h).prev.link = Some(w);
        }
    }

    /// # Safety
    ///
    /// The tree's conditions (module docs); `w` is live and unlinked, and the slot of
    /// `parent` that `left` names is free (as found by `find_place`).
    pub(super) unsafe fn insert_run_head(
        &mut self,
        w: NonNull<Waiter<P>>,
        parent: Link<P>,
        left: bool,
    ) {
        // SAFETY: the caller's conditions.
        unsafe {
            // A real check, not only a debug one: linking over an occupied slot would
            // strand the waiter there. `find_place` never answers one, whatever `Ord` says.
            let slot = match parent {
                None => self.root,
                Some(p) if left => (*node(p)).left,
                Some(p) => (*node(p)).right,
            };
            assert!(slot.is_none(), "{CORRUPT}: a new run's slot is taken");
        }
        let key = self.next_treap_key();
        // SAFETY: the caller's conditions.
        unsafe {
            let n = node(w);
            (*n).next = Some(w);
            (*n).prev.link = Some(w);
            (*n).left = None;
            (*n).right = None;
            (*n).parent = parent;
            (*n).treap_key = key;
            match parent {
                None => self.root = Some(w),
                Some(p) if left => (*node(p)).left = Some(w),
                Some(p) => (*node(p)).right = Some(w),
            }
            while let Some(p) = (*n).parent {
                if (*node(p)).treap_key <= key {
                    break;
                }
                self.rotate_up(w);
            }
        }
    }

    /// Puts `new` (unlinked from the tree) where the run head `old` is.
    ///
    /// # Safety
    ///
    /// The tree's conditions (module docs).
    pub(super) unsafe fn replace_in_tree(
        &mut self,
        old: NonNull<Waiter<P>>,
        new: NonNull<Waiter<P>>,
    ) {
        // SAFETY: the caller's conditions.
        unsafe {
            let (o, n) = (node(old), node(new));
            (*n).left = (*o).left;
            (*n).right = (*o).right;
            (*n).parent = (*o).parent;
            (*n).treap_key = (*o).treap_key;
            if let Some(l) = (*n).left {
                (*node(l)).parent = Some(new);
            }
            if let Some(r) = (*n).right {
                (*node(r)).parent = Some(new);
            }
            self.set_child((*o).parent, old, Some(new));
            if self.first == Some(old) {
                self.first = Some(new);
            }
        }
    }

    /// Removes the head of a run of one from the tree.
    ///
    /// # Safety
    ///
    /// The tree's conditions (module docs).
    pub(super) unsafe fn remove_from_tree(&mut self, w: NonNull<Waiter<P>>) {
        // SAFETY: the caller's conditions.
        unsafe {
            let n = node(w);
            // Rotate `w` down (its lighter child up) until it has at most one child.
            while let (Some(l), Some(r)) = ((*n).left, (*n).right) {
                let up = if (*node(l)).treap_key <= (*node(r)).treap_key {
                    l
                } else {
                    r
                };
                self.rotate_up(up);
            }
            let child = (*n).left.or((*n).right);
            let parent = (*n).parent;
            if let Some(c) = child {
                (*node(c)).parent = parent;
            }
            self.set_child(parent, w, child);
            if self.first == Some(w) {
                // `w` was leftmost, so it had no left child: the next run is the leftmost
                // of its right subtree, or else its parent.
                self.first = match child {
                    Some(c) => Some(Self::leftmost(c)),
                    None => parent,
                };
            }
        }
    }

    /// # Safety
    ///
    /// The tree's conditions (module docs).
    pub(super) unsafe fn leftmost(mut w: NonNull<Waiter<P>>) -> NonNull<Waiter<P>> {
        // SAFETY: the caller's conditions.
        unsafe {
            while let Some(l) = (*node(w)).left {
                w = l;
            }
        }
        w
    }

    /// Makes `new` the child of `parent` that `old` was (or the root).
    ///
    /// # Safety
    ///
    /// The tree's conditions (module docs).
    unsafe fn set_child(&mut self, parent: Link<P>, old: NonNull<Waiter<P>>, new: Link<P>) {
        // SAFETY: the caller's conditions.
        unsafe {
            let slot = match parent {
                None => &mut self.root,
                Some(p) if (*node(p)).left == Some(old) => &mut (*node(p)).left,
                Some(p) => &mut (*node(p)).right,
            };
            assert_eq!(*slot, Some(old), "{CORRUPT}: a child slot lost its node");
            *slot = new;
        }
    }

    /// Rotates the run head `x` above its parent, keeping the search order.
    ///
    /// # Safety
    ///
    /// The tree's conditions (module docs); `x` has a parent.
    unsafe fn rotate_up(&mut self, x: NonNull<Waiter<P>>) {
        // SAFETY: the caller's conditions.
        unsafe {
            let xn = node(x);
            let p = (*xn).parent.expect("rotate_up needs a parent");
            let pn = node(p);
            let grand = (*pn).parent;
            if (*pn).left == Some(x) {
                let moved = (*xn).right;
                (*pn).left = moved;
                if let Some(m) = moved {
                    (*node(m)).parent = Some(p);
                }
                (*xn).right = Some(p);
            } else {
                let moved = (*xn).left;
                (*pn).right = moved;
                if let Some(m) = moved {
                    (*node(m)).parent = Some(p);
                }
                (*xn).left = Some(p);
            }
            (*pn).parent = Some(x);
            (*xn).parent = grand;
            self.set_child(grand, p, Some(x));
        }
    }

    fn next_treap_key(&mut self) -> u32 {
        // xorshift32: cheap, and the tree shape only needs keys independent of priorities.
        // From a non-zero seed it never yields 0, which is what `NOT_A_HEAD` relies on.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng = x;
        debug_assert_ne!(x, NOT_A_HEAD);
        x
    }
}
