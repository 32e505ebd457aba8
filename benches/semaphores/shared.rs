//! Pieces the workloads share: deterministic "random" numbers, a no-op context, queueing
//! waiters by hand, and where the output files go.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Waker};

/// A deterministic pseudo-random generator (SplitMix64), so every run and every
/// implementation sees the same "random" priorities and orders.
pub struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A permutation of `0..n` (Fisher-Yates).
    pub fn permutation(seed: u64, n: usize) -> Vec<usize> {
        let mut rng = Self(seed);
        let mut out: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            out.swap(i, j);
        }
        out
    }
}

pub fn noop_context() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

/// Queues `priorities.len()` waiters on `sem`, returning their slots: each polled once, so
/// it is linked into the wait list, and dropped (cancelled) when its slot is.
pub fn queue_waiters<F: Future>(
    make: &impl Fn(i64) -> F,
    priorities: impl IntoIterator<Item = i64>,
) -> Vec<Pin<Box<Option<F>>>> {
    let mut cx = noop_context();
    priorities
        .into_iter()
        .map(|priority| {
            let mut slot = Box::pin(Some(make(priority)));
            let fut = slot.as_mut().as_pin_mut().expect("just filled");
            assert!(fut.poll(&mut cx).is_pending(), "the waiter must queue");
            slot
        })
        .collect()
}

/// Where criterion writes its output: `$CRITERION_HOME`, else `criterion/` in the target
/// directory (`$CARGO_TARGET_DIR`, else the one this binary was built in).
pub fn criterion_home() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            // <target>/<profile>/deps/<this binary>
            let exe = std::env::current_exe().ok()?;
            Some(exe.parent()?.parent()?.parent()?.to_path_buf())
        })
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("criterion")
}
