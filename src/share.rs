//! Guaranteed shares between classes of requests: [`ShareSemaphore`].
//!
//! Strict priority lets realtime work take every permit forever; an overtake limit bounds
//! one waiter's wait but guarantees batch work no share of the throughput. A
//! [`ShareSemaphore`] gives each **class** (realtime, batch, ...) a **nominal share** of its
//! permits, as Kubernetes API Priority and Fairness gives priority levels a nominal share
//! of the server's concurrency, and Netflix's concurrency-limits partitions a limit by
//! percentage:
//!
//! ```
//! use prio_semaphore::share::{Share, ShareSemaphore};
//!
//! const REALTIME: usize = 0;
//! const BATCH: usize = 1;
//! // Realtime 75 %, batch 25 %, of 8 permits.
//! static MODEL: ShareSemaphore = ShareSemaphore::new(8, &[Share::new(75), Share::new(25)]);
//!
//! # futures::executor::block_on(async {
//! let permit = MODEL.acquire(BATCH).await.unwrap();
//! # drop(permit);
//! # });
//! ```
//!
//! # The rules
//!
//! When permits are free (released, added, or left by a request that gave up), they go to
//!
//! 1. classes that have waiters and hold less than their nominal share, lowest class
//!    number first, up to their share;
//! 2. then classes that have waiters and hold less than their cap, lowest class number
//!    first: capacity a class leaves idle is **borrowed** by the others. The cap is the
//!    share plus [`Share::borrowing_limit`] (APF's `borrowingLimitPercent`: a percentage of
//!    the nominal share), or every permit if no limit is set.
//!
//! So, with realtime at 75 % and batch at 25 % of 8 permits:
//!
//! * both flooding: 6 and 2 (a class's released permits come back to it while it is below
//!   its share);
//! * realtime idle: batch borrows all 8;
//! * realtime returns: every permit batch releases goes to realtime until realtime holds 6,
//!   so realtime is back at its share within one job time of the borrowed permits being
//!   released. Permits are never taken from a holder: a class that borrowed keeps them
//!   until it releases them.
//!
//! A request takes free permits at once only if no request of any class waits (so it
//! overtakes nobody) and its class stays within its cap. Within a class, requests wait in
//! its own line, by priority then arrival. A semaphore without shares is the plain
//! [`Semaphore`](crate::Semaphore): nothing of this runs there.
//!
//! Nominal shares are `permits × weight / Σ weights`, rounded down, with what rounding
//! leaves going one each to the first classes; they follow the total when permits are
//! added or forgotten. A class with weight 0 has no guaranteed share and only borrows.
//!
//! # How it works
//!
//! A layer above the core, because the decision depends on how much each class holds,
//! which no key fixed at enqueue time can express. Each class has a core
//! [`Semaphore`](crate::Semaphore) as its line, which holds only the permits handed to the
//! class; a dispatcher owns the rest, with its books (free permits, and per class its
//! nominal share, cap, permits assigned and permits asked for) behind a lock of its own.
//!
//! * A [`SharePermit`] dropped gives its permits to the **dispatcher**, not to its class.
//! * The dispatcher decides under its lock and books the decision, then, after unlocking
//!   (adding permits to a line wakes its waiters, user code), adds the permits to the
//!   chosen lines, where the core hands them to the waiters in order.
//! * Permits a line holds with nobody waiting there (its waiters left or were served
//!   meanwhile) are taken back at once with `forget_permits`, which can take only free
//!   permits, and a line has free permits only while nobody waits in it (the core's
//!   `WAITING` rule), so a waiter's permits are never taken. They are dispatched again.
//! * Whether a line has waiters is read from its permit word's `WAITING` bit, one load:
//!   the dispatcher never takes a line's lock under its own.
//!
//! Every event that can leave a waiter unserved while permits are free (a release, an
//! addition, a request queueing, a request leaving) runs the dispatcher after it, so none
//! is stranded; the loom models in `loom-tests/tests/share.rs` check those interleavings.
//!
//! # Costs
//!
//! Up to 8 classes, fixed: no allocation, `no_std`, and a `static` works; sizes are in the
//! crate docs ("Sizes"). A request that does not wait locks the books once; one that waits also joins its line
//! (the core's cost) and runs the dispatcher once; a release locks the books, and with
//! waiters adds permits to a line (the core's release). The dispatcher's decision is
//! O(classes).
//!
//! What is looser than a single line: a multi-permit request collecting permits in its
//! class's line keeps them there even when another class becomes due first (the partial
//! grant is the class's, not the dispatcher's), and between the dispatcher booking
//! permits for a line and a request of that class arriving, the request may take permits
//! parked there.

mod acquire;
mod class;
mod dispatch;
mod permit;
mod semaphore;

pub use acquire::ShareAcquire;
pub use class::Share;
pub use permit::SharePermit;
pub use semaphore::ShareSemaphore;
