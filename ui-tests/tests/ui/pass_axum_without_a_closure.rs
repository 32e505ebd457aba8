// axum: no `.on_refused(...)` needed, and the priority closure needs no annotation.
use std::sync::Arc;
use std::time::Duration;

use axum::{routing::get, Router};
use prio_semaphore::{tower::PriorityLimitLayer, Semaphore};

fn main() {
    let _app: Router = Router::new().route("/", get(|| async { "hi" })).layer(
        PriorityLimitLayer::http(Arc::new(Semaphore::new(4)), |request| {
            if request.headers().contains_key("x-realtime") {
                0
            } else {
                10
            }
        })
        .queue_limit(|&priority| if priority == 0 { usize::MAX } else { 32 })
        .max_wait(Duration::from_millis(250), tokio::time::sleep),
    );
}
