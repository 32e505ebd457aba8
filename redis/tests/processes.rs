//! Many real processes share one semaphore: the limit holds, grants follow (priority,
//! arrival) across processes, and killed holders and waiters give back what they had.

mod support;

use std::time::{Duration, Instant};

use prio_semaphore_redis::RedisSemaphore;
use support::children::{self, kill_9, spawn, var, wait_success};
use support::{arrival, key, wait_until, RedisServer, ENTER_SCRIPT};

const LEASE: Duration = Duration::from_millis(1000);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn open(url: &str, name: &str, permits: u32) -> RedisSemaphore {
    RedisSemaphore::builder(url, name, permits)
        .lease(LEASE)
        .connect()
        .await
        .expect("connect")
}

fn child_vars(server: &RedisServer, name: &str, permits: u32) -> Vec<(&'static str, String)> {
    vec![
        ("TEST_URL", server.url()),
        ("TEST_NAME", name.to_string()),
        ("TEST_PERMITS", permits.to_string()),
    ]
}

/// Runs a child's role; a no-op in the normal test run.
#[test]
fn child_process_entry() {
    let Ok(role) = std::env::var(children::ROLE) else {
        return;
    };
    let (url, name) = (var("TEST_URL"), var("TEST_NAME"));
    let permits: u32 = var("TEST_PERMITS").parse().unwrap();
    runtime().block_on(async {
        let sem = open(&url, &name, permits).await;
        let mut redis = redis::Client::open(url.as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        match role.as_str() {
            "holder" => {
                let permit = sem.acquire().await.expect("holder acquire");
                redis::cmd("SET")
                    .arg("test:holder-token")
                    .arg(permit.fencing_token())
                    .exec(&mut redis)
                    .unwrap();
                std::future::pending::<()>().await; // until kill -9
            }
            "waiter" => {
                let _permit = sem.acquire().await.expect("waiter acquire");
                redis::cmd("RPUSH")
                    .arg("test:granted")
                    .arg("waiter")
                    .exec(&mut redis)
                    .unwrap();
            }
            "plan" => run_plan(&sem, &name, &url, &mut redis).await,
            "worker" => run_worker(&sem, &url).await,
            other => panic!("unknown role {other}"),
        }
    });
}

/// Queues `label:priority` waiters one at a time (so their arrival order is known), then
/// records the order in which they are granted.
async fn run_plan(sem: &RedisSemaphore, name: &str, url: &str, redis: &mut redis::Connection) {
    let plan = var("TEST_PLAN");
    let hold =
        Duration::from_millis(std::env::var("TEST_HOLD_MS").map_or(20, |v| v.parse().unwrap()));
    let mut tasks = Vec::new();
    for step in plan.split(',') {
        let (label, priority) = step.split_once(':').unwrap();
        let (label, priority) = (label.to_string(), priority.parse::<i64>().unwrap());
        let before = arrival(redis, name);
        let (sem, url) = (sem.clone(), url.to_string());
        tasks.push(tokio::spawn(async move {
            let permit = sem
                .acquire()
                .priority(priority)
                .await
                .expect("plan acquire");
            let mut redis = redis::Client::open(url.as_str())
                .unwrap()
                .get_connection()
                .unwrap();
            let now: i64 = redis::Script::new(ENTER_SCRIPT)
                .key("test:current")
                .key("test:peak")
                .invoke(&mut redis)
                .unwrap();
            assert!(now >= 1);
            redis::cmd("RPUSH")
                .arg("test:order")
                .arg(&label)
                .exec(&mut redis)
                .unwrap();
            tokio::time::sleep(hold).await;
            redis::cmd("DECR")
                .arg("test:current")
                .exec(&mut redis)
                .unwrap();
            permit.release().await.expect("release");
        }));
        while arrival(redis, name) == before {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    redis::cmd("INCR").arg("test:ready").exec(redis).unwrap();
    for task in tasks {
        task.await.unwrap();
    }
}

/// Tasks that acquire, count themselves in, work a little and release, many times.
async fn run_worker(sem: &RedisSemaphore, url: &str) {
    let mut tasks = Vec::new();
    for t in 0..3u64 {
        let (sem, url) = (sem.clone(), url.to_string());
        tasks.push(tokio::spawn(async move {
            let mut redis = redis::Client::open(url.as_str())
                .unwrap()
                .get_connection()
                .unwrap();
            let enter = redis::Script::new(ENTER_SCRIPT);
            for i in 0..8u64 {
                let priority = if (t + i) % 2 == 0 { 0 } else { 10 };
                let permit = sem
                    .acquire()
                    .priority(priority)
                    .await
                    .expect("worker acquire");
                let _: i64 = enter
                    .key("test:current")
                    .key("test:peak")
                    .invoke(&mut redis)
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(3 + (i % 3) * 4)).await;
                redis::cmd("DECR")
                    .arg("test:current")
                    .exec(&mut redis)
                    .unwrap();
                redis::cmd("INCR")
                    .arg("test:grants")
                    .exec(&mut redis)
                    .unwrap();
                drop(permit);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

fn get(redis: &mut redis::Connection, key: &str) -> i64 {
    redis::cmd("GET")
        .arg(key)
        .query::<Option<i64>>(redis)
        .unwrap()
        .unwrap_or(0)
}

/// Creates the semaphore and waits out its first-lease grace period.
fn created(server: &RedisServer, name: &str, permits: u32) {
    runtime().block_on(async {
        let sem = open(&server.url(), name, permits).await;
        sem.acquire()
            .await
            .expect("first acquire")
            .release()
            .await
            .unwrap();
    });
}

#[test]
fn the_global_limit_holds_across_processes() {
    let server = RedisServer::start();
    created(&server, "limit", 3);
    let mut workers: Vec<_> = (0..4)
        .map(|_| spawn("worker", &child_vars(&server, "limit", 3)))
        .collect();
    for worker in &mut workers {
        wait_success(worker, Duration::from_secs(60));
    }
    let mut redis = server.connection();
    let peak = get(&mut redis, "test:peak");
    assert!(peak <= 3, "{peak} holders at once with a limit of 3");
    assert!(
        peak >= 2,
        "4 processes never overlapped (peak {peak}): the test proves nothing"
    );
    assert_eq!(get(&mut redis, "test:grants"), 4 * 3 * 8);
    assert_eq!(get(&mut redis, "test:current"), 0);
}

#[test]
fn grants_follow_priority_then_arrival_across_processes() {
    let server = RedisServer::start();
    let url = server.url();
    let rt = runtime();
    let gate_sem = rt.block_on(open(&url, "order", 1));
    let gate = rt
        .block_on(gate_sem.acquire())
        .expect("gate (after the grace period)");
    let mut redis = server.connection();
    // Arrival order: a1 a2 b1 b2 b3 c1 c2; several waiters per process exercise barriers.
    let plans = ["a1:5,a2:1", "b1:3,b2:1,b3:5", "c1:1,c2:9"];
    let mut kids = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        let mut vars = child_vars(&server, "order", 1);
        vars.push(("TEST_PLAN", plan.to_string()));
        kids.push(spawn("plan", &vars));
        wait_until(
            "a child queued its waiters",
            Duration::from_secs(20),
            || get(&mut redis, "test:ready") == i as i64 + 1,
        );
    }
    // One line member per process, never one per waiter.
    let line: usize = redis::cmd("ZCARD")
        .arg(key("order", "line"))
        .query(&mut redis)
        .unwrap();
    assert_eq!(line, 3);
    rt.block_on(gate.release()).unwrap();
    for kid in &mut kids {
        wait_success(kid, Duration::from_secs(30));
    }
    let order: Vec<String> = redis::cmd("LRANGE")
        .arg("test:order")
        .arg(0)
        .arg(-1)
        .query(&mut redis)
        .unwrap();
    assert_eq!(order, ["a2", "b2", "c1", "b1", "a1", "b3", "c2"]);
    assert_eq!(get(&mut redis, "test:peak"), 1);
}

#[test]
fn a_grant_leaves_a_barrier_until_its_process_names_its_next_waiter() {
    // Two permits come free at once. Process A's best waiter is granted first; A's next
    // (priority 2) is better than B's (priority 3) but not yet in the line: the barrier
    // A leaves must keep B's waiter from taking the second permit meanwhile.
    let server = RedisServer::start();
    let url = server.url();
    let rt = runtime();
    let gate_sem = rt.block_on(open(&url, "barrier", 2));
    let gate = rt
        .block_on(gate_sem.acquire_many(2))
        .expect("gate (after the grace period)");
    let mut redis = server.connection();
    let mut kids = Vec::new();
    for (i, plan) in ["a1:1,a2:2", "b1:3"].iter().enumerate() {
        let mut vars = child_vars(&server, "barrier", 2);
        vars.push(("TEST_PLAN", plan.to_string()));
        vars.push(("TEST_HOLD_MS", "300".to_string()));
        kids.push(spawn("plan", &vars));
        wait_until(
            "a child queued its waiters",
            Duration::from_secs(20),
            || get(&mut redis, "test:ready") == i as i64 + 1,
        );
    }
    rt.block_on(gate.release()).unwrap();
    for kid in &mut kids {
        wait_success(kid, Duration::from_secs(30));
    }
    let mut order: Vec<String> = redis::cmd("LRANGE")
        .arg("test:order")
        .arg(0)
        .arg(-1)
        .query(&mut redis)
        .unwrap();
    assert_eq!(
        order.pop().as_deref(),
        Some("b1"),
        "b1 must be granted last"
    );
    order.sort();
    assert_eq!(order, ["a1", "a2"]);
    assert_eq!(get(&mut redis, "test:peak"), 2);
}

#[test]
fn a_holder_killed_with_sigkill_returns_its_permit_within_the_lease() {
    let server = RedisServer::start();
    created(&server, "kill", 1);
    let mut redis = server.connection();
    let mut holder = spawn("holder", &child_vars(&server, "kill", 1));
    wait_until(
        "the child holds the permit",
        Duration::from_secs(20),
        || get(&mut redis, "test:holder-token") > 0,
    );
    let rt = runtime();
    let sem = rt.block_on(open(&server.url(), "kill", 1));
    kill_9(&mut holder);
    let killed = Instant::now();
    let permit = rt
        .block_on(async { tokio::time::timeout(LEASE * 4, sem.acquire()).await })
        .expect("the dead holder's permit must come back within the lease (+ a poll)")
        .expect("acquire");
    let recovered = killed.elapsed();
    println!("recovered {recovered:?} after kill -9 (lease {LEASE:?})");
    assert!(permit.fencing_token() > get(&mut redis, "test:holder-token") as u64);
}

#[test]
fn a_waiter_killed_while_queued_leaves_the_line() {
    let server = RedisServer::start();
    let rt = runtime();
    let sem = rt.block_on(open(&server.url(), "dead-waiter", 1));
    let gate = rt
        .block_on(sem.acquire())
        .expect("gate (after the grace period)");
    let mut redis = server.connection();
    let before = arrival(&mut redis, "dead-waiter");
    let mut waiter = spawn("waiter", &child_vars(&server, "dead-waiter", 1));
    wait_until("the child is in line", Duration::from_secs(20), || {
        arrival(&mut redis, "dead-waiter") > before
    });
    kill_9(&mut waiter);
    // Its place expires within a lease; this process's renewals run the expiry.
    wait_until("the dead waiter left the line", LEASE * 4, || {
        let line: usize = redis::cmd("ZCARD")
            .arg(key("dead-waiter", "line"))
            .query(&mut redis)
            .unwrap();
        line == 0
    });
    let next = rt.block_on(async {
        let next = tokio::spawn({
            let sem = sem.clone();
            async move { sem.acquire().await }
        });
        gate.release().await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), next).await
    });
    let next = next
        .expect("granted at once, not after a dead waiter's lease")
        .unwrap()
        .unwrap();
    let held: Vec<String> = redis::cmd("ZRANGE")
        .arg(key("dead-waiter", "holders"))
        .arg(0)
        .arg(-1)
        .query(&mut redis)
        .unwrap();
    assert_eq!(
        held.len(),
        1,
        "nothing was granted to the dead waiter: {held:?}"
    );
    drop(next);
    assert!(get(&mut redis, "test:granted") == 0);
}
