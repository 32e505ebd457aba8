//! The treap of priority runs ([`Treap`]): where a new waiter goes, linking it into its
//! run or as a new run's head, unlinking it, and the tree surgery (rotations, treap keys).
//!
//! Nothing here touches the arrival list, the grants or a waiter's state: those are the
//! list operations' (`super`), which call these functions under the lock.
//!
//! Every `unsafe fn` here requires, beyond its own conditions, what its `# Safety` calls
//! **the tree's conditions**: the caller holds the lock, and every pointer passed or reached
//! is to a linked, hence live, waiter (module invariant 2), except where a function says
//! that one argument is live and unlinked.
//!
//! # Invariants
//!
//! * A **run** is the FIFO of all linked waiters with one priority value, circular through
//!   `next`/`prev`; its first waiter is its **head**, and the head's `prev` is the tail.
//! * Run heads, and only they, are in the tree and have a `treap_key` (never
//!   [`NOT_A_HEAD`]): a binary search tree by priority, and a min-heap on `treap_key`.
//! * `first` is the leftmost head; `root` is none iff `first` is.

use core::ptr::NonNull;

use super::waiter::{node, Link, Waiter};

pub(crate) mod lanes;

use lanes::LaneOf;

/// The start of every message of a structural check that fails. Such checks guard each
/// write into a tree slot; no input, `Ord` or waker can make them fail, so one failing means
/// a bug in this module, and panicking beats linking over a waiter.
const CORRUPT: &str = "prio-semaphore: wait list corrupted (a bug, please report it)";

/// The `treap_key` of a waiter that does not head a run (no treap key is ever 0).
pub(super) const NOT_A_HEAD: u32 = 0;

/// The linked waiters in service order by priority: runs of equal priorities, their heads
/// in a treap.
pub(super) struct Treap<P> {
    pub(super) root: Link<P>,
    /// The leftmost run head: the waiter that is served next by priority.
    pub(super) first: Link<P>,
    /// xorshift32 state for treap keys.
    rng: u32,
    /// Set: runs are lanes, not priority values (`lanes`).
    lanes: Option<LaneOf<P>>,
}

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

impl<P> Treap<P> {
    pub(super) const fn new() -> Self {
        Self {
            root: None,
            first: None,
            rng: 0x9E37_79B9,
            lanes: None,
        }
    }

    /// Links `w` where [`Treap::find_place`] found it goes.
    ///
    /// # Safety
    ///
    /// The tree's conditions (module docs); `w` is live and unlinked, and `place` is what
    /// `find_place` answered for it, with no change to the tree since.
    #[inline]
    pub(super) unsafe fn link(&mut self, w: NonNull<Waiter<P>>, place: Place<P>) {
        // SAFETY: the caller's conditions.
        unsafe {
            match place {
                Place::Run(head) => self.append_to_run(head, w),
                Place::NewRun {
                    parent,
                    left,
                    becomes_first,
                } => {
                    self.insert_run_head(w, parent, left);
                    if becomes_first {
                        self.first = Some(w);
                    }
                    if self.lane_mode() {
                        self.lane_started(w);
                    }
                }
            }
        }
    }

    /// Removes a linked waiter from its run and, if it heads its run, from the tree.
    ///
    /// The links are left stale: nothing reads an unlinked node's links, and linking writes
    /// again every link that is read while it is linked (a non-head's tree links are never
    /// read).
    ///
    /// # Safety
    ///
    /// The tree's conditions (module docs); `w` is linked here.
    #[inline]
    pub(super) unsafe fn unlink(&mut self, w: NonNull<Waiter<P>>) {
        // SAFETY: the caller's conditions.
        unsafe {
            let n = node(w);
            let next = (*n).next.expect("linked waiter has a run");
            // A queued waiter's `prev` is a link (see `waiter::Prev`).
            let prev = (*n).prev.link.expect("linked waiter has a run");
            if (*n).treap_key == NOT_A_HEAD {
                (*node(prev)).next = Some(next);
                (*node(next)).prev.link = Some(prev);
            } else if next == w {
                self.remove_from_tree(w);
                if self.lane_mode() {
                    self.lane_emptied(w);
                }
            } else if self.lane_mode() {
                // The next waiter of the lane has a key of its own: the run moves.
                self.rekey(w, next);
            } else {
                self.replace_head(w, next);
            }
        }
    }

    /// The next run head in the tree's in-order sequence: the leftmost of the right
    /// subtree, or else the first ancestor reached from its left side.
    ///
    /// # Safety
    ///
    /// The tree's conditions (module docs); `h` is a run head.
    pub(super) unsafe fn successor(h: NonNull<Waiter<P>>) -> Link<P> {
        // SAFETY: the caller's conditions; tree links of run heads point to run heads.
        unsafe {
            if let Some(r) = (*node(h)).right {
                return Some(Self::leftmost(r));
            }
            let mut child = h;
            while let Some(parent) = (*node(child)).parent {
                if (*node(parent)).left == Some(child) {
                    return Some(parent);
                }
                child = parent;
            }
            None
        }
    }
}

impl<P: Ord> Treap<P> {
    /// Finds where `w` goes, only reading (so a panicking `Ord` changes nothing).
    ///
    /// Every decision rests on one comparison and on the tree's shape, never on two
    /// comparisons agreeing: the new run becomes the first iff its place is reached by
    /// going left only (the leftmost free slot is `first`'s left one). So an `Ord` that
    /// answers inconsistently can only put the waiter somewhere unspecified in the order,
    /// never corrupt the structure. In lane mode, see `lanes`.
    ///
    /// # Safety
    ///
    /// The tree's conditions (module docs); `w` is live.
    #[inline]
    pub(super) unsafe fn find_place(&self, w: NonNull<Waiter<P>>) -> Place<P> {
        if self.lane_mode() {
            // SAFETY: the caller's conditions.
            return unsafe { self.lane_place(w) };
        }
        // SAFETY: the caller's conditions.
        unsafe { self.search::<true>(w) }
    }

    /// [`Treap::find_place`]'s walk down the tree. `MERGE`: an equal priority joins its
    /// run; else (lane mode) it makes a run of its own after the equal ones, as the newest.
    ///
    /// # Safety
    ///
    /// The tree's conditions (module docs); `w` is live.
    #[inline]
    pub(super) unsafe fn search<const MERGE: bool>(&self, w: NonNull<Waiter<P>>) -> Place<P> {
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
                core::cmp::Ordering::Equal if MERGE => return Place::Run(first),
                // `first` is leftmost, so its left slot is free.
                core::cmp::Ordering::Less => {
                    return Place::NewRun {
                        parent: Some(first),
                        left: true,
                        becomes_first: true,
                    }
                }
                core::cmp::Ordering::Equal | core::cmp::Ordering::Greater => {}
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
                    core::cmp::Ordering::Equal if MERGE => return Place::Run(cur),
                    core::cmp::Ordering::Less => ((*c).left, true),
                    core::cmp::Ordering::Equal | core::cmp::Ordering::Greater => {
                        ((*c).right, false)
                    }
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
impl<P> Treap<P> {
    /// # Safety
    ///
    /// The tree's conditions (module docs); `head` heads a run, `w` is live and unlinked.
    unsafe fn append_to_run(&mut self, head: NonNull<Waiter<P>>, w: NonNull<Waiter<P>>) {
        // SAFETY: the caller's conditions.
        unsafe {
            let h = node(head);
            assert_ne!(
                (*h).treap_key,
                NOT_A_HEAD,
                "{CORRUPT}: appending to a non-head"
            );
            // A queued waiter's `prev` is a link (see `waiter::Prev`).
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
    #[inline]
    unsafe fn insert_run_head(&mut self, w: NonNull<Waiter<P>>, parent: Link<P>, left: bool) {
        // SAFETY: the caller's conditions.
        unsafe {
            let n = node(w);
            (*n).next = Some(w);
            (*n).prev.link = Some(w);
            self.insert_in_tree(w, parent, left);
        }
    }

    /// Links the run head `w` into the tree as a leaf in the slot of `parent` that `left`
    /// names, then rotates it up to its heap place. Its run links are left as they are.
    ///
    /// Always inlined: the enqueue path's copy is what its cost is (`lanes` has another).
    ///
    /// # Safety
    ///
    /// The tree's conditions (module docs); `w` is live and not in the tree, and the slot
    /// is free.
    #[inline(always)]
    unsafe fn insert_in_tree(&mut self, w: NonNull<Waiter<P>>, parent: Link<P>, left: bool) {
        // SAFETY: the caller's conditions.
        unsafe {
            // A real check, not only a debug one: linking over an occupied slot would
            // strand the waiter there. `find_place` and `rekey` never answer one, whatever
            // `Ord` says.
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

    /// Unlinks the run head `w` and puts `next`, the waiter after it in its run (of equal
    /// priority), in its place in the tree.
    ///
    /// Always inlined, as [`Treap::insert_in_tree`].
    ///
    /// # Safety
    ///
    /// The tree's conditions (module docs); `w` heads a run of more than one.
    #[inline(always)]
    unsafe fn replace_head(&mut self, w: NonNull<Waiter<P>>, next: NonNull<Waiter<P>>) {
        // SAFETY: the caller's conditions.
        unsafe {
            let prev = (*node(w)).prev.link.expect("linked waiter has a run");
            (*node(prev)).next = Some(next);
            (*node(next)).prev.link = Some(prev);
            self.replace_in_tree(w, next);
        }
    }

    /// Puts `new` (unlinked from the tree) where the run head `old` is.
    ///
    /// # Safety
    ///
    /// The tree's conditions (module docs).
    unsafe fn replace_in_tree(&mut self, old: NonNull<Waiter<P>>, new: NonNull<Waiter<P>>) {
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

    /// Removes the head of a run of one from the tree. Always inlined, as
    /// [`Treap::insert_in_tree`].
    ///
    /// # Safety
    ///
    /// The tree's conditions (module docs).
    #[inline(always)]
    unsafe fn remove_from_tree(&mut self, w: NonNull<Waiter<P>>) {
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
    unsafe fn leftmost(mut w: NonNull<Waiter<P>>) -> NonNull<Waiter<P>> {
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
