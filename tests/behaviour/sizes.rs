//! The sizes the docs report (crate docs, "Sizes"), on 64-bit targets: a future that grows
//! makes every task that awaits it grow, so a change must be deliberate.

#![cfg(all(target_pointer_width = "64", feature = "alloc"))]

use std::mem::size_of;

use prio_semaphore::{
    Acquire, AcquireError, AcquireOwned, OwnedPermit, Permit, PollSemaphore, Semaphore,
};

#[test]
fn futures_permits_and_the_semaphore_have_the_documented_sizes() {
    // With `overtake-limit`, each request carries its arrival links (and the list their
    // ends and a grant clock). With `tracing`, each request keeps what its events show;
    // with `std` as well, also when it queued, and the semaphore carries the futurelock
    // watch.
    let limit = cfg!(feature = "overtake-limit");
    let (semaphore, request) = match (cfg!(feature = "tracing"), cfg!(feature = "std")) {
        (false, _) if limit => (112, 104),
        (false, _) => (80, 88),
        (true, false) if limit => (112, 136),
        (true, false) => (88, 120),
        (true, true) if limit => (1944, 184),
        (true, true) => (1920, 168),
    };
    assert_eq!(size_of::<Semaphore>(), semaphore);
    assert_eq!(size_of::<Acquire<'static>>(), request);
    assert_eq!(size_of::<AcquireOwned>(), request);
    // The priority's own size is lost in the node's alignment for small types.
    assert_eq!(size_of::<Acquire<'static, u8>>(), request);
    assert_eq!(size_of::<Permit<'static>>(), 16);
    assert_eq!(size_of::<OwnedPermit>(), 16);
    // What `acquire().await` returns, held across awaits by most tasks: the error fits
    // beside the permit's count, so the result is no bigger than the permit (as tokio's).
    assert_eq!(size_of::<AcquireError>(), 8);
    assert_eq!(size_of::<Result<Permit<'static>, AcquireError>>(), 16);
    assert_eq!(size_of::<Result<OwnedPermit, AcquireError>>(), 16);
    assert_eq!(size_of::<PollSemaphore>(), 56);
}

/// The fair-share layers (`fair` and `share` module docs, "Costs"): they leave the core's
/// futures as they are, and add to the core request they wrap what they ask for until
/// their first poll (a fair request: its priority, flow key, weight and ticket) and the
/// way back to their semaphore.
#[test]
fn the_fair_share_layers_have_the_documented_sizes() {
    use prio_semaphore::fair::{FairAcquire, FairKey, FairSemaphore, HashFlows};
    use prio_semaphore::share::{ShareAcquire, ShareSemaphore};

    let fair = size_of::<FairAcquire<'static, u64, i64, HashFlows>>();
    let line = size_of::<Acquire<'static, FairKey<i64>>>();
    assert_eq!(fair - line, 56);
    let share = size_of::<ShareAcquire<'static>>();
    assert_eq!(share - size_of::<Acquire<'static>>(), 40);
    if !cfg!(feature = "overtake-limit") && !cfg!(feature = "tracing") {
        assert_eq!((line, fair, share), (112, 168, 128));
        assert_eq!(size_of::<FairSemaphore>(), 256);
        assert_eq!(size_of::<ShareSemaphore>(), 1040);
    }
}
