//! What `{:?}` shows of a semaphore and of a request: the figures an operator reads in a
//! log line, so they must be the true ones.

use std::pin::pin;

use crate::common::{expect_ready, poll_noop};
use prio_semaphore::Semaphore;

#[test]
fn a_semaphore_shows_its_permits_and_flags() {
    let sem = Semaphore::new(2);
    assert_eq!(
        format!("{sem:?}"),
        "Semaphore { available_permits: 2, closed: false, waiting: false, .. }"
    );
    let held = sem.try_acquire_many(2).unwrap();
    let mut waiting = pin!(sem.acquire());
    assert!(poll_noop(waiting.as_mut()).is_pending());
    assert_eq!(
        format!("{sem:?}"),
        "Semaphore { available_permits: 0, closed: false, waiting: true, .. }"
    );
    sem.close();
    drop(held);
    assert_eq!(
        format!("{sem:?}"),
        "Semaphore { available_permits: 2, closed: true, waiting: false, .. }"
    );
    assert!(expect_ready(poll_noop(waiting.as_mut()), "closed").is_err());
}

#[test]
fn a_request_shows_its_permits_and_where_it_stands() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let mut request = pin!(sem.acquire_many(1));
    assert!(format!("{request:?}").contains("permits: 1, state: Idle"));
    assert!(poll_noop(request.as_mut()).is_pending());
    assert!(format!("{request:?}").contains("permits: 1, state: Linked"));
    drop(held);
    assert!(format!("{request:?}").contains("state: Granted"));
    drop(expect_ready(poll_noop(request.as_mut()), "granted").unwrap());
    assert!(format!("{request:?}").contains("state: Done"));
}

#[test]
fn an_owned_request_and_permit_name_their_own_types() {
    let sem = std::sync::Arc::new(Semaphore::new(1));
    let mut request = pin!(sem.clone().acquire_owned());
    assert!(format!("{request:?}").starts_with("AcquireOwned { permits: 1, state: Idle"));
    let permit = expect_ready(poll_noop(request.as_mut()), "free").unwrap();
    assert!(format!("{request:?}").starts_with("AcquireOwned {"));
    assert_eq!(format!("{permit:?}"), "OwnedPermit { permits: 1, .. }");
    let borrowed = pin!(sem.acquire());
    assert!(format!("{borrowed:?}").starts_with("Acquire { permits: 1"));
}
