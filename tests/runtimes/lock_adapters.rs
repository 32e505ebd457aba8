//! Bring your own lock: `EmbassyRawMutexLock` (feature `embassy-sync`) and
//! `ScopedRawMutexLock` (feature `mutex-traits`), on the host.
#![cfg(all(feature = "embassy-sync", feature = "mutex-traits"))]

use std::cell::UnsafeCell;
use std::cmp::Ordering;
use std::pin::pin;
use std::sync::Arc;
use std::thread;

use crate::common::{assert_exact, expect_panic, expect_ready, poll_noop, Gauge};
use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, NoopRawMutex};
use maitake_sync::spin::Spinlock;
use mutex_traits::{ConstInit, ScopedRawMutex};
use prio_semaphore::{EmbassyRawMutexLock, RawLock, ScopedRawMutexLock, Semaphore};

type EmbassyCs = EmbassyRawMutexLock<CriticalSectionRawMutex>;
type MaitakeSpin = ScopedRawMutexLock<Spinlock>;

/// A `ScopedRawMutex` that, like a critical section, lets a nested `with_lock` on the same
/// thread run: it is a critical section. The adapter must catch the nesting itself.
struct Nesting;

impl ConstInit for Nesting {
    const INIT: Self = Nesting;
}

// SAFETY: every closure runs inside `critical_section::with`, which (with the `std`
// implementation) excludes other threads with happens-before, and lets the same thread nest.
unsafe impl ScopedRawMutex for Nesting {
    fn try_with_lock<R>(&self, f: impl FnOnce() -> R) -> Option<R> {
        Some(self.with_lock(f))
    }
    fn with_lock<R>(&self, f: impl FnOnce() -> R) -> R {
        critical_section::with(|_| f())
    }
    fn is_locked(&self) -> bool {
        false
    }
}

/// Many threads add to a plain (non-atomic) counter under `L::with_lock`: every increment
/// survives only if the closures never overlap.
fn excludes_threads<L: RawLock + Sync + Send + 'static>(lock: L) {
    struct Shared<L> {
        lock: L,
        count: UnsafeCell<u64>,
    }
    // SAFETY: `count` is only touched inside `lock.with_lock`, which is what is under test.
    unsafe impl<L: Sync> Sync for Shared<L> {}

    const THREADS: u64 = 4;
    let rounds: u64 = if cfg!(miri) { 50 } else { 2_000 };
    let shared = Arc::new(Shared {
        lock,
        count: UnsafeCell::new(0),
    });
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let shared = shared.clone();
            thread::spawn(move || {
                for _ in 0..rounds {
                    shared.lock.with_lock(|| {
                        // SAFETY: inside the lock (the property under test).
                        unsafe {
                            let count = shared.count.get();
                            let seen = count.read_volatile();
                            thread::yield_now();
                            count.write_volatile(seen + 1);
                        }
                    });
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    shared.lock.with_lock(|| {
        // SAFETY: the threads are joined, and we hold the lock anyway.
        assert_eq!(unsafe { *shared.count.get() }, THREADS * rounds);
    });
}

#[test]
fn the_embassy_adapter_excludes_threads() {
    excludes_threads(EmbassyCs::INIT);
}

#[test]
fn the_mutex_traits_adapter_excludes_threads() {
    excludes_threads(MaitakeSpin::INIT);
    excludes_threads(ScopedRawMutexLock::<Nesting>::INIT);
}

/// The same scenario under every lock: priority order, FIFO among equals, exact counts.
fn serves_by_priority<L: RawLock>(sem: &Semaphore<i64, L>) {
    let held = sem.try_acquire().unwrap();
    let mut low = pin!(sem.acquire().priority(5));
    let mut first_high = pin!(sem.acquire().priority(1));
    let mut second_high = pin!(sem.acquire().priority(1));
    assert!(poll_noop(low.as_mut()).is_pending());
    assert!(poll_noop(first_high.as_mut()).is_pending());
    assert!(poll_noop(second_high.as_mut()).is_pending());
    assert!(sem.try_acquire().is_err(), "no barging past the waiters");
    drop(held);
    let permit = expect_ready(poll_noop(first_high.as_mut()), "first priority 1").unwrap();
    assert!(poll_noop(second_high.as_mut()).is_pending());
    assert!(poll_noop(low.as_mut()).is_pending());
    drop(permit);
    let permit = expect_ready(poll_noop(second_high.as_mut()), "second priority 1").unwrap();
    assert!(poll_noop(low.as_mut()).is_pending());
    drop(permit);
    drop(expect_ready(poll_noop(low.as_mut()), "priority 5").unwrap());
    assert_exact(sem, 1);
}

#[test]
fn static_semaphores_serve_by_priority_under_each_adapter() {
    static EMBASSY: Semaphore<i64, EmbassyCs> = Semaphore::new_generic(1);
    static MAITAKE: Semaphore<i64, MaitakeSpin> = Semaphore::new_generic(1);
    static NESTING: Semaphore<i64, ScopedRawMutexLock<Nesting>> = Semaphore::new_generic(1);
    serves_by_priority(&EMBASSY);
    serves_by_priority(&MAITAKE);
    serves_by_priority(&NESTING);
}

#[test]
fn a_noop_raw_mutex_semaphore_works_on_one_thread() {
    let sem: Semaphore<i64, EmbassyRawMutexLock<NoopRawMutex>> = Semaphore::new_generic(1);
    serves_by_priority(&sem);
}

#[test]
fn threads_share_a_semaphore_and_counts_stay_exact() {
    fn run<L: RawLock + Send + Sync + 'static>(sem: Semaphore<i64, L>) {
        const LIMIT: usize = 2;
        let rounds = if cfg!(miri) { 20 } else { 200 };
        sem.add_permits(LIMIT);
        let sem = Arc::new(sem);
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
    run(Semaphore::<i64, EmbassyCs>::new_generic(0));
    run(Semaphore::<i64, MaitakeSpin>::new_generic(0));
}

/// A priority whose comparison uses the semaphore it is queued in (`SEM`), re-entering its
/// lock; `13` triggers it. Also one whose comparison panics (`66`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Nosy<const WHICH: u8>(i32);

static NOSY_EMBASSY: Semaphore<Nosy<0>, EmbassyCs> = Semaphore::new_generic(0);
static NOSY_NESTING: Semaphore<Nosy<1>, ScopedRawMutexLock<Nesting>> = Semaphore::new_generic(0);

impl<const WHICH: u8> Ord for Nosy<WHICH> {
    fn cmp(&self, other: &Self) -> Ordering {
        if self.0 == 13 || other.0 == 13 {
            let _ = match WHICH {
                0 => NOSY_EMBASSY.waiter_count(),
                _ => NOSY_NESTING.waiter_count(),
            };
        }
        if self.0 == 66 || other.0 == 66 {
            panic!("a priority that panics");
        }
        self.0.cmp(&other.0)
    }
}

impl<const WHICH: u8> PartialOrd for Nosy<WHICH> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Nested use of the lock panics before touching the list; a panic under the lock releases
/// it; the semaphore stays usable and exact after both.
fn re_entry_and_panics_leave_it_usable<const W: u8, L: RawLock>(sem: &Semaphore<Nosy<W>, L>) {
    let mut first = pin!(sem.acquire().priority(Nosy(1)));
    assert!(poll_noop(first.as_mut()).is_pending());
    {
        let mut nosy = pin!(sem.acquire().priority(Nosy(13)));
        let msg = expect_panic(|| poll_noop(nosy.as_mut()));
        assert!(msg.contains("semaphore lock re-entered"), "{msg}");
    }
    {
        let mut panicky = pin!(sem.acquire().priority(Nosy(66)));
        let msg = expect_panic(|| poll_noop(panicky.as_mut()));
        assert!(msg.contains("a priority that panics"), "{msg}");
    }
    assert_eq!(sem.waiter_count(), 1, "neither panicking request queued");
    sem.add_permits(1);
    drop(expect_ready(poll_noop(first.as_mut()), "first").unwrap());
    assert_exact(sem, 1);
}

#[test]
fn re_entering_the_lock_panics_instead_of_aliasing() {
    // Both raw mutexes let the nested call through (critical sections nest), so the
    // adapters' own flag is what turns it into a panic.
    re_entry_and_panics_leave_it_usable(&NOSY_EMBASSY);
    re_entry_and_panics_leave_it_usable(&NOSY_NESTING);
}

#[test]
fn debug_names_the_raw_mutex() {
    let embassy = format!("{:?}", EmbassyCs::INIT);
    assert!(embassy.contains("CriticalSectionRawMutex"), "{embassy}");
    let maitake = format!("{:?}", MaitakeSpin::INIT);
    assert!(maitake.contains("Spinlock"), "{maitake}");
}
