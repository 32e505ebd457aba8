//! The protocol of one acquire, which both public futures run: the lock-free fast path,
//! queueing under the lock, the poll after a wake-up, and cancellation.

use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use crate::diag::{After, Before, RequestTrace};
use crate::error::{AcquireError, TryAcquireError};
use crate::lock::RawLock;
use crate::loom::Ordering;
use crate::max_permits::MAX_PERMITS;
use crate::waitlist::{QueueLimit, WaitList, Waiter, WaiterState};

use super::{RawSemaphore, CLOSED, SHIFT, WAITING};

/// What [`RawSemaphore::enqueue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Enqueued {
    /// Enough permits had been freed meanwhile: taken at once, the waiter is not linked.
    Acquired,
    /// The waiter is linked (and may already have been granted by the settle after it).
    Queued,
}

impl<P: Ord, L: RawLock> RawSemaphore<P, L> {
    /// Under the lock: takes `n` permits at once if nobody waits and enough are free, else
    /// queues `waiter` and moves the free permits into the wait list's surplus; or refuses
    /// it, changing nothing, if as many requests as its queue limit already wait.
    ///
    /// # Safety
    ///
    /// As for [`WaitList::enqueue`] on this semaphore's list.
    #[inline]
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
        // The overload bound: one comparison, and nothing changed yet if it refuses.
        if let Some(limit) = waiter.queue_limit().get() {
            if list.len() >= limit {
                return Err(AcquireError::queue_full(limit));
            }
        }
        // Link first: it compares priorities (user code that may panic) before changing
        // anything, so a panic leaves both the list and the permit word untouched. An `Ord`
        // that uses this semaphore gets a panic rather than a deadlock (see `Mutex`).
        self.waiters.running_user_code(|| {
            // SAFETY: forwarded to the caller.
            unsafe { list.enqueue(waiter, waker, self.overtake_limit) }
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
        // What its `tracing` events need (`crate::diag`); nothing without the feature.
        trace: RequestTrace<P>,
    }
}

impl<P> RawAcquire<P> {
    pub(crate) fn new(priority: P, needed: u32) -> Self {
        Self {
            waiter: Waiter::new(priority, needed),
            trace: RequestTrace::new(),
        }
    }

    /// Lets its `tracing` events show the priority by value where its type allows
    /// (`crate::diag`): called where the request is created, where `P: 'static` is known.
    #[inline]
    pub(crate) fn showing_values(mut self) -> Self
    where
        P: 'static,
    {
        self.trace.show_values();
        self
    }

    /// Makes the request take its priority from the innermost ambient priority scope
    /// (`crate::ambient`, feature `std`) at its **first poll**, the moment it joins the
    /// line, rather than when the future is created: futures are lazy, so this is what
    /// makes `with_priority(p, sem.acquire())`, and futures built eagerly outside a scope
    /// but awaited inside it, take the scope's priority. `lookup` is that scope's lookup
    /// for `P`, chosen where the request is created (where `P: Clone + 'static` is known),
    /// so polling needs no bound beyond `P: Ord`.
    ///
    /// The lookup rides inside the waiter until then, so it costs the future no space;
    /// [`RawAcquire::set_priority`] drops it (an explicit priority wins).
    #[cfg(feature = "std")]
    #[inline(always)]
    pub(crate) fn with_ambient_lookup(self, lookup: fn() -> Option<P>) -> Self {
        Self {
            waiter: self.waiter.with_ambient_lookup(lookup),
            trace: self.trace,
        }
    }

    /// Runs the ambient lookup on the first poll, if one is set: replaces this request,
    /// never polled so never queued, with one at the scope's priority, if a scope sets
    /// one. Called first in every [`RawAcquire::poll_acquire`], so no request can queue
    /// before it, whatever path polls it.
    #[cfg(feature = "std")]
    #[inline(always)]
    fn resolve_ambient(mut self: Pin<&mut Self>) {
        let lookup = self.as_mut().project().waiter.take_ambient_lookup();
        if let Some(priority) = lookup.and_then(|lookup| lookup()) {
            // Never polled, so never queued: nothing points to the request being replaced.
            let renewed = self.renewed(priority);
            self.set(renewed);
        }
    }

    /// A request like this one (never polled) at another priority.
    #[cfg(feature = "std")]
    fn renewed(&self, priority: P) -> Self {
        let mut waiter = Waiter::new(priority, self.needed());
        waiter.set_queue_limit(self.waiter.queue_limit());
        Self {
            waiter,
            trace: self.trace.renewed(),
        }
    }

    /// Without `std` there are no ambient scopes.
    #[cfg(not(feature = "std"))]
    #[inline(always)]
    fn resolve_ambient(self: Pin<&mut Self>) {}

    /// Replaces the priority, and drops an ambient lookup; only possible before the first
    /// poll (`&mut self`).
    #[inline(always)]
    pub(crate) fn set_priority(&mut self, priority: P) {
        self.waiter.set_priority(priority);
    }

    /// Sets the queue limit; only possible before the first poll (`&mut self`).
    #[inline(always)]
    pub(crate) fn set_queue_limit(&mut self, limit: QueueLimit) {
        self.waiter.set_queue_limit(limit);
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
        if self.waiter.has_entered_list() {
            // SAFETY: forwarded.
            unsafe { self.cancel_queued(sem) }
        }
    }

    /// The out-of-line part of [`RawAcquire::cancel`], for a request that has entered the
    /// list. Its diagnostics run last, once the permits are handed on and the wakers woken,
    /// so a subscriber that panics there loses nothing.
    ///
    /// # Safety
    ///
    /// As for [`RawAcquire::cancel`].
    #[inline(never)]
    unsafe fn cancel_queued<L: RawLock>(self: Pin<&mut Self>, sem: &RawSemaphore<P, L>) {
        let mut this = self.project();
        let needed = this.waiter.needed();
        let granted = 'left: {
            let waiter = this.waiter.as_ref();
            if waiter.state() == WaiterState::Linked {
                // SAFETY: a queued waiter is linked in `sem`'s list or nowhere (caller).
                let unlinked = sem.locked_then_settle(|list| unsafe { list.cancel(waiter) });
                if let Some(waker) = unlinked {
                    // Its partial grant went back into the surplus and was settled above;
                    // its waker is dropped here, outside the lock.
                    drop(waker);
                    break 'left Some(false);
                }
            }
            // Granted meanwhile (or closed): give granted permits back in full.
            if waiter.state() != WaiterState::Granted {
                break 'left None;
            }
            waiter.set_done();
            sem.watch.claimed(&this.waiter.as_mut().granted_note().0);
            sem.release(needed as usize);
            Some(true)
        };
        if let Some(granted) = granted {
            this.trace.cancelled(granted, sem.addr(), needed);
        }
        sem.watch.check(sem.addr());
    }
}

impl<P: Ord> RawAcquire<P> {
    /// Polls for the permits. `Ready(Ok(()))` means `needed()` permits now belong to the
    /// caller, who must release or forget them.
    ///
    /// # Panics
    ///
    /// If polled again after it returned `Ready`. A `tracing` subscriber that panics in
    /// this poll's event loses nothing: permits taken are given back first.
    ///
    /// # Safety
    ///
    /// Every call on `self` passes the same `sem`, which stays alive and in place until
    /// [`RawAcquire::cancel`] has been called with it, and `cancel` is called before `self`
    /// is dropped.
    #[inline]
    pub(crate) unsafe fn poll_acquire<L: RawLock>(
        mut self: Pin<&mut Self>,
        sem: &RawSemaphore<P, L>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), AcquireError>> {
        self.as_mut().resolve_ambient();
        let mut this = self.project();
        let waiter = this.waiter.as_mut();
        let before = this
            .trace
            .before_poll(sem.watch.is_on(), move || waiter.unqueued());
        // SAFETY: forwarded.
        let poll = unsafe { Self::poll_waiter(this.waiter.as_ref(), sem, cx) };
        if before.is_quiet() {
            return poll;
        }
        Self::after_observed_poll(this.waiter, this.trace, before, poll, sem)
    }

    /// After a poll that diagnostics observe: tells them how it ended, once its permits
    /// are accounted for. If a hook panics (a subscriber is user code), permits the poll
    /// took are given back as the panic unwinds, and a queued request stays queued for its
    /// drop to cancel.
    #[inline(never)]
    fn after_observed_poll<L: RawLock>(
        mut waiter: Pin<&mut Waiter<P>>,
        trace: &mut RequestTrace<P>,
        before: Before,
        poll: Poll<Result<(), AcquireError>>,
        sem: &RawSemaphore<P, L>,
    ) -> Poll<Result<(), AcquireError>> {
        let needed = waiter.needed();
        let (after, taken) = match &poll {
            Poll::Pending => {
                let depth = if before.wants_depth() {
                    sem.waiter_count()
                } else {
                    0
                };
                (After::Queued { depth }, None)
            }
            Poll::Ready(Ok(())) => {
                let (note, grants_waited) = waiter.as_mut().granted_note();
                sem.watch.claimed(&note);
                let taken = ReleaseOnUnwind {
                    sem,
                    permits: needed,
                };
                (After::Granted { grants_waited }, Some(taken))
            }
            Poll::Ready(Err(_)) => (After::Failed, None),
        };
        trace.after_poll(before, after, sem.addr(), needed);
        sem.watch.check(sem.addr());
        if let Some(taken) = taken {
            taken.disarm();
        }
        poll
    }

    /// The acquire protocol itself: the lock-free fast path, the poll after a grant, and
    /// (out of line) queueing.
    ///
    /// # Safety
    ///
    /// As for [`RawAcquire::poll_acquire`], for the request that embeds `waiter`.
    #[inline]
    unsafe fn poll_waiter<L: RawLock>(
        waiter: Pin<&Waiter<P>>,
        sem: &RawSemaphore<P, L>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), AcquireError>> {
        // The uncontended case and the poll after a grant are inlined into the caller;
        // everything else is out of line, including a request above `MAX_PERMITS`
        // (possible on every target: a `u32` goes up to twice the 64-bit maximum), which
        // the slow path fails with its error.
        let n = waiter.needed() as usize;
        if waiter.is_idle() && n <= MAX_PERMITS {
            let fast = match sem.try_acquire(n) {
                Ok(()) => Ok(()),
                Err(TryAcquireError::Closed) => Err(AcquireError::closed()),
                Err(TryAcquireError::NoPermits) => {
                    // SAFETY: forwarded.
                    return unsafe { Self::poll_slow(waiter, sem, cx) };
                }
            };
            waiter.set_done();
            return Poll::Ready(fast);
        }
        // The usual poll after a wake-up: the permits were handed over.
        if waiter.take_grant() {
            return Poll::Ready(Ok(()));
        }
        // SAFETY: forwarded.
        unsafe { Self::poll_slow(waiter, sem, cx) }
    }

    /// The out-of-line part of [`RawAcquire::poll_waiter`]: queueing, a re-poll while
    /// queued, and the errors.
    ///
    /// # Safety
    ///
    /// As for [`RawAcquire::poll_waiter`].
    #[inline(never)]
    unsafe fn poll_slow<L: RawLock>(
        waiter: Pin<&Waiter<P>>,
        sem: &RawSemaphore<P, L>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), AcquireError>> {
        let n = waiter.needed() as usize;
        match waiter.state() {
            WaiterState::Idle => {
                if n > MAX_PERMITS {
                    waiter.set_done();
                    return Poll::Ready(Err(AcquireError::too_many_permits(waiter.needed())));
                }
                // `poll_waiter` has just tried the lock-free path and found no permits;
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

/// Permits a poll took, given back if the diagnostics that observe the poll panic before
/// it returns them to its caller.
struct ReleaseOnUnwind<'a, P, L: RawLock> {
    sem: &'a RawSemaphore<P, L>,
    permits: u32,
}

impl<P, L: RawLock> ReleaseOnUnwind<'_, P, L> {
    /// The poll returns the permits: they are its caller's now.
    fn disarm(self) {
        core::mem::forget(self);
    }
}

impl<P, L: RawLock> Drop for ReleaseOnUnwind<'_, P, L> {
    fn drop(&mut self) {
        self.sem.release(self.permits as usize);
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::lock::SpinLock;
    use core::pin::pin;

    /// The fast path failed, then permits were freed before the lock was taken: the slow
    /// path must take them without linking the waiter (were it reported "queued", the
    /// future would stay `Pending` forever while holding the permits).
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
