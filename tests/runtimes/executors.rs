//! The same behaviour checks, written once, run on every executor the crate claims to
//! support: tokio (current-thread and multi-thread), smol, async-std, `futures`' local pool,
//! and plain `futures::executor::block_on` with a thread per task. The semaphore needs
//! nothing from any of them but a `Waker`.
//!
//! Each check is an `async fn` that takes a [`Spawner`]: the only runtime-specific piece.
//! Waiters whose order is asserted are queued one at a time (the driver waits until
//! `waiter_count` shows each one queued before spawning the next), so their arrival order
//! is known even on multi-threaded executors, and with a single permit the order in which
//! they record themselves is the order in which they were served.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Mutex};

use crate::common::{yield_now, yield_until, Gauge};
use prio_semaphore::Semaphore;

/// A spawned task, boxed so every runtime can take it.
type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
/// Completes when the spawned task has finished (propagating its panic, if any).
type Handle = Pin<Box<dyn Future<Output = ()>>>;

/// Spawns tasks on the runtime under test.
#[derive(Clone)]
struct Spawner(Arc<dyn Fn(Task) -> Handle>);

impl Spawner {
    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) -> Handle {
        (self.0)(Box::pin(task))
    }
}

/// Awaits every handle.
async fn join_all(handles: Vec<Handle>) {
    for handle in handles {
        handle.await;
    }
}

/// A log of who was served, shared with the tasks.
type Log<T> = Arc<Mutex<Vec<T>>>;

fn log<T>() -> Log<T> {
    Arc::new(Mutex::new(Vec::new()))
}

fn snapshot<T: Clone>(log: &Log<T>) -> Vec<T> {
    log.lock().unwrap().clone()
}

/// Spawns `task`, which must queue on `sem`, and waits until it has.
async fn spawn_queued(
    rt: &Spawner,
    sem: &Semaphore,
    task: impl Future<Output = ()> + Send + 'static,
) -> Handle {
    let before = sem.waiter_count();
    let handle = rt.spawn(task);
    yield_until("the spawned task is queued", || {
        sem.waiter_count() == before + 1
    })
    .await;
    handle
}

/// Who was served, in order, and how many have given their permits back since.
#[derive(Clone, Default)]
struct Record {
    served: Log<&'static str>,
    released: Arc<AtomicUsize>,
}

impl Record {
    fn served(&self) -> Vec<&'static str> {
        snapshot(&self.served)
    }

    fn released(&self) -> usize {
        self.released.load(SeqCst)
    }
}

/// Spawns a task that acquires `n` permits at `priority`, records `tag` while holding
/// them, and gives them back at once. Waits until it is queued.
async fn spawn_logger(
    rt: &Spawner,
    sem: &Arc<Semaphore>,
    record: &Record,
    tag: &'static str,
    n: u32,
    priority: i64,
) -> Handle {
    let (task_sem, record) = (sem.clone(), record.clone());
    let task = async move {
        let permit = task_sem.acquire_many(n).priority(priority).await.unwrap();
        record.served.lock().unwrap().push(tag);
        drop(permit);
        record.released.fetch_add(1, SeqCst);
    };
    spawn_queued(rt, sem, task).await
}

// ---------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------

/// Smaller priorities first, equal ones by arrival; a plain `acquire()` is priority 0.
async fn serves_smaller_priorities_first_then_by_arrival(rt: Spawner) {
    let sem = Arc::new(Semaphore::new(1));
    let held = sem.try_acquire().unwrap();
    let out = log();
    let mut handles = Vec::new();
    for (i, priority) in [5, 3, 9, 3, 1, 5, -2, 0].into_iter().enumerate() {
        let (task_sem, out) = (sem.clone(), out.clone());
        let task = async move {
            let _permit = task_sem.acquire().priority(priority).await.unwrap();
            out.lock().unwrap().push((priority, i));
            yield_now().await; // hold it across a yield, like real work would
        };
        handles.push(spawn_queued(&rt, &sem, task).await);
    }
    // A plain acquire queues at priority 0, behind the earlier priority-0 waiter.
    let (task_sem, plain_out) = (sem.clone(), out.clone());
    handles.push(
        spawn_queued(&rt, &sem, async move {
            let _permit = task_sem.acquire().await.unwrap();
            plain_out.lock().unwrap().push((0, 8));
        })
        .await,
    );
    assert!(
        snapshot(&out).is_empty(),
        "nobody is served before the release"
    );
    drop(held);
    join_all(handles).await;
    assert_eq!(
        snapshot(&out),
        [
            (-2, 6),
            (0, 7),
            (0, 8),
            (1, 4),
            (3, 1),
            (3, 3),
            (5, 0),
            (5, 5),
            (9, 2)
        ]
    );
    assert_eq!(sem.available_permits(), 1);
}

/// Strict FIFO among many waiters of one priority.
async fn serves_equal_priorities_in_arrival_order(rt: Spawner) {
    const N: usize = 16;
    let sem = Arc::new(Semaphore::new(1));
    let held = sem.try_acquire().unwrap();
    let out = log();
    let mut handles = Vec::new();
    for i in 0..N {
        let (task_sem, out) = (sem.clone(), out.clone());
        let task = async move {
            let _permit = task_sem.acquire().priority(7).await.unwrap();
            out.lock().unwrap().push(i);
        };
        handles.push(spawn_queued(&rt, &sem, task).await);
    }
    drop(held);
    join_all(handles).await;
    assert_eq!(snapshot(&out), (0..N).collect::<Vec<_>>());
    assert_eq!(sem.available_permits(), 1);
}

/// `try_acquire` and a fresh `acquire` never take permits a queued waiter is owed.
async fn nobody_barges_past_a_queued_waiter(rt: Spawner) {
    let sem = Arc::new(Semaphore::new(2));
    let mut held = sem.try_acquire_many(2).unwrap();
    let record = Record::default();
    let big = spawn_logger(&rt, &sem, &record, "big", 2, 0).await;

    // One permit comes back: `big` collects it; it is not free for anyone else.
    drop(held.split(1).unwrap());
    assert_eq!(sem.available_permits(), 0);
    assert!(sem.try_acquire().is_err(), "try_acquire barged");
    // A fresh acquire of equal priority queues behind `big` rather than taking it.
    let late = spawn_logger(&rt, &sem, &record, "late", 1, 0).await;
    assert!(sem.try_acquire().is_err(), "try_acquire barged");
    assert!(record.served().is_empty());

    drop(held);
    join_all(vec![big, late]).await;
    assert_eq!(record.served(), ["big", "late"]);
    assert_eq!(sem.available_permits(), 2);
    assert!(
        sem.try_acquire_many(2).is_ok(),
        "no waiter left, so no barging rule"
    );
}

/// Weighted requests: served whole, in place; a large one is not starved by small ones
/// behind it, and an urgent one arriving later takes permits a large one was collecting.
async fn weighted_requests_are_served_in_order_without_inversion(rt: Spawner) {
    let sem = Arc::new(Semaphore::new(4));
    let mut held = sem.try_acquire_many(4).unwrap();
    let record = Record::default();
    let mut handles = Vec::new();
    handles.push(spawn_logger(&rt, &sem, &record, "large", 3, 1).await);
    handles.push(spawn_logger(&rt, &sem, &record, "small", 1, 1).await);

    // `large` starts collecting...
    drop(held.split(1).unwrap());
    assert_eq!(sem.available_permits(), 0);
    // ...until a more urgent request arrives, which takes the collected permit first:
    // one more release is then enough to serve it.
    handles.push(spawn_logger(&rt, &sem, &record, "urgent", 2, 0).await);
    drop(held.split(1).unwrap());
    yield_until("urgent is served and done", || record.released() == 1).await;
    assert_eq!(record.served(), ["urgent"]);

    // `urgent` gave its 2 back: `large` holds them and needs 1 more. `small` needs just
    // one, and none is free: it must still be queued behind `large`, not served.
    assert_eq!(sem.waiter_count(), 2, "small barged past large");
    assert_eq!(sem.available_permits(), 0);
    assert!(sem.try_acquire().is_err());
    // One more permit completes `large`; `small` gets one only when `large` is done.
    drop(held.split(1).unwrap());
    join_all(handles).await;
    assert_eq!(record.served(), ["urgent", "large", "small"]);
    assert_eq!(sem.available_permits(), 3);
    drop(held);
    assert_eq!(sem.available_permits(), 4);
}

/// Never more than `N` permits held at once, whatever the interleaving.
async fn never_more_than_the_limit_run_at_once(rt: Spawner) {
    const LIMIT: usize = 3;
    const TASKS: usize = if cfg!(miri) { 12 } else { 40 };
    let sem = Arc::new(Semaphore::new(LIMIT));
    let gauge = Arc::new(Gauge::default());
    let handles: Vec<_> = (0..TASKS)
        .map(|i| {
            let (sem, gauge) = (sem.clone(), gauge.clone());
            rt.spawn(async move {
                let n = 1 + (i % 2) as u32; // mix of single and double requests
                let permit = sem.acquire_many(n).priority(i as i64 % 5).await.unwrap();
                let inside: Vec<_> = (0..n).map(|_| gauge.enter()).collect();
                assert!(gauge.now() <= LIMIT, "{} holders of {LIMIT}", gauge.now());
                for _ in 0..3 {
                    yield_now().await;
                }
                drop(inside);
                drop(permit);
            })
        })
        .collect();
    join_all(handles).await;
    assert!(gauge.max() <= LIMIT, "max {} > limit {LIMIT}", gauge.max());
    assert!(gauge.max() >= 1);
    assert_eq!(gauge.now(), 0);
    assert_eq!(sem.waiter_count(), 0);
    assert_eq!(sem.available_permits(), LIMIT);
}

/// `close()` fails every queued waiter (and later ones) while held permits stay valid.
async fn close_fails_every_waiter(rt: Spawner) {
    let sem = Arc::new(Semaphore::new(2));
    let held = sem.try_acquire_many(2).unwrap();
    let out = log();
    let mut handles = Vec::new();
    for (i, n) in [1u32, 2, 1, 2, 1].into_iter().enumerate() {
        let (task_sem, out) = (sem.clone(), out.clone());
        let task = async move {
            let err = task_sem
                .acquire_many(n)
                .priority(i as i64)
                .await
                .unwrap_err();
            out.lock().unwrap().push(err.is_closed());
        };
        handles.push(spawn_queued(&rt, &sem, task).await);
    }
    sem.close();
    join_all(handles).await;
    assert_eq!(snapshot(&out), [true; 5]);
    assert_eq!(sem.waiter_count(), 0);
    assert!(sem.acquire().await.unwrap_err().is_closed());
    assert_eq!(held.num_permits(), 2);
    drop(held);
    assert_eq!(sem.available_permits(), 2);
    assert!(sem.try_acquire().unwrap_err().is_closed());
}

/// More waiters than one wake batch, all granted by one `add_permits`: every one runs.
async fn one_release_wakes_every_waiter_it_serves(rt: Spawner) {
    const N: usize = if cfg!(miri) { 40 } else { 100 }; // > WAKE_BATCH (32) either way
    let sem = Arc::new(Semaphore::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for i in 0..N {
        let (task_sem, served) = (sem.clone(), served.clone());
        let task = async move {
            let permit = task_sem.acquire().priority(i as i64 % 3).await.unwrap();
            served.fetch_add(1, SeqCst);
            permit.forget(); // keep the count at 0 so nobody is served by a give-back
        };
        handles.push(spawn_queued(&rt, &sem, task).await);
    }
    sem.add_permits(N);
    join_all(handles).await;
    assert_eq!(served.load(SeqCst), N);
    assert_eq!(sem.available_permits(), 0);
    assert_eq!(sem.waiter_count(), 0);
}

// ---------------------------------------------------------------------------------------
// The runtimes
// ---------------------------------------------------------------------------------------

mod run {
    use super::*;

    pub fn tokio_current_thread<F: Future<Output = ()>>(check: impl FnOnce(Spawner) -> F) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let spawner = Spawner(Arc::new(|task| {
            let handle = tokio::spawn(task);
            Box::pin(async move { handle.await.unwrap() })
        }));
        rt.block_on(check(spawner));
    }

    pub fn tokio_multi_thread<F: Future<Output = ()>>(check: impl FnOnce(Spawner) -> F) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let spawner = Spawner(Arc::new(|task| {
            let handle = tokio::spawn(task);
            Box::pin(async move { handle.await.unwrap() })
        }));
        rt.block_on(check(spawner));
    }

    pub fn smol<F: Future<Output = ()>>(check: impl FnOnce(Spawner) -> F) {
        let spawner = Spawner(Arc::new(|task| Box::pin(::smol::spawn(task))));
        ::smol::block_on(check(spawner));
    }

    pub fn async_std<F: Future<Output = ()>>(check: impl FnOnce(Spawner) -> F) {
        let spawner = Spawner(Arc::new(|task| Box::pin(::async_std::task::spawn(task))));
        ::async_std::task::block_on(check(spawner));
    }

    pub fn futures_local_pool<F: Future<Output = ()>>(check: impl FnOnce(Spawner) -> F) {
        use futures::task::LocalSpawnExt as _;
        let mut pool = futures::executor::LocalPool::new();
        let local = pool.spawner();
        let spawner = Spawner(Arc::new(move |task| {
            Box::pin(local.spawn_local_with_handle(task).unwrap())
        }));
        pool.run_until(check(spawner));
    }

    /// No executor at all: `futures::executor::block_on` on the test thread, and every
    /// task on its own OS thread with its own `block_on`, so every wake-up crosses threads
    /// and unparks one.
    pub fn futures_block_on_threads<F: Future<Output = ()>>(check: impl FnOnce(Spawner) -> F) {
        let spawner = Spawner(Arc::new(|task| {
            let (done, finished) = futures::channel::oneshot::channel();
            std::thread::spawn(move || {
                futures::executor::block_on(task);
                let _ = done.send(());
            });
            Box::pin(async move { finished.await.expect("the task panicked") })
        }));
        futures::executor::block_on(check(spawner));
    }
}

/// One `#[test]` per (runtime, check). Only the single-threaded, I/O-free local pool runs
/// under miri.
macro_rules! on_every_runtime {
    ($($check:ident),* $(,)?) => {
        on_every_runtime!(@runtime tokio_current_thread: $($check),*);
        on_every_runtime!(@runtime tokio_multi_thread: $($check),*);
        on_every_runtime!(@runtime smol: $($check),*);
        on_every_runtime!(@runtime async_std: $($check),*);
        on_every_runtime!(@runtime futures_block_on_threads: $($check),*);
        on_every_runtime!(@miri futures_local_pool: $($check),*);
    };
    (@runtime $runtime:ident: $($check:ident),*) => {
        mod $runtime {
            $(
                #[test]
                #[cfg_attr(miri, ignore = "real runtimes do I/O; thread-per-task is too slow")]
                fn $check() {
                    super::run::$runtime(super::$check);
                }
            )*
        }
    };
    (@miri $runtime:ident: $($check:ident),*) => {
        mod $runtime {
            $(
                #[test]
                fn $check() {
                    super::run::$runtime(super::$check);
                }
            )*
        }
    };
}

on_every_runtime!(
    serves_smaller_priorities_first_then_by_arrival,
    serves_equal_priorities_in_arrival_order,
    nobody_barges_past_a_queued_waiter,
    weighted_requests_are_served_in_order_without_inversion,
    never_more_than_the_limit_run_at_once,
    close_fails_every_waiter,
    one_release_wakes_every_waiter_it_serves,
);

/// What the tasks above need to cross threads, checked at compile time for the borrowed
/// types (the owned ones: `tests/owned.rs`).
#[test]
fn borrowed_types_are_thread_safe() {
    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}
    assert_send_sync::<Semaphore>();
    assert_send::<prio_semaphore::Acquire<'static>>();
    assert_send_sync::<prio_semaphore::Permit<'static>>();
}

/// The borrowed futures and permits are covariant in their lifetime, like any type that
/// holds a `&'a`: a longer-lived one can be passed where a shorter one is expected. (It
/// fails to compile if a field ever names the semaphore through an associated type.)
#[test]
fn borrowed_types_are_covariant_in_their_lifetime() {
    fn shorter_acquire<'a>(a: prio_semaphore::Acquire<'static>) -> prio_semaphore::Acquire<'a> {
        a
    }
    fn shorter_permit<'a>(p: prio_semaphore::Permit<'static>) -> prio_semaphore::Permit<'a> {
        p
    }
    static SEM: Semaphore = Semaphore::new(1);
    let permit = shorter_permit(shorter_acquire(SEM.acquire()).wait().unwrap());
    assert_eq!(permit.num_permits(), 1);
}
