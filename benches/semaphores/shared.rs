//! Pieces the workloads share: deterministic "random" numbers, a no-op context, queueing
//! waiters by hand, timing a run over threads, and where the output files go.

use std::future::Future;
use std::hint::black_box;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

/// A deterministic pseudo-random generator (SplitMix64), so every run and every
/// implementation sees the same "random" priorities and orders.
pub struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A permutation of `0..n` (Fisher-Yates).
    pub fn permutation(seed: u64, n: usize) -> Vec<usize> {
        let mut rng = Self(seed);
        let mut out: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            out.swap(i, j);
        }
        out
    }
}

pub fn noop_context() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

/// Queues `priorities.len()` waiters on `sem`, returning their slots: each polled once, so
/// it is linked into the wait list, and dropped (cancelled) when its slot is.
pub fn queue_waiters<F: Future>(
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

/// Where criterion writes its output: `$CRITERION_HOME`, else `criterion/` in the target
/// directory (`$CARGO_TARGET_DIR`, else the one this binary was built in).
pub fn criterion_home() -> PathBuf {
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

/// One implementation in [`paired_rounds`]: its name and a closure that runs the workload
/// once and returns the time it measured.
pub type PairedRun<'a> = (&'static str, Box<dyn FnMut() -> Duration + 'a>);

/// Runs every implementation once untimed, then `rounds` rounds that each run every
/// implementation once, in a new pseudo-random order each round (a rotation, as in
/// `b_tasks::paired_b`, would give each implementation the same predecessor every round,
/// and what a run leaves behind in the runtime or the caches moves the next one).
/// Returns each implementation's times in seconds, one per round.
pub fn paired_rounds(runs: &mut [PairedRun<'_>], rounds: usize) -> Vec<Vec<f64>> {
    for (_, run) in runs.iter_mut() {
        run(); // warm-up
    }
    let mut times = vec![Vec::with_capacity(rounds); runs.len()];
    for round in 0..rounds {
        for i in SplitMix64::permutation(0x5EED + round as u64, runs.len()) {
            times[i].push(runs[i].1().as_secs_f64());
        }
    }
    times
}

/// One group's paired rounds: its name and each implementation's times, ours first.
pub type PairedGroup = (String, Vec<(&'static str, Vec<f64>)>);

/// Writes `{"<group>": {"<peer>": [seconds, ...]}}` to `file` next to criterion's output
/// (best effort: the report skips what is missing), and prints each group's median ratios.
pub fn write_paired(file: &str, groups: &[PairedGroup]) {
    let mut out = Vec::new();
    for (group, peers) in groups {
        let ours = &peers[0].1;
        println!(
            "{group} ({} paired rounds), median of per-round ratio to {}:",
            ours.len(),
            peers[0].0
        );
        let mut lines = Vec::new();
        for (peer, times) in peers {
            let mut ratios: Vec<f64> = times.iter().zip(ours).map(|(t, o)| t / o).collect();
            ratios.sort_by(f64::total_cmp);
            let mut sorted = times.clone();
            sorted.sort_by(f64::total_cmp);
            println!(
                "  {peer:<46} {:>7.3}   (median {:.2} ms)",
                ratios[ratios.len() / 2],
                sorted[sorted.len() / 2] * 1e3
            );
            if std::env::var_os("PRIO_SEM_PAIRED_TIMES").is_some() {
                println!(
                    "      {:?}",
                    sorted
                        .iter()
                        .map(|t| (t * 1e4).round() / 10.0)
                        .collect::<Vec<_>>()
                );
            }
            let list: Vec<String> = times.iter().map(|s| format!("{s:.9}")).collect();
            lines.push(format!("    \"{peer}\": [{}]", list.join(", ")));
        }
        out.push(format!("  \"{group}\": {{\n{}\n  }}", lines.join(",\n")));
    }
    let dir = criterion_home();
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join(file), format!("{{\n{}\n}}\n", out.join(",\n")));
    }
}

/// Work done while holding a permit in the thread groups (d, g): a few dozen instructions.
#[inline(never)]
pub fn critical_section() {
    for i in 0..16u32 {
        black_box(i);
    }
}

/// Runs `step` `per_thread` times on each of `threads` threads and returns the time from
/// the first thread's start to the last one's end, each read by the thread itself: a clock
/// read by the spawning thread can come after the whole run when that thread is not
/// scheduled in between (on a busy 2-core machine it often was not).
///
/// The threads start together: each waits until every thread runs. With a `Barrier`, the
/// first thread woken often ran its whole loop before the others were scheduled, and
/// nothing was contended.
pub fn timed_threads(threads: usize, per_thread: usize, step: impl Fn() + Sync) -> Duration {
    let arrived = AtomicUsize::new(0);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    arrived.fetch_add(1, Ordering::SeqCst);
                    while arrived.load(Ordering::SeqCst) < threads {
                        std::thread::yield_now();
                    }
                    let start = Instant::now();
                    for _ in 0..per_thread {
                        step();
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a thread panicked"))
            .collect()
    });
    let first = spans.iter().map(|s| s.0).min().expect("threads");
    let last = spans.iter().map(|s| s.1).max().expect("threads");
    last - first
}
