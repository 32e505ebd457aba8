//! Unit tests of the wait list's structure, driven directly (no semaphore, no threads).

use std::boxed::Box;
use std::pin::Pin;
use std::task::Waker;
use std::vec::Vec;

use super::*;
use crate::loom::WAKE_BATCH;

/// A small deterministic generator, so failures reproduce.
pub(super) struct Rng(pub(super) u64);
impl Rng {
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn waiter(priority: i64, needed: u32) -> Pin<Box<Waiter<i64>>> {
    Box::pin(Waiter::new(priority, needed))
}

/// `OvertakeLimit::new(limit)` with feature `overtake-limit`, else none (the tests that
/// need a limit to act are compiled only with the feature).
fn limit(limit: usize) -> OvertakeLimit {
    #[cfg(feature = "overtake-limit")]
    return OvertakeLimit::new(limit);
    #[cfg(not(feature = "overtake-limit"))]
    {
        let _ = limit;
        OvertakeLimit::NONE
    }
}

/// A limit that keeps the arrival list (with the feature) but never acts in these tests:
/// the largest there is.
fn tracking() -> OvertakeLimit {
    limit(usize::MAX - 1)
}

const NONE: OvertakeLimit = OvertakeLimit::NONE;

fn push(list: &mut WaitList<i64>, w: &Pin<Box<Waiter<i64>>>) {
    // SAFETY: each test keeps its waiters alive past the list's last use of them, and
    // cancels or drains every waiter before dropping it.
    unsafe { list.enqueue(w.as_ref(), &mut Some(Waker::noop().clone()), tracking()) };
}

/// Serves waiters one permit at a time, returning their priorities in service order.
fn drain(list: &mut WaitList<i64>) -> Vec<i64> {
    let mut served = Vec::new();
    while let Some(front) = list.runs.first {
        // SAFETY: the front waiter is linked, hence alive.
        served.push(unsafe { (*node(front)).priority });
        let mut wakers = WakeBatch::new();
        list.add_surplus(1);
        assert_eq!(list.distribute(NONE, &mut wakers), Progress::Complete);
        list.assert_valid().assert_sorted();
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
        list.assert_valid().assert_sorted();
    }
    let order: Vec<i64> = list
        .assert_valid()
        .assert_sorted()
        .priorities()
        .copied()
        .collect();
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
        let arrivals = if track_arrivals { tracking() } else { NONE };
        for (i, w) in waiters.iter().enumerate() {
            // SAFETY: alive until the end of the round, drained before it ends.
            unsafe { list.enqueue(w.as_ref(), &mut Some(Waker::noop().clone()), arrivals) };
            #[cfg(feature = "overtake-limit")]
            assert_eq!(list.arrivals.is_kept(), track_arrivals);
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
            list.assert_valid().assert_sorted();
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
        list.assert_valid().assert_sorted();
        assert!(list.cancel(ws[3].as_ref()).is_some());
        list.assert_valid().assert_sorted();
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
    let mut wakers = WakeBatch::new();
    assert_eq!(list.distribute(NONE, &mut wakers), Progress::Complete);
    assert_eq!(list.grants.surplus, 0);
    list.assert_valid().assert_sorted();
    // A more urgent waiter arrives: the 4 parked permits come back and serve it first.
    let urgent = waiter(1, 3);
    push(&mut list, &urgent);
    list.assert_valid().assert_sorted();
    assert_eq!(list.distribute(NONE, &mut wakers), Progress::Complete);
    assert_eq!(urgent.state(), WaiterState::Granted);
    assert_eq!(big.state(), WaiterState::Linked);
    list.assert_valid().assert_sorted();
    assert_eq!(list.grants.partial, Some(NonNull::from(&*big)));
    assert_eq!(list.grants.assigned, 1);
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
    let mut wakers = WakeBatch::new();
    assert_eq!(list.distribute(NONE, &mut wakers), Progress::BatchFull);
    assert!(wakers.is_full());
    assert_eq!(list.len(), 3);
    assert_eq!(list.grants.surplus, 3);
    let mut wakers = WakeBatch::new();
    assert_eq!(list.distribute(NONE, &mut wakers), Progress::Complete);
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
    let mut wakers = WakeBatch::new();
    list.distribute(NONE, &mut wakers);
    assert_eq!(list.close_batch(&mut wakers), Progress::BatchFull);
    let mut wakers = WakeBatch::new();
    assert_eq!(list.close_batch(&mut wakers), Progress::Complete);
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
        unsafe { list.enqueue(w.as_ref(), &mut Some(Waker::noop().clone()), NONE) };
    }
    let bad = Box::pin(Waiter::new(Touchy(13), 1));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: as above; it must stay unlinked after the panic.
        unsafe { list.enqueue(bad.as_ref(), &mut Some(Waker::noop().clone()), NONE) };
    }));
    assert!(caught.is_err());
    assert_eq!(bad.state(), WaiterState::Idle);
    assert_eq!(list.assert_valid().assert_sorted().len(), 3);
    list.add_surplus(3);
    list.distribute(NONE, &mut WakeBatch::new());
    assert!(list.is_empty());
}

#[cfg(feature = "overtake-limit")]
/// Serves one permit at a time under an overtake limit, enqueueing a fresh urgent waiter
/// (priority 0) before every grant; returns how many urgent waiters were served before
/// the lone low-priority waiter.
fn urgent_grants_before_low(limit: usize) -> usize {
    urgent_grants_before_low_from(limit, 0)
}

#[cfg(feature = "overtake-limit")]
/// As [`urgent_grants_before_low`], with the list's grant clock starting at `clock`.
fn urgent_grants_before_low_from(limit: usize, clock: u32) -> usize {
    let mut list = WaitList::new();
    list.grants.clock = grants::GrantClock::at(clock);
    let low = waiter(10, 1);
    let urgent: Vec<_> = (0..limit + 5).map(|_| waiter(0, 1)).collect();
    push(&mut list, &low);
    for (overtakes, u) in urgent.iter().enumerate() {
        push(&mut list, u);
        list.assert_valid().assert_sorted();
        list.add_surplus(1);
        assert_eq!(
            list.distribute(OvertakeLimit::new(limit), &mut WakeBatch::new()),
            Progress::Complete
        );
        if low.state() == WaiterState::Granted {
            // Drain the rest so every waiter is unlinked before it is dropped.
            list.add_surplus(list.len());
            list.distribute(OvertakeLimit::new(limit), &mut WakeBatch::new());
            return overtakes;
        }
    }
    panic!("the low-priority waiter was starved");
}

#[test]
#[cfg(feature = "overtake-limit")]
fn overtake_limit_bounds_how_often_a_waiter_is_overtaken() {
    for limit in [0, 1, 3, 8] {
        assert_eq!(urgent_grants_before_low(limit), limit, "limit {limit}");
    }
}

#[test]
#[cfg(feature = "overtake-limit")]
fn the_overtake_limit_holds_across_the_grant_clock_wrapping() {
    for start in [u32::MAX - 3, u32::MAX, 0] {
        for limit in [0, 1, 3, 8] {
            assert_eq!(
                urgent_grants_before_low_from(limit, start),
                limit,
                "limit {limit} from clock {start}"
            );
        }
    }
}

#[test]
#[cfg(feature = "overtake-limit")]
fn an_aged_waiter_takes_back_a_partial_grant_from_the_priority_front() {
    let mut list = WaitList::new();
    let old = waiter(9, 1);
    push(&mut list, &old);
    let big = waiter(0, 5);
    push(&mut list, &big);
    // One grant has happened since `old` arrived once `first` is served, so with limit 1
    // `old` is due; meanwhile `big` collects a partial grant as the priority front.
    list.add_surplus(2);
    list.distribute(OvertakeLimit::new(1), &mut WakeBatch::new());
    assert_eq!(big.state(), WaiterState::Linked);
    assert_eq!(old.state(), WaiterState::Linked);
    list.assert_valid().assert_sorted();
    let filler = waiter(0, 1);
    push(&mut list, &filler);
    list.grants.clock.tick(); // as if another waiter had been granted
    list.distribute(OvertakeLimit::new(1), &mut WakeBatch::new());
    // `old` is now the front: `big`'s 2 parked permits move to it.
    assert_eq!(old.state(), WaiterState::Granted);
    list.assert_valid().assert_sorted();
    // SAFETY: linked in this list.
    unsafe {
        list.cancel(big.as_ref());
        list.cancel(filler.as_ref());
    }
    assert_eq!(list.take_surplus(), 1, "2 parked - 1 for `old` = 1 left");
}

/// A priority whose comparisons are coin tosses: the structure must stay valid whatever
/// the answers, and every waiter must stay reachable.
#[derive(Debug, Clone)]
struct CoinToss(std::rc::Rc<core::cell::Cell<u64>>);

impl Ord for CoinToss {
    fn cmp(&self, _: &Self) -> core::cmp::Ordering {
        let mut rng = Rng(self.0.get());
        let answer = rng.below(3);
        self.0.set(rng.0);
        [
            core::cmp::Ordering::Less,
            core::cmp::Ordering::Equal,
            core::cmp::Ordering::Greater,
        ][answer as usize]
    }
}

impl PartialOrd for CoinToss {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for CoinToss {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for CoinToss {}

#[test]
fn random_comparisons_keep_the_structure_and_reach_every_waiter() {
    let rounds = if cfg!(miri) { 4 } else { 200 };
    for seed in 1..=rounds {
        let toss = CoinToss(std::rc::Rc::new(core::cell::Cell::new(seed * 0x9E37_79B9)));
        let mut rng = Rng(seed);
        let mut list = WaitList::new();
        let n = if cfg!(miri) { 16 } else { 64 };
        let waiters: Vec<_> = (0..n)
            .map(|_| Box::pin(Waiter::new(toss.clone(), 1 + rng.below(2) as u32)))
            .collect();
        // Even seeds keep an arrival list, with a limit that acts (feature permitting).
        let arrivals = if seed % 2 == 0 { limit(2) } else { NONE };
        let mut linked = 0;
        for w in &waiters {
            // SAFETY: alive until the end of the round; drained or cancelled before it.
            unsafe { list.enqueue(w.as_ref(), &mut Some(Waker::noop().clone()), arrivals) };
            linked += 1;
            if rng.below(4) == 0 {
                let victim = &waiters[rng.below(n) as usize];
                // SAFETY: linked in this list or in none.
                if unsafe { list.cancel(victim.as_ref()) }.is_some() {
                    linked -= 1;
                }
            }
            if rng.below(3) == 0 {
                list.add_surplus(1);
                let mut wakers = WakeBatch::new();
                list.distribute(arrivals, &mut wakers);
            }
            assert_eq!(list.assert_valid().len(), list.len());
        }
        let granted = waiters
            .iter()
            .filter(|w| w.state() == WaiterState::Granted)
            .count();
        assert_eq!(list.len(), linked - granted, "seed {seed}");
        // Enough permits for everyone: every linked waiter is reached and granted.
        list.add_surplus(2 * n as usize);
        loop {
            let mut wakers = WakeBatch::new();
            if list.distribute(NONE, &mut wakers) == Progress::Complete {
                break;
            }
        }
        assert!(list.is_empty(), "seed {seed}: {} stranded", list.len());
        assert_eq!(list.len(), 0);
        assert!(waiters.iter().all(|w| w.state() != WaiterState::Linked));
    }
}

/// The case that corrupts a list that trusts two comparisons to agree: compared with the
/// front, the new waiter says "after"; on the walk down it says "before", and lands in the
/// front's left slot.
/// It must then become the front, not hide below it.
#[test]
fn a_contradicting_answer_on_the_walk_down_makes_the_new_waiter_the_front() {
    #[derive(Debug)]
    struct Scripted(core::cell::RefCell<std::collections::VecDeque<core::cmp::Ordering>>);
    impl Ord for Scripted {
        fn cmp(&self, _: &Self) -> core::cmp::Ordering {
            self.0
                .borrow_mut()
                .pop_front()
                .unwrap_or(core::cmp::Ordering::Less)
        }
    }
    impl PartialOrd for Scripted {
        fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    impl PartialEq for Scripted {
        fn eq(&self, _: &Self) -> bool {
            false
        }
    }
    impl Eq for Scripted {}
    let script = |answers: &[core::cmp::Ordering]| {
        Scripted(core::cell::RefCell::new(answers.iter().copied().collect()))
    };
    use core::cmp::Ordering::{Greater, Less};
    let mut list = WaitList::new();
    let front = Box::pin(Waiter::new(script(&[]), 1));
    let liar = Box::pin(Waiter::new(script(&[Greater, Less]), 1));
    let urgent = Box::pin(Waiter::new(script(&[Less]), 1));
    for w in [&front, &liar, &urgent] {
        // SAFETY: alive for the whole test, drained at the end.
        unsafe { list.enqueue(w.as_ref(), &mut Some(Waker::noop().clone()), NONE) };
        list.assert_valid();
    }
    assert_eq!(list.assert_valid().len(), 3);
    assert_eq!(list.runs.first, Some(NonNull::from(&*urgent)));
    list.add_surplus(3);
    assert_eq!(
        list.distribute(NONE, &mut WakeBatch::new()),
        Progress::Complete
    );
    for w in [&front, &liar, &urgent] {
        assert_eq!(w.state(), WaiterState::Granted);
    }
}

/// The treap's depth over `link`.
fn depth(link: Link<i64>) -> usize {
    match link {
        None => 0,
        // SAFETY: tests walk only linked, hence live, waiters of a list they own.
        Some(w) => unsafe { 1 + depth((*node(w)).left).max(depth((*node(w)).right)) },
    }
}

/// Priorities arriving in ascending order are the worst case of a plain search tree (a
/// list of n levels); the random treap keys keep the treap O(log d) deep.
#[test]
fn ascending_priorities_keep_the_tree_logarithmically_deep() {
    let n: u32 = if cfg!(miri) { 256 } else { 4096 };
    let mut list = WaitList::new();
    let waiters: Vec<_> = (0..n).map(|p| waiter(i64::from(p), 1)).collect();
    for w in &waiters {
        push(&mut list, w);
    }
    let log2 = n.ilog2() as usize;
    let depth = depth(list.runs.root);
    assert!(depth <= 4 * log2, "depth {depth} for {n} runs");
    list.add_surplus(n as usize);
    list.distribute(NONE, &mut WakeBatch::new());
    while !list.is_empty() {
        list.distribute(NONE, &mut WakeBatch::new());
    }
}
