//! The dispatcher's books and its one decision: which classes get the free permits.
//!
//! Plain data under the share semaphore's lock: no pointer, no user code, no atomics. The
//! caller (`super::semaphore`) carries the decisions out on the class lines after
//! unlocking.
//!
//! # Invariants
//!
//! * `total = free + Σ assigned`: every permit in existence is free (the dispatcher's), or
//!   assigned to one class: held through a `SharePermit`, or in the class's line (handed
//!   to its waiters, collected by a partial grant, or parked there until reclaimed).
//! * `demand[c]` is the permits asked for by class `c`'s requests that registered and have
//!   not completed or left; `waiting` counts those requests over all classes.
//! * `nominal` and `cap` follow `total` and the shares (`Dispatch::rescale`).

use super::class::Share;

/// The books of one share semaphore with `len ≤ N` classes.
#[derive(Debug)]
pub(crate) struct Dispatch<const N: usize> {
    len: usize,
    shares: [Share; N],
    pub(crate) total: usize,
    pub(crate) free: usize,
    pub(crate) closed: bool,
    pub(crate) nominal: [usize; N],
    pub(crate) cap: [usize; N],
    pub(crate) assigned: [usize; N],
    demand: [usize; N],
    waiting: usize,
}

impl<const N: usize> Dispatch<N> {
    /// # Panics
    ///
    /// If there are no shares, or more than `N`.
    pub(crate) const fn new(permits: usize, shares: &[Share]) -> Self {
        assert!(
            !shares.is_empty() && shares.len() <= N,
            "a share semaphore has 1 to 8 classes"
        );
        let mut copied = [Share::new(0); N];
        let mut c = 0;
        while c < shares.len() {
            copied[c] = shares[c];
            c += 1;
        }
        let mut this = Self {
            len: shares.len(),
            shares: copied,
            total: permits,
            free: permits,
            closed: false,
            nominal: [0; N],
            cap: [0; N],
            assigned: [0; N],
            demand: [0; N],
            waiting: 0,
        };
        this.rescale();
        this
    }

    /// The number of classes.
    pub(crate) const fn len(&self) -> usize {
        self.len
    }

    /// Each class's nominal permits (`total × weight / Σ weights`, rounded down, what the
    /// rounding leaves going one each to the first classes) and its cap (nominal plus its
    /// borrowing limit, or everything).
    pub(crate) const fn rescale(&mut self) {
        let mut sum: u128 = 0;
        let mut c = 0;
        while c < self.len {
            sum += self.shares[c].weight as u128;
            c += 1;
        }
        let mut given = 0;
        c = 0;
        while c < self.len {
            let weighted = self.total as u128 * self.shares[c].weight as u128;
            // No weight at all: nobody has a guaranteed share.
            self.nominal[c] = match weighted.checked_div(sum) {
                Some(nominal) => nominal as usize,
                None => 0,
            };
            given += self.nominal[c];
            c += 1;
        }
        c = 0;
        while c < self.len && given < self.total && sum > 0 {
            if self.shares[c].weight > 0 {
                self.nominal[c] += 1;
                given += 1;
            }
            c += 1;
        }
        c = 0;
        while c < self.len {
            self.cap[c] = match self.shares[c].borrowing_percent {
                None => self.total,
                Some(percent) => {
                    let nominal = self.nominal[c] as u128;
                    let cap = nominal + nominal * percent as u128 / 100;
                    if cap > self.total as u128 {
                        self.total
                    } else {
                        cap as usize
                    }
                }
            };
            c += 1;
        }
    }

    /// Grants `n` free permits to class `c` at once, if nobody waits in any class (so no
    /// one is overtaken), they are free, and the class stays within its cap.
    pub(crate) fn take_free(&mut self, c: usize, n: usize) -> bool {
        if self.waiting != 0 || self.free < n || self.assigned[c] + n > self.cap[c] {
            return false;
        }
        self.free -= n;
        self.assigned[c] += n;
        true
    }

    /// A request of class `c` for `n` permits goes into its class's line.
    pub(crate) fn register(&mut self, c: usize, n: usize) {
        self.waiting += 1;
        self.demand[c] += n;
    }

    /// It completed or left.
    pub(crate) fn unregister(&mut self, c: usize, n: usize) {
        self.waiting -= 1;
        self.demand[c] -= n;
    }

    /// Permits class `c` held, or had parked in its line, come back.
    pub(crate) fn give_back(&mut self, c: usize, n: usize) {
        self.assigned[c] -= n;
        self.free += n;
    }

    /// Permits class `c` held leave for good (`SharePermit::forget`).
    pub(crate) fn forget_held(&mut self, c: usize, n: usize) {
        self.assigned[c] -= n;
        self.total -= n;
        self.rescale();
    }

    /// New permits.
    pub(crate) fn add(&mut self, n: usize) {
        self.total += n;
        self.free += n;
        self.rescale();
    }

    /// Removes up to `n` free permits for good.
    pub(crate) fn forget_free(&mut self, n: usize) -> usize {
        let taken = n.min(self.free);
        self.free -= taken;
        self.total -= taken;
        self.rescale();
        taken
    }

    /// Decides where the free permits go, and books them: first to classes with waiters
    /// below their nominal share (in class order), then to classes with waiters below
    /// their cap (in class order); a class gets no more than its registered requests ask
    /// for. `has_waiters(c)`: whether class `c`'s line has waiters now. Returns the permits
    /// to add to each class's line.
    pub(crate) fn plan(&mut self, has_waiters: impl Fn(usize) -> bool) -> [usize; N] {
        let mut plan = [0; N];
        if self.closed || self.free == 0 {
            return plan;
        }
        let waiting: [bool; N] = core::array::from_fn(|c| c < self.len && has_waiters(c));
        for tier_cap in [self.nominal, self.cap] {
            for c in 0..self.len {
                if !waiting[c] || self.free == 0 {
                    continue;
                }
                let room = tier_cap[c].saturating_sub(self.assigned[c]);
                let wants = self.demand[c].saturating_sub(plan[c]);
                let give = self.free.min(room).min(wants);
                plan[c] += give;
                self.assigned[c] += give;
                self.free -= give;
            }
        }
        plan
    }

    /// Whether the books add up (for the tests).
    #[cfg(test)]
    pub(crate) fn balanced(&self) -> bool {
        self.free + self.assigned.iter().sum::<usize>() == self.total
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn rt_batch() -> Dispatch<2> {
        Dispatch::new(8, &[Share::new(75), Share::new(25)])
    }

    #[test]
    fn nominal_shares_and_caps() {
        let d = rt_batch();
        assert_eq!((d.nominal, d.cap), ([6, 2], [8, 8]));
        let d = Dispatch::<3>::new(10, &[Share::new(1), Share::new(1), Share::new(1)]);
        assert_eq!(
            d.nominal,
            [4, 3, 3],
            "the rounding's leftover goes to the first"
        );
        let d = Dispatch::<2>::new(8, &[Share::new(75), Share::new(25).borrowing_limit(50)]);
        assert_eq!(d.cap, [8, 3]);
        let d = Dispatch::<4>::new(8, &[Share::new(0), Share::new(0)]);
        assert_eq!((d.nominal, d.cap), ([0; 4], [8, 8, 0, 0]));
    }

    #[test]
    fn under_share_first_then_borrowers_in_class_order() {
        let mut d = rt_batch();
        d.register(0, 20);
        d.register(1, 20);
        assert_eq!(d.plan(|_| true), [6, 2]);
        assert!(d.balanced());
        // Batch gives one back: it is under its share again, so it gets it back.
        d.give_back(1, 1);
        assert_eq!(d.plan(|_| true), [0, 1]);
        // Realtime idle: batch borrows everything.
        d.give_back(0, 6);
        assert_eq!(d.plan(|c| c == 1), [0, 6]);
        assert_eq!(d.assigned, [0, 8]);
        // Realtime returns: batch's permits go to it as they come back.
        d.give_back(1, 1);
        assert_eq!(d.plan(|_| true), [1, 0]);
        assert!(d.balanced());
    }

    #[test]
    fn no_more_than_asked_and_nothing_while_closed() {
        let mut d = rt_batch();
        d.register(1, 1);
        assert_eq!(
            d.plan(|_| true),
            [0, 1],
            "a class without demand gets nothing"
        );
        d.unregister(1, 1);
        d.closed = true;
        d.register(0, 1);
        assert_eq!(d.plan(|_| true), [0, 0]);
    }

    #[test]
    fn taking_free_permits_never_overtakes_a_waiter() {
        let mut d = rt_batch();
        assert!(d.take_free(1, 8));
        d.give_back(1, 8);
        d.register(0, 1);
        assert!(!d.take_free(1, 1), "someone waits");
        d.unregister(0, 1);
        let mut d = Dispatch::<2>::new(8, &[Share::new(75), Share::new(25).borrowing_limit(0)]);
        assert!(!d.take_free(1, 3), "beyond the cap");
    }
}
