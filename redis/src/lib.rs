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
//! close are each one Lua script (`src/lua/`: each script's first part, the shared
//! `prelude.lua`, its body; the prelude's header is the scripts' contract: keys,
//! arguments, reply), run atomically by Redis with the server's `TIME`. Uncontended, an
//! acquire is one `EVALSHA` and a release is one `EVALSHA`; inside Redis the acquire runs
//! 5 commands (`TIME`, `HMGET`, `EXISTS`, `ZADD`, `HSET`) and the release 3 (`ZRANGE`
//! of the line's front, `ZREM`, `HINCRBY`: no clock, nothing else read or published when
//! nobody waits). Contended, the common cases also end in the scripts' first parts: a
//! process's first waiter joins the line in 8 commands, and a release hands its permit
//! to the next process in 10. Every key
//! of a semaphore has the hash tag `{name}` (one Redis Cluster slot); the scripts read
//! only `KEYS` and `ARGV`, never code built from input.
//!
//! **Keys** (`prio-semaphore:{name}:…`): `config` (limit, permits in use, closed, grace,
//! fencing counter, arrival counter), `holders` (lease → expiry, where a lease is the
//! string `member process permits token`: it names its holder, so only that process can
//! release or renew it), `line` (the global line, one entry per process: the string
//! `member process permits more`, so the front is read whole in one command), `clients`
//! (process → its line entry) and `alive` (process → expiry of its place); pub/sub
//! channel `events` announces closing, and `events:<client>` each grant to that process.
//! Processes built with an older layout must not share a semaphore with these (the
//! scripts refuse a lease or a line entry in an older form with an error rather than
//! miscount it).
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
//! Arrival numbers only grow, across a loss of Redis's data too: each is the next value
//! of the counter and never below the server time in microseconds, so a waiter queued
//! before the loss (which re-enters with its old key) stays ahead of every later arrival.
//! The invariant can only break when a process's place *expires* (it could not reach
//! Redis for a whole lease); its waiters then fail with [`Error::Unreachable`] or
//! [`Error::TimedOut`].
//!
//! # Leases and fencing
//!
//! A grant is a lease until server time + lease; the process renews all its leases (and
//! its place in the line) in one call every lease / 3 while the permits live.
//!
//! **The holder knows first.** A permit counts its lease on this process's monotonic clock
//! from the *send* time of the last renewal that succeeded, less an allowance for clock
//! drift, as Redlock's validity time does (lease − elapsed − drift):
//!
//! ```text
//! valid_until = sent + lease − (lease / 100 + 2 ms)
//! ```
//!
//! The script that renewed the lease ran after the call was sent, so Redis keeps the
//! lease at least until `sent + lease` on a clock running at the rate of ours; the
//! allowance covers clocks whose rates differ by up to 1 % (NTP keeps them within
//! 0.05 %), and 2 ms for the server's millisecond expiries. [`RedisPermit::is_lost`] compares
//! [`RedisPermit::valid_until`] with the clock itself at every call, and
//! [`RedisPermit::lost`] completes at that instant on any executor (the crate has its own
//! timer thread): neither waits for the background thread, which may be blocked in a call,
//! retrying, or starved of CPU. So **when Redis can first grant the permit to anyone
//! else, its old holder already says lost**, with at least the allowance to spare. A grant
//! heard of by pub/sub is mapped onto this process's clock the same way, through the
//! server time of this process's latest reply. The bound assumes that the server's clock
//! is not stepped (every lease assumes it), and in a cluster that the nodes' clocks agree
//! within the allowance. A holder that is itself paused past its deadline (a long GC
//! pause, `SIGSTOP`) and acts before checking is what the fencing token is for.
//!
//! * Every grant carries a fencing token, strictly greater than every earlier one: the
//!   counter is never below the server time in microseconds, so it keeps growing even if
//!   Redis loses the counter (restart without persistence, restore of an old snapshot).
//!   Give it to the resource, and have it reject tokens lower than it has seen.
//! * A holder killed with `kill -9` gives its permits back within one lease and a third:
//!   after the expiry, the next arrival that does not fit in the free permits, or at the
//!   latest another process's renewal (every lease / 3 while it waits or holds), frees
//!   them and grants the line.
//! * A waiter's place in the line lives one lease after its last renewal. A grant to
//!   another process's waiter lasts until that process's place would have expired (its
//!   next renewal, due before then, claims it: a renewal also claims every grant the
//!   process had not heard of), so a process that died in line holds up the line for about
//!   one lease in all, never a lease for its place and another for its grant.
//!
//! # Failure modes
//!
//! * **Redis unreachable or not answering:** connecting, an acquire not yet in line, a
//!   `try_acquire`, a release awaited with [`RedisPermit::release`] and [`close`] each
//!   fail within [`Builder::io_timeout`] plus a few milliseconds of local work (measured:
//!   1.00–1.05 × on tokio and off it, `tests/failures.rs`) with [`Error::TimedOut`] (or
//!   [`Error::Unreachable`] when the connection is refused). A queued waiter fails after
//!   one lease without contact; held permits become lost at their deadline. A call whose
//!   reply was lost may have granted: that lease is never renewed and expires; nothing is
//!   granted twice, because Redis, not the client, decides every grant.
//! * **Redis loses its data** (a restart without persistence, a deletion, an eviction):
//!   the scripts find no state and recreate it, with a *grace period* during which nothing
//!   is granted, so that every surviving holder is told first (its next renewal, within
//!   lease / 3, reports its lease lost). The grace lasts only as long as a lost lease can
//!   still be believed: until one lease after the server's start (a restart is the only
//!   loss a newcomer can suspect), or until one lease from now when the recreating process
//!   had seen the semaphore before (then the loss may have been a deletion). **A new
//!   semaphore therefore grants at once** on a server that has been up for longer than a
//!   lease. The grace uses the lease of the process that recreates the state, so every
//!   process of one semaphore should use the same lease. A deletion or an eviction that a
//!   process which never saw the semaphore notices first is not recognised: run Redis
//!   with `maxmemory-policy noeviction` (or a `volatile-*` policy), and delete a
//!   semaphore's keys only when nobody uses it.
//! * **Persistence:** with AOF and `appendfsync always`, a restart loses nothing. With
//!   `everysec` up to a second of writes can vanish; the grace period only starts when
//!   the *whole* state is missing, so a partly rolled-back state can grant a permit that
//!   a holder of a vanished grant still uses. Fencing tokens still increase (they follow
//!   the server clock), so a fenced resource rejects the older holder. RDB snapshots only
//!   are the same with minutes instead of a second.
//! * **Failover** to a replica is asynchronous replication, the `everysec` case (a
//!   coordinated `CLUSTER FAILOVER` loses nothing).
//! * **Pub/sub is at most once:** a missed grant message is found by the poll every lease
//!   / 3, and the pub/sub thread asks for a poll whenever it subscribes again, including
//!   when it takes the process's channel back from a fast-path connection that went.
//!
//! # Redis Cluster
//!
//! The URL of any node of a cluster works: `connect` finds out that it is a cluster node
//! and then sends every script through redis-rs's cluster client, which routes it to the
//! node that owns the semaphore's slot and follows `MOVED` and `ASK`, so the semaphore
//! keeps working through a resharding of its slot and a failover (`tests/faults.rs` does
//! both under load). Each call's attempts (redirects, retries while the slot migrates)
//! share its I/O budget. Pub/sub needs no routing: a `PUBLISH` reaches every node of a
//! cluster, so the pub/sub thread listens on any node it can reach and moves to the next
//! when its node goes away. In a cluster every call goes through the semaphore's thread
//! (no fast path).
//!
//! # Any executor
//!
//! Each handle runs two threads with blocking connections: one re-enters the line and
//! queues waiters behind others of the process, renews and polls; the other listens to
//! pub/sub and hands each grant straight to its waiter. One more thread per process keeps
//! the crate's timers. Waiting futures are woken through their `Waker`, so tokio, smol,
//! async-std and `futures::executor` all work.
//!
//! With the `tokio` feature (default), a caller on a tokio runtime sends its own acquire
//! and release over an async connection driven by its runtime, without waking the
//! semaphore's thread: a `try_acquire` always; an acquire when it would be the process's
//! only waiter (it is granted at once or queued, by the same script and rule as any
//! arrival); a release always. An acquire behind other waiters of the same process goes
//! through the thread, which keeps their order. The proof above covers both paths
//! unchanged (`src/line.rs` says why the view each acts on may lag without harm). The
//! runtime needs no timer (the crate keeps its own). That connection speaks RESP3 and
//! subscribes to the process's own channel, so grants arrive on the caller's runtime
//! without waking the pub/sub thread, which leaves that channel meanwhile (a server
//! without RESP3 gets a RESP2 connection, and the thread keeps the channel). The runtime
//! that made the connection must keep running for grants to arrive promptly: if it stops
//! without dropping the connection, grants wait for the next poll (every lease / 3).
//!
//! # Fair share across processes: not yet, and what it would take
//!
//! The core crate's `fair::FairSemaphore` (weighted fair queuing among the flows of one
//! priority) and `share::ShareSemaphore` (guaranteed shares between classes) work within
//! one process; this crate does not offer them across processes yet. Both fit its design:
//!
//! * **Fair queuing** is a key: the core gives each request the key (priority, start tag)
//!   by start-time fair queuing, `S = max(V_p, F_f)` and `F_f += permits / weight`, with
//!   `V_p` the start tag of the last request served at priority `p`. Here the key of a
//!   waiter would become priority ++ start tag ++ arrival (still a byte order), the acquire
//!   script would take `S` from two hashes in Redis (`V_p` per priority, `F_f` per flow),
//!   and the grant step of the scripts would move `V_p` forward. Nothing else changes: each
//!   process orders its waiters by the same keys and puts only its best in the line, so
//!   the proof of exact order above holds with the new keys, and an acquire stays one
//!   round trip. What it costs: a cancelled waiter's cost stays in its flow's `F_f` unless
//!   the process tells Redis (one more call when a waiter leaves), and the flows' entries
//!   need a bound (drop a flow's entry once `V_p` has passed its `F_f`: an idle flow banks
//!   no credit, so nothing is lost; a sorted set by `F_f` per priority makes that sweep
//!   `O(log n)` per grant).
//! * **Shares** are a grant decision that depends on what each class holds, so the books
//!   would move into Redis: per class the permits held (leases already carry their permits,
//!   so an expired lease corrects them), its nominal share and its borrowing cap, one line
//!   per class, and the grant step would serve the classes below their share first, then
//!   the borrowers, at `O(classes)` work per grant.
//!
//! # Names shared with the core crate
//!
//! `acquire`, `acquire_many`, `try_acquire`, `try_acquire_many`, `.priority(p)` (on the
//! waiting acquires only, as in the core crate), `close`, `num_permits() -> usize`, and
//! [`TryAcquireError`]'s `Closed` and `NoPermits` mean what they mean there. Where this
//! crate differs, it is the network: [`AcquireError`] is the enum [`Error`] (an acquire
//! can fail in more ways than by closing), `TryAcquireError` adds `Failed`, and a permit
//! is a lease with a fencing token and a deadline.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `tokio` | yes | the fast path on tokio runtimes |
//! | `tls` | no | `rediss://` through rustls with the `ring` provider; [`Builder::tls_root_certificate`](Builder#method.tls_root_certificate) |
//!
//! [`close`]: RedisSemaphore::close
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
mod line;
mod link;
mod listener;
mod names;
mod permit;
#[cfg(feature = "tokio")]
mod push;
mod scripts;
mod semaphore;
mod shared;
mod slot;
mod timer;
mod topology;

/// The code blocks of `README.md`, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use acquire::{Acquire, Close, TryAcquire};
pub use builder::{Builder, Connect, DEFAULT_IO_TIMEOUT, DEFAULT_LEASE, MIN_LEASE};
pub use error::{AcquireError, Error, TryAcquireError};
pub use permit::{Lost, RedisPermit};
pub use semaphore::RedisSemaphore;
