//! A timer that needs no runtime: one thread per process wakes tasks at their deadlines.
//!
//! The crate works on every executor, so it cannot use tokio's timers (a runtime may be
//! built without them) or any other runtime's. Two things need a wake-up at a given
//! instant: a [`Lost`](crate::Lost) future at its lease's deadline, and a call on the fast
//! path at the end of its I/O budget. Both re-check the clock when woken, so a wake-up that
//! comes early or twice is harmless, and one that comes late (the thread starved of CPU)
//! delays only the wake-up: [`RedisPermit::is_lost`](crate::RedisPermit::is_lost) reads
//! the clock itself.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::task::Waker;
use std::time::Instant;
#[cfg(any(feature = "tokio", test))]
use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

/// An entry's key: its instant, then a number that makes it unique.
type Key = (Instant, u64);

struct Timer {
    due: Mutex<Due>,
    changed: Condvar,
    next: AtomicU64,
}

#[derive(Default)]
struct Due {
    /// Earliest first. A [`Sleep`] removes its entry when dropped (a [`wake_at`] entry
    /// stays until due).
    entries: BTreeMap<Key, Waker>,
    /// When the thread wakes next by itself (`None`: only when told). A new entry tells
    /// it only if it is due before that: the thread is woken once per deadline at most,
    /// not once per entry, and an entry removed early costs it at most one look.
    wakes_at: Option<Instant>,
}

fn timer() -> &'static Timer {
    static TIMER: OnceLock<&'static Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let timer: &'static Timer = Box::leak(Box::new(Timer {
            due: Mutex::new(Due::default()),
            changed: Condvar::new(),
            next: AtomicU64::new(0),
        }));
        std::thread::Builder::new()
            .name("prio-semaphore-redis timer".into())
            .spawn(move || timer.run())
            .expect("start the timer thread of prio-semaphore-redis");
        timer
    })
}

impl Timer {
    fn lock(&self) -> MutexGuard<'_, Due> {
        // Every update is one map operation: a panic elsewhere cannot leave it half-done.
        self.due.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run(&self) {
        let mut due = self.lock();
        loop {
            let now = Instant::now();
            let mut woken = Vec::new();
            while let Some(entry) = due.entries.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                woken.push(entry.remove());
            }
            if !woken.is_empty() {
                // Wakers run user code: never under the lock.
                drop(due);
                woken.into_iter().for_each(Waker::wake);
                due = self.lock();
                continue;
            }
            due.wakes_at = due.entries.keys().next().map(|(at, _)| *at);
            due = match due.wakes_at {
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

    fn insert(&self, at: Instant, waker: Waker) -> Key {
        let key = (at, self.next.fetch_add(1, Ordering::Relaxed));
        let mut due = self.lock();
        due.entries.insert(key, waker);
        if due.wakes_at.is_none_or(|wakes| at < wakes) {
            due.wakes_at = Some(at);
            self.changed.notify_one();
        }
        key
    }

    #[cfg(any(feature = "tokio", test))]
    fn remove(&self, key: &Key) {
        self.lock().entries.remove(key);
    }
}

/// Wakes `waker` at `at` (or soon after); whoever it wakes re-checks what it waits for.
pub(crate) fn wake_at(at: Instant, waker: Waker) {
    timer().insert(at, waker);
}

/// A deadline as a future: ready at `at`.
#[cfg(any(feature = "tokio", test))]
#[derive(Debug)]
pub(crate) struct Sleep {
    at: Instant,
    /// The entry registered last, with the waker it holds; registered again only when
    /// the task's waker changes.
    registered: Option<(Key, Waker)>,
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
        let current = self
            .registered
            .as_ref()
            .is_some_and(|(_, w)| w.will_wake(cx.waker()));
        if !current {
            if let Some((key, _)) = self.registered.take() {
                timer().remove(&key);
            }
            let key = timer().insert(self.at, cx.waker().clone());
            self.registered = Some((key, cx.waker().clone()));
        }
        Poll::Pending
    }
}

#[cfg(any(feature = "tokio", test))]
impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some((key, _)) = self.registered.take() {
            timer().remove(&key);
        }
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
    fn a_dropped_sleep_leaves_nothing_behind() {
        let far = Instant::now() + Duration::from_secs(3600);
        let out = futures::executor::block_on(timeout(far, async { 1 }));
        assert_eq!(out, Some(1));
        let mut sleep = Box::pin(sleep_until(far));
        let waker = std::task::Waker::noop();
        assert!(sleep
            .as_mut()
            .poll(&mut Context::from_waker(waker))
            .is_pending());
        let (key, _) = sleep.registered.clone().expect("registered");
        assert!(timer().lock().entries.contains_key(&key));
        drop(sleep);
        assert!(
            !timer().lock().entries.contains_key(&key),
            "the entry went with its Sleep"
        );
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
