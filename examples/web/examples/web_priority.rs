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
//! Run it with `cargo run --release --example web_priority --features tower`. With
//! `--plot [PATH]` it also samples the priority run's line every 10 ms
//! (`Semaphore::snapshot`) and writes an SVG of the queue depth per priority class over time
//! and of each class's latency (`docs/web_priority.svg` by default).

#[path = "../../common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use common::plot::{self, Run};
use common::Latencies;
use http_body_util::BodyExt;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
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

/// `GET /job` with the given class; the end-to-end latency, body included.
async fn request(client: &HttpClient, addr: SocketAddr, realtime: bool) -> Duration {
    let mut builder = Request::get(format!("http://{addr}/job"));
    if realtime {
        builder = builder.header("x-priority", "realtime");
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

/// Runs the load against `addr`: returns (realtime, batch) latencies.
async fn load(addr: SocketAddr) -> (Vec<Duration>, Vec<Duration>) {
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
                    latencies.push(request(&client, addr, false).await);
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
        realtime.push(tokio::spawn(
            async move { request(&client, addr, true).await },
        ));
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

#[tokio::main]
async fn main() -> std::io::Result<()> {
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
        let (realtime, batch) = load(addr).await;
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
