//! An embassy-time driver on the Cortex-M SysTick timer: one interrupt per millisecond.
//!
//! SysTick counts the core clock down from a reload value and raises its exception at zero.
//! Each exception adds one tick to a 64-bit count (which cannot overflow in practice) and
//! wakes the timers whose deadline has come. Simple rather than low-power: a production
//! driver would use a free-running counter and program a compare interrupt for the next
//! deadline instead of ticking every millisecond.
//!
//! The timer queue is a fixed array of slots, enough for this example's few concurrent
//! timers; one more is a panic with a clear message, not a lost wake-up.

use core::cell::{Cell, RefCell};
use core::task::Waker;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::exception;
use critical_section::Mutex;
use embassy_time_driver::{Driver, TICK_HZ};

/// The core clock, which SysTick counts with `SystClkSource::Core`: 25 MHz on QEMU's MPS2
/// boards, 16 MHz on the nRF51 of the micro:bit.
#[cfg(board = "mps2_an386")]
const CORE_CLOCK_HZ: u64 = 25_000_000;
#[cfg(board = "microbit")]
const CORE_CLOCK_HZ: u64 = 16_000_000;

/// How many timers may be pending at once.
const SLOTS: usize = 8;

/// A pending timer: the tick at which to wake, and whom.
type Alarm = Option<(u64, Waker)>;

struct SysTickDriver {
    /// Ticks since `start`.
    ticks: Mutex<Cell<u64>>,
    /// Pending timers.
    alarms: Mutex<RefCell<[Alarm; SLOTS]>>,
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    ticks: Mutex::new(Cell::new(0)),
    alarms: Mutex::new(RefCell::new([const { None }; SLOTS])),
});

/// Starts SysTick at `TICK_HZ` (1 kHz, the `tick-hz-1_000` feature of embassy-time-driver).
/// Taking `SYST` by value means nothing else can reprogram it.
pub fn start(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload((CORE_CLOCK_HZ / TICK_HZ - 1) as u32);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

impl Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.ticks.borrow(cs).get())
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let mut alarms = self.alarms.borrow(cs).borrow_mut();
            // A task re-arms its timer each time it is polled: keep one slot per task, with
            // the earliest deadline asked for (an early wake-up is allowed, a late one is not).
            if let Some((deadline, _)) = alarms
                .iter_mut()
                .flatten()
                .find(|(_, w)| w.will_wake(waker))
            {
                *deadline = (*deadline).min(at);
                return;
            }
            let free = alarms
                .iter_mut()
                .find(|slot| slot.is_none())
                .expect("time driver: more than SLOTS timers pending at once");
            *free = Some((at, waker.clone()));
        });
    }
}

#[exception]
fn SysTick() {
    // Collect the due wakers under the critical section, wake them after it.
    let mut due: [Option<Waker>; SLOTS] = [const { None }; SLOTS];
    critical_section::with(|cs| {
        let ticks = DRIVER.ticks.borrow(cs);
        let now = ticks.get() + 1;
        ticks.set(now);
        let mut alarms = DRIVER.alarms.borrow(cs).borrow_mut();
        for (slot, out) in alarms.iter_mut().zip(due.iter_mut()) {
            if matches!(slot, Some((at, _)) if *at <= now) {
                *out = slot.take().map(|(_, waker)| waker);
            }
        }
    });
    for waker in due.into_iter().flatten() {
        waker.wake();
    }
}
