//! Side-by-side benchmarks: `prio-semaphore` against `tokio::sync::Semaphore`,
//! `async-lock`, `maitake-sync`, `priority-semaphore` 0.2 and `ranked-semaphore` 0.1.
//!
//! Regenerate the tables and the chart in `docs/benchmarks.md` with `scripts/bench.sh`; the
//! instruction counts below come from `scripts/profile.sh` (callgrind).
//!
//! # Fairness
//!
//! Every workload is one generic function run once per implementation, through a thin
//! adapter ([`peers::Peer`]) that calls each crate the way its documentation shows (`acquire()`,
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
//!   [`settle_allocator`]): otherwise glibc makes the first benchmark of each group pay
//!   page faults the later ones do not.
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
//!   measured in paired rounds (see [`b_tasks::paired_b`]), which the report uses for the
//!   ratios.
//! * `c_*`: cancellation churn: 1,000 waiters queue behind a held permit and are dropped
//!   before they are served (oldest first, random order, and random order with distinct
//!   random priorities).
//! * `d_handoff`: one thread per core (at least 2) acquiring and releasing in a loop on a
//!   semaphore with half as many permits, each thread blocking in `block_on`.
//! * `e_*`: the cost of one more waiter (create, poll once, drop) at queue depths 100 to
//!   100,000: joining an existing priority class (8 classes queued) and bringing a new
//!   distinct priority (all queued priorities distinct).
//! * `h_fair_existing_flow`: the fair layer's one more waiter of an existing flow (8
//!   flows at weights 1 to 8) at depths 100 to 100,000 (prio-semaphore only).
//! * `f_multi_thread_{2,8}` (paired rounds only, `paired_f.json`): group b's workload
//!   (10,000 tasks, 4 permits) spawned on tokio's multi-thread runtime with 2 and 8
//!   workers; prio-semaphore also with other locks around its wait list.
//! * `g_blocking_{N}_threads` (paired rounds only, `paired_g.json`): N = 1×, 2× and 4× the
//!   cores blocking threads on one permit, each through the crate's own blocking path
//!   ([`peers::Peer::acquire_blocking`]); prio-semaphore also with other spins in `wait()`.
//!
//! Paired rounds (groups f and g) run every implementation once per round in a fresh
//! random order; the binary prints the median of the per-round ratios, and
//! `PRIO_SEM_PAIRED_TIMES=1` also prints every run's time (ms, sorted), which shows when a
//! group's runs fall into two regimes (group g: whether the threads formed a convoy).
//!
//! Besides timings, the binary counts heap allocations per queued waiter (a counting global
//! allocator, enabled only around that audit) and writes them to
//! `target/criterion/allocations.json` for the report.
//!
//! # Profile (callgrind, instructions per operation)
//!
//! `scripts/profile.sh` counts instructions per operation over the measured loop only.
//! The counts, what they showed and what was changed because of them are in
//! `docs/benchmarks.md` ("Findings").
//!
//! # Running one scenario without criterion
//!
//! `PRIO_SEM_PROFILE=<scenario>:<peer>` runs one scenario in a loop (for callgrind or
//! `perf`) instead of the benchmarks: scenarios `try`, `acquire`, `tasks_equal`,
//! `tasks_classes`, `tasks_random`, `churn`, `existing_<depth>`, `new_<depth>`; peers
//! `prio-semaphore`, `tokio`, `async-lock`, `maitake-sync`, `priority-semaphore`,
//! `ranked-semaphore`. The measured loops are the functions `profile_measure*` in
//! [`profile`].
//!
//! # Layout
//!
//! This file holds the overview, the run settings and `main`; the rest is in
//! `benches/semaphores/`: `peers.rs` (the adapters and `for_each_peer!`), `shared.rs`
//! (pieces the workloads share, the paired rounds), one file per group (`a_uncontended.rs`,
//! `b_tasks.rs`, `c_churn.rs`, `d_handoff.rs`, `e_one_more.rs`, `f_multi_thread.rs`,
//! `g_blocking.rs`), `variants.rs` (prio-semaphore with one internal swapped, measured
//! beside it), `allocations.rs` (the allocation audit and this binary's counting
//! allocator) and `profile.rs` (the `PRIO_SEM_PROFILE` entry points).

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;

#[path = "semaphores/peers.rs"]
mod peers;
#[path = "semaphores/shared.rs"]
mod shared;

#[path = "semaphores/a_uncontended.rs"]
mod a_uncontended;
#[path = "semaphores/b_tasks.rs"]
mod b_tasks;
#[path = "semaphores/c_churn.rs"]
mod c_churn;
#[path = "semaphores/d_handoff.rs"]
mod d_handoff;
#[path = "semaphores/e_one_more.rs"]
mod e_one_more;
#[path = "semaphores/f_multi_thread.rs"]
mod f_multi_thread;
#[path = "semaphores/g_blocking.rs"]
mod g_blocking;
#[path = "semaphores/h_fair.rs"]
mod h_fair;
#[path = "semaphores/variants.rs"]
mod variants;

#[path = "semaphores/allocations.rs"]
mod allocations;
#[path = "semaphores/profile.rs"]
mod profile;

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
/// the *first* benchmark of each allocation-heavy group (always prio-semaphore's) would pay
/// page faults on every iteration that the ones after it do not (what that cost once:
/// `docs/benchmarks.md`, "A harness pitfall, fixed"). Freeing one 16 MiB block up front
/// raises the threshold before anything is measured. Other allocators ignore it.
fn settle_allocator() {
    drop(black_box(vec![0u8; 16 << 20]));
}

fn main() {
    settle_allocator();
    if let Ok(spec) = std::env::var("PRIO_SEM_PROFILE") {
        profile::profile_one(&spec);
        return;
    }
    let mut c = Criterion::default()
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT)
        .configure_from_args();
    allocations::allocation_audit();
    a_uncontended::group_a(&mut c);
    b_tasks::group_b(&mut c);
    if b_tasks::wants_paired_rounds("b_") {
        b_tasks::paired_b();
    }
    c_churn::group_c(&mut c);
    d_handoff::group_d(&mut c);
    e_one_more::group_e(&mut c);
    h_fair::group_h(&mut c);
    if b_tasks::wants_paired_rounds("f_") {
        f_multi_thread::paired_f();
    }
    if b_tasks::wants_paired_rounds("g_") {
        g_blocking::paired_g();
    }
    c.final_summary();
}
