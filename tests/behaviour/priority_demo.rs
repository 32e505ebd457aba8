//! The demo (`examples/demo/examples/priority_demo.rs`) prints exactly what the
//! `asyncio.PrioritySemaphore` proposal showed.

#[allow(dead_code, reason = "the example's `main` is not used here")]
#[path = "../../examples/demo/examples/priority_demo.rs"]
mod demo;

#[test]
fn plain_acquire_serves_in_arrival_order() {
    let (plain, _) = demo::run_demo();
    assert_eq!(plain, (1..=20).rev().collect::<Vec<i64>>());
}

#[test]
fn priority_acquire_serves_the_first_four_then_smallest_first() {
    let (_, prioritised) = demo::run_demo();
    let expected: Vec<i64> = [20, 19, 18, 17].into_iter().chain(1..=16).collect();
    assert_eq!(prioritised, expected);
}
