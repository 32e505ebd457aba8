//! Redis going away, coming back empty, refusing credentials; and the round trips of an
//! uncontended acquire and release, counted by the server.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prio_semaphore_redis::{Error, RedisSemaphore};
use support::RedisServer;

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
    let lines = monitor(&server);
    tokio::time::sleep(Duration::from_millis(200)).await;
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
    // Nobody waits: ZREM holders, HINCRBY config, EXISTS line; no clock, no PUBLISH.
    let inside = script_commands(&lines, mark);
    assert_eq!(inside.len(), 3, "the release script ran {inside:#?}");
    drop(creator);
}
