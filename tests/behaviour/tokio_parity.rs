//! tokio parity: the `blocking_acquire*` names, and `.priority(p)` taking every integer a
//! caller is likely to have (saturating beyond the priority type's range).

use std::cmp::Reverse;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::thread;

use crate::common::{assert_exact, expect_ready, poll_with, FlagWaker};
use prio_semaphore::{priority_scope, FloatPriority, IntoPriority, Semaphore};

/// Spins (yielding) until `sem` has `n` waiters.
fn wait_for_waiters<P>(sem: &Semaphore<P>, n: usize) {
    for _ in 0..100_000_000u64 {
        if sem.waiter_count() == n {
            return;
        }
        thread::yield_now();
    }
    panic!("gave up waiting for {n} waiters");
}

#[test]
fn blocking_names_acquire_and_release() {
    let sem = Arc::new(Semaphore::new(5));
    let one = sem.blocking_acquire().unwrap();
    let three = sem.blocking_acquire_many(3).unwrap();
    assert_eq!((one.num_permits(), three.num_permits()), (1, 3));
    assert_eq!(sem.available_permits(), 1);
    drop((one, three));
    let owned = sem.clone().blocking_acquire_owned().unwrap();
    let owned_many = sem.clone().blocking_acquire_many_owned(4).unwrap();
    assert_eq!(sem.available_permits(), 0);
    drop((owned, owned_many));
    assert_exact(&sem, 5);
}

#[test]
fn blocking_names_report_closed_and_too_many() {
    let sem = Arc::new(Semaphore::new(1));
    assert!(sem
        .blocking_acquire_many(u32::MAX)
        .unwrap_err()
        .is_too_many_permits());
    assert!(sem
        .clone()
        .blocking_acquire_many_owned(u32::MAX)
        .unwrap_err()
        .is_too_many_permits());
    sem.close();
    assert!(sem.blocking_acquire().unwrap_err().is_closed());
    assert!(sem.blocking_acquire_many(1).unwrap_err().is_closed());
    assert!(sem
        .clone()
        .blocking_acquire_owned()
        .unwrap_err()
        .is_closed());
    assert!(sem
        .clone()
        .blocking_acquire_many_owned(1)
        .unwrap_err()
        .is_closed());
    assert_exact(&sem, 1);
}

/// Blocked threads using tokio's names queue by the ambient priority of their scope, and a
/// close wakes them with an error.
#[test]
fn blocking_names_wait_in_line_at_the_ambient_priority() {
    let sem = Arc::new(Semaphore::new(0));
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut threads = Vec::new();
    for (name, priority) in [("late", 9i64), ("urgent", 1), ("middle", 5)] {
        let (sem2, log2) = (sem.clone(), log.clone());
        let queued = sem.waiter_count();
        threads.push(thread::spawn(move || {
            priority_scope(priority, || {
                let permit = sem2.clone().blocking_acquire_owned().unwrap();
                log2.lock().unwrap().push(name);
                drop(permit);
            })
        }));
        wait_for_waiters(&sem, queued + 1);
    }
    sem.add_permits(1);
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(*log.lock().unwrap(), ["urgent", "middle", "late"]);

    let held = sem.try_acquire().unwrap();
    let sem2 = sem.clone();
    let blocked = thread::spawn(move || sem2.blocking_acquire_many(1).map(|p| p.num_permits()));
    wait_for_waiters(&sem, 1);
    sem.close();
    assert!(blocked.join().unwrap().unwrap_err().is_closed());
    drop(held);
    assert_exact(&sem, 1);
}

/// Every integer type compiles for the default `i64`, and queues where its value says.
#[test]
fn priority_takes_every_integer_type() {
    let sem = Semaphore::new(0);
    let (flag, waker) = FlagWaker::new();
    let mut requests = [
        pin!(sem.acquire().priority(usize::MAX)), // saturates to i64::MAX
        pin!(sem.acquire().priority(u64::MAX)),   // likewise; FIFO with the one above
        pin!(sem.acquire().priority(i128::MIN)),  // saturates to i64::MIN
        pin!(sem.acquire().priority(7usize)),
        pin!(sem.acquire().priority(6u64)),
        pin!(sem.acquire().priority(5u32)),
        pin!(sem.acquire().priority(4i128)),
        pin!(sem.acquire().priority(3isize)),
        pin!(sem.acquire().priority(2u8)),
        pin!(sem.acquire().priority(1i16)),
        pin!(sem.acquire().priority(-1)),
        pin!(sem.acquire().priority(u128::MAX)),
    ];
    for request in &mut requests {
        assert!(poll_with(request.as_mut(), &waker).is_pending());
    }
    // Expected service order, by index into `requests`.
    let order = [2, 10, 9, 8, 7, 6, 5, 4, 3, 0, 1, 11];
    for &next in &order {
        sem.add_permits(1);
        assert!(flag.woken());
        let permit = expect_ready(poll_with(requests[next].as_mut(), &waker), "next").unwrap();
        permit.forget(); // so the next `add_permits(1)` serves exactly one waiter
    }
    assert_eq!(sem.waiter_count(), 0);
}

#[test]
fn owned_priority_takes_usize_and_u64() {
    let sem = Arc::new(Semaphore::new(0));
    let (flag, waker) = FlagWaker::new();
    let mut last = pin!(sem.clone().acquire_owned().priority(u64::MAX));
    let mut first = pin!(sem.clone().acquire_owned().priority(3usize));
    assert!(poll_with(last.as_mut(), &waker).is_pending());
    assert!(poll_with(first.as_mut(), &waker).is_pending());
    sem.add_permits(1);
    assert!(flag.woken());
    let permit = expect_ready(poll_with(first.as_mut(), &waker), "first").unwrap();
    drop(permit);
    drop(expect_ready(poll_with(last.as_mut(), &waker), "last").unwrap());
}

#[test]
fn other_priority_types_keep_working() {
    futures::executor::block_on(async {
        // `Reverse`: larger first; takes a bare integer or a `Reverse`.
        let sem: Semaphore<Reverse<i64>> = Semaphore::new_generic(1);
        drop(sem.acquire().priority(Reverse(3)).await.unwrap());
        drop(sem.acquire().priority(3).await.unwrap());
        drop(sem.acquire().priority(u64::MAX).await.unwrap());

        // Floats.
        let sem: Semaphore<FloatPriority> = Semaphore::new_generic(1);
        drop(sem.acquire().priority(0.25).await.unwrap());
        drop(sem.acquire().priority(0.5f32).await.unwrap());
        drop(
            sem.acquire()
                .priority(FloatPriority(f64::NAN))
                .await
                .unwrap(),
        );

        // A user enum.
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        enum Urgency {
            High,
            #[default]
            Low,
        }
        let sem: Semaphore<Urgency> = Semaphore::new_generic(1);
        drop(sem.acquire().priority(Urgency::High).await.unwrap());
        drop(sem.acquire().priority(Urgency::Low).await.unwrap());

        // A small integer priority type takes wide values, saturating.
        let sem: Semaphore<u8> = Semaphore::new_generic(1);
        drop(sem.acquire().priority(1_000u32).await.unwrap());
        drop(sem.acquire().priority(-1).await.unwrap());
    });
    assert_eq!(IntoPriority::<u8>::into_priority(1_000u32), u8::MAX);
    assert_eq!(
        IntoPriority::<Reverse<i64>>::into_priority(usize::MAX),
        Reverse(i64::MAX)
    );
}

/// With `Reverse`, a saturated value still sorts where its sign says: `u64::MAX` (largest)
/// is served first.
#[test]
fn reverse_with_saturation_serves_the_largest_first() {
    let sem: Semaphore<Reverse<i64>> = Semaphore::new_generic(0);
    let (_flag, waker) = FlagWaker::new();
    let mut small = pin!(sem.acquire().priority(1u8));
    let mut huge = pin!(sem.acquire().priority(u64::MAX));
    assert!(poll_with(small.as_mut(), &waker).is_pending());
    assert!(poll_with(huge.as_mut(), &waker).is_pending());
    sem.add_permits(1);
    let permit = expect_ready(poll_with(huge.as_mut(), &waker), "huge").unwrap();
    assert!(poll_with(small.as_mut(), &waker).is_pending());
    drop(permit);
    drop(expect_ready(poll_with(small.as_mut(), &waker), "small").unwrap());
}
