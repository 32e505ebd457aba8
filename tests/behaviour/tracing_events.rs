//! The `tracing` events (feature `tracing`): what each one says, with a hand-written
//! subscriber that records them, and that they are emitted outside the semaphore's lock.

mod panics;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use prio_semaphore::{with_priority, FloatPriority, Semaphore};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// One recorded event: its level and its fields (`message` included), as `Debug` text.
#[derive(Debug, Clone)]
struct Captured {
    level: Level,
    fields: BTreeMap<&'static str, String>,
}

impl Captured {
    fn message(&self) -> &str {
        &self.fields["message"]
    }
    fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("<missing>", String::as_str)
    }
}

type Hook = Box<dyn Fn(&Captured) + Send + Sync>;

/// Records every event of the crate; runs `hook` on each.
#[derive(Clone)]
struct Recorder {
    events: Arc<Mutex<Vec<Captured>>>,
    hook: Arc<Hook>,
}

impl Recorder {
    fn new() -> Self {
        Self::with_hook(|_| {})
    }
    fn with_hook(hook: impl Fn(&Captured) + Send + Sync + 'static) -> Self {
        Self {
            events: Arc::default(),
            hook: Arc::new(Box::new(hook)),
        }
    }
    /// Takes the events recorded so far.
    fn take(&self) -> Vec<Captured> {
        std::mem::take(&mut self.events.lock().unwrap())
    }
}

struct Fields(BTreeMap<&'static str, String>);
impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name(), format!("{value:?}"));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "prio_semaphore"
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(BTreeMap::new());
        event.record(&mut fields);
        let captured = Captured {
            level: *event.metadata().level(),
            fields: fields.0,
        };
        (self.hook)(&captured);
        self.events.lock().unwrap().push(captured);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn poll<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

/// `(message, priority, permits, extra field)` of each event, for compact assertions.
fn summary(events: &[Captured], extra: &str) -> Vec<(String, String, String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e.message().to_owned(),
                e.field("priority").to_owned(),
                e.field("permits").to_owned(),
                e.field(extra).to_owned(),
            )
        })
        .collect()
}

fn strings(rows: &[(&str, &str, &str, &str)]) -> Vec<(String, String, String, String)> {
    rows.iter()
        .map(|&(a, b, c, d)| (a.into(), b.into(), c.into(), d.into()))
        .collect()
}

#[test]
fn queued_then_granted_with_depth_grants_waited_and_time() {
    let recorder = Recorder::new();
    tracing::subscriber::with_default(recorder.clone(), || {
        let sem = Semaphore::new(0);
        let mut a = pin!(sem.acquire().priority(5));
        let mut b = pin!(sem.acquire().priority(1));
        let mut c = pin!(sem.acquire_many(2).priority(1));
        for f in [a.as_mut(), b.as_mut(), c.as_mut()] {
            assert!(poll(f).is_pending());
        }
        let queued = recorder.take();
        assert_eq!(
            summary(&queued, "depth"),
            strings(&[
                ("request queued", "5", "1", "1"),
                ("request queued", "1", "1", "2"),
                ("request queued", "1", "2", "3"),
            ])
        );
        assert!(queued.iter().all(|e| e.level == Level::TRACE));
        let address = format!("{:p}", &sem);
        assert!(
            queued.iter().all(|e| e.field("semaphore") == address),
            "{queued:?} vs {address}"
        );

        std::thread::sleep(Duration::from_millis(20));
        sem.add_permits(4);
        // Granted events come from the owners, when they take their permits.
        assert!(recorder.take().is_empty(), "nothing until the owners poll");
        let _pa = poll(a.as_mut());
        let _pb = poll(b.as_mut());
        let _pc = poll(c.as_mut());
        let granted = recorder.take();
        assert_eq!(
            summary(&granted, "grants_waited"),
            strings(&[
                ("request granted", "5", "1", "2"),
                ("request granted", "1", "1", "0"),
                ("request granted", "1", "2", "1"),
            ])
        );
        for e in &granted {
            let waited = e.field("waited");
            let ms: f64 = waited
                .strip_prefix("Some(")
                .and_then(|w| w.strip_suffix("ms)"))
                .and_then(|w| w.parse().ok())
                .unwrap_or_else(|| panic!("waited is a duration in ms: {waited}"));
            assert!(ms >= 20.0, "{waited}");
        }
    });
}

#[test]
fn an_immediate_grant_emits_nothing() {
    let recorder = Recorder::new();
    tracing::subscriber::with_default(recorder.clone(), || {
        let sem = Semaphore::new(1);
        let permit = futures::executor::block_on(sem.acquire().priority(3)).unwrap();
        assert!(sem.try_acquire().is_err());
        drop(permit);
    });
    assert!(recorder.take().is_empty());
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Urgency {
    Realtime,
    #[default]
    Batch,
}

#[test]
fn priorities_shown_by_value_or_by_type_name() {
    let recorder = Recorder::new();
    tracing::subscriber::with_default(recorder.clone(), || {
        let floats: Semaphore<FloatPriority> = Semaphore::new_generic(0);
        let mut f = pin!(floats.acquire().priority(0.25));
        assert!(poll(f.as_mut()).is_pending());
        let enums: Semaphore<Urgency> = Semaphore::new_generic(0);
        let mut e = pin!(enums.acquire().priority(Urgency::Realtime));
        assert!(poll(e.as_mut()).is_pending());
        let small: Semaphore<u8> = Semaphore::new_generic(0);
        let mut s = pin!(small.acquire().priority(200u8));
        assert!(poll(s.as_mut()).is_pending());
        // The ambient priority replaces the request before its first poll: still by value.
        let ints = Semaphore::new(0);
        let mut a = pin!(with_priority(-7, ints.acquire()));
        assert!(poll(a.as_mut()).is_pending());
    });
    let shown: Vec<String> = recorder
        .take()
        .iter()
        .filter(|e| e.message() == "request queued")
        .map(|e| e.field("priority").to_owned())
        .collect();
    assert_eq!(
        shown,
        ["0.25", "<behaviour::tracing_events::Urgency>", "200", "-7"]
    );
}

#[test]
fn cancelled_in_line_and_after_its_grant() {
    let recorder = Recorder::new();
    tracing::subscriber::with_default(recorder.clone(), || {
        let sem = Semaphore::new(0);
        let mut a = Box::pin(sem.acquire().priority(2));
        let mut b = Box::pin(sem.acquire_many(3).priority(4));
        assert!(poll(a.as_mut()).is_pending() && poll(b.as_mut()).is_pending());
        sem.add_permits(1); // granted to `a`, which is not polled
        recorder.take();
        drop(b);
        drop(a);
        let events = recorder.take();
        assert_eq!(
            summary(&events, "granted"),
            strings(&[
                ("request cancelled", "4", "3", "false"),
                ("request cancelled", "2", "1", "true"),
            ])
        );
        assert!(events.iter().all(|e| e.level == Level::DEBUG));
        assert_eq!(sem.available_permits(), 1, "the grant was handed back");
        // A request dropped without ever being queued says nothing.
        drop(sem.acquire());
        assert!(recorder.take().is_empty());
    });
}

#[test]
fn close_names_the_requests_it_fails() {
    let recorder = Recorder::new();
    tracing::subscriber::with_default(recorder.clone(), || {
        let sem = Semaphore::new(0);
        let mut a = pin!(sem.acquire().priority(1));
        let mut b = pin!(sem.acquire().priority(9));
        assert!(poll(a.as_mut()).is_pending() && poll(b.as_mut()).is_pending());
        recorder.take();
        sem.close();
        let closed = recorder.take();
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].message(), "semaphore closed");
        assert_eq!(closed[0].field("waiters"), "2");
        assert_eq!(closed[0].level, Level::DEBUG);
        assert!(matches!(poll(b.as_mut()), Poll::Ready(Err(_))));
        assert!(matches!(poll(a.as_mut()), Poll::Ready(Err(_))));
        assert_eq!(
            summary(&recorder.take(), "level"),
            strings(&[
                ("request failed: semaphore closed", "9", "1", "<missing>"),
                ("request failed: semaphore closed", "1", "1", "<missing>"),
            ])
        );
    });
}

static SHARED: Semaphore = Semaphore::new(0);

/// A subscriber that uses the semaphore from inside every event (it takes the lock, through
/// `summary`): if an event were emitted under the lock, this would spin forever.
#[test]
fn events_are_emitted_outside_the_lock() {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let recorder = Recorder::with_hook(move |e| {
            let s = SHARED.summary();
            log.lock()
                .unwrap()
                .push((e.message().to_owned(), s.waiters));
        });
        tracing::subscriber::with_default(recorder, || {
            let mut a = Box::pin(SHARED.acquire().priority(1));
            let mut b = Box::pin(SHARED.acquire().priority(2));
            assert!(poll(a.as_mut()).is_pending() && poll(b.as_mut()).is_pending());
            SHARED.add_permits(1);
            assert!(poll(a.as_mut()).is_ready());
            drop(b);
            SHARED.close();
        });
        done.send(seen.lock().unwrap().clone()).unwrap();
    });
    let seen = finished
        .recv_timeout(Duration::from_secs(20))
        .expect("a subscriber that uses the semaphore deadlocked: an event under the lock");
    let messages: Vec<(&str, usize)> = seen.iter().map(|(m, n)| (m.as_str(), *n)).collect();
    assert_eq!(
        messages,
        [
            ("request queued", 1),
            ("request queued", 2),
            ("request granted", 1),
            ("request cancelled", 0),
            ("semaphore closed", 0),
        ]
    );
}

/// The futurelock watch: `(priority, permits)` of each warning, and its level.
fn warnings(events: &[Captured]) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e.level == Level::WARN)
        .map(|e| {
            (
                e.field("priority").to_owned(),
                e.field("permits").to_owned(),
            )
        })
        .collect()
}

/// A grant nobody claims, then `sleep`, then an operation that takes the lock.
fn unclaimed_scenario(limit: Option<Duration>, claim_first: bool) -> Vec<Captured> {
    let recorder = Recorder::new();
    tracing::subscriber::with_default(recorder.clone(), || {
        let sem = Semaphore::new(2);
        sem.warn_unclaimed_after(limit);
        let held = sem.try_acquire_many(2).unwrap();
        let mut stuck = pin!(sem.acquire_many(2).priority(7));
        assert!(poll(stuck.as_mut()).is_pending());
        drop(held); // hands both permits to `stuck`, which is not polled
        let claimed = claim_first.then(|| poll(stuck.as_mut()));
        std::thread::sleep(Duration::from_millis(30));
        // Operations that take the lock: a request that queues, and its cancellation.
        let mut next = Box::pin(sem.acquire().priority(1));
        assert!(poll(next.as_mut()).is_pending());
        drop(next);
        let mut again = Box::pin(sem.acquire().priority(1));
        assert!(poll(again.as_mut()).is_pending());
        drop(again);
        drop(claimed);
    });
    recorder.take()
}

#[test]
fn an_unclaimed_grant_is_named_once_by_a_later_operation() {
    let events = unclaimed_scenario(Some(Duration::from_millis(10)), false);
    assert_eq!(warnings(&events), [("7".to_owned(), "2".to_owned())]);
    let warning = events.iter().find(|e| e.level == Level::WARN).unwrap();
    assert!(warning.message().contains("futurelock"), "{warning:?}");
    let unclaimed: &str = warning.field("unclaimed_for");
    assert!(unclaimed.ends_with("ms"), "{unclaimed}");
}

#[test]
fn no_warning_for_a_grant_claimed_in_time_or_when_off() {
    let events = unclaimed_scenario(Some(Duration::from_millis(10)), true);
    assert!(warnings(&events).is_empty(), "{events:?}");
    let events = unclaimed_scenario(None, false);
    assert!(warnings(&events).is_empty(), "{events:?}");
}

#[test]
fn a_grant_handed_back_by_drop_is_not_reported() {
    let recorder = Recorder::new();
    tracing::subscriber::with_default(recorder.clone(), || {
        let sem = Semaphore::new(1);
        sem.warn_unclaimed_after(Some(Duration::from_millis(5)));
        let held = sem.try_acquire().unwrap();
        let mut a = Box::pin(sem.acquire().priority(4));
        assert!(poll(a.as_mut()).is_pending());
        drop(held);
        drop(a); // granted, never polled: the permit is handed back
        std::thread::sleep(Duration::from_millis(20));
        let held = sem.try_acquire().unwrap();
        let mut b = Box::pin(sem.acquire().priority(4));
        assert!(poll(b.as_mut()).is_pending());
        drop(held);
        let _permit = poll(b.as_mut());
    });
    assert!(warnings(&recorder.take()).is_empty());
}
