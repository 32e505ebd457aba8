//! `Semaphore::summary`, `snapshot_into` and `snapshot`: exact figures in each state of
//! the line, with an `Ord` that lies, and without allocating or comparing.

use std::cmp::Ordering;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::task::{Context, Poll, Waker};

use crate::common::counting_alloc::allocations;
use prio_semaphore::{ClassInfo, PartialGrant, Semaphore, Summary};

fn poll<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

/// `(priority, waiters, permits)` of the classes `snapshot_into` wrote.
fn classes<P: Copy + Default>(
    sem: &Semaphore<P>,
    room: usize,
) -> (Summary, Vec<(P, usize, usize)>) {
    let mut buf = vec![ClassInfo::default(); room];
    let summary = sem.snapshot_into(&mut buf);
    let written = buf[..summary.classes]
        .iter()
        .map(|c| (c.priority, c.waiters, c.permits))
        .collect();
    (summary, written)
}

#[test]
fn empty_semaphore() {
    let sem = Semaphore::new(5);
    let (s, c) = classes(&sem, 4);
    assert!(c.is_empty());
    assert_eq!((s.available, s.held, s.in_transit, s.waiters), (5, 0, 0, 0));
    assert_eq!(
        (s.classes, s.more_classes, s.partial, s.closed),
        (0, false, None, false)
    );
    assert_eq!(s.oldest_overtaken, None);
    assert_eq!(sem.summary(), s);
    let held = sem.try_acquire_many(3).unwrap();
    assert_eq!((sem.summary().available, sem.summary().held), (2, 3));
    held.forget();
    assert_eq!((sem.summary().available, sem.summary().held), (2, 0));
}

#[test]
fn classes_in_service_order_with_counts_and_permits() {
    let sem = Semaphore::new(0);
    let mut futs: Vec<_> = [(10, 1), (0, 2), (10, 3), (-5, 1), (0, 1), (7, 4)]
        .into_iter()
        .map(|(p, n)| Box::pin(sem.acquire_many(n).priority(p)))
        .collect();
    for f in &mut futs {
        assert!(poll(f.as_mut()).is_pending());
    }
    let (s, c) = classes(&sem, 8);
    assert_eq!(c, [(-5, 1, 1), (0, 2, 3), (7, 1, 4), (10, 2, 4)]);
    assert_eq!((s.waiters, s.classes, s.more_classes), (6, 4, false));
    // A buffer smaller than the line: the first classes, and a flag.
    let (s, c) = classes(&sem, 2);
    assert_eq!(c, [(-5, 1, 1), (0, 2, 3)]);
    assert_eq!((s.waiters, s.classes, s.more_classes), (6, 2, true));
    let (s, c) = classes(&sem, 0);
    assert_eq!((c.len(), s.more_classes), (0, true));
    // Cancelling a waiter in the middle of a class, then the whole front class.
    drop(futs.remove(4)); // (0, 1)
    drop(futs.remove(3)); // (-5, 1)
    assert_eq!(classes(&sem, 8).1, [(0, 1, 2), (7, 1, 4), (10, 2, 4)]);
    let snap = sem.snapshot();
    assert_eq!(snap.summary.classes, 3);
    assert_eq!(
        snap.classes
            .iter()
            .map(|c| (c.priority, c.waiters, c.permits))
            .collect::<Vec<_>>(),
        [(0, 1, 2), (7, 1, 4), (10, 2, 4)]
    );
    assert_eq!(
        snap.to_string(),
        "available 0, held 0, waiters 4, closed: no\n  priority 0: 1 waiters, 2 permits\
         \n  priority 7: 1 waiters, 4 permits\n  priority 10: 2 waiters, 4 permits"
    );
}

#[test]
fn the_allocating_snapshot_grows_past_its_first_buffer() {
    let sem = Semaphore::new(0);
    let mut futs: Vec<_> = (0..40)
        .rev()
        .map(|p| Box::pin(sem.acquire().priority(p)))
        .collect();
    for f in &mut futs {
        assert!(poll(f.as_mut()).is_pending());
    }
    let snap = sem.snapshot();
    assert_eq!(snap.classes.len(), 40);
    assert_eq!(
        (snap.summary.classes, snap.summary.more_classes),
        (40, false)
    );
    assert!(snap
        .classes
        .iter()
        .enumerate()
        .all(|(i, c)| c.priority == i as i64 && c.waiters == 1));
}

#[test]
fn partial_grant_and_its_move_to_a_more_urgent_request() {
    let sem = Semaphore::new(2);
    let held = sem.try_acquire().unwrap();
    let mut big = pin!(sem.acquire_many(3).priority(5));
    assert!(poll(big.as_mut()).is_pending());
    let s = sem.summary();
    assert_eq!(s.partial, Some(partial(1, 3)));
    assert_eq!((s.available, s.held, s.in_transit, s.waiters), (0, 1, 0, 1));
    drop(held);
    let s = sem.summary();
    assert_eq!(s.partial, Some(partial(2, 3)));
    assert_eq!((s.available, s.held), (0, 0));

    // A more urgent request takes the collected permits back from the large one, at once
    // (its first poll queues it, and the settle that follows grants it).
    let mut urgent = pin!(sem.acquire_many(2).priority(0));
    let permit = match poll(urgent.as_mut()) {
        Poll::Ready(Ok(permit)) => permit,
        other => panic!("urgent request not granted: {other:?}"),
    };
    let (s, c) = classes(&sem, 4);
    assert_eq!(c, [(5, 1, 3)]);
    assert_eq!((s.partial, s.available, s.held, s.waiters), (None, 0, 2, 1));
    sem.add_permits(1);
    let s = sem.summary();
    assert_eq!(
        (s.partial, s.available, s.held),
        (Some(partial(1, 3)), 0, 2)
    );
    drop(permit);
    let s = sem.summary();
    assert_eq!((s.partial, s.available, s.held, s.waiters), (None, 0, 3, 0));
}

fn partial(holds: usize, needs: usize) -> PartialGrant {
    let s = {
        let sem = Semaphore::new(holds);
        let mut f = pin!(sem.acquire_many(needs as u32));
        assert!(poll(f.as_mut()).is_pending());
        sem.summary()
    };
    s.partial.unwrap()
}

#[test]
#[cfg(feature = "overtake-limit")]
fn overtake_counter_counts_grants_to_others_then_resets() {
    let sem = Semaphore::new(0).with_overtake_limit(3);
    let mut batch = pin!(sem.acquire().priority(10));
    assert!(poll(batch.as_mut()).is_pending());
    assert_eq!(sem.summary().oldest_overtaken, Some(0));
    let mut urgent: Vec<_> = (0..5)
        .map(|_| Box::pin(sem.acquire().priority(0)))
        .collect();
    for f in &mut urgent {
        assert!(poll(f.as_mut()).is_pending());
    }
    assert_eq!(classes(&sem, 4).1, [(0, 5, 5), (10, 1, 1)]);
    for overtaken in 1..=3 {
        sem.add_permits(1);
        assert_eq!(sem.summary().oldest_overtaken, Some(overtaken));
    }
    // Overtaken 3 times: the batch request is served next, ahead of priority 0.
    sem.add_permits(1);
    let Poll::Ready(Ok(_permit)) = poll(batch.as_mut()) else {
        panic!("the aged request is served first")
    };
    // The oldest is now the 4th urgent request: it queued before any grant and has seen
    // four (three urgent ones and the batch's), so it is due next whatever its priority.
    let s = sem.summary();
    assert_eq!((s.oldest_overtaken, s.waiters, s.held), (Some(4), 2, 4));
    // Without a limit the counter is not kept.
    let plain = Semaphore::new(0);
    let mut w = pin!(plain.acquire());
    assert!(poll(w.as_mut()).is_pending());
    assert_eq!(plain.summary().oldest_overtaken, None);
}

#[test]
fn closed_semaphore() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let mut a = pin!(sem.acquire_many(2).priority(1));
    assert!(poll(a.as_mut()).is_pending());
    sem.close();
    let (s, c) = classes(&sem, 4);
    assert!(c.is_empty());
    assert_eq!(
        (s.closed, s.waiters, s.partial, s.available, s.held),
        (true, 0, None, 0, 1)
    );
    drop(held);
    let s = sem.summary();
    assert_eq!((s.available, s.held), (1, 0));
}

static COMPARISONS: AtomicUsize = AtomicUsize::new(0);

/// A priority whose `Ord` answers by a coin toss and counts its calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Liar(u8);

impl Ord for Liar {
    fn cmp(&self, _: &Self) -> Ordering {
        let n = COMPARISONS.fetch_add(1, Relaxed);
        [Ordering::Less, Ordering::Equal, Ordering::Greater][(n * 7 + n / 3) % 3]
    }
}
impl PartialOrd for Liar {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[test]
fn a_lying_ord_neither_hides_waiters_nor_is_asked() {
    let sem: Semaphore<Liar> = Semaphore::new_generic(0);
    let mut futs: Vec<_> = (0..30u8)
        .map(|i| Box::pin(sem.acquire_many(u32::from(i % 4) + 1).priority(Liar(i % 5))))
        .collect();
    for f in &mut futs {
        assert!(poll(f.as_mut()).is_pending());
    }
    let check = |sem: &Semaphore<Liar>, waiters: usize, permits: usize| {
        let before = COMPARISONS.load(Relaxed);
        let mut buf = [ClassInfo::default(); 64];
        let s = sem.snapshot_into(&mut buf);
        assert_eq!(
            COMPARISONS.load(Relaxed),
            before,
            "a snapshot compares nothing"
        );
        let listed = &buf[..s.classes];
        assert!(!s.more_classes);
        assert_eq!(listed.iter().map(|c| c.waiters).sum::<usize>(), waiters);
        assert_eq!(listed.iter().map(|c| c.permits).sum::<usize>(), permits);
        assert_eq!(s.waiters, waiters);
        assert_eq!(sem.snapshot().classes.as_slice(), listed);
    };
    let total: usize = (0..30).map(|i| i % 4 + 1).sum();
    check(&sem, 30, total);
    // Cancel every third, then serve some.
    let mut left = (30, total);
    for i in (0..30).rev().step_by(3) {
        drop(futs.remove(i));
        left = (left.0 - 1, left.1 - (i % 4 + 1));
    }
    check(&sem, left.0, left.1);
    sem.close();
    check(&sem, 0, 0);
}

#[test]
fn snapshot_into_never_allocates() {
    let sem = Semaphore::new(0);
    let mut futs: Vec<_> = (0..20)
        .map(|p| Box::pin(sem.acquire().priority(p % 6)))
        .collect();
    for f in &mut futs {
        assert!(poll(f.as_mut()).is_pending());
    }
    let mut buf = [ClassInfo::default(); 8];
    let before = allocations();
    let s = sem.snapshot_into(&mut buf);
    let _ = sem.summary();
    assert_eq!(allocations(), before);
    assert_eq!(s.classes, 6);
}
