//! Property test of the contract that holds for *any* priority and waker: random operation
//! sequences on a semaphore whose priorities answer comparisons from a random script
//! (contradictions, answers that change between calls, panics) and whose wakers use the
//! semaphore from `clone`, `wake` and `drop` (see `hostile/interp.rs`). Checked: no panic
//! but the `Ord`'s own, exact counts, and every request served once permits are free.
//!
//! 256 cases by default (`PROPTEST_CASES` overrides); under miri, 8 cases of at most 24
//! steps. The fuzz target `fuzz/fuzz_targets/hostile.rs` runs the same interpreter.

use crate::interp::{Answer, Hostile, Op};
use proptest::prelude::*;

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        // Mostly "before" and "after": contradictions between the check of the front and
        // the walk down the tree are what a list that trusts them to agree corrupts on.
        4 => Just(Answer::Less),
        1 => Just(Answer::Equal),
        4 => Just(Answer::Greater),
        2 => Just(Answer::Honest),
        1 => Just(Answer::Panic),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let permits = prop_oneof![1 => Just(0_u32), 12 => 1..=3_u32];
    prop_oneof![
        12 => (0..4_u8, permits, prop::bool::weighted(0.7))
            .prop_map(|(rank, permits, liar)| Op::Create { rank, permits, liar }),
        18 => (any::<usize>(), prop::bool::weighted(0.5))
            .prop_map(|(index, reentrant)| Op::Poll { index, reentrant }),
        5 => any::<usize>().prop_map(|index| Op::DropRequest { index }),
        8 => any::<usize>().prop_map(|index| Op::DropPermit { index }),
        4 => (0..4_usize).prop_map(Op::AddPermits),
        2 => (0..3_usize).prop_map(Op::ForgetPermits),
        3 => (0..4_u32).prop_map(Op::TryAcquire),
        1 => Just(Op::Close),
    ]
}

fn config() -> ProptestConfig {
    let defaults = ProptestConfig::default();
    ProptestConfig {
        cases: if cfg!(miri) { 8 } else { defaults.cases },
        // Shrunk failures are printed; miri's isolation forbids writing them to files.
        failure_persistence: None,
        ..defaults
    }
}

/// Strict priority most of the time; sometimes an overtake limit, with feature
/// `overtake-limit`.
fn overtake_limit() -> impl Strategy<Value = Option<usize>> {
    if cfg!(feature = "overtake-limit") {
        prop_oneof![3 => Just(None), 1 => (0..4_usize).prop_map(Some)].boxed()
    } else {
        Just(None).boxed()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_ord_and_any_waker_lose_nothing(
        permits in 0..4_usize,
        limit in overtake_limit(),
        answers in prop::collection::vec(answer(), 0..8),
        ops in prop::collection::vec(op(), 1..if cfg!(miri) { 24 } else { 100 }),
    ) {
        Hostile::new(permits, limit, answers).run(ops);
    }
}
