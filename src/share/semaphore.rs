//! [`ShareSemaphore`]: classes with guaranteed shares of one set of permits, each class a
//! core line, and the dispatcher that moves permits between them.

use super::acquire::ShareAcquire;
use super::class::{Share, MAX_CLASSES};
use super::dispatch::Dispatch;
use super::permit::SharePermit;
use crate::error::TryAcquireError;
use crate::lock::{Mutex, RawLock, SpinLock};
use crate::max_permits::MAX_PERMITS;
use crate::semaphore::Semaphore;

/// A semaphore whose permits are shared between **classes** with guaranteed shares, and
/// borrowed by any class while others leave them idle.
///
/// Each class (up to 8, numbered from 0 in the order of [`new`](ShareSemaphore::new)'s
/// shares) has a nominal share of the permits (`permits × weight / Σ weights`). A class
/// that has waiters and holds less than its share is served before every class that holds
/// its share or more, whatever their order; capacity a class leaves idle is borrowed by
/// the others, each up to its cap ([`Share::borrowing_limit`]). Between classes in the same
/// situation, the lower class number goes first; within a class, requests wait by
/// priority, then arrival, as in [`Semaphore`].
///
/// How permits move, and what it costs: [the module docs](crate::share).
///
/// # Examples
///
/// ```
/// use prio_semaphore::share::{Share, ShareSemaphore};
///
/// const REALTIME: usize = 0;
/// const BATCH: usize = 1;
/// static GPU: ShareSemaphore = ShareSemaphore::new(8, &[Share::new(75), Share::new(25)]);
///
/// # futures::executor::block_on(async {
/// let permit = GPU.acquire(BATCH).await.unwrap();
/// assert_eq!((GPU.nominal(REALTIME), GPU.nominal(BATCH)), (6, 2));
/// assert_eq!(GPU.assigned(BATCH), 1);
/// # drop(permit);
/// # });
/// ```
pub struct ShareSemaphore<P = i64, L: RawLock = SpinLock> {
    /// Each class's line; it holds only the permits handed to the class.
    classes: [Semaphore<P, L>; MAX_CLASSES],
    books: Mutex<L, Dispatch<MAX_CLASSES>>,
}

impl ShareSemaphore {
    crate::loom::const_unless_loom! {
        /// A share semaphore with `permits` permits, one class per share (in class order),
        /// `i64` priorities within a class, and the spin lock.
        ///
        /// # Panics
        ///
        /// If `permits` exceeds [`MAX_PERMITS`](crate::MAX_PERMITS), or there are no
        /// shares or more than 8 (at compile time in a `const` or `static`).
        ///
        /// # Examples
        ///
        /// ```
        /// use prio_semaphore::share::{Share, ShareSemaphore};
        ///
        /// let sem = ShareSemaphore::new(4, &[Share::new(3), Share::new(1)]);
        /// assert_eq!(sem.available_permits(), 4);
        /// ```
        pub fn new(permits: usize, shares: &[Share]) -> Self {
            Self::new_generic(permits, shares)
        }
    }
}

impl<P, L: RawLock> ShareSemaphore<P, L> {
    /// A share semaphore for any priority type and lock; as [`new`](ShareSemaphore::new).
    ///
    /// # Panics
    ///
    /// As [`new`](ShareSemaphore::new).
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::share::{Share, ShareSemaphore};
    ///
    /// let sem: ShareSemaphore<u8> = ShareSemaphore::new_generic(2, &[Share::new(1); 2]);
    /// assert_eq!(sem.classes(), 2);
    /// ```
    #[cfg(not(loom))]
    pub const fn new_generic(permits: usize, shares: &[Share]) -> Self {
        assert!(
            permits <= MAX_PERMITS,
            "a semaphore may not have more than MAX_PERMITS permits"
        );
        Self {
            classes: [const { Semaphore::new_generic(0) }; MAX_CLASSES],
            books: Mutex::new(Dispatch::new(permits, shares)),
        }
    }

    /// Under loom, whose primitives are built at run time.
    #[cfg(loom)]
    pub fn new_generic(permits: usize, shares: &[Share]) -> Self {
        assert!(permits <= MAX_PERMITS);
        Self {
            classes: core::array::from_fn(|_| Semaphore::new_generic(0)),
            books: Mutex::new(Dispatch::new(permits, shares)),
        }
    }

    /// Acquires one permit for class `class`, waiting in its line by priority (set with
    /// [`priority`](ShareAcquire::priority), else the ambient one, else `P::default()`).
    ///
    /// # Cancellation
    ///
    /// Dropping the future at any point loses nothing; see [`ShareAcquire`].
    ///
    /// # Panics
    ///
    /// If `class` is not one of the semaphore's classes.
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::share::{Share, ShareSemaphore};
    ///
    /// # futures::executor::block_on(async {
    /// let sem = ShareSemaphore::new(2, &[Share::new(1), Share::new(1)]);
    /// let permit = sem.acquire(1).priority(3).await.unwrap();
    /// assert_eq!(permit.class(), 1);
    /// # });
    /// ```
    pub fn acquire(&self, class: usize) -> ShareAcquire<'_, P, L>
    where
        P: Ord + Default + Clone + 'static,
    {
        self.acquire_many(class, 1)
    }

    /// Acquires `n` permits at once for class `class`; as
    /// [`acquire`](ShareSemaphore::acquire).
    ///
    /// A request larger than its class's cap waits until the cap grows (permits added),
    /// as a core request larger than the semaphore waits; more than
    /// [`MAX_PERMITS`](crate::MAX_PERMITS) fails at once.
    ///
    /// # Panics
    ///
    /// If `class` is not one of the semaphore's classes.
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::share::{Share, ShareSemaphore};
    ///
    /// # futures::executor::block_on(async {
    /// let sem = ShareSemaphore::new(4, &[Share::new(1), Share::new(1)]);
    /// let permit = sem.acquire_many(0, 3).await.unwrap();
    /// assert_eq!(sem.assigned(0), 3);
    /// # drop(permit);
    /// # });
    /// ```
    pub fn acquire_many(&self, class: usize, n: u32) -> ShareAcquire<'_, P, L>
    where
        P: Ord + Default + Clone + 'static,
    {
        self.check_class(class);
        ShareAcquire::new(self, class, n)
    }

    /// Takes one permit for `class` if that overtakes nobody, without waiting.
    ///
    /// # Panics
    ///
    /// If `class` is not one of the semaphore's classes.
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::share::{Share, ShareSemaphore};
    ///
    /// let sem = ShareSemaphore::new(1, &[Share::new(1), Share::new(1)]);
    /// let permit = sem.try_acquire(0).unwrap();
    /// assert!(sem.try_acquire(1).is_err());
    /// # drop(permit);
    /// ```
    pub fn try_acquire(&self, class: usize) -> Result<SharePermit<'_, P, L>, TryAcquireError> {
        self.try_acquire_many(class, 1)
    }

    /// Takes `n` permits for `class` if nobody waits in any class, `n` are free (or parked
    /// in the class's line) and the class stays within its cap; without waiting.
    ///
    /// # Panics
    ///
    /// If `class` is not one of the semaphore's classes.
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::share::{Share, ShareSemaphore};
    ///
    /// let sem = ShareSemaphore::new(4, &[Share::new(1), Share::new(1).borrowing_limit(0)]);
    /// assert!(sem.try_acquire_many(1, 3).is_err(), "class 1 may hold at most 2");
    /// assert_eq!(sem.try_acquire_many(1, 2).unwrap().num_permits(), 2);
    /// ```
    pub fn try_acquire_many(
        &self,
        class: usize,
        n: u32,
    ) -> Result<SharePermit<'_, P, L>, TryAcquireError> {
        self.check_class(class);
        let n = n as usize;
        if let Ok(parked) = self.classes[class].try_acquire_many(n as u32) {
            parked.forget();
            return Ok(SharePermit::new(self, class, n));
        }
        self.books.with(|books| {
            if books.closed {
                Err(TryAcquireError::Closed)
            } else if n <= MAX_PERMITS && books.take_free(class, n) {
                Ok(SharePermit::new(self, class, n))
            } else {
                Err(TryAcquireError::NoPermits)
            }
        })
    }

    /// Adds `n` permits, handing them to waiting classes by the share rules first.
    ///
    /// # Panics
    ///
    /// If the permits would exceed [`MAX_PERMITS`](crate::MAX_PERMITS); nothing changes
    /// then.
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::share::{Share, ShareSemaphore};
    ///
    /// let sem = ShareSemaphore::new(0, &[Share::new(3), Share::new(1)]);
    /// sem.add_permits(4);
    /// assert_eq!((sem.nominal(0), sem.nominal(1)), (3, 1));
    /// ```
    pub fn add_permits(&self, n: usize) {
        self.books.with(|books| {
            let total = books.total;
            assert!(
                total.checked_add(n).is_some_and(|sum| sum <= MAX_PERMITS),
                "cannot add {n} permits to a semaphore with {total} permits in existence: \
                 the total would exceed MAX_PERMITS ({MAX_PERMITS})"
            );
            books.add(n);
        });
        self.dispatch();
    }

    /// Removes up to `n` free permits for good (permits held, or being collected by a
    /// waiter, are not free); returns how many. The shares follow the new total.
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::share::{Share, ShareSemaphore};
    ///
    /// let sem = ShareSemaphore::new(8, &[Share::new(3), Share::new(1)]);
    /// assert_eq!(sem.forget_permits(4), 4);
    /// assert_eq!((sem.nominal(0), sem.nominal(1)), (3, 1));
    /// ```
    pub fn forget_permits(&self, n: usize) -> usize {
        for class in 0..self.classes() {
            self.reclaim(class);
        }
        self.books.with(|books| books.forget_free(n))
    }

    /// Free permits: the dispatcher's, and those parked in a class's line with nobody
    /// waiting there.
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::share::{Share, ShareSemaphore};
    ///
    /// let sem = ShareSemaphore::new(3, &[Share::new(1)]);
    /// let _held = sem.try_acquire(0).unwrap();
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    pub fn available_permits(&self) -> usize {
        let parked: usize = self.lines().iter().map(Semaphore::available_permits).sum();
        self.books.with(|books| books.free) + parked
    }

    /// Closes the semaphore: every queued and later request fails; permits held stay
    /// valid.
    ///
    /// # Examples
    ///
    /// ```
    /// use prio_semaphore::share::{Share, ShareSemaphore};
    ///
    /// let sem = ShareSemaphore::new(1, &[Share::new(1)]);
    /// sem.close();
    /// assert!(sem.is_closed());
    /// assert!(sem.try_acquire(0).unwrap_err().is_closed());
    /// ```
    pub fn close(&self) {
        self.books.with(|books| books.closed = true);
        // A waker that panics while one line closes does not leave the others open.
        let lines = self.lines();
        each_even_if_one_panics(lines.len(), |class| lines[class].close());
    }

    /// Whether [`close`](ShareSemaphore::close) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// # use prio_semaphore::share::{Share, ShareSemaphore};
    /// assert!(!ShareSemaphore::new(1, &[Share::new(1)]).is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.books.with(|books| books.closed)
    }

    /// The number of classes.
    ///
    /// # Examples
    ///
    /// ```
    /// # use prio_semaphore::share::{Share, ShareSemaphore};
    /// assert_eq!(ShareSemaphore::new(1, &[Share::new(1); 3]).classes(), 3);
    /// ```
    pub fn classes(&self) -> usize {
        self.books.with(|books| books.len())
    }

    /// Class `class`'s nominal share, in permits.
    ///
    /// # Panics
    ///
    /// If `class` is not one of the semaphore's classes.
    ///
    /// # Examples
    ///
    /// ```
    /// # use prio_semaphore::share::{Share, ShareSemaphore};
    /// let sem = ShareSemaphore::new(10, &[Share::new(70), Share::new(30)]);
    /// assert_eq!((sem.nominal(0), sem.nominal(1)), (7, 3));
    /// ```
    pub fn nominal(&self, class: usize) -> usize {
        self.check_class(class);
        self.books.with(|books| books.nominal[class])
    }

    /// The most permits class `class` may hold: its share plus what it may borrow.
    ///
    /// # Panics
    ///
    /// If `class` is not one of the semaphore's classes.
    ///
    /// # Examples
    ///
    /// ```
    /// # use prio_semaphore::share::{Share, ShareSemaphore};
    /// let sem = ShareSemaphore::new(10, &[Share::new(70), Share::new(30).borrowing_limit(100)]);
    /// assert_eq!((sem.cap(0), sem.cap(1)), (10, 6));
    /// ```
    pub fn cap(&self, class: usize) -> usize {
        self.check_class(class);
        self.books.with(|books| books.cap[class])
    }

    /// The permits class `class` has now: held through its permits, or in its line (being
    /// handed to its waiters, collected by a partial grant, or parked there for a moment).
    ///
    /// # Panics
    ///
    /// If `class` is not one of the semaphore's classes.
    ///
    /// # Examples
    ///
    /// ```
    /// # use prio_semaphore::share::{Share, ShareSemaphore};
    /// let sem = ShareSemaphore::new(4, &[Share::new(1), Share::new(1)]);
    /// let permit = sem.try_acquire_many(1, 3).unwrap();
    /// assert_eq!((sem.assigned(0), sem.assigned(1)), (0, 3));
    /// # drop(permit);
    /// ```
    pub fn assigned(&self, class: usize) -> usize {
        self.check_class(class);
        self.books.with(|books| books.assigned[class])
    }

    /// The number of requests queued, over all classes.
    ///
    /// # Examples
    ///
    /// ```
    /// # use prio_semaphore::share::{Share, ShareSemaphore};
    /// assert_eq!(ShareSemaphore::new(1, &[Share::new(1)]).waiter_count(), 0);
    /// ```
    pub fn waiter_count(&self) -> usize {
        self.lines().iter().map(Semaphore::waiter_count).sum()
    }

    /// The class lines in use.
    fn lines(&self) -> &[Semaphore<P, L>] {
        &self.classes[..self.classes()]
    }

    fn check_class(&self, class: usize) {
        let classes = self.classes();
        assert!(
            class < classes,
            "class {class} out of range: this share semaphore has {classes} classes"
        );
    }

    /// Class `class`'s line.
    pub(super) fn line(&self, class: usize) -> &Semaphore<P, L> {
        &self.classes[class]
    }

    /// The dispatcher's books, under the lock.
    pub(super) fn books<R>(&self, f: impl FnOnce(&mut Dispatch<MAX_CLASSES>) -> R) -> R {
        self.books.with(f)
    }

    /// Permits a class had come back (a permit dropped): they go where the shares say.
    pub(super) fn give_back(&self, class: usize, n: usize) {
        if n == 0 {
            return;
        }
        self.books.with(|books| books.give_back(class, n));
        self.dispatch();
    }

    /// Takes back the permits parked in class `class`'s line (nobody waits there to take
    /// them); returns whether there were any. A line holds free permits only while its
    /// list is empty (the core's `WAITING` rule), so this never takes a waiter's permits.
    pub(super) fn reclaim(&self, class: usize) -> bool {
        let parked = self.classes[class].forget_permits(usize::MAX);
        if parked > 0 {
            self.books.with(|books| books.give_back(class, parked));
        }
        parked > 0
    }

    /// Hands the free permits to the classes the shares say, outside the lock (adding
    /// permits to a line wakes its waiters, user code), then takes back what found no
    /// waiter there and hands that on, until nothing moves.
    ///
    /// A waker that panics while permits are added to one line strands nothing: while
    /// the panic unwinds, the permits booked for the other lines are still added, every
    /// line is reclaimed and what came back is dispatched (a second panic then aborts, as
    /// any panic while unwinding does).
    pub(super) fn dispatch(&self) {
        loop {
            let plan = self.books.with(|books| {
                // The `WAITING` bit of each line, read without its lock: a line's lock is
                // never taken under this one.
                books.plan(|class| self.classes[class].raw.has_waiters())
            });
            let mut delivery = Delivery {
                sem: self,
                plan,
                next: 0,
                moved: false,
            };
            delivery.run();
            if !delivery.finish() {
                return;
            }
        }
    }
}

/// The permits one plan of the dispatcher adds to the lines, class by class.
struct Delivery<'a, P, L: RawLock> {
    sem: &'a ShareSemaphore<P, L>,
    plan: [usize; MAX_CLASSES],
    /// The next class to deliver to.
    next: usize,
    /// Whether permits came back from a line that had nobody left to take them.
    moved: bool,
}

impl<P, L: RawLock> Delivery<'_, P, L> {
    fn run(&mut self) {
        while self.next < MAX_CLASSES {
            let class = self.next;
            self.next += 1;
            if self.plan[class] > 0 {
                self.sem.classes[class].add_permits(self.plan[class]);
                // Its waiters left meanwhile, or took less: the rest comes back.
                self.moved |= self.sem.reclaim(class);
            }
        }
    }

    /// Done without a panic: whether to plan again.
    fn finish(self) -> bool {
        let moved = self.moved;
        core::mem::forget(self);
        moved
    }
}

impl<P, L: RawLock> Drop for Delivery<'_, P, L> {
    fn drop(&mut self) {
        // Only reached while a waker's panic unwinds from `run` (`finish` forgets it).
        if let Some(class) = self.next.checked_sub(1) {
            self.moved |= self.sem.reclaim(class);
        }
        self.run();
        if self.moved {
            self.sem.dispatch();
        }
    }
}

/// Runs `step` for `0..n`; if one step panics, runs the remaining ones while the panic
/// unwinds, then lets it go on.
fn each_even_if_one_panics(n: usize, mut step: impl FnMut(usize)) {
    struct Rest<F: FnMut(usize)> {
        next: usize,
        n: usize,
        step: F,
    }
    impl<F: FnMut(usize)> Rest<F> {
        fn run(&mut self) {
            while self.next < self.n {
                let i = self.next;
                self.next += 1;
                (self.step)(i);
            }
        }
    }
    impl<F: FnMut(usize)> Drop for Rest<F> {
        fn drop(&mut self) {
            // Only reached with steps left when one of them panicked.
            self.run();
        }
    }
    let mut rest = Rest {
        next: 0,
        n,
        step: &mut step,
    };
    rest.run();
}

impl<P, L: RawLock> core::fmt::Debug for ShareSemaphore<P, L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Copied out first: the formatter is user code, never run under the lock.
        let (len, free, nominal, assigned) = self
            .books
            .with(|books| (books.len(), books.free, books.nominal, books.assigned));
        f.debug_struct("ShareSemaphore")
            .field("free", &free)
            .field("nominal", &&nominal[..len])
            .field("assigned", &&assigned[..len])
            .finish_non_exhaustive()
    }
}

// A panic anywhere (a priority's `Ord`, a waker) leaves the books and every line exact.
impl<P, L: RawLock> core::panic::RefUnwindSafe for ShareSemaphore<P, L> {}
impl<P, L: RawLock> core::panic::UnwindSafe for ShareSemaphore<P, L> {}
