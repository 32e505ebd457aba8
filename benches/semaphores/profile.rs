//! Profiling mode, `PRIO_SEM_PROFILE=<scenario>:<peer>`: one scenario in a loop for
//! callgrind or `perf`; the measured loops are the `profile_measure*` functions.

use std::future::Future;
use std::hint::black_box;
use std::pin::{pin, Pin};

use crate::b_tasks::{run_tasks, Mix};
use crate::c_churn::{churn_round, churn_slots, CHURN};
use crate::e_one_more::Shape;
use crate::peers::{for_each_peer, Peer};
use crate::shared::{noop_context, queue_waiters};

/// Runs one of the uncontended or newcomer scenarios. Its name must not match
/// `*profile_measure*`: callgrind toggles collection on every matching entry, so a nested
/// match would switch it off.
///
/// The measured loops for callgrind's `--toggle-collect=*profile_measure*`; each returns
/// the number of operations it ran. One function per scenario, so that one scenario's
/// code does not change how the others are compiled (register allocation over one big
/// `match` moved the uncontended acquire by ±20 instructions between builds).
fn measure_scenario<P: Peer>(sem: &P, scenario: &str) -> usize {
    match scenario {
        "try" => profile_measure_try(sem),
        "acquire" => profile_measure_acquire(sem),
        "acquire_priority" => profile_measure_acquire_priority(sem),
        _ => {
            let newcomer = scenario.parse::<i64>().expect("a newcomer priority");
            profile_measure_newcomer(sem, newcomer)
        }
    }
}

#[inline(never)]
fn profile_measure_try<P: Peer>(sem: &P) -> usize {
    for _ in 0..100_000 {
        drop(black_box(black_box(sem).try_acquire()));
    }
    100_000
}

#[inline(never)]
fn profile_measure_acquire<P: Peer>(sem: &P) -> usize {
    let mut cx = noop_context();
    for _ in 0..100_000 {
        let mut fut = pin!(black_box(sem).acquire());
        assert!(fut.as_mut().poll(&mut cx).is_ready());
    }
    100_000
}

#[inline(never)]
fn profile_measure_acquire_priority<P: Peer>(sem: &P) -> usize {
    let mut cx = noop_context();
    for _ in 0..100_000 {
        let mut fut = pin!(black_box(sem).acquire_prio(black_box(3)));
        assert!(fut.as_mut().poll(&mut cx).is_ready());
    }
    100_000
}

/// One more waiter (create, poll once, drop) behind a queue the caller built.
#[inline(never)]
fn profile_measure_newcomer<P: Peer>(sem: &P, newcomer: i64) -> usize {
    let mut cx = noop_context();
    for _ in 0..10_000 {
        let mut fut = pin!(black_box(sem).acquire_prio(black_box(newcomer)));
        assert!(fut.as_mut().poll(&mut cx).is_pending());
    }
    10_000
}

/// `profile_measure` for cancellation churn (slots allocated by the caller).
#[inline(never)]
fn profile_measure_churn<F: Future>(
    make: &impl Fn(i64) -> F,
    slots: &mut [Pin<Box<Option<F>>>],
) -> usize {
    let order: Vec<usize> = (0..CHURN).collect();
    let equal = vec![0; CHURN];
    for _ in 0..10 {
        churn_round(make, slots, &equal, &order);
    }
    10 * CHURN
}

/// `profile_measure` for the task workloads, which build their own semaphore.
#[inline(never)]
fn profile_measure_tasks<P: Peer>(priorities: &[Option<i64>]) -> usize {
    run_tasks::<P>(priorities);
    priorities.len()
}

fn profile<P: Peer>(scenario: &str) {
    let ops = match scenario {
        "tasks_equal" => profile_measure_tasks::<P>(&Mix::Equal.priorities()),
        "tasks_classes" => profile_measure_tasks::<P>(&Mix::TwoClasses.priorities()),
        "tasks_random" => profile_measure_tasks::<P>(&Mix::Random.priorities()),
        "try" | "acquire" | "acquire_priority" => measure_scenario(&P::with_permits(1), scenario),
        "churn" => {
            let sem = P::with_permits(1);
            let _held = sem.try_acquire().expect("a free permit");
            let make = |priority| sem.acquire_prio(priority);
            let mut slots = churn_slots(&make);
            profile_measure_churn(&make, &mut slots)
        }
        _ => {
            let (shape, depth) = if let Some(depth) = scenario.strip_prefix("existing_") {
                (Shape::ExistingClass, depth)
            } else if let Some(depth) = scenario.strip_prefix("new_") {
                (Shape::NewPriority, depth)
            } else {
                panic!("unknown scenario {scenario:?}");
            };
            let depth: usize = depth.parse().expect("a queue depth");
            let sem = P::with_permits(0);
            let make = |priority| sem.acquire_prio(priority);
            let _queued = queue_waiters(&make, shape.queued(depth));
            measure_scenario(&sem, &shape.newcomer(depth).to_string())
        }
    };
    println!("peer={} scenario={scenario} ops={ops}", P::NAME);
}

pub fn profile_one(spec: &str) {
    let (scenario, peer) = spec
        .split_once(':')
        .expect("PRIO_SEM_PROFILE=<scenario>:<peer>");
    fn pick<P: Peer>(peer: &str, scenario: &str, found: &mut bool) {
        if peer == P::NAME {
            profile::<P>(scenario);
            *found = true;
        }
    }
    let mut found = false;
    for_each_peer!(pick(peer, scenario, &mut found));
    assert!(found, "unknown peer {peer:?}");
}
