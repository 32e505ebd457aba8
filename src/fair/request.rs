//! The request both fair futures wrap ([`FairRequest`]): at its first poll it takes its
//! start tag from the clock and joins the core's line with it; when it completes or is
//! dropped it tells the clock.

use core::future::Future;
use core::mem;
use core::num::NonZeroU32;
use core::pin::Pin;
use core::task::{ready, Context, Poll};

use super::clock::{Assigned, Clock, Ticket};
use super::key::FairKey;
use super::store::Table;
use crate::error::AcquireError;
use crate::line_request::{LineProj, LineRequest};
use crate::lock::{Mutex, RawLock};
use crate::max_permits::MAX_PERMITS;
use crate::waitlist::LaneId;

/// How a fair request reaches its semaphore (a borrow or an `Arc`): the clock, and the
/// core's line it joins. Implemented beside `FairSemaphore` (`super::semaphore`).
pub(crate) trait FairHandle {
    type Key;
    type Priority;
    type Lock: RawLock;
    type Table: Table<Self::Priority, Self::Key>;
    /// The core's request the fair request wraps, and what it resolves to.
    type Line: Future<Output = Result<Self::Permit, AcquireError>>;
    type Permit;

    fn clock(&self) -> &Mutex<Self::Lock, Clock<Self::Table>>;

    /// The lane cells kept beside the table (`Table::Cells`).
    fn cells(&self) -> &<Self::Table as Table<Self::Priority, Self::Key>>::Cells;

    /// `permits` permits without waiting, if they are free and nobody waits (then the
    /// request needs no place in the fair order); `Some(Err)` if the line is closed.
    fn try_line(&self, permits: u32) -> Option<Result<Self::Permit, AcquireError>>;

    /// The core's request for `permits` permits at `key`, refused if `queue_limit` or more
    /// requests already wait (`Acquire::queue_limit`).
    fn line(&self, permits: u32, key: FairKey<Self::Priority>, queue_limit: usize) -> Self::Line;
}

/// Counts a request with the clock; the keys' code runs under the clock's lock, marked as
/// user code (so a key that uses the same semaphore panics instead of deadlocking, with
/// `std`).
fn assign<H: FairHandle>(
    sem: &H,
    priority: &H::Priority,
    flow: Option<H::Key>,
    permits: u32,
    weight: NonZeroU32,
) -> Assigned {
    let (clock, cells) = (sem.clock(), sem.cells());
    clock.with(|c| clock.running_user_code(|| c.assign(priority, flow, permits, weight, cells)))
}

/// Tells the clock how a counted request ended: served (`true`) or not.
fn finish<H: FairHandle>(sem: &H, ticket: &Ticket, served: bool) {
    sem.clock().with(|c| {
        if served {
            c.granted::<H::Priority, H::Key>(ticket);
        } else {
            c.withdrawn::<H::Priority, H::Key>(ticket);
        }
    });
}

/// Gives a withdrawn request's ticket back when dropped, unwinding or not.
struct GiveBack<'a, H: FairHandle> {
    sem: &'a H,
    ticket: Ticket,
}

impl<H: FairHandle> Drop for GiveBack<'_, H> {
    fn drop(&mut self) {
        finish(self.sem, &self.ticket, false);
    }
}

/// Where a fair request stands with the clock.
#[derive(Debug)]
enum Stage<P, K> {
    /// Not polled yet: what it will ask for.
    Unpolled {
        priority: Option<P>,
        flow: Option<K>,
        weight: NonZeroU32,
    },
    /// Counted by the clock, with its ticket to give back.
    Counted(Ticket),
    /// In the line but not counted (no permits asked for, or no slot in a full table), or
    /// completed, or its clock code panicked.
    Uncounted,
}

pin_project_lite::pin_project! {
    /// A request for permits of a `FairSemaphore` through the handle `H`.
    pub(crate) struct FairRequest<H: FairHandle> {
        sem: H,
        permits: u32,
        // For the core's request (`Acquire::queue_limit`), saturated to a `u32` beside
        // `permits`, so it costs no space: the core reads `u32::MAX - 1` and up as none.
        queue_limit: u32,
        stage: Stage<H::Priority, H::Key>,
        #[pin]
        line: LineRequest<H::Line>,
    }

    impl<H: FairHandle> PinnedDrop for FairRequest<H> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if let Stage::Counted(ticket) = mem::replace(this.stage, Stage::Uncounted) {
                // The core's request goes first (a queued one leaves the line, a granted
                // one hands its permits on), so that its flow and level, which the ticket
                // keeps, are its own for as long as it is in the line. The ticket goes back
                // even if that drop panics (a waker's drop is user code).
                let _give_back = GiveBack {
                    sem: &*this.sem,
                    ticket,
                };
                this.line.set(LineRequest::Idle);
            }
        }
    }
}

impl<H: FairHandle> FairRequest<H> {
    pub(crate) fn new(sem: H, permits: u32) -> Self {
        Self {
            sem,
            permits,
            queue_limit: u32::MAX,
            stage: Stage::Unpolled {
                priority: None,
                flow: None,
                weight: NonZeroU32::MIN,
            },
            line: LineRequest::Idle,
        }
    }

    fn unpolled(
        &mut self,
    ) -> (
        &mut Option<H::Priority>,
        &mut Option<H::Key>,
        &mut NonZeroU32,
    ) {
        match &mut self.stage {
            Stage::Unpolled {
                priority,
                flow,
                weight,
            } => (priority, flow, weight),
            _ => unreachable!("a builder method after the first poll"),
        }
    }

    pub(crate) fn set_priority(&mut self, priority: H::Priority) {
        *self.unpolled().0 = Some(priority);
    }

    pub(crate) fn set_flow(&mut self, flow: H::Key) {
        *self.unpolled().1 = Some(flow);
    }

    /// Sets the queue limit the core's request will get (see `Acquire::queue_limit`).
    pub(crate) fn set_queue_limit(&mut self, limit: usize) {
        self.queue_limit = u32::try_from(limit).unwrap_or(u32::MAX);
    }

    /// # Panics
    ///
    /// If `weight` is 0.
    pub(crate) fn set_weight(&mut self, weight: u32) {
        *self.unpolled().2 = NonZeroU32::new(weight).expect("a flow's weight must be at least 1");
    }

    pub(crate) fn fmt_as(&self, name: &str, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let stage = match self.stage {
            Stage::Unpolled { .. } => "unpolled",
            Stage::Counted(_) => "waiting",
            Stage::Uncounted if matches!(self.line, LineRequest::Waiting { .. }) => "waiting",
            Stage::Uncounted => "done",
        };
        f.debug_struct(name)
            .field("permits", &self.permits)
            .field("stage", &stage)
            .finish_non_exhaustive()
    }
}

impl<H> FairRequest<H>
where
    H: FairHandle,
    H::Priority: Default + Clone + 'static,
{
    pub(crate) fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<H::Permit, AcquireError>> {
        let mut this = self.project();
        if let Stage::Unpolled { .. } = this.stage {
            // Uncounted from here until the clock has counted it: if a key's code panics,
            // nothing is left to give back.
            let Stage::Unpolled {
                priority,
                flow,
                weight,
            } = mem::replace(this.stage, Stage::Uncounted)
            else {
                unreachable!()
            };
            let permits = *this.permits;
            if let Some(done) = this.sem.try_line(permits) {
                // Nobody waits: no place in the fair order to take, nothing to count.
                return Poll::Ready(done);
            }
            let priority = priority.unwrap_or_else(ambient_or_default);
            let (tag, ticket, lane) = if permits == 0 || permits as usize > MAX_PERMITS {
                // Granted or failed at once by the core: nothing to order.
                (0, None, LaneId::NONE)
            } else {
                assign(this.sem, &priority, flow, permits, weight)
            };
            if let Some(ticket) = ticket {
                *this.stage = Stage::Counted(ticket);
            }
            // A request the line refuses (`queue_limit`) ends below as one dropped: the
            // clock takes its tag back.
            let key = FairKey::new(priority, tag, lane);
            let request = this.sem.line(permits, key, *this.queue_limit as usize);
            this.line.set(LineRequest::Waiting { request });
        }
        let LineProj::Waiting { request } = this.line.project() else {
            panic!(
                "a fair acquire future polled after it completed, or after its flow key panicked"
            );
        };
        let result = ready!(request.poll(cx));
        if let Stage::Counted(ticket) = mem::replace(this.stage, Stage::Uncounted) {
            finish(this.sem, &ticket, result.is_ok());
        }
        Poll::Ready(result)
    }
}

/// The ambient priority (feature `std`) when the request is first polled, else the default.
fn ambient_or_default<P: Default + Clone + 'static>() -> P {
    #[cfg(feature = "std")]
    if let Some(priority) = crate::ambient::current_priority::<P>() {
        return priority;
    }
    P::default()
}
