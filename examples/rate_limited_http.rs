//! A rate-limited HTTP client whose realtime requests jump the batch backlog.
//!
//! The `RateLimitedClient` of the first use case in the article “Semaphores in Python Async
//! Programming: Real-World Use Cases”, with priorities: the client lets at most `LIMIT`
//! requests be in flight. A batch job queues 120 requests at once; while that backlog
//! drains, 12 realtime requests arrive one at a time. Every request first waits in the
//! client's semaphore (realtime at priority 0, batch at 10), then makes a real HTTP/1.1
//! request to a local API server that this example starts on 127.0.0.1 (an ephemeral port),
//! which takes 40 ms per request.
//!
//! What to look for: realtime requests wait only until the next slot frees up (under one
//! request time, 40 ms), while batch requests wait for the backlog ahead of them (hundreds
//! of ms); the server never sees more than `LIMIT` requests at once.
//!
//! Run it with `cargo run --example rate_limited_http`.

mod common;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Latencies;
use prio_semaphore::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::sleep;

const LIMIT: usize = 4;
const REALTIME: i64 = 0;
const BATCH: i64 = 10;
const SERVICE_TIME: Duration = Duration::from_millis(40);

/// An HTTP client that keeps at most `LIMIT` requests in flight, most urgent first.
struct RateLimitedClient {
    api: SocketAddr,
    in_flight: Semaphore,
}

impl RateLimitedClient {
    /// `GET path` at `priority`; returns the body and how long the request waited for a slot.
    async fn get(&self, path: &str, priority: i64) -> io::Result<(String, Duration)> {
        let asked = Instant::now();
        let _slot = self
            .in_flight
            .acquire()
            .priority(priority)
            .await
            .expect("the client never closes its semaphore");
        let waited = asked.elapsed();
        let body = common::get(self.api, path).await?;
        Ok((body, waited))
    }
}

type Request = JoinHandle<io::Result<(String, Duration)>>;

/// Awaits the requests; how long each waited for a slot.
async fn waits(requests: Vec<Request>) -> io::Result<Latencies> {
    let mut waited = Vec::new();
    for request in requests {
        let (body, wait) = request.await.expect("request task panicked")?;
        assert!(body.starts_with("hello from /"));
        waited.push(wait);
    }
    Ok(Latencies::new(waited))
}

#[tokio::main]
async fn main() -> io::Result<()> {
    // The API: 40 ms per request; it records how many requests it serves at once.
    let (active, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let api = common::serve({
        let (active, peak) = (active.clone(), peak.clone());
        move |path| {
            let (active, peak) = (active.clone(), peak.clone());
            async move {
                peak.fetch_max(active.fetch_add(1, SeqCst) + 1, SeqCst);
                sleep(SERVICE_TIME).await;
                active.fetch_sub(1, SeqCst);
                format!("hello from {path}")
            }
        }
    })
    .await?;
    println!("API server on {api}, {SERVICE_TIME:?} per request; client limit: {LIMIT} in flight");

    let client = Arc::new(RateLimitedClient {
        api,
        in_flight: Semaphore::new(LIMIT),
    });
    let request = |path: String, priority| {
        let client = client.clone();
        tokio::spawn(async move { client.get(&path, priority).await })
    };
    let started = Instant::now();
    let batch: Vec<_> = (0..120)
        .map(|i| request(format!("/batch/{i}"), BATCH))
        .collect();
    let mut realtime = Vec::new();
    for i in 0..12 {
        sleep(Duration::from_millis(50)).await;
        realtime.push(request(format!("/realtime/{i}"), REALTIME));
    }

    let realtime = waits(realtime).await?;
    let batch = waits(batch).await?;

    println!(
        "132 requests done in {:.2} s; the server saw at most {} at once",
        started.elapsed().as_secs_f64(),
        peak.load(SeqCst)
    );
    println!("time spent waiting for a slot:");
    println!("  realtime (priority {REALTIME:>2}): {realtime}");
    println!("  batch    (priority {BATCH:>2}): {batch}");
    println!(
        "realtime requests were served ahead of the batch backlog: they waited {:.0}x less on average",
        batch.mean().as_secs_f64() / realtime.mean().as_secs_f64().max(1e-6)
    );
    Ok(())
}
