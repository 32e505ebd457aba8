//! The cost the `fair` module docs state ("Costs"), counted rather than timed: how many
//! times the priorities' `Ord` runs when one more request joins a `FairSemaphore`'s line.
//! One more request of a flow that already waits compares nothing, whatever the depth; a
//! flow's first request compares O(log flows) times.

use std::cell::Cell;
use std::cmp::Ordering;
use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Context, Waker};

use prio_semaphore::fair::FairSemaphore;

thread_local! {
    static COMPARISONS: Cell<usize> = const { Cell::new(0) };
}

/// A priority that counts how often it is compared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
struct Counted(i64);

impl PartialOrd for Counted {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Counted {
    fn cmp(&self, other: &Self) -> Ordering {
        COMPARISONS.with(|c| c.set(c.get() + 1));
        self.0.cmp(&other.0)
    }
}

fn comparisons() -> usize {
    COMPARISONS.with(Cell::get)
}

type Sem = FairSemaphore<u32, Counted>;

/// Queues `depth` requests of `flows` flows at priority 0 (and a few at other priorities
/// so the line has several levels), and returns them.
fn fill(sem: &Sem, depth: u32, flows: u32) -> Vec<Pin<Box<dyn Future<Output = ()> + '_>>> {
    let cx = &mut Context::from_waker(Waker::noop());
    (0..depth)
        .map(|i| {
            let priority = Counted(if i % 50 == 0 { i64::from(i % 7) - 3 } else { 0 });
            let flow = i % flows;
            let mut fut: Pin<Box<dyn Future<Output = ()> + '_>> = Box::pin(async move {
                let _ = sem
                    .acquire()
                    .priority(priority)
                    .flow(flow)
                    .weight(flow + 1)
                    .await;
            });
            assert!(fut.as_mut().poll(cx).is_pending());
            fut
        })
        .collect()
}

/// Comparisons made by the first poll of one more request of `flow` at priority 0.
fn cost_of_one_more(sem: &Sem, flow: u32) -> usize {
    let cx = &mut Context::from_waker(Waker::noop());
    let mut fut = pin!(sem.acquire().priority(Counted(0)).flow(flow));
    let before = comparisons();
    assert!(fut.as_mut().poll(cx).is_pending());
    comparisons() - before
}

#[test]
fn one_more_request_of_a_waiting_flow_compares_nothing_at_any_depth() {
    let depths: &[u32] = if cfg!(miri) {
        &[10, 100]
    } else {
        &[10, 1_000, 50_000]
    };
    for &depth in depths {
        let sem: Sem = FairSemaphore::new_generic(0);
        let queued = fill(&sem, depth, 8);
        assert_eq!(cost_of_one_more(&sem, 3), 0, "depth {depth}");
        drop(queued);
    }
}

#[test]
fn a_new_flow_compares_a_logarithm_of_the_flows_not_of_the_waiters() {
    let counts: &[u32] = if cfg!(miri) {
        &[4, 16]
    } else {
        &[4, 64, 1_024]
    };
    for &flows in counts {
        let sem: Sem = FairSemaphore::new_generic(0);
        // Ten waiters per flow: the line holds one run per flow (and a few of other
        // priorities), however many wait.
        let queued = fill(&sem, flows * 10, flows);
        let cost = cost_of_one_more(&sem, flows + 1);
        // A treap's expected depth is about 2 ln n; the bound leaves room for chance.
        let bound = 8 * (usize::BITS - (flows as usize + 8).leading_zeros()) as usize;
        assert!(
            cost <= bound,
            "{flows} flows: {cost} comparisons (bound {bound})"
        );
        drop(queued);
    }
}
