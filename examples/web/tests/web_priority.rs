//! `PriorityLimitLayer` in front of a real hyper server on 127.0.0.1, driven by a real hyper
//! client: realtime requests overtake a batch flood, and a client that hangs up or a server
//! that dies mid-request gives every permit back.
//!
//! The latency test asserts only a ratio (realtime p99 below batch p50), with a backlog deep
//! enough that the gap is about tenfold: no absolute times, so a busy 2-core machine passes.
#![cfg(not(miri))] // real sockets

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use prio_semaphore::tower::PriorityLimitLayer;
use prio_semaphore::Semaphore;
use tokio::net::TcpListener;
use tokio::task::AbortHandle;
use tower::{Layer, Service};

const PERMITS: usize = 4;
const JOB: Duration = Duration::from_millis(10);

/// `x-priority: realtime` first; everything else is batch.
fn priority(request: &Request<Incoming>) -> i64 {
    match request.headers().get("x-priority") {
        Some(value) if value == "realtime" => 0,
        _ => 10,
    }
}

fn ok(body: &'static str) -> Response<Full<Bytes>> {
    Response::new(Full::new(Bytes::from_static(body.as_bytes())))
}

fn unavailable() -> Response<Full<Bytes>> {
    let mut response = ok("closed");
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response
}

/// A hyper server on 127.0.0.1 whose every connection task can be killed.
struct Server {
    addr: SocketAddr,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Server {
    /// Serves `service` (HTTP/1.1, one task per connection).
    async fn start<S>(service: S) -> Server
    where
        S: Service<Request<Incoming>, Response = Response<Full<Bytes>>, Error = Infallible>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tasks = Arc::new(Mutex::new(Vec::new()));
        let accept = tokio::spawn({
            let tasks = tasks.clone();
            async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let service = TowerToHyperService::new(service.clone());
                    let connection = tokio::spawn(async move {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                    tasks.lock().unwrap().push(connection.abort_handle());
                }
            }
        });
        tasks.lock().unwrap().push(accept.abort_handle());
        Server { addr, tasks }
    }

    /// Kills the server: the listener and every connection task, mid-request or not.
    fn kill(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build_http()
}

/// `GET /` with the given class: the response's status and body.
async fn get(
    client: &HttpClient,
    addr: SocketAddr,
    realtime: bool,
) -> Result<(StatusCode, Bytes), String> {
    let mut request = Request::get(format!("http://{addr}/"));
    if realtime {
        request = request.header("x-priority", "realtime");
    }
    let request = request.body(Empty::new()).unwrap();
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok((status, body.to_bytes()))
}

fn percentile(samples: &mut [Duration], p: usize) -> Duration {
    samples.sort();
    samples[(samples.len() * p / 100).min(samples.len() - 1)]
}

/// A backlog of 128 batch clients (about 320 ms of work for 4 permits) and a realtime
/// request every 20 ms: realtime requests wait only for the next free permit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realtime_p99_stays_below_batch_p50() {
    const BATCH_CLIENTS: usize = 128;
    const RUN_FOR: Duration = Duration::from_millis(1_500);

    let sem = Arc::new(Semaphore::new(PERMITS));
    let job = tower::service_fn(|_: Request<Incoming>| async {
        tokio::time::sleep(JOB).await;
        Ok::<_, Infallible>(ok("done"))
    });
    let service = PriorityLimitLayer::new(sem.clone(), priority)
        .on_refused(|_| Ok(unavailable()))
        .layer(job);
    let server = Server::start(service).await;
    let (addr, client) = (server.addr, client());

    let until = Instant::now() + RUN_FOR;
    let batch: Vec<_> = (0..BATCH_CLIENTS)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < until {
                    let started = Instant::now();
                    let (status, body) = get(&client, addr, false).await.unwrap();
                    assert_eq!((status, &body[..]), (StatusCode::OK, &b"done"[..]));
                    latencies.push(started.elapsed());
                }
                latencies
            })
        })
        .collect();
    tokio::time::sleep(RUN_FOR / 5).await; // let the backlog build up
    let mut realtime = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    while Instant::now() + Duration::from_millis(100) < until {
        tick.tick().await;
        let client = client.clone();
        realtime.push(tokio::spawn(async move {
            let started = Instant::now();
            let (status, _) = get(&client, addr, true).await.unwrap();
            assert_eq!(status, StatusCode::OK);
            started.elapsed()
        }));
    }
    let mut realtime_latencies = Vec::new();
    for request in realtime {
        realtime_latencies.push(request.await.unwrap());
    }
    let mut batch_latencies = Vec::new();
    for client in batch {
        batch_latencies.extend(client.await.unwrap());
    }
    server.kill();

    assert!(
        realtime_latencies.len() >= 20,
        "{}",
        realtime_latencies.len()
    );
    assert!(batch_latencies.len() >= 100, "{}", batch_latencies.len());
    let realtime_p99 = percentile(&mut realtime_latencies, 99);
    let batch_p50 = percentile(&mut batch_latencies, 50);
    println!("realtime p99 {realtime_p99:?}, batch p50 {batch_p50:?}");
    assert!(
        realtime_p99 < batch_p50,
        "realtime p99 {realtime_p99:?} is not below batch p50 {batch_p50:?}"
    );
    assert_eq!(sem.available_permits(), PERMITS);
}

/// A handler that waits until `gate` lets it finish.
fn gated(
    gate: Arc<tokio::sync::Semaphore>,
) -> impl Service<
    Request<Incoming>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone
       + Send {
    tower::service_fn(move |_: Request<Incoming>| {
        let gate = gate.clone();
        async move {
            gate.acquire().await.unwrap().forget();
            Ok::<_, Infallible>(ok("done"))
        }
    })
}

/// Polls `done` every millisecond for up to 10 s.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("gave up waiting until {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_dies_mid_request_gives_every_permit_back() {
    let sem = Arc::new(Semaphore::new(2));
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let service = PriorityLimitLayer::new(sem.clone(), priority)
        .on_refused(|_| Ok(unavailable()))
        .layer(gated(gate.clone()));
    let server = Server::start(service).await;
    let client = client();
    let requests: Vec<_> = (0..5)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { get(&client, server.addr, i % 2 == 0).await })
        })
        .collect();
    // Two requests in the handler, three in line.
    eventually("2 running and 3 queued", || {
        sem.available_permits() == 0 && sem.waiter_count() == 3
    })
    .await;
    server.kill();
    for request in requests {
        let result = request.await.unwrap();
        assert!(result.is_err(), "the server died: {result:?}");
    }
    eventually("every permit is back", || sem.available_permits() == 2).await;
    assert_eq!(sem.waiter_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_gives_its_place_and_permit_back() {
    let sem = Arc::new(Semaphore::new(1));
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let service = PriorityLimitLayer::new(sem.clone(), priority)
        .on_refused(|_| Ok(unavailable()))
        .layer(gated(gate.clone()));
    let server = Server::start(service).await;
    let addr = server.addr;

    let running = tokio::spawn({
        let client = client();
        async move { get(&client, addr, false).await }
    });
    eventually("the first request runs", || sem.available_permits() == 0).await;
    let queued = tokio::spawn({
        let client = client();
        async move { get(&client, addr, true).await }
    });
    eventually("the second request queues", || sem.waiter_count() == 1).await;

    // The queued client hangs up: its request leaves the line.
    queued.abort();
    eventually("the queued request left", || sem.waiter_count() == 0).await;
    // The running client hangs up: its handler is dropped, and its permit comes back.
    running.abort();
    eventually("the permit is back", || sem.available_permits() == 1).await;

    // The server still serves.
    gate.add_permits(1);
    let (status, body) = get(&client(), addr, true).await.unwrap();
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"done"[..]));
    assert_eq!(sem.available_permits(), 1);

    // A closed semaphore answers 503 without running the handler.
    sem.close();
    let (status, _) = get(&client(), addr, false).await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(gate.available_permits(), 0);
    server.kill();
}
