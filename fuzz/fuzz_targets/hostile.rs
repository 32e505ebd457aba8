//! Coverage-guided fuzzing of the contract that holds for any priority and any waker: the
//! same hostile interpreter as `tests/hostile/model.rs` (priorities whose `Ord` follows a
//! script of lies and panics, wakers that use the semaphore from `clone`, `wake` and
//! `drop`), with the script and the operations decoded from the fuzzer's bytes.
//!
//! `cargo +nightly fuzz run hostile` (from the repository root).
#![no_main]

#[path = "../../tests/hostile/interp.rs"]
mod interp;

use arbitrary::{Result, Unstructured};
use interp::{Answer, Hostile, Op};
use libfuzzer_sys::fuzz_target;

/// Long enough for deep queues, short enough to keep each run fast.
const MAX_OPS: usize = 256;

fn answer(u: &mut Unstructured<'_>) -> Result<Answer> {
    Ok(match u.int_in_range(0..=4_u8)? {
        0 => Answer::Less,
        1 => Answer::Equal,
        2 => Answer::Greater,
        3 => Answer::Honest,
        _ => Answer::Panic,
    })
}

fn op(u: &mut Unstructured<'_>) -> Result<Op> {
    // Indices are taken modulo the live count, so one byte reaches them all.
    let index = |u: &mut Unstructured<'_>| u.arbitrary::<u8>().map(usize::from);
    Ok(match u.int_in_range(0..=7_u8)? {
        0 => Op::Create {
            rank: u.int_in_range(0..=3)?,
            permits: u.int_in_range(0..=3)?,
            liar: u.arbitrary()?,
        },
        1 => Op::Poll {
            index: index(u)?,
            reentrant: u.arbitrary()?,
        },
        2 => Op::DropRequest { index: index(u)? },
        3 => Op::DropPermit { index: index(u)? },
        4 => Op::AddPermits(u.int_in_range(0..=3)?),
        5 => Op::ForgetPermits(u.int_in_range(0..=2)?),
        6 => Op::TryAcquire(u.int_in_range(0..=3)?),
        _ => Op::Close,
    })
}

/// libFuzzer's panic hook aborts on every panic, even a caught one; the scripted `Ord`
/// panic is expected (the interpreter catches and checks it), so it alone is let through.
fn let_scripted_ord_panics_through() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied());
            if message != Some(interp::ORD_PANIC) {
                fuzzer_hook(info);
            }
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    let_scripted_ord_panics_through();
    let mut u = Unstructured::new(data);
    let Ok(permits) = u.int_in_range(0..=3_usize) else {
        return;
    };
    let Ok(limit) = u.arbitrary::<Option<u8>>() else {
        return;
    };
    let limit = limit.map(|l| usize::from(l % 4));
    let Ok(script_len) = u.int_in_range(0..=8_usize) else {
        return;
    };
    let Ok(answers) = (0..script_len)
        .map(|_| answer(&mut u))
        .collect::<Result<Vec<_>>>()
    else {
        return;
    };
    let mut ops = Vec::new();
    // `Unstructured` pads with zeros once the bytes run out: stop there instead.
    while !u.is_empty() && ops.len() < MAX_OPS {
        match op(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    Hostile::new(permits, limit, answers).run(ops);
});
