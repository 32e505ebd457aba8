use prio_semaphore::Semaphore;
fn assert_send_sync<T: Send + Sync>() {}
fn assert_send<T: Send>() {}
#[test]
fn types() {
    assert_send_sync::<Semaphore>();
    assert_send::<prio_semaphore::Acquire<'static>>();
    assert_send_sync::<prio_semaphore::Permit<'static>>();
}
#[test]
fn order() {
    let sem = Semaphore::new(1);
    let out = std::sync::Mutex::new(Vec::new());
    futures::executor::block_on(async {
        let held = sem.acquire().await.unwrap();
        let futs: Vec<_> = [5i64, 3, 9, 3, 1, 5]
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                let sem = &sem;
                let out = &out;
                async move {
                    let _p = sem.acquire().priority(p).await.unwrap();
                    out.lock().unwrap().push((p, i));
                }
            })
            .collect();
        let all = futures::future::join_all(futs);
        let rel = async {
            yield_now().await;
            drop(held);
        };
        futures::join!(all, rel);
    });
    assert_eq!(
        *out.lock().unwrap(),
        vec![(1, 4), (3, 1), (3, 3), (5, 0), (5, 5), (9, 2)]
    );
    assert_eq!(sem.available_permits(), 1);
}

async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return std::task::Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await
}
