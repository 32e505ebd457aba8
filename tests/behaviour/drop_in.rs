//! Code written for `tokio::sync::Semaphore` (in the style of tokio's own docs), with only
//! the `use` line changed: it compiles without a single type annotation and behaves the
//! same.

use std::sync::Arc;

use prio_semaphore::{
    AcquireError, OwnedSemaphorePermit, Semaphore, SemaphorePermit, TryAcquireError,
};

static GLOBAL: Semaphore = Semaphore::const_new(2);

// tokio's associated constant is there too (and large enough for any concurrency limit).
const _: () = assert!(Semaphore::MAX_PERMITS >= 1 << 29);

struct Pool {
    sem: Semaphore,
}

impl Pool {
    fn new() -> Self {
        Self {
            sem: Semaphore::new(3),
        }
    }

    async fn checkout(&self) -> Result<SemaphorePermit<'_>, AcquireError> {
        self.sem.acquire().await
    }
}

#[tokio::test]
#[cfg_attr(miri, ignore)] // a real runtime
async fn borrowed_permits_try_acquire_and_close() {
    let semaphore = Semaphore::new(3);
    let a_permit = semaphore.acquire().await.unwrap();
    let two_permits = semaphore.acquire_many(2).await.unwrap();
    assert_eq!(semaphore.available_permits(), 0);
    assert_eq!(
        semaphore.try_acquire().err(),
        Some(TryAcquireError::NoPermits)
    );
    drop(a_permit);
    assert!(semaphore.try_acquire().is_ok());
    drop(two_permits);
    assert_eq!(semaphore.available_permits(), 3);

    semaphore.close();
    assert!(semaphore.is_closed());
    assert_eq!(
        semaphore.try_acquire_many(1).err(),
        Some(TryAcquireError::Closed)
    );
    assert!(semaphore.acquire().await.is_err());

    let pool = Pool::new();
    let conn = pool.checkout().await.unwrap();
    assert_eq!(conn.num_permits(), 1);
    assert_eq!(GLOBAL.available_permits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(miri, ignore)] // a real runtime
async fn owned_permits_bound_spawned_tasks() {
    let semaphore = Arc::new(Semaphore::new(3));
    let mut join_handles = Vec::new();
    for _ in 0..10 {
        let permit: OwnedSemaphorePermit = semaphore.clone().acquire_owned().await.unwrap();
        join_handles.push(tokio::spawn(async move {
            tokio::task::yield_now().await;
            drop(permit);
        }));
    }
    for handle in join_handles {
        handle.await.unwrap();
    }
    assert_eq!(semaphore.available_permits(), 3);

    // Counting: add, forget, merge, split, exactly as with tokio.
    semaphore.add_permits(2);
    assert_eq!(semaphore.forget_permits(1), 1);
    let mut permit = semaphore.clone().try_acquire_many_owned(2).unwrap();
    let split = permit.split(1).unwrap();
    permit.merge(split);
    permit.forget();
    assert_eq!(semaphore.available_permits(), 2);
}
