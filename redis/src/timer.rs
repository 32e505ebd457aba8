//! A timer that needs no runtime: one thread per process wakes tasks at their deadlines.
//!
//! The crate works on every executor, so it cannot use tokio's timers (a runtime may be
//! built without them) or any other runtime's. Two things need a wake-up at a given
//! instant: a [`Lost`](crate::Lost) future at its lease's deadline, and a call on the fast
//! path at the end of its I/O budget. Both re-check the clock when woken, so a wake-up that
//! comes early or twice is harmless, and one that comes late (the thread starved of CPU)
//! delays only the wake-up: [`RedisPermit::is_lost`](crate::RedisPermit::is_lost) reads
//! the clock itself.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Condvar, Mutex, OnceLock};
use std::task::Waker;
use std::time::Instant;
#[cfg(any(feature = "tokio", test))]
use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

struct Due {
    at: Instant,
    waker: Waker,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.at.cmp(&other.at)
    }
}

struct Timer {
    /// Earliest first. An entry whose task no longer waits stays until its instant and
    /// then wakes that task once for nothing: entries are only added by a task that is
    /// pending on a deadline, so there are never more than the pending deadlines plus
    /// those that ended early, each gone by its instant.
    due: Mutex<BinaryHeap<Reverse<Due>>>,
    changed: Condvar,
}

fn timer() -> &'static Timer {
    static TIMER: OnceLock<&'static Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let timer: &'static Timer = Box::leak(Box::new(Timer {
            due: Mutex::new(BinaryHeap::new()),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("prio-semaphore-redis timer".into())
            .spawn(move || timer.run())
            .expect("start the timer thread of prio-semaphore-redis");
        timer
    })
}

impl Timer {
    fn run(&self) {
        let mut due = self.due.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let now = Instant::now();
            let mut woken = Vec::new();
            while due.peek().is_some_and(|Reverse(d)| d.at <= now) {
                woken.push(due.pop().expect("peeked").0.waker);
            }
            if !woken.is_empty() {
                // Wakers run user code: never under the lock.
                drop(due);
                woken.into_iter().for_each(Waker::wake);
                due = self.due.lock().unwrap_or_else(|e| e.into_inner());
                continue;
            }
            due = match due.peek().map(|Reverse(d)| d.at) {
                Some(at) => {
                    let wait = at.saturating_duration_since(now);
                    self.changed
                        .wait_timeout(due, wait)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None => self.changed.wait(due).unwrap_or_else(|e| e.into_inner()),
            };
        }
    }

    fn wake_at(&self, at: Instant, waker: Waker) {
        let mut due = self.due.lock().unwrap_or_else(|e| e.into_inner());
        let earliest = due.peek().is_none_or(|Reverse(d)| at < d.at);
        due.push(Reverse(Due { at, waker }));
        if earliest {
            self.changed.notify_one();
        }
    }
}

/// Wakes `waker` at `at` (or soon after); whoever it wakes re-checks what it waits for.
pub(crate) fn wake_at(at: Instant, waker: Waker) {
    timer().wake_at(at, waker);
}

/// A deadline as a future: ready at `at`.
#[cfg(any(feature = "tokio", test))]
#[derive(Debug)]
pub(crate) struct Sleep {
    at: Instant,
    /// The waker registered last; registered again only when the task's waker changes.
    registered: Option<Waker>,
}

/// Ready at `at`.
#[cfg(any(feature = "tokio", test))]
pub(crate) fn sleep_until(at: Instant) -> Sleep {
    Sleep {
        at,
        registered: None,
    }
}

#[cfg(any(feature = "tokio", test))]
impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.at {
            return Poll::Ready(());
        }
        if !self
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            wake_at(self.at, cx.waker().clone());
            self.registered = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// The output of `future`, or `None` if `deadline` comes first.
#[cfg(any(feature = "tokio", test))]
pub(crate) async fn timeout<F: Future>(deadline: Instant, future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut sleep = sleep_until(deadline);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        Pin::new(&mut sleep).poll(cx).map(|()| None)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sleeps_end_at_their_deadline_in_any_order() {
        let start = Instant::now();
        let late = futures::executor::block_on(async {
            let a = sleep_until(start + Duration::from_millis(60));
            let b = sleep_until(start + Duration::from_millis(20));
            futures::join!(a, b);
            Instant::now()
        });
        assert!(late >= start + Duration::from_millis(60));
    }

    #[test]
    fn a_timeout_gives_none_when_the_deadline_comes_first() {
        let deadline = Instant::now() + Duration::from_millis(30);
        let out = futures::executor::block_on(timeout(deadline, std::future::pending::<()>()));
        assert_eq!(out, None);
        assert!(Instant::now() >= deadline);
        let out = futures::executor::block_on(timeout(deadline, async { 7 }));
        assert_eq!(out, Some(7));
    }
}
