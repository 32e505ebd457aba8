//! Group b: 10,000 tasks contending for 4 permits on one executor, measured by criterion
//! and again in paired rounds (`paired_b.json`).

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use futures::executor::block_on;
use futures::stream::{FuturesUnordered, StreamExt};

use crate::peers::{for_each_peer, Peer};
use crate::shared::{criterion_home, SplitMix64};

pub const TASKS: usize = 10_000;
const TASK_PERMITS: usize = 4;

/// Priorities of the contending tasks, by scenario. `None`: plain `acquire()`.
#[derive(Clone, Copy)]
pub enum Mix {
    Equal,
    TwoClasses,
    Random,
}

impl Mix {
    pub fn priorities(self) -> Vec<Option<i64>> {
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
pub fn run_tasks<P: Peer>(priorities: &[Option<i64>]) {
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

pub fn group_b(c: &mut Criterion) {
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
pub fn paired_b() {
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

/// Whether to run a group's paired rounds: when benchmarking (not criterion's `--test` or
/// `--list`) with no filter or one that names the group's prefix (`"b_"`, `"f_"`, ...).
pub fn wants_paired_rounds(prefix: &str) -> bool {
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
    filters.is_empty() || filters.iter().any(|f| f.contains(prefix))
}
