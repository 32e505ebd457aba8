//! One client process of the benchmark (`redis/bench/run.sh`): acquire and release in a
//! loop from `start_at` (ms since the epoch) for `duration_ms`, then print
//! `{"ops": n, "latencies": [µs, ...]}`. With `duration_ms` 0 it only creates the
//! semaphore (on a server started less than a lease ago, after the grace period).
//!
//! ```text
//! bench_client <url> <name> <limit> <duration_ms> <start_at_ms>
//! ```

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prio_semaphore_redis::RedisSemaphore;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, name, limit, duration_ms, start_at] = &args[..] else {
        eprintln!("usage: bench_client <url> <name> <limit> <duration_ms> <start_at_ms>");
        std::process::exit(2);
    };
    let limit: u32 = limit.parse().expect("limit");
    let duration = Duration::from_millis(duration_ms.parse().expect("duration_ms"));
    let start_at: u64 = start_at.parse().expect("start_at_ms");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let sem = RedisSemaphore::builder(url.as_str(), name.as_str(), limit)
            .lease(Duration::from_secs(5))
            .connect()
            .await
            .expect("connect");
        // Warm up (on a just-started server, after the grace period of a new semaphore).
        sem.acquire()
            .await
            .expect("acquire")
            .release()
            .await
            .expect("release");
        if duration.is_zero() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(start_at.saturating_sub(now_ms()))).await;
        let end = Instant::now() + duration;
        let mut latencies = Vec::new();
        while Instant::now() < end {
            let started = Instant::now();
            let permit = sem.acquire().await.expect("acquire");
            permit.release().await.expect("release");
            latencies.push(started.elapsed().as_micros() as u64);
        }
        let list: Vec<String> = latencies.iter().map(u64::to_string).collect();
        println!(
            "{{\"ops\": {}, \"latencies\": [{}]}}",
            latencies.len(),
            list.join(",")
        );
    });
}
