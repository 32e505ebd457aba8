//! `tracing` events (feature `tracing`): who queued, who was served after how long, who
//! gave up, and when the semaphore closed. Without the feature none of this is compiled.
//!
//! Every event is emitted by the request's owner or by `close`, after the semaphore's lock
//! is released: a subscriber is user code, and only `Ord` runs under the lock. Events have
//! the target `prio_semaphore`:
//!
//! | event | level | fields |
//! |---|---|---|
//! | `request queued` | `TRACE` | `semaphore`, `priority`, `permits`, `depth` (queued requests just after it joined) |
//! | `request granted` | `TRACE` | `semaphore`, `priority`, `permits`, `grants_waited` (requests served while it waited), `waited` (with `std`) |
//! | `request cancelled` | `DEBUG` | `semaphore`, `priority`, `permits`, `granted` (whether its permits had been handed over, and so were handed on) |
//! | `request failed: semaphore closed` | `DEBUG` | `semaphore`, `priority`, `permits` |
//! | `semaphore closed` | `DEBUG` | `semaphore`, `waiters` (queued requests it fails) |
//!
//! `semaphore` is the semaphore's address, to tell several apart. A request that gets its
//! permits in its first poll (it never waited) emits nothing.
//!
//! # Priorities in events
//!
//! A priority is shown by value when its type is a primitive integer (`i128` and `u128`
//! within 64 bits), `f32`, `f64` or
//! [`FloatPriority`](crate::FloatPriority), and by its type's name otherwise: the crate
//! cannot ask for `P: Debug` (enabling a feature must not add bounds), so it recognises
//! those types by [`TypeId`](core::any::TypeId), copying the number out before the request
//! joins the line. No user code runs to show a priority.

use core::any::Any;
use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::error::AcquireError;
use crate::lock::RawLock;
use crate::raw::{RawAcquire, RawSemaphore};
use crate::waitlist::WaiterState;

/// The target of every event.
pub(crate) const TARGET: &str = "prio_semaphore";

/// A priority as events show it: a number copied out, or the type's name.
#[derive(Clone, Copy)]
pub(crate) enum Shown {
    Signed(i64),
    Unsigned(u64),
    Float(f64),
    Type(&'static str),
}

impl fmt::Debug for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shown::Signed(v) => write!(f, "{v}"),
            Shown::Unsigned(v) => write!(f, "{v}"),
            Shown::Float(v) => write!(f, "{v}"),
            Shown::Type(name) => write!(f, "<{name}>"),
        }
    }
}

/// Shows `p` by value if its type is one of those listed in the module docs.
pub(crate) fn show_value<P: 'static>(p: &P) -> Shown {
    let any: &dyn Any = p;
    macro_rules! try_types {
        ($variant:ident as $wide:ty: $($t:ty),*) => {$(
            if let Some(v) = any.downcast_ref::<$t>() {
                return Shown::$variant(*v as $wide);
            }
        )*};
    }
    try_types!(Signed as i64: i64, i32, i8, i16, isize);
    try_types!(Unsigned as u64: u64, u32, u8, u16, usize);
    try_types!(Float as f64: f64, f32);
    if let Some(v) = any
        .downcast_ref::<i128>()
        .and_then(|v| i64::try_from(*v).ok())
    {
        return Shown::Signed(v);
    }
    if let Some(v) = any
        .downcast_ref::<u128>()
        .and_then(|v| u64::try_from(*v).ok())
    {
        return Shown::Unsigned(v);
    }
    if let Some(v) = any.downcast_ref::<crate::FloatPriority>() {
        return Shown::Float(v.0);
    }
    show_type(p)
}

/// Shows `p` by its type's name: for requests created where `P: 'static` is not known.
pub(crate) fn show_type<P>(_: &P) -> Shown {
    Shown::Type(core::any::type_name::<P>())
}

/// What a request remembers between its events.
pub(crate) struct Record<P> {
    /// Chosen where the request is created (`show_value` where `P: 'static`).
    show: fn(&P) -> Shown,
    /// Set when the request joined the line (its `queued` event).
    queued: Option<Shown>,
    #[cfg(feature = "std")]
    since: Option<std::time::Instant>,
}

impl<P> Default for Record<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P> Record<P> {
    pub(crate) fn new() -> Self {
        Self {
            show: show_type::<P>,
            queued: None,
            #[cfg(feature = "std")]
            since: None,
        }
    }

    /// Shows the priority by value where its type allows.
    pub(crate) fn show_values(&mut self)
    where
        P: 'static,
    {
        self.show = show_value::<P>;
    }

    /// A record for a request that replaces this one before its first poll (at the ambient
    /// priority, feature `std`).
    #[cfg(feature = "std")]
    pub(crate) fn renewed(&self) -> Self {
        Self {
            show: self.show,
            ..Self::new()
        }
    }
}

impl<P> fmt::Debug for Record<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("queued", &self.queued)
            .finish_non_exhaustive()
    }
}

/// [`RawAcquire::poll_acquire`] with its events: an idle request that stays pending has
/// joined the line (`queued`); a queued one that completes was granted or failed.
///
/// While nobody listens, this is the untraced poll after one check, inlined; the events are
/// out of line.
///
/// # Safety
///
/// As for [`RawAcquire::poll_acquire`].
#[inline]
pub(crate) unsafe fn poll_acquire<P: Ord, L: RawLock>(
    mut acquire: Pin<&mut RawAcquire<P>>,
    sem: &RawSemaphore<P, L>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), AcquireError>> {
    if acquire.as_mut().traced().0.queued.is_none() && !may_listen() && !watching(sem) {
        // SAFETY: forwarded.
        return unsafe { acquire.poll_acquire_untraced(sem, cx) };
    }
    // SAFETY: forwarded.
    unsafe { poll_acquire_with_events(acquire, sem, cx) }
}

/// Whether any subscriber may want this crate's `DEBUG` or `TRACE` events: two loads and
/// two comparisons (the subscribers' global most verbose level), cheap enough to inline
/// into every poll. The full check for this crate's target runs out of line.
#[inline]
fn may_listen() -> bool {
    use tracing::level_filters::{LevelFilter, STATIC_MAX_LEVEL};
    tracing::Level::DEBUG <= STATIC_MAX_LEVEL && tracing::Level::DEBUG <= LevelFilter::current()
}

/// Whether the futurelock watch (`crate::hazard`) is on: then every grant taken must be
/// reported to it.
#[inline]
fn watching<P, L: RawLock>(sem: &RawSemaphore<P, L>) -> bool {
    #[cfg(feature = "std")]
    return sem.watch().is_on();
    #[cfg(not(feature = "std"))]
    {
        let _ = sem;
        false
    }
}

/// Tells the futurelock watch that the request took (or handed back) a recorded grant.
#[inline]
fn claim<P, L: RawLock>(acquire: Pin<&mut RawAcquire<P>>, sem: &RawSemaphore<P, L>) {
    #[cfg(feature = "std")]
    if sem.watch().is_on() {
        let seq = acquire.traced().1.grant_seq();
        sem.watch().claimed(seq);
    }
    #[cfg(not(feature = "std"))]
    let _ = (acquire, sem);
}

/// [`poll_acquire`] when someone listens, or a queued event was emitted.
///
/// # Safety
///
/// As for [`RawAcquire::poll_acquire`].
#[inline(never)]
unsafe fn poll_acquire_with_events<P: Ord, L: RawLock>(
    mut acquire: Pin<&mut RawAcquire<P>>,
    sem: &RawSemaphore<P, L>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), AcquireError>> {
    let (record, waiter) = acquire.as_mut().traced();
    if record.queued.is_none() {
        // Fresh, or queued while nobody listened: events only if someone listens now, and
        // only for a request that is still fresh (its `queued` event comes first).
        let listening = tracing::enabled!(target: TARGET, tracing::Level::DEBUG);
        let mut waiter = waiter;
        let shown = if listening || watching(sem) {
            // Copied before the first poll links the waiter, while nothing else can read it.
            waiter.as_mut().with_unqueued_priority(record.show)
        } else {
            None
        };
        #[cfg(feature = "std")]
        if let Some(shown) = shown {
            // For a futurelock warning, which the lock holder records at the grant.
            waiter.set_shown(shown);
        }
        // SAFETY: forwarded.
        let poll = unsafe { acquire.as_mut().poll_acquire_untraced(sem, cx) };
        if let Poll::Ready(Ok(())) = poll {
            claim(acquire.as_mut(), sem);
        }
        if listening && shown.is_some() && poll.is_pending() {
            let (record, _) = acquire.as_mut().traced();
            record.queued = shown;
            #[cfg(feature = "std")]
            if tracing::enabled!(target: TARGET, tracing::Level::TRACE) {
                record.since = Some(std::time::Instant::now());
            }
            tracing::trace!(
                target: TARGET,
                semaphore = ?(sem as *const RawSemaphore<P, L>),
                priority = ?shown.unwrap_or(Shown::Type("?")),
                permits = acquire.needed(),
                depth = sem.waiter_count(),
                "request queued"
            );
        }
        return poll;
    }
    // SAFETY: forwarded.
    let poll = unsafe { acquire.as_mut().poll_acquire_untraced(sem, cx) };
    if let Poll::Ready(Ok(())) = poll {
        claim(acquire.as_mut(), sem);
    }
    if let Poll::Ready(result) = &poll {
        let permits = acquire.needed();
        let (record, waiter) = acquire.as_mut().traced();
        let grants_waited = if result.is_ok() {
            waiter.grants_waited()
        } else {
            0
        };
        let priority = record.queued.take().unwrap_or(Shown::Type("?"));
        let semaphore = sem as *const RawSemaphore<P, L>;
        match result {
            Ok(()) => {
                #[cfg(feature = "std")]
                let waited = record.since.map(|since| since.elapsed());
                #[cfg(not(feature = "std"))]
                let waited: Option<()> = None;
                tracing::trace!(
                    target: TARGET,
                    semaphore = ?semaphore,
                    ?priority,
                    permits,
                    grants_waited,
                    waited = ?waited,
                    "request granted"
                );
            }
            Err(_) => tracing::debug!(
                target: TARGET,
                semaphore = ?semaphore,
                ?priority,
                permits,
                "request failed: semaphore closed"
            ),
        }
    }
    poll
}

/// [`RawAcquire::cancel`] with its event.
///
/// # Safety
///
/// As for [`RawAcquire::cancel`].
#[inline]
pub(crate) unsafe fn cancel<P, L: RawLock>(
    mut acquire: Pin<&mut RawAcquire<P>>,
    sem: &RawSemaphore<P, L>,
) {
    if acquire.as_mut().traced().0.queued.is_none() && !watching(sem) {
        // No `queued` event was emitted: none for its end either.
        // SAFETY: forwarded.
        return unsafe { acquire.cancel_untraced(sem) };
    }
    // SAFETY: forwarded.
    unsafe { cancel_with_event(acquire, sem) }
}

/// [`cancel`] of a request whose `queued` event was emitted.
///
/// # Safety
///
/// As for [`RawAcquire::cancel`].
#[inline(never)]
unsafe fn cancel_with_event<P, L: RawLock>(
    mut acquire: Pin<&mut RawAcquire<P>>,
    sem: &RawSemaphore<P, L>,
) {
    let before = acquire.as_mut().traced().1.state();
    // SAFETY: forwarded.
    unsafe { acquire.as_mut().cancel_untraced(sem) };
    if before != WaiterState::Done && acquire.as_mut().traced().1.state() == WaiterState::Done {
        // A grant handed back.
        claim(acquire.as_mut(), sem);
    }
    let (record, waiter) = acquire.as_mut().traced();
    let Some(priority) = record.queued.take() else {
        return;
    };
    // After `cancel`: `Idle` if it left the line, `Done` if its grant was handed on.
    let granted = match waiter.state() {
        WaiterState::Idle => false,
        WaiterState::Done => true,
        _ => return,
    };
    tracing::debug!(
        target: TARGET,
        semaphore = ?(sem as *const RawSemaphore<P, L>),
        ?priority,
        permits = acquire.needed(),
        granted,
        "request cancelled"
    );
}

/// Before `close`: the queued requests it is about to fail, counted only if its event is
/// enabled.
#[inline]
pub(crate) fn closing<P, L: RawLock>(sem: &RawSemaphore<P, L>) -> Option<usize> {
    tracing::enabled!(target: TARGET, tracing::Level::DEBUG).then(|| sem.waiter_count())
}

/// After `close`: the `semaphore closed` event.
#[inline]
pub(crate) fn closed<P, L: RawLock>(sem: &RawSemaphore<P, L>, waiters: Option<usize>) {
    if let Some(waiters) = waiters {
        tracing::debug!(
            target: TARGET,
            semaphore = ?(sem as *const RawSemaphore<P, L>),
            waiters,
            "semaphore closed"
        );
    }
}
