//! `CriticalSectionLock`, tested on the host with `critical-section`'s `std` implementation.
#![cfg(feature = "critical-section")]

use std::cmp::Ordering;
use std::pin::pin;
use std::sync::Arc;
use std::thread;

use crate::common::{assert_exact, expect_panic, expect_ready, poll_noop, Gauge};
use prio_semaphore::{CriticalSectionLock, Semaphore};

type CsSemaphore<P = i64> = Semaphore<P, CriticalSectionLock>;

#[test]
fn a_static_semaphore_works_as_usual() {
    static SEM: CsSemaphore = Semaphore::new_generic(1);
    let held = SEM.try_acquire().unwrap();
    let mut low = pin!(SEM.acquire().priority(5));
    let mut high = pin!(SEM.acquire().priority(1));
    assert!(poll_noop(low.as_mut()).is_pending());
    assert!(poll_noop(high.as_mut()).is_pending());
    drop(held);
    let permit = expect_ready(poll_noop(high.as_mut()), "priority 1").unwrap();
    assert!(poll_noop(low.as_mut()).is_pending());
    drop(permit);
    drop(expect_ready(poll_noop(low.as_mut()), "priority 5").unwrap());
    assert_exact(&SEM, 1);
}

#[test]
fn it_can_be_used_inside_an_enclosing_critical_section() {
    // As in an interrupt handler, or any code that already masks interrupts.
    let sem: CsSemaphore = Semaphore::new_generic(2);
    let permit = critical_section::with(|_| {
        let permit = sem.try_acquire().unwrap();
        sem.add_permits(1);
        assert_eq!(sem.waiter_count(), 0);
        permit
    });
    assert_eq!(sem.available_permits(), 2);
    drop(permit);
    assert_exact(&sem, 3);
}

#[test]
fn threads_are_excluded_and_counts_stay_exact() {
    const LIMIT: usize = 2;
    let rounds = if cfg!(miri) { 20 } else { 200 };
    let sem: Arc<CsSemaphore> = Arc::new(Semaphore::new_generic(LIMIT));
    let inside = Arc::new(Gauge::default());
    let threads: Vec<_> = (0..4_i64)
        .map(|t| {
            let (sem, inside) = (sem.clone(), inside.clone());
            thread::spawn(move || {
                for i in 0..rounds {
                    let _permit = sem.acquire().priority((t + i) % 3).wait().unwrap();
                    let _inside = inside.enter();
                    thread::yield_now();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert!(inside.max() <= LIMIT);
    assert_exact(&sem, LIMIT);
}

/// A priority whose comparison uses the semaphore it is queued in, re-entering its lock.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Nosy(i32);

static NOSY: CsSemaphore<Nosy> = Semaphore::new_generic(0);

impl Ord for Nosy {
    fn cmp(&self, other: &Self) -> Ordering {
        if self.0 == 13 || other.0 == 13 {
            let _ = NOSY.waiter_count();
        }
        self.0.cmp(&other.0)
    }
}

impl PartialOrd for Nosy {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[test]
fn re_entering_the_lock_panics_instead_of_aliasing_and_leaves_the_semaphore_usable() {
    let mut first = pin!(NOSY.acquire().priority(Nosy(1)));
    assert!(poll_noop(first.as_mut()).is_pending());
    {
        let mut nosy = pin!(NOSY.acquire().priority(Nosy(13)));
        let msg = expect_panic(|| poll_noop(nosy.as_mut()));
        assert!(msg.contains("semaphore lock re-entered"), "{msg}");
    }
    assert_eq!(NOSY.waiter_count(), 1, "the panicking request never queued");
    NOSY.add_permits(1);
    drop(expect_ready(poll_noop(first.as_mut()), "first").unwrap());
    assert_exact(&NOSY, 1);
}
