//! What one permit knows about its own lease: until when it is sure to hold it, and
//! whether it is lost. The holder's side of the safety argument lives here.
//!
//! # Why the holder knows first
//!
//! Redis keeps a lease until its expiry on the server's clock, and grants its permits to
//! someone else only after that. A process learns an expiry `X` from a reply to a call it
//! sent at `sent` on its own monotonic clock; the reply also carries the server's time `S`
//! when the script ran. The script ran after the call was sent, so the server's clock
//! reaches `X` no earlier than `sent + (X − S)` on ours, if both clocks run at the same
//! rate. For a renewal or a grant to this process `X − S` is the lease itself.
//!
//! Clocks do not run at exactly the same rate, so the holder takes off an allowance, as
//! Redlock's validity time does (lease − elapsed − drift): [`drift_allowance`] of an
//! interval `d` is `d / 100 + 2 ms` (clock rates may differ by up to 1 %, plus 2 ms for
//! the granularity of the server's millisecond expiries). The permit is valid until
//!
//! ```text
//! valid_until = sent + (X − S) − drift_allowance(X − S)
//! ```
//!
//! and [`LeaseState::is_lost`] compares that with the clock itself: it never waits for
//! the background thread, which may be blocked in a call, retrying, or starved of CPU.
//! So when the server can first grant the permit to anyone else, the holder already says
//! lost. The bound assumes the server's clock is not stepped (the same assumption every
//! lease makes) and, in a cluster, that the nodes' clocks agree within the allowance.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// The allowance for clock drift over an interval `d` of the server's clock: 1 % of it plus
/// 2 ms (Redlock's `CLOCK_DRIFT_FACTOR` and its fixed term).
pub(crate) fn drift_allowance(d: Duration) -> Duration {
    d / 100 + Duration::from_millis(2)
}

/// A reading of the server's clock: a call sent at `sent` (our clock) whose script ran at
/// `now_us` (the server's microseconds). Relates the server's expiries to our clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServerTime {
    pub(crate) sent: Instant,
    pub(crate) now_us: i64,
}

impl ServerTime {
    /// The instant until which a lease that expires at `expiry_ms` (server milliseconds)
    /// is certainly held.
    pub(crate) fn valid_until(&self, expiry_ms: i64) -> Instant {
        let remaining_us = expiry_ms.saturating_mul(1000).saturating_sub(self.now_us);
        let remaining = Duration::from_micros(u64::try_from(remaining_us).unwrap_or(0));
        (self.sent + remaining)
            .checked_sub(drift_allowance(remaining))
            .unwrap_or(self.sent)
    }
}

/// The instant until which a lease of length `lease`, granted or renewed by a call sent
/// at `sent`, is certainly held (the script set its expiry to its own time + `lease`).
pub(crate) fn valid_for(sent: Instant, lease: Duration) -> Instant {
    (sent + lease)
        .checked_sub(drift_allowance(lease))
        .unwrap_or(sent)
}

/// Instants as nanoseconds since the first use, so that one fits in an atomic.
fn to_nanos(instant: Instant) -> u64 {
    let origin = *ORIGIN.get_or_init(Instant::now);
    u64::try_from(instant.saturating_duration_since(origin).as_nanos()).unwrap_or(u64::MAX)
}

fn from_nanos(nanos: u64) -> Instant {
    let origin = *ORIGIN.get_or_init(Instant::now);
    origin + Duration::from_nanos(nanos)
}

static ORIGIN: OnceLock<Instant> = OnceLock::new();

/// One permit's lease as its holder sees it, shared by the permit and the handle's lease
/// table (which renews it).
///
/// Once [`is_lost`](Self::is_lost) has answered `true` it answers `true` for ever: the
/// answer sets `lost` before it is returned, and nothing clears `lost`. A renewal moves
/// `valid_until` forward only if it was sent before the current deadline.
#[derive(Debug)]
pub(crate) struct LeaseState {
    lost: AtomicBool,
    /// Nanoseconds since `ORIGIN`.
    valid_until: AtomicU64,
    waiting: Mutex<Waiting>,
}

impl LeaseState {
    pub(crate) fn new(valid_until: Instant) -> Self {
        LeaseState {
            lost: AtomicBool::new(false),
            valid_until: AtomicU64::new(to_nanos(valid_until)),
            waiting: Mutex::new(Waiting::default()),
        }
    }

    /// Until when the lease is certainly held (later renewals may move it).
    pub(crate) fn valid_until(&self) -> Instant {
        from_nanos(self.valid_until.load(Ordering::Acquire))
    }

    /// Whether the lease is lost: marked so, or past its deadline by the clock right now.
    /// Wakes the tasks waiting to hear it the first time it finds the deadline passed.
    pub(crate) fn is_lost(&self) -> bool {
        if self.lost.load(Ordering::Acquire) {
            return true;
        }
        if self.past_deadline() {
            self.mark_lost();
            return true;
        }
        false
    }

    /// Whether the deadline has passed, without waking anyone (callers holding a lock
    /// mark the lease lost after releasing it: wakers run user code).
    pub(crate) fn past_deadline(&self) -> bool {
        self.lost.load(Ordering::Acquire)
            || to_nanos(Instant::now()) >= self.valid_until.load(Ordering::Acquire)
    }

    /// Records a renewal sent at `sent` that holds the lease until `until`, and returns
    /// whether the lease is still held. A renewal sent at or after the deadline changes
    /// nothing: the lease was already lost (Redis may still have it, but the holder may
    /// have been told, and a lost lease stays lost); the caller then marks it lost.
    pub(crate) fn renewed(&self, sent: Instant, until: Instant) -> bool {
        let (sent, until) = (to_nanos(sent), to_nanos(until));
        let mut current = self.valid_until.load(Ordering::Acquire);
        loop {
            if sent >= current || self.lost.load(Ordering::Acquire) {
                return false;
            }
            if until <= current {
                return true;
            }
            match self.valid_until.compare_exchange_weak(
                current,
                until,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return !self.lost.load(Ordering::Acquire),
                Err(now) => current = now,
            }
        }
    }

    /// Marks the lease lost and wakes every task waiting to hear it.
    pub(crate) fn mark_lost(&self) {
        self.lost.store(true, Ordering::Release);
        let wakers = std::mem::take(
            &mut self
                .waiting
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .wakers,
        );
        for waker in wakers {
            waker.wake();
        }
    }

    /// Ready once the lease is lost. A pending task is woken by [`mark_lost`](Self::mark_lost):
    /// when Redis says the lease is gone, or when the timer finds the deadline passed.
    pub(crate) fn poll_lost(self: &Arc<Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_lost() {
            return Poll::Ready(());
        }
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        // Checked again under the lock: `mark_lost` sets the flag before it takes the
        // list, so either it sees this waker or this check sees the flag.
        if self.lost.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        if !waiting.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            waiting.wakers.push(cx.waker().clone());
        }
        self.arm(&mut waiting);
        Poll::Pending
    }

    /// Asks the timer to look at this lease at its current deadline, once per deadline.
    fn arm(self: &Arc<Self>, waiting: &mut Waiting) {
        let until = self.valid_until();
        if waiting.armed != Some(until) {
            waiting.armed = Some(until);
            crate::timer::wake_at(until, Waker::from(Arc::new(Alarm(self.clone()))));
        }
    }
}

/// The tasks waiting to hear that a lease is lost.
#[derive(Debug, Default)]
struct Waiting {
    wakers: Vec<Waker>,
    /// The deadline the timer will look at the lease.
    armed: Option<Instant>,
}

/// The timer's wake-up for one lease: lost if past its deadline (which wakes every waiting
/// task), else armed again at the deadline a renewal moved it to.
struct Alarm(Arc<LeaseState>);

impl Wake for Alarm {
    fn wake(self: Arc<Self>) {
        if !self.0.is_lost() {
            let mut waiting = self.0.waiting.lock().unwrap_or_else(|e| e.into_inner());
            if !waiting.wakers.is_empty() {
                self.0.arm(&mut waiting);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_is_the_server_expiry_less_the_allowance() {
        let sent = Instant::now();
        // The script ran at server time 5 s; the lease expires at 15 s: 10 s from then.
        let until = ServerTime {
            sent,
            now_us: 5_000_000,
        }
        .valid_until(15_000);
        let expected = sent + Duration::from_secs(10) - Duration::from_millis(102);
        assert_eq!(until, expected);
        assert_eq!(valid_for(sent, Duration::from_secs(10)), expected);
        // An expiry already past gives a deadline already past.
        let late = ServerTime {
            sent,
            now_us: 20_000_000,
        };
        assert!(late.valid_until(15_000) < sent);
    }

    #[test]
    fn a_lease_past_its_deadline_is_lost_and_stays_lost() {
        let now = Instant::now();
        let state = LeaseState::new(now + Duration::from_secs(60));
        assert!(!state.is_lost());
        // A renewal sent before the deadline moves it; an earlier deadline changes nothing.
        assert!(state.renewed(now, now + Duration::from_secs(120)));
        assert!(state.renewed(now, now + Duration::from_secs(30)));
        assert_eq!(state.valid_until(), now + Duration::from_secs(120));

        let state = LeaseState::new(now);
        assert!(state.is_lost(), "the deadline has passed");
        // A renewal sent after the deadline cannot bring it back.
        assert!(!state.renewed(Instant::now(), Instant::now() + Duration::from_secs(60)));
        assert!(state.is_lost());
        assert!(state.past_deadline());
    }

    #[test]
    fn lost_wakes_the_waiting_task() {
        let mut cx = Context::from_waker(Waker::noop());
        let state = Arc::new(LeaseState::new(Instant::now() + Duration::from_secs(60)));
        assert!(state.poll_lost(&mut cx).is_pending());
        state.mark_lost();
        assert!(state.is_lost());
        assert!(state.poll_lost(&mut cx).is_ready());
    }
}

#[cfg(test)]
mod deadline_tests {
    use super::*;

    #[test]
    fn a_lost_future_completes_at_the_deadline_without_any_other_thread() {
        let deadline = Instant::now() + Duration::from_millis(50);
        let state = Arc::new(LeaseState::new(deadline));
        futures::executor::block_on(std::future::poll_fn(|cx| state.poll_lost(cx)));
        assert!(Instant::now() >= deadline);
        assert!(state.is_lost());
    }

    #[test]
    fn a_renewal_moves_the_wake_up() {
        let start = Instant::now();
        let state = Arc::new(LeaseState::new(start + Duration::from_millis(30)));
        let renewer = std::thread::spawn({
            let state = state.clone();
            move || {
                std::thread::sleep(Duration::from_millis(10));
                assert!(state.renewed(start, start + Duration::from_millis(90)));
            }
        });
        futures::executor::block_on(std::future::poll_fn(|cx| state.poll_lost(cx)));
        renewer.join().unwrap();
        assert!(Instant::now() >= start + Duration::from_millis(90));
    }
}
