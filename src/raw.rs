//! The semaphore's core: one atomic permit word, the wait list behind the lock, and the
//! acquire protocol that the public futures wrap.
//!
//! # The permit word
//!
//! `state` holds `available << SHIFT | WAITING | CLOSED`.
//!
//! * `WAITING` is set exactly while the wait list is non-empty, and only changed under the
//!   lock. While it is set (and the semaphore is open) `available` is zero: every free
//!   permit is in the wait list (its surplus, or the front waiter's partial grant). So the
//!   lock-free fast paths (`try_acquire`, a fresh acquire, and a release) can never take
//!   permits a queued waiter is entitled to, and never lose a wake-up: a
//!   releaser that sees `WAITING` goes through the lock, and a waiter sets `WAITING` with a
//!   compare-and-swap on the same word, so the two cannot miss each other.
//! * Uncontended acquire and release are one compare-and-swap each and never take the lock.
//!
//! # Counting
//!
//! `total` counts the permits in existence: available + held by permits + in the wait
//! list. It only changes in `add_permits`, `forget_permits` and `Permit::forget`, and
//! `add_permits` checks it *before* changing anything, so no count can overflow and a
//! failed `add_permits` leaves every count as it was.

use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use crate::error::{AcquireError, TryAcquireError};
use crate::lock::{Mutex, RawLock};
use crate::loom::{AtomicUsize, Ordering};
use crate::waitlist::{Progress, WaitList, Waiter, WaiterState};
use crate::wake_list::WakeList;

/// The largest number of permits a semaphore can hold, and the largest request.
///
/// `u32::MAX >> 1` on 64-bit targets (so that the largest `u32` request is always a
/// detectable error rather than a silent hang), `usize::MAX >> 3` on 32-bit ones.
pub(crate) const MAX_PERMITS: usize = {
    let by_word = usize::MAX >> 3;
    let by_request = (u32::MAX >> 1) as usize;
    if by_word < by_request {
        by_word
    } else {
        by_request
    }
};

const CLOSED: usize = 1;
const WAITING: usize = 2;
const SHIFT: usize = 2;
const FLAGS: usize = CLOSED | WAITING;

/// Declares a function `const` except under loom, whose primitives are built at run time.
macro_rules! const_unless_loom {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty $body:block) => {
        #[cfg(not(loom))]
        $(#[$meta])* $vis const fn $name($($arg: $ty),*) -> $ret $body
        #[cfg(loom)]
        $(#[$meta])* $vis fn $name($($arg: $ty),*) -> $ret $body
    };
}
pub(crate) use const_unless_loom;

pub(crate) struct RawSemaphore<P, L> {
    state: AtomicUsize,
    total: AtomicUsize,
    /// Anti-starvation: the most later arrivals that may overtake a waiter
    /// (`usize::MAX`: strict priority, the default).
    overtake_limit: usize,
    waiters: Mutex<L, WaitList<P>>,
    /// The futurelock watch (`crate::hazard`).
    #[cfg(all(feature = "std", feature = "tracing"))]
    watch: crate::hazard::Watch,
}

impl<P, L: RawLock> RawSemaphore<P, L> {
    const_unless_loom! {
        pub(crate) fn new(permits: usize) -> Self {
            assert!(
                permits <= MAX_PERMITS,
                "a semaphore may not have more than MAX_PERMITS permits"
            );
            Self {
                state: AtomicUsize::new(permits << SHIFT),
                total: AtomicUsize::new(permits),
                overtake_limit: usize::MAX,
                waiters: Mutex::new(WaitList::new()),
                #[cfg(all(feature = "std", feature = "tracing"))]
                watch: crate::hazard::Watch::new(),
            }
        }
    }

    /// Sets the anti-starvation bound (before the semaphore is shared).
    pub(crate) const fn set_overtake_limit(&mut self, limit: usize) {
        self.overtake_limit = limit;
    }

    pub(crate) fn overtake_limit(&self) -> Option<usize> {
        (self.overtake_limit != usize::MAX).then_some(self.overtake_limit)
    }

    pub(crate) fn available_permits(&self) -> usize {
        self.state.load(Ordering::Acquire) >> SHIFT
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    pub(crate) fn waiter_count(&self) -> usize {
        self.waiters.with(|list| list.len())
    }

    /// Under the lock: runs `f` on the wait list (read-only) and reads the permit word and
    /// the permits in existence, for `crate::snapshot`. Returns `(available, closed, total,
    /// f's result)`. `f` must not run user code (the lock is held).
    pub(crate) fn observe<R>(&self, f: impl FnOnce(&WaitList<P>) -> R) -> (usize, bool, usize, R) {
        self.waiters.with(|list| {
            let state = self.state.load(Ordering::Acquire);
            let total = self.total.load(Ordering::Acquire);
            (state >> SHIFT, state & CLOSED != 0, total, f(list))
        })
    }

    /// Takes `n` permits without waiting, if no waiter is queued and enough are free.
    /// Zero permits are always granted while the semaphore is open: taking nothing cannot
    /// overtake anyone.
    pub(crate) fn try_acquire(&self, n: usize) -> Result<(), TryAcquireError> {
        if n == 0 {
            return if self.is_closed() {
                Err(TryAcquireError::Closed)
            } else {
                Ok(())
            };
        }
        if n > MAX_PERMITS {
            return Err(if self.is_closed() {
                TryAcquireError::Closed
            } else {
                TryAcquireError::NoPermits
            });
        }
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            if cur & CLOSED != 0 {
                return Err(TryAcquireError::Closed);
            }
            if cur & WAITING != 0 || cur >> SHIFT < n {
                return Err(TryAcquireError::NoPermits);
            }
            match self.state.compare_exchange_weak(
                cur,
                cur - (n << SHIFT),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Returns `n` held permits: straight to the permit word when nobody waits, else to
    /// the waiters in order.
    #[inline]
    pub(crate) fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let cur = self.state.load(Ordering::Acquire);
        if cur & WAITING == 0
            && self
                .state
                .compare_exchange_weak(cur, cur + (n << SHIFT), Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            return;
        }
        self.release_slow(n);
    }

    #[inline(never)]
    fn release_slow(&self, n: usize) {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            if cur & WAITING != 0 && cur & CLOSED == 0 {
                self.locked_then_settle(|list| list.add_surplus(n));
                return;
            }
            match self.state.compare_exchange_weak(
                cur,
                cur + (n << SHIFT),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Adds `n` new permits, panicking before any change if that would exceed the maximum.
    pub(crate) fn add_permits(&self, n: usize) {
        if n == 0 {
            return;
        }
        if let Err(total) = self
            .total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                t.checked_add(n).filter(|&sum| sum <= MAX_PERMITS)
            })
        {
            panic!(
                "cannot add {n} permits to a semaphore with {total} permits in existence: \
                 the total would exceed MAX_PERMITS ({MAX_PERMITS})"
            );
        }
        self.release(n);
    }

    /// Removes up to `n` available permits for good; returns how many were removed.
    pub(crate) fn forget_permits(&self, n: usize) -> usize {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            let taken = n.min(cur >> SHIFT);
            if taken == 0 {
                return 0;
            }
            // Only the count changes: the flags (CLOSED in particular, tokio#8020) stay.
            match self.state.compare_exchange_weak(
                cur,
                cur - (taken << SHIFT),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.total.fetch_sub(taken, Ordering::AcqRel);
                    return taken;
                }
                Err(actual) => cur = actual,
            }
        }
    }

    /// Records that `n` held permits were forgotten rather than released.
    pub(crate) fn forget_held(&self, n: usize) {
        self.total.fetch_sub(n, Ordering::AcqRel);
    }

    /// Permits in existence (available + held + being handed out).
    #[cfg(test)]
    pub(crate) fn total_permits(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }

    pub(crate) fn close(&self) {
        #[cfg(feature = "tracing")]
        let queued = crate::trace::closing(self);
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
        // Nothing to wake yet: the first step fails the first batch of waiters.
        self.wake_then_continue(&mut WakeList::new(), Progress::BatchFull, Self::close_step);
        #[cfg(feature = "tracing")]
        crate::trace::closed(self, queued);
    }

    /// Under the lock: fails the next batch of waiters, returning their partial grants.
    fn close_step(&self, list: &mut WaitList<P>, wakers: &mut WakeList) -> Progress {
        let progress = list.close_batch(wakers);
        self.give_back(list);
        progress
    }

    /// Runs `f` under the lock, then hands the wait list's surplus to waiters in order,
    /// waking them outside the lock in bounded batches (re-locking between batches), and
    /// finally returns what `f` returned. `f`'s result is dropped by the caller after the
    /// lock is released, which is how replaced wakers are dropped outside it.
    fn locked_then_settle<R>(&self, f: impl FnOnce(&mut WaitList<P>) -> R) -> R {
        let mut wakers = WakeList::new();
        // Grants recorded for the futurelock watch (`crate::hazard`), copied out only if any.
        #[cfg(all(feature = "std", feature = "tracing"))]
        let mut notes = None;
        let (result, progress) = self.waiters.with(|list| {
            let result = f(list);
            let progress = self.settle(list, &mut wakers);
            #[cfg(all(feature = "std", feature = "tracing"))]
            if list.grant_notes_taken(self.watch.is_on()) {
                notes = Some(list.take_grant_notes());
            }
            (result, progress)
        });
        #[cfg(all(feature = "std", feature = "tracing"))]
        if let Some(notes) = &notes {
            self.watch.absorb(notes);
        }
        self.wake_then_continue(&mut wakers, progress, Self::settle);
        #[cfg(all(feature = "std", feature = "tracing"))]
        self.watch.check(self);
        result
    }

    /// The futurelock watch (`crate::hazard`).
    #[cfg(all(feature = "std", feature = "tracing"))]
    pub(crate) fn watch(&self) -> &crate::hazard::Watch {
        &self.watch
    }

    /// Wakes `wakers` outside the lock; then, while the last step stopped on a full batch,
    /// runs `step` under the lock for the next batch and wakes that one.
    ///
    /// If a waker panics, the batches left are still finished while the panic unwinds
    /// (by `FinishOnUnwind`), so no waiter is left asleep in the line holding permits or
    /// waiting for a close. A second panicking waker during that unwinding aborts, as any
    /// panic during unwinding does.
    #[inline]
    fn wake_then_continue(&self, wakers: &mut WakeList, progress: Progress, step: Step<P, L>) {
        if progress == Progress::Complete {
            // The common case: at most one batch (usually none after queueing or
            // cancelling, one waker after a release), and no step left to run if a waker
            // panics (the list's own `Drop` wakes the rest of the batch).
            wakers.wake_all();
            return;
        }
        self.wake_batches(wakers, progress, step);
    }

    /// The loop of [`RawSemaphore::wake_then_continue`] for operations that filled a
    /// batch, out of line.
    #[inline(never)]
    fn wake_batches(&self, wakers: &mut WakeList, mut progress: Progress, step: Step<P, L>) {
        loop {
            let finish = FinishOnUnwind {
                sem: self,
                step,
                armed: progress == Progress::BatchFull,
            };
            // Leaves `wakers` empty, ready for the next batch.
            wakers.wake_all();
            if !finish.disarm() {
                return;
            }
            progress = self.waiters.with(|list| step(self, list, wakers));
            if wakers.is_empty() && progress == Progress::Complete {
                return;
            }
        }
    }

    /// Under the lock: grants what the surplus allows; once nobody is left waiting (or the
    /// semaphore is closed) the rest goes back to the permit word.
    fn settle(&self, list: &mut WaitList<P>, wakers: &mut WakeList) -> Progress {
        if !list.may_distribute() && !list.is_empty() {
            // Nothing to hand out, no partial grant to move, and waiters remain: the common
            // case after queueing or cancelling, and nothing can change.
            return Progress::Complete;
        }
        if self.state.load(Ordering::Acquire) & CLOSED != 0 {
            // `close` fails every queued waiter; granting them now would be pointless.
            self.give_back(list);
            return Progress::Complete;
        }
        let progress = list.distribute(self.overtake_limit, wakers);
        if progress == Progress::Complete && list.is_empty() {
            self.give_back(list);
        }
        progress
    }

    /// Under the lock: moves the surplus to the permit word, clearing `WAITING` if the list
    /// is empty.
    fn give_back(&self, list: &mut WaitList<P>) {
        let surplus = list.take_surplus();
        let clear = if list.is_empty() { WAITING } else { 0 };
        if surplus == 0 && clear == 0 {
            return;
        }
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            let new = (cur + (surplus << SHIFT)) & !clear;
            match self
                .state
                .compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }
}

/// What [`RawSemaphore::enqueue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Enqueued {
    /// Enough permits had been freed meanwhile: taken at once, the waiter is not linked.
    Acquired,
    /// The waiter is linked (and may already have been granted by the settle after it).
    Queued,
}

/// One step of a batched operation under the lock: settle or close.
type Step<P, L> = fn(&RawSemaphore<P, L>, &mut WaitList<P>, &mut WakeList) -> Progress;

/// Finishes the remaining batches of a settle or close if a waker panics (see
/// [`RawSemaphore::wake_then_continue`]).
struct FinishOnUnwind<'a, P, L: RawLock> {
    sem: &'a RawSemaphore<P, L>,
    step: Step<P, L>,
    armed: bool,
}

impl<P, L: RawLock> FinishOnUnwind<'_, P, L> {
    /// Defuses the guard after the wakers ran normally; returns whether batches are left.
    #[inline]
    fn disarm(self) -> bool {
        let armed = self.armed;
        // Nothing to drop (two references and a flag), and skipping `Drop` spares a call.
        core::mem::forget(self);
        armed
    }
}

impl<P, L: RawLock> Drop for FinishOnUnwind<'_, P, L> {
    fn drop(&mut self) {
        if self.armed {
            let mut wakers = WakeList::new();
            let progress = self
                .sem
                .waiters
                .with(|list| (self.step)(self.sem, list, &mut wakers));
            self.sem
                .wake_then_continue(&mut wakers, progress, self.step);
        }
    }
}

impl<P: Ord, L: RawLock> RawSemaphore<P, L> {
    /// Under the lock: takes `n` permits at once if nobody waits and enough are free, else
    /// queues `waiter` and moves the free permits into the wait list's surplus.
    ///
    /// # Safety
    ///
    /// As for [`WaitList::enqueue`] on this semaphore's list.
    unsafe fn enqueue(
        &self,
        list: &mut WaitList<P>,
        waiter: Pin<&Waiter<P>>,
        n: usize,
        waker: &mut Option<Waker>,
    ) -> Result<Enqueued, AcquireError> {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            if cur & CLOSED != 0 {
                return Err(AcquireError::closed());
            }
            if cur & WAITING != 0 || cur >> SHIFT < n {
                break;
            }
            // Freed since the fast path failed, and nobody waits: no need to queue.
            match self.state.compare_exchange_weak(
                cur,
                cur - (n << SHIFT),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(Enqueued::Acquired),
                Err(actual) => cur = actual,
            }
        }
        // Link first: it compares priorities (user code that may panic) before changing
        // anything, so a panic leaves both the list and the permit word untouched. An `Ord`
        // that uses this semaphore gets a panic rather than a deadlock (see `Mutex`).
        self.waiters.running_user_code(|| {
            // SAFETY: forwarded to the caller.
            unsafe { list.enqueue(waiter, waker, self.overtake_limit != usize::MAX) }
        });
        // One atomic step from "free permits, nobody waits" to "WAITING, none free": a
        // releaser's fast path either lands before it (and its permits are taken here) or
        // sees WAITING and comes through the lock.
        loop {
            match self.state.compare_exchange_weak(
                cur,
                (cur & CLOSED) | WAITING,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(prev) => {
                    list.add_surplus(prev >> SHIFT);
                    return Ok(Enqueued::Queued);
                }
                Err(actual) => cur = actual,
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// The protocol of one acquire: fast path, queueing, waiting, cancellation. Where it
    /// stands is the waiter's state: idle, in the list (linked, granted or closed) or done.
    pub(crate) struct RawAcquire<P> {
        #[pin]
        waiter: Waiter<P>,
        // What its `tracing` events need (`crate::trace`); nothing without the feature.
        trace: TraceRecord<P>,
    }
}

#[cfg(feature = "tracing")]
type TraceRecord<P> = crate::trace::Record<P>;
#[cfg(not(feature = "tracing"))]
type TraceRecord<P> = core::marker::PhantomData<P>;

impl<P> RawAcquire<P> {
    pub(crate) fn new(priority: P, needed: u32) -> Self {
        Self {
            waiter: Waiter::new(priority, needed),
            trace: TraceRecord::default(),
        }
    }

    /// Lets its `tracing` events show the priority by value where its type allows
    /// (`crate::trace`): called where the request is created, where `P: 'static` is known.
    /// Nothing without the feature.
    #[inline]
    #[cfg_attr(not(feature = "tracing"), allow(unused_mut))]
    pub(crate) fn showing_values(mut self) -> Self
    where
        P: 'static,
    {
        #[cfg(feature = "tracing")]
        self.trace.show_values();
        self
    }

    /// A request like this one (never polled) at another priority.
    pub(crate) fn renewed(&self, priority: P) -> Self {
        Self {
            waiter: Waiter::new(priority, self.needed()),
            #[cfg(feature = "tracing")]
            trace: self.trace.renewed(),
            #[cfg(not(feature = "tracing"))]
            trace: core::marker::PhantomData,
        }
    }

    /// The request's `tracing` record and its waiter, for `crate::trace`.
    #[cfg(feature = "tracing")]
    pub(crate) fn traced(
        self: Pin<&mut Self>,
    ) -> (&mut crate::trace::Record<P>, Pin<&mut Waiter<P>>) {
        let this = self.project();
        (this.trace, this.waiter)
    }

    /// Replaces the priority; only possible before the first poll (`&mut self`).
    pub(crate) fn set_priority(&mut self, priority: P) {
        self.waiter.set_priority(priority);
    }

    #[inline]
    pub(crate) fn needed(&self) -> u32 {
        self.waiter.needed()
    }

    /// Cancels: unlinks the waiter if queued, returning any permits it was handed to the
    /// semaphore (and so to the next waiters, with their wake-ups).
    ///
    /// # Safety
    ///
    /// `sem` is the semaphore every earlier `poll_acquire` call on `self` was given.
    #[inline]
    pub(crate) unsafe fn cancel<L: RawLock>(self: Pin<&mut Self>, sem: &RawSemaphore<P, L>) {
        // SAFETY: forwarded.
        #[cfg(feature = "tracing")]
        return unsafe { crate::trace::cancel(self, sem) };
        // SAFETY: forwarded.
        #[cfg(not(feature = "tracing"))]
        unsafe {
            self.cancel_untraced(sem)
        }
    }

    /// [`RawAcquire::cancel`] without its `tracing` event.
    ///
    /// # Safety
    ///
    /// As for [`RawAcquire::cancel`].
    #[inline]
    pub(crate) unsafe fn cancel_untraced<L: RawLock>(
        self: Pin<&mut Self>,
        sem: &RawSemaphore<P, L>,
    ) {
        if self.waiter.has_entered_list() {
            // SAFETY: forwarded.
            unsafe { self.cancel_queued(sem) }
        }
    }

    #[inline(never)]
    unsafe fn cancel_queued<L: RawLock>(self: Pin<&mut Self>, sem: &RawSemaphore<P, L>) {
        let waiter = self.project().waiter.into_ref();
        if waiter.state() == WaiterState::Linked {
            // SAFETY: a queued waiter is linked in `sem`'s list or nowhere (caller).
            let unlinked = sem.locked_then_settle(|list| unsafe { list.cancel(waiter) });
            if unlinked.is_some() {
                // Its partial grant went back into the surplus and was settled above; its
                // waker is dropped here, outside the lock.
                return;
            }
        }
        // Granted meanwhile (or closed): give granted permits back in full.
        if waiter.state() == WaiterState::Granted {
            waiter.set_done();
            sem.release(waiter.needed() as usize);
        }
    }
}

impl<P: Ord> RawAcquire<P> {
    /// Polls for the permits. `Ready(Ok(()))` means `needed()` permits now belong to the
    /// caller, who must release or forget them.
    ///
    /// # Panics
    ///
    /// If polled again after it returned `Ready`.
    ///
    /// # Safety
    ///
    /// Every call on `self` passes the same `sem`, which stays alive and in place until
    /// [`RawAcquire::cancel`] has been called with it, and `cancel` is called before `self`
    /// is dropped.
    #[inline]
    pub(crate) unsafe fn poll_acquire<L: RawLock>(
        self: Pin<&mut Self>,
        sem: &RawSemaphore<P, L>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), AcquireError>> {
        // SAFETY: forwarded.
        #[cfg(feature = "tracing")]
        return unsafe { crate::trace::poll_acquire(self, sem, cx) };
        // SAFETY: forwarded.
        #[cfg(not(feature = "tracing"))]
        unsafe {
            self.poll_acquire_untraced(sem, cx)
        }
    }

    /// [`RawAcquire::poll_acquire`] without its `tracing` events.
    ///
    /// # Safety
    ///
    /// As for [`RawAcquire::poll_acquire`].
    #[inline]
    pub(crate) unsafe fn poll_acquire_untraced<L: RawLock>(
        self: Pin<&mut Self>,
        sem: &RawSemaphore<P, L>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), AcquireError>> {
        // The uncontended case and the poll after a grant are inlined into the caller;
        // everything else is out of line.
        // (`needed` is a `u32`, so `MAX_PERMITS` only matters on 16-bit targets.)
        let n = self.waiter.needed() as usize;
        if self.waiter.is_idle() && n <= MAX_PERMITS {
            let fast = match sem.try_acquire(n) {
                Ok(()) => Ok(()),
                Err(TryAcquireError::Closed) => Err(AcquireError::closed()),
                Err(TryAcquireError::NoPermits) => {
                    // SAFETY: forwarded.
                    return unsafe { self.poll_acquire_slow(sem, cx) };
                }
            };
            self.waiter.set_done();
            return Poll::Ready(fast);
        }
        // The usual poll after a wake-up: the permits were handed over.
        if self.waiter.take_grant() {
            return Poll::Ready(Ok(()));
        }
        // SAFETY: forwarded.
        unsafe { self.poll_acquire_slow(sem, cx) }
    }

    #[inline(never)]
    unsafe fn poll_acquire_slow<L: RawLock>(
        self: Pin<&mut Self>,
        sem: &RawSemaphore<P, L>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), AcquireError>> {
        let waiter = self.project().waiter.into_ref();
        let n = waiter.needed() as usize;
        match waiter.state() {
            WaiterState::Idle => {
                if n > MAX_PERMITS {
                    waiter.set_done();
                    return Poll::Ready(Err(AcquireError::too_many_permits(n)));
                }
                // `poll_acquire` has just tried the lock-free path and found no permits;
                // `enqueue` looks at the permit word again under the lock.
                // Cloned before locking, and dropped after it if not linked (permits taken
                // at once, closed, or a panicking `Ord`): no user code runs under the lock
                // but `Ord`.
                let mut waker = Some(cx.waker().clone());
                let enqueued = sem.locked_then_settle(|list| {
                    // SAFETY: the waiter is idle, so unlinked, and pinned; it is unlinked
                    // before it is dropped because the caller calls `cancel`, and `sem`
                    // stays in place until then (caller). Once linked, its state says so
                    // before any waker runs: if one panics, `cancel` still unlinks it.
                    unsafe { sem.enqueue(list, waiter, n, &mut waker) }
                });
                drop(waker);
                match enqueued {
                    Err(err) => {
                        waiter.set_done();
                        Poll::Ready(Err(err))
                    }
                    Ok(Enqueued::Acquired) => {
                        waiter.set_done();
                        Poll::Ready(Ok(()))
                    }
                    Ok(Enqueued::Queued) => Self::ready_or_pending(waiter),
                }
            }
            WaiterState::Linked => {
                let current = sem.waiters.with(|list| {
                    waiter.state() != WaiterState::Linked
                        // SAFETY: linked, and only ever in `sem`'s list (caller).
                        || unsafe { list.waker_will_wake(waiter, cx.waker()) }
                });
                if !current {
                    // SAFETY: a queued waiter is in `sem`'s list or in none (caller).
                    unsafe { Self::replace_waker(waiter, sem, cx.waker()) };
                }
                Self::ready_or_pending(waiter)
            }
            WaiterState::Granted | WaiterState::Closed => Self::ready_or_pending(waiter),
            WaiterState::Done => panic!("`Acquire` polled after it completed"),
        }
    }

    /// Re-polled with a waker for another task: stores a clone of it. The clone is made,
    /// and the replaced waker dropped, outside the lock (both are user code, tokio#5429).
    ///
    /// # Safety
    ///
    /// `waiter` is linked in `sem`'s list or in none.
    #[cold]
    unsafe fn replace_waker<L: RawLock>(
        waiter: Pin<&Waiter<P>>,
        sem: &RawSemaphore<P, L>,
        waker: &Waker,
    ) {
        let fresh = waker.clone();
        let unused = sem.waiters.with(|list| {
            if waiter.state() != WaiterState::Linked {
                // Granted or closed meanwhile: the caller reads that state next.
                return Some(fresh);
            }
            // SAFETY: linked, and only ever in `sem`'s list (caller).
            unsafe { list.replace_waker(waiter, fresh) }
        });
        drop(unused);
    }

    fn ready_or_pending(waiter: Pin<&Waiter<P>>) -> Poll<Result<(), AcquireError>> {
        let result = match waiter.state() {
            WaiterState::Granted => Ok(()),
            WaiterState::Closed => Err(AcquireError::closed()),
            WaiterState::Linked | WaiterState::Idle | WaiterState::Done => return Poll::Pending,
        };
        waiter.set_done();
        Poll::Ready(result)
    }
}

impl<P, L> core::fmt::Debug for RawSemaphore<P, L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let state = self.state.load(Ordering::Acquire);
        f.debug_struct("Semaphore")
            .field("available_permits", &(state >> SHIFT))
            .field("closed", &(state & CLOSED != 0))
            .field("waiting", &(state & WAITING != 0))
            .finish_non_exhaustive()
    }
}

impl<P> RawAcquire<P> {
    /// `Debug` for the public future named `name` that wraps this request.
    pub(crate) fn fmt_as(&self, name: &str, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct(name)
            .field("permits", &self.waiter.needed())
            .field("state", &self.waiter.state())
            .finish()
    }
}

#[allow(dead_code)]
const _: () = assert!(FLAGS < 1 << SHIFT);

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::lock::SpinLock;
    use core::pin::pin;

    /// The documented maximum: `2³¹ − 1` where `usize` is 64 bits (a `u32` request can
    /// exceed it, which is what makes `acquire_many(u32::MAX)` a clear error), `2²⁹ − 1`
    /// where it is 32 bits (the permit word keeps two flag bits and room to add).
    #[test]
    fn max_permits_is_the_documented_value() {
        let expected = if usize::BITS >= 64 {
            (1 << 31) - 1
        } else {
            (1 << (usize::BITS - 3)) - 1
        };
        assert_eq!(MAX_PERMITS, expected);
        // Checked at compile time: a `u32` request can exceed it, and the word has room.
        const { assert!(MAX_PERMITS < u32::MAX as usize) };
        const { assert!(MAX_PERMITS <= usize::MAX >> SHIFT >> 1) };
    }

    /// The fast path failed, then permits were freed before the lock was taken: the slow
    /// path must take them without linking the waiter (it used to report "queued", so the
    /// future returned `Pending` forever while holding the permits).
    #[test]
    fn slow_path_takes_permits_freed_since_the_fast_path() {
        let sem: RawSemaphore<i64, SpinLock> = RawSemaphore::new(1);
        let waiter = pin!(Waiter::new(0, 1));
        let enqueued = sem.waiters.with(|list| {
            // SAFETY: the waiter is unlinked and outlives the list's use of it; the
            // assertion below checks it was not linked.
            unsafe { sem.enqueue(list, waiter.as_ref(), 1, &mut Some(Waker::noop().clone())) }
        });
        assert_eq!(enqueued, Ok(Enqueued::Acquired));
        assert_eq!(waiter.state(), WaiterState::Idle);
        assert_eq!(sem.available_permits(), 0);
        assert_eq!(sem.waiter_count(), 0);
    }
}
