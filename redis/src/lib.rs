//! A priority semaphore shared by many processes, on Redis.
//!
//! [`prio_semaphore`] serves waiters by priority inside one process. When a service runs
//! as many replicas, a limit of 4 per process becomes 4 × replicas against a resource
//! that allows 4. This crate keeps one global limit in Redis with the same rules: smaller
//! priorities first, equal priorities in order of arrival **across all processes**, no
//! barging, whole weighted grants without priority inversion, and `close`.
//!
//! ```no_run
//! use prio_semaphore_redis::RedisSemaphore;
//!
//! # async fn demo() -> Result<(), prio_semaphore_redis::Error> {
//! let gpu = RedisSemaphore::builder("redis://127.0.0.1:6379/", "gpu-pool", 3)
//!     .connect()
//!     .await?;
//! let realtime = gpu.acquire().priority(0).await?; // ahead of every batch waiter
//! let batch = gpu.acquire_many(2).priority(10).await?;
//! assert!(realtime.fencing_token() < batch.fencing_token());
//! # Ok(()) }
//! ```
//!
//! # Ordering rules (the core crate's table, across processes)
//!
//! | situation | who is served first |
//! |---|---|
//! | different priorities | the smaller value |
//! | equal priorities | the earlier arrival: a global number from one counter in Redis, taken when the request joins the line (or is granted at once) |
//! | plain `acquire()` | the ambient priority of [`prio_semaphore::with_priority`], else `0` |
//! | `try_acquire` while anyone waits | nobody barges: it fails |
//! | a large request at the front | it waits until enough permits are free; those behind it wait too |
//! | a more urgent request arrives behind it | it goes first if the free permits suffice for it |
//!
//! Permits are never set aside for a waiting large request, so a later, more urgent
//! request is never held back by them (no priority inversion through partial grants).
//!
//! # Design
//!
//! **One script per state change.** Acquire, release, renewal, re-entering the line and
//! close are each one Lua script, run atomically by Redis with the server's `TIME`.
//! Uncontended, an acquire is one `EVALSHA` and a release is one `EVALSHA`; inside Redis
//! the acquire runs 5 commands (`TIME`, `HMGET`, `EXISTS`, `ZADD`, `HSET`) and the
//! release 3 (`ZREM`, `HINCRBY`, `EXISTS`: no clock, nothing read or published when
//! nobody waits). Every key of a semaphore has the hash tag `{name}` (one Redis Cluster
//! slot); the scripts read only `KEYS` and `ARGV`, never code built from input.
//!
//! **Keys** (`prio-semaphore:{name}:…`): `config` (limit, permits in use, closed, grace,
//! fencing counter, arrival counter), `holders` (lease → expiry, where a lease is the
//! string `member process permits token`: it names its holder, so only that process can
//! release or renew it), `line` (the global line, one member per process), `entries`
//! (line member → process, permits, "more behind"), `clients` (process → its line
//! member) and `alive` (process → expiry of its place); pub/sub channel `events`
//! announces closing, and `events:<client>` each grant to that process. Processes built
//! with an older layout (a separate `held` hash and `arrival` counter) must not share a
//! semaphore with these.
//!
//! **The line holds processes, not waiters.** Each waiter gets a *key*: its priority as
//! 16 order-preserving hex digits followed by its arrival number as 16 hex digits, so
//! that byte order is (priority, arrival) order; the line is a sorted set with all scores
//! 0, which Redis orders by those bytes. Each process keeps its waiters in a map ordered by
//! the same keys and puts only its best waiter in the line. A release grants the front of
//! the line while it fits, one process per step, so its work grows with the number of
//! processes and permits, not with the number of waiters: 10,000 waiters in 16 processes
//! are 16 line members.
//!
//! **Barriers.** When a process's entry is granted and that process has more waiters,
//! its entry becomes a *barrier* with the same key until the process puts its next best
//! waiter in line (it learns of the grant by pub/sub and answers with one call). Nothing
//! behind a barrier is granted meanwhile, because that next waiter may be better than
//! anyone behind it.
//!
//! # Why the global order is exact
//!
//! Write `W_p` for the waiters of process `p` and `L_p` for its line member. Invariant:
//! *every waiter of `p` has a key ≥ `L_p`, and if `L_p` is an entry (not a barrier) it is
//! a waiter of `p`*. It holds after every script:
//!
//! * an arrival `a` at `p` runs one script that takes its arrival number and sets
//!   `L_p := min(L_p, a)`, atomically;
//! * granting entry `L_p = min W_p` leaves a barrier with the same key if `p` had more
//!   waiters (all of them > it), and removes `L_p` only if `p` had none ("more" is set by
//!   every script that adds a second waiter, and by the process when it re-enters);
//! * re-entering sets `L_p` to the least key the process knows, which is ≤ every key in
//!   `W_p` (the process may not yet have heard of a grant, which only shrinks `W_p`);
//!   a re-entry naming an already granted waiter changes nothing.
//!
//! So the front of the line has the least key among all line members, hence ≤ every
//! waiting key in every process. A script grants only the front, only if it is an entry
//! (a real waiter) and only if it fits; an arriving acquire is granted at once only if
//! its key is below the front (a `try_acquire` only if the line is empty). Either way the
//! waiter granted has the least key of all waiters, which is the core crate's rule with
//! the global arrival number as the tiebreak. ∎
//!
//! The invariant can only break when a process's place *expires* (it could not reach
//! Redis for a whole lease); its waiters then fail with [`Error::Unreachable`].
//!
//! # Leases and fencing
//!
//! * A grant is a lease until server time + lease; the process renews all its leases in
//!   one call every lease / 3 while the permits live. A holder killed with `kill -9`
//!   gives its permits back within one lease (the next script to run after that, at the
//!   latest the waiters' poll every lease / 3, frees them and grants the line).
//! * A waiter's place in the line is kept alive the same way: a killed waiter's place is
//!   dropped within one lease.
//! * Every grant carries a fencing token, strictly greater than every earlier one: the
//!   counter is never below the server time in microseconds, so it keeps growing even if
//!   Redis loses the counter (restart without persistence, restore of an old snapshot).
//! * A holder learns that its lease is lost ([`RedisPermit::is_lost`],
//!   [`RedisPermit::lost`]) when Redis says so, or when it could not renew for a whole
//!   lease measured from the send time of its last successful renewal, which is never
//!   later than the server's expiry (up to clock rate differences).
//!
//! # Failure modes
//!
//! * **Redis unreachable:** connecting and each reply are bounded by
//!   [`Builder::io_timeout`]; an acquire fails with [`Error::Unreachable`], a queued
//!   waiter fails after one lease without contact, held permits become lost. A call whose
//!   reply was lost may have granted: that lease is simply never renewed and expires;
//!   nothing is granted twice, because Redis, not the client, decides every grant.
//! * **Redis restarts without its data:** the scripts find no state and recreate it with a
//!   *grace period* of one lease during which nothing is granted. Every old holder's next
//!   renewal (within lease / 3) reports its lease lost, so old holders learn it before
//!   any new grant. The cost: a brand-new semaphore also waits one lease before its first
//!   grant, since the two cases look the same.
//! * **Persistence:** with AOF and `appendfsync always`, a restart loses nothing. With
//!   `everysec` up to a second of writes can vanish; the grace period only starts when
//!   the *whole* state is missing, so a partly rolled-back state can grant a permit that
//!   a holder of a vanished grant still uses. Fencing tokens still increase (they follow
//!   the server clock), so a fenced resource rejects the older holder. RDB snapshots only
//!   are the same with minutes instead of a second.
//! * **Pub/sub is at most once:** a missed grant message is found by the poll every lease
//!   / 3, and the pub/sub thread asks for a poll whenever it resubscribes.
//!
//! # Any executor
//!
//! Each handle runs two threads with blocking connections: one owns every queueing
//! decision, renewals and polls (so this process's view of its place in the line is never
//! raced by its own calls), the other listens to pub/sub. Waiting futures are woken
//! through their `Waker`, so tokio, smol, async-std and `futures::executor` all work.
//!
//! With the `tokio` feature (default), a caller on a tokio runtime sends its uncontended
//! acquire and its release itself, over an async connection driven by its runtime: two
//! thread wake-ups fewer per call. Such a *fast attempt* is granted by the same rule as
//! any arrival (only below the front of the line) and otherwise leaves no trace: it does
//! not join the line and takes no arrival number; the request then arrives through the
//! thread. The proof above therefore covers it unchanged.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `tokio` | yes | the fast path on tokio runtimes |
//! | `tls` | no | `rediss://` through rustls with the `ring` provider; [`Builder::tls_root_certificate`](Builder#method.tls_root_certificate) |
#![warn(missing_docs, missing_debug_implementations)]
#![forbid(unsafe_code)]

mod acquire;
mod agent;
mod builder;
mod command;
mod error;
#[cfg(feature = "tokio")]
mod fast;
#[cfg(feature = "tokio")]
mod fast_link;
mod lease_state;
mod leases;
mod link;
mod listener;
mod names;
mod permit;
mod scripts;
mod semaphore;
mod shared;
mod slot;
mod timer;
mod topology;

pub use acquire::{Acquire, Close, TryAcquire};
pub use builder::{Builder, Connect, DEFAULT_IO_TIMEOUT, DEFAULT_LEASE, MIN_LEASE};
pub use error::{AcquireError, Error, TryAcquireError};
pub use permit::{Lost, RedisPermit};
pub use semaphore::RedisSemaphore;
