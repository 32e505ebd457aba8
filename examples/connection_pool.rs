//! A database-style connection pool whose checkouts are gated by the semaphore, with
//! interactive queries served ahead of a reporting job.
//!
//! The `DatabasePool` of the second use case in the article “Semaphores in Python Async
//! Programming: Real-World Use Cases”: a pool of `POOL_SIZE` (fake) connections on which a
//! query takes 15 ms. The semaphore holds one permit per connection, so a checkout first
//! waits for a permit at its priority and then always finds an idle connection; returning
//! the connection happens before the permit is released. A reporting job queues 40 queries
//! at once (priority 10); 6 interactive queries (priority 0) arrive while it runs. It runs
//! on async-std, to show that the semaphore needs nothing from tokio.
//!
//! What to look for: in the checkout log each interactive query (`I`) gets the very next
//! connection returned, ahead of the report queries (`r`) queued long before it; the
//! interactive queries wait less than one query time; the pool never lends out more
//! connections than it has.
//!
//! Run it with `cargo run --example connection_pool`.

mod common;

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_std::task;
use common::Latencies;
use prio_semaphore::{Permit, Semaphore};

const POOL_SIZE: usize = 3;
const INTERACTIVE: i64 = 0;
const REPORT: i64 = 10;

/// A fake database connection.
struct Connection {
    id: usize,
}

impl Connection {
    async fn query(&mut self, sql: &str) -> String {
        task::sleep(Duration::from_millis(15)).await;
        format!("{sql} -> 1 row (connection {})", self.id)
    }
}

struct Pool {
    permits: Semaphore,
    idle: Mutex<Vec<Connection>>,
    /// One letter per checkout, in order.
    log: Mutex<String>,
}

impl Pool {
    fn new(size: usize) -> Self {
        Self {
            permits: Semaphore::new(size),
            idle: Mutex::new((0..size).map(|id| Connection { id }).collect()),
            log: Mutex::default(),
        }
    }

    /// Waits for a connection, most urgent `priority` first.
    async fn checkout(&self, priority: i64) -> PooledConnection<'_> {
        let permit = self
            .permits
            .acquire()
            .priority(priority)
            .await
            .expect("the pool never closes its semaphore");
        let connection = self.idle.lock().unwrap().pop();
        let connection = connection.expect("a permit guarantees an idle connection");
        let class = if priority == INTERACTIVE { 'I' } else { 'r' };
        self.log.lock().unwrap().push(class);
        PooledConnection {
            pool: self,
            connection: Some(connection),
            _permit: permit,
        }
    }
}

/// A checked-out connection; dropping it returns the connection, then the permit.
struct PooledConnection<'a> {
    pool: &'a Pool,
    connection: Option<Connection>,
    _permit: Permit<'a>,
}

impl Deref for PooledConnection<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.connection.as_ref().unwrap()
    }
}

impl DerefMut for PooledConnection<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.connection.as_mut().unwrap()
    }
}

impl Drop for PooledConnection<'_> {
    fn drop(&mut self) {
        // Runs before the fields are dropped: the connection is back before the permit.
        let connection = self.connection.take().unwrap();
        self.pool.idle.lock().unwrap().push(connection);
    }
}

/// Checks out a connection at `priority`, runs `sql`; returns how long the checkout waited.
async fn run_query(pool: Arc<Pool>, sql: String, priority: i64) -> Duration {
    let asked = Instant::now();
    let mut connection = pool.checkout(priority).await;
    let waited = asked.elapsed();
    let result = connection.query(&sql).await;
    assert!(result.ends_with(')'));
    waited
}

/// Awaits the queries' tasks; how long each waited for its connection.
async fn waits(tasks: Vec<task::JoinHandle<Duration>>) -> Latencies {
    let mut waited = Vec::new();
    for task in tasks {
        waited.push(task.await);
    }
    Latencies::new(waited)
}

#[async_std::main]
async fn main() {
    let pool = Arc::new(Pool::new(POOL_SIZE));
    let started = Instant::now();
    let report: Vec<_> = (0..40)
        .map(|i| {
            let sql = format!("SELECT sum(total) FROM orders WHERE day = {i}");
            task::spawn(run_query(pool.clone(), sql, REPORT))
        })
        .collect();
    let mut interactive = Vec::new();
    for user in 0..6 {
        task::sleep(Duration::from_millis(37)).await;
        let sql = format!("SELECT * FROM users WHERE id = {user}");
        interactive.push(task::spawn(run_query(pool.clone(), sql, INTERACTIVE)));
    }
    let interactive = waits(interactive).await;
    let report = waits(report).await;

    println!(
        "46 queries on a pool of {POOL_SIZE} connections in {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    println!("checkout order: {}", pool.log.lock().unwrap());
    println!("time waiting for a connection:");
    println!("  interactive (priority {INTERACTIVE:>2}): {interactive}");
    println!("  report      (priority {REPORT:>2}): {report}");
    assert_eq!(pool.idle.lock().unwrap().len(), POOL_SIZE);
    assert_eq!(pool.permits.available_permits(), POOL_SIZE);
    println!("all {POOL_SIZE} connections and permits are back in the pool");
}
