//! A [tower] middleware that limits how many requests a service handles at once, serving
//! waiting requests **by a priority computed from each request** (feature `tower`), and,
//! over a fair semaphore, **fairly among the flows** (tenants) each request names.
//!
//! [`PriorityLimitLayer::new(semaphore, priority_fn)`](PriorityLimitLayer::new) wraps any
//! `tower::Service` whose clones can serve requests (axum routers and handlers, hyper
//! services through `hyper_util::service::TowerToHyperService`, tonic services, ...). Each
//! request first waits for a permit of the shared semaphore at `priority_fn(&request)`
//! (smaller first, arrival order among equals), then goes to the inner service, and gives
//! the permit back when the inner service's response future completes.
//! [`PriorityLimitLayer::fair(semaphore, priority_fn, flow_fn)`](PriorityLimitLayer::fair)
//! does the same over a [`FairSemaphore`](crate::fair::FairSemaphore) ([Flows](#flows)).
//!
//! # How it fits tower's readiness contract
//!
//! `poll_ready` never sees the request, so it cannot know the priority: waiting there would
//! make every request wait at the same priority, in arrival order. So the wait happens where
//! the request is known, in the future that [`call`](tower_service::Service::call) returns:
//!
//! * `poll_ready` is always ready, and reserves nothing;
//! * `call` computes the priority, and returns a [`ResponseFuture`] that owns a **clone** of
//!   the inner service;
//! * that future first waits for its permit, then drives the clone's `poll_ready` (the
//!   inner service's own backpressure, if any, is honoured there) and only then calls it.
//!
//! This is what `tower::ServiceExt::oneshot` does with a clone, and why the inner service
//! must be `Clone`. Making the inner service ready only after the permit matters: a request
//! that is still waiting for its turn holds no reservation of the inner service (a buffer
//! slot, a connection), so it cannot block a more urgent request that arrives later.
//!
//! # What the permit covers
//!
//! The permit is held from the moment the request gets it until the inner service's
//! response future completes. For HTTP that is when the response *head* (status and
//! headers) is ready: a **streaming body** is produced after that, while the permit is
//! already back. That is what you want when the limited resource is the handler's work (a
//! database query, a model call) and the body is a buffer. If producing the body is the
//! expensive part, the permit must travel with the body: acquire inside the handler (with
//! [`Semaphore::acquire_owned`](crate::Semaphore::acquire_owned)) and move the permit into
//! the body stream, which drops it when the stream ends.
//!
//! # Refused requests, and overload
//!
//! A request is refused a permit when the semaphore is closed, and, if you bound them,
//! under overload: by [`PriorityLimitLayer::queue_limit`] (a request that would wait while
//! too many already wait, per priority class) and [`PriorityLimitLayer::max_wait`] (a
//! request that waited too long, on your runtime's timer). Without bounds every request
//! waits as long as it takes, and under a flood the line, the latency and the memory grow
//! without end; with them the layer sheds load early and cheaply, like Kubernetes API
//! Priority and Fairness' queue limits or tower's `load_shed`, but less urgent classes
//! first.
//!
//! A refused request is answered by the layer's [`OnRefused`] policy, without calling the
//! inner service. The default, [`Refuse`], answers HTTP services that never fail (axum's)
//! with `503 Service Unavailable` (with `Retry-After: 1` under overload; or `429 Too Many
//! Requests`, [`Refuse::too_many_requests`]), and returns the error built
//! `From<AcquireError>` for other services (`tower::BoxError` is). Any closure can answer
//! instead ([`PriorityLimitLayer::on_refused`]).
//!
//! # Flows
//!
//! One tenant that floods a service at some priority delays another tenant's requests at
//! that priority behind the whole flood, if they wait in arrival order. A layer over a
//! [`FairSemaphore`](crate::fair::FairSemaphore), made by [`PriorityLimitLayer::fair`] or
//! [`PriorityLimitLayer::fair_http`], also computes each request's **flow**:
//! `flow_fn(&request)` is `Some((key, weight))` (a tenant header, an API key) or `None`.
//! Requests of one priority are then served by weighted fair queuing among their flows (the
//! order and its bound are [the `fair` module's](crate::fair)), and the tenant's flood costs
//! the other tenant about one request's wait, not the flood's. Requests whose flow is `None`
//! share their priority's flow, in arrival order: a layer whose flow function always
//! answers `None` serves as a plain one does. Refusals, the overload bounds and
//! cancellation are the same for both kinds.
//!
//! # Cancellation
//!
//! Dropping the response future (a client that hangs up, a timeout) at any point loses
//! nothing: a request still in line leaves it, a permit already granted goes to the next
//! request, and a running inner call is dropped with its permit.
//!
//! # Panics
//!
//! A priority or flow function that panics, or a flow weight of 0 (which panics), does so
//! inside `call`, before anything is queued: the semaphore is untouched (hyper and axum
//! then drop the connection's task).
//!
//! # Examples
//!
//! An axum router whose requests with `x-priority: realtime` are served before the rest,
//! at most 4 at a time:
//!
//! ```
//! use std::sync::Arc;
//! use axum::{extract::Request, routing::get, Router};
//! use prio_semaphore::{tower::PriorityLimitLayer, Semaphore};
//!
//! fn priority(request: &Request) -> i64 {
//!     match request.headers().get("x-priority") {
//!         Some(value) if value == "realtime" => 0,
//!         _ => 10,
//!     }
//! }
//!
//! let backend = Arc::new(Semaphore::new(4));
//! let app: Router = Router::new()
//!     .route("/work", get(|| async { "done" }))
//!     .layer(PriorityLimitLayer::new(backend, priority));
//! # drop(app);
//! ```
//!
//! Under overload: batch requests are refused (`503`, `Retry-After: 1`) while 32 or more
//! requests wait, and every request that waited 500 ms:
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use axum::{routing::get, Router};
//! use prio_semaphore::{tower::PriorityLimitLayer, Semaphore};
//!
//! let app: Router = Router::new().route("/work", get(|| async { "done" })).layer(
//!     PriorityLimitLayer::http(Arc::new(Semaphore::new(4)), |request| {
//!         if request.headers().contains_key("x-realtime") { 0 } else { 10 }
//!     })
//!     .queue_limit(|&priority| if priority == 0 { usize::MAX } else { 32 })
//!     .max_wait(Duration::from_millis(500), tokio::time::sleep),
//! );
//! # drop(app);
//! ```
//!
//! Fair shares among tenants: each `x-tenant` header is a flow (requests without one share
//! a flow), so one tenant's flood does not hold back the others:
//!
//! ```
//! use std::sync::Arc;
//! use axum::{body::Body, extract::Request, http::HeaderValue, routing::get, Router};
//! use prio_semaphore::{fair::FairSemaphore, tower::PriorityLimitLayer};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let backend: Arc<FairSemaphore<HeaderValue>> = Arc::new(FairSemaphore::new(4));
//! let app: Router = Router::new().route("/work", get(|| async { "done" })).layer(
//!     PriorityLimitLayer::fair_http(
//!         backend.clone(),
//!         |request| if request.headers().contains_key("x-realtime") { 0 } else { 10 },
//!         |request| Some((request.headers().get("x-tenant")?.clone(), 1)), // weight 1
//!     ),
//! );
//!
//! let request = Request::get("/work").header("x-tenant", "acme").body(Body::empty());
//! let response = app.oneshot(request.unwrap()).await.unwrap();
//! assert_eq!(response.status(), 200);
//! assert_eq!(backend.available_permits(), 4); // given back with the response
//! # }
//! ```
//!
//! [tower]: https://docs.rs/tower

mod bounds;
mod future;
mod kind;
mod layer;
mod refuse;

pub use bounds::{MaxWait, NoQueueLimit, NoTimer, QueueLimitFn, Timer};
pub use future::ResponseFuture;
pub use kind::{Fair, FlowFn, NoFlows, Plain, SemaphoreKind};
pub use layer::{PriorityLimit, PriorityLimitLayer};
pub use refuse::{OnRefused, Refuse};
