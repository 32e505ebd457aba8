//! Side-by-side benchmarks: `prio-semaphore` against `tokio::sync::Semaphore`,
//! `async-lock`, `maitake-sync`, `priority-semaphore` 0.2 and `ranked-semaphore` 0.1.
//!
//! Regenerate the tables and the chart in `docs/benchmarks.md` with `scripts/bench.sh`; the
//! instruction counts below come from `scripts/profile.sh` (callgrind).
//!
//! # Fairness
//!
//! Every workload is one generic function run once per implementation, through a thin
//! adapter ([`Peer`]) that calls each crate the way its documentation shows (`acquire()`,
//! `try_acquire()`, its own priority argument). Adapters are newtypes with `#[inline]`
//! forwarding methods, so they cost nothing after monomorphisation. All contended
//! single-thread workloads run on one executor for everyone: `futures::executor::block_on`
//! over a `FuturesUnordered` of tasks (what `LocalPool` does inside, minus boxing each
//! task). `tokio`'s semaphore has no cooperative budget outside a tokio runtime, so it is
//! measured without it, like the others.
//!
//! * Priorities: smaller first in this crate; `priority-semaphore` and `ranked-semaphore`
//!   serve *larger* first, so their adapters pass the negated value. `tokio`, `async-lock`
//!   and `maitake-sync` have no priorities: they run the same workload in arrival order
//!   (marked "FIFO only" in the report), which is the baseline the priority targets use.
//! * Weighted requests: `async-lock` and `priority-semaphore` have none; no workload here
//!   needs them.
//! * The allocator is put in one state before anything is measured (see
//!   [`settle_allocator`]): otherwise glibc made the first benchmark of each group pay
//!   page faults the later ones did not.
//! * Futures that must stay queued while others are created live in
//!   `Pin<Box<Option<F>>>` slots allocated before the clock starts; `Pin::set` creates and
//!   drops a future in place, so the timed code allocates only what the implementation
//!   itself allocates.
//!
//! # Groups
//!
//! * `a_*`: uncontended `try_acquire` + drop, and `acquire()` polled once with
//!   `Waker::noop()` + drop.
//! * `b_*`: 10,000 tasks contending for 4 permits, each holding its permit across one
//!   yield: equal priorities, two classes (alternating), distinct random priorities. Also
//!   measured in paired rounds (see [`paired_b`]), which the report uses for the ratios.
//! * `c_*`: cancellation churn: 1,000 waiters queue behind a held permit and are dropped
//!   before they are served (oldest first, random order, and random order with distinct
//!   random priorities).
//! * `d_handoff`: one thread per core (at least 2) acquiring and releasing in a loop on a
//!   semaphore with half as many permits, each thread blocking in `block_on`.
//! * `e_*`: the cost of one more waiter (create, poll once, drop) at queue depths 100 to
//!   100,000: joining an existing priority class (8 classes queued) and bringing a new
//!   distinct priority (all queued priorities distinct).
//!
//! Besides timings, the binary counts heap allocations per queued waiter (a counting global
//! allocator, enabled only around that audit) and writes them to
//! `target/criterion/allocations.json` for the report.
//!
//! # Profile (callgrind, instructions per operation)
//!
//! `scripts/profile.sh` counts instructions per operation over the measured loop only.
//! The counts, what they showed and what was changed because of them (two rounds so far)
//! are in `docs/benchmarks.md` ("Findings").
//!
//! # Running one scenario without criterion
//!
//! `PRIO_SEM_PROFILE=<scenario>:<peer>` runs one scenario in a loop (for callgrind or
//! `perf`) instead of the benchmarks: scenarios `try`, `acquire`, `tasks_equal`,
//! `tasks_classes`, `tasks_random`, `churn`, `existing_<depth>`, `new_<depth>`; peers
//! `prio-semaphore`, `tokio`, `async-lock`, `maitake-sync`, `priority-semaphore`,
//! `ranked-semaphore`. The measured loop is the function `profile_measure`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::hint::black_box;
use std::path::PathBuf;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use futures::executor::block_on;
use futures::stream::{FuturesUnordered, StreamExt};

// ---------------------------------------------------------------------------------------
// The implementations under test
// ---------------------------------------------------------------------------------------

/// One semaphore implementation, used the way its documentation shows.
trait Peer: Sync + Sized {
    /// The crate's name, as it appears in the report.
    const NAME: &'static str;
    /// Whether waiters can carry a priority. Without, `acquire_prio` is plain `acquire`.
    const PRIORITIES: bool = false;
    /// Whether a dropped waiter stays queued until permits reach it (lazy deletion).
    const LAZY_CANCEL: bool = false;

    fn with_permits(permits: usize) -> Self;

    /// Takes one permit without waiting; `None` if none is free.
    fn try_acquire(&self) -> Option<impl Sized + '_>;

    /// The crate's plain `acquire()` for one permit; the output holds the permit.
    fn acquire(&self) -> impl Future<Output = impl Sized + '_> + '_;

    /// Acquires one permit at `priority`, smaller values first.
    fn acquire_prio(&self, priority: i64) -> impl Future<Output = impl Sized + '_> + '_;
}

/// This crate.
struct PrioSemaphore(prio_semaphore::Semaphore);

impl Peer for PrioSemaphore {
    const NAME: &'static str = "prio-semaphore";
    const PRIORITIES: bool = true;

    fn with_permits(permits: usize) -> Self {
        Self(prio_semaphore::Semaphore::new(permits))
    }

    #[inline]
    fn try_acquire(&self) -> Option<impl Sized + '_> {
        self.0.try_acquire().ok()
    }

    #[inline]
    fn acquire(&self) -> impl Future<Output = impl Sized + '_> + '_ {
        self.0.acquire()
    }

    #[inline]
    fn acquire_prio(&self, priority: i64) -> impl Future<Output = impl Sized + '_> + '_ {
        self.0.acquire().priority(priority)
    }
}

/// `tokio::sync::Semaphore`: FIFO, weighted, intrusive wait list behind a mutex.
struct Tokio(tokio::sync::Semaphore);

impl Peer for Tokio {
    const NAME: &'static str = "tokio";

    fn with_permits(permits: usize) -> Self {
        Self(tokio::sync::Semaphore::new(permits))
    }

    #[inline]
    fn try_acquire(&self) -> Option<impl Sized + '_> {
        self.0.try_acquire().ok()
    }

    #[inline]
    fn acquire(&self) -> impl Future<Output = impl Sized + '_> + '_ {
        self.0.acquire()
    }

    #[inline]
    fn acquire_prio(&self, _priority: i64) -> impl Future<Output = impl Sized + '_> + '_ {
        self.0.acquire()
    }
}

/// `async_lock::Semaphore`: a counter plus an `event-listener` `Event`; not weighted.
struct AsyncLock(async_lock::Semaphore);

impl Peer for AsyncLock {
    const NAME: &'static str = "async-lock";

    fn with_permits(permits: usize) -> Self {
        Self(async_lock::Semaphore::new(permits))
    }

    #[inline]
    fn try_acquire(&self) -> Option<impl Sized + '_> {
        self.0.try_acquire()
    }

    #[inline]
    fn acquire(&self) -> impl Future<Output = impl Sized + '_> + '_ {
        self.0.acquire()
    }

    #[inline]
    fn acquire_prio(&self, _priority: i64) -> impl Future<Output = impl Sized + '_> + '_ {
        self.0.acquire()
    }
}

/// `maitake_sync::Semaphore`: FIFO, weighted, intrusive (cordyceps) list, no_std.
struct Maitake(maitake_sync::Semaphore);

impl Peer for Maitake {
    const NAME: &'static str = "maitake-sync";

    fn with_permits(permits: usize) -> Self {
        Self(maitake_sync::Semaphore::new(permits))
    }

    #[inline]
    fn try_acquire(&self) -> Option<impl Sized + '_> {
        self.0.try_acquire(1).ok()
    }

    #[inline]
    fn acquire(&self) -> impl Future<Output = impl Sized + '_> + '_ {
        self.0.acquire(1)
    }

    #[inline]
    fn acquire_prio(&self, _priority: i64) -> impl Future<Output = impl Sized + '_> + '_ {
        self.0.acquire(1)
    }
}

/// `priority_semaphore::PrioritySemaphore` 0.2: a binary heap of `Arc`'d waiters, larger
/// priorities first, one permit per request; its API takes `self: &Arc<Self>`.
struct PrioritySemaphore02(Arc<priority_semaphore::PrioritySemaphore>);

impl PrioritySemaphore02 {
    /// Its priorities are `i32`, larger first.
    #[inline]
    fn priority(priority: i64) -> i32 {
        i32::try_from(-priority).expect("benchmark priorities fit in i32")
    }
}

impl Peer for PrioritySemaphore02 {
    const NAME: &'static str = "priority-semaphore";
    const PRIORITIES: bool = true;

    fn with_permits(permits: usize) -> Self {
        Self(Arc::new(priority_semaphore::PrioritySemaphore::new(
            permits,
        )))
    }

    #[inline]
    fn try_acquire(&self) -> Option<impl Sized + '_> {
        self.0.try_acquire(0).ok()
    }

    #[inline]
    fn acquire(&self) -> impl Future<Output = impl Sized + '_> + '_ {
        // It has no priority-less acquire: 0 is its neutral value.
        self.0.acquire(0)
    }

    #[inline]
    fn acquire_prio(&self, priority: i64) -> impl Future<Output = impl Sized + '_> + '_ {
        self.0.acquire(Self::priority(priority))
    }
}

/// `ranked_semaphore::RankedSemaphore` 0.1: a `HashMap` of per-priority `VecDeque`s of
/// `Arc`'d waiters plus a `BinaryHeap` of priorities, larger first, behind a `std` mutex.
struct Ranked(ranked_semaphore::RankedSemaphore);

impl Peer for Ranked {
    const NAME: &'static str = "ranked-semaphore";
    const PRIORITIES: bool = true;
    /// Its `Acquire::drop` marks the waiter cancelled and leaves it in the queue.
    const LAZY_CANCEL: bool = true;

    fn with_permits(permits: usize) -> Self {
        Self(ranked_semaphore::RankedSemaphore::new_fifo(permits))
    }

    #[inline]
    fn try_acquire(&self) -> Option<impl Sized + '_> {
        self.0.try_acquire().ok()
    }

    #[inline]
    fn acquire(&self) -> impl Future<Output = impl Sized + '_> + '_ {
        self.0.acquire()
    }

    #[inline]
    fn acquire_prio(&self, priority: i64) -> impl Future<Output = impl Sized + '_> + '_ {
        self.0
            .acquire_with_priority(isize::try_from(-priority).expect("fits in isize"))
    }
}

/// Calls `$f::<Peer>($args)` for every implementation, in report order.
macro_rules! for_each_peer {
    ($f:ident($($arg:expr),* $(,)?)) => {{
        $f::<PrioSemaphore>($($arg),*);
        $f::<Tokio>($($arg),*);
        $f::<AsyncLock>($($arg),*);
        $f::<Maitake>($($arg),*);
        $f::<PrioritySemaphore02>($($arg),*);
        $f::<Ranked>($($arg),*);
    }};
}

// ---------------------------------------------------------------------------------------
// Shared pieces of the workloads
// ---------------------------------------------------------------------------------------

/// Returns `Pending` once (after asking to be polled again), then `Ready`.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A deterministic pseudo-random generator (SplitMix64), so every run and every
/// implementation sees the same "random" priorities and orders.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A permutation of `0..n` (Fisher-Yates).
    fn permutation(seed: u64, n: usize) -> Vec<usize> {
        let mut rng = Self(seed);
        let mut out: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            out.swap(i, j);
        }
        out
    }
}

fn noop_context() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

/// `None`, typed as an `Option` of what `make` returns (the futures' types are unnameable).
fn none_of<T>(_make: &impl Fn(i64) -> T) -> Option<T> {
    None
}

/// Queues `priorities.len()` waiters on `sem`, returning their slots: each polled once, so
/// it is linked into the wait list, and dropped (cancelled) when its slot is.
fn queue_waiters<F: Future>(
    make: &impl Fn(i64) -> F,
    priorities: impl IntoIterator<Item = i64>,
) -> Vec<Pin<Box<Option<F>>>> {
    let mut cx = noop_context();
    priorities
        .into_iter()
        .map(|priority| {
            let mut slot = Box::pin(Some(make(priority)));
            let fut = slot.as_mut().as_pin_mut().expect("just filled");
            assert!(fut.poll(&mut cx).is_pending(), "the waiter must queue");
            slot
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// a: uncontended
// ---------------------------------------------------------------------------------------

fn try_acquire_uncontended<P: Peer>(g: &mut BenchmarkGroup<'_, WallTime>) {
    let sem = P::with_permits(1);
    g.bench_function(P::NAME, |b| {
        b.iter(|| {
            let permit = black_box(&sem).try_acquire();
            assert!(permit.is_some());
            drop(black_box(permit));
        })
    });
}

fn acquire_uncontended<P: Peer>(g: &mut BenchmarkGroup<'_, WallTime>) {
    let sem = P::with_permits(1);
    let mut cx = noop_context();
    g.bench_function(P::NAME, |b| {
        b.iter(|| {
            let mut fut = pin!(black_box(&sem).acquire());
            let Poll::Ready(permit) = fut.as_mut().poll(&mut cx) else {
                panic!("an uncontended acquire completes on its first poll");
            };
            drop(black_box(permit));
        })
    });
}

fn group_a(c: &mut Criterion) {
    let mut g = c.benchmark_group("a_try_acquire");
    for_each_peer!(try_acquire_uncontended(&mut g));
    g.finish();
    let mut g = c.benchmark_group("a_acquire");
    for_each_peer!(acquire_uncontended(&mut g));
    g.finish();
}

// ---------------------------------------------------------------------------------------
// b: 10,000 tasks, 4 permits, one executor
// ---------------------------------------------------------------------------------------

const TASKS: usize = 10_000;
const TASK_PERMITS: usize = 4;

/// Priorities of the contending tasks, by scenario. `None`: plain `acquire()`.
#[derive(Clone, Copy)]
enum Mix {
    Equal,
    TwoClasses,
    Random,
}

impl Mix {
    fn priorities(self) -> Vec<Option<i64>> {
        match self {
            Self::Equal => vec![None; TASKS],
            Self::TwoClasses => (0..TASKS).map(|i| Some((i % 2) as i64)).collect(),
            Self::Random => SplitMix64::permutation(0xB0_0B, TASKS)
                .into_iter()
                .map(|p| Some(p as i64))
                .collect(),
        }
    }
}

/// Holds `held` (a permit) across one yield to the executor.
async fn hold_across_yield<T>(held: T) {
    YieldNow(false).await;
    drop(held);
}

async fn task<P: Peer>(sem: &P, priority: Option<i64>) {
    match priority {
        None => hold_across_yield(sem.acquire().await).await,
        Some(priority) => hold_across_yield(sem.acquire_prio(priority).await).await,
    }
}

/// Runs one task per entry of `priorities` to completion on one thread.
fn run_tasks<P: Peer>(priorities: &[Option<i64>]) {
    let sem = P::with_permits(TASK_PERMITS);
    block_on(async {
        let mut tasks: FuturesUnordered<_> = priorities.iter().map(|&p| task(&sem, p)).collect();
        let mut done = 0;
        while tasks.next().await.is_some() {
            done += 1;
        }
        assert_eq!(done, priorities.len());
    });
}

fn contended_tasks<P: Peer>(g: &mut BenchmarkGroup<'_, WallTime>, priorities: &[Option<i64>]) {
    g.bench_function(P::NAME, |b| b.iter(|| run_tasks::<P>(priorities)));
}

const MIXES: [(&str, Mix); 3] = [
    ("b_equal", Mix::Equal),
    ("b_two_classes", Mix::TwoClasses),
    ("b_random", Mix::Random),
];

fn group_b(c: &mut Criterion) {
    for (name, mix) in MIXES {
        let priorities = mix.priorities();
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(TASKS as u64));
        g.sample_size(20);
        for_each_peer!(contended_tasks(&mut g, &priorities));
        g.finish();
    }
}

/// Rounds of [`paired_b`] per mix.
const PAIRED_ROUNDS: usize = 101;

/// Group b again, in **paired rounds**: each round runs every implementation once, in an
/// order rotated by one per round, and times each run. The report divides times within a
/// round and takes the median over rounds, so a burst of noise from other processes
/// (which criterion's one-implementation-after-another samples absorb whole) moves one
/// round, not one implementation. Writes `{"<group>": {"<peer>": [seconds, ...]}}` to
/// `paired_b.json` next to criterion's output.
fn paired_b() {
    type Run = fn(&[Option<i64>]);
    let mut runs: Vec<(&str, Run)> = Vec::new();
    fn add<P: Peer>(runs: &mut Vec<(&'static str, Run)>) {
        runs.push((P::NAME, run_tasks::<P>));
    }
    for_each_peer!(add(&mut runs));
    let mut groups = Vec::new();
    for (name, mix) in MIXES {
        let priorities = mix.priorities();
        for (_, run) in &runs {
            run(&priorities); // warm-up, untimed
        }
        let mut times = vec![Vec::with_capacity(PAIRED_ROUNDS); runs.len()];
        for round in 0..PAIRED_ROUNDS {
            for k in 0..runs.len() {
                let i = (round + k) % runs.len();
                let start = Instant::now();
                runs[i].1(black_box(&priorities));
                times[i].push(start.elapsed().as_secs_f64());
            }
        }
        let peers: Vec<String> = runs
            .iter()
            .zip(&times)
            .map(|((peer, _), t)| {
                let list: Vec<String> = t.iter().map(|s| format!("{s:.9}")).collect();
                format!("    \"{peer}\": [{}]", list.join(", "))
            })
            .collect();
        groups.push(format!("  \"{name}\": {{\n{}\n  }}", peers.join(",\n")));
        println!("{name}: {PAIRED_ROUNDS} paired rounds done");
    }
    let dir = criterion_home();
    if std::fs::create_dir_all(&dir).is_ok() {
        // Best effort: without it the report falls back to criterion's times.
        let _ = std::fs::write(
            dir.join("paired_b.json"),
            format!("{{\n{}\n}}\n", groups.join(",\n")),
        );
    }
}

/// Whether to run the paired rounds: when benchmarking (not criterion's `--test` or
/// `--list`) with no filter or one that can select group b.
fn wants_paired_rounds() -> bool {
    // Criterion's options that take a value (which is not a filter).
    const TAKES_VALUE: &[&str] = &[
        "--warm-up-time",
        "--measurement-time",
        "--sample-size",
        "--save-baseline",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--color",
        "--output-format",
        "--profile-time",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--nresamples",
        "--plotting-backend",
        "--format",
    ];
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--test" || a == "--list") {
        return false;
    }
    let mut filters = Vec::new();
    let mut skip_value = false;
    for arg in &args {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        if arg.starts_with('-') {
            skip_value = TAKES_VALUE.contains(&arg.as_str());
        } else {
            filters.push(arg);
        }
    }
    filters.is_empty() || filters.iter().any(|f| f.contains("b_"))
}

// ---------------------------------------------------------------------------------------
// c: cancellation churn
// ---------------------------------------------------------------------------------------

const CHURN: usize = 1_000;

/// Empty slots for `CHURN` futures made by `make`, allocated before any clock starts.
fn churn_slots<F>(make: &impl Fn(i64) -> F) -> Vec<Pin<Box<Option<F>>>> {
    (0..CHURN).map(|_| Box::pin(none_of(make))).collect()
}

/// Queues one waiter per slot (behind a held permit), then drops them in `cancel_order`.
fn churn_round<F: Future>(
    make: &impl Fn(i64) -> F,
    slots: &mut [Pin<Box<Option<F>>>],
    priorities: &[i64],
    cancel_order: &[usize],
) {
    let mut cx = noop_context();
    for (slot, &priority) in slots.iter_mut().zip(priorities) {
        slot.as_mut().set(Some(make(priority)));
        let fut = slot.as_mut().as_pin_mut().expect("just filled");
        assert!(fut.poll(&mut cx).is_pending());
    }
    for &i in cancel_order {
        slots[i].as_mut().set(None);
    }
}

fn churn<P: Peer>(g: &mut BenchmarkGroup<'_, WallTime>, priorities: &[i64], order: &[usize]) {
    let sem = P::with_permits(1);
    let mut held = sem.try_acquire();
    let make = |priority| sem.acquire_prio(priority);
    let mut slots = churn_slots(&make);
    g.bench_function(P::NAME, |b| {
        b.iter_custom(|rounds| {
            let start = Instant::now();
            for _ in 0..rounds {
                churn_round(&make, &mut slots, priorities, order);
                // Release and retake the permit, so that an implementation that leaves
                // cancelled waiters queued (`ranked-semaphore`) cleans them up inside the
                // timed round rather than accumulating them.
                drop(held.take());
                held = sem.try_acquire();
                assert!(held.is_some(), "the permit is free again");
            }
            start.elapsed()
        })
    });
    drop(slots);
    drop(held);
}

fn group_c(c: &mut Criterion) {
    let equal = vec![0; CHURN];
    let random_priorities: Vec<i64> = SplitMix64::permutation(0xC0FFEE, CHURN)
        .into_iter()
        .map(|p| p as i64)
        .collect();
    let oldest_first: Vec<usize> = (0..CHURN).collect();
    let random_order = SplitMix64::permutation(0xD1CE, CHURN);
    for (name, priorities, order) in [
        ("c_oldest_first", &equal, &oldest_first),
        ("c_random_order", &equal, &random_order),
        ("c_random_priorities", &random_priorities, &random_order),
    ] {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(CHURN as u64));
        for_each_peer!(churn(&mut g, priorities, order));
        g.finish();
    }
}

// ---------------------------------------------------------------------------------------
// d: multi-thread hand-off
// ---------------------------------------------------------------------------------------

/// Threads in the hand-off benchmark: one per core, at least 2.
fn handoff_threads() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(2)
        .max(2)
}

/// Work done while holding a permit: a few dozen instructions.
#[inline(never)]
fn critical_section() {
    for i in 0..16u32 {
        black_box(i);
    }
}

/// Runs about `ops` acquire/release pairs spread over the threads; returns the time the
/// `ops` took (scaled from what was actually run).
fn handoff<P: Peer>(ops: u64) -> Duration {
    let threads = handoff_threads();
    let sem = P::with_permits((threads / 2).max(1));
    let per_thread = ops.div_ceil(threads as u64).max(1);
    let start_line = Barrier::new(threads + 1);
    let elapsed = std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                start_line.wait();
                for _ in 0..per_thread {
                    let permit = block_on(sem.acquire());
                    critical_section();
                    drop(permit);
                }
            });
        }
        start_line.wait();
        let start = Instant::now();
        // Leaving the scope joins every thread.
        start
    })
    .elapsed();
    elapsed.mul_f64(ops as f64 / (per_thread * threads as u64) as f64)
}

fn handoff_bench<P: Peer>(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.bench_function(P::NAME, |b| b.iter_custom(handoff::<P>));
}

fn group_d(c: &mut Criterion) {
    let mut g = c.benchmark_group("d_handoff");
    g.throughput(Throughput::Elements(1));
    handoff_bench::<PrioSemaphore>(&mut g);
    handoff_bench::<Tokio>(&mut g);
    handoff_bench::<AsyncLock>(&mut g);
    handoff_bench::<Maitake>(&mut g);
    handoff_bench::<PrioritySemaphore02>(&mut g);
    // Not ranked-semaphore 0.1: in this workload it loses a wake-up and both threads park
    // forever with the permit free (intermittent; seen on 2 cores: gdb shows both threads in
    // `park` inside `block_on`, no permit held), which would hang the whole run.
    g.finish();
}

// ---------------------------------------------------------------------------------------
// e: the cost of one more waiter
// ---------------------------------------------------------------------------------------

const DEPTHS: [usize; 4] = [100, 1_000, 10_000, 100_000];
/// Priority classes queued in the "existing class" shape.
const CLASSES: i64 = 8;

#[derive(Clone, Copy)]
enum Shape {
    /// `depth` waiters in `CLASSES` classes; the new one joins class 3 (not the front).
    ExistingClass,
    /// `depth` waiters with distinct even priorities, queued in random order; the new one
    /// has an odd priority in the middle.
    NewPriority,
}

impl Shape {
    fn queued(self, depth: usize) -> Vec<i64> {
        match self {
            Self::ExistingClass => (0..depth as i64).map(|i| i % CLASSES).collect(),
            Self::NewPriority => SplitMix64::permutation(0xE0 + depth as u64, depth)
                .into_iter()
                .map(|p| 2 * p as i64)
                .collect(),
        }
    }

    fn newcomer(self, depth: usize) -> i64 {
        match self {
            Self::ExistingClass => 3,
            Self::NewPriority => depth as i64 + 1,
        }
    }
}

fn one_more_waiter<P: Peer>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    shape: Shape,
    depth: usize,
    lazy_cancel: bool,
) {
    if P::LAZY_CANCEL != lazy_cancel {
        return;
    }
    let sem = P::with_permits(0);
    let make = |priority| sem.acquire_prio(priority);
    let queued = queue_waiters(&make, shape.queued(depth));
    let newcomer = shape.newcomer(depth);
    let mut cx = noop_context();
    g.bench_with_input(BenchmarkId::new(P::NAME, depth), &depth, |b, _| {
        b.iter(|| {
            let mut fut = pin!(black_box(&sem).acquire_prio(black_box(newcomer)));
            assert!(fut.as_mut().poll(&mut cx).is_pending());
        })
    });
    drop(queued);
}

fn group_e(c: &mut Criterion) {
    for (name, shape) in [
        ("e_existing_class", Shape::ExistingClass),
        ("e_new_priority", Shape::NewPriority),
    ] {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(1));
        for depth in DEPTHS {
            for_each_peer!(one_more_waiter(&mut g, shape, depth, false));
        }
        g.finish();
        // An implementation whose dropped waiters stay queued (about 70 bytes each) until
        // permits reach them, which never happens here, grows by one entry per iteration:
        // a short, fixed budget keeps that to a few hundred MB.
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(1));
        g.warm_up_time(Duration::from_millis(100));
        g.measurement_time(Duration::from_millis(300));
        for depth in DEPTHS {
            for_each_peer!(one_more_waiter(&mut g, shape, depth, true));
        }
        g.finish();
    }
}

// ---------------------------------------------------------------------------------------
// Heap allocations per waiter
// ---------------------------------------------------------------------------------------

/// The system allocator, counting allocations while `COUNTING` is set.
struct CountingAllocator;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call unchanged to `System`; the counter has no effect on memory.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Heap allocations per waiter while `CHURN` waiters queue (all at one priority, or at
/// distinct priorities) and are cancelled, on a fresh semaphore.
fn allocations_per_waiter<P: Peer>(distinct: bool) -> f64 {
    let sem = P::with_permits(1);
    let held = sem.try_acquire().expect("a free permit");
    let priorities: Vec<i64> = if distinct {
        (0..CHURN as i64).rev().collect()
    } else {
        vec![0; CHURN]
    };
    let order: Vec<usize> = (0..CHURN).collect();
    let make = |priority| sem.acquire_prio(priority);
    let mut slots = churn_slots(&make);
    // Warm the semaphore once (lazily built parts are not per waiter), then count.
    churn_round(&make, &mut slots, &priorities[..1], &order[..1]);
    ALLOCATIONS.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    churn_round(&make, &mut slots, &priorities, &order);
    COUNTING.store(false, Ordering::Relaxed);
    drop(held);
    ALLOCATIONS.load(Ordering::Relaxed) as f64 / CHURN as f64
}

/// Where criterion writes its output: `$CRITERION_HOME`, else `criterion/` in the target
/// directory (`$CARGO_TARGET_DIR`, else the one this binary was built in).
fn criterion_home() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            // <target>/<profile>/deps/<this binary>
            let exe = std::env::current_exe().ok()?;
            Some(exe.parent()?.parent()?.parent()?.to_path_buf())
        })
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("criterion")
}

/// Writes `{"<peer>": {"equal": a, "distinct": b, "future_bytes": n}, ...}` next to
/// criterion's output.
fn allocation_audit() {
    let mut rows = Vec::new();
    fn row<P: Peer>(rows: &mut Vec<String>) {
        let equal = allocations_per_waiter::<P>(false);
        let distinct = if P::PRIORITIES {
            format!("{:.3}", allocations_per_waiter::<P>(true))
        } else {
            "null".to_owned()
        };
        // What a waiter costs in place of a heap allocation: the future's own size.
        let future_bytes = std::mem::size_of_val(&P::with_permits(1).acquire_prio(1));
        println!(
            "{:<20} heap allocations per queued waiter: equal {equal:.3}, distinct {distinct}; \
             acquire future: {future_bytes} bytes",
            P::NAME
        );
        rows.push(format!(
            "  \"{}\": {{\"equal\": {equal:.3}, \"distinct\": {distinct}, \
             \"future_bytes\": {future_bytes}}}",
            P::NAME
        ));
    }
    for_each_peer!(row(&mut rows));
    let dir = criterion_home();
    let json = format!("{{\n{}\n}}\n", rows.join(",\n"));
    if std::fs::create_dir_all(&dir).is_ok() {
        // Best effort: the report says so when the file is missing.
        let _ = std::fs::write(dir.join("allocations.json"), json);
    }
}

// ---------------------------------------------------------------------------------------
// Profiling mode (callgrind): PRIO_SEM_PROFILE=<scenario>:<peer>
// ---------------------------------------------------------------------------------------

/// The measured loop for callgrind's `--toggle-collect=*profile_measure*`; returns the
/// number of operations it ran.
#[inline(never)]
fn profile_measure<P: Peer>(sem: &P, scenario: &str) -> usize {
    let mut cx = noop_context();
    match scenario {
        "try" => {
            for _ in 0..100_000 {
                drop(black_box(black_box(sem).try_acquire()));
            }
            100_000
        }
        "acquire" => {
            for _ in 0..100_000 {
                let mut fut = pin!(black_box(sem).acquire());
                assert!(fut.as_mut().poll(&mut cx).is_ready());
            }
            100_000
        }
        _ => {
            let newcomer = scenario.parse::<i64>().expect("a newcomer priority");
            for _ in 0..10_000 {
                let mut fut = pin!(black_box(sem).acquire_prio(black_box(newcomer)));
                assert!(fut.as_mut().poll(&mut cx).is_pending());
            }
            10_000
        }
    }
}

/// `profile_measure` for cancellation churn (slots allocated by the caller).
#[inline(never)]
fn profile_measure_churn<F: Future>(
    make: &impl Fn(i64) -> F,
    slots: &mut [Pin<Box<Option<F>>>],
) -> usize {
    let order: Vec<usize> = (0..CHURN).collect();
    let equal = vec![0; CHURN];
    for _ in 0..10 {
        churn_round(make, slots, &equal, &order);
    }
    10 * CHURN
}

/// `profile_measure` for the task workloads, which build their own semaphore.
#[inline(never)]
fn profile_measure_tasks<P: Peer>(priorities: &[Option<i64>]) -> usize {
    run_tasks::<P>(priorities);
    priorities.len()
}

fn profile<P: Peer>(scenario: &str) {
    let ops = match scenario {
        "tasks_equal" => profile_measure_tasks::<P>(&Mix::Equal.priorities()),
        "tasks_classes" => profile_measure_tasks::<P>(&Mix::TwoClasses.priorities()),
        "tasks_random" => profile_measure_tasks::<P>(&Mix::Random.priorities()),
        "try" | "acquire" => profile_measure(&P::with_permits(1), scenario),
        "churn" => {
            let sem = P::with_permits(1);
            let _held = sem.try_acquire().expect("a free permit");
            let make = |priority| sem.acquire_prio(priority);
            let mut slots = churn_slots(&make);
            profile_measure_churn(&make, &mut slots)
        }
        _ => {
            let (shape, depth) = if let Some(depth) = scenario.strip_prefix("existing_") {
                (Shape::ExistingClass, depth)
            } else if let Some(depth) = scenario.strip_prefix("new_") {
                (Shape::NewPriority, depth)
            } else {
                panic!("unknown scenario {scenario:?}");
            };
            let depth: usize = depth.parse().expect("a queue depth");
            let sem = P::with_permits(0);
            let make = |priority| sem.acquire_prio(priority);
            let _queued = queue_waiters(&make, shape.queued(depth));
            profile_measure(&sem, &shape.newcomer(depth).to_string())
        }
    };
    println!("peer={} scenario={scenario} ops={ops}", P::NAME);
}

fn profile_one(spec: &str) {
    let (scenario, peer) = spec
        .split_once(':')
        .expect("PRIO_SEM_PROFILE=<scenario>:<peer>");
    fn pick<P: Peer>(peer: &str, scenario: &str, found: &mut bool) {
        if peer == P::NAME {
            profile::<P>(scenario);
            *found = true;
        }
    }
    let mut found = false;
    for_each_peer!(pick(peer, scenario, &mut found));
    assert!(found, "unknown peer {peer:?}");
}

// ---------------------------------------------------------------------------------------

/// Criterion's defaults (3 s + 5 s per benchmark) would take half an hour for the ~100
/// benchmarks here; these keep a full run near 5 minutes. `--warm-up-time` and
/// `--measurement-time` on the command line override them (except for the fixed short
/// budget of lazily cancelling implementations in group e).
const WARM_UP: Duration = Duration::from_millis(500);
const MEASUREMENT: Duration = Duration::from_millis(1500);

/// Puts the allocator in the same state for every benchmark.
///
/// glibc's `malloc` gives freed memory at the top of its heap back to the kernel once more
/// than the trim threshold (128 KiB at start) is free, and raises that threshold for good
/// the first time a large, separately mapped block is freed (`mallopt(3)`, "dynamic mmap
/// threshold"). Criterion frees such blocks after analysing a benchmark, so without this
/// the *first* benchmark of each allocation-heavy group (always prio-semaphore's) paid
/// page faults on every iteration that the ones after it did not: about 115 ns per task in
/// group b. Freeing one 16 MiB block up front raises the threshold before anything is
/// measured. Other allocators ignore it.
fn settle_allocator() {
    drop(black_box(vec![0u8; 16 << 20]));
}

fn main() {
    settle_allocator();
    if let Ok(spec) = std::env::var("PRIO_SEM_PROFILE") {
        profile_one(&spec);
        return;
    }
    let mut c = Criterion::default()
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT)
        .configure_from_args();
    allocation_audit();
    group_a(&mut c);
    group_b(&mut c);
    if wants_paired_rounds() {
        paired_b();
    }
    group_c(&mut c);
    group_d(&mut c);
    group_e(&mut c);
    c.final_summary();
}
