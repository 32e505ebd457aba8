//! `PriorityLimitLayer` with plain tower services (no HTTP): priority order, the readiness
//! contract, cancellation at every stage, a closed semaphore, a failing inner service and
//! a panicking priority function. The HTTP side is in `tests/web_priority.rs`.

use std::convert::Infallible;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::common::{assert_exact, expect_panic, expect_ready, poll_noop};
use prio_semaphore::tower::{PriorityLimit, PriorityLimitLayer};
use prio_semaphore::{AcquireError, Semaphore};
use tower::{BoxError, Layer, Service, ServiceExt};

type Log = Arc<Mutex<Vec<String>>>;

/// An inner service that logs each request it is called with, answers at once, and counts
/// how often its `poll_ready` ran.
#[derive(Clone)]
struct Recorder {
    log: Log,
    readied: Arc<AtomicUsize>,
}

impl Service<String> for Recorder {
    type Response = String;
    type Error = BoxError;
    type Future = std::future::Ready<Result<String, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.readied.fetch_add(1, SeqCst);
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: String) -> Self::Future {
        self.log.lock().unwrap().push(request.clone());
        std::future::ready(Ok(request))
    }
}

/// Priority from the request's first word: "realtime" 0, "normal" 5, else 10.
#[allow(
    clippy::ptr_arg,
    reason = "the layer hands it `&Request`, which is `&String` here"
)]
fn by_word(request: &String) -> i64 {
    match request.split(' ').next() {
        Some("realtime") => 0,
        Some("normal") => 5,
        _ => 10,
    }
}

fn recorder() -> (Recorder, Log, Arc<AtomicUsize>) {
    let (log, readied) = (Log::default(), Arc::new(AtomicUsize::new(0)));
    let inner = Recorder {
        log: log.clone(),
        readied: readied.clone(),
    };
    (inner, log, readied)
}

#[test]
fn requests_are_served_by_their_priority_then_arrival() {
    let sem = Arc::new(Semaphore::new(1));
    let (inner, log, _) = recorder();
    let mut svc = PriorityLimitLayer::new(sem.clone(), by_word).layer(inner);
    let held = sem.clone().try_acquire_owned().unwrap();
    let names = ["batch 1", "normal 1", "realtime 1", "batch 2", "realtime 2"];
    let mut futures: Vec<_> = names
        .iter()
        .map(|name| {
            assert!(poll_noop(pin!(svc.ready())).is_ready());
            Box::pin(svc.call(name.to_string()))
        })
        .collect();
    for future in &mut futures {
        assert!(poll_noop(future.as_mut()).is_pending());
    }
    assert_eq!(sem.waiter_count(), 5);
    assert!(
        log.lock().unwrap().is_empty(),
        "nobody called before its permit"
    );
    drop(held);
    // Each completes in turn (its permit goes back as it completes); poll them until done.
    let mut done = vec![false; futures.len()];
    while done.iter().any(|d| !d) {
        for (i, future) in futures.iter_mut().enumerate() {
            if !done[i] {
                if let Poll::Ready(out) = poll_noop(future.as_mut()) {
                    assert_eq!(out.unwrap(), names[i]);
                    done[i] = true;
                }
            }
        }
    }
    assert_eq!(
        *log.lock().unwrap(),
        ["realtime 1", "realtime 2", "normal 1", "batch 1", "batch 2"]
    );
    assert_exact(&sem, 1);
}

/// `poll_ready` is ready at once and reserves nothing; the inner service is made ready only
/// once the request holds its permit, on the clone that serves it.
#[test]
fn the_inner_service_is_made_ready_after_the_permit() {
    let sem = Arc::new(Semaphore::new(0));
    let (inner, log, readied) = recorder();
    let mut svc = PriorityLimitLayer::new(sem.clone(), by_word).layer(inner);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    let mut future = pin!(svc.call("normal".to_owned()));
    assert!(future.as_mut().poll(&mut cx).is_pending());
    assert_eq!(readied.load(SeqCst), 0);
    sem.add_permits(1);
    assert_eq!(
        expect_ready(future.as_mut().poll(&mut cx), "granted").unwrap(),
        "normal"
    );
    assert_eq!(readied.load(SeqCst), 1);
    assert_eq!(log.lock().unwrap().len(), 1);
    assert_exact(&sem, 1);
}

/// An inner service that answers only when its gate opens, to hold a call in flight.
#[derive(Clone)]
struct Gated {
    gate: Arc<Semaphore>,
    fail_ready: bool,
}

impl Service<String> for Gated {
    type Response = String;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<String, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if self.fail_ready {
            return Poll::Ready(Err("inner service is down".into()));
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: String) -> Self::Future {
        let gate = self.gate.clone();
        Box::pin(async move {
            drop(gate.acquire().await?);
            Ok(request)
        })
    }
}

#[test]
fn the_permit_is_held_until_the_response_future_completes() {
    let sem = Arc::new(Semaphore::new(1));
    let gate = Arc::new(Semaphore::new(0));
    let inner = Gated {
        gate: gate.clone(),
        fail_ready: false,
    };
    let mut svc = PriorityLimitLayer::new(sem.clone(), by_word).layer(inner);
    let mut running = pin!(svc.call("batch".to_owned()));
    assert!(poll_noop(running.as_mut()).is_pending());
    assert_eq!(sem.available_permits(), 0, "held while the inner call runs");
    gate.add_permits(1);
    assert_eq!(
        expect_ready(poll_noop(running.as_mut()), "done").unwrap(),
        "batch"
    );
    assert_eq!(
        sem.available_permits(),
        1,
        "given back as soon as it completed"
    );
    let message = expect_panic(|| poll_noop(running.as_mut()));
    assert!(message.contains("polled after completion"), "{message}");
}

#[test]
fn dropping_the_response_future_at_any_stage_loses_nothing() {
    let sem = Arc::new(Semaphore::new(1));
    let gate = Arc::new(Semaphore::new(0));
    let inner = Gated {
        gate: gate.clone(),
        fail_ready: false,
    };
    let mut svc = PriorityLimitLayer::new(sem.clone(), by_word).layer(inner);

    // 1. Running: the inner call is dropped with the permit.
    let mut running = Box::pin(svc.call("batch".to_owned()));
    assert!(poll_noop(running.as_mut()).is_pending());
    // 2. Queued behind it.
    let mut queued = Box::pin(svc.call("normal".to_owned()));
    assert!(poll_noop(queued.as_mut()).is_pending());
    // 3. Queued, then granted but never polled again.
    let mut granted = Box::pin(svc.call("realtime".to_owned()));
    assert!(poll_noop(granted.as_mut()).is_pending());
    assert_eq!(sem.waiter_count(), 2);

    drop(queued);
    assert_eq!(sem.waiter_count(), 1);
    drop(running); // its permit goes to `granted` (realtime)
    assert_eq!(sem.waiter_count(), 0);
    assert_eq!(sem.available_permits(), 0);
    let mut last = Box::pin(svc.call("batch".to_owned()));
    assert!(poll_noop(last.as_mut()).is_pending());
    drop(granted); // ... and on to `last`
    gate.add_permits(1);
    assert_eq!(
        expect_ready(poll_noop(last.as_mut()), "last").unwrap(),
        "batch"
    );
    assert_exact(&sem, 1);
}

#[test]
fn a_closed_semaphore_answers_with_the_error_or_the_on_refused_response() {
    let sem = Arc::new(Semaphore::new(1));
    let (inner, log, _) = recorder();
    let mut svc = PriorityLimitLayer::new(sem.clone(), by_word).layer(inner.clone());
    let held = sem.clone().try_acquire_owned().unwrap();
    let mut queued = pin!(svc.call("normal".to_owned()));
    assert!(poll_noop(queued.as_mut()).is_pending());
    sem.close();
    let error = expect_ready(poll_noop(queued.as_mut()), "closed").unwrap_err();
    assert!(error.downcast_ref::<AcquireError>().unwrap().is_closed());
    let error = expect_ready(poll_noop(pin!(svc.call("later".to_owned()))), "closed");
    assert!(error.is_err());

    // A service that cannot fail answers with a response instead.
    let answer = tower::service_fn(|request: String| async move { Ok::<_, Infallible>(request) });
    let mut svc = PriorityLimitLayer::new(sem.clone(), by_word)
        .on_refused(|closed: AcquireError| Ok(format!("503: {closed}")))
        .layer(answer);
    let out = expect_ready(poll_noop(pin!(svc.call("x".to_owned()))), "closed");
    assert!(out.unwrap().starts_with("503"));
    assert!(
        log.lock().unwrap().is_empty(),
        "the inner service never ran"
    );
    drop(held);
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn an_inner_service_that_fails_readiness_gives_its_permit_back() {
    let sem = Arc::new(Semaphore::new(1));
    let inner = Gated {
        gate: Arc::new(Semaphore::new(0)),
        fail_ready: true,
    };
    let svc = PriorityLimitLayer::new(sem.clone(), by_word).layer(inner);
    let error = futures::executor::block_on(svc.oneshot("x".to_owned())).unwrap_err();
    assert_eq!(error.to_string(), "inner service is down");
    assert_exact(&sem, 1);
}

#[test]
fn a_panicking_priority_function_leaves_the_semaphore_untouched() {
    let sem = Arc::new(Semaphore::new(1));
    let (inner, log, _) = recorder();
    let picky = |request: &String| -> i64 {
        assert!(!request.is_empty(), "empty request");
        0
    };
    let mut svc: PriorityLimit<_, _> = PriorityLimitLayer::new(sem.clone(), picky).layer(inner);
    let held = sem.clone().try_acquire_owned().unwrap();
    let message = expect_panic(|| svc.call(String::new()));
    assert!(message.contains("empty request"));
    assert_eq!(sem.waiter_count(), 0);
    drop(held);
    assert_exact(&sem, 1);
    // The service still works.
    let out = catch_unwind(AssertUnwindSafe(|| {
        futures::executor::block_on(svc.call("ok".to_owned()))
    }));
    assert_eq!(out.unwrap().unwrap(), "ok");
    assert_eq!(*log.lock().unwrap(), ["ok"]);
}

/// Any integer type works as the priority function's result, and `u64::MAX` saturates
/// to the back of the line.
#[test]
fn the_priority_function_may_return_any_integer() {
    let sem = Arc::new(Semaphore::new(1));
    let (inner, log, _) = recorder();
    let mut svc = PriorityLimitLayer::new(sem.clone(), |request: &String| -> u64 {
        if request == "last" {
            u64::MAX
        } else {
            request.len() as u64
        }
    })
    .layer(inner);
    let held = sem.clone().try_acquire_owned().unwrap();
    let mut last = Box::pin(svc.call("last".to_owned()));
    let mut first = Box::pin(svc.call("a".to_owned()));
    assert!(poll_noop(last.as_mut()).is_pending());
    assert!(poll_noop(first.as_mut()).is_pending());
    drop(held);
    assert!(poll_noop(last.as_mut()).is_pending());
    assert!(poll_noop(first.as_mut()).is_ready());
    assert!(poll_noop(last.as_mut()).is_ready());
    assert_eq!(*log.lock().unwrap(), ["a", "last"]);
}

/// An HTTP service that never fails, as axum's are: `Refuse` answers it with responses.
fn http_ok(
) -> impl Service<http::Request<()>, Response = http::Response<String>, Error = Infallible> + Clone
{
    tower::service_fn(|_: http::Request<()>| async { Ok(http::Response::new("done".to_owned())) })
}

fn get(realtime: bool) -> http::Request<()> {
    let mut request = http::Request::new(());
    if realtime {
        request
            .headers_mut()
            .insert("x-realtime", http::HeaderValue::from_static("1"));
    }
    request
}

#[test]
fn overload_is_answered_with_503_and_retry_after_or_429() {
    let sem = Arc::new(Semaphore::new(1));
    let layer = PriorityLimitLayer::http(sem.clone(), |request| {
        if request.headers().contains_key("x-realtime") {
            0
        } else {
            10
        }
    })
    .queue_limit(|&priority| if priority == 0 { usize::MAX } else { 1 });
    let mut svc = layer.clone().layer(http_ok());
    let held = sem.clone().try_acquire_owned().unwrap();
    let mut waiting = Box::pin(svc.call(get(false)));
    assert!(poll_noop(waiting.as_mut()).is_pending());
    // A second batch request finds one waiting: refused at once, the inner service idle.
    let refused = expect_ready(poll_noop(pin!(svc.call(get(false)))), "refused").unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(refused.body(), "");
    // Realtime has no limit.
    let mut realtime = Box::pin(svc.call(get(true)));
    assert!(poll_noop(realtime.as_mut()).is_pending());
    let mut svc429 = layer
        .refuse_with(prio_semaphore::tower::Refuse::too_many_requests().retry_after(None))
        .layer(http_ok());
    let refused = expect_ready(poll_noop(pin!(svc429.call(get(false)))), "refused").unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().get("retry-after").is_none());
    drop(held);
    let first = expect_ready(poll_noop(realtime.as_mut()), "realtime first").unwrap();
    assert_eq!(first.body(), "done");
    assert_eq!(
        expect_ready(poll_noop(waiting.as_mut()), "then batch")
            .unwrap()
            .status(),
        200
    );
    // A closed semaphore is 503 without `Retry-After`.
    sem.close();
    let closed = expect_ready(poll_noop(pin!(svc.call(get(true)))), "closed").unwrap();
    assert_eq!(closed.status(), 503);
    assert!(closed.headers().get("retry-after").is_none());
}

#[test]
fn max_wait_refuses_a_request_its_timer_gives_up_on() {
    let sem = Arc::new(Semaphore::new(1));
    let fired = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let timer = {
        let fired = fired.clone();
        move |after: std::time::Duration| {
            assert_eq!(after, std::time::Duration::from_millis(250));
            let fired = fired.clone();
            std::future::poll_fn(move |_| {
                if fired.load(SeqCst) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
        }
    };
    let (inner, log, _) = recorder();
    let mut svc = PriorityLimitLayer::new(sem.clone(), by_word)
        .max_wait(std::time::Duration::from_millis(250), timer)
        .layer(inner);
    let held = sem.clone().try_acquire_owned().unwrap();
    let mut waiting = pin!(svc.call("batch".to_owned()));
    assert!(poll_noop(waiting.as_mut()).is_pending());
    fired.store(true, SeqCst);
    let error = expect_ready(poll_noop(waiting.as_mut()), "timed out").unwrap_err();
    assert!(error.downcast_ref::<AcquireError>().unwrap().is_timed_out());
    assert!(
        log.lock().unwrap().is_empty(),
        "the inner service never ran"
    );
    drop(held);
    assert_exact(&sem, 1);
}
