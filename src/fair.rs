//! Fair queuing among the flows of one priority: [`FairSemaphore`].
//!
//! Strict priority says who goes first. A shared service (an LLM gateway for many teams, a
//! database behind many customers) also needs fairness *within* a priority: with plain
//! FIFO among equals, one tenant that queues 10,000 requests at priority 5 delays another
//! tenant's single request at priority 5 behind all 10,000. A [`FairSemaphore`] serves the
//! requests of one priority by **weighted fair queuing** among their **flows** (any key you
//! pick: a tenant, an API key), weighted by the permits they ask for.
//!
//! ```
//! use prio_semaphore::fair::FairSemaphore;
//!
//! # futures::executor::block_on(async {
//! let sem: FairSemaphore<&str> = FairSemaphore::new(4);
//! let permit = sem.acquire().priority(5).flow("tenant-b").await.unwrap();
//! # drop(permit);
//! # });
//! ```
//!
//! # What it promises
//!
//! * **Priorities first.** Smaller priorities are served first, strictly, as in
//!   [`Semaphore`](crate::Semaphore).
//! * **Flows share a priority by weight.** While flows of one priority have requests
//!   waiting, each is served permits in proportion to its requests' weights.
//! * **No credit for idling.** A flow that was idle starts at the priority's current
//!   virtual time: it is served promptly, but cannot make up for the time it was away
//!   with a burst.
//! * **One flow is first in, first out.** Requests without a flow key share one flow per
//!   priority, so a semaphore whose requests name no flow serves exactly as a
//!   [`Semaphore`](crate::Semaphore) does.
//! * **Everything else holds**: no allocation per waiter in the line, cancellation at any
//!   point loses nothing, a key whose `Hash`, `Eq` or `Ord` lies breaks nothing (see
//!   [`FairSemaphore`], "Keys that misbehave").
//!
//! # How it works
//!
//! **Start-time fair queuing** (SFQ; Goyal, Vin and Cheng, "Start-time Fair Queueing: a
//! scheduling algorithm for integrated services packet switching networks", SIGCOMM
//! 1996), with grants in the place of packets. Each priority value in use (a **level**) has
//! a virtual time `V`: the largest start tag of a request served there. Each flow has a
//! finish tag `F`. A request of `n` permits at weight `w` gets, when first polled,
//!
//! ```text
//! start  S = max(V, F)          its place in the fair order
//! finish F = S + n / w          where the flow's next request starts
//! ```
//!
//! and waits in the core's line at the key [`FairKey`]` = (priority, S)`, smaller first, equal
//! keys in arrival order. The line is the core's, with its lock and its hand-off, holding
//! its waiters by flow: a flow's waiting requests form one **run** in arrival order (their
//! tags ascend along it), and the line's tree holds one run per waiting flow, placed by the
//! key of its next request. A request of a flow that already waits joins the end of its
//! flow's run; when a run's first request leaves (served or dropped), the run moves to its
//! next request's key. Tags are fixed-point (`65,536` per permit at weight 1) in a `u64`.
//!
//! * One flow's tags strictly increase (each request costs at least one unit), so one flow
//!   is served in arrival order.
//! * `S ≥ V` is why an idle flow banks no credit.
//! * When a level has no request waiting, its busy period ends and the next one starts
//!   afresh (SFQ would move `V` past every finish tag; starting over is the same order).
//!
//! **Why SFQ**: a request's start tag is fixed when it joins, so one flow's requests keep
//! their order and their keys, and only the first of each flow competes. Deficit round
//! robin would need rounds and quanta beside the line, and WF²Q the set of eligible
//! requests at each grant. SFQ also needs no notion of the server's speed, which a
//! semaphore does not have.
//!
//! # The fairness bound
//!
//! SFQ's theorem, in permits: over any interval in which flows `f` and `g` of one level
//! both have requests waiting, the permits they are granted, `W_f` and `W_g`, satisfy
//!
//! ```text
//! | W_f / w_f  −  W_g / w_g |  ≤  n_f / w_f  +  n_g / w_g
//! ```
//!
//! where `n` is the most permits one request of the flow asks for. With one-permit
//! requests at weights 1:2:4, shares over any window of 1,000 grants are within a few
//! grants of 1/7, 2/7, 4/7 (`examples/fair_share.rs` measures it). What loosens it:
//!
//! * the virtual time advances when a granted request is **polled** (its future
//!   completes), so a request can start up to one unclaimed grant per permit early;
//! * requests of different threads that take their tags at the same moment join the line
//!   in either order (the tag is taken under the flow table's lock, the line joined under
//!   the line's);
//! * the holes and credits of "Cancellation" and "Memory" below.
//!
//! # Cancellation
//!
//! Dropping a request at any point loses nothing (as in the core: the line gives its
//! permits on). For the fair order:
//!
//! * the latest request of its flow rolls the flow's finish tag back: the next request
//!   starts exactly where it would have had this one never come;
//! * an earlier one leaves a hole: the flow's later requests keep their tags (they are
//!   keys in the line and cannot move), so they wait as if the cancelled permits had been
//!   served, at most the cancelled requests' `n / w` later in virtual time. Once the flow
//!   has no request left, its finish tag goes back to that of its last request served, so
//!   no hole outlives its requests.
//!
//! # Costs
//!
//! With f the flows that have requests in line (all levels together):
//!
//! | operation | cost |
//! |---|---|
//! | a request that does not wait (fast path), or `try_acquire` | the core's: no flow table, nothing counted |
//! | first poll of a request that waits | two lookups in the flow table, its level and its flow (hashes; O(log entries) for [`OrdFlows`], O(N) for [`ArrayFlows`]), then joining the line: |
//! | — its flow already waits | **O(1)**: the end of its flow's run, no comparison |
//! | — its flow's first request in line | O(log f) expected comparisons of keys |
//! | served, or dropped | one lock of the flow table and O(1) counts; if it was its flow's first in line and others follow, the run moves: O(log f) expected, comparing tags only (no user code) |
//!
//! None depends on the number of waiters: a flood of 10,000 requests from one tenant is one
//! run. Benchmark group h (one more request of a waiting flow, 8 flows at weights 1 to 8)
//! is flat from 100 to 100,000 waiters, and `tests/behaviour/fair_costs.rs` counts the
//! comparisons: none for one more request of a waiting flow at any depth.
//!
//! What is shown follows the runs: [`FairSemaphore::snapshot`] lists one class per waiting
//! flow, with the key of its next request and how many of its requests wait.
//!
//! A semaphore that uses no flows pays nothing: the core's line checks one word to know
//! that its runs are not flows (8 bytes of every [`Semaphore`](crate::Semaphore)).
//!
//! Sizes are in the crate docs ("Sizes"): a [`FairAcquire`] is the core's request for
//! `FairKey<P>` (whose last 16 bytes say where its flow's run is) plus 56 bytes.
//!
//! # Memory
//!
//! The table holds an entry per level with requests counted (waiting, or granted and not
//! yet polled) and an entry per flow with requests counted, plus idle flows until the next
//! **sweep**. A sweep runs when a new flow would make the table twice as large as after
//! the last sweep (at least 16 entries) or, for [`ArrayFlows`], when it is full; it drops
//! every idle flow. So the table stays within twice the flows that had requests counted at
//! the last sweep, and is empty while nobody waits.
//!
//! A flow dropped while idle but still ahead of its level's virtual time (served in the
//! last round) forgets at most its last request's `n / w`: the only fairness the bound on
//! memory costs, and only for flows idle at a sweep.
//!
//! Stores: [`HashFlows`] (the default, feature `std`: `HashMap` with std's randomly seeded
//! hasher, keys `Hash + Eq`), [`OrdFlows`] (feature `alloc`: `BTreeMap`, keys `Ord`) and
//! [`ArrayFlows`]`<N>` (no allocation, `no_std`: at most `N` levels and `N` flows; beyond
//! that, requests fall back to arrival order, see its docs).
//!
//! # Where users meet it
//!
//! * `limited`: [`Unordered::with_fair_semaphore`](crate::limited::Unordered::with_fair_semaphore)
//!   (feature `alloc`) runs a pipeline as one flow of a fair semaphore.
//! * [`PollFairSemaphore`] (feature `alloc`): acquire by polling, with a flow.
//! * `tower`: [`PriorityLimitLayer::fair`](crate::tower::PriorityLimitLayer::fair)
//!   (feature `tower`) takes each request's flow (a tenant header) beside its priority.
//! * Guaranteed shares *between* priorities are [`share`](crate::share)'s.

mod acquire;
mod clock;
mod entry;
mod key;
#[cfg(feature = "alloc")]
mod poll;
mod request;
mod semaphore;
mod store;

pub use acquire::FairAcquire;
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub use acquire::FairAcquireOwned;
pub use key::FairKey;
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub use poll::PollFairSemaphore;
pub use semaphore::FairSemaphore;
pub use store::{ArrayFlows, FlowStore, HashFlows, OrdFlows};
