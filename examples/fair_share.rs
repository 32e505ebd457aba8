//! Fair share: fair queuing among tenants of one priority, and guaranteed shares between
//! priority classes, measured in one run.
//!
//! The people who run a shared resource (an LLM gateway for many teams, a database behind
//! many customers) ask two questions strict priority does not answer: can one tenant's
//! flood starve another tenant *at the same priority*, and does batch work get *any* share
//! while realtime work floods? Three scenarios, each on the multi-thread tokio runtime with
//! jobs that hold their permit for 1 ms:
//!
//! 1. **Flood vs trickle** (`fair::FairSemaphore`, 4 permits): tenant A queues 10,000
//!    requests at priority 5, tenant B sends one request every 10 ms at priority 5. B's
//!    wait with flows (A and B are flows) and without (one FIFO line, as today).
//! 2. **Weights** (`fair::FairSemaphore`, 4 permits): three tenants with weights 1:2:4, all
//!    backlogged; their share of grants over every window of 1,000 grants.
//! 3. **Shares** (`share::ShareSemaphore`, 8 permits, realtime 75 %, batch 25 %): both
//!    flooding, then realtime idle, then realtime back; the permits each class holds.
//!
//! Run it with `cargo run --release --example fair_share`; with `--plot [PATH]` it also
//! writes an SVG of the three (`docs/fair_share.svg` by default).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::plot::{self, LinePanel, Series};
use prio_semaphore::fair::FairSemaphore;
use prio_semaphore::share::{Share, ShareSemaphore};
use tokio::time::sleep;

const JOB: Duration = Duration::from_millis(1);

/// One job: holds its permit for `JOB`; returns how long it really took (timers round up).
async fn job() -> Duration {
    let started = Instant::now();
    sleep(JOB).await;
    started.elapsed()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Mean job time, over the jobs the scenarios ran.
#[derive(Default)]
struct JobTimes(Mutex<Vec<Duration>>);

impl JobTimes {
    fn add(&self, d: Duration) {
        self.0.lock().unwrap().push(d);
    }
    fn mean_ms(&self) -> f64 {
        let all = self.0.lock().unwrap();
        all.iter().map(|&d| ms(d)).sum::<f64>() / all.len().max(1) as f64
    }
}

/// Scenario 1: B's waits (time B sent, ms waited), with or without flows.
async fn flood_vs_trickle(flows: bool, jobs: Arc<JobTimes>) -> Vec<(f64, f64)> {
    let sem: Arc<FairSemaphore<&'static str>> = Arc::new(FairSemaphore::new(4));
    let started = Instant::now();
    let flood_left = Arc::new(AtomicUsize::new(10_000));
    let flood: Vec<_> = (0..10_000)
        .map(|_| {
            let (sem, jobs, left) = (sem.clone(), jobs.clone(), flood_left.clone());
            tokio::spawn(async move {
                let request = sem.acquire().priority(5);
                let request = if flows { request.flow("A") } else { request };
                let _permit = request.await.unwrap();
                left.fetch_sub(1, Ordering::Relaxed);
                jobs.add(job().await);
            })
        })
        .collect();
    // B: one request every 10 ms, each on its own task, for as long as the flood lasts.
    let mut trickle = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    while flood_left.load(Ordering::Relaxed) > 0 {
        tick.tick().await;
        let (sem, jobs) = (sem.clone(), jobs.clone());
        trickle.push(tokio::spawn(async move {
            let sent = Instant::now();
            let request = sem.acquire().priority(5);
            let request = if flows { request.flow("B") } else { request };
            let _permit = request.await.unwrap();
            let waited = ((sent - started).as_secs_f64(), ms(sent.elapsed()));
            jobs.add(job().await);
            waited
        }));
    }
    for task in flood {
        task.await.unwrap();
    }
    let mut waits = Vec::new();
    for task in trickle {
        waits.push(task.await.unwrap());
    }
    waits
}

/// Scenario 2: the tenant of each grant, in grant order.
async fn weights(jobs: Arc<JobTimes>) -> Vec<usize> {
    let sem: Arc<FairSemaphore<usize>> = Arc::new(FairSemaphore::new(4));
    let order = Arc::new(Mutex::new(Vec::new()));
    // Hold every permit while the backlog queues, so all three are backlogged from the
    // start.
    let gate = sem.try_acquire_many(4).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..4_000 {
        for (tenant, weight) in [(0, 1), (1, 2), (2, 4)] {
            let (sem, order, jobs) = (sem.clone(), order.clone(), jobs.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = sem.acquire().flow(tenant).weight(weight).await.unwrap();
                order.lock().unwrap().push(tenant);
                jobs.add(job().await);
            }));
        }
    }
    while sem.semaphore().waiter_count() < 12_000 {
        tokio::task::yield_now().await;
    }
    drop(gate);
    for task in tasks {
        task.await.unwrap();
    }
    Arc::try_unwrap(order).unwrap().into_inner().unwrap()
}

/// Scenario 3's samples: (seconds, realtime held, batch held), and the grants per class in
/// each phase, and when realtime came back and reached its share.
struct ShareRun {
    held: Vec<(f64, usize, usize)>,
    grants: [[usize; 2]; 3],
    back_at: f64,
    share_at: Option<f64>,
}

const REALTIME: usize = 0;
const BATCH: usize = 1;
const PHASE: Duration = Duration::from_secs(1);

async fn shares(jobs: Arc<JobTimes>) -> ShareRun {
    static SEM: ShareSemaphore = ShareSemaphore::new(8, &[Share::new(75), Share::new(25)]);
    // The phase, published by the sampler below (not by a timer, whose ticks would line
    // realtime's return up with the end of batch's jobs).
    let (phase_tx, phase_rx) = tokio::sync::watch::channel(0usize);
    let grants = Arc::new(Mutex::new([[0; 2]; 3]));
    let mut workers = Vec::new();
    // 32 closed-loop workers per class: each asks again as soon as its job is done, so
    // a class that is active always has a backlog.
    for class in [REALTIME, BATCH] {
        for _ in 0..32 {
            let (grants, jobs, mut phase) = (grants.clone(), jobs.clone(), phase_rx.clone());
            workers.push(tokio::spawn(async move {
                loop {
                    let now = *phase.borrow_and_update();
                    if now == 3 {
                        return;
                    }
                    if class == REALTIME && now == 1 {
                        // Realtime idle in the second phase.
                        let _ = phase.changed().await;
                        continue;
                    }
                    let _permit = SEM.acquire(class).await.unwrap();
                    // Counted if granted in the phase it asked in (not across a change).
                    if *phase.borrow() == now {
                        grants.lock().unwrap()[now][class] += 1;
                    }
                    jobs.add(job().await);
                }
            }));
        }
    }
    let started = Instant::now();
    let mut held = Vec::new();
    let mut share_at = None;
    let mut back_at = None;
    loop {
        let elapsed = started.elapsed();
        let now = (elapsed.as_secs_f64() / PHASE.as_secs_f64()) as usize;
        if now != *phase_tx.borrow() {
            phase_tx.send_replace(now);
            if now == 2 {
                back_at = Some(elapsed.as_secs_f64());
            }
            if now == 3 {
                break;
            }
        }
        let (rt, batch) = (SEM.assigned(REALTIME), SEM.assigned(BATCH));
        if back_at.is_some() && share_at.is_none() && rt >= SEM.nominal(REALTIME) {
            share_at = Some(elapsed.as_secs_f64());
        }
        if held
            .last()
            .is_none_or(|&(t, _, _): &(f64, usize, usize)| elapsed.as_secs_f64() - t >= 0.001)
        {
            // One sample a millisecond for the picture.
            held.push((elapsed.as_secs_f64(), rt, batch));
        }
        // A busy sampler: timers would round it up to a millisecond.
        tokio::task::yield_now().await;
    }
    for worker in workers {
        worker.await.unwrap();
    }
    let grants = *grants.lock().unwrap();
    ShareRun {
        held,
        grants,
        back_at: back_at.expect("realtime came back"),
        share_at,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let plot_to = plot::requested("docs/fair_share.svg");
    let jobs = Arc::new(JobTimes::default());

    // 1. Flood vs trickle.
    let with_flows = flood_vs_trickle(true, jobs.clone()).await;
    let without = flood_vs_trickle(false, jobs.clone()).await;
    let job_ms = jobs.mean_ms();
    println!("jobs hold their permit {JOB:?}; measured mean job time {job_ms:.2} ms\n");
    println!("1. Flood vs trickle: A queues 10,000 requests at priority 5, B sends one every 10 ms at priority 5; 4 permits");
    println!();
    println!("| B's wait for a permit | requests | p50 | p99 | max | p99 in job times |");
    println!("|---|---|---|---|---|---|");
    for (name, run) in [
        ("with flows (A, B)", &with_flows),
        ("without flows (FIFO)", &without),
    ] {
        let mut waits: Vec<f64> = run.iter().map(|w| w.1).collect();
        waits.sort_by(f64::total_cmp);
        println!(
            "| {name} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} |",
            waits.len(),
            percentile(&waits, 0.5),
            percentile(&waits, 0.99),
            waits.last().unwrap(),
            percentile(&waits, 0.99) / job_ms,
        );
    }

    // 2. Weights.
    let order = weights(jobs.clone()).await;
    // All three are backlogged until the heaviest (4/7 of the grants, 4,000 requests) has
    // had its last: 7,000 grants.
    let backlogged = &order[..7_000];
    let mut extremes = [(f64::MAX, f64::MIN); 3];
    let mut share_lines: [Vec<(f64, f64)>; 3] = Default::default();
    let mut counts = [0usize; 3];
    for (i, &tenant) in backlogged.iter().enumerate() {
        counts[tenant] += 1;
        if i >= 1_000 {
            counts[backlogged[i - 1_000]] -= 1;
        }
        if i >= 999 {
            for t in 0..3 {
                let share = counts[t] as f64 / 1_000.0;
                extremes[t] = (extremes[t].0.min(share), extremes[t].1.max(share));
                if i % 10 == 0 {
                    share_lines[t].push(((i + 1) as f64, share));
                }
            }
        }
    }
    println!("\n2. Weights 1:2:4, all backlogged (4,000 requests each), 4 permits: share of grants over every window of 1,000 grants (the first 7,000 grants)");
    println!();
    println!("| tenant | weight | target | lowest window | highest window | within ±5 %? |");
    println!("|---|---|---|---|---|---|");
    for (t, weight) in [1, 2, 4].into_iter().enumerate() {
        let target = f64::from(weight) / 7.0;
        let (low, high) = extremes[t];
        let ok = (low - target).abs() <= 0.05 && (high - target).abs() <= 0.05;
        println!(
            "| {} | {weight} | {:.1} % | {:.1} % | {:.1} % | {} |",
            ["T1", "T2", "T3"][t],
            100.0 * target,
            100.0 * low,
            100.0 * high,
            if ok { "yes" } else { "**no**" },
        );
    }

    // 3. Shares.
    let run = shares(jobs.clone()).await;
    println!("\n3. Shares: realtime 75 %, batch 25 % of 8 permits; 32 closed-loop workers per class, 1 s per phase");
    println!();
    println!("| phase | realtime grants | batch grants | batch share | goal |");
    println!("|---|---|---|---|---|");
    for (p, (name, goal)) in [
        ("both flooding", "≥ 25 % (±2 %)"),
        ("realtime idle", "100 %"),
        ("realtime back", "≤ 25 % (realtime ≥ 75 %)"),
    ]
    .into_iter()
    .enumerate()
    {
        let [rt, batch] = run.grants[p];
        println!(
            "| {name} | {rt} | {batch} | {:.1} % | {goal} |",
            100.0 * batch as f64 / (rt + batch).max(1) as f64
        );
    }
    match run.share_at {
        Some(at) => println!(
            "\nrealtime back: holds ≥ 6 of 8 permits {:.2} ms after it returned ({:.2} job times)",
            (at - run.back_at) * 1000.0,
            (at - run.back_at) * 1000.0 / job_ms
        ),
        None => println!("\nrealtime back: never reached its share (**goal missed**)"),
    }

    if let Some(path) = plot_to {
        let panels = [
            LinePanel {
                title: "1. B's wait, by when B asked".into(),
                x_title: "time (s)",
                y_title: "B waited (ms)",
                x_max: None,
                y_max: None,
                series: vec![
                    Series {
                        name: "without flows (FIFO)".into(),
                        colour: "#555",
                        points: without,
                    },
                    Series {
                        name: "with flows".into(),
                        colour: "#2ca02c",
                        points: with_flows,
                    },
                ],
            },
            LinePanel {
                title: "2. Share of the last 1,000 grants".into(),
                x_title: "grants",
                y_title: "share",
                x_max: None,
                y_max: Some(1.0),
                series: (0..3)
                    .map(|t| Series {
                        name: format!("weight {}", [1, 2, 4][t]),
                        colour: ["#9467bd", "#ff7f0e", "#1f77b4"][t],
                        points: std::mem::take(&mut share_lines[t]),
                    })
                    .collect(),
            },
            LinePanel {
                title: "3. Permits held: both, realtime idle, back".into(),
                x_title: "time (s)",
                y_title: "permits",
                x_max: None,
                y_max: Some(8.0),
                series: vec![
                    Series {
                        name: "realtime (75 %)".into(),
                        colour: "#d62728",
                        points: run.held.iter().map(|&(t, rt, _)| (t, rt as f64)).collect(),
                    },
                    Series {
                        name: "batch (25 %)".into(),
                        colour: "#1f77b4",
                        points: run.held.iter().map(|&(t, _, b)| (t, b as f64)).collect(),
                    },
                ],
            },
        ];
        let title = "Fair share: flows within a priority, shares between classes (1 ms jobs)";
        plot::write_line_panels(&path, title, &panels).expect("write the SVG");
        println!("\nwrote {path}");
    }
}
