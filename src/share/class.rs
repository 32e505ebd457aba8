//! [`Share`]: what a class of a share semaphore is given, and how many classes there can be.

/// The most classes a [`ShareSemaphore`](super::ShareSemaphore) has.
pub(crate) const MAX_CLASSES: usize = 8;

/// One class's share of a [`ShareSemaphore`](super::ShareSemaphore): its weight, and optionally a limit on what
/// it may borrow beyond its share.
///
/// # Examples
///
/// ```
/// use prio_semaphore::share::Share;
///
/// // A batch class with a quarter of the permits that may borrow at most as much again.
/// let batch = Share::new(25).borrowing_limit(100);
/// # let _ = batch;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub(super) weight: u32,
    pub(super) borrowing_percent: Option<u32>,
}

impl Share {
    /// A share of weight `weight`: the class's nominal share is its weight over the sum
    /// of all weights (percentages work, as any numbers do). 0: no guaranteed share.
    ///
    /// ```
    /// # use prio_semaphore::share::Share;
    /// assert_eq!(Share::new(75), Share::new(75));
    /// ```
    pub const fn new(weight: u32) -> Self {
        Self {
            weight,
            borrowing_percent: None,
        }
    }

    /// Caps what the class may borrow beyond its share at `percent` % of its share
    /// (APF's `borrowingLimitPercent`); 0 means it never exceeds its share. Without it, a
    /// class may borrow every idle permit. A class with weight 0 and a borrowing limit may
    /// hold nothing, so its requests wait until the shares change.
    ///
    /// ```
    /// use prio_semaphore::share::{Share, ShareSemaphore};
    ///
    /// let sem = ShareSemaphore::new(8, &[Share::new(3), Share::new(1).borrowing_limit(50)]);
    /// assert_eq!(sem.cap(1), 3); // its 2, and half as much again
    /// ```
    pub const fn borrowing_limit(self, percent: u32) -> Self {
        Self {
            weight: self.weight,
            borrowing_percent: Some(percent),
        }
    }
}
