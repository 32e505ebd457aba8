//! The ordering rules, weighted requests, try_acquire, close, fencing and lost leases,
//! within one process, against a real `redis-server`.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prio_semaphore_redis::{Error, RedisSemaphore};
use support::{arrival, key, RedisServer};

const LEASE: Duration = Duration::from_millis(900);

async fn open(server: &RedisServer, name: &str, permits: u32) -> RedisSemaphore {
    RedisSemaphore::builder(server.url(), name, permits)
        .lease(LEASE)
        .io_timeout(Duration::from_secs(2))
        .connect()
        .await
        .expect("connect")
}

/// Follows a semaphore's arrival number (which takes the server time in microseconds as
/// its floor, so it is not a count): each `next` waits until one more acquire has reached
/// Redis. The tests make their acquires one at a time, so each change is one arrival.
struct Arrivals {
    connection: redis::Connection,
    name: &'static str,
    last: u64,
}

impl Arrivals {
    fn new(server: &RedisServer, name: &'static str) -> Self {
        let mut connection = server.connection();
        let last = arrival(&mut connection, name);
        Arrivals {
            connection,
            name,
            last,
        }
    }

    async fn next(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = arrival(&mut self.connection, self.name);
            if now != self.last {
                self.last = now;
                return;
            }
            assert!(Instant::now() < deadline, "an arrival never reached Redis");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[tokio::test]
async fn waiters_are_served_by_priority_then_arrival() {
    let server = RedisServer::start();
    let sem = open(&server, "order", 1).await;
    let gate = sem
        .acquire()
        .await
        .expect("first acquire (after the grace period)");
    let order = Arc::new(Mutex::new(Vec::new()));
    let plan = [("a", 5), ("b", 1), ("c", 3), ("d", 1), ("e", 5), ("f", 0)];
    let mut tasks = Vec::new();
    let mut arrivals = Arrivals::new(&server, "order");
    for (label, priority) in plan {
        let (sem, order) = (sem.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            let permit = sem.acquire().priority(priority).await.expect("acquire");
            order.lock().unwrap().push(label);
            drop(permit);
        }));
        arrivals.next().await; // one at a time: arrival order known
    }
    drop(gate);
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), ["f", "b", "d", "c", "a", "e"]);
}

#[tokio::test]
async fn try_acquire_never_barges_and_large_requests_do_not_invert_priority() {
    let server = RedisServer::start();
    let sem = open(&server, "weighted", 3).await;
    let one = sem
        .acquire()
        .priority(5)
        .await
        .expect("after the grace period");
    // A large request at priority 5 waits for 3 permits while 2 are free.
    let mut arrivals = Arrivals::new(&server, "weighted");
    let big = tokio::spawn({
        let sem = sem.clone();
        async move { sem.acquire_many(3).priority(5).await }
    });
    arrivals.next().await;
    // try_acquire does not take the 2 free permits past the waiting request ...
    let refused = sem.try_acquire().await.expect_err("someone waits");
    assert!(refused.is_no_permits(), "{refused}");
    // ... nor does an equal-priority newcomer ...
    let equal = tokio::time::timeout(Duration::from_millis(300), sem.acquire().priority(5)).await;
    assert!(
        equal.is_err(),
        "an equal priority must queue behind the large request"
    );
    // ... but a more urgent request takes a free permit at once: nothing is set aside.
    let urgent = tokio::time::timeout(Duration::from_secs(5), sem.acquire().priority(0))
        .await
        .expect("an urgent request must not wait behind the large one")
        .expect("acquire");
    drop(urgent);
    drop(one);
    let big = big
        .await
        .unwrap()
        .expect("the large request gets all 3 permits");
    assert_eq!(big.num_permits(), 3);
    let too_many = sem.acquire_many(4).await.expect_err("4 > limit");
    assert!(too_many.is_too_many_permits());
    assert!(matches!(
        too_many,
        Error::TooManyPermits {
            requested: 4,
            limit: 3
        }
    ));
}

#[tokio::test]
async fn fencing_tokens_strictly_increase() {
    let server = RedisServer::start();
    let sem = open(&server, "fence", 2).await;
    let mut last = 0;
    for _ in 0..20 {
        let permit = sem.acquire().await.expect("acquire");
        assert!(permit.fencing_token() > last, "tokens must grow");
        last = permit.fencing_token();
        permit.release().await.expect("release");
    }
    // A second handle (another process, as far as Redis knows) continues the sequence.
    let other = open(&server, "fence", 2).await;
    let permit = other.acquire().await.expect("acquire");
    assert!(permit.fencing_token() > last);
}

#[tokio::test]
async fn a_lease_removed_from_redis_is_reported_lost() {
    let server = RedisServer::start();
    let sem = open(&server, "lost", 1).await;
    let permit = sem.acquire().await.expect("acquire");
    assert!(!permit.is_lost());
    let mut connection = server.connection();
    redis::cmd("DEL")
        .arg(key("lost", "holders"))
        .exec(&mut connection)
        .unwrap();
    tokio::time::timeout(LEASE * 4, permit.lost())
        .await
        .expect("the next renewal reports the loss");
    assert!(permit.is_lost());
}

#[tokio::test]
async fn close_fails_waiters_and_later_acquires_but_keeps_held_permits() {
    let server = RedisServer::start();
    let sem = open(&server, "close", 1).await;
    let held = sem.acquire().await.expect("acquire");
    let mut arrivals = Arrivals::new(&server, "close");
    let waiter = tokio::spawn({
        let sem = sem.clone();
        async move { sem.acquire().await }
    });
    arrivals.next().await;
    let other_process = open(&server, "close", 1).await;
    other_process.close().await.expect("close");
    let failed = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("the waiter hears of the close")
        .unwrap()
        .expect_err("closed");
    assert!(failed.is_closed(), "{failed}");
    assert!(sem.acquire().await.unwrap_err().is_closed());
    let tried = sem.try_acquire().await.unwrap_err();
    assert!(tried.is_closed(), "{tried}");
    assert!(!held.is_lost());
    held.release().await.expect("a held permit stays valid");
}

#[tokio::test]
async fn a_dropped_waiter_leaves_the_line() {
    let server = RedisServer::start();
    let sem = open(&server, "cancel", 1).await;
    let held = sem.acquire().await.expect("acquire");
    let timed_out =
        tokio::time::timeout(Duration::from_millis(200), sem.acquire().priority(0)).await;
    assert!(timed_out.is_err());
    let mut arrivals = Arrivals::new(&server, "cancel");
    let next = tokio::spawn({
        let sem = sem.clone();
        async move { sem.acquire().priority(9).await }
    });
    arrivals.next().await;
    drop(held);
    let next = tokio::time::timeout(Duration::from_secs(5), next)
        .await
        .expect("the cancelled waiter must not keep the permit")
        .unwrap()
        .expect("acquire");
    let mut connection = server.connection();
    let held: usize = redis::cmd("ZCARD")
        .arg(key("cancel", "holders"))
        .query(&mut connection)
        .unwrap();
    assert_eq!(held, 1, "only the live waiter holds a lease");
    drop(next);
}

#[tokio::test]
async fn the_ambient_priority_of_the_core_crate_applies() {
    let server = RedisServer::start();
    let sem = open(&server, "ambient", 1).await;
    let gate = sem.acquire().await.expect("acquire");
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    let mut arrivals = Arrivals::new(&server, "ambient");
    for (label, priority) in [("batch", 10i64), ("realtime", -1)] {
        let (sem, order) = (sem.clone(), order.clone());
        tasks.push(tokio::spawn(prio_semaphore::with_priority(
            priority,
            async move {
                let _permit = sem.acquire().await.expect("acquire");
                order.lock().unwrap().push(label);
            },
        )));
        arrivals.next().await;
    }
    drop(gate);
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), ["realtime", "batch"]);
}

#[test]
fn smol_executor_works_too() {
    let server = RedisServer::start();
    smol::block_on(async {
        let sem = RedisSemaphore::builder(server.url(), "smol", 2)
            .lease(LEASE)
            .connect()
            .await
            .expect("connect");
        let a = sem.acquire().await.expect("acquire");
        let b = sem.acquire().priority(3).await.expect("acquire");
        assert!(sem.try_acquire().await.unwrap_err().is_no_permits());
        let waiter = smol::spawn({
            let sem = sem.clone();
            async move { sem.acquire_many(2).await }
        });
        drop(a);
        b.release().await.expect("release");
        let both = waiter.await.expect("acquire_many");
        assert_eq!(both.num_permits(), 2);
    });
}

#[tokio::test]
async fn bad_configuration_is_a_typed_error() {
    let server = RedisServer::start();
    let bad_name = RedisSemaphore::builder(server.url(), "a{b}", 1)
        .connect()
        .await;
    assert!(matches!(bad_name, Err(Error::InvalidConfig(_))));
    let zero = RedisSemaphore::builder(server.url(), "zero", 0)
        .connect()
        .await;
    assert!(matches!(zero, Err(Error::InvalidConfig(_))));
    let bad_url = RedisSemaphore::builder("http://x", "x", 1).connect().await;
    assert!(matches!(bad_url, Err(Error::InvalidConfig(_))));
    let _three = open(&server, "limit", 3).await;
    let four = RedisSemaphore::builder(server.url(), "limit", 4)
        .lease(LEASE)
        .connect()
        .await;
    assert!(
        matches!(
            four,
            Err(Error::LimitMismatch {
                requested: 4,
                existing: 3
            })
        ),
        "{four:?}"
    );
}

#[tokio::test]
async fn many_waiters_of_one_process_are_one_line_entry_and_served_in_order() {
    let server = RedisServer::start();
    let sem = open(&server, "many", 1).await;
    let gate = sem.acquire().await.expect("gate (after the grace period)");
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    let count = 200u64;
    let mut arrivals = Arrivals::new(&server, "many");
    for i in 0..count {
        let priority = ((i * 7919) % 13) as i64; // a fixed shuffle of 13 priority classes
        let (sem, order) = (sem.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            let permit = sem.acquire().priority(priority).await.expect("acquire");
            order.lock().unwrap().push((priority, i));
            drop(permit);
        }));
        arrivals.next().await;
    }
    // 200 waiters, one member in the global line: a release never scans waiters.
    let mut connection = server.connection();
    let line: usize = redis::cmd("ZCARD")
        .arg(key("many", "line"))
        .query(&mut connection)
        .unwrap();
    let clients: usize = redis::cmd("HLEN")
        .arg(key("many", "clients"))
        .query(&mut connection)
        .unwrap();
    assert_eq!((line, clients), (1, 1));
    drop(gate);
    for task in tasks {
        task.await.unwrap();
    }
    let order = order.lock().unwrap().clone();
    let mut expected = order.clone();
    expected.sort(); // (priority, arrival)
    assert_eq!(order, expected);
    assert_eq!(order.len() as u64, count);
}

#[tokio::test]
async fn priorities_of_every_integer_type_saturate_like_the_core_crate() {
    let server = RedisServer::start();
    let sem = open(&server, "integers", 1).await;
    let gate = sem.acquire().await.expect("gate (after the grace period)");
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    let mut arrivals = Arrivals::new(&server, "integers");
    for label in ["u64::MAX", "i64::MAX", "3u8"] {
        let (sem, order) = (sem.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            let acquire = match label {
                "u64::MAX" => sem.acquire().priority(u64::MAX),
                "i64::MAX" => sem.acquire().priority(i64::MAX),
                _ => sem.acquire().priority(3u8),
            };
            let _permit = acquire.await.expect("acquire");
            order.lock().unwrap().push(label);
        }));
        arrivals.next().await;
    }
    drop(gate);
    for task in tasks {
        task.await.unwrap();
    }
    // u64::MAX saturates to i64::MAX: equal to the next one, so arrival decides.
    assert_eq!(*order.lock().unwrap(), ["3u8", "u64::MAX", "i64::MAX"]);
}
