//! `PriorityLimitLayer` over a `FairSemaphore` (`PriorityLimitLayer::fair`, `fair_http`):
//! a flow per request beside its priority, with real tower services. The order is checked
//! by what the inner service logs, one permit handed from request to request and every
//! future polled by hand, never by the clock.

use std::convert::Infallible;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use crate::common::{assert_exact, expect_panic, expect_ready, poll_noop};
use prio_semaphore::fair::FairSemaphore;
use prio_semaphore::tower::PriorityLimitLayer;
use prio_semaphore::{AcquireError, Semaphore};
use tower::{BoxError, Layer, Service};

/// Under miri each poll costs a lot: scale the floods down.
fn scaled(n: u32) -> u32 {
    if cfg!(miri) {
        (n / 20).max(4)
    } else {
        n
    }
}

/// A request: its tenant (the flow key, if any), its priority and a number to tell it by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Job {
    tenant: Option<&'static str>,
    priority: i64,
    id: u32,
}

fn job(tenant: Option<&'static str>, priority: i64, id: u32) -> Job {
    Job {
        tenant,
        priority,
        id,
    }
}

fn priority(job: &Job) -> i64 {
    job.priority
}

fn tenant(job: &Job) -> Option<(&'static str, u32)> {
    job.tenant.map(|tenant| (tenant, 1))
}

type Log = Arc<Mutex<Vec<Job>>>;

/// A `tower::service_fn` that logs each job it is called with and answers at once.
fn recorder() -> (
    impl Service<Job, Response = Job, Error = BoxError> + Clone,
    Log,
) {
    let log = Log::default();
    let inner = tower::service_fn({
        let log = log.clone();
        move |job: Job| {
            log.lock().unwrap().push(job);
            std::future::ready(Ok::<_, BoxError>(job))
        }
    });
    (inner, log)
}

/// Calls the service (always ready) and polls the response future once: it must queue.
fn queue<S: Service<Job>>(svc: &mut S, job: Job) -> Pin<Box<S::Future>> {
    let mut future = Box::pin(svc.call(job));
    assert!(poll_noop(future.as_mut()).is_pending(), "{job:?} queues");
    future
}

/// Polls every future until all are done. One permit goes from each request to the next,
/// so only the one that holds it can complete: the inner service's log is the order of
/// service.
fn drain<F: Future<Output = Result<Job, BoxError>>>(futures: Vec<Pin<Box<F>>>) {
    let mut left: Vec<_> = futures.into_iter().map(Some).collect();
    for _ in 0..=left.len() {
        for slot in &mut left {
            if let Some(future) = slot {
                if let Poll::Ready(out) = poll_noop(future.as_mut()) {
                    out.unwrap();
                    *slot = None;
                }
            }
        }
        if left.iter().all(Option::is_none) {
            return;
        }
    }
    panic!("requests left unserved with nothing holding the permit");
}

fn served(log: &Log) -> Vec<Job> {
    log.lock().unwrap().clone()
}

/// Queues a flood of `flood` requests of tenant "flood", then one of tenant "trickle", all
/// at one priority behind the semaphore's only permit, through a fair layer with `flow` as
/// its flow function; serves them all and returns the order they were served in.
fn flood_then_trickle<G>(sem: &Arc<FairSemaphore<&'static str>>, flow: G, flood: u32) -> Vec<Job>
where
    G: Fn(&Job) -> Option<(&'static str, u32)> + Clone,
{
    let (inner, log) = recorder();
    let mut svc = PriorityLimitLayer::fair(sem.clone(), priority, flow).layer(inner);
    let held = sem.try_acquire().unwrap();
    let mut futures: Vec<_> = (0..flood)
        .map(|id| queue(&mut svc, job(Some("flood"), 5, id)))
        .collect();
    futures.push(queue(&mut svc, job(Some("trickle"), 5, flood)));
    assert_eq!(sem.semaphore().waiter_count(), flood as usize + 1);
    drop(held);
    drain(futures);
    assert_eq!(sem.entries(), (0, 0), "nothing left counted");
    assert_exact(sem.semaphore(), 1);
    served(&log)
}

#[test]
fn a_tenants_flood_does_not_delay_another_tenants_request() {
    let flood = scaled(200);
    let sem: Arc<FairSemaphore<&str>> = Arc::new(FairSemaphore::new(1));
    let order = flood_then_trickle(&sem, tenant, flood);
    let trickle = order.iter().position(|j| j.tenant == Some("trickle"));
    assert!(
        trickle.unwrap() < 2,
        "the trickle waited behind the flood: {order:?}"
    );
    let flood_ids = order.iter().filter(|j| j.tenant == Some("flood"));
    let flood_ids: Vec<_> = flood_ids.map(|j| j.id).collect();
    assert_eq!(
        flood_ids,
        (0..flood).collect::<Vec<_>>(),
        "one flow is FIFO"
    );

    // Without the flow key the trickle waits behind the whole flood.
    let order = flood_then_trickle(&sem, |_| None, flood);
    assert_eq!(order.last().unwrap().tenant, Some("trickle"));
}

/// Requests without a flow key (the flow function answers `None`) are served exactly as
/// by the plain layer over a `Semaphore`: by priority, then in arrival order. Priorities
/// also come before flows.
#[test]
fn unkeyed_requests_are_served_as_by_a_plain_semaphore() {
    let jobs = [
        job(None, 10, 0),
        job(None, 5, 1),
        job(Some("a"), 0, 2),
        job(None, 10, 3),
        job(None, 0, 4),
        job(None, 5, 5),
        job(Some("b"), 10, 6),
    ];
    let fair: Arc<FairSemaphore<&str>> = Arc::new(FairSemaphore::new(1));
    let (inner, fair_log) = recorder();
    let mut svc = PriorityLimitLayer::fair(fair.clone(), priority, |j: &Job| {
        (j.priority == 0).then_some(j.tenant?).map(|t| (t, 1)) // keyed only at 0
    })
    .layer(inner);
    let held = fair.try_acquire().unwrap();
    let futures: Vec<_> = jobs.iter().map(|&j| queue(&mut svc, j)).collect();
    drop(held);
    drain(futures);

    let plain = Arc::new(Semaphore::new(1));
    let (inner, plain_log) = recorder();
    let mut svc = PriorityLimitLayer::new(plain.clone(), priority).layer(inner);
    let held = plain.clone().try_acquire_owned().unwrap();
    let futures: Vec<_> = jobs.iter().map(|&j| queue(&mut svc, j)).collect();
    drop(held);
    drain(futures);

    let ids = |log: &Log| served(log).iter().map(|j| j.id).collect::<Vec<_>>();
    assert_eq!(ids(&fair_log), [2, 4, 1, 5, 0, 3, 6]);
    assert_eq!(ids(&fair_log), ids(&plain_log));
    assert_exact(fair.semaphore(), 1);
    assert_exact(&plain, 1);
}

/// An HTTP service that never fails, as axum's are.
fn http_ok(
) -> impl Service<http::Request<()>, Response = http::Response<String>, Error = Infallible> + Clone
{
    tower::service_fn(|_: http::Request<()>| async { Ok(http::Response::new("done".to_owned())) })
}

fn from(tenant: &'static str) -> http::Request<()> {
    let mut request = http::Request::new(());
    let value = http::HeaderValue::from_static(tenant);
    request.headers_mut().insert("x-tenant", value);
    request
}

/// The overload bounds work on a fair layer, and a refused request gets the layer's
/// `OnRefused` answer without reaching the inner service.
#[test]
fn refused_requests_get_the_on_refused_answer() {
    let sem: Arc<FairSemaphore<http::HeaderValue>> = Arc::new(FairSemaphore::new(1));
    // Closures without annotations: `fair_http` names the request type.
    let layer = PriorityLimitLayer::fair_http(
        sem.clone(),
        |_| 0,
        |request| Some((request.headers().get("x-tenant")?.clone(), 1)),
    );
    let mut svc = layer.clone().queue_limit(|_| 1).layer(http_ok());
    let held = sem.try_acquire().unwrap();
    let mut waiting = Box::pin(svc.call(from("a")));
    assert!(poll_noop(waiting.as_mut()).is_pending());
    let refused = expect_ready(poll_noop(pin!(svc.call(from("b")))), "queue full").unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");

    // `max_wait`, answered by a closure; the timer here fires at once.
    let mut impatient = layer
        .clone()
        .on_refused(|error: AcquireError| Ok(http::Response::new(format!("refused: {error}"))))
        .max_wait(Duration::from_millis(1), |_| std::future::ready(()))
        .layer(http_ok());
    let refused = expect_ready(poll_noop(pin!(impatient.call(from("b")))), "timed out");
    assert!(refused.unwrap().body().starts_with("refused: "));

    assert_eq!(
        sem.semaphore().waiter_count(),
        1,
        "the refused left no trace"
    );
    drop(held);
    let served = expect_ready(poll_noop(waiting.as_mut()), "served").unwrap();
    assert_eq!(served.body(), "done");
    assert_eq!(sem.entries(), (0, 0));
    assert_exact(sem.semaphore(), 1);

    sem.close();
    let mut svc = layer.layer(http_ok());
    let closed = expect_ready(poll_noop(pin!(svc.call(from("a")))), "closed").unwrap();
    assert_eq!(closed.status(), 503);
    assert!(closed.headers().get("retry-after").is_none());
}

#[test]
fn dropping_response_futures_at_any_stage_loses_nothing() {
    let sem: Arc<FairSemaphore<&str>> = Arc::new(FairSemaphore::new(1));
    let gate = Arc::new(Semaphore::new(0));
    let inner = tower::service_fn({
        let gate = gate.clone();
        move |job: Job| {
            let gate = gate.clone();
            async move {
                drop(gate.acquire().await?);
                Ok::<_, BoxError>(job)
            }
        }
    });
    let mut svc = PriorityLimitLayer::fair(sem.clone(), priority, tenant).layer(inner);

    let mut running = Box::pin(svc.call(job(Some("a"), 5, 0)));
    assert!(poll_noop(running.as_mut()).is_pending());
    assert_eq!(sem.available_permits(), 0, "held while the inner call runs");
    let a1 = queue(&mut svc, job(Some("a"), 5, 1));
    let b0 = queue(&mut svc, job(Some("b"), 5, 2));
    let a2 = queue(&mut svc, job(Some("a"), 5, 3));
    let never_polled = svc.call(job(Some("c"), 5, 4));
    assert_eq!(sem.semaphore().waiter_count(), 3);

    drop(a1); // queued, with a later request of its flow behind it
    drop(never_polled);
    drop(running); // the inner call goes with its permit, which goes to the next in line
    assert_eq!(sem.semaphore().waiter_count(), 1);
    assert_eq!(sem.available_permits(), 0, "handed on, not yet claimed");
    drop(b0); // granted but never polled: handed on to `a2`
    drop(a2);
    assert_eq!(sem.entries(), (0, 0), "nothing left counted");
    assert_exact(sem.semaphore(), 1);

    // The service still works.
    gate.add_permits(1);
    let mut last = pin!(svc.call(job(Some("a"), 5, 5)));
    assert_eq!(
        expect_ready(poll_noop(last.as_mut()), "free").unwrap().id,
        5
    );
    assert_exact(sem.semaphore(), 1);
}

#[test]
fn a_weight_of_zero_panics_in_call_and_queues_nothing() {
    let sem: Arc<FairSemaphore<&str>> = Arc::new(FairSemaphore::new(1));
    let (inner, log) = recorder();
    let weightless = |j: &Job| Some((j.tenant?, 0));
    let mut svc = PriorityLimitLayer::fair(sem.clone(), priority, weightless).layer(inner);
    let held = sem.try_acquire().unwrap();
    let message = expect_panic(|| svc.call(job(Some("a"), 5, 0)));
    assert!(message.contains("weight must be at least 1"), "{message}");
    assert_eq!(sem.semaphore().waiter_count(), 0);
    drop(held);
    // Unkeyed requests have no weight to get wrong: the service still works.
    let out = futures::executor::block_on(svc.call(job(None, 5, 1)));
    assert_eq!(out.unwrap().id, 1);
    assert_eq!(served(&log).len(), 1);
    assert_exact(sem.semaphore(), 1);
}
