//! Why a priority limit matters for a web service: realtime requests behind a batch flood.
//!
//! An axum server on 127.0.0.1 (an ephemeral port) fronts a limited backend: at most
//! `PERMITS` jobs of `JOB` each at once (think database connections or model inference).
//! The example drives the load itself with a real HTTP client (hyper's): `BATCH_CLIENTS`
//! clients send batch requests back to back, which keeps a deep queue in front of the
//! backend, while a trickle of realtime requests, marked by the header `x-priority:
//! realtime`, arrives every `REALTIME_EVERY`.
//!
//! It runs the same load twice and prints the latency each class of request sees, end to
//! end, as the client measures it:
//!
//! * **FIFO**: the backend limited by tokio's `Semaphore` in a plain axum middleware. Every
//!   request waits its turn, so realtime requests wait as long as the batch backlog.
//! * **priority**: the backend limited by `prio_semaphore::tower::PriorityLimitLayer`, with
//!   the priority read from the header. Realtime requests wait only for the next free slot.
//!
//! Run it with `cargo run --release --example web_priority`. With `--plot [PATH]` it also
//! samples the priority run's line every 10 ms (`Semaphore::snapshot`) and writes an SVG of
//! the queue depth per priority class over time and of each class's latency
//! (`docs/web_priority.svg` by default).
//!
//! With `--overload` it runs the overload comparison instead: requests arrive at ten times
//! what the backend can serve (open loop: a new batch request every 250 µs, a realtime one
//! every 25 ms, whatever the answers), through the same router and `PriorityLimitLayer`
//! (called in process, so the load is not limited by sockets), once without bounds and once
//! with them (batch refused while `QUEUE_LIMIT` requests wait, every request refused after
//! `MAX_WAIT`, answered `503` with `Retry-After`). It prints each class's latency, the
//! refused counts and the peak heap of each run (a counting allocator).
//!
//! With `--tenants` it runs the fairness comparison instead: the same load, but both kinds
//! of request at the same priority, told apart by the tenant they come from: the batch
//! clients are tenant `flood` (`x-tenant: flood`), the trickle is tenant `trickle`. The
//! backend is limited by a `FairSemaphore` through `PriorityLimitLayer::fair_http`, once
//! without a flow key (the flow function answers `None`: one line in arrival order, so the
//! trickle waits behind the flood's backlog) and once with the tenant header as the flow
//! key (the trickle waits for about one job).

#[path = "../../common/mod.rs"]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use common::plot::{self, Run};
use common::Latencies;
use http_body_util::BodyExt;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use prio_semaphore::fair::FairSemaphore;
use prio_semaphore::tower::PriorityLimitLayer;
use tokio::time::sleep;

/// Jobs the backend runs at once.
const PERMITS: usize = 4;
/// How long one job takes.
const JOB: Duration = Duration::from_millis(10);
/// Clients sending batch requests back to back: the depth of the batch backlog.
const BATCH_CLIENTS: usize = 64;
/// How often a realtime request arrives.
const REALTIME_EVERY: Duration = Duration::from_millis(25);
/// How long each run sends load.
const RUN_FOR: Duration = Duration::from_secs(2);

const REALTIME: i64 = 0;
const BATCH: i64 = 10;

/// The priority of a request: `x-priority: realtime` goes first, everything else is batch.
fn priority(request: &Request) -> i64 {
    match request.headers().get("x-priority") {
        Some(value) if value == "realtime" => REALTIME,
        _ => BATCH,
    }
}

/// The limited backend's work.
async fn job() -> &'static str {
    sleep(JOB).await;
    "done"
}

/// The FIFO limit to compare with: tokio's semaphore in an axum middleware.
async fn fifo_limit(
    State(limit): State<Arc<tokio::sync::Semaphore>>,
    request: Request,
    next: Next,
) -> Response {
    let _permit = limit.acquire().await.expect("never closed");
    next.run(request).await
}

fn fifo_app() -> Router {
    let limit = Arc::new(tokio::sync::Semaphore::new(PERMITS));
    Router::new()
        .route("/job", get(job))
        .layer(middleware::from_fn_with_state(limit, fifo_limit))
}

fn priority_app(limit: Arc<prio_semaphore::Semaphore>) -> Router {
    Router::new()
        .route("/job", get(job))
        .layer(PriorityLimitLayer::new(limit, priority))
}

/// Serves `app` on 127.0.0.1 from a spawned task; returns its address.
async fn serve(app: Router) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

type HttpClient = Client<HttpConnector, Body>;

/// A request header: name and value.
type Header = (&'static str, &'static str);

/// `x-priority: realtime`.
const REALTIME_HEADER: Header = ("x-priority", "realtime");

/// `GET /job` with the given header, if any; the end-to-end latency, body included.
async fn request(client: &HttpClient, addr: SocketAddr, header: Option<Header>) -> Duration {
    let mut builder = Request::get(format!("http://{addr}/job"));
    if let Some((name, value)) = header {
        builder = builder.header(name, value);
    }
    let started = Instant::now();
    let response = client
        .request(builder.body(Body::empty()).unwrap())
        .await
        .expect("the server answers");
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.expect("a body");
    assert_eq!(body.to_bytes(), "done");
    started.elapsed()
}

/// Runs the load against `addr`, the batch clients' requests with `batch_header` and the
/// trickle's with `trickle_header`: returns (trickle, batch) latencies.
async fn load(
    addr: SocketAddr,
    batch_header: Option<Header>,
    trickle_header: Header,
) -> (Vec<Duration>, Vec<Duration>) {
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(BATCH_CLIENTS + 8)
        .build_http();
    let until = Instant::now() + RUN_FOR;
    let batch: Vec<_> = (0..BATCH_CLIENTS)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < until {
                    latencies.push(request(&client, addr, batch_header).await);
                }
                latencies
            })
        })
        .collect();
    // Let the backlog build up before the first realtime request.
    sleep(RUN_FOR / 10).await;
    let mut realtime = Vec::new();
    let mut tick = tokio::time::interval(REALTIME_EVERY);
    while Instant::now() + REALTIME_EVERY < until {
        tick.tick().await;
        let client = client.clone();
        realtime.push(tokio::spawn(async move {
            request(&client, addr, Some(trickle_header)).await
        }));
    }
    let mut realtime_latencies = Vec::new();
    for request in realtime {
        realtime_latencies.push(request.await.unwrap());
    }
    let mut batch_latencies = Vec::new();
    for worker in batch {
        batch_latencies.extend(worker.await.unwrap());
    }
    (realtime_latencies, batch_latencies)
}

/// Overload: requests offered per second, as a multiple of what the backend serves.
const OVERLOAD: u32 = 10;
/// Overload: batch requests are refused while this many requests wait (8 jobs' worth per
/// permit); realtime requests have no queue limit.
const QUEUE_LIMIT: usize = 32;
/// Overload: any request is refused once it has waited this long.
const MAX_WAIT: Duration = Duration::from_millis(250);

/// The heap in use and its peak since the last reset, to compare the runs' memory.
struct CountingAllocator;

static HEAP: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only counts are added.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let now = HEAP.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded; `ptr` came from `alloc` with this layout (the caller's promise).
        unsafe { System.dealloc(ptr, layout) };
        HEAP.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// One request of the overload run: its class, whether it was served, and its latency.
struct Outcome {
    realtime: bool,
    served: bool,
    latency: Duration,
}

/// Offers `OVERLOAD` times the backend's capacity to `app` for `RUN_FOR`, open loop, and
/// waits for every answer.
async fn flood(app: Router) -> Vec<Outcome> {
    use tower::ServiceExt;
    let capacity_per_second = PERMITS as u32 * (1000 / JOB.as_millis() as u32);
    let batch_every = Duration::from_secs(1) / (capacity_per_second * OVERLOAD);
    let started = Instant::now();
    let mut requests = Vec::new();
    let mut next_realtime = started;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let mut sent = 0u32;
    while started.elapsed() < RUN_FOR {
        tick.tick().await;
        // Catch up with the schedule: the interval ticks every millisecond at best.
        let due = (started.elapsed().as_nanos() / batch_every.as_nanos()) as u32;
        let mut classes = vec![false; due.saturating_sub(sent) as usize];
        sent = sent.max(due);
        if Instant::now() >= next_realtime {
            classes.push(true);
            next_realtime += REALTIME_EVERY;
        }
        for realtime in classes {
            let app = app.clone();
            requests.push(tokio::spawn(async move {
                let mut builder = Request::get("/job");
                if realtime {
                    builder = builder.header("x-priority", "realtime");
                }
                let started = Instant::now();
                let response = app
                    .oneshot(builder.body(Body::empty()).unwrap())
                    .await
                    .unwrap();
                let served = response.status() == StatusCode::OK;
                let _ = response.into_body().collect().await;
                Outcome {
                    realtime,
                    served,
                    latency: started.elapsed(),
                }
            }));
        }
    }
    let mut outcomes = Vec::with_capacity(requests.len());
    for request in requests {
        outcomes.push(request.await.unwrap());
    }
    outcomes
}

/// The overload comparison: the same flood without and with the bounds.
async fn overload() {
    println!(
        "backend: {PERMITS} permits, {} ms per job; {OVERLOAD}x its capacity offered for {} s \
         (open loop), a realtime request every {} ms; bounds: batch queue limit {QUEUE_LIMIT}, \
         max wait {} ms, refused with 503 + Retry-After\n",
        JOB.as_millis(),
        RUN_FOR.as_secs(),
        REALTIME_EVERY.as_millis(),
        MAX_WAIT.as_millis(),
    );
    println!("| bounds | class | requests | served | refused | p50 | p99 | peak heap |");
    println!("|---|---|---|---|---|---|---|---|");
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    for bounded in [false, true] {
        let limit = Arc::new(prio_semaphore::Semaphore::new(PERMITS));
        let layer = PriorityLimitLayer::new(limit, priority);
        let app = if bounded {
            Router::new().route("/job", get(job)).layer(
                layer
                    .queue_limit(|&p| {
                        if p == REALTIME {
                            usize::MAX
                        } else {
                            QUEUE_LIMIT
                        }
                    })
                    .max_wait(MAX_WAIT, tokio::time::sleep),
            )
        } else {
            Router::new().route("/job", get(job)).layer(layer)
        };
        PEAK.store(HEAP.load(Ordering::Relaxed), Ordering::Relaxed);
        let before = HEAP.load(Ordering::Relaxed);
        let outcomes = flood(app).await;
        let peak = PEAK.load(Ordering::Relaxed) - before;
        for realtime in [true, false] {
            let class: Vec<&Outcome> = outcomes.iter().filter(|o| o.realtime == realtime).collect();
            let served: Vec<Duration> = class
                .iter()
                .filter(|o| o.served)
                .map(|o| o.latency)
                .collect();
            let refused = class.len() - served.len();
            let (count, served_count) = (class.len(), served.len());
            let latencies = Latencies::new(served);
            println!(
                "| {} | {} | {count} | {served_count} | {refused} | {} | {} | {:.1} MiB |",
                if bounded {
                    "queue limit + max wait"
                } else {
                    "none"
                },
                if realtime { "realtime" } else { "batch" },
                ms(latencies.percentile(50)),
                ms(latencies.percentile(99)),
                peak as f64 / (1024.0 * 1024.0),
            );
        }
    }
}

/// The fairness comparison: one tenant's flood and another's trickle at one priority,
/// without and with the tenant as the flow key.
async fn tenants() -> std::io::Result<()> {
    println!(
        "backend: {PERMITS} permits, {} ms per job; tenant `flood`: {BATCH_CLIENTS} clients \
         back to back; tenant `trickle`: a request every {} ms; all at one priority, {} s per \
         run\n",
        JOB.as_millis(),
        REALTIME_EVERY.as_millis(),
        RUN_FOR.as_secs()
    );
    println!("| flow key | tenant | requests | p50 | p99 |\n|---|---|---|---|---|");
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    for keyed in [false, true] {
        let limit: Arc<FairSemaphore<HeaderValue>> = Arc::new(FairSemaphore::new(PERMITS));
        let layer = PriorityLimitLayer::fair_http(limit, priority, move |request| {
            let tenant = request.headers().get("x-tenant")?;
            keyed.then(|| (tenant.clone(), 1))
        });
        let addr = serve(Router::new().route("/job", get(job)).layer(layer)).await?;
        let flood = Some(("x-tenant", "flood"));
        let (trickle, flood) = load(addr, flood, ("x-tenant", "trickle")).await;
        for (tenant, samples) in [("trickle", trickle), ("flood", flood)] {
            let count = samples.len();
            let latencies = Latencies::new(samples);
            println!(
                "| {} | {tenant} | {count} | {} | {} |",
                if keyed { "`x-tenant`" } else { "none" },
                ms(latencies.percentile(50)),
                ms(latencies.percentile(99)),
            );
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    if std::env::args().any(|arg| arg == "--overload") {
        overload().await;
        return Ok(());
    }
    if std::env::args().any(|arg| arg == "--tenants") {
        return tenants().await;
    }
    println!(
        "backend: {PERMITS} permits, {} ms per job; {BATCH_CLIENTS} batch clients back to back, \
         a realtime request every {} ms, {} s per run\n",
        JOB.as_millis(),
        REALTIME_EVERY.as_millis(),
        RUN_FOR.as_secs()
    );
    let plot_to = plot::requested("docs/web_priority.svg");
    println!("| limit | class | requests | p50 | p99 |\n|---|---|---|---|---|");
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    let limit = Arc::new(prio_semaphore::Semaphore::new(PERMITS));
    let kinds = plot::realtime_and_batch(REALTIME, BATCH);
    for (name, app) in [
        ("FIFO (tokio)", fifo_app()),
        ("priority", priority_app(limit.clone())),
    ] {
        let addr = serve(app).await?;
        // The priority run's line, sampled every 10 ms (tokio's semaphore shows no line).
        let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sampler = (plot_to.is_some() && name == "priority").then(|| {
            let (limit, finished) = (limit.clone(), finished.clone());
            tokio::spawn(async move {
                let every = Duration::from_millis(10);
                let stop = || finished.load(std::sync::atomic::Ordering::Relaxed);
                plot::sample(limit, &kinds, every, stop).await
            })
        });
        let (realtime, batch) = load(addr, None, REALTIME_HEADER).await;
        finished.store(true, std::sync::atomic::Ordering::Relaxed);
        if let (Some(sampler), Some(path)) = (sampler, &plot_to) {
            let ms =
                |samples: &[Duration]| samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
            let run = Run {
                title: format!("PriorityLimitLayer: {BATCH_CLIENTS} batch clients, a realtime request every {} ms", REALTIME_EVERY.as_millis()),
                depth_classes: kinds.to_vec(),
                depth: sampler.await.unwrap(),
                waits: vec![ms(&realtime), ms(&batch)],
            };
            let title = format!(
                "HTTP service, {PERMITS} permits, {} ms per job",
                JOB.as_millis()
            );
            let latency = "end-to-end latency (ms)";
            plot::write_svg(path, &title, latency, &kinds, &[run]).expect("write the SVG");
            println!("wrote {path}");
        }
        for (class, samples) in [("realtime", realtime), ("batch", batch)] {
            let count = samples.len();
            let latencies = Latencies::new(samples);
            println!(
                "| {name} | {class} | {count} | {} | {} |",
                ms(latencies.percentile(50)),
                ms(latencies.percentile(99)),
            );
        }
    }
    Ok(())
}
