//! Diagnostics beside the core: `tracing` events (feature `tracing`) and the futurelock
//! watch (features `std` and `tracing`). They are leaves: the core holds their state and
//! calls them through the narrow hooks below, with plain facts, and they never call back
//! into it. Where their features are off, every type here is zero-sized and every hook
//! does nothing (`diag/off.rs`), so the core names them without a `cfg`.
//!
//! | file | its one job |
//! |---|---|
//! | `diag/shown.rs` | `Shown`, a priority as events show it, and the events' target |
//! | `diag/trace.rs` | [`RequestTrace`], the events of one request, and those of `close` |
//! | `diag/hazard.rs` | [`Watch`], [`GrantNotes`], [`WaiterNote`]: the futurelock watch |
//! | `diag/after.rs` | [`After`], how an observed poll ended, as the core reports it |
//! | `diag/off.rs` | the zero-sized stand-ins |
//!
//! # The hooks
//!
//! | where the core calls it | hook |
//! |---|---|
//! | before a poll (`raw/acquire.rs`) | [`RequestTrace::before_poll`] |
//! | after an observed poll, once its permits are accounted for | [`RequestTrace::after_poll`], [`Watch::claimed`], [`Watch::check`] |
//! | at a grant, under the lock (`waitlist.rs`) | [`GrantNotes::on_grant`] |
//! | at the end of a locked operation, under the lock, then after it (`raw/settle.rs`) | [`GrantNotes::take`], [`Watch::absorb`] |
//! | after a queued request is cancelled | [`Watch::claimed`], [`RequestTrace::cancelled`], [`Watch::check`] |
//! | after a release that took the lock | [`Watch::check`] |
//! | around `close` | [`reports_close`], [`closed`] |
//!
//! # Panics
//!
//! A subscriber is user code and may panic in any event. The hooks that send events
//! (`before_poll`, `after_poll`, `cancelled`, `check`, `reports_close`, `closed`) are
//! called only where the operation has finished its work on the semaphore, or has not
//! started it, and where a panic loses nothing: after a poll that took permits the core
//! holds a guard that gives them back if the hook unwinds (`raw/acquire.rs`); after a
//! cancellation or a release the permits have been handed on and the wakers woken. The
//! hooks under the lock (`on_grant`, `take`) and `absorb` and `claimed` send no event.

mod after;
#[cfg(all(feature = "std", feature = "tracing"))]
mod hazard;
mod off;
#[cfg(feature = "tracing")]
mod shown;
#[cfg(feature = "tracing")]
mod trace;

#[cfg(not(all(feature = "std", feature = "tracing")))]
use off::hazard;
#[cfg(not(feature = "tracing"))]
use off::trace;

pub(crate) use after::After;
pub(crate) use hazard::{GrantNotes, WaiterNote, Watch};
pub(crate) use trace::{closed, reports_close, Before, RequestTrace};
