#![cfg(loom)]
//! Fair queuing under concurrency: a request takes its start tag under the flow table's
//! lock and joins the line under the line's, so the two must agree whatever runs between
//! them: no permit or wake-up lost, one flow served in order, and the table empty again
//! once nobody waits.

use std::sync::Arc;

use loom::future::block_on;
use loom::thread;
use loom_tests::{model, Polled};
use prio_semaphore::fair::FairSemaphore;

/// Two flows queue on their own threads while the permit is released: both are served,
/// nothing stays counted, the permit comes back.
#[test]
fn two_flows_queue_while_a_permit_is_released() {
    model(|| {
        let sem: Arc<FairSemaphore<u8>> = Arc::new(FairSemaphore::new(1));
        let held = sem.try_acquire().unwrap();
        let flows: Vec<_> = (0..2u8)
            .map(|flow| {
                let sem = sem.clone();
                thread::spawn(move || {
                    block_on(async { drop(sem.acquire().flow(flow).await.unwrap()) })
                })
            })
            .collect();
        drop(held);
        for flow in flows {
            flow.join().unwrap();
        }
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.entries(), (0, 0));
    });
}

/// A counted request is dropped while another thread adds the permit: whether the drop or
/// the grant comes first, the permit ends free and the flow's count is given back.
#[test]
fn a_counted_request_dropped_while_a_permit_is_added() {
    model(|| {
        let sem: Arc<FairSemaphore<u8>> = Arc::new(FairSemaphore::new(0));
        let request = Polled::start(sem.acquire().flow(1));
        let releaser = {
            let sem = sem.clone();
            thread::spawn(move || sem.add_permits(1))
        };
        drop(request);
        releaser.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.entries(), (0, 0));
    });
}

/// Two requests of one flow queued in order, a permit added on another thread while the
/// second is re-polled: the first is served first.
#[test]
fn one_flow_is_served_in_order_under_a_concurrent_release() {
    model(|| {
        let sem: Arc<FairSemaphore<u8>> = Arc::new(FairSemaphore::new(0));
        let mut first = Polled::start(sem.acquire().flow(7));
        let mut second = Polled::start(sem.acquire().flow(7));
        let releaser = {
            let sem = sem.clone();
            thread::spawn(move || sem.add_permits(1))
        };
        second.poll();
        releaser.join().unwrap();
        assert!(
            !second.poll(),
            "the later request of the flow was served first"
        );
        assert!(first.poll());
        drop(first.output().unwrap());
        assert!(second.poll());
        drop(second.output().unwrap());
        assert_eq!(sem.entries(), (0, 0));
    });
}

/// The first request of a flow that has another behind it is dropped while another thread
/// adds the permit: whether the permit reaches it first or not, its flow's run moves to
/// the next request's key (behind the other flow's), and the permit goes on in that order.
#[test]
fn a_flows_run_moves_when_its_head_leaves_under_a_concurrent_release() {
    model(|| {
        let sem: Arc<FairSemaphore<u8>> = Arc::new(FairSemaphore::new(0));
        let first = Polled::start(sem.acquire().flow(1));
        let mut second = Polled::start(sem.acquire().flow(1));
        let mut other = Polled::start(sem.acquire().flow(2));
        let releaser = {
            let sem = sem.clone();
            thread::spawn(move || sem.add_permits(1))
        };
        drop(first);
        releaser.join().unwrap();
        assert!(!second.poll(), "flow 1's next went before flow 2's first");
        assert!(other.poll());
        drop(other.output().unwrap());
        assert!(second.poll());
        drop(second.output().unwrap());
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.entries(), (0, 0));
    });
}
