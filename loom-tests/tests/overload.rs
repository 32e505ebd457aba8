#![cfg(loom)]
//! The queue limit's refusal, decided under the lock, racing with a release that empties
//! the line: whichever comes first, the refused request changes nothing, and a request
//! that joined the line instead is granted and woken.

use std::sync::Arc;

use loom::thread;
use loom_tests::{model, Polled};
use prio_semaphore::Semaphore;

/// One waiter in line, a permit released on another thread, and a request with a queue
/// limit of 1 made meanwhile: refused if the waiter was still in line, else queued (and
/// then served by the waiter's release); never lost, never holding a permit it refused.
#[test]
fn a_refusal_racing_a_release_that_empties_the_line() {
    model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let mut queued = Polled::start(sem.acquire());
        let releaser = {
            let sem = sem.clone();
            thread::spawn(move || sem.add_permits(1))
        };
        let mut bounded = Polled::start(sem.acquire().priority(1).queue_limit(1));
        releaser.join().unwrap();
        assert!(
            queued.poll(),
            "the released permit went to the waiter in line"
        );
        drop(queued.output().unwrap());
        if bounded.is_ready() {
            assert!(bounded.output().unwrap_err().is_queue_full());
        } else {
            assert_eq!(bounded.wakes(), 1, "granted without a wake-up");
            assert!(bounded.poll());
            drop(bounded.output().unwrap());
        }
        assert_eq!(sem.waiter_count(), 0);
        assert_eq!(sem.available_permits(), 1);
    });
}

/// A zero limit on a semaphore whose only permit is released on another thread: the
/// request takes the permit or is refused, and the permit is never lost.
#[test]
fn a_zero_limit_racing_a_release() {
    model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.clone().try_acquire_owned().unwrap();
        let releaser = thread::spawn(move || drop(held));
        let request = Polled::start(sem.acquire().queue_limit(0));
        assert!(request.is_ready(), "a zero limit never waits");
        let outcome = request.output();
        releaser.join().unwrap();
        assert_eq!(sem.waiter_count(), 0);
        match outcome {
            Ok(permit) => {
                assert_eq!(sem.available_permits(), 0);
                drop(permit);
            }
            Err(refused) => assert!(refused.is_queue_full()),
        }
        assert_eq!(sem.available_permits(), 1);
    });
}
