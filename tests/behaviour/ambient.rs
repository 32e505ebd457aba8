//! Ambient priority: `with_priority`, `priority_scope` and `current_priority`.
//!
//! This binary installs a counting global allocator (the only one among the tests) to check
//! that scopes never allocate. It counts per thread, so other tests running in parallel do
//! not disturb the count.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use crate::common::counting_alloc::allocations;
use crate::common::{assert_exact, expect_panic, expect_ready, poll_noop, yield_until};
use prio_semaphore::{
    current_priority, priority_scope, with_priority, AcquireError, FloatPriority, Semaphore,
};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
enum Urgency {
    High,
    #[default]
    Normal,
    Low,
}

/// Checks that `request` joins the line of `sem` (which has no free permits) at exactly
/// priority `expected`: it is served after a request at `expected` queued before it, and
/// before one queued after it. `first_poll` polls it the first time (in whatever scope the
/// caller wants); later polls happen outside any scope.
#[track_caller]
fn assert_joins_at<P, F, T>(
    sem: &Semaphore<P>,
    expected: P,
    mut request: Pin<&mut F>,
    first_poll: impl FnOnce(Pin<&mut F>) -> Poll<F::Output>,
) where
    P: Ord + Default + Clone + 'static,
    F: Future<Output = Result<T, AcquireError>> + ?Sized,
{
    assert_eq!(sem.available_permits(), 0);
    let mut before = pin!(sem.acquire().priority(expected.clone()));
    assert!(poll_noop(before.as_mut()).is_pending());
    assert!(first_poll(request.as_mut()).is_pending());
    let mut after = pin!(sem.acquire().priority(expected));
    assert!(poll_noop(after.as_mut()).is_pending());

    sem.add_permits(1);
    let permit = expect_ready(poll_noop(before.as_mut()), "the earlier request").unwrap();
    assert!(
        poll_noop(request.as_mut()).is_pending(),
        "the request was queued ahead of an earlier one of the expected priority"
    );
    drop(permit);
    let permit = expect_ready(poll_noop(request.as_mut()), "the request").unwrap();
    assert!(
        poll_noop(after.as_mut()).is_pending(),
        "the request was queued behind a later one of the expected priority"
    );
    drop(permit);
    let permit = expect_ready(poll_noop(after.as_mut()), "the later request").unwrap();
    drop(permit);
    assert_eq!(sem.forget_permits(1), 1);
}

#[test]
fn scopes_nest_and_are_restored_on_exit() {
    assert_eq!(current_priority::<i64>(), None);
    priority_scope(1_i64, || {
        assert_eq!(current_priority::<i64>(), Some(1));
        priority_scope(2_i64, || {
            assert_eq!(current_priority::<i64>(), Some(2));
            priority_scope(3_i64, || assert_eq!(current_priority::<i64>(), Some(3)));
            assert_eq!(current_priority::<i64>(), Some(2));
        });
        assert_eq!(current_priority::<i64>(), Some(1));
    });
    assert_eq!(current_priority::<i64>(), None);
}

#[test]
fn a_scope_returns_its_closures_value() {
    assert_eq!(priority_scope(1, || "done"), "done");
}

#[test]
fn a_scope_is_restored_when_its_closure_panics() {
    priority_scope(1_i64, || {
        let msg = expect_panic(|| priority_scope(2_i64, || panic!("inside the scope")));
        assert_eq!(msg, "inside the scope");
        assert_eq!(current_priority::<i64>(), Some(1));
    });
    assert_eq!(current_priority::<i64>(), None);
}

#[test]
fn a_future_scope_is_restored_when_a_poll_panics() {
    let mut fut = pin!(with_priority(5_i64, async {
        assert_eq!(current_priority::<i64>(), Some(5));
        panic!("inside the future");
    }));
    let msg = expect_panic(|| poll_noop(fut.as_mut()));
    assert_eq!(msg, "inside the future");
    assert_eq!(current_priority::<i64>(), None);
}

#[test]
fn a_future_scope_applies_only_while_the_future_is_polled() {
    let mut fut = pin!(with_priority(5_i64, async {
        assert_eq!(current_priority::<i64>(), Some(5));
        crate::common::yield_now().await;
        assert_eq!(current_priority::<i64>(), Some(5));
        "done"
    }));
    assert!(poll_noop(fut.as_mut()).is_pending());
    assert_eq!(
        current_priority::<i64>(),
        None,
        "nothing leaks between polls"
    );
    assert_eq!(expect_ready(poll_noop(fut.as_mut()), "second poll"), "done");
}

#[test]
fn scopes_of_different_types_nest_independently() {
    priority_scope(Urgency::Low, || {
        priority_scope(7_i64, || {
            assert_eq!(current_priority::<Urgency>(), Some(Urgency::Low));
            assert_eq!(current_priority::<i64>(), Some(7));
            priority_scope(Urgency::High, || {
                assert_eq!(current_priority::<Urgency>(), Some(Urgency::High));
                assert_eq!(current_priority::<i64>(), Some(7));
            });
        });
    });
}

#[test]
fn integer_scopes_apply_to_every_integer_priority_saturating_at_its_bounds() {
    priority_scope(200_u8, || {
        assert_eq!(
            current_priority::<i8>(),
            Some(i8::MAX),
            "200 saturates for `i8`"
        );
        priority_scope(-1, || {
            // `-1` is an `i32`: the innermost scope applies to every integer type, as
            // `.priority(-1)` would (`0` for the unsigned ones).
            assert_eq!(current_priority::<i64>(), Some(-1));
            assert_eq!(current_priority::<i8>(), Some(-1));
            assert_eq!(current_priority::<u8>(), Some(0));
            assert_eq!(current_priority::<u16>(), Some(0));
        });
    });
    priority_scope(0.25, || {
        assert_eq!(
            current_priority::<FloatPriority>(),
            Some(FloatPriority(0.25))
        );
        assert_eq!(current_priority::<i64>(), None);
    });
}

#[test]
fn acquire_takes_the_ambient_priority() {
    let sem = Semaphore::new(0);
    // An unsuffixed literal (`i32`) applies to the default `i64` semaphore.
    let mut request = pin!(sem.acquire());
    assert_joins_at(&sem, 4, request.as_mut(), |r| {
        priority_scope(4, || poll_noop(r))
    });
    let mut request = pin!(sem.acquire_many(1));
    assert_joins_at(&sem, -3, request.as_mut(), |r| {
        priority_scope(-3, || poll_noop(r))
    });
    assert_exact(&sem, 0);
}

#[test]
fn acquire_without_a_scope_uses_the_default() {
    let sem = Semaphore::new(0);
    let mut request = pin!(sem.acquire());
    assert_joins_at(&sem, 0, request.as_mut(), poll_noop);
    let urgent: Semaphore<Urgency> = Semaphore::new_generic(0);
    let mut request = pin!(urgent.acquire());
    // An `i64` scope does not apply to `Urgency` priorities.
    assert_joins_at(&urgent, Urgency::Normal, request.as_mut(), |r| {
        priority_scope(9_i64, || poll_noop(r))
    });
}

#[test]
fn a_typed_scope_applies_to_semaphores_of_its_type() {
    let sem: Semaphore<Urgency> = Semaphore::new_generic(0);
    let mut request = pin!(sem.acquire());
    assert_joins_at(&sem, Urgency::High, request.as_mut(), |r| {
        priority_scope(Urgency::High, || priority_scope(3, || poll_noop(r)))
    });
}

#[test]
fn an_explicit_priority_wins_over_the_scope() {
    let sem = Semaphore::new(0);
    let mut request = pin!(sem.acquire().priority(8));
    assert_joins_at(&sem, 8, request.as_mut(), |r| {
        priority_scope(1, || poll_noop(r))
    });
}

#[test]
fn the_scope_at_the_first_poll_counts_not_the_one_at_creation() {
    let sem = Semaphore::new(0);

    // Created outside, first polled inside: `with_priority(p, sem.acquire())` works.
    let mut request = pin!(with_priority(6, sem.acquire()));
    assert_joins_at(&sem, 6, request.as_mut(), poll_noop);

    // Created inside, first polled outside: the scope no longer applies.
    let request = priority_scope(6, || sem.acquire());
    let mut request = pin!(request);
    assert_joins_at(&sem, 0, request.as_mut(), poll_noop);

    // Once queued, a request keeps its place, whatever scope later polls it.
    let mut request = pin!(sem.acquire());
    assert_joins_at(&sem, 2, request.as_mut(), |mut r| {
        let first = priority_scope(2, || poll_noop(r.as_mut()));
        assert!(priority_scope(-100, || poll_noop(r)).is_pending());
        first
    });
}

/// A priority whose `clone` panics while `CLONE_PANICS` is set: the ambient lookup clones
/// the scope's value, so the first poll panics inside it.
#[derive(Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
struct PanickyClone(i32);

thread_local! {
    static CLONE_PANICS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl Clone for PanickyClone {
    fn clone(&self) -> Self {
        assert!(!CLONE_PANICS.get(), "clone panics on purpose");
        Self(self.0)
    }
}

#[test]
fn a_lookup_that_panics_runs_once_and_leaves_the_request_usable() {
    let sem: Semaphore<PanickyClone> = Semaphore::new_generic(0);
    let mut request = pin!(sem.acquire());
    CLONE_PANICS.set(true);
    let message = expect_panic(|| priority_scope(PanickyClone(-1), || poll_noop(request.as_mut())));
    CLONE_PANICS.set(false);
    assert!(message.contains("clone panics on purpose"), "{message}");
    // The lookup is gone with the first poll: polled again inside a scope, the request
    // queues at the default priority, behind an earlier request at that priority.
    let mut earlier = pin!(sem.acquire().priority(PanickyClone(0)));
    assert!(poll_noop(earlier.as_mut()).is_pending());
    assert!(priority_scope(PanickyClone(-5), || poll_noop(request.as_mut())).is_pending());
    sem.add_permits(1);
    assert!(
        poll_noop(request.as_mut()).is_pending(),
        "served before an earlier equal"
    );
    drop(expect_ready(poll_noop(earlier.as_mut()), "the earlier request").unwrap());
    drop(expect_ready(poll_noop(request.as_mut()), "the request").unwrap());
    assert_exact(&sem, 1);
}

#[test]
fn owned_requests_take_the_ambient_priority_too() {
    let sem = Arc::new(Semaphore::new(0));
    let mut request = pin!(with_priority(3, sem.clone().acquire_owned()));
    assert_joins_at(&sem, 3, request.as_mut(), poll_noop);
    let mut request = pin!(with_priority(
        3,
        sem.clone().acquire_many_owned(1).priority(1)
    ));
    assert_joins_at(&sem, 1, request.as_mut(), poll_noop);
}

#[test]
fn scopes_and_ambient_acquires_do_not_allocate() {
    let sem = Semaphore::new(0);
    let before = allocations();

    priority_scope(1, || {
        priority_scope(Urgency::High, || {
            assert_eq!(current_priority::<i64>(), Some(1));
            assert_eq!(current_priority::<Urgency>(), Some(Urgency::High));
        })
    });
    let mut waiting = pin!(with_priority(2, async { sem.acquire().await }));
    assert!(poll_noop(waiting.as_mut()).is_pending());
    sem.add_permits(1);
    let permit = expect_ready(poll_noop(waiting.as_mut()), "granted").unwrap();
    drop(permit);

    assert_eq!(allocations(), before, "no allocation");
    assert_exact(&sem, 1);
}

/// A library that keeps its semaphore private; its callers prioritise their calls.
mod library {
    use std::future::Future;

    use prio_semaphore::Semaphore;

    static CONNECTIONS: Semaphore = Semaphore::new(1);

    /// Runs `work` while holding one of the library's connections.
    pub async fn with_connection<T>(work: impl Future<Output = T>) -> T {
        let _connection = CONNECTIONS.acquire().await.unwrap();
        work.await
    }

    /// How many calls are waiting for a connection (a metric the library exports).
    pub fn queued() -> usize {
        CONNECTIONS.waiter_count()
    }
}

#[tokio::test(flavor = "current_thread")]
#[cfg_attr(miri, ignore)] // tokio
async fn callers_prioritise_a_librarys_private_semaphore() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let holder = tokio::spawn(library::with_connection(async move {
        started_tx.send(()).unwrap();
        release_rx.await.unwrap();
    }));
    started_rx.await.unwrap();

    let mut calls = Vec::new();
    for (name, priority) in [
        ("batch 1", 10),
        ("realtime 1", 0),
        ("batch 2", 10),
        ("realtime 2", 0),
    ] {
        let log = log.clone();
        let call = library::with_connection(async move { log.lock().unwrap().push(name) });
        calls.push(tokio::spawn(with_priority(priority, call)));
    }
    yield_until("every call is queued", || library::queued() == 4).await;
    release_tx.send(()).unwrap();

    holder.await.unwrap();
    for call in calls {
        call.await.unwrap();
    }
    assert_eq!(
        *log.lock().unwrap(),
        ["realtime 1", "realtime 2", "batch 1", "batch 2"]
    );
}

/// The scope is entered anew at each poll, on whichever thread polls.
#[test]
fn a_future_scope_follows_the_future_to_another_thread() {
    let sem = Arc::new(Semaphore::new(0));
    let mut fut = Box::pin(with_priority(4, {
        let sem = sem.clone();
        async move {
            assert_eq!(current_priority::<i64>(), Some(4));
            crate::common::yield_now().await;
            // Now on another thread: the scope is still there, and applies to requests.
            assert_eq!(current_priority::<i64>(), Some(4));
            sem.acquire_owned().await
        }
    }));
    assert!(poll_noop(fut.as_mut()).is_pending());
    assert_eq!(current_priority::<i64>(), None);

    let sem2 = sem.clone();
    let on_other_thread = std::thread::spawn(move || {
        assert_eq!(current_priority::<i64>(), None);
        let mut fut = fut;
        assert_joins_at(&sem2, 4, fut.as_mut(), poll_noop);
        assert_eq!(current_priority::<i64>(), None);
    });
    on_other_thread.join().unwrap();
    assert_exact(&sem, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(miri, ignore)] // tokio's multi-thread runtime
async fn a_future_scope_holds_across_awaits_on_a_multi_thread_runtime() {
    let sem = Arc::new(Semaphore::new(1));
    let tasks: Vec<_> = (0..8_i64)
        .map(|priority| {
            let sem = sem.clone();
            tokio::spawn(with_priority(priority, async move {
                for _ in 0..20 {
                    assert_eq!(current_priority::<i64>(), Some(priority));
                    let permit = sem.acquire().await.unwrap();
                    tokio::task::yield_now().await;
                    assert_eq!(current_priority::<i64>(), Some(priority));
                    drop(permit);
                }
            }))
        })
        .collect();
    // A task without a scope never sees another task's.
    let plain = tokio::spawn(async {
        for _ in 0..50 {
            assert_eq!(current_priority::<i64>(), None);
            tokio::task::yield_now().await;
        }
    });
    for task in tasks {
        task.await.unwrap();
    }
    plain.await.unwrap();
    assert_exact(&sem, 1);
}

// What a scope reaches. A scope is a property of the call stack of one thread, not of a
// task: it covers everything polled inside the poll of the future it wraps (or inside the
// closure), and nothing polled outside it. The first group below is the point of scopes;
// the second pins what else runs inside such a call, as documented on `with_priority`.

/// `requests` joined in one future under `with_priority(5, ..)`: each request joins the
/// line at 5, after an earlier request at 5 and before a later one, even when the
/// combinator polls each request with a waker of its own (`join_all` of more than 30
/// futures runs them in a `FuturesOrdered`).
#[track_caller]
fn assert_all_join_at_5<F>(sem: &Semaphore, requests: usize, group: F)
where
    F: Future,
{
    let mut early = pin!(sem.acquire().priority(5));
    assert!(poll_noop(early.as_mut()).is_pending());
    let mut group = pin!(with_priority(5, group));
    assert!(poll_noop(group.as_mut()).is_pending());
    assert_eq!(sem.waiter_count(), 1 + requests);
    let mut late = pin!(sem.acquire().priority(5));
    assert!(poll_noop(late.as_mut()).is_pending());

    sem.add_permits(1);
    let early = expect_ready(poll_noop(early.as_mut()), "the earlier request").unwrap();
    assert!(
        poll_noop(group.as_mut()).is_pending(),
        "a request went ahead"
    );
    sem.add_permits(requests);
    expect_ready(poll_noop(group.as_mut()), "every request of the group");
    assert!(
        poll_noop(late.as_mut()).is_pending(),
        "a request went behind"
    );
    drop(early);
    drop(expect_ready(poll_noop(late.as_mut()), "the later request").unwrap());
}

#[test]
fn a_scope_reaches_every_request_its_future_polls() {
    for requests in [3, 40] {
        let sem = Semaphore::new(0);
        let group = futures::future::join_all((0..requests).map(|_| sem.acquire()));
        assert_all_join_at_5(&sem, requests, async {
            for permit in group.await {
                permit.unwrap().forget();
            }
        });
        assert_exact(&sem, 1); // the earlier and later requests' permit
    }
}

#[test]
fn a_scope_reaches_the_futures_of_a_limited_stream() {
    use futures::StreamExt;

    let sem = Semaphore::new(0);
    let requests = (0..4).map(|_| sem.acquire());
    let group = prio_semaphore::limited::unordered(requests, 4);
    assert_all_join_at_5(&sem, 4, async {
        group
            .for_each(|permit| {
                permit.unwrap().forget();
                std::future::ready(())
            })
            .await;
    });
    assert_exact(&sem, 1);
}

/// A tokio `LocalSet` driven from inside a scope polls its tasks inside that scope's poll,
/// so a task started with `spawn_local` sees the scope (documented: a scope covers what
/// runs inside the call, whichever task it belongs to). A task given a scope of its own
/// sees only that one. Tasks that the runtime itself polls, outside the scope's poll
/// (`tokio::spawn` on the same current-thread runtime), do not see it.
#[test]
#[cfg_attr(miri, ignore)] // tokio
fn a_local_executor_driven_inside_a_scope_runs_its_tasks_in_the_scope() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let seen = runtime.block_on(with_priority(
        0,
        local.run_until(async {
            let plain = tokio::task::spawn_local(async { current_priority::<i64>() });
            let own =
                tokio::task::spawn_local(with_priority(9, async { current_priority::<i64>() }));
            let spawned = tokio::spawn(async { current_priority::<i64>() });
            (
                plain.await.unwrap(),
                own.await.unwrap(),
                spawned.await.unwrap(),
            )
        }),
    ));
    assert_eq!(seen, (Some(0), Some(9), None));
    assert_eq!(current_priority::<i64>(), None);
}

/// A task, and the waker that polls it right away when woken (as some executors do)
/// instead of queueing it.
struct InlineTask {
    future: Mutex<Option<Pin<Box<dyn Future<Output = ()> + Send>>>>,
}

impl std::task::Wake for InlineTask {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let waker = std::task::Waker::from(self.clone());
        let mut slot = self.future.lock().unwrap();
        if let Some(future) = slot.as_mut() {
            if future
                .as_mut()
                .poll(&mut std::task::Context::from_waker(&waker))
                .is_ready()
            {
                *slot = None;
            }
        }
    }
}

/// A waker that polls its task inline runs that task inside whatever scope the code that
/// woke it is in: here a permit released inside `priority_scope(7, ..)` wakes a waiting
/// task, which then sees 7, and so would a request it makes in that poll. The semaphore
/// wakes waiters in the releasing call (after its lock is released), as any primitive
/// does, so the releaser's scope is still in place.
#[test]
fn a_task_polled_inline_by_its_waker_sees_the_scope_of_the_code_that_woke_it() {
    let sem = Arc::new(Semaphore::new(1));
    let held = sem.clone().try_acquire_owned().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let task = Arc::new(InlineTask {
        future: Mutex::new(Some(Box::pin({
            let (sem, seen) = (sem.clone(), seen.clone());
            async move {
                seen.lock().unwrap().push(current_priority::<i64>());
                let permit = sem.acquire_owned().await.unwrap();
                seen.lock().unwrap().push(current_priority::<i64>());
                drop(permit);
            }
        }))),
    });
    std::task::Wake::wake_by_ref(&task); // the first poll, outside any scope: it waits
    assert_eq!(sem.waiter_count(), 1);
    priority_scope(7, || drop(held)); // wakes the task, which is polled right here
    assert!(task.future.lock().unwrap().is_none(), "the task completed");
    assert_eq!(*seen.lock().unwrap(), [None, Some(7)]);
    assert_exact(&sem, 1);
}
