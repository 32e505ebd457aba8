//! A priority semaphore in `no_std` firmware, under an embassy executor on a Cortex-M4
//! (`thumbv7em-none-eabihf`, QEMU's `mps2-an386`) or a Cortex-M0 without compare-and-swap
//! (`thumbv6m-none-eabi`, QEMU's `microbit`, where the semaphore's atomics go through
//! `portable-atomic` and the critical section).
//!
//! The scenario: a DMA engine owns five buffers, modelled as the five permits of a `static`
//! semaphore. Tasks of different urgency queue for a buffer; the engine's completion
//! interrupt (here PendSV, raised by software) releases one buffer at a time, and each
//! release goes straight to the most urgent waiting task, equal priorities in arrival order.
//! One urgent request gives up after 30 ms (embassy-time's `with_timeout`) while it is at the
//! head of the queue, and the others must still be served.
//!
//! The semaphore uses `CriticalSectionLock`, because an interrupt handler touches it: with
//! the default spin lock, an interrupt that arrived while thread mode held the lock would
//! spin forever.
//!
//! Run it with `./run-qemu.sh` (builds, boots both QEMU boards, checks the output), or
//! `cargo run --release [--target thumbv6m-none-eabi]`. It prints over semihosting and exits
//! QEMU with status 0 when every check passed.

#![no_std]
#![no_main]

mod time_driver;

use core::cell::RefCell;

use cortex_m::peripheral::scb::{Exception, VectActive};
use cortex_m::peripheral::SCB;
use cortex_m_rt::exception;
use cortex_m_semihosting::{debug, hprintln};
use critical_section::Mutex;
use embassy_executor::Spawner;
use embassy_time::{with_timeout, Duration, Instant, Timer};
use prio_semaphore::{CriticalSectionLock, Permit, Semaphore};

#[cfg(board = "mps2_an386")]
const BOARD: &str = "Cortex-M4 (QEMU mps2-an386)";
#[cfg(board = "microbit")]
const BOARD: &str = "Cortex-M0, no compare-and-swap (QEMU microbit)";

/// Five DMA buffers. `new_generic` is a `const fn`, so the semaphore is a plain `static`.
static BUFFERS: Semaphore<i64, CriticalSectionLock> = Semaphore::new_generic(5);

type BufferPermit = Permit<'static, i64, CriticalSectionLock>;

/// The buffers the DMA engine holds: its interrupt releases them one at a time.
static IN_DMA: Mutex<RefCell<Option<BufferPermit>>> = Mutex::new(RefCell::new(None));

/// Who got a buffer, in order.
static GRANTS: Mutex<RefCell<Grants>> = Mutex::new(RefCell::new(Grants::new()));

/// How many times the interrupt handler released a buffer.
static RELEASES_FROM_IRQ: Mutex<core::cell::Cell<u32>> = Mutex::new(core::cell::Cell::new(0));

/// The tasks that wait for a buffer: name and priority (smaller is served first), spawned in
/// this order, which is not the order they must be served in.
const WORKERS: [(&str, i64); 5] = [
    ("logger", 7),
    ("sensor", 1),
    ("radio", 3),
    ("imu", 1),
    ("display", 5),
];

/// The order the buffers must go in: by priority, `sensor` before `imu` (same priority,
/// earlier arrival).
const EXPECTED: [&str; 5] = ["sensor", "imu", "radio", "display", "logger"];

struct Grants {
    names: [&'static str; 5],
    len: usize,
}

impl Grants {
    const fn new() -> Self {
        Self {
            names: [""; 5],
            len: 0,
        }
    }
}

fn ms() -> u64 {
    Instant::now().as_millis()
}

#[embassy_executor::task(pool_size = 5)]
async fn worker(name: &'static str, priority: i64) {
    let permit = BUFFERS
        .acquire()
        .priority(priority)
        .await
        .expect("the semaphore is never closed");
    hprintln!("{:>4} ms  granted: {} (priority {})", ms(), name, priority);
    critical_section::with(|cs| {
        let mut grants = GRANTS.borrow(cs).borrow_mut();
        let i = grants.len;
        grants.names[i] = name;
        grants.len += 1;
        // Fill the buffer and hand it back to the DMA engine, which will release it again.
        let mut in_dma = IN_DMA.borrow(cs).borrow_mut();
        match in_dma.as_mut() {
            Some(held) => held.merge(permit),
            None => *in_dma = Some(permit),
        }
    });
}

#[embassy_executor::task]
async fn urgent() {
    let start = Instant::now();
    let attempt = with_timeout(Duration::from_millis(30), BUFFERS.acquire().priority(0)).await;
    let waited = start.elapsed().as_millis();
    match attempt {
        Ok(_) => fail("urgent: got a buffer, but none was free before its timeout"),
        Err(_) if waited < 30 => fail("urgent: timed out early"),
        Err(_) => hprintln!(
            "{:>4} ms  urgent (priority 0): timed out after {} ms, acquire cancelled",
            ms(),
            waited
        ),
    }
}

/// The DMA engine's completion interrupt: one buffer is done, release its permit.
#[exception]
fn PendSV() {
    if !matches!(SCB::vect_active(), VectActive::Exception(Exception::PendSV)) {
        fail("irq: not running in the PendSV handler");
    }
    let released = critical_section::with(|cs| {
        let mut in_dma = IN_DMA.borrow(cs).borrow_mut();
        let one = match in_dma.as_mut() {
            Some(held) if held.num_permits() > 1 => held.split(1),
            _ => in_dma.take(),
        };
        let count = RELEASES_FROM_IRQ.borrow(cs);
        count.set(count.get() + 1);
        one
    });
    match released {
        // Dropping the permit hands it to the best waiter and wakes that task, from here.
        Some(permit) => drop(permit),
        None => fail("irq: no buffer to release"),
    }
    hprintln!(
        "{:>4} ms  irq PendSV: released 1 buffer, {} waiting",
        ms(),
        BUFFERS.waiter_count()
    );
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let core = cortex_m::Peripherals::take().expect("taken once");
    time_driver::start(core.SYST);
    hprintln!("prio-semaphore on embassy-executor, {}", BOARD);

    // The DMA engine starts with every buffer.
    let all = BUFFERS
        .try_acquire_many(5)
        .expect("five buffers free at start");
    critical_section::with(|cs| *IN_DMA.borrow(cs).borrow_mut() = Some(all));

    for (name, priority) in WORKERS {
        spawner.spawn(worker(name, priority).expect("worker pool has room"));
        Timer::after_millis(1).await; // a distinct arrival for each
    }
    spawner.spawn(urgent().expect("urgent task spawns once"));

    // Wait (bounded) until all six are queued.
    for _ in 0..100 {
        if BUFFERS.waiter_count() == 6 {
            break;
        }
        Timer::after_millis(1).await;
    }
    hprintln!(
        "{:>4} ms  queued: {} waiters, {} buffers free",
        ms(),
        BUFFERS.waiter_count(),
        BUFFERS.available_permits()
    );
    check(BUFFERS.waiter_count() == 6, "six waiters queued");
    check(BUFFERS.try_acquire().is_err(), "try_acquire does not barge");

    // Let the urgent request time out at the head of the queue.
    Timer::after_millis(50).await;
    check(
        BUFFERS.waiter_count() == 5,
        "the timed-out waiter left the queue",
    );

    // The DMA engine completes one buffer every 10 ms.
    for _ in 0..5 {
        SCB::set_pendsv();
        Timer::after_millis(10).await;
    }

    let (order, len, releases, in_dma) = critical_section::with(|cs| {
        let grants = GRANTS.borrow(cs).borrow();
        let in_dma = IN_DMA
            .borrow(cs)
            .borrow()
            .as_ref()
            .map_or(0, Permit::num_permits);
        (
            grants.names,
            grants.len,
            RELEASES_FROM_IRQ.borrow(cs).get(),
            in_dma,
        )
    });
    hprintln!("grant order: {:?}", &order[..len]);
    check(len == 5 && order == EXPECTED, "grants in priority order");
    check(releases == 5, "five releases from the interrupt handler");
    check(BUFFERS.waiter_count() == 0, "nobody left waiting");
    check(
        in_dma == 5 && BUFFERS.available_permits() == 0,
        "all five buffers accounted for",
    );
    hprintln!("PASS");
    debug::exit(debug::EXIT_SUCCESS);
}

fn check(ok: bool, what: &str) {
    if ok {
        hprintln!("ok: {}", what);
    } else {
        fail(what);
    }
}

fn fail(what: &str) -> ! {
    hprintln!("FAIL: {}", what);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::bkpt();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::bkpt();
    }
}
