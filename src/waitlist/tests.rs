//! Unit tests of the wait list's structure, driven directly (no semaphore, no threads).

use std::boxed::Box;
use std::pin::Pin;
use std::task::Waker;
use std::vec::Vec;

use super::*;
use crate::loom::WAKE_BATCH;

/// A small deterministic generator, so failures reproduce.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn waiter(priority: i64, needed: u32) -> Pin<Box<Waiter<i64>>> {
    Box::pin(Waiter::new(priority, needed))
}

fn push(list: &mut WaitList<i64>, w: &Pin<Box<Waiter<i64>>>) {
    // SAFETY: each test keeps its waiters alive past the list's last use of them, and
    // cancels or drains every waiter before dropping it.
    unsafe { list.enqueue(w.as_ref(), &mut Some(Waker::noop().clone()), true) };
}

/// Serves waiters one permit at a time, returning their priorities in service order.
fn drain(list: &mut WaitList<i64>) -> Vec<i64> {
    let mut served = Vec::new();
    while let Some(front) = list.first {
        // SAFETY: the front waiter is linked, hence alive.
        served.push(unsafe { (*node(front)).priority });
        let mut wakers = WakeList::new();
        list.add_surplus(1);
        assert_eq!(list.distribute(usize::MAX, &mut wakers), Distributed::Done);
        list.check();
    }
    served
}

#[test]
fn serves_by_priority_then_arrival() {
    let mut list = WaitList::new();
    let prios = [5, 3, 9, 3, 1, 5, 1, 7];
    let waiters: Vec<_> = prios.iter().map(|&p| waiter(p, 1)).collect();
    for w in &waiters {
        push(&mut list, w);
        list.check();
    }
    let order: Vec<i64> = list.check().into_iter().map(|(_, p)| *p).collect();
    assert_eq!(order, [1, 1, 3, 3, 5, 5, 7, 9]);
    assert_eq!(drain(&mut list), [1, 1, 3, 3, 5, 5, 7, 9]);
    assert!(waiters.iter().all(|w| w.state() == WaiterState::Granted));
}

#[test]
fn random_enqueue_cancel_keeps_every_invariant() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    // Miri is ~1000x slower; a few rounds still cover every tree shape change.
    let (rounds, max_len) = if cfg!(miri) { (6, 40) } else { (40, 200) };
    for round in 0..rounds {
        let mut list = WaitList::new();
        let n = 1 + rng.below(max_len) as usize;
        let distinct = 1 + rng.below(if round % 2 == 0 { 4 } else { 1000 });
        let waiters: Vec<_> = (0..n)
            .map(|_| waiter(rng.below(distinct) as i64, 1))
            .collect();
        // Reference: (priority, arrival) of still-linked waiters.
        let mut model: Vec<(i64, usize)> = Vec::new();
        // Half the rounds keep no arrival list (as without an overtake limit), with both
        // few and many distinct priorities.
        let track_arrivals = round % 4 < 2;
        for (i, w) in waiters.iter().enumerate() {
            // SAFETY: alive until the end of the round, drained before it ends.
            unsafe { list.enqueue(w.as_ref(), &mut Some(Waker::noop().clone()), track_arrivals) };
            assert_eq!(list.oldest.is_some(), track_arrivals);
            // SAFETY: just linked, alive.
            model.push((unsafe { (*node(NonNull::from(&**w))).priority }, i));
            if rng.below(3) == 0 {
                let victim = rng.below(i as u64 + 1) as usize;
                // SAFETY: the victim is linked in this list or unlinked.
                let was_linked = unsafe { list.cancel(waiters[victim].as_ref()) }.is_some();
                let pos = model.iter().position(|&(_, a)| a == victim);
                assert_eq!(was_linked, pos.is_some());
                if let Some(pos) = pos {
                    model.remove(pos);
                }
            }
            list.check();
        }
        model.sort();
        let expected: Vec<i64> = model.iter().map(|&(p, _)| p).collect();
        assert_eq!(drain(&mut list), expected);
        assert_eq!(list.len(), 0);
    }
}

#[test]
fn cancelling_the_head_promotes_its_run_and_keeps_arrival_order() {
    let mut list = WaitList::new();
    let ws: Vec<_> = [2, 2, 2, 1, 3].iter().map(|&p| waiter(p, 1)).collect();
    for w in &ws {
        push(&mut list, w);
    }
    // Cancel the head of the run of 2s, then the lone 1 (the front).
    // SAFETY: linked in this list.
    unsafe {
        assert!(list.cancel(ws[0].as_ref()).is_some());
        list.check();
        assert!(list.cancel(ws[3].as_ref()).is_some());
        list.check();
        assert!(
            list.cancel(ws[3].as_ref()).is_none(),
            "second cancel is a no-op"
        );
    }
    assert_eq!(drain(&mut list), [2, 2, 3]);
    // Served in arrival order within the run.
    assert_eq!(ws[1].state(), WaiterState::Granted);
    assert_eq!(ws[2].state(), WaiterState::Granted);
}

#[test]
fn a_new_front_takes_back_the_old_fronts_partial_grant() {
    let mut list = WaitList::new();
    let big = waiter(5, 10);
    push(&mut list, &big);
    list.add_surplus(4);
    let mut wakers = WakeList::new();
    assert_eq!(list.distribute(usize::MAX, &mut wakers), Distributed::Done);
    assert_eq!(list.surplus, 0);
    list.check();
    // A more urgent waiter arrives: the 4 parked permits come back and serve it first.
    let urgent = waiter(1, 3);
    push(&mut list, &urgent);
    list.check();
    assert_eq!(list.distribute(usize::MAX, &mut wakers), Distributed::Done);
    assert_eq!(urgent.state(), WaiterState::Granted);
    assert_eq!(big.state(), WaiterState::Linked);
    list.check();
    // SAFETY: `big` is linked here.
    assert_eq!(unsafe { (*node(NonNull::from(&*big))).assigned }, 1);
    // SAFETY: linked in this list.
    unsafe { list.cancel(big.as_ref()) };
    assert_eq!(
        list.take_surplus(),
        1,
        "a cancelled partial grant returns to the surplus"
    );
}

#[test]
fn distribute_stops_at_a_full_wake_batch() {
    let mut list = WaitList::new();
    let ws: Vec<_> = (0..WAKE_BATCH + 3).map(|i| waiter(i as i64, 1)).collect();
    for w in &ws {
        push(&mut list, w);
    }
    list.add_surplus(ws.len());
    let mut wakers = WakeList::new();
    assert_eq!(
        list.distribute(usize::MAX, &mut wakers),
        Distributed::BatchFull
    );
    assert!(wakers.is_full());
    assert_eq!(list.len(), 3);
    assert_eq!(list.surplus, 3);
    let mut wakers = WakeList::new();
    assert_eq!(list.distribute(usize::MAX, &mut wakers), Distributed::Done);
    assert!(list.is_empty());
}

#[test]
fn close_batch_unlinks_everyone_and_returns_partial_grants() {
    let mut list = WaitList::new();
    let ws: Vec<_> = (0..WAKE_BATCH + 1)
        .map(|i| waiter(i as i64 % 3, 2))
        .collect();
    for w in &ws {
        push(&mut list, w);
    }
    list.add_surplus(1);
    let mut wakers = WakeList::new();
    list.distribute(usize::MAX, &mut wakers);
    assert_eq!(list.close_batch(&mut wakers), Distributed::BatchFull);
    let mut wakers = WakeList::new();
    assert_eq!(list.close_batch(&mut wakers), Distributed::Done);
    assert!(list.is_empty());
    assert_eq!(list.take_surplus(), 1);
    assert!(ws.iter().all(|w| w.state() == WaiterState::Closed));
}

#[test]
fn panicking_ord_leaves_the_list_unchanged() {
    #[derive(Debug, PartialEq, Eq)]
    struct Touchy(i64);
    impl PartialOrd for Touchy {
        fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Touchy {
        fn cmp(&self, other: &Self) -> core::cmp::Ordering {
            assert!(self.0 != 13 && other.0 != 13, "unlucky priority");
            self.0.cmp(&other.0)
        }
    }
    let mut list = WaitList::new();
    let ws: Vec<_> = [4, 2, 8]
        .iter()
        .map(|&p| Box::pin(Waiter::new(Touchy(p), 1)))
        .collect();
    for w in &ws {
        // SAFETY: alive for the whole test, drained at the end.
        unsafe { list.enqueue(w.as_ref(), &mut Some(Waker::noop().clone()), false) };
    }
    let bad = Box::pin(Waiter::new(Touchy(13), 1));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: as above; it must stay unlinked after the panic.
        unsafe { list.enqueue(bad.as_ref(), &mut Some(Waker::noop().clone()), false) };
    }));
    assert!(caught.is_err());
    assert_eq!(bad.state(), WaiterState::Idle);
    assert_eq!(list.check().len(), 3);
    list.add_surplus(3);
    list.distribute(usize::MAX, &mut WakeList::new());
    assert!(list.is_empty());
}

/// Serves one permit at a time under an overtake limit, enqueueing a fresh urgent waiter
/// (priority 0) before every grant; returns how many urgent waiters were served before
/// the lone low-priority waiter.
fn urgent_grants_before_low(limit: usize) -> usize {
    let mut list = WaitList::new();
    let low = waiter(10, 1);
    let urgent: Vec<_> = (0..limit + 5).map(|_| waiter(0, 1)).collect();
    push(&mut list, &low);
    for (overtakes, u) in urgent.iter().enumerate() {
        push(&mut list, u);
        list.check();
        list.add_surplus(1);
        assert_eq!(
            list.distribute(limit, &mut WakeList::new()),
            Distributed::Done
        );
        if low.state() == WaiterState::Granted {
            // Drain the rest so every waiter is unlinked before it is dropped.
            list.add_surplus(list.len());
            list.distribute(limit, &mut WakeList::new());
            return overtakes;
        }
    }
    panic!("the low-priority waiter was starved");
}

#[test]
fn overtake_limit_bounds_how_often_a_waiter_is_overtaken() {
    for limit in [0, 1, 3, 8] {
        assert_eq!(urgent_grants_before_low(limit), limit, "limit {limit}");
    }
}

#[test]
fn an_aged_waiter_takes_back_a_partial_grant_from_the_priority_front() {
    let mut list = WaitList::new();
    let old = waiter(9, 1);
    push(&mut list, &old);
    let big = waiter(0, 5);
    push(&mut list, &big);
    // One grant has happened since `old` arrived once `first` is served, so with limit 1
    // `old` is due; meanwhile `big` collects a partial grant as the priority front.
    list.add_surplus(2);
    list.distribute(1, &mut WakeList::new());
    assert_eq!(big.state(), WaiterState::Linked);
    assert_eq!(old.state(), WaiterState::Linked);
    list.check();
    let filler = waiter(0, 1);
    push(&mut list, &filler);
    list.grants = list.grants.wrapping_add(1); // as if another waiter had been granted
    list.distribute(1, &mut WakeList::new());
    // `old` is now the front: `big`'s 2 parked permits move to it.
    assert_eq!(old.state(), WaiterState::Granted);
    list.check();
    // SAFETY: linked in this list.
    unsafe {
        list.cancel(big.as_ref());
        list.cancel(filler.as_ref());
    }
    assert_eq!(list.take_surplus(), 1, "2 parked - 1 for `old` = 1 left");
}
