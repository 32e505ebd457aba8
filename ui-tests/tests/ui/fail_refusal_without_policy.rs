// A service whose error cannot be built from `AcquireError` and whose response is not an
// HTTP response: the layer cannot answer a refused request by itself.
use std::sync::Arc;

use prio_semaphore::{tower::PriorityLimitLayer, Semaphore};

#[derive(Clone)]
struct Echo;

impl tower_service::Service<String> for Echo {
    type Response = String;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<String, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: String) -> Self::Future {
        std::future::ready(Ok(request))
    }
}

fn main() {
    use tower_layer::Layer;
    let layer = PriorityLimitLayer::new(Arc::new(Semaphore::new(4)), |_: &String| 0);
    let mut service = layer.layer(Echo);
    let _ = tower_service::Service::call(&mut service, "hi".to_owned());
}
