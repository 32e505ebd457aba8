//! Faults, with real servers and real processes, in the spirit of Jepsen's nemeses: a
//! holder's traffic frozen by a proxy, Redis paused, killed, restarted with and without
//! its data, holders and waiters killed at the worst moments, skewed clocks, and a Redis
//! Cluster whose slot moves to another master or whose master fails over to a replica.
//!
//! Every holder process logs what it believed (granted, told lost, released; see
//! `support/history.rs`), and one checker proves for every scenario that no two holders
//! overlapped beyond the limit in their own view, and that nothing leaked afterwards.
//! The figures (how long before the next grant the old holder was told, recovery times)
//! are printed with `--nocapture`.

mod support;

use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use prio_semaphore_redis::RedisSemaphore;
use support::children::{self, kill_9, spawn_under, var};
use support::cluster::Cluster;
use support::history::{self, raw_now, Log};
use support::proxy::Proxy;
use support::{key, wait_until, RedisServer};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Runs a child's role; a no-op in the normal test run.
#[test]
fn child_process_entry() {
    let Ok(role) = std::env::var(children::ROLE) else {
        return;
    };
    assert_eq!(role, "holder", "unknown role {role}");
    runtime().block_on(hold_in_turns());
}

/// A holder process: acquires, holds for `TEST_HOLD_MS` while checking `is_lost()` every
/// millisecond, releases, and again, until the file `TEST_STOP` exists. Logs each step.
async fn hold_in_turns() {
    let ms = |name: &str| Duration::from_millis(var(name).parse().unwrap());
    let stop = PathBuf::from(var("TEST_STOP"));
    let mut log = Log::create(
        &PathBuf::from(var("TEST_LOG")),
        std::env::var("TEST_SKEWED").is_ok(),
    );
    let sem = loop {
        let connected = RedisSemaphore::builder(var("TEST_URL"), var("TEST_NAME"), 1)
            .lease(ms("TEST_LEASE_MS"))
            .io_timeout(ms("TEST_IO_MS"))
            .connect()
            .await;
        match connected {
            Ok(sem) => break sem,
            Err(error) if !stop.exists() => {
                log.failed(&error.to_string());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(_) => return,
        }
    };
    let priority: i64 = var("TEST_PRIORITY").parse().unwrap();
    let hold = ms("TEST_HOLD_MS");
    while !stop.exists() {
        let permit = match sem.acquire().priority(priority).await {
            Ok(permit) => permit,
            Err(error) => {
                log.failed(&error.to_string());
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        log.granted(permit.fencing_token(), permit.num_permits());
        let since = Instant::now();
        let mut lost = false;
        while since.elapsed() < hold && !stop.exists() {
            if permit.is_lost() {
                log.lost(permit.fencing_token(), permit.valid_until());
                lost = true;
                break;
            }
            // Checked every millisecond, and without pause in the last ten before the
            // deadline, so what the holder sees is close to what its checks answer.
            let left = permit
                .valid_until()
                .saturating_duration_since(Instant::now());
            if left > Duration::from_millis(10) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            } else {
                std::thread::yield_now();
            }
        }
        if !lost {
            log.released(permit.fencing_token());
        }
        let _ = permit.release().await;
    }
}

/// One scenario: a server, a semaphore of one permit, holder processes and their logs.
struct Scenario {
    name: &'static str,
    lease: Duration,
    io_timeout: Duration,
    dir: PathBuf,
    children: Vec<(Child, PathBuf)>,
    /// When a killed child died (its log ends there).
    killed: Vec<(PathBuf, u64)>,
}

impl Scenario {
    fn new(name: &'static str, lease: Duration, io_timeout: Duration) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "prio-semaphore-redis-faults-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scenario {
            name,
            lease,
            io_timeout,
            dir,
            children: Vec::new(),
            killed: Vec::new(),
        }
    }

    /// Creates the semaphore and waits out the grace period of a just-started server.
    fn create(&self, server: &RedisServer) {
        self.create_at(&server.url());
    }

    fn create_at(&self, url: &str) {
        runtime().block_on(async {
            let sem = self.open(url).await;
            sem.acquire().await.unwrap().release().await.unwrap();
        });
    }

    async fn open(&self, url: &str) -> RedisSemaphore {
        RedisSemaphore::builder(url, self.name, 1)
            .lease(self.lease)
            .io_timeout(self.io_timeout)
            .connect()
            .await
            .expect("connect")
    }

    /// Starts a holder process on `url`, run by `wrapper` (libfaketime: its monotonic
    /// clock skewed unless `--exclude-monotonic`); returns its log.
    fn holder(&mut self, url: &str, priority: i64, hold: Duration, wrapper: &[&str]) -> PathBuf {
        let log = self.dir.join(format!("holder-{}.log", self.children.len()));
        let mut vars = vec![
            ("TEST_URL", url.to_string()),
            ("TEST_NAME", self.name.to_string()),
            ("TEST_LEASE_MS", self.lease.as_millis().to_string()),
            ("TEST_IO_MS", self.io_timeout.as_millis().to_string()),
            ("TEST_HOLD_MS", hold.as_millis().to_string()),
            ("TEST_PRIORITY", priority.to_string()),
            ("TEST_LOG", log.display().to_string()),
            ("TEST_STOP", self.dir.join("stop").display().to_string()),
        ];
        if !wrapper.is_empty() && !wrapper.contains(&"--exclude-monotonic") {
            vars.push(("TEST_SKEWED", "1".into()));
        }
        let child = spawn_under(wrapper, "holder", &vars);
        self.children.push((child, log.clone()));
        log
    }

    /// A holder A that keeps its permit (through `url_a`, run by `wrapper_a`), and once it
    /// holds, a holder B that takes short turns (through `url_b`, run by `wrapper_b`),
    /// queued behind A. Returns their logs.
    fn holder_and_waiter(
        &mut self,
        (url_a, wrapper_a): (&str, &[&str]),
        (url_b, wrapper_b): (&str, &[&str]),
    ) -> (PathBuf, PathBuf) {
        let a = self.holder(url_a, 0, Duration::from_secs(600), wrapper_a);
        wait_until("A holds", Duration::from_secs(30), || {
            last_event(&a).as_deref() == Some("granted")
        });
        let b = self.holder(url_b, 0, Duration::from_millis(200), wrapper_b);
        (a, b)
    }

    fn kill(&mut self, log: &PathBuf) {
        let (child, _) = self
            .children
            .iter_mut()
            .find(|(_, l)| l == log)
            .expect("a child");
        kill_9(child);
        self.killed.push((log.clone(), raw_now()));
    }

    /// Stops every holder, then reads and checks all logs: never more than one holder at
    /// once, in the holders' own view.
    fn finish(mut self) -> history::Report {
        std::fs::write(self.dir.join("stop"), "").unwrap();
        for (child, _) in &mut self.children {
            let deadline = Instant::now() + self.lease * 4 + Duration::from_secs(5);
            loop {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("a holder did not stop");
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let logs: Vec<PathBuf> = self.children.iter().map(|(_, log)| log.clone()).collect();
        let report = history::read(&logs, raw_now(), &self.killed);
        assert!(
            report.peak <= 1,
            "{}: {} holders at once in their own view: {:#?}",
            self.name,
            report.peak,
            report.holds
        );
        for (held_for, told, seen) in report.told_first() {
            println!(
                "{}: a holder lost its lease after {held_for:?}; its checks said lost {:.1} ms \
                 and it saw it {:.1} ms before the next grant to anyone else",
                self.name,
                told as f64 / 1e6,
                seen as f64 / 1e6
            );
            assert!(
                told > 0,
                "{}: told {told} ns after the next grant",
                self.name
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        report
    }
}

impl Drop for Scenario {
    /// A scenario that failed half-way leaves no process behind.
    fn drop(&mut self) {
        for (child, _) in &mut self.children {
            if child.try_wait().ok().flatten().is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

fn last_event(log: &PathBuf) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .last()
        .map(|l| l.split(' ').next().unwrap().to_owned())
}

fn grants_in(log: &PathBuf) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("granted"))
        .count()
}

/// Nothing leaked: once every holder is gone, a new process can take every permit (after
/// at most a lease, for leases whose holders were killed), and after it gives them back
/// nothing is in use and nobody is in line.
fn assert_nothing_leaked(server: &RedisServer, name: &str, lease: Duration) {
    assert_nothing_leaked_at(&server.url(), server, name, lease);
}

/// The same, through `url`, looking at the keys on `server` (in a cluster: their owner).
fn assert_nothing_leaked_at(url: &str, server: &RedisServer, name: &str, lease: Duration) {
    let rt = runtime();
    let sem = rt.block_on(async {
        RedisSemaphore::builder(url, name, 1)
            .lease(lease)
            .connect()
            .await
            .expect("connect")
    });
    let deadline = Instant::now() + lease * 3;
    let permit = loop {
        match rt.block_on(sem.try_acquire()) {
            Ok(permit) => break permit,
            Err(error) => {
                assert!(error.is_no_permits(), "{error}");
                assert!(
                    Instant::now() < deadline,
                    "{name}: a permit never came back"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    rt.block_on(permit.release()).expect("release");
    let mut redis = server.connection();
    let holders: usize = redis::cmd("ZCARD")
        .arg(key(name, "holders"))
        .query(&mut redis)
        .unwrap();
    let line: usize = redis::cmd("ZCARD")
        .arg(key(name, "line"))
        .query(&mut redis)
        .unwrap();
    let used: i64 = redis::cmd("HGET")
        .arg(key(name, "config"))
        .arg("used")
        .query(&mut redis)
        .unwrap();
    assert_eq!((holders, line, used), (0, 0, 0), "{name}: left behind");
}

/// Only the holder's connections are frozen; Redis stays up, so its lease expires on the
/// server and the other process is granted. At that instant the old holder already says
/// lost (the case: lease 3 s, I/O timeout 2 s, and a shorter pair).
fn frozen_holder(name: &'static str, lease: Duration, io_timeout: Duration) {
    let server = RedisServer::start();
    let mut scenario = Scenario::new(name, lease, io_timeout);
    scenario.create(&server);
    let proxy = Proxy::start(server.port);
    let (a, b) = scenario.holder_and_waiter((&proxy.url(), &[]), (&server.url(), &[]));
    std::thread::sleep(lease / 2);
    proxy.freeze();
    let frozen = Instant::now();
    wait_until("B is granted", lease * 3, || grants_in(&b) > 0);
    println!("{name}: B granted {:?} after the freeze", frozen.elapsed());
    std::thread::sleep(lease / 2);
    proxy.thaw();
    let thawed = Instant::now();
    let before = grants_in(&a);
    wait_until("A is granted again after the thaw", lease * 6, || {
        grants_in(&a) > before
    });
    println!(
        "{name}: A granted again {:?} after the thaw",
        thawed.elapsed()
    );
    let report = scenario.finish();
    assert!(report.holds.iter().any(|h| h.lost.is_some()), "A was told");
    assert_nothing_leaked(&server, name, lease);
}

#[test]
fn a_frozen_holder_is_told_before_anyone_else_is_granted() {
    frozen_holder(
        "frozen-short",
        Duration::from_millis(1500),
        Duration::from_millis(500),
    );
}

#[test]
fn a_frozen_holder_is_told_first_with_a_long_io_timeout() {
    frozen_holder(
        "frozen-long",
        Duration::from_secs(3),
        Duration::from_secs(2),
    );
}

/// Skewed clocks (libfaketime): the holder's clock runs 0.3 % slow, so it would count its
/// lease as ending later than Redis does; the other process's wall clock is three hours
/// ahead. A frozen holder still says lost before the other is granted: the drift
/// allowance (1 %) covers the slow clock, and the crate never reads a wall clock.
#[test]
fn skewed_clocks_change_nothing() {
    support::require("faketime", "faketime");
    let name = "skewed";
    let (lease, io_timeout) = (Duration::from_secs(3), Duration::from_millis(500));
    let server = RedisServer::start();
    let mut scenario = Scenario::new(name, lease, io_timeout);
    scenario.create(&server);
    let proxy = Proxy::start(server.port);
    let slow = ["faketime", "-m", "-f", "x0.997"];
    let ahead = ["faketime", "-m", "--exclude-monotonic", "-f", "+3h"];
    let (_, b) = scenario.holder_and_waiter((&proxy.url(), &slow), (&server.url(), &ahead));
    std::thread::sleep(lease / 2);
    proxy.freeze();
    wait_until("B is granted", lease * 3, || grants_in(&b) > 0);
    proxy.thaw();
    let report = scenario.finish();
    assert!(report.holds.iter().any(|h| h.lost.is_some()), "A was told");
    assert_nothing_leaked(&server, name, lease);
}

/// Redis paused (`SIGSTOP`) for longer than a lease, under two busy holders.
#[test]
fn a_paused_redis_never_leaves_two_holders() {
    let name = "paused";
    let (lease, io_timeout) = (Duration::from_millis(1500), Duration::from_millis(500));
    let server = RedisServer::start();
    let mut scenario = Scenario::new(name, lease, io_timeout);
    scenario.create(&server);
    let a = scenario.holder(&server.url(), 0, Duration::from_millis(400), &[]);
    let b = scenario.holder(&server.url(), 0, Duration::from_millis(400), &[]);
    wait_until("both have held", Duration::from_secs(20), || {
        grants_in(&a) > 0 && grants_in(&b) > 0
    });
    server.pause();
    std::thread::sleep(lease * 2);
    let granted = grants_in(&a) + grants_in(&b);
    server.resume();
    let resumed = Instant::now();
    wait_until("a grant after the pause", lease * 4, || {
        grants_in(&a) + grants_in(&b) > granted
    });
    println!(
        "{name}: first grant {:?} after Redis resumed",
        resumed.elapsed()
    );
    scenario.finish();
    assert_nothing_leaked(&server, name, lease);
}

/// Redis killed under a holder and restarted at once without its data: nothing is granted
/// until the holder has been told (the grace period after the server's start).
#[test]
fn a_restart_without_data_never_leaves_two_holders() {
    let name = "restart-empty";
    let (lease, io_timeout) = (Duration::from_millis(1500), Duration::from_millis(500));
    let mut server = RedisServer::start();
    let mut scenario = Scenario::new(name, lease, io_timeout);
    scenario.create(&server);
    let url = server.url();
    let (_, b) = scenario.holder_and_waiter((&url, &[]), (&url, &[]));
    std::thread::sleep(lease / 3);
    server.restart();
    let restarted = Instant::now();
    wait_until("B is granted after the restart", lease * 4, || {
        grants_in(&b) > 0
    });
    println!(
        "{name}: B granted {:?} after the restart",
        restarted.elapsed()
    );
    let report = scenario.finish();
    assert!(report.holds.iter().any(|h| h.lost.is_some()), "A was told");
    assert_nothing_leaked(&server, name, lease);
}

/// With `appendfsync always` a restart loses nothing: the holder keeps its lease if the
/// server is back in time, and nobody else is granted meanwhile.
#[test]
fn a_restart_with_its_data_never_leaves_two_holders() {
    let name = "restart-aof";
    let (lease, io_timeout) = (Duration::from_millis(3000), Duration::from_millis(500));
    let mut server = RedisServer::start_persistent();
    let mut scenario = Scenario::new(name, lease, io_timeout);
    scenario.create(&server);
    let a = scenario.holder(&server.url(), 0, Duration::from_millis(1500), &[]);
    let b = scenario.holder(&server.url(), 0, Duration::from_millis(1500), &[]);
    wait_until("A holds", Duration::from_secs(20), || grants_in(&a) > 0);
    server.restart();
    let restarted = Instant::now();
    let granted = grants_in(&a) + grants_in(&b);
    wait_until("a grant after the restart", lease * 4, || {
        grants_in(&a) + grants_in(&b) > granted
    });
    println!(
        "{name}: next grant {:?} after the restart",
        restarted.elapsed()
    );
    scenario.finish();
    assert_nothing_leaked(&server, name, lease);
}

/// The score of the only lease in `holders` (its expiry), if any.
fn lease_expiry(redis: &mut redis::Connection, name: &str) -> Option<f64> {
    let all: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg(key(name, "holders"))
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query(redis)
        .unwrap();
    all.first().map(|(_, score)| *score)
}

/// A holder killed right after it renewed: its permit comes back within one lease.
#[test]
fn a_holder_killed_right_after_a_renewal_returns_its_permit_within_a_lease() {
    let name = "kill-holder";
    let (lease, io_timeout) = (Duration::from_millis(1500), Duration::from_millis(500));
    let server = RedisServer::start();
    let mut scenario = Scenario::new(name, lease, io_timeout);
    scenario.create(&server);
    let url = server.url();
    let (a, b) = scenario.holder_and_waiter((&url, &[]), (&url, &[]));
    let mut redis = server.connection();
    let first = lease_expiry(&mut redis, name).expect("A's lease");
    wait_until("A renews", lease, || {
        lease_expiry(&mut redis, name).is_some_and(|e| e > first)
    });
    scenario.kill(&a);
    let killed = Instant::now();
    wait_until("B is granted", lease * 3, || grants_in(&b) > 0);
    let recovered = killed.elapsed();
    println!("{name}: the permit came back {recovered:?} after kill -9 (lease {lease:?})");
    assert!(
        recovered < lease + lease / 3 + Duration::from_millis(500),
        "{recovered:?}"
    );
    scenario.finish();
    assert_nothing_leaked(&server, name, lease);
}

/// A waiter killed right after it renewed its place, and the permit released just before
/// that place expires: the grant to the dead waiter lasts only until its place would have
/// expired, so the next waiter is delayed by about one lease in all, not two.
#[test]
fn a_waiter_killed_before_its_turn_delays_the_line_by_about_one_lease() {
    let name = "kill-waiter";
    let (lease, io_timeout) = (Duration::from_millis(1500), Duration::from_millis(500));
    let server = RedisServer::start();
    let mut scenario = Scenario::new(name, lease, io_timeout);
    scenario.create(&server);
    let rt = runtime();
    let gate_sem = rt.block_on(scenario.open(&server.url()));
    let gate = rt.block_on(gate_sem.acquire()).unwrap();
    let mut redis = server.connection();
    let dead = scenario.holder(&server.url(), 0, Duration::from_millis(100), &[]);
    let alive = |redis: &mut redis::Connection| -> Option<f64> {
        let all: Vec<(String, f64)> = redis::cmd("ZRANGE")
            .arg(key(name, "alive"))
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query(redis)
            .unwrap();
        all.first().map(|(_, score)| *score)
    };
    wait_until("the waiter is in line", Duration::from_secs(20), || {
        alive(&mut redis).is_some()
    });
    let first = alive(&mut redis).unwrap();
    wait_until("the waiter renews its place", lease, || {
        alive(&mut redis).is_some_and(|a| a > first)
    });
    scenario.kill(&dead);
    let killed = Instant::now();
    // Behind the dead waiter in line (it arrives later, at a lower priority too).
    let next = scenario.holder(&server.url(), 1, Duration::from_millis(100), &[]);
    wait_until("the next waiter is in line", lease / 2, || {
        let line: usize = redis::cmd("HLEN")
            .arg(key(name, "clients"))
            .query(&mut redis)
            .unwrap();
        line == 2
    });
    // Released just before the dead waiter's place expires.
    std::thread::sleep(lease - Duration::from_millis(150));
    rt.block_on(gate.release()).unwrap();
    wait_until("the next waiter is granted", lease * 4, || {
        grants_in(&next) > 0
    });
    let delay = killed.elapsed();
    println!("{name}: the next waiter was granted {delay:?} after the kill (lease {lease:?})");
    assert!(grants_in(&dead) == 0, "the dead waiter never held");
    assert!(
        delay < lease + lease / 3 + Duration::from_millis(500),
        "delayed {delay:?}: more than about one lease"
    );
    scenario.finish();
    drop(gate_sem);
    assert_nothing_leaked(&server, name, lease);
}

/// Polls `check` every 10 ms on the runtime (which keeps driving the connections' tasks)
/// until it is true; panics with `what` after a minute (a hang, not a timing check).
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The ids of the connections that speak RESP3: the fast paths' own connections.
fn resp3_clients(redis: &mut redis::Connection) -> Vec<String> {
    let list: String = redis::cmd("CLIENT").arg("LIST").query(redis).unwrap();
    list.lines()
        .filter(|line| line.contains(" resp=3"))
        .filter_map(|line| line.strip_prefix("id="))
        .map(|rest| rest.split(' ').next().unwrap().to_owned())
        .collect()
}

/// How many connections hear each process's own channel of semaphore `name`.
fn own_channel_subscribers(redis: &mut redis::Connection, name: &str) -> Vec<i64> {
    let pattern = format!("{}:*", key(name, "events"));
    let channels: Vec<String> = redis::cmd("PUBSUB")
        .arg("CHANNELS")
        .arg(pattern)
        .query(redis)
        .unwrap();
    let counts: Vec<(String, i64)> = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(&channels)
        .query(redis)
        .unwrap();
    counts.into_iter().map(|(_, n)| n).collect()
}

/// On tokio a process hears its grants on the fast path's own connection (RESP3 push) and
/// its pub/sub thread leaves its channel. Redis drops that connection while a waiter
/// waits: the thread takes the channel back and polls, so the grant made meanwhile still
/// reaches the waiter, and nothing leaks.
#[test]
fn a_waiter_whose_fast_connection_is_dropped_is_still_granted() {
    let name = "fast-dropped";
    let lease = Duration::from_millis(1500);
    let server = RedisServer::start();
    let mut redis = server.connection();
    runtime().block_on(async {
        let open = || {
            RedisSemaphore::builder(server.url(), name, 1)
                .lease(lease)
                .connect()
        };
        let (holder, waiter) = (open().await.unwrap(), open().await.unwrap());
        let held = holder.acquire().await.expect("the permit");
        let waiting = tokio::spawn(async move { waiter.acquire().await });
        eventually(
            "the waiter is in line, heard by its fast connection alone",
            || {
                let line: usize = redis::cmd("ZCARD")
                    .arg(key(name, "line"))
                    .query(&mut redis)
                    .unwrap();
                let heard = own_channel_subscribers(&mut redis, name);
                line == 1 && heard.len() == 2 && heard.iter().all(|&n| n == 1)
            },
        )
        .await;
        for id in resp3_clients(&mut redis) {
            let _: i64 = redis::cmd("CLIENT")
                .arg("KILL")
                .arg("ID")
                .arg(id)
                .query(&mut redis)
                .unwrap();
        }
        // The release is sent again on a fresh connection; its grant is published while
        // the waiter's process may have nobody on its channel.
        held.release().await.expect("release");
        let permit = waiting.await.unwrap().expect("granted after all");
        permit.release().await.expect("release");
        drop(holder);
    });
    assert_nothing_leaked(&server, name, lease);
}

/// The runtime that made a handle's fast connection (which hears its grants) is dropped,
/// and the handle goes on off tokio: its pub/sub thread takes the channel back, and a
/// waiter queued there is granted when the permit is released elsewhere.
#[test]
fn grants_still_arrive_after_the_fast_paths_runtime_is_gone() {
    let name = "runtime-gone";
    let lease = Duration::from_millis(1500);
    let server = RedisServer::start();
    let open = || {
        RedisSemaphore::builder(server.url(), name, 1)
            .lease(lease)
            .connect()
    };
    let first = runtime();
    let (sem, holder) = first.block_on(async {
        let sem = open().await.unwrap();
        // Opens the fast connection on this runtime.
        sem.acquire().await.unwrap().release().await.unwrap();
        (sem, open().await.unwrap())
    });
    let held = first.block_on(holder.acquire()).expect("the permit");
    drop(first);
    let waiter = std::thread::spawn(move || futures::executor::block_on(sem.acquire()));
    let mut redis = server.connection();
    wait_until("the waiter is in line", Duration::from_secs(20), || {
        let line: usize = redis::cmd("ZCARD")
            .arg(key(name, "line"))
            .query(&mut redis)
            .unwrap();
        line == 1
    });
    futures::executor::block_on(held.release()).expect("release");
    let permit = waiter.join().unwrap().expect("granted");
    futures::executor::block_on(permit.release()).expect("release");
    drop(holder);
    assert_nothing_leaked(&server, name, lease);
}

#[test]
fn the_checker_finds_an_overlap() {
    let dir = std::env::temp_dir().join(format!("history-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("a.log"), dir.join("b.log"));
    std::fs::write(
        &a,
        "granted 100 1 1\nlost 200 1 210\ngranted 300 3 1\nreleased 400 3\n",
    )
    .unwrap();
    std::fs::write(
        &b,
        "granted 205 2 1\nreleased 290 2\nfailed 295 timed out\n",
    )
    .unwrap();
    let report = history::read(&[a.clone(), b.clone()], 1_000, &[]);
    assert_eq!(report.peak, 1, "200 ends before 205 begins");
    assert_eq!(report.failures, 1);
    let told = report.told_first();
    assert_eq!(told.len(), 1);
    assert_eq!(
        (told[0].1, told[0].2),
        (5, -5),
        "told 5 ns before, seen 5 ns after"
    );
    std::fs::write(&b, "granted 150 2 1\nreleased 290 2\n").unwrap();
    assert_eq!(history::read(&[a.clone(), b.clone()], 1_000, &[]).peak, 2);
    // A killed holder's interval ends where it died.
    std::fs::write(&a, "granted 100 1 1\n").unwrap();
    std::fs::write(&b, "granted 205 2 1\n").unwrap();
    assert_eq!(history::read(&[a.clone(), b.clone()], 1_000, &[]).peak, 2);
    assert_eq!(history::read(&[a.clone(), b], 1_000, &[(a, 200)]).peak, 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Redis Cluster: the URL of any node works, the one that owns the semaphore's slot or
/// not, and a grant made through one node reaches a waiter connected through another.
#[test]
fn any_node_of_a_cluster_serves_the_semaphore() {
    let cluster = Cluster::start(None);
    let name = "cluster-any";
    let owner = cluster.owner(&key(name, "config"));
    let lease = Duration::from_millis(1500);
    let rt = runtime();
    rt.block_on(async {
        let mut handles = Vec::new();
        for i in 0..3 {
            let sem = RedisSemaphore::builder(cluster.url(i), name, 1)
                .lease(lease)
                .io_timeout(Duration::from_millis(500))
                .connect()
                .await
                .unwrap_or_else(|e| panic!("connect through node {i} (owner {owner}): {e}"));
            handles.push(sem);
        }
        // Each handle acquires and releases in turn (after the fresh servers' grace).
        for sem in &handles {
            let permit = tokio::time::timeout(lease * 3, sem.acquire())
                .await
                .expect("granted")
                .expect("acquire");
            permit.release().await.expect("release");
        }
        // A waiter on one node is granted by a release on another (pub/sub crosses nodes).
        let other = (owner + 1) % 3;
        let held = handles[owner].acquire().await.unwrap();
        let waiter = tokio::spawn({
            let sem = handles[other].clone();
            async move { sem.acquire().priority(1).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let released = Instant::now();
        held.release().await.unwrap();
        let permit = tokio::time::timeout(lease, waiter)
            .await
            .expect("the grant reaches the waiter on the other node")
            .unwrap()
            .unwrap();
        println!("cluster: a grant crossed nodes in {:?}", released.elapsed());
        drop(permit);
    });
}

/// The semaphore's slot moves to another master while two processes take turns: the
/// limit holds, and the same handles keep working afterwards.
#[test]
fn a_cluster_resharding_keeps_the_limit_and_the_semaphore_working() {
    let cluster = Cluster::start(None);
    let name = "cluster-move";
    let (lease, io_timeout) = (Duration::from_millis(1500), Duration::from_millis(500));
    let config = key(name, "config");
    let owner = cluster.owner(&config);
    let mut scenario = Scenario::new(name, lease, io_timeout);
    scenario.create_at(&cluster.url(owner));
    let a = scenario.holder(&cluster.url(0), 0, Duration::from_millis(100), &[]);
    let b = scenario.holder(&cluster.url(1), 0, Duration::from_millis(100), &[]);
    wait_until("both have held", Duration::from_secs(20), || {
        grants_in(&a) > 1 && grants_in(&b) > 1
    });
    let target = (owner + 1) % 3;
    cluster.move_slot(&config, target);
    let moved = Instant::now();
    let (ga, gb) = (grants_in(&a), grants_in(&b));
    wait_until("both are granted again after the move", lease * 4, || {
        grants_in(&a) > ga && grants_in(&b) > gb
    });
    println!(
        "cluster: both granted again {:?} after the slot moved",
        moved.elapsed()
    );
    scenario.finish();
    assert_nothing_leaked_at(&cluster.url(0), &cluster.nodes[target], name, lease);
}

/// The master of the semaphore's slot fails over to its replica while two processes take
/// turns: the limit holds, and the same handles keep working afterwards.
#[test]
fn a_cluster_failover_keeps_the_limit_and_the_semaphore_working() {
    let name = "cluster-failover";
    let config = key(name, "config");
    let cluster = Cluster::start(Some(&config));
    let (lease, io_timeout) = (Duration::from_millis(1500), Duration::from_millis(500));
    let owner = cluster.owner(&config);
    let mut scenario = Scenario::new(name, lease, io_timeout);
    scenario.create_at(&cluster.url(owner));
    let a = scenario.holder(&cluster.url(owner), 0, Duration::from_millis(100), &[]);
    let b = scenario.holder(
        &cluster.url((owner + 1) % 3),
        0,
        Duration::from_millis(100),
        &[],
    );
    wait_until("both have held", Duration::from_secs(20), || {
        grants_in(&a) > 1 && grants_in(&b) > 1
    });
    cluster.failover(3);
    let failed_over = Instant::now();
    let (ga, gb) = (grants_in(&a), grants_in(&b));
    wait_until(
        "both are granted again after the failover",
        lease * 4,
        || grants_in(&a) > ga && grants_in(&b) > gb,
    );
    println!(
        "cluster: both granted again {:?} after the failover",
        failed_over.elapsed()
    );
    scenario.finish();
    assert_nothing_leaked_at(&cluster.url(3), &cluster.nodes[3], name, lease);
}
