//! Unit tests of lane mode (`treap::lanes`): the runs of a list are a fair semaphore's
//! flows, driven directly with a key that names its lane, against a reference model.

use std::boxed::Box;
use std::pin::Pin;
use std::task::Waker;
use std::vec::Vec;

use super::tests::Rng;
use super::*;

/// A fair-style key: ordered by `(priority, tag)`, naming its lane beside (and, for the
/// model only, its arrival).
#[derive(Debug, Clone, Copy)]
struct Key {
    priority: i64,
    tag: u64,
    lane: LaneId,
    arrival: u32,
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        (self.priority, self.tag) == (other.priority, other.tag)
    }
}
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        (self.priority, self.tag).cmp(&(other.priority, other.tag))
    }
}

fn lane_of(key: &Key) -> Option<Lane> {
    key.lane.is_some().then_some(Lane {
        id: key.lane,
        tag: key.tag,
    })
}

const LEVELS: usize = 3;
const FLOWS: usize = 4;

/// The lanes' cells (one per level and flow) and what the model needs of each waiter.
struct Bench {
    cells: Box<[LaneCell]>,
    finish: [u64; LEVELS * FLOWS],
    seq: u32,
}

impl Bench {
    fn new(seq: u32) -> Self {
        Self {
            cells: (0..LEVELS * FLOWS).map(|_| LaneCell::new()).collect(),
            finish: [0; LEVELS * FLOWS],
            seq,
        }
    }

    /// A waiter of flow `flow` at priority `level`, its tag after its flow's last. Without
    /// a flow, as a fair semaphore's full table makes them: of its level but in no lane
    /// (any tag), or, at a priority of its own (`LEVELS`), in no level.
    fn waiter(
        &mut self,
        rng: &mut Rng,
        level: usize,
        flow: Option<usize>,
    ) -> Pin<Box<Waiter<Key>>> {
        self.seq = self.seq.wrapping_add(1);
        let (priority, tag, lane) = match flow {
            Some(flow) => {
                let lane = level * FLOWS + flow;
                self.finish[lane] += 1 + rng.below(3);
                let cell = Some(NonNull::from(&self.cells[lane]));
                (level, self.finish[lane], Some(cell))
            }
            None if rng.below(2) == 0 => (level, rng.below(20), Some(None)),
            None => (LEVELS, rng.below(20), None),
        };
        let lane = match lane {
            Some(cell) => LaneId {
                cell,
                level: priority as u32,
                seq: self.seq,
            },
            None => LaneId::NONE,
        };
        let key = Key {
            priority: priority as i64,
            tag,
            lane,
            arrival: self.seq,
        };
        Box::pin(Waiter::new(key, 1))
    }
}

fn key(w: &Pin<Box<Waiter<Key>>>) -> Key {
    // SAFETY: the waiter is alive; its priority is never written while linked.
    unsafe { (*node(NonNull::from(&**w))).priority }
}

/// The order a fair line serves in: priority, tag, then arrival (wrapping).
fn served_before(a: &Key, b: &Key) -> bool {
    (a.priority, a.tag) < (b.priority, b.tag)
        || ((a.priority, a.tag) == (b.priority, b.tag)
            && (a.arrival.wrapping_sub(b.arrival) as i32) < 0)
}

/// Every lane's cell points to the head of the one run that holds all of its waiters.
fn assert_lanes(list: &WaitList<Key>, bench: &Bench) {
    let walk = list.assert_valid();
    assert_eq!(walk.len(), list.len());
    // SAFETY: the list is exclusively borrowed; every linked waiter is alive.
    unsafe {
        for (i, cell) in bench.cells.iter().enumerate() {
            let head = cell.head_for_tests();
            let mut members = 0;
            let mut run = list.runs.first;
            while let Some(h) = run {
                let mut w = h;
                loop {
                    let lane = (*node(w)).priority.lane;
                    if lane.cell == Some(NonNull::from(cell)) {
                        members += 1;
                        assert_eq!(head.map(NonNull::cast), Some(h), "lane {i}: its run's head");
                    }
                    w = (*node(w)).next.unwrap();
                    if w == h {
                        break;
                    }
                }
                run = treap::Treap::successor(h);
            }
            assert_eq!(head.is_some(), members > 0, "lane {i}: a cell iff waiters");
        }
    }
}

#[test]
fn lanes_serve_in_fair_order_through_joins_cancels_and_grants() {
    let rounds = if cfg!(miri) { 4 } else { 60 };
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..rounds {
        // Half the rounds start the arrival numbers just below wrapping.
        let mut bench = Bench::new(if round % 2 == 0 { 0 } else { u32::MAX - 20 });
        let mut list: WaitList<Key> = WaitList::new();
        // SAFETY: the cells live in `bench` (or `cells`) past the list's last use, and
        // keys keep their lanes.
        unsafe { list.set_lanes(lane_of) };
        let steps = if cfg!(miri) { 60 } else { 400 };
        let mut waiters: Vec<Pin<Box<Waiter<Key>>>> = Vec::new();
        let mut linked: Vec<usize> = Vec::new();
        for _ in 0..steps {
            match rng.below(10) {
                0..=4 => {
                    let level = rng.below(LEVELS as u64) as usize;
                    let flow = (rng.below(8) != 0).then(|| rng.below(FLOWS as u64) as usize);
                    waiters.push(bench.waiter(&mut rng, level, flow));
                    let w = waiters.last().unwrap();
                    // SAFETY: every waiter lives until the end of the round, and is
                    // cancelled or served before it.
                    unsafe {
                        list.enqueue(
                            w.as_ref(),
                            &mut Some(Waker::noop().clone()),
                            OvertakeLimit::NONE,
                        )
                    };
                    linked.push(waiters.len() - 1);
                }
                5..=6 if !linked.is_empty() => {
                    let victim = linked.swap_remove(rng.below(linked.len() as u64) as usize);
                    // SAFETY: linked in this list.
                    assert!(unsafe { list.cancel(waiters[victim].as_ref()) }.is_some());
                }
                _ if !linked.is_empty() => {
                    let expected = *linked
                        .iter()
                        .min_by(|&&a, &&b| {
                            let (a, b) = (key(&waiters[a]), key(&waiters[b]));
                            if served_before(&a, &b) {
                                core::cmp::Ordering::Less
                            } else {
                                core::cmp::Ordering::Greater
                            }
                        })
                        .unwrap();
                    list.add_surplus(1);
                    assert_eq!(
                        list.distribute(OvertakeLimit::NONE, &mut WakeBatch::new()),
                        Progress::Complete
                    );
                    assert_eq!(
                        waiters[expected].state(),
                        WaiterState::Granted,
                        "round {round}: {:?}",
                        key(&waiters[expected])
                    );
                    linked.retain(|&i| i != expected);
                }
                _ => {}
            }
            assert_lanes(&list, &bench);
        }
        while let Some(victim) = linked.pop() {
            // SAFETY: linked in this list.
            assert!(unsafe { list.cancel(waiters[victim].as_ref()) }.is_some());
            assert_lanes(&list, &bench);
        }
        assert!(list.is_empty());
    }
}

/// One flow of many waiters beside others: the tree holds one run per flow, so its depth
/// follows the flows, not the waiters.
#[test]
fn the_tree_holds_one_run_per_lane() {
    let mut rng = Rng(7);
    let mut bench = Bench::new(0);
    let mut list: WaitList<Key> = WaitList::new();
    // SAFETY: the cells live in `bench` past the list's last use, and keys keep their
    // lanes.
    unsafe { list.set_lanes(lane_of) };
    let n = if cfg!(miri) { 50 } else { 2_000 };
    let waiters: Vec<_> = (0..n)
        .map(|i| bench.waiter(&mut rng, 0, Some(i % 3)))
        .collect();
    for w in &waiters {
        // SAFETY: as in the test above.
        unsafe {
            list.enqueue(
                w.as_ref(),
                &mut Some(Waker::noop().clone()),
                OvertakeLimit::NONE,
            )
        };
    }
    let mut runs = 0;
    let mut run = list.runs.first;
    while let Some(h) = run {
        runs += 1;
        // SAFETY: linked, alive.
        run = unsafe { treap::Treap::successor(h) };
    }
    assert_eq!((runs, list.len()), (3, n));
    let mut order: Vec<Key> = Vec::new();
    while let Some(front) = list.runs.first {
        // SAFETY: linked, alive.
        order.push(unsafe { (*node(front)).priority });
        list.add_surplus(1);
        list.distribute(OvertakeLimit::NONE, &mut WakeBatch::new());
    }
    assert!(
        order.windows(2).all(|p| served_before(&p[0], &p[1])),
        "served in fair order"
    );
}
