//! LLM-style API calls: realtime prompts overtake a batch backlog sharing one rate limit.
//!
//! The fifth use case in the article “Semaphores in Python Async Programming: Real-World
//! Use Cases” (calling the OpenAI API under a concurrency limit), and the motivation of the
//! CPython discussion that proposed `asyncio.PrioritySemaphore`: batch jobs (an
//! "LLM-as-a-judge" evaluation of 60 prompts) and realtime requests (8 user prompts, one
//! every 150 ms) share one microservice and one limit of `LIMIT` concurrent API calls. A
//! simulated model answers in 50 to 150 ms. The same workload runs twice: once with
//! realtime prompts at priority 0 and batch prompts at 10, and once with everyone at the
//! same priority, which is one FIFO line, like `asyncio.Semaphore`.
//!
//! What to look for: with priorities, a realtime prompt's latency is about one model call
//! (plus at most one call's wait for a free slot); in one FIFO line it queues behind the
//! whole batch backlog. The batch finishes in about the same time either way.
//!
//! Run it with `cargo run --example llm_priority`. With `--plot [PATH]` it also samples
//! the line every 10 ms (`Semaphore::snapshot`) and writes an SVG of the queue depth per
//! priority class over time and of the waits per kind of prompt, for both runs
//! (`docs/llm_priority.svg` by default).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::plot::{self, Class, Run};
use common::Latencies;
use prio_semaphore::Semaphore;
use tokio::time::sleep;

const LIMIT: usize = 4;
const REALTIME: i64 = 0;
const BATCH: i64 = 10;

/// A stand-in for a chat-completion call: 50 to 150 ms, depending on the prompt.
async fn complete(prompt: &str) -> String {
    let spread = prompt
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31) ^ u64::from(b))
        % 101;
    sleep(Duration::from_millis(50 + spread)).await;
    format!("answer to {prompt:?}")
}

/// Calls the model while holding one of the `LIMIT` permits; returns the end-to-end latency
/// and how long it waited for the permit.
async fn ask(api: Arc<Semaphore>, prompt: String, priority: i64) -> (Duration, Duration) {
    let asked = Instant::now();
    let _permit = api
        .acquire()
        .priority(priority)
        .await
        .expect("never closed");
    let waited = asked.elapsed();
    let answer = complete(&prompt).await;
    assert!(answer.starts_with("answer"));
    (asked.elapsed(), waited)
}

/// The kinds of prompt, as the picture colours them.
const KINDS: [Class; 2] = plot::realtime_and_batch(REALTIME, BATCH);

/// The whole workload; the latencies of the realtime and the batch prompts, the time the
/// batch took, and (if `plot`) the picture's data.
async fn workload(
    realtime_priority: i64,
    batch_priority: i64,
    plot: bool,
) -> (Latencies, Latencies, Duration, Option<Run>) {
    let api = Arc::new(Semaphore::new(LIMIT));
    let started = Instant::now();
    // The line's depth per priority class, sampled every 10 ms while the workload runs.
    let depth_classes: Vec<Class> = if realtime_priority == batch_priority {
        vec![Class {
            priority: batch_priority,
            name: "everyone",
            colour: "#555",
        }]
    } else {
        KINDS.to_vec()
    };
    let finished = Arc::new(AtomicBool::new(false));
    let sampler = plot.then(|| {
        let (api, classes, finished) = (api.clone(), depth_classes.clone(), finished.clone());
        tokio::spawn(async move {
            let every = Duration::from_millis(10);
            plot::sample(api, &classes, every, || finished.load(Ordering::Relaxed)).await
        })
    });
    let batch: Vec<_> = (0..60)
        .map(|i| {
            let prompt = format!("Grade answer #{i} for correctness");
            tokio::spawn(ask(api.clone(), prompt, batch_priority))
        })
        .collect();
    let mut realtime = Vec::new();
    for user in 0..8 {
        sleep(Duration::from_millis(150)).await;
        let prompt = format!("User {user}: what is the capital of France?");
        realtime.push(tokio::spawn(ask(api.clone(), prompt, realtime_priority)));
    }
    let waits = Mutex::new(vec![Vec::new(), Vec::new()]);
    let mut realtime_latencies = Vec::new();
    for call in realtime {
        let (latency, waited) = call.await.unwrap();
        realtime_latencies.push(latency);
        waits.lock().unwrap()[0].push(waited.as_secs_f64() * 1000.0);
    }
    let mut batch_latencies = Vec::new();
    for call in batch {
        let (latency, waited) = call.await.unwrap();
        batch_latencies.push(latency);
        waits.lock().unwrap()[1].push(waited.as_secs_f64() * 1000.0);
    }
    let batch_done = started.elapsed();
    finished.store(true, Ordering::Relaxed);
    let run = match sampler {
        Some(sampler) => Some(Run {
            title: String::new(),
            depth_classes,
            depth: sampler.await.unwrap(),
            waits: waits.into_inner().unwrap(),
        }),
        None => None,
    };
    (
        Latencies::new(realtime_latencies),
        Latencies::new(batch_latencies),
        batch_done,
        run,
    )
}

#[tokio::main]
async fn main() {
    let plot_to = plot::requested("docs/llm_priority.svg");
    println!("simulated LLM API: {LIMIT} concurrent calls, 50-150 ms per call");
    let mut runs = Vec::new();
    for (title, realtime_priority, batch_priority) in [
        ("realtime at priority 0, batch at 10", REALTIME, BATCH),
        ("one FIFO line (everyone at priority 0)", 0, 0),
    ] {
        let (realtime, batch, took, run) =
            workload(realtime_priority, batch_priority, plot_to.is_some()).await;
        println!("\n{title}:");
        println!("  realtime latency: {realtime}");
        println!("  batch latency:    {batch}");
        println!("  whole workload done in {:.2} s", took.as_secs_f64());
        runs.extend(run.map(|run| Run {
            title: title.to_owned(),
            ..run
        }));
    }
    if let Some(path) = plot_to {
        let title =
            format!("LLM API, {LIMIT} permits: 60 batch prompts, a realtime prompt every 150 ms");
        let waited = "waited for a permit (ms)";
        plot::write_svg(&path, &title, waited, &KINDS, &runs).expect("write the SVG");
        println!("\nwrote {path}");
    }
}
