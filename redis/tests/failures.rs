//! Redis going away, coming back empty, refusing credentials; and the round trips of an
//! uncontended acquire and release, counted by the server.

mod support;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prio_semaphore_redis::{Error, RedisSemaphore};
use support::{key, RedisServer};

const LEASE: Duration = Duration::from_millis(1000);
const IO_TIMEOUT: Duration = Duration::from_millis(500);

async fn open(url: &str, name: &str) -> RedisSemaphore {
    open_with_lease(url, name, LEASE).await
}

async fn open_with_lease(url: &str, name: &str, lease: Duration) -> RedisSemaphore {
    RedisSemaphore::builder(url, name, 1)
        .lease(lease)
        .io_timeout(IO_TIMEOUT)
        .connect()
        .await
        .expect("connect")
}

#[tokio::test]
async fn a_redis_restart_without_data_gives_clear_errors_and_no_double_grant() {
    let mut server = RedisServer::start();
    let url = server.url();
    // A longer lease here: the holder must still believe it holds when Redis is back.
    let lease = Duration::from_secs(3);
    let a = open_with_lease(&url, "restart", lease).await;
    let b = open_with_lease(&url, "restart", lease).await;
    let held = a.acquire().await.expect("acquire (after the grace period)");

    // Redis is down: an acquire fails with a typed error, in bounded time.
    server.stop();
    let started = Instant::now();
    let error = b.acquire().await.expect_err("Redis is down");
    assert!(error.is_unreachable(), "{error:?}");
    assert!(error.to_string().contains("unreachable"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // Back, empty, before the holder's lease ran out on its side.
    server.restart();
    assert!(
        !held.is_lost(),
        "precondition: Redis was back within the holder's lease"
    );
    let b_permit = tokio::time::timeout(Duration::from_secs(10), b.acquire())
        .await
        .expect("granted once the grace period is over")
        .expect("acquire after the restart");
    // No moment with two holders: the old holder knew its lease was gone before the
    // new grant, and the new token is still the larger one.
    assert!(
        held.is_lost(),
        "granted while the old holder still believed it held"
    );
    assert!(b_permit.fencing_token() > held.fencing_token());
}

#[tokio::test]
async fn a_queued_waiter_fails_when_redis_stays_away() {
    let mut server = RedisServer::start();
    let url = server.url();
    let sem = open(&url, "away").await;
    let held = sem.acquire().await.expect("acquire");
    let mut connection = server.connection();
    let before = support::arrival(&mut connection, "away");
    let waiter = tokio::spawn({
        let sem = sem.clone();
        async move { sem.acquire().await }
    });
    // Queued in Redis (its arrival taken) before Redis goes away.
    while support::arrival(&mut connection, "away") == before {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.stop();
    let outcome = tokio::time::timeout(LEASE * 6, waiter)
        .await
        .expect("a waiter must not hang while Redis is unreachable")
        .unwrap();
    assert!(outcome.expect_err("unreachable").is_unreachable());
    tokio::time::timeout(LEASE * 3, held.lost())
        .await
        .expect("the held lease is presumed lost");
}

/// A process idle for over a lease (its thread made no call meanwhile) queues a waiter on
/// the fast path, then Redis pauses for less than a lease: the waiter waits on, since the
/// call that queued it reached Redis; "unreachable for a whole lease" counts from there.
#[tokio::test]
async fn a_waiter_of_a_long_idle_process_outlives_a_short_outage() {
    let server = RedisServer::start();
    let url = server.url();
    let holder = open(&url, "idle").await;
    let held = holder.acquire().await.expect("acquire");
    // A short I/O timeout: each renewal during the pause fails within it.
    let idle = RedisSemaphore::builder(&url, "idle", 1)
        .lease(LEASE)
        .io_timeout(Duration::from_millis(200))
        .connect()
        .await
        .expect("connect");
    tokio::time::sleep(LEASE * 3 / 2).await;
    let mut connection = server.connection();
    let before = support::arrival(&mut connection, "idle");
    let waiter = tokio::spawn(async move { idle.acquire().await });
    while support::arrival(&mut connection, "idle") == before {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.pause();
    tokio::time::sleep(LEASE * 7 / 10).await;
    server.resume();
    // Released, or lost in the pause and expired: either way the waiter's turn comes.
    let _ = held.release().await;
    let permit = tokio::time::timeout(LEASE * 10, waiter)
        .await
        .expect("the waiter must not hang")
        .unwrap()
        .expect("granted, not failed: Redis was away for less than a lease");
    permit.release().await.expect("release");
}

#[tokio::test]
async fn connecting_to_nothing_fails_in_bounded_time() {
    let url = {
        let server = RedisServer::start();
        server.url()
    }; // stopped: nothing listens on that port now
    let started = Instant::now();
    let error = RedisSemaphore::builder(url, "nothing", 1)
        .io_timeout(IO_TIMEOUT)
        .connect()
        .await
        .expect_err("nothing listens");
    assert!(error.is_unreachable(), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_wrong_password_is_refused() {
    let server = RedisServer::start_with(&["--requirepass", "s3cret"]);
    let port = server.port;
    for url in [
        format!("redis://:wrong@127.0.0.1:{port}/"),
        format!("redis://127.0.0.1:{port}/"),
    ] {
        let error = RedisSemaphore::builder(url, "auth", 1)
            .connect()
            .await
            .expect_err("bad credentials");
        assert!(matches!(error, Error::Authentication(_)), "{error:?}");
    }
    let sem = RedisSemaphore::builder(format!("redis://:s3cret@127.0.0.1:{port}/"), "auth", 1)
        .lease(LEASE)
        .connect()
        .await
        .expect("the right password");
    drop(sem.acquire().await.expect("acquire"));
}

/// Collects what `MONITOR` shows: every command a client sends (commands run by scripts
/// are marked `lua` and are not round trips).
fn monitor(server: &RedisServer) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let mut connection = server.connection();
    connection
        .send_packed_command(&redis::cmd("MONITOR").get_packed_command())
        .unwrap();
    let _ok = connection.recv_response().unwrap();
    let sink = lines.clone();
    std::thread::spawn(move || {
        while let Ok(redis::Value::SimpleString(line)) = connection.recv_response() {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

fn client_commands(lines: &Mutex<Vec<String>>, from: usize) -> Vec<String> {
    lines.lock().unwrap()[from..]
        .iter()
        .filter(|line| !line.contains("[0 lua]"))
        .cloned()
        .collect()
}

/// The commands scripts ran inside Redis (not round trips, but each costs server time).
fn script_commands(lines: &Mutex<Vec<String>>, from: usize) -> Vec<String> {
    lines.lock().unwrap()[from..]
        .iter()
        .filter(|line| line.contains("[0 lua]"))
        .map(|line| line.split(" [0 lua] ").nth(1).unwrap_or(line).to_owned())
        .collect()
}

#[tokio::test]
async fn uncontended_acquire_and_release_are_one_round_trip_each() {
    let server = RedisServer::start();
    let url = server.url();
    // Create the semaphore and wait out its grace period with a short lease (the handle
    // stays alive: an idle handle sends nothing, a dropped one unsubscribes) ...
    let creator = open(&url, "trips").await;
    drop(creator.acquire().await.expect("first acquire"));
    // ... then count with a long one, so no renewal falls inside the window.
    let sem = RedisSemaphore::builder(&url, "trips", 1)
        .lease(Duration::from_secs(60))
        .connect()
        .await
        .unwrap();
    // The first call also opens the fast path's connection (`HELLO 3`, `SUBSCRIBE` to this
    // process's channel), after which the pub/sub thread leaves that channel: a one-time
    // cost, left out of the count.
    let warm = sem.acquire().await.expect("warm-up acquire");
    warm.release().await.expect("warm-up release");
    let lines = monitor(&server);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mark = lines.lock().unwrap().len();
    let permit = sem.acquire().await.expect("acquire");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let acquire = client_commands(&lines, mark);
    assert_eq!(acquire.len(), 1, "acquire sent {acquire:#?}");
    assert!(acquire[0].contains("\"EVALSHA\""), "{acquire:?}");
    // Inside Redis: TIME, HMGET config, EXISTS line, ZADD holders, HSET config.
    let inside = script_commands(&lines, mark);
    assert_eq!(inside.len(), 5, "the acquire script ran {inside:#?}");
    let mark = lines.lock().unwrap().len();
    permit.release().await.expect("release");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let release = client_commands(&lines, mark);
    assert_eq!(release.len(), 1, "release sent {release:#?}");
    assert!(release[0].contains("\"EVALSHA\""), "{release:?}");
    // Nobody waits: ZRANGE line (its front), ZREM holders, HINCRBY config; no clock, no
    // PUBLISH.
    let inside = script_commands(&lines, mark);
    assert_eq!(inside.len(), 3, "the release script ran {inside:#?}");
    drop(creator);
}

/// Contended, the common cases end in the scripts' first parts, before the shared prelude:
/// a process's first waiter, while every permit is in use, joins the line in one call of
/// 8 commands, and a release hands its permit to the next process in one call of 10.
#[tokio::test]
async fn a_contended_acquire_and_release_are_one_call_each_of_few_commands() {
    let server = RedisServer::start();
    let url = server.url();
    // Created with a short lease (its grace period), then used with long ones, so that no
    // renewal falls inside the window counted.
    let creator = open(&url, "joins").await;
    drop(creator.acquire().await.expect("first acquire"));
    let long = || {
        RedisSemaphore::builder(&url, "joins", 1)
            .lease(Duration::from_secs(60))
            .connect()
    };
    let holder = long().await.unwrap();
    let held = holder.acquire().await.expect("the permit");
    let waiter = long().await.unwrap();
    // Opens the waiter's fast connection first (a one-time cost, not counted).
    let busy = waiter.try_acquire().await;
    assert!(busy.is_err(), "the permit is held");
    let lines = monitor(&server);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mark = lines.lock().unwrap().len();
    let mut connection = server.connection();
    let before = support::arrival(&mut connection, "joins");
    let waiting = tokio::spawn(async move { waiter.acquire().await });
    while support::arrival(&mut connection, "joins") == before {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent: Vec<String> = client_commands(&lines, mark)
        .into_iter()
        .filter(|line| line.contains("\"EVALSHA\""))
        .collect();
    assert_eq!(sent.len(), 1, "the waiter sent {sent:#?}");
    // TIME, HMGET config, ZRANGEBYSCORE holders (an expired lease?), HGET clients (a place
    // already?), ZADD line, HSET clients, ZADD alive, HSET config.
    let inside: Vec<String> = script_commands(&lines, mark)
        .into_iter()
        .filter(|line| !line.contains("\"HGET\" \"prio-semaphore:{joins}:config\" \"arrival\""))
        .collect();
    assert_eq!(inside.len(), 8, "the acquire script ran {inside:#?}");
    let mark = lines.lock().unwrap().len();
    held.release().await.expect("release");
    let permit = waiting.await.unwrap().expect("granted");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = client_commands(&lines, mark);
    assert_eq!(sent.len(), 1, "the holder sent {sent:#?}");
    // ZRANGE line (its front), ZREM holders, TIME, HMGET config, ZSCORE alive (the next
    // process is alive), ZADD holders, ZREM line, HDEL clients, PUBLISH, HSET config.
    let inside = script_commands(&lines, mark);
    assert_eq!(inside.len(), 10, "the release script ran {inside:#?}");
    assert!(
        inside.iter().any(|c| c.contains("\"PUBLISH\"")),
        "{inside:#?}"
    );
    permit.release().await.expect("release");
    drop(creator);
}

/// How long past the I/O timeout an operation may take to report it: local work and
/// thread hand-offs (a few milliseconds when measured), with room for a loaded CI machine.
const SLACK: Duration = Duration::from_millis(250);

/// Runs `operation`, checks that it timed out within the I/O timeout plus the slack, and
/// returns how long it took.
async fn times_out<T: std::fmt::Debug>(
    what: &str,
    operation: impl Future<Output = Result<T, Error>>,
) -> Duration {
    let started = Instant::now();
    let error = operation.await.expect_err(what);
    let took = started.elapsed();
    assert!(error.is_timeout(), "{what}: {error:?}");
    assert!(error.to_string().contains("timed out"), "{what}: {error}");
    assert!(took < IO_TIMEOUT + SLACK, "{what} took {took:?}");
    println!(
        "{what}: timed out after {took:?} ({:.2}x the I/O timeout)",
        took.as_secs_f64() / IO_TIMEOUT.as_secs_f64()
    );
    took
}

#[test]
fn every_operation_against_a_paused_redis_times_out_within_the_io_timeout() {
    let server = RedisServer::start();
    let url = server.url();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let lease = Duration::from_secs(4);
    let (sem, held) = rt.block_on(async {
        let sem = open_with_lease(&url, "paused-timeouts", lease).await;
        drop(sem.acquire().await.expect("after the fresh server's grace"));
        let held = sem.acquire_many(1).await.expect("acquire");
        (sem, held)
    });
    let connect = || {
        RedisSemaphore::builder(&url, "paused-timeouts", 1)
            .lease(lease)
            .io_timeout(IO_TIMEOUT)
            .connect()
    };
    server.pause();
    rt.block_on(async {
        // On tokio: the fast path's own connection.
        times_out("acquire (tokio)", sem.acquire()).await;
        times_out("try_acquire (tokio)", async {
            sem.try_acquire().await.map_err(|e| match e {
                prio_semaphore_redis::TryAcquireError::Failed(e) => e,
                other => panic!("{other:?}"),
            })
        })
        .await;
        times_out("close (tokio)", sem.close()).await;
        times_out("connect (tokio)", connect()).await;
    });
    // Off tokio (smol, futures' executor, ...): everything goes through the thread.
    futures::executor::block_on(async {
        times_out("acquire (no runtime)", sem.acquire()).await;
        times_out("release (no runtime)", held.release()).await;
        times_out("connect (no runtime)", connect()).await;
    });
    server.resume();
    drop(sem);
}

/// Queues a waiter at priority 5 that records `label` in `order` when granted, and
/// returns once its acquire has reached Redis.
async fn queue(
    server: &RedisServer,
    sem: &RedisSemaphore,
    label: &'static str,
    order: &Arc<Mutex<Vec<&'static str>>>,
) -> tokio::task::JoinHandle<()> {
    let mut connection = server.connection();
    let before = support::arrival(&mut connection, "order-loss");
    let task = tokio::spawn({
        let (sem, order) = (sem.clone(), order.clone());
        async move {
            let permit = sem.acquire().priority(5).await.expect(label);
            order.lock().unwrap().push(label);
            permit.release().await.unwrap();
        }
    });
    while support::arrival(&mut connection, "order-loss") == before {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    task
}

/// Equal priorities keep their order across a data loss: a waiter queued before Redis
/// lost everything re-enters with its old arrival number, and every later arrival gets a
/// larger one (the server time is its floor).
#[tokio::test]
async fn equal_priorities_keep_their_order_across_a_data_loss() {
    let mut server = RedisServer::start();
    let url = server.url();
    // Long enough that the waiter keeps its place through the restart on a loaded machine.
    let lease = Duration::from_secs(3);
    let gate_sem = open_with_lease(&url, "order-loss", lease).await;
    let early_sem = open_with_lease(&url, "order-loss", lease).await;
    let gate = gate_sem.acquire().await.expect("gate");
    let order = Arc::new(Mutex::new(Vec::new()));
    let early = queue(&server, &early_sem, "early", &order).await;
    server.restart(); // empty: every key is gone, the arrival counter too
    let late_sem = open_with_lease(&url, "order-loss", lease).await;
    let late = queue(&server, &late_sem, "late", &order).await;
    drop(gate); // its lease is gone with the data; dropping it changes nothing
    tokio::time::timeout(Duration::from_secs(20), async {
        early.await.unwrap();
        late.await.unwrap();
    })
    .await
    .expect("both are granted after the grace period");
    assert_eq!(*order.lock().unwrap(), ["early", "late"]);
}

/// A new semaphore on a server that has been up for longer than a lease grants at once:
/// no grace period, since no holder of a lost lease can exist. On a server that started
/// less than a lease ago it waits only until one lease after the server's start.
#[tokio::test]
async fn a_new_semaphore_grants_at_once() {
    let server = RedisServer::start();
    let url = server.url();
    let lease = Duration::from_secs(1);
    // Fresh server: the grace ends one lease after its start, not one lease from now.
    let fresh = open_with_lease(&url, "new-on-fresh", lease).await;
    let mut connection = server.connection();
    let grace_until: i64 = redis::cmd("HGET")
        .arg(key("new-on-fresh", "config"))
        .arg("grace_until")
        .query(&mut connection)
        .unwrap();
    let (now_s, now_us): (i64, i64) = redis::cmd("TIME").query(&mut connection).unwrap();
    let now_ms = now_s * 1000 + now_us / 1000;
    assert!(
        grace_until <= now_ms + lease.as_millis() as i64,
        "grace {grace_until} now {now_ms}"
    );
    drop(fresh);
    while server.uptime() < 2 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = Instant::now();
    let sem = open_with_lease(&url, "new-on-running", lease).await;
    let permit = sem.acquire().await.expect("first acquire");
    let first = started.elapsed();
    let grace_until: i64 = redis::cmd("HGET")
        .arg(key("new-on-running", "config"))
        .arg("grace_until")
        .query(&mut connection)
        .unwrap();
    let (now_s, now_us): (i64, i64) = redis::cmd("TIME").query(&mut connection).unwrap();
    assert!(grace_until < now_s * 1000 + now_us / 1000 - lease.as_millis() as i64 / 2);
    println!("a new semaphore: connect and first acquire took {first:?} (lease {lease:?})");
    drop(permit);
}

#[tokio::test]
async fn a_name_redis_or_the_os_cannot_take_is_a_config_error() {
    let server = RedisServer::start();
    let error = RedisSemaphore::builder(server.url(), "nul\0name", 1)
        .connect()
        .await
        .expect_err("a NUL byte");
    assert!(matches!(error, Error::InvalidConfig(_)), "{error:?}");
    assert!(error.to_string().contains("NUL"), "{error}");
}
