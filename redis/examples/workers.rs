//! Four worker processes share three permits through Redis: realtime jobs (priority 0)
//! go ahead of batch jobs (priority 10) across all processes; one holder is killed with
//! `kill -9` and its permit comes back when its lease runs out.
//!
//! ```text
//! cargo run -p prio-semaphore-redis --example workers
//! ```
//!
//! Starts a private `redis-server` from the PATH on a free loopback port (or uses
//! `REDIS_URL` if set), and prints the order of grants, the peak concurrency and the
//! recovery time after the kill.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prio_semaphore_redis::RedisSemaphore;

const PERMITS: u32 = 3;
const WORKERS: usize = 4;
const LEASE: Duration = Duration::from_secs(2);
const JOBS_PER_KIND: u32 = 3;
/// Counts holders in and keeps the peak, atomically: the peak is measured.
const ENTER: &str = "local v = redis.call('INCR', KEYS[1]) \
    if v > tonumber(redis.call('GET', KEYS[2]) or '0') then redis.call('SET', KEYS[2], v) end \
    return v";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("worker") {
        worker(&args[2], &args[3], args[4].parse().unwrap());
        return;
    }
    let (url, _server) = match std::env::var("REDIS_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let server = LocalRedis::start();
            (server.url(), Some(server))
        }
    };
    coordinator(&url);
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn coordinator(url: &str) {
    let name = format!("example-workers-{}", std::process::id());
    let mut redis = redis::Client::open(url).unwrap().get_connection().unwrap();
    let rt = runtime();
    println!("semaphore {name:?}: {PERMITS} permits, lease {LEASE:?}, {WORKERS} worker processes");
    println!("(on a Redis that started less than a lease ago a new semaphore waits for the rest");
    println!(" of that lease: it cannot tell itself from one whose data a restart just lost)");
    let sem = rt.block_on(async {
        let sem = RedisSemaphore::builder(url, name.as_str(), PERMITS)
            .lease(LEASE)
            .connect()
            .await
            .expect("connect");
        sem.acquire()
            .await
            .expect("first acquire")
            .release()
            .await
            .unwrap();
        sem
    });
    let exe = std::env::current_exe().unwrap();
    let mut workers: Vec<Child> = (0..WORKERS)
        .map(|id| {
            Command::new(&exe)
                .args(["worker", url, &name, &id.to_string()])
                .stdout(Stdio::null())
                .spawn()
                .expect("spawn a worker")
        })
        .collect();

    // Worker 0 takes a long batch job; kill it while it holds the permit.
    let victim_token = loop {
        let token: Option<u64> = redis::cmd("GET")
            .arg("example:victim-token")
            .query(&mut redis)
            .unwrap();
        if let Some(token) = token {
            break token;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // Each lease is "member client permits token", keyed by its expiry.
    let held_key = format!("prio-semaphore:{{{name}}}:holders");
    std::thread::sleep(Duration::from_millis(300));
    // `Child::kill` is SIGKILL on Unix: `kill -9`, no chance to clean up.
    workers[0].kill().expect("kill -9 worker 0");
    let killed = Instant::now();
    let _ = workers[0].wait();
    println!(
        "\nkilled worker 0 (kill -9) while it held the permit with fencing token {victim_token}"
    );
    // The dead worker's permit is back when its lease runs out: a request for all the
    // permits (behind every worker's jobs: priority 50) is granted at that moment.
    let recovery = rt.block_on(async {
        let all = sem
            .acquire_many(PERMITS)
            .priority(50)
            .await
            .expect("acquire all");
        let recovery = killed.elapsed();
        let held: Vec<String> = redis::cmd("ZRANGE")
            .arg(&held_key)
            .arg(0)
            .arg(-1)
            .query(&mut redis)
            .unwrap();
        assert!(!held
            .iter()
            .any(|v| v.ends_with(&format!(" {victim_token}"))));
        all.release().await.unwrap();
        recovery
    });
    for worker in &mut workers[1..] {
        let status = worker.wait().unwrap();
        assert!(status.success(), "worker failed: {status}");
    }

    let grants: Vec<String> = redis::cmd("LRANGE")
        .arg("example:grants")
        .arg(0)
        .arg(-1)
        .query(&mut redis)
        .unwrap();
    let start: u64 = grants
        .first()
        .and_then(|g| g.split(' ').next()?.parse().ok())
        .unwrap_or(0);
    println!("\norder of grants (ms since the first, worker, kind, waited):");
    for grant in &grants {
        let parts: Vec<&str> = grant.split(' ').collect();
        let at: u64 = parts[0].parse().unwrap();
        println!(
            "  {:>6} ms  worker {}  {:<8}  waited {:>5} ms",
            at - start,
            parts[1],
            parts[2],
            parts[3]
        );
    }
    let mean = |kind: &str| {
        let waits: Vec<u64> = grants
            .iter()
            .filter(|g| g.split(' ').nth(2) == Some(kind))
            .map(|g| g.split(' ').nth(3).unwrap().parse().unwrap())
            .collect();
        waits.iter().sum::<u64>() / waits.len().max(1) as u64
    };
    let peak: u64 = redis::cmd("GET")
        .arg("example:peak")
        .query(&mut redis)
        .unwrap();
    println!(
        "\nmean wait: realtime {} ms, batch {} ms",
        mean("realtime"),
        mean("batch")
    );
    println!("peak concurrency: {peak} (limit {PERMITS})");
    println!("recovery after kill -9: {recovery:?} (lease {LEASE:?})");
    assert!(peak <= PERMITS as u64, "the limit was exceeded");
    rt.block_on(sem.close()).unwrap();
    let _: () = redis::cmd("DEL")
        .arg(&[
            "example:grants",
            "example:peak",
            "example:current",
            "example:victim-token",
        ])
        .query(&mut redis)
        .unwrap();
}

fn worker(url: &str, name: &str, id: usize) {
    runtime().block_on(async {
        let sem = RedisSemaphore::builder(url, name, PERMITS)
            .lease(LEASE)
            .connect()
            .await
            .expect("connect");
        let mut tasks = Vec::new();
        for (kind, priority) in [("realtime", 0i64), ("batch", 10)] {
            let (sem, url) = (sem.clone(), url.to_string());
            tasks.push(tokio::spawn(async move {
                let mut redis = redis::Client::open(url.as_str())
                    .unwrap()
                    .get_connection()
                    .unwrap();
                for job in 0..JOBS_PER_KIND {
                    if kind == "realtime" {
                        // Realtime requests arrive now and then; batch work is a backlog.
                        tokio::time::sleep(Duration::from_millis(120)).await;
                    }
                    let asked = Instant::now();
                    let permit = sem.acquire().priority(priority).await.expect("acquire");
                    let waited = asked.elapsed().as_millis();
                    let _: i64 = redis::Script::new(ENTER)
                        .key("example:current")
                        .key("example:peak")
                        .invoke(&mut redis)
                        .unwrap();
                    let line = format!("{} {id} {kind} {waited}", now_ms());
                    let _: () = redis::cmd("RPUSH")
                        .arg("example:grants")
                        .arg(line)
                        .query(&mut redis)
                        .unwrap();
                    if id == 0 && kind == "batch" && job == 0 {
                        // The victim: announce the permit, then work until killed.
                        let _: () = redis::cmd("SET")
                            .arg("example:victim-token")
                            .arg(permit.fencing_token())
                            .query(&mut redis)
                            .unwrap();
                        std::future::pending::<()>().await;
                    }
                    tokio::time::sleep(Duration::from_millis(if kind == "realtime" {
                        60
                    } else {
                        150
                    }))
                    .await;
                    let _: () = redis::cmd("DECR")
                        .arg("example:current")
                        .query(&mut redis)
                        .unwrap();
                    permit.release().await.expect("release");
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
}

/// A private `redis-server` on a free loopback port, killed on drop.
struct LocalRedis {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl LocalRedis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("prio-semaphore-redis-example-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let child = match Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(_) => {
                eprintln!("this example needs Redis: `redis-server` is not on the PATH.");
                eprintln!("  Debian/Ubuntu: sudo apt-get install redis-server");
                eprintln!("  macOS:         brew install redis");
                eprintln!("or point it at a running server: REDIS_URL=redis://127.0.0.1:6379/");
                std::process::exit(1);
            }
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        println!("started redis-server on 127.0.0.1:{port}");
        LocalRedis { child, port, dir }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for LocalRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
