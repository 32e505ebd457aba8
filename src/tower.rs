//! A [tower] middleware that limits how many requests a service handles at once, serving
//! waiting requests **by a priority computed from each request** (feature `tower`).
//!
//! [`PriorityLimitLayer::new(semaphore, priority_fn)`](PriorityLimitLayer::new) wraps any
//! `tower::Service` whose clones can serve requests (axum routers and handlers, hyper
//! services through `hyper_util::service::TowerToHyperService`, tonic services, ...). Each
//! request first waits for a permit of the shared semaphore at `priority_fn(&request)`
//! (smaller first, arrival order among equals), then goes to the inner service, and gives
//! the permit back when the inner service's response future completes.
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
//! # Closed semaphore
//!
//! A request that finds the semaphore closed (while waiting, or later) is answered by the
//! layer's [`OnClosed`] policy. The default, [`ErrorOnClosed`], returns the inner service's
//! error type built `From<AcquireError>` (`tower::BoxError` is). axum needs services
//! that never fail (`Infallible`), so give axum a response instead, such as `503 Service
//! Unavailable`, with [`PriorityLimitLayer::on_closed`].
//!
//! # Cancellation
//!
//! Dropping the response future (a client that hangs up, a timeout) at any point loses
//! nothing: a request still in line leaves it, a permit already granted goes to the next
//! request, and a running inner call is dropped with its permit.
//!
//! # Panics
//!
//! A priority function that panics does so inside `call`, before anything is queued: the
//! semaphore is untouched (hyper and axum then drop the connection's task).
//!
//! # Examples
//!
//! An axum router whose requests with `x-priority: realtime` are served before the rest,
//! at most 4 at a time:
//!
//! ```
//! use std::sync::Arc;
//! use axum::{extract::Request, http::StatusCode, response::IntoResponse, routing::get, Router};
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
//!     .layer(
//!         PriorityLimitLayer::new(backend, priority)
//!             .on_closed(|_closed| Ok(StatusCode::SERVICE_UNAVAILABLE.into_response())),
//!     );
//! # drop(app);
//! ```
//!
//! [tower]: https://docs.rs/tower

mod future;
mod layer;
mod on_closed;

pub use future::ResponseFuture;
pub use layer::{PriorityLimit, PriorityLimitLayer};
pub use on_closed::{ErrorOnClosed, OnClosed};
