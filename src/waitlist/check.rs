//! The tests' invariant checker: [`WaitList::assert_valid`] walks the whole list and asserts
//! every invariant that holds whatever the priorities' `Ord` answers; [`Walk::assert_sorted`]
//! adds the search order, which only an honest `Ord` gives.

use core::fmt::Debug;
use core::ptr::NonNull;
use std::vec::Vec;

use super::treap::NOT_A_HEAD;
use super::waiter::{needed, node, state, Link, LINKED};
use super::{WaitList, Waiter};
use crate::loom::Ordering;

/// The linked waiters as [`WaitList::assert_valid`] walked them: the runs in tree order
/// (service order by priority, where `Ord` is honest), each run from its head.
pub(super) struct Walk<'a, P>(Vec<Seen<'a, P>>);

/// One linked waiter of a [`Walk`].
struct Seen<'a, P> {
    priority: &'a P,
    heads_run: bool,
}

impl<P> WaitList<P> {
    /// Asserts every invariant that holds whatever the priorities' `Ord` answers (it makes
    /// no comparison): the tree's links, parent pointers and heap order on treap keys;
    /// that only run heads are in the tree and have keys; the runs' circular links; that
    /// every waiter reached is linked and `len` counts them; `first` is the leftmost head;
    /// the arrival list holds every waiter or none, oldest first with non-decreasing
    /// tickets; and only `partial` holds a partial grant, of at most what it needs.
    /// Returns the waiters in the order walked, for [`Walk::assert_sorted`].
    pub(super) fn assert_valid(&self) -> Walk<'_, P> {
        let walk = self.assert_runs();
        assert_eq!(walk.len(), self.len, "len counts linked waiters");
        self.assert_arrivals();
        self.assert_grants();
        walk
    }

    /// The treap and its runs: walks the tree in order, and each run from its head.
    fn assert_runs(&self) -> Walk<'_, P> {
        let mut order: Vec<Seen<'_, P>> = Vec::new();
        let (root, first) = (self.runs.root, self.runs.first);
        assert_eq!(first.is_none(), root.is_none());
        // SAFETY: tests call this with the list exclusively borrowed; all linked waiters
        // are alive (invariant 2), and only shared reads are made.
        unsafe {
            if let Some(root) = root {
                assert_eq!((*node(root)).parent, None, "root has no parent");
            }
            let mut stack: Vec<NonNull<Waiter<P>>> = Vec::new();
            let mut cur = root;
            let mut prev_head: Link<P> = None;
            while cur.is_some() || !stack.is_empty() {
                while let Some(c) = cur {
                    stack.push(c);
                    cur = (*node(c)).left;
                }
                let h = stack.pop().unwrap();
                let hn = node(h);
                assert_ne!((*hn).treap_key, NOT_A_HEAD, "tree nodes head their runs");
                for child in [(*hn).left, (*hn).right].into_iter().flatten() {
                    assert_eq!((*node(child)).parent, Some(h), "child's parent pointer");
                    assert!(
                        (*node(child)).treap_key >= (*hn).treap_key,
                        "heap order on treap keys"
                    );
                }
                if prev_head.is_none() {
                    assert_eq!(first, Some(h), "first is the leftmost head");
                }
                prev_head = Some(h);
                Self::assert_run(h, &mut order);
                cur = (*hn).right;
            }
        }
        Walk(order)
    }

    /// One run, from its head `h`: every waiter linked, circular links, only the head
    /// keyed.
    ///
    /// # Safety
    ///
    /// As in [`WaitList::assert_runs`]; `h` heads a run of the list.
    unsafe fn assert_run<'a>(h: NonNull<Waiter<P>>, order: &mut Vec<Seen<'a, P>>) {
        let mut w = h;
        loop {
            // SAFETY: the caller's conditions; the run is circular through linked waiters.
            unsafe {
                let wn = node(w);
                assert_eq!(
                    state(w).load(Ordering::Relaxed),
                    LINKED,
                    "waiters in the list are linked"
                );
                assert_eq!(
                    (*wn).treap_key != NOT_A_HEAD,
                    w == h,
                    "only run heads have keys"
                );
                assert_eq!((*node((*wn).next.unwrap())).prev.link, Some(w), "run links");
                order.push(Seen {
                    priority: &(*wn).priority,
                    heads_run: w == h,
                });
                w = (*wn).next.unwrap();
            }
            if w == h {
                return;
            }
        }
    }

    /// The arrival list holds every waiter or none, oldest first: ages (grants since
    /// arrival, which never wrap) non-increasing.
    fn assert_arrivals(&self) {
        // SAFETY: as in `assert_runs`.
        let arrivals = unsafe { self.arrivals.walk() };
        let now = self.grants.clock.now();
        // SAFETY: as in `assert_runs`; every waiter on the arrival list is linked.
        let age = |w: NonNull<Waiter<P>>| unsafe { (*node(w)).ticket }.age(now);
        for pair in arrivals.windows(2) {
            assert!(age(pair[0]) >= age(pair[1]), "tickets in arrival order");
        }
        assert!(
            arrivals.len() == self.len || arrivals.is_empty(),
            "the arrival list holds every waiter or none"
        );
    }

    /// Only `partial` holds a partial grant, of less than it asked for.
    fn assert_grants(&self) {
        match self.grants.partial {
            Some(partial) => {
                // SAFETY: as in `assert_runs`; `partial` is linked.
                let (linked, needed) = unsafe {
                    (
                        state(partial).load(Ordering::Relaxed) == LINKED,
                        needed(partial),
                    )
                };
                assert!(linked, "`partial` is linked");
                assert!(self.grants.assigned > 0, "`partial` holds a grant");
                assert!(self.grants.assigned < needed, "a partial grant is partial");
            }
            None => assert_eq!(
                self.grants.assigned, 0,
                "only `partial` holds a partial grant"
            ),
        }
    }
}

impl<'a, P> Walk<'a, P> {
    /// The number of linked waiters walked (asserted equal to the list's `len`).
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    /// The priorities in the order walked.
    pub(super) fn priorities(&self) -> impl Iterator<Item = &'a P> + '_ {
        self.0.iter().map(|seen| seen.priority)
    }
}

impl<P: Ord + Debug> Walk<'_, P> {
    /// Asserts the search order, which holds only where `Ord` is a total order: the runs'
    /// priorities strictly ascend, and each run shares one priority.
    pub(super) fn assert_sorted(self) -> Self {
        for pair in self.0.windows(2) {
            let (before, after) = (&pair[0], &pair[1]);
            match after.heads_run {
                true => assert!(before.priority < after.priority, "search order of the runs"),
                false => assert_eq!(before.priority, after.priority, "a run shares one priority"),
            }
        }
        self
    }
}
