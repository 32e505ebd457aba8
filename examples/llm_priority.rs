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
//! Run it with `cargo run --example llm_priority`.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// Calls the model while holding one of the `LIMIT` permits; returns the end-to-end latency.
async fn ask(api: Arc<Semaphore>, prompt: String, priority: i64) -> Duration {
    let asked = Instant::now();
    let _permit = api
        .acquire()
        .priority(priority)
        .await
        .expect("never closed");
    let answer = complete(&prompt).await;
    assert!(answer.starts_with("answer"));
    asked.elapsed()
}

/// The whole workload; the latencies of the realtime and the batch prompts and the time
/// the batch took.
async fn workload(realtime_priority: i64, batch_priority: i64) -> (Latencies, Latencies, Duration) {
    let api = Arc::new(Semaphore::new(LIMIT));
    let started = Instant::now();
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
    let mut realtime_latencies = Vec::new();
    for call in realtime {
        realtime_latencies.push(call.await.unwrap());
    }
    let mut batch_latencies = Vec::new();
    for call in batch {
        batch_latencies.push(call.await.unwrap());
    }
    let batch_done = started.elapsed();
    (
        Latencies::new(realtime_latencies),
        Latencies::new(batch_latencies),
        batch_done,
    )
}

#[tokio::main]
async fn main() {
    println!("simulated LLM API: {LIMIT} concurrent calls, 50-150 ms per call");
    for (title, realtime_priority, batch_priority) in [
        ("realtime at priority 0, batch at 10", REALTIME, BATCH),
        ("one FIFO line (everyone at priority 0)", 0, 0),
    ] {
        let (realtime, batch, took) = workload(realtime_priority, batch_priority).await;
        println!("\n{title}:");
        println!("  realtime latency: {realtime}");
        println!("  batch latency:    {batch}");
        println!("  whole workload done in {:.2} s", took.as_secs_f64());
    }
}
