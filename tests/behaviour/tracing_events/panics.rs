//! A subscriber that panics: at each kind of event, through each future type, nothing is
//! lost. After the panic the semaphore's counts are exact (every permit comes back), and a
//! request queued behind is granted and woken.
//!
//! `KINDS` lists every event the crate sends; `every_event_kind_is_listed` records what a
//! full run sends and fails if an event is missing from the list, so a new event cannot
//! go without its panic test.

use std::collections::BTreeSet;
use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures::StreamExt;
use prio_semaphore::{limited, AcquireError, PollSemaphore, Semaphore};

use super::Recorder;

/// Every event the crate sends, by the start of its message.
const KINDS: [&str; 6] = [
    "request queued",
    "request granted",
    "request failed: semaphore closed",
    "request cancelled",
    "semaphore closed",
    "granted permits not claimed",
];

/// The module's recorder, with a hook that panics at the first event whose message starts
/// with `panic_at`.
#[derive(Clone)]
struct Panicking {
    recorder: Recorder,
    panicked: Arc<AtomicBool>,
}

impl Panicking {
    fn at(kind: &'static str) -> Self {
        Self::new(Some(kind))
    }

    /// Never panics: only records.
    fn recording() -> Self {
        Self::new(None)
    }

    fn new(panic_at: Option<&'static str>) -> Self {
        let panicked = Arc::new(AtomicBool::new(false));
        let recorder = Recorder::with_hook({
            let panicked = panicked.clone();
            move |event| {
                let message = event.message();
                if panic_at.is_some_and(|kind| message.starts_with(kind))
                    && !panicked.swap(true, SeqCst)
                {
                    panic!("subscriber panics at {message:?}");
                }
            }
        });
        Self { recorder, panicked }
    }

    /// The messages of the events recorded so far.
    fn messages(&self) -> BTreeSet<String> {
        let events = self.recorder.take();
        events.iter().map(|e| e.message().to_owned()).collect()
    }
}

/// A waker that counts its wake-ups.
#[derive(Default)]
struct Flag(AtomicUsize);
impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

type Output<'a> = Result<Box<dyn std::fmt::Debug + 'a>, AcquireError>;
type Request<'a> = Pin<Box<dyn Future<Output = Output<'a>> + 'a>>;
/// One way to wait for a permit: its name and how to start a request.
type Way = (&'static str, for<'a> fn(&'a Arc<Semaphore>) -> Request<'a>);

fn boxed<'a, T: std::fmt::Debug + 'a>(
    fut: impl Future<Output = Result<T, AcquireError>> + 'a,
) -> Request<'a> {
    Box::pin(async move {
        fut.await
            .map(|out| Box::new(out) as Box<dyn std::fmt::Debug + 'a>)
    })
}

/// Every future type that waits for a permit (the blocking `wait()` has a test of its own).
fn ways() -> Vec<Way> {
    let mut ways: Vec<Way> = vec![
        ("Acquire", |sem| boxed(sem.acquire().priority(1))),
        ("AcquireOwned", |sem| {
            boxed(sem.clone().acquire_owned().priority(1))
        }),
        ("PollSemaphore", |sem| {
            let mut poll_sem = PollSemaphore::new(sem.clone()).priority(1);
            boxed(poll_fn(move |cx| {
                poll_sem
                    .poll_acquire(cx)
                    .map(|permit| permit.ok_or_else(closed_error))
            }))
        }),
        ("limited", |sem| {
            let stream = limited::unordered([async { 7 }], 1).with_semaphore(&**sem, 1);
            boxed(async move {
                let mut stream = std::pin::pin!(stream);
                stream.next().await.expect("one output")
            })
        }),
    ];
    #[cfg(feature = "tower")]
    ways.push(("tower", |sem| {
        use tower::{Layer, Service};
        let inner = tower::service_fn(|request: u32| async move { Ok::<_, AcquireError>(request) });
        let mut service =
            prio_semaphore::tower::PriorityLimitLayer::new(sem.clone(), |_: &u32| 1).layer(inner);
        boxed(service.call(5))
    }));
    ways
}

fn closed_error() -> AcquireError {
    let sem = Semaphore::new(0);
    sem.close();
    futures::executor::block_on(sem.acquire()).unwrap_err()
}

/// Polls `fut` with `waker`, catching a panic (`Err`).
fn poll<F: Future + ?Sized>(
    fut: Pin<&mut F>,
    waker: &Waker,
) -> std::thread::Result<Poll<F::Output>> {
    catch_unwind(AssertUnwindSafe(|| {
        fut.poll(&mut Context::from_waker(waker))
    }))
}

/// One scenario: `ways` request starts, the subscriber panics at `kind`, everything is
/// dropped; then the counts must be exact and `behind`, queued after the request, granted
/// and woken (or failed and woken where the semaphore was closed).
fn scenario(kind: &'static str, granted_before_cancel: bool, way: Way) {
    let (name, start) = way;
    let sem = Arc::new(Semaphore::new(1));
    let subscriber = Panicking::at(kind);
    let flag = Arc::new(Flag::default());
    let waker = Waker::from(flag.clone());
    let noop = Waker::noop();
    let mut behind = Box::pin(sem.acquire().priority(9));
    tracing::subscriber::with_default(subscriber.recorder.clone(), || {
        if kind.starts_with("granted permits") {
            sem.warn_unclaimed_after(Some(Duration::from_millis(1)));
        }
        let holder = sem.try_acquire().unwrap();
        let mut request = start(&sem);
        let queued = poll(request.as_mut(), noop);
        match kind {
            "request queued" => assert!(queued.is_err(), "{name}: panicked while queueing"),
            _ => assert!(matches!(queued, Ok(Poll::Pending)), "{name}: queued"),
        }
        assert!(matches!(poll(behind.as_mut(), &waker), Ok(Poll::Pending)));
        provoke(kind, granted_before_cancel, name, &sem, holder, request);
    });
    assert!(
        subscriber.panicked.load(SeqCst),
        "{name}: the subscriber panicked at {kind}"
    );
    // Nothing lost: the request behind was woken, and takes the permit (or fails with the
    // semaphore).
    assert!(
        flag.0.load(SeqCst) >= 1,
        "{name}, {kind}: the request behind was woken"
    );
    match poll(behind.as_mut(), noop).expect("no subscriber now") {
        Poll::Ready(Ok(permit)) => drop(permit),
        Poll::Ready(Err(err)) => assert!(err.is_closed() && sem.is_closed()),
        Poll::Pending => panic!("{name}, {kind}: the request behind is stranded"),
    }
    assert_eq!(
        sem.available_permits(),
        1,
        "{name}, {kind}: every permit is back"
    );
    assert_eq!(sem.waiter_count(), 0);
}

/// Makes the subscriber panic at `kind`, with `request` queued behind `holder` (and the
/// scenario's `behind` queued after it), then drops everything but `behind`.
fn provoke(
    kind: &'static str,
    granted_before_cancel: bool,
    name: &str,
    sem: &Arc<Semaphore>,
    holder: prio_semaphore::Permit<'_>,
    mut request: Request<'_>,
) {
    let noop = Waker::noop();
    match kind {
        "request queued" => {
            drop(holder);
            drop(request);
        }
        "request granted" => {
            drop(holder);
            assert!(poll(request.as_mut(), noop).is_err(), "{name}: panicked");
            drop(request);
        }
        "request failed: semaphore closed" => {
            sem.close();
            assert!(poll(request.as_mut(), noop).is_err(), "{name}: panicked");
            drop(request);
            drop(holder);
        }
        "request cancelled" => {
            if granted_before_cancel {
                drop(holder);
                let dropped = catch_unwind(AssertUnwindSafe(|| drop(request)));
                assert!(dropped.is_err(), "{name}: panicked in drop");
            } else {
                let dropped = catch_unwind(AssertUnwindSafe(|| drop(request)));
                assert!(dropped.is_err(), "{name}: panicked in drop");
                drop(holder);
            }
        }
        "semaphore closed" => {
            let closed = catch_unwind(AssertUnwindSafe(|| sem.close()));
            assert!(closed.is_err(), "{name}: panicked in close");
            assert!(sem.is_closed());
            assert!(matches!(
                poll(request.as_mut(), noop),
                Ok(Poll::Ready(Err(_)))
            ));
            drop(request);
            drop(holder);
        }
        "granted permits not claimed" => {
            drop(holder); // granted to `request`, which is not polled
            std::thread::sleep(Duration::from_millis(5));
            // An operation that takes the lock warns: a request that queues.
            let mut next = Box::pin(sem.acquire().priority(5));
            assert!(
                poll(next.as_mut(), noop).is_err(),
                "{name}: panicked in the warning"
            );
            drop(next);
            drop(request);
        }
        other => unreachable!("{other}"),
    }
}

#[test]
fn a_subscriber_panicking_at_any_event_loses_no_permit_and_no_wake_up() {
    // Every scenario runs, and the failures are listed together.
    let mut failures = Vec::new();
    for way in ways() {
        let cases = KINDS.map(|kind| (kind, false));
        for (kind, granted) in cases.into_iter().chain([("request cancelled", true)]) {
            let run = catch_unwind(|| scenario(kind, granted, way));
            if let Err(panic) = run {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{} at {kind:?}: {message}", way.0));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The blocking `wait()`: a subscriber that panics in the waiting thread's events makes
/// `wait()` panic, and the permit comes back.
#[test]
fn wait_loses_nothing_when_its_events_panic() {
    for kind in [
        "request queued",
        "request granted",
        "request failed: semaphore closed",
    ] {
        let sem = Arc::new(Semaphore::new(1));
        let holder = sem.try_acquire().unwrap();
        let waiting = std::thread::spawn({
            let sem = sem.clone();
            let subscriber = Panicking::at(kind);
            move || {
                let result = tracing::subscriber::with_default(subscriber.recorder.clone(), || {
                    catch_unwind(AssertUnwindSafe(|| {
                        sem.acquire().priority(1).wait().map(drop)
                    }))
                });
                (result.is_err(), subscriber.panicked.load(SeqCst))
            }
        });
        if kind != "request queued" {
            while sem.waiter_count() == 0 {
                std::thread::yield_now();
            }
            if kind == "request granted" {
                drop(holder);
            } else {
                sem.close();
                drop(holder);
            }
        } else {
            // The panic is at its first poll: it never waits.
            let (panicked_out, panicked) = waiting.join().unwrap();
            assert!(panicked_out && panicked, "{kind}");
            drop(holder);
            assert_eq!(sem.available_permits(), 1, "{kind}");
            continue;
        }
        let (panicked_out, panicked) = waiting.join().unwrap();
        assert!(panicked_out && panicked, "{kind}");
        assert_eq!(sem.available_permits(), 1, "{kind}: every permit is back");
        assert_eq!(sem.waiter_count(), 0);
    }
}

/// Every event a full run sends is one of `KINDS`, and every kind is sent: the panic tests
/// above cover every event there is.
#[test]
fn every_event_kind_is_listed() {
    let subscriber = Panicking::recording();
    for way in ways() {
        tracing::subscriber::with_default(subscriber.recorder.clone(), || {
            let sem = Arc::new(Semaphore::new(1));
            sem.warn_unclaimed_after(Some(Duration::from_millis(1)));
            let noop = Waker::noop();
            let (_, start) = way;
            // queued, granted
            let holder = sem.try_acquire().unwrap();
            let mut a = start(&sem);
            assert!(poll(a.as_mut(), noop).unwrap().is_pending());
            drop(holder);
            assert!(matches!(
                poll(a.as_mut(), noop).unwrap(),
                Poll::Ready(Ok(_))
            ));
            drop(a);
            // cancelled; unclaimed (`c` can never be served: it stays in line)
            let holder = sem.try_acquire().unwrap();
            let mut b = start(&sem);
            assert!(poll(b.as_mut(), noop).unwrap().is_pending());
            drop(holder);
            std::thread::sleep(Duration::from_millis(5));
            let mut c = Box::pin(sem.acquire_many(2).priority(9));
            assert!(poll(c.as_mut(), noop).unwrap().is_pending());
            drop(b);
            // failed; closed
            sem.close();
            assert!(matches!(
                poll(c.as_mut(), noop).unwrap(),
                Poll::Ready(Err(_))
            ));
        });
    }
    let seen = subscriber.messages();
    for message in &seen {
        assert!(
            KINDS.iter().any(|kind| message.starts_with(kind)),
            "an event without a panic test: {message:?}"
        );
    }
    for kind in KINDS {
        assert!(
            seen.iter().any(|message| message.starts_with(kind)),
            "{kind:?} was never sent: {seen:?}"
        );
    }
}
