//! `tracing` events (feature `tracing`): who queued, who was served after how long, who
//! gave up, and when the semaphore closed. The events, their levels and fields are listed
//! in the crate docs ("Seeing who waits"); this module emits them.
//!
//! A request's [`RequestTrace`] remembers what its events need between its polls. The core
//! calls it around each poll ([`RequestTrace::before_poll`], [`RequestTrace::after_poll`])
//! and when a queued request is cancelled ([`RequestTrace::cancelled`]); `close` calls
//! [`reports_close`] and [`closed`]. Every call is made after the semaphore's lock is
//! released, with plain facts: nothing here reaches into the semaphore.

use core::fmt;

use super::after::After;
use super::hazard::WaiterNote;
use super::shown::{show_type, show_value, Shown, TARGET};

/// What a request's events need between its polls.
pub(crate) struct RequestTrace<P> {
    /// Chosen where the request is created (`show_value` where `P: 'static`).
    show: fn(&P) -> Shown,
    /// Set when the request joined the line (its `queued` event).
    queued: Option<Shown>,
    #[cfg(feature = "std")]
    since: Option<std::time::Instant>,
}

/// What [`RequestTrace::before_poll`] found, for [`RequestTrace::after_poll`].
#[derive(Clone, Copy)]
pub(crate) enum Before {
    /// Nobody listens, nobody watches, and no `queued` event was emitted: the poll is
    /// not observed.
    Quiet,
    /// No `queued` event yet; whether its events are enabled, and the priority as they
    /// show it (if copied).
    Fresh {
        listening: bool,
        shown: Option<Shown>,
    },
    /// Its `queued` event was emitted: its end is reported.
    Queued,
}

impl Before {
    /// Whether the poll is observed at all (else [`RequestTrace::after_poll`] does nothing).
    #[inline(always)]
    pub(crate) fn is_quiet(&self) -> bool {
        matches!(self, Before::Quiet)
    }

    /// Whether a `queued` event would name the line's depth.
    pub(crate) fn wants_depth(&self) -> bool {
        matches!(
            self,
            Before::Fresh {
                listening: true,
                shown: Some(_)
            }
        )
    }
}

impl<P> Default for RequestTrace<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P> RequestTrace<P> {
    pub(crate) fn new() -> Self {
        Self {
            show: show_type::<P>,
            queued: None,
            #[cfg(feature = "std")]
            since: None,
        }
    }

    /// Shows the priority by value where its type allows.
    #[inline]
    pub(crate) fn show_values(&mut self)
    where
        P: 'static,
    {
        self.show = show_value::<P>;
    }

    /// The record of a request that replaces this one before its first poll (at the
    /// ambient priority, feature `std`).
    #[cfg(feature = "std")]
    pub(crate) fn renewed(&self) -> Self {
        Self {
            show: self.show,
            ..Self::new()
        }
    }

    /// Before a poll: whether it is observed. `watching` says whether the futurelock watch
    /// is on; `unqueued` gives the priority and the waiter's note while no list can reach
    /// them (before the request first queues), to copy the priority out.
    ///
    /// While nobody listens, two loads and a comparison, inlined.
    #[inline]
    pub(crate) fn before_poll<'a>(
        &mut self,
        watching: bool,
        unqueued: impl FnOnce() -> Option<(&'a P, &'a mut WaiterNote)>,
    ) -> Before
    where
        P: 'a,
    {
        if self.queued.is_none() && !may_listen() && !watching {
            return Before::Quiet;
        }
        self.before_observed_poll(watching, unqueued)
    }

    #[inline(never)]
    fn before_observed_poll<'a>(
        &mut self,
        watching: bool,
        unqueued: impl FnOnce() -> Option<(&'a P, &'a mut WaiterNote)>,
    ) -> Before
    where
        P: 'a,
    {
        if self.queued.is_some() {
            return Before::Queued;
        }
        // Fresh, or queued while nobody listened: events only if someone listens now, and
        // only for a request that is still fresh (its `queued` event comes first).
        let listening = tracing::enabled!(target: TARGET, tracing::Level::DEBUG);
        let shown = if listening || watching {
            unqueued().map(|(priority, note)| {
                let shown = (self.show)(priority);
                // For a futurelock warning, which the lock holder copies at the grant.
                note.set_shown(shown);
                shown
            })
        } else {
            None
        };
        Before::Fresh { listening, shown }
    }

    /// After an observed poll: its `queued`, `granted` or `failed` event. `semaphore` is
    /// the semaphore's address, `permits` the request's.
    ///
    /// The record is updated before the event is sent, so a subscriber that panics leaves
    /// it consistent; the core makes sure the panic loses no permit.
    #[inline(never)]
    pub(crate) fn after_poll(
        &mut self,
        before: Before,
        after: After,
        semaphore: *const (),
        permits: u32,
    ) {
        match (before, after) {
            (
                Before::Fresh {
                    listening: true,
                    shown: Some(priority),
                },
                After::Queued { depth },
            ) => {
                self.queued = Some(priority);
                #[cfg(feature = "std")]
                if tracing::enabled!(target: TARGET, tracing::Level::TRACE) {
                    self.since = Some(std::time::Instant::now());
                }
                tracing::trace!(
                    target: TARGET,
                    semaphore = ?semaphore,
                    ?priority,
                    permits,
                    depth,
                    "request queued"
                );
            }
            (Before::Queued, After::Granted { grants_waited }) => {
                let priority = self.queued.take().unwrap_or(Shown::UNKNOWN);
                #[cfg(feature = "std")]
                let waited = self.since.take().map(|since| since.elapsed());
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
            (Before::Queued, After::Failed) => {
                let priority = self.queued.take().unwrap_or(Shown::UNKNOWN);
                tracing::debug!(
                    target: TARGET,
                    semaphore = ?semaphore,
                    ?priority,
                    permits,
                    "request failed: semaphore closed"
                );
            }
            _ => {}
        }
    }

    /// After a queued request was cancelled: its `cancelled` event, if its `queued` event
    /// was emitted. `granted`: its permits had been handed over, and were handed on.
    #[inline]
    pub(crate) fn cancelled(&mut self, granted: bool, semaphore: *const (), permits: u32) {
        let Some(priority) = self.queued.take() else {
            return;
        };
        tracing::debug!(
            target: TARGET,
            semaphore = ?semaphore,
            ?priority,
            permits,
            granted,
            "request cancelled"
        );
    }
}

impl<P> fmt::Debug for RequestTrace<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestTrace")
            .field("queued", &self.queued)
            .finish_non_exhaustive()
    }
}

/// Whether any subscriber may want this crate's `DEBUG` or `TRACE` events: two loads and
/// two comparisons (the subscribers' global most verbose level), cheap enough to inline
/// into every poll. The full check for this crate's target runs out of line.
#[inline]
fn may_listen() -> bool {
    use tracing::level_filters::{LevelFilter, STATIC_MAX_LEVEL};
    tracing::Level::DEBUG <= STATIC_MAX_LEVEL && tracing::Level::DEBUG <= LevelFilter::current()
}

/// Before `close`: whether its event is enabled (then the core counts the requests it is
/// about to fail).
#[inline]
pub(crate) fn reports_close() -> bool {
    may_listen() && tracing::enabled!(target: TARGET, tracing::Level::DEBUG)
}

/// After `close`: the `semaphore closed` event.
#[inline]
pub(crate) fn closed(semaphore: *const (), waiters: usize) {
    tracing::debug!(
        target: TARGET,
        semaphore = ?semaphore,
        waiters,
        "semaphore closed"
    );
}
