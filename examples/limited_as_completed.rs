//! Andy Balaam's experiment (“Adding a concurrency limit to Python's
//! asyncio.as_completed”): 10,000 HTTP requests, at most 1,000 in flight, results in
//! completion order, with `limited::unordered`.
//!
//! The blog post ran a Python client against a server that sleeps `random.randint(0, 3)`
//! seconds per request, with `asyncio.as_completed(tasks, limit=1000)` (its proposed stdlib
//! extension) and with a semaphore; this is the same client in Rust. The example starts the
//! server itself, as a child process (this same binary with `--serve`) on 127.0.0.1 and an
//! ephemeral port, so that the memory figure covers the client alone, as the post's did.
//! The server's sleeps are whole seconds from 0 to 3, uniformly, as in the post.
//!
//! What to look for: the wall time beside the post's 19 s and the ideal of about 17 s, and
//! the client's peak memory beside the post's 49 to 73 MB. The ideal: a limiter that does
//! not know how long each request takes keeps 1,000 requests in flight, each taking 1.5 s
//! on average, so 10,000 requests need 10,000 × 1.5 s / 1,000 = 15 s of full occupancy,
//! plus a tail at the end, when fewer than 1,000 requests remain and the last ones started
//! may take up to 3 s. The input is a lazy iterator: no request exists before a slot is
//! free for it.
//!
//! Run it with `cargo run --release --example limited_as_completed`, or with a number of
//! requests for a quick run: `cargo run --example limited_as_completed -- 2000`. It needs
//! about 1,100 file descriptors (see `ulimit -n`).

mod common;

use std::cell::Cell;
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use prio_semaphore::limited;

const LIMIT: usize = 1000;
const DEFAULT_REQUESTS: usize = 10_000;

/// `random.randint(0, 3)`, as whole seconds, derived from the request's path so that runs
/// are repeatable.
fn server_delay(path: &str) -> Duration {
    let mut x = path.bytes().fold(0x9e37_79b9_7f4a_7c15u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    x ^= x >> 33; // splitmix-style finish: spread the low bits
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    Duration::from_secs(x % 4)
}

/// The server: answers "Hello, World!" after `server_delay`, until stdin closes.
fn serve() -> io::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let addr = common::serve(|path| async move {
            tokio::time::sleep(server_delay(&path)).await;
            "Hello, World!".to_owned()
        })
        .await?;
        println!("{addr}");
        // The parent closes our stdin when it is done (or dies).
        tokio::task::spawn_blocking(|| io::stdin().lines().count()).await?;
        Ok(())
    })
}

/// Starts the server as a child process; its address.
fn start_server() -> io::Result<(Child, SocketAddr)> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg("--serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line)?;
    let addr = line.trim().parse().map_err(io::Error::other)?;
    Ok((child, addr))
}

/// The soft limit on open files, from `/proc/self/limits`, where the system reports it.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn main() -> io::Result<()> {
    let arg = std::env::args().nth(1);
    if arg.as_deref() == Some("--serve") {
        return serve();
    }
    let requests = match arg {
        Some(n) => n.parse().map_err(io::Error::other)?,
        None => DEFAULT_REQUESTS,
    };
    if let Some(max) = open_files_limit().filter(|&max| max < LIMIT as u64 + 100) {
        eprintln!("the open-file limit is {max}; {LIMIT} connections need more: `ulimit -n 4096`");
        std::process::exit(1);
    }

    let (mut server, addr) = start_server()?;
    println!("server (child process) on {addr}; {requests} requests, at most {LIMIT} in flight");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    // Requests in flight now, and the most at once.
    let (in_flight, most_in_flight) = (Cell::new(0), Cell::new(0));
    let (ok, failed) = runtime.block_on(async {
        // Lazy: a request is created only when the stream has a free slot for it.
        let fetches = (0..requests).map(|i| {
            let (in_flight, most_in_flight) = (&in_flight, &most_in_flight);
            async move {
                in_flight.set(in_flight.get() + 1);
                most_in_flight.set(most_in_flight.get().max(in_flight.get()));
                let response = common::get(addr, &format!("/{i}")).await;
                in_flight.set(in_flight.get() - 1);
                response
            }
        });
        let mut responses = limited::unordered(fetches, LIMIT);
        let (mut ok, mut failed) = (0, 0);
        while let Some(response) = responses.next().await {
            match response {
                Ok(body) if body == "Hello, World!" => ok += 1,
                _ => failed += 1,
            }
        }
        (ok, failed)
    });
    let elapsed = started.elapsed();
    drop(server.stdin.take()); // tells the server to exit
    server.wait()?;

    let ideal = requests as f64 * 1.5 / LIMIT as f64;
    println!(
        "{ok} responses, {failed} failures, at most {} requests in flight",
        most_in_flight.get()
    );
    let peak = common::peak_rss_kib().map_or("n/a".to_owned(), |kib| format!("{kib} KB"));
    println!("                            wall time   peak memory (client)");
    println!(
        "this client (Rust)          {:>7.2} s   {peak}",
        elapsed.as_secs_f64()
    );
    println!(
        "ideal                       ~{ideal:.1} s + a tail of up to 3 s (about 17 s for 10,000)"
    );
    println!("the blog post, 10,000 requests:");
    println!("  Python as_completed(limit) 18.97 s   49332 KB");
    println!("  Python semaphore           19.18 s   73640 KB");
    Ok(())
}
