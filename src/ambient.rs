//! Ambient priority: scopes that set the priority of every acquire made inside them.
//!
//! The Rust counterpart of the `priority_context` contextvar suggested in the CPython
//! discussion that proposed `asyncio.PrioritySemaphore`: a library keeps its semaphore
//! private, and its callers still decide how urgent their calls are.
//!
//! # Design
//!
//! A scope is a [`Frame`] on the stack of the call that opened it ([`enter`]), linked into a
//! per-thread chain (`INNERMOST`, then each frame's `outer`). [`WithPriority`] opens its scope
//! anew around **each poll** of the future it wraps and closes it when that poll returns, so
//! the scope follows the task wherever the executor polls it: another thread after an
//! `.await` works, and nothing leaks into other tasks polled by the same thread in between.
//! [`priority_scope`] is the same for a synchronous closure. A request looks the chain up,
//! innermost first, for a frame of its semaphore's priority type (see
//! [`current_priority`] for the matching rule).
//!
//! Why this shape:
//!
//! * **Any executor.** Nothing but the poll call itself is needed: no task-local storage of a
//!   particular runtime.
//! * **No allocation.** Frames live on the stack; the chain head is a `const`-initialised
//!   thread-local `Cell` without a destructor, which needs no allocation to use and is never
//!   torn down.
//! * **Nesting, restore on exit and on panic.** A frame is unlinked by a guard that is a local
//!   of the same call ([`Unlink`]), so leaving the scope in any way (return or unwind)
//!   restores the enclosing one.
//! * **Lookup at first poll.** A request reads the chain when it is first polled (see
//!   `RawAcquire::with_ambient_lookup` in `raw/acquire.rs`): that is when it joins the
//!   line, and futures are lazy,
//!   so `with_priority(p, sem.acquire())` and library futures built eagerly before the scope
//!   both take the scope's priority, as they would with a task-local.
//! * **A scope belongs to a call, not to a task.** It covers everything polled on this
//!   thread while the call that opened it runs, whichever task that code belongs to (see
//!   [`with_priority`], "What a scope reaches"). A `Context` cannot say which task a nested
//!   poll is for: keying the scope to the waker it was entered with (and having `acquire`
//!   compare `cx.waker()` with `will_wake`) would keep a scope out of a task that a local
//!   executor or an inline-polling waker runs inside it, but also out of every request
//!   that `join_all` (past 30 futures), `FuturesUnordered` or [`limited`](crate::limited)
//!   polls with a waker of its own, which is the main use of a scope. So the rule is the
//!   plain one, documented and tested, with a way to opt a task out: its own scope.
//! * **Numbers match by value.** An unsuffixed integer literal is an `i32`; requiring the
//!   scope's type to be exactly the semaphore's (`i64` by default) would make
//!   `with_priority(3, ...)` silently do nothing. So primitive integers apply across integer
//!   types, saturating beyond the target's range as `.priority(p)` does, and floats apply to
//!   [`FloatPriority`]; every other type must match exactly (`TypeId`, through [`Any`]).
//!
//! # The one `unsafe`: following the chain
//!
//! The chain holds raw pointers to stack frames, so reading it is `unsafe`. It is sound
//! because of this invariant, which [`enter`] and [`Unlink`] maintain:
//!
//! > Every non-null link in the chain (`INNERMOST` and each linked frame's `outer`) points to
//! > a frame of **this thread** whose [`enter`] call is still running.
//!
//! * A frame is linked by `enter` right before it calls `f`, and unlinked by its `Unlink`
//!   guard when `f` returns or unwinds. The guard is declared after the frame and borrows it,
//!   so it runs before the frame goes away, and it is a private local that nobody can
//!   `mem::forget`.
//! * Calls return in the reverse order they were made, so guards run in the reverse order
//!   their frames were linked: each one finds its own frame innermost and restores exactly
//!   the link that was innermost before it (checked in debug builds).
//! * The chain is thread-local, so only the thread whose stack holds the frames sees them.
//!
//! A lookup runs inside some call nested in all the `enter` calls of the frames it reads;
//! none of them can return before the lookup does, so the frames stay valid for all of it,
//! including while the priority's `Clone` (user code) runs. Such code may open and close
//! scopes of its own: they are linked and unlinked in order before it returns.
//!
//! (Stackful coroutine libraries that switch stacks *inside* a poll, and so could interleave
//! two stacks' frames, are outside this model, as for every scoped thread-local.)

use core::any::{Any, TypeId};
use core::cell::Cell;
use core::fmt;
use core::future::{Future, IntoFuture};
use core::pin::Pin;
use core::ptr;
use core::task::{Context, Poll};

use crate::into_priority::IntoPriority;
use crate::priority::FloatPriority;

/// A link in the chain of active scopes. The `'static` is nominal: see the module docs for
/// how long the frame really lives.
type Link = *const Frame<'static>;

/// One active scope, on the stack of the [`enter`] call that opened it.
struct Frame<'a> {
    /// The scope's priority, type-erased so that scopes of every priority type share a chain.
    priority: &'a dyn Any,
    /// The enclosing scope, or null.
    outer: Link,
}

crate::loom::const_thread_local! {
    /// The innermost active scope of this thread, or null.
    static INNERMOST: Cell<Link> = const { Cell::new(ptr::null()) };
}

/// Runs `f` with `priority` as the innermost scope of this thread.
fn enter<R>(priority: &dyn Any, f: impl FnOnce() -> R) -> R {
    INNERMOST.with(|innermost| {
        let frame = Frame {
            priority,
            outer: innermost.get(),
        };
        let _unlink = Unlink::link(innermost, &frame);
        f()
    })
}

/// Links a frame into the chain, and unlinks it when dropped (on return and on unwind).
struct Unlink<'a> {
    innermost: &'a Cell<Link>,
    /// Borrowed so that the frame outlives the guard.
    frame: &'a Frame<'a>,
}

impl<'a> Unlink<'a> {
    fn link(innermost: &'a Cell<Link>, frame: &'a Frame<'a>) -> Self {
        innermost.set(Self::as_link(frame));
        Self { innermost, frame }
    }

    fn as_link(frame: &Frame<'_>) -> Link {
        ptr::from_ref(frame).cast()
    }
}

impl Drop for Unlink<'_> {
    fn drop(&mut self) {
        debug_assert!(
            ptr::eq(self.innermost.get(), Self::as_link(self.frame)),
            "ambient priority scopes must be left in the reverse order they were entered"
        );
        self.innermost.set(self.frame.outer);
    }
}

/// The priority of the innermost enclosing scope that applies to priority type `P`, if any.
///
/// A scope applies if its priority
///
/// * has exactly the type `P`; or
/// * is a primitive integer and `P` is a primitive integer type (an unsuffixed literal such
///   as `3` is an `i32`, and it sets the priority of the default `Semaphore<i64>` or of a
///   `Semaphore<u8>`); a value beyond `P`'s range saturates at its bounds, as
///   `.priority(value)` does, which keeps the order (`-1` is `0` for a `Semaphore<u8>`); or
/// * is an `f64` or `f32` and `P` is [`FloatPriority`].
///
/// Scopes that do not apply are skipped, so scopes of different types nest independently:
/// inside `with_priority(Urgency::High, with_priority(5, fut))`, a `Semaphore<Urgency>` sees
/// `High` and a `Semaphore<i64>` sees `5`.
///
/// This is the lookup that `acquire()` and `acquire_many()` (and their owned variants) do
/// when first polled. It sees the scopes of the calls now running on this thread, whatever
/// task they belong to (see [`with_priority`], "What a scope reaches"). Libraries can also
/// use it to carry the caller's priority into a task they spawn, since a spawned task is
/// normally polled outside the caller's scope.
///
/// # Examples
///
/// ```
/// use prio_semaphore::{current_priority, priority_scope};
///
/// assert_eq!(current_priority::<i64>(), None);
/// priority_scope(3, || {
///     assert_eq!(current_priority::<i64>(), Some(3));
///     assert_eq!(current_priority::<u8>(), Some(3));
///     priority_scope("not a number", || {
///         // A `&str` scope does not apply to integer priorities: the outer one does.
///         assert_eq!(current_priority::<i64>(), Some(3));
///     });
/// });
/// assert_eq!(current_priority::<i64>(), None);
/// ```
///
/// Carrying the caller's priority into a spawned task:
///
/// ```
/// use prio_semaphore::{current_priority, with_priority};
///
/// fn spawn_with_callers_priority<F: std::future::Future + Send + 'static>(fut: F) {
///     let fut = with_priority(current_priority::<i64>().unwrap_or_default(), fut);
///     // tokio::spawn(fut);
///     # drop(fut);
/// }
/// # spawn_with_callers_priority(async {});
/// ```
// `inline`: instantiated in each caller's codegen unit, so that the thread-local access
// inlines into a request's first poll wherever the compiler puts the rest of it.
#[inline]
pub fn current_priority<P: Clone + 'static>() -> Option<P> {
    INNERMOST.with(|innermost| {
        let mut link = innermost.get();
        // SAFETY: by the chain invariant (module docs), a non-null link points to a live
        // frame of this thread whose `enter` call encloses this one, so it stays valid until
        // we return; we only read it.
        while let Some(frame) = unsafe { link.as_ref() } {
            if let Some(priority) = applies::<P>(frame.priority) {
                return Some(priority);
            }
            link = frame.outer;
        }
        None
    })
}

/// The priority `value` sets for priority type `P`, if it applies (see [`current_priority`]).
fn applies<P: Clone + 'static>(value: &dyn Any) -> Option<P> {
    if let Some(same) = value.downcast_ref::<P>() {
        return Some(same.clone());
    }
    if let Some(&float) = value.downcast_ref::<f64>() {
        return cast(FloatPriority(float));
    }
    if let Some(&float) = value.downcast_ref::<f32>() {
        return cast(FloatPriority(float.into()));
    }
    integer(value)
}

/// `value` converted to `P`, if both are primitive integers (saturating, see [`narrow`]).
fn integer<P: 'static>(value: &dyn Any) -> Option<P> {
    macro_rules! widen {
        ($wide:ty: $($t:ty),*) => {$(
            if let Some(&v) = value.downcast_ref::<$t>() {
                return narrow::<P, $wide>(<$wide>::from(v));
            }
        )*};
    }
    widen!(i128: i8, i16, i32, i64, i128);
    widen!(u128: u8, u16, u32, u64, u128);
    // `From` does not cover the pointer-sized types: their widening is checked (and cannot
    // fail on any target Rust supports).
    if let Some(&v) = value.downcast_ref::<isize>() {
        return narrow::<P, i128>(i128::try_from(v).ok()?);
    }
    if let Some(&v) = value.downcast_ref::<usize>() {
        return narrow::<P, u128>(u128::try_from(v).ok()?);
    }
    None
}

/// `value` converted to the primitive integer type `P`, if `P` is one: saturating at `P`'s
/// bounds, as `.priority(value)` does (see [`IntoPriority`]).
fn narrow<P: 'static, W>(value: W) -> Option<P>
where
    W: IntoPriority<i8>
        + IntoPriority<i16>
        + IntoPriority<i32>
        + IntoPriority<i64>
        + IntoPriority<i128>
        + IntoPriority<isize>
        + IntoPriority<u8>
        + IntoPriority<u16>
        + IntoPriority<u32>
        + IntoPriority<u64>
        + IntoPriority<u128>
        + IntoPriority<usize>,
{
    let target = TypeId::of::<P>();
    macro_rules! to {
        ($($t:ty),*) => {$(
            if target == TypeId::of::<$t>() {
                return cast(IntoPriority::<$t>::into_priority(value));
            }
        )*};
    }
    to!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);
    None
}

/// `value` as a `P`, if `T` is `P`.
fn cast<T: 'static, P: 'static>(value: T) -> Option<P> {
    let mut slot = Some(value);
    (&mut slot as &mut dyn Any)
        .downcast_mut::<Option<P>>()
        .and_then(Option::take)
}

/// Runs `f` with `priority` as the ambient priority of every acquire made inside it.
///
/// The synchronous counterpart of [`with_priority`], for blocking code (see
/// [`Acquire::wait`](crate::Acquire::wait)) and for creating and polling futures by hand.
/// Scopes nest: the innermost one that applies wins (see [`current_priority`] for which
/// apply). The enclosing scope is restored when `f` returns or panics. It allocates nothing.
///
/// A request made inside takes the scope's priority only if it is also first *polled* inside
/// (that is when it joins the line): a future created here and returned to be awaited
/// elsewhere does not.
///
/// The scope covers everything that runs on this thread until `f` returns, as for
/// [`with_priority`] (see "What a scope reaches" there): a future that `f` polls by hand or
/// with `block_on`, including tasks of an executor that `f` drives, and a task that a
/// waker polls inline when code inside `f` wakes it (by releasing a permit, say).
///
/// # Examples
///
/// ```
/// use prio_semaphore::{priority_scope, Semaphore};
///
/// static POOL: Semaphore = Semaphore::new(1);
///
/// // A library function with a private semaphore.
/// fn query() -> usize {
///     let _permit = POOL.acquire().wait().unwrap();
///     42
/// }
///
/// // The caller decides how urgent the call is.
/// assert_eq!(priority_scope(-10, query), 42);
/// ```
pub fn priority_scope<P: Any, R>(priority: P, f: impl FnOnce() -> R) -> R {
    enter(&priority, f)
}

/// Runs `future` with `priority` as the ambient priority of every acquire made inside it.
///
/// Every `acquire()` and `acquire_many()` (and owned variant) without an explicit
/// [`.priority(p)`](crate::Acquire::priority) that is first polled while `future` is being
/// polled waits in line with `priority`, on any semaphore whose priority type it applies to
/// (the same type, or any integer type for an integer; see [`current_priority`]). It is the
/// Rust counterpart of a `priority_context` contextvar: a library can keep its semaphore
/// private and still let its callers prioritise their calls.
///
/// * **Any executor:** the scope is entered around each poll of `future` and left when the
///   poll returns, so it follows the task to whichever thread polls it, and is not seen by
///   tasks the executor polls between those polls.
/// * **Nesting:** the innermost scope that applies wins; when it is left, the enclosing one
///   applies again (also when a poll panics).
/// * **Explicit wins:** `.priority(p)` on a request overrides every scope.
/// * **No allocation:** the scope is a frame on the stack of the poll call.
///
/// # Which requests a scope applies to
///
/// A request reads the ambient priority when it is **first polled**, which is when it joins
/// the line, not when the future is created. Futures are lazy, so this is the moment that
/// counts: `with_priority(1, sem.acquire())` waits at priority 1, and so does a request
/// built before the scope by a library function and awaited inside it. Requests already
/// queued keep their place: a scope never reorders the line.
///
/// # What a scope reaches
///
/// A scope belongs to the poll call, not to a task: it covers **everything polled on this
/// thread while `future` is being polled**, and nothing else.
///
/// * **Covered: every future that `future` polls**, however it polls it: awaited, `join!`,
///   `select!`, `join_all`, `FuturesUnordered`, [`limited`](crate::limited), even with
///   wakers of their own. `with_priority(p, join_all(requests))` applies `p` to every
///   request.
/// * **Also covered: other tasks that run inside that poll.** An executor driven from
///   inside `future` polls its tasks there: under `with_priority(0, local.run_until(..))`
///   a task started with tokio's `spawn_local` sees `0`, as does a future run to completion
///   there by a nested `block_on`. And a waker that polls its task inline, when code inside
///   the scope wakes it (releasing a permit, sending on a channel), runs that task inside
///   the scope.
/// * **Not covered: tasks the executor polls outside that poll.** A task spawned with
///   `tokio::spawn`, `smol::spawn` and the like is polled by the executor on its own, so it
///   does not inherit the priority: wrap the spawned future in `with_priority` too (with
///   [`current_priority`] to pass the caller's priority on).
///
/// A scope of its own shields a task from enclosing ones: the innermost scope that applies
/// wins, so a task wrapped in `with_priority` sees its own priority wherever it is polled.
///
/// # Examples
///
/// ```
/// use prio_semaphore::{with_priority, Semaphore};
///
/// mod library {
///     use prio_semaphore::Semaphore;
///
///     static CONNECTIONS: Semaphore = Semaphore::new(4);
///
///     pub async fn fetch(url: &str) -> usize {
///         let _permit = CONNECTIONS.acquire().await.unwrap(); // no priority here
///         url.len()
///     }
/// }
///
/// # futures::executor::block_on(async {
/// // Realtime callers go ahead of batch callers in the library's queue.
/// let realtime = with_priority(0, library::fetch("/user/42")).await;
/// let batch = with_priority(10, library::fetch("/report")).await;
/// # assert_eq!((realtime, batch), (8, 7));
/// # });
/// ```
///
/// Scopes of different priority types nest independently:
///
/// ```
/// use prio_semaphore::{current_priority, with_priority};
///
/// #[derive(Clone, Debug, PartialEq)]
/// enum Urgency { High, Low }
///
/// # futures::executor::block_on(async {
/// with_priority(Urgency::High, with_priority(5, async {
///     assert_eq!(current_priority::<Urgency>(), Some(Urgency::High));
///     assert_eq!(current_priority::<i64>(), Some(5));
/// }))
/// .await;
/// # });
/// ```
pub fn with_priority<P: Any, F: IntoFuture>(
    priority: P,
    future: F,
) -> WithPriority<F::IntoFuture, P> {
    WithPriority {
        priority,
        future: future.into_future(),
    }
}

pin_project_lite::pin_project! {
    /// A future that runs its inner future inside an ambient priority scope.
    ///
    /// Returned by [`with_priority`]; see there.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct WithPriority<F, P> {
        priority: P,
        #[pin]
        future: F,
    }
}

impl<F, P> WithPriority<F, P> {
    /// The priority this future sets.
    ///
    /// # Examples
    ///
    /// ```
    /// let fut = prio_semaphore::with_priority(2, async {});
    /// assert_eq!(*fut.priority(), 2);
    /// ```
    pub fn priority(&self) -> &P {
        &self.priority
    }

    /// The wrapped future, outside the scope.
    ///
    /// # Examples
    ///
    /// ```
    /// let fut = prio_semaphore::with_priority(2, std::future::ready(7));
    /// # futures::executor::block_on(async {
    /// assert_eq!(fut.into_inner().await, 7);
    /// # });
    /// ```
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F: Future, P: Any> Future for WithPriority<F, P> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let priority: &P = this.priority;
        enter(priority, || this.future.poll(cx))
    }
}

impl<F, P: fmt::Debug> fmt::Debug for WithPriority<F, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithPriority")
            .field("priority", &self.priority)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_convert_saturating_at_the_bounds_of_the_priority_type() {
        assert_eq!(applies::<i64>(&3_i32), Some(3));
        assert_eq!(applies::<u8>(&255_u64), Some(255));
        assert_eq!(applies::<u8>(&256_i32), Some(u8::MAX));
        assert_eq!(applies::<u8>(&-1_i8), Some(0));
        assert_eq!(applies::<i8>(&u128::MAX), Some(i8::MAX));
        assert_eq!(applies::<i8>(&i128::MIN), Some(i8::MIN));
        assert_eq!(applies::<u128>(&u128::MAX), Some(u128::MAX));
        assert_eq!(applies::<isize>(&-7_i16), Some(-7));
        assert_eq!(applies::<usize>(&7_isize), Some(7));
        assert_eq!(applies::<i64>(&usize::MAX), Some(i64::MAX));
        assert_eq!(applies::<i64>(&u64::MAX), Some(i64::MAX));
    }

    #[test]
    fn other_types_match_exactly() {
        assert_eq!(applies::<i64>(&3.0_f64), None);
        assert_eq!(applies::<i64>(&"3"), None);
        assert_eq!(applies::<bool>(&1_u8), None);
        assert_eq!(applies::<core::cmp::Reverse<i64>>(&3_i64), None);
        assert_eq!(
            applies::<core::cmp::Reverse<i64>>(&core::cmp::Reverse(3_i64)),
            Some(core::cmp::Reverse(3))
        );
        assert_eq!(applies::<FloatPriority>(&0.5_f64), Some(FloatPriority(0.5)));
        assert_eq!(applies::<FloatPriority>(&0.5_f32), Some(FloatPriority(0.5)));
        assert_eq!(applies::<FloatPriority>(&1_i32), None);
    }
}
