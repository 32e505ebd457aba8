//! Misbehaving user code around the fair-share layers: flow keys whose `Hash` and `Eq` lie
//! or panic, a key that uses its own semaphore, and, for shares, wakers that release
//! permits from inside the dispatcher or panic there. The contract is the priorities' one:
//! the order of service may be unspecified, or a clear panic happens, but no permit, waiter
//! or wake-up is lost and nothing hangs (miri runs these too).

use std::cell::Cell;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use crate::common::hook_waker::{hook_waker, Hooks};
use crate::common::{assert_exact, expect_panic, poll_noop, poll_with};
use crate::ord::Rng;
use prio_semaphore::fair::{ArrayFlows, FairSemaphore, FlowStore, OrdFlows};
use prio_semaphore::share::{Share, SharePermit, ShareSemaphore};

/// A flow key whose `Hash`, `Eq` and `Ord` answer at random.
#[derive(Clone)]
struct Liar(Arc<Mutex<Rng>>);

impl std::fmt::Debug for Liar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Liar")
    }
}

impl Hash for Liar {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0.lock().unwrap().below(3));
    }
}

impl PartialEq for Liar {
    fn eq(&self, _: &Self) -> bool {
        self.0.lock().unwrap().below(2) == 0
    }
}

impl Eq for Liar {}

impl PartialOrd for Liar {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Liar {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        self.0.lock().unwrap().below(3).cmp(&1)
    }
}

/// Polls the queued `requests` until none is left, dropping each permit as it comes so
/// that it goes on: asserts that none is stranded, and returns how many were served.
fn serve_all<F, T, E>(mut requests: Vec<Pin<Box<F>>>) -> usize
where
    F: std::future::Future<Output = Result<T, E>>,
    E: std::fmt::Debug,
{
    let mut served = 0;
    loop {
        let before = requests.len();
        requests.retain_mut(|r| match poll_noop(r.as_mut()) {
            Poll::Ready(permit) => {
                drop(permit.unwrap());
                served += 1;
                false
            }
            Poll::Pending => true,
        });
        if requests.is_empty() || requests.len() == before {
            break;
        }
    }
    assert!(requests.is_empty(), "{} requests stranded", requests.len());
    served
}

/// Queues requests of lying flows (cancelling some), then frees the permits: every request
/// left is served, and every count comes back exact.
fn lying_keys_lose_nothing<S: FlowStore<i64, Liar>>(sem: &FairSemaphore<Liar, i64, S>) {
    let rng = Arc::new(Mutex::new(Rng(7)));
    let mut pick = Rng(11);
    let held = sem.try_acquire_many(2).unwrap();
    let mut requests: Vec<Pin<Box<_>>> = Vec::new();
    for _ in 0..if cfg!(miri) { 12 } else { 200 } {
        let permits = 1 + pick.below(2) as u32;
        let mut request = Box::pin(
            sem.acquire_many(permits)
                .priority(pick.below(3) as i64)
                .flow(Liar(rng.clone()))
                .weight(1 + pick.below(4) as u32),
        );
        assert!(poll_noop(request.as_mut()).is_pending());
        requests.push(request);
        if pick.below(4) == 0 {
            let at = pick.below(requests.len() as u64) as usize;
            drop(requests.remove(at));
        }
    }
    drop(held);
    assert!(serve_all(requests) > 0);
    assert_eq!(sem.entries(), (0, 0), "nothing left counted");
    assert_exact(sem.semaphore(), 2);
}

#[test]
fn flow_keys_that_lie_lose_nothing() {
    lying_keys_lose_nothing(&FairSemaphore::<Liar>::new(2));
    lying_keys_lose_nothing(&FairSemaphore::<Liar, i64, OrdFlows>::new_generic(2));
    lying_keys_lose_nothing(&FairSemaphore::<Liar, i64, ArrayFlows<3>>::new_generic(2));
}

thread_local! {
    /// Whether `Touchy` keys panic when hashed or compared.
    static TOUCHY: Cell<bool> = const { Cell::new(false) };
}

/// A flow key that panics when hashed or compared while `TOUCHY` is set.
#[derive(Debug, Clone, Copy, PartialOrd, Ord)]
struct Touchy(u8);

impl Hash for Touchy {
    fn hash<H: Hasher>(&self, state: &mut H) {
        assert!(!TOUCHY.get(), "Touchy::hash");
        self.0.hash(state);
    }
}

impl PartialEq for Touchy {
    fn eq(&self, other: &Self) -> bool {
        assert!(!TOUCHY.get(), "Touchy::eq");
        self.0 == other.0
    }
}

impl Eq for Touchy {}

#[test]
fn a_flow_key_that_panics_fails_its_request_only() {
    let sem: FairSemaphore<Touchy> = FairSemaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let mut before = Box::pin(sem.acquire().flow(Touchy(1)));
    assert!(poll_noop(before.as_mut()).is_pending());
    let mut failing = Box::pin(sem.acquire().flow(Touchy(2)));
    TOUCHY.set(true);
    let message = expect_panic(|| poll_noop(failing.as_mut()));
    TOUCHY.set(false);
    assert!(message.contains("Touchy"), "{message}");
    assert_eq!(
        sem.semaphore().waiter_count(),
        1,
        "the failing request is not queued"
    );
    let again = expect_panic(|| poll_noop(failing.as_mut()));
    assert!(again.contains("polled after"), "{again}");
    drop(failing);
    let mut after = Box::pin(sem.acquire().flow(Touchy(1)));
    assert!(poll_noop(after.as_mut()).is_pending());
    drop(held);
    assert!(poll_noop(before.as_mut()).is_ready());
    assert!(poll_noop(after.as_mut()).is_ready());
    drop((before, after));
    assert_eq!(sem.entries(), (0, 0));
    assert_exact(sem.semaphore(), 1);
}

/// A flow key whose `Eq` polls a request of the semaphore it is a key of.
#[derive(Debug)]
struct Reentrant<'s>(u8, &'s FairSemaphore<Reentrant<'s>, i64, ArrayFlows<4>>);

impl PartialEq for Reentrant<'_> {
    fn eq(&self, other: &Self) -> bool {
        let mut inner = Box::pin(self.1.acquire().flow(Reentrant(9, self.1)));
        let _ = poll_noop(inner.as_mut());
        self.0 == other.0
    }
}

impl Eq for Reentrant<'_> {}

#[test]
fn a_flow_key_that_uses_its_semaphore_panics_instead_of_deadlocking() {
    let sem: FairSemaphore<Reentrant<'_>, i64, ArrayFlows<4>> = FairSemaphore::new_generic(1);
    let held = sem.try_acquire().unwrap();
    let mut first = Box::pin(sem.acquire().flow(Reentrant(1, &sem)));
    assert!(poll_noop(first.as_mut()).is_pending());
    let mut second = Box::pin(sem.acquire().flow(Reentrant(2, &sem)));
    let message = expect_panic(|| poll_noop(second.as_mut()));
    assert!(message.contains("re-entered"), "{message}");
    drop(second);
    drop(held);
    assert!(poll_noop(first.as_mut()).is_ready());
    drop(first);
    assert_exact(sem.semaphore(), 1);
}

/// A waker that, when woken, releases another permit of the same share semaphore: the
/// dispatcher adds permits to a line outside its lock, so the release (and the dispatch it
/// starts) runs without deadlock, and every permit is accounted for.
#[test]
fn a_waker_that_releases_from_inside_the_dispatcher() {
    static SEM: ShareSemaphore = ShareSemaphore::new(2, &[Share::new(1), Share::new(1)]);
    let sem = &SEM;
    let a = sem.try_acquire(0).unwrap();
    let b = sem.try_acquire(1).unwrap();
    let stash: Arc<Mutex<Option<SharePermit<'static>>>> = Arc::new(Mutex::new(Some(b)));
    let (hooks, waker) = hook_waker(Hooks::new().on_wake({
        let stash = stash.clone();
        move || drop(stash.lock().unwrap().take())
    }));
    let mut waiting = Box::pin(sem.acquire(0));
    let mut other = Box::pin(sem.acquire(1));
    assert!(poll_with(waiting.as_mut(), &waker).is_pending());
    assert!(poll_noop(other.as_mut()).is_pending());
    drop(a); // class 0 is served; its waker releases class 1's permit, which serves class 1
    assert_eq!(hooks.wakes(), 1);
    assert!(poll_noop(waiting.as_mut()).is_ready());
    assert!(poll_noop(other.as_mut()).is_ready());
    drop((waiting, other));
    assert_eq!(sem.available_permits(), 2);
    assert_eq!(sem.try_acquire_many(0, 2).unwrap().num_permits(), 2);
}

#[test]
fn a_panicking_waker_in_one_class_strands_no_other() {
    let sem = ShareSemaphore::new(2, &[Share::new(1), Share::new(1)]);
    let held = sem.try_acquire_many(0, 2).unwrap();
    let (_, panicking) = hook_waker(Hooks::new().on_wake(|| panic!("waker panics")));
    let mut first = Box::pin(sem.acquire(0));
    let mut second = Box::pin(sem.acquire(1));
    assert!(poll_with(first.as_mut(), &panicking).is_pending());
    assert!(poll_noop(second.as_mut()).is_pending());
    // Both classes are below their share: one permit each. Class 0's waker panics while
    // the dispatcher delivers; class 1's permit is delivered all the same.
    let message = expect_panic(|| drop(held));
    assert!(message.contains("waker panics"), "{message}");
    assert!(poll_noop(second.as_mut()).is_ready(), "class 1 stranded");
    assert!(poll_noop(first.as_mut()).is_ready());
    drop((first, second));
    assert_eq!(sem.available_permits(), 2);
    assert_eq!((sem.assigned(0), sem.assigned(1)), (0, 0));
}

thread_local! {
    /// The generator behind `Fickle`'s answers, and whether it may panic.
    static FICKLE: Cell<(u64, bool)> = const { Cell::new((0x2545_F491_4F6C_DD1D, false)) };
}

/// A priority whose `Ord` answers at random and, while allowed, sometimes panics. Its
/// `Hash` and `Eq` are honest, so the flow table finds its levels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
struct Fickle(u8);

impl PartialOrd for Fickle {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Fickle {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        let (mut x, panicky) = FICKLE.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        FICKLE.set((x, panicky));
        assert!(!panicky || x % 5 != 0, "Fickle::cmp");
        (x % 3).cmp(&1)
    }
}

/// Flows whose runs join and move in a line ordered by a lying, sometimes panicking
/// priority: a request whose comparison panics fails alone, the runs of the others keep
/// every waiter, and every permit comes back.
#[test]
fn priorities_that_lie_or_panic_lose_no_flow() {
    let sem: FairSemaphore<u8, Fickle> = FairSemaphore::new_generic(2);
    let mut pick = Rng(5);
    let held = sem.try_acquire_many(2).unwrap();
    let mut requests: Vec<Pin<Box<_>>> = Vec::new();
    let mut failed = 0;
    for _ in 0..if cfg!(miri) { 16 } else { 300 } {
        let mut request = Box::pin(
            sem.acquire_many(1 + pick.below(2) as u32)
                .priority(Fickle(pick.below(3) as u8))
                .flow(pick.below(4) as u8)
                .weight(1 + pick.below(3) as u32),
        );
        FICKLE.set((FICKLE.get().0, true));
        let polled =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_noop(request.as_mut())));
        FICKLE.set((FICKLE.get().0, false));
        match polled {
            Ok(poll) => {
                assert!(poll.is_pending());
                requests.push(request);
            }
            Err(_) => failed += 1,
        }
        if pick.below(4) == 0 && !requests.is_empty() {
            let at = pick.below(requests.len() as u64) as usize;
            drop(requests.remove(at));
        }
    }
    assert!(failed > 0, "some comparisons panicked");
    assert_eq!(sem.semaphore().waiter_count(), requests.len());
    drop(held);
    assert!(serve_all(requests) > 0);
    assert_eq!(sem.entries(), (0, 0), "nothing left counted");
    assert_exact(sem.semaphore(), 2);
}

/// A queued fair request is dropped and the waker the line kept panics in its drop: the
/// panic reaches the dropper, and the request's place in the fair order is given back all
/// the same (nothing stays counted, no permit is lost).
#[test]
fn a_waker_whose_drop_panics_leaves_no_fair_count_behind() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let armed = Arc::new(AtomicBool::new(false));
    let (hooks, waker) = hook_waker(Hooks::new().on_drop({
        let armed = armed.clone();
        move || assert!(!armed.load(Ordering::SeqCst), "waker drop panics")
    }));
    let sem: FairSemaphore<u8> = FairSemaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let mut first = Box::pin(sem.acquire().flow(1));
    let mut second = Box::pin(sem.acquire().flow(1));
    assert!(poll_with(first.as_mut(), &waker).is_pending());
    assert!(poll_noop(second.as_mut()).is_pending());
    armed.store(true, Ordering::SeqCst);
    let message = expect_panic(move || drop(first));
    armed.store(false, Ordering::SeqCst);
    assert!(message.contains("waker drop panics"), "{message}");
    assert!(hooks.drops() >= 1);
    assert_eq!(
        sem.semaphore().waiter_count(),
        1,
        "the dropped request left the line"
    );
    drop(held);
    assert!(
        poll_noop(second.as_mut()).is_ready(),
        "its flow's next is served"
    );
    drop(second);
    assert_eq!(sem.entries(), (0, 0), "nothing left counted");
    assert_exact(sem.semaphore(), 1);
    drop(waker);
}
