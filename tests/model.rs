//! Model-based property test: random sequences of acquires (random priorities from a small
//! range, so ties happen, and weights), polls, drops in every state, releases, `add_permits`,
//! `forget_permits`, `try_acquire` and `close`, run against the real semaphore and a
//! reference model of its contract in lockstep (see `model/lockstep.rs`), all on one
//! thread by polling the futures by hand.
//!
//! 256 cases by default (`PROPTEST_CASES` overrides: the full run is
//! `PROPTEST_CASES=10000 cargo test --release --test model`); under miri, 8 cases of at
//! most 20 steps (each step costs miri about a tenth of a second).

#[path = "model/lockstep.rs"]
mod lockstep;

#[path = "model/fair.rs"]
mod fair;

#[path = "model/shares.rs"]
mod shares;

use fair::{FairLockstep, FairOp};
use lockstep::{Lockstep, Op};
use prio_semaphore::fair::FairSemaphore;
use prio_semaphore::share::{Share, ShareSemaphore};
use prio_semaphore::Semaphore;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use shares::{ShareLockstep, ShareOp};

fn op() -> impl Strategy<Value = Op> {
    // Mostly 1..=3 permits (so weighted requests block those behind them), sometimes 0.
    let permits = prop_oneof![1 => Just(0_u32), 12 => 1..=3_u32];
    prop_oneof![
        12 => (0..3_i64, permits).prop_map(|(priority, permits)| Op::Create { priority, permits }),
        18 => (any::<usize>(), prop::bool::weighted(0.2))
            .prop_map(|(index, new_waker)| Op::Poll { index, new_waker }),
        6 => any::<usize>().prop_map(|index| Op::DropFuture { index }),
        8 => any::<usize>().prop_map(|index| Op::DropPermit { index }),
        1 => any::<usize>().prop_map(|index| Op::ForgetPermit { index }),
        5 => (0..4_usize).prop_map(Op::AddPermits),
        2 => (0..3_usize).prop_map(Op::ForgetPermits),
        4 => (0..4_u32).prop_map(Op::TryAcquire),
        // Rare, so most cases spend a while open first.
        1 => Just(Op::Close),
    ]
}

/// Strict priority most of the time; sometimes an overtake limit (0 is plain FIFO), with
/// feature `overtake-limit`.
fn overtake_limit() -> impl Strategy<Value = Option<usize>> {
    if cfg!(feature = "overtake-limit") {
        prop_oneof![3 => Just(None), 1 => (0..4_usize).prop_map(Some)].boxed()
    } else {
        Just(None).boxed()
    }
}

fn config() -> ProptestConfig {
    let defaults = ProptestConfig::default(); // honours PROPTEST_CASES, else 256 cases
    if cfg!(miri) {
        return ProptestConfig {
            cases: 8,
            failure_persistence: None, // miri's isolation forbids the file system
            ..defaults
        };
    }
    ProptestConfig {
        // Failing cases are kept in `tests/model.proptest-regressions`, replayed first.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..defaults
    }
}

/// Flow steps: a few priorities and flows (so levels and flows are shared), weights 1 to 4,
/// mostly 1 to 3 permits.
fn fair_op() -> impl Strategy<Value = FairOp> {
    let permits = prop_oneof![1 => Just(0_u32), 12 => 1..=3_u32];
    let flow = prop_oneof![1 => Just(None), 4 => (0..3_u8).prop_map(Some)];
    prop_oneof![
        12 => (0..2_i64, flow, 1..=4_u32, permits).prop_map(|(priority, flow, weight, permits)| {
            FairOp::Create { priority, flow, weight, permits }
        }),
        18 => any::<usize>().prop_map(|index| FairOp::Poll { index }),
        6 => any::<usize>().prop_map(|index| FairOp::DropFuture { index }),
        8 => any::<usize>().prop_map(|index| FairOp::DropPermit { index }),
        5 => (0..4_usize).prop_map(FairOp::AddPermits),
        1 => Just(FairOp::Close),
    ]
}

/// Share steps over two or three classes.
fn share_op() -> impl Strategy<Value = ShareOp> {
    let permits = prop_oneof![1 => Just(0_u32), 12 => 1..=3_u32];
    prop_oneof![
        12 => (0..3_usize, 0..2_i64, permits).prop_map(|(class, priority, permits)| {
            ShareOp::Create { class, priority, permits }
        }),
        18 => any::<usize>().prop_map(|index| ShareOp::Poll { index }),
        6 => any::<usize>().prop_map(|index| ShareOp::DropFuture { index }),
        8 => any::<usize>().prop_map(|index| ShareOp::DropPermit { index }),
        3 => (0..3_usize, 0..3_u32).prop_map(|(class, permits)| ShareOp::TryAcquire { class, permits }),
        4 => (0..4_usize).prop_map(ShareOp::AddPermits),
        1 => Just(ShareOp::Close),
    ]
}

/// Two or three classes: weights 0 to 4, some with a borrowing limit.
fn shares() -> impl Strategy<Value = Vec<(u32, Option<u32>)>> {
    prop::collection::vec((0..=4_u32, prop::option::of(0..=100_u32)), 2..=3)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn share_semaphore_matches_the_reference_model(
        permits in 0..6_usize,
        classes in shares(),
        ops in prop::collection::vec(share_op(), 1..if cfg!(miri) { 20 } else { 80 }),
    ) {
        let made: Vec<Share> = classes
            .iter()
            .map(|&(weight, limit)| match limit {
                Some(percent) => Share::new(weight).borrowing_limit(percent),
                None => Share::new(weight),
            })
            .collect();
        let sem = ShareSemaphore::new(permits, &made);
        let weights: Vec<u32> = classes.iter().map(|c| c.0).collect();
        let limits: Vec<Option<u32>> = classes.iter().map(|c| c.1).collect();
        ShareLockstep::new(&sem, permits, &weights, &limits).run(ops);
    }

    #[test]
    fn fair_semaphore_matches_the_reference_model(
        permits in 0..4_usize,
        ops in prop::collection::vec(fair_op(), 1..if cfg!(miri) { 20 } else { 80 }),
    ) {
        let sem = FairSemaphore::new(permits);
        FairLockstep::new(&sem, permits).run(ops);
    }

    #[test]
    fn semaphore_matches_the_reference_model(
        permits in 0..4_usize,
        limit in overtake_limit(),
        ops in prop::collection::vec(op(), 1..if cfg!(miri) { 20 } else { 80 }),
    ) {
        let sem = match limit {
            #[cfg(feature = "overtake-limit")]
            Some(limit) => Semaphore::new(permits).with_overtake_limit(limit),
            _ => Semaphore::new(permits),
        };
        Lockstep::new(&sem, permits, limit).run(ops);
    }
}

/// A fixed sequence through the trickiest hand-offs, so a regression shows up even with
/// few cases: a weighted front collecting permits, a more urgent arrival taking them back,
/// a granted waiter dropped before it is polled, and a close with a partial grant out.
#[test]
fn partial_grant_takeback_and_handoffs() {
    let sem = Semaphore::new(1);
    let mut run = Lockstep::new(&sem, 1, None);
    let poll = |index| Op::Poll {
        index,
        new_waker: false,
    };
    for op in [
        Op::Create {
            priority: 2,
            permits: 3,
        }, // #0 collects the free permit
        poll(0),
        Op::Create {
            priority: 1,
            permits: 1,
        }, // #1 arrives and takes it back
        poll(1),
        Op::Create {
            priority: 2,
            permits: 1,
        }, // #2 waits behind #0 (same priority)
        poll(1),
        Op::Create {
            priority: 0,
            permits: 2,
        }, // #3, the most urgent
        poll(2),
        Op::AddPermits(1),
        Op::TryAcquire(1),           // no barging past the line
        Op::DropPermit { index: 0 }, // #1's permit: #3 now has both
        Op::DropFuture { index: 3 }, // #3 granted but never polled: its 2 pass on to #0
        Op::Close,
        poll(0),
        poll(1),
    ] {
        run.step(op);
    }
    run.run([]);
}
