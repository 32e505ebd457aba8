//! Stress: thousands of acquires with random priorities and weights, cancelled at random
//! (timeouts, drops mid-wait) and some panicking while holding permits, on a multi-threaded
//! tokio runtime and on plain OS threads. At the end every permit is back, nobody waits,
//! and the permit bound held throughout. Each test is bounded by a hang detector.
//!
//! The tokio test does not run under miri (its timer driver needs the host clock and the
//! test is far too many steps); the OS-thread test runs there, scaled down.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use prio_semaphore::Semaphore;

const PERMITS: usize = 4;
const HANG: Duration = Duration::from_secs(60);

/// A small deterministic generator (xorshift64), so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Counts permits held by the tasks and checks the bound; released on drop, so also when
/// a task panics while holding its permits.
struct Holding<'a> {
    held: &'a AtomicUsize,
    n: usize,
}

impl<'a> Holding<'a> {
    fn start(held: &'a AtomicUsize, n: usize) -> Self {
        let before = held.fetch_add(n, Ordering::SeqCst);
        assert!(before + n <= PERMITS, "{} permits held at once", before + n);
        Self { held, n }
    }
}

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        self.held.fetch_sub(self.n, Ordering::SeqCst);
    }
}

const PANIC_MESSAGE: &str = "stress: panicking while holding permits";

/// Silences the panics the tokio test provokes on purpose; any other panic is reported.
fn silence_expected_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&PANIC_MESSAGE) {
            default(info);
        }
    }));
}

#[test]
#[cfg_attr(miri, ignore = "real runtime and threads")]
fn tokio_tasks_with_timeouts_and_panics_return_every_permit() {
    const TASKS: usize = 3000;
    silence_expected_panics();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let sem = Arc::new(Semaphore::new(PERMITS));
    let held = Arc::new(AtomicUsize::new(0));
    let (granted, timed_out, panicked) = runtime.block_on(async {
        tokio::time::timeout(HANG, async {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
            let mut tasks = Vec::with_capacity(TASKS);
            for _ in 0..TASKS {
                let (sem, held) = (sem.clone(), held.clone());
                let priority = rng.below(8) as i64;
                let weight = 1 + rng.below(3) as u32;
                let patience = Duration::from_micros(rng.below(200));
                let fate = rng.below(10);
                tasks.push(tokio::spawn(async move {
                    let acquire = sem.acquire_many(weight).priority(priority);
                    let _permit = match fate {
                        // Cancelled by a tiny timeout (or served in time).
                        0..=3 => match tokio::time::timeout(patience, acquire).await {
                            Ok(permit) => permit.unwrap(),
                            Err(_) => return false,
                        },
                        _ => acquire.await.unwrap(),
                    };
                    let _holding = Holding::start(&held, weight as usize);
                    tokio::task::yield_now().await;
                    if fate == 9 {
                        std::panic::panic_any(PANIC_MESSAGE);
                    }
                    true
                }));
                if rng.below(4) == 0 {
                    tokio::task::yield_now().await; // let some finish while others arrive
                }
            }
            let (mut granted, mut timed_out, mut panicked) = (0, 0, 0);
            for task in tasks {
                match task.await {
                    Ok(true) => granted += 1,
                    Ok(false) => timed_out += 1,
                    Err(err) => {
                        assert!(err.is_panic(), "{err}");
                        panicked += 1;
                    }
                }
            }
            (granted, timed_out, panicked)
        })
        .await
        .expect("hang: the tasks did not finish")
    });
    assert_eq!(granted + timed_out + panicked, TASKS);
    assert!(
        panicked > 0 && granted > 0,
        "{granted} granted, {panicked} panicked"
    );
    assert_eq!(held.load(Ordering::SeqCst), 0);
    assert_eq!(sem.available_permits(), PERMITS, "permits lost");
    assert_eq!(sem.waiter_count(), 0);
}

/// Polls `inner` up to `polls` more times, re-scheduling itself in between, then gives up
/// and drops it: a cancellation at a random point of the wait, racing with other threads.
/// With `polls: None` it waits for `inner`'s own wake-up, however long that takes.
struct GiveUpAfter<F> {
    inner: Pin<Box<F>>,
    polls: Option<u32>,
}

impl<F: Future> Future for GiveUpAfter<F> {
    // `inner` is boxed, so `GiveUpAfter` is `Unpin` and `self` can be reborrowed freely.
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(out) = self.inner.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        match &mut self.polls {
            None => Poll::Pending,
            Some(0) => Poll::Ready(None),
            Some(polls) => {
                *polls -= 1;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }
}

/// Also runs under miri, scaled down: there it checks the list's raw-pointer accesses for
/// aliasing violations and data races while other threads hand permits over and cancel.
#[test]
fn os_threads_with_drop_cancellation_return_every_permit() {
    const THREADS: u64 = if cfg!(miri) { 3 } else { 4 };
    const ROUNDS: usize = if cfg!(miri) { 200 } else { 10_000 };
    let sem = Arc::new(Semaphore::new(PERMITS));
    let held = Arc::new(AtomicUsize::new(0));
    let (done_tx, done_rx) = mpsc::channel();
    for seed in 1..=THREADS {
        let (sem, held, done_tx) = (sem.clone(), held.clone(), done_tx.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D));
            let (mut granted, mut cancelled) = (0, 0);
            for _ in 0..ROUNDS {
                let weight = 1 + rng.below(3) as u32;
                let acquire = sem.acquire_many(weight).priority(rng.below(6) as i64);
                let polls = match rng.below(3) {
                    0 => Some(0),
                    1 => Some(rng.below(50) as u32),
                    _ => None,
                };
                let outcome = futures::executor::block_on(GiveUpAfter {
                    inner: Box::pin(acquire),
                    polls,
                });
                match outcome {
                    Some(permit) => {
                        let _permit = permit.unwrap();
                        let _holding = Holding::start(&held, weight as usize);
                        std::thread::yield_now();
                        granted += 1;
                    }
                    None => cancelled += 1,
                }
            }
            done_tx.send((granted, cancelled)).unwrap();
        });
    }
    let mut granted = 0;
    for _ in 0..THREADS {
        let (g, c) = done_rx
            .recv_timeout(HANG)
            .expect("hang: a thread did not finish");
        assert_eq!(g + c, ROUNDS);
        granted += g;
    }
    assert!(granted > 0);
    assert_eq!(held.load(Ordering::SeqCst), 0);
    assert_eq!(sem.available_permits(), PERMITS, "permits lost");
    assert_eq!(sem.waiter_count(), 0);
}
