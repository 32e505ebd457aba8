//! `Unordered::with_fair_semaphore`: a pipeline is one flow of a `FairSemaphore`, so a
//! flood of another flow at its priority does not hold it back.

use std::future::Future;
use std::task::{Context, Poll, Waker};

use futures::stream::Stream;
use prio_semaphore::fair::FairSemaphore;
use prio_semaphore::limited;

#[test]
fn a_pipeline_is_not_stuck_behind_another_flows_flood() {
    let sem: FairSemaphore<&str> = FairSemaphore::new(1);
    let cx = &mut Context::from_waker(Waker::noop());
    let held = sem.try_acquire().unwrap();
    let mut flood: Vec<_> = (0..100)
        .map(|_| Box::pin(sem.acquire().priority(5).flow("a")))
        .collect();
    for f in &mut flood {
        assert!(f.as_mut().poll(cx).is_pending());
    }
    let pipeline = limited::unordered((0..3).map(|i| async move { i }), 2)
        .with_fair_semaphore(&sem, 5, "b", 1);
    let mut pipeline = Box::pin(pipeline);
    assert!(
        pipeline.as_mut().poll_next(cx).is_pending(),
        "in line, in flow b"
    );
    drop(held);
    // The flood's first request (tag 0, earlier) goes first, then the pipeline's.
    let Poll::Ready(Ok(first)) = flood[0].as_mut().poll(cx) else {
        panic!("a first")
    };
    assert!(pipeline.as_mut().poll_next(cx).is_pending());
    drop(first);
    assert!(matches!(
        pipeline.as_mut().poll_next(cx),
        Poll::Ready(Some(Ok(0)))
    ));
    drop(flood);
    drop(pipeline);
    assert_eq!(sem.entries(), (0, 0));
    assert_eq!(sem.available_permits(), 1);
}

#[test]
#[should_panic(expected = "weight must be at least 1")]
fn a_zero_weight_is_refused() {
    let sem: FairSemaphore<u8> = FairSemaphore::new(1);
    let _ = limited::unordered([async {}], 1).with_fair_semaphore(&sem, 0, 1, 0);
}
