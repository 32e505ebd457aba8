//! The virtual clock of start-time fair queuing: a virtual time per level (priority value),
//! a finish tag per flow, and what a request reports as it joins, is served or leaves.
//!
//! Nothing here runs user code but the table's (`super::store`): finding a level or a flow
//! hashes, compares and clones keys. Every count a request changes is reached through the
//! slots its [`Ticket`] names, never through a key, so a key whose `Hash`, `Eq` or `Ord`
//! lies can only change which flow a request joins, never the counts.
//!
//! # Invariants
//!
//! * A level's `pending` counts the tickets that name it and have not been given back; a
//!   flow's `pending` those that name the flow. A level is freed when its count drops to
//!   zero, and its flows go stale with it (their `level_gen` no longer matches).
//! * A flow's `finish` is at least the start tag of each of its tickets, and above it while
//!   the ticket is out: tags of one flow increase, so one flow is served in order.
//! * Once a flow has no ticket out, its `finish` is the finish tag of its last request
//!   served (`served`), whose start tag is at most the level's virtual time: an idle flow
//!   is at most one request's cost ahead of the level, which is all that dropping its
//!   entry can give away.

use core::num::NonZeroU32;

use super::entry::Flow;
use super::store::Table;
use crate::waitlist::LaneId;

/// Virtual time per permit at weight 1. Tags are `u64`: one level busy without a break
/// saturates after `2^48` permits at weight 1 (about nine years at a million grants a
/// second), and then serves its saturated requests in arrival order until it next idles.
pub(crate) const SCALE: u64 = 1 << 16;

/// The fewest flow entries a table keeps before it sweeps idle ones.
const MIN_SWEEP: usize = 16;

/// What a counted request remembers: the slots it counts in, and its tags.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    level: u32,
    /// `None`: no flow slot was free (a table of fixed capacity): the request waits
    /// behind every request of its level, counted only there.
    flow: Option<u32>,
    pub(crate) start: u64,
    cost: u64,
}

/// A request's tag, its ticket if it is counted (`None`: no level slot was free; the
/// request waits at tag 0, in arrival order, as without flows), and its lane in the line
/// ([`LaneId::NONE`] where it has no ticket).
pub(crate) type Assigned = (u64, Option<Ticket>, LaneId);

/// A request's cost in virtual time: `permits / weight`, at least 1 so that tags of one
/// flow strictly increase.
pub(crate) fn cost(permits: u32, weight: NonZeroU32) -> u64 {
    (u64::from(permits) * SCALE / u64::from(weight.get())).max(1)
}

/// The fair-queuing state of one semaphore: the table of levels and flows, and when to
/// sweep it next.
pub(crate) struct Clock<T> {
    table: T,
    sweep_at: usize,
    /// Tickets out: when none is left, every entry is idle and the table is emptied.
    tickets: usize,
    /// Requests counted so far (wrapping): each one's arrival number, the order among
    /// equal tags.
    arrivals: u32,
}

impl<T> Clock<T> {
    pub(crate) fn new(table: T) -> Self {
        Self {
            table,
            sweep_at: MIN_SWEEP,
            tickets: 0,
            arrivals: 0,
        }
    }
}

impl<T> Clock<T> {
    /// Levels and flows with an entry (for the docs' bound and the tests).
    pub(crate) fn entries<P, K>(&self) -> (usize, usize)
    where
        T: Table<P, K>,
    {
        (self.table.levels_in_use(), self.table.flows_in_use())
    }

    /// Counts a request of `permits` permits at `weight` in flow `key` (`None`: the
    /// level's unkeyed flow) of the level `priority`, and returns its start tag.
    ///
    /// Runs the keys' user code (`Hash`, `Eq`, `Ord`, `Clone`): if it panics, nothing is
    /// counted, and what the table had begun to insert is garbage that the next sweep
    /// frees.
    pub(crate) fn assign<P, K>(
        &mut self,
        priority: &P,
        key: Option<K>,
        permits: u32,
        weight: NonZeroU32,
        cells: &<T as Table<P, K>>::Cells,
    ) -> Assigned
    where
        T: Table<P, K>,
    {
        if self.table.flows_in_use() >= self.sweep_at || self.table.is_full() {
            self.sweep();
        }
        let Some(level) = self.table.level(priority) else {
            return (0, None, LaneId::NONE);
        };
        self.arrivals = self.arrivals.wrapping_add(1);
        let seq = self.arrivals;
        let lv = *self.table.level_at(level);
        let Some(slot) = self.table.flow(level, key) else {
            // No flow slot: behind everything handed out at the level so far.
            let l = self.table.level_at(level);
            l.pending += 1;
            self.tickets += 1;
            let ticket = Ticket {
                level,
                flow: None,
                start: l.max_finish,
                cost: 0,
            };
            let lane = LaneId {
                cell: None,
                level,
                seq,
            };
            return (ticket.start, Some(ticket), lane);
        };
        let f = self.table.flow_at(slot);
        if f.level != level || f.level_gen != lv.gen {
            // New, or left from an earlier busy period of the level: it starts afresh.
            *f = Flow::new(level, lv.gen);
        }
        let cost = cost(permits, weight);
        let start = lv.v.max(f.finish);
        f.finish = start.saturating_add(cost);
        f.pending += 1;
        let finish = f.finish;
        let l = self.table.level_at(level);
        l.pending += 1;
        l.max_finish = l.max_finish.max(finish);
        self.tickets += 1;
        let ticket = Ticket {
            level,
            flow: Some(slot),
            start,
            cost,
        };
        let lane = LaneId {
            cell: Some(self.table.lane(slot, cells)),
            level,
            seq,
        };
        (start, Some(ticket), lane)
    }

    /// The request of `ticket` was served: the level's virtual time reaches its start tag.
    pub(crate) fn granted<P, K>(&mut self, ticket: &Ticket)
    where
        T: Table<P, K>,
    {
        let l = self.table.level_at(ticket.level);
        l.v = l.v.max(ticket.start);
        if let Some(slot) = ticket.flow {
            let f = self.table.flow_at(slot);
            f.served = f.served.max(ticket.start.saturating_add(ticket.cost));
        }
        self.give_back(ticket);
    }

    /// The request of `ticket` left without being served (cancelled, or failed by
    /// `close`): if it was its flow's latest, the flow's finish tag goes back to where it
    /// was, as if it had never come.
    pub(crate) fn withdrawn<P, K>(&mut self, ticket: &Ticket)
    where
        T: Table<P, K>,
    {
        if let Some(slot) = ticket.flow {
            let f = self.table.flow_at(slot);
            if f.finish == ticket.start.saturating_add(ticket.cost) {
                // `start` is `max(v then, finish before)`, and `v` only grows, so the next
                // request starts exactly where it would have without this one.
                f.finish = ticket.start;
            }
        }
        self.give_back(ticket);
    }

    fn give_back<P, K>(&mut self, ticket: &Ticket)
    where
        T: Table<P, K>,
    {
        if let Some(slot) = ticket.flow {
            let f = self.table.flow_at(slot);
            f.pending -= 1;
            if f.pending == 0 {
                // Requests withdrawn from the middle of its line leave no hole behind.
                f.finish = f.served;
            }
        }
        let l = self.table.level_at(ticket.level);
        l.pending -= 1;
        if l.pending == 0 {
            // Nobody waits at this level: its busy period is over, and the next starts
            // afresh (start-time fair queuing's virtual time would jump past every finish
            // tag here; a fresh level is the same order, shifted).
            self.table.free_level(ticket.level);
        }
        self.tickets -= 1;
        if self.tickets == 0 {
            // Nobody waits at all: every entry is idle (or left by a key that panicked),
            // and the table empties.
            self.sweep();
        }
    }

    /// Frees every idle flow entry and every level entry with nothing pending (left by a
    /// panic in a key's code), and the index entries that pointed to them.
    fn sweep<P, K>(&mut self)
    where
        T: Table<P, K>,
    {
        self.table.sweep();
        self.sweep_at = MIN_SWEEP.max(2 * self.table.flows_in_use());
    }
}

impl<T> core::fmt::Debug for Clock<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Clock").finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::fair::store::{ArrayTable, Table};

    fn one() -> NonZeroU32 {
        NonZeroU32::new(1).unwrap()
    }

    type Small = ArrayTable<i64, u8, 4>;

    #[test]
    fn one_flow_gets_increasing_tags_and_an_idle_flow_banks_nothing() {
        let mut clock = Clock::new(Small::new());
        let cells = Small::new_cells();
        let (a0, t0, _) = clock.assign(&5, Some(1), 1, one(), &cells);
        let (a1, t1, _) = clock.assign(&5, Some(1), 1, one(), &cells);
        assert_eq!((a0, a1), (0, SCALE));
        // Flow 2 joins while flow 1 has two requests out: it starts at the level's time.
        let (b0, tb, _) = clock.assign(&5, Some(2), 1, one(), &cells);
        assert_eq!(b0, 0);
        clock.granted::<i64, u8>(&t0.unwrap());
        clock.granted::<i64, u8>(&tb.unwrap());
        // Flow 2 idle; a later request starts at the level's time, not before it.
        let (b1, tb1, _) = clock.assign(&5, Some(2), 1, one(), &cells);
        assert_eq!(b1, SCALE);
        clock.granted::<i64, u8>(&t1.unwrap());
        clock.granted::<i64, u8>(&tb1.unwrap());
        assert_eq!(
            clock.entries::<i64, u8>().0,
            0,
            "the level idles and is freed"
        );
    }

    #[test]
    fn withdrawing_the_latest_request_rolls_its_flow_back() {
        let mut clock = Clock::new(Small::new());
        let cells = Small::new_cells();
        let (_, t0, _) = clock.assign(&0, Some(1), 1, one(), &cells);
        let (s1, t1, _) = clock.assign(&0, Some(1), 3, one(), &cells);
        clock.withdrawn::<i64, u8>(&t1.unwrap());
        let (s2, _t2, _) = clock.assign(&0, Some(1), 1, one(), &cells);
        assert_eq!(s1, s2, "the next request takes the withdrawn one's place");
        let _ = t0;
    }

    #[test]
    fn weights_divide_the_cost() {
        let heavy = NonZeroU32::new(4).unwrap();
        assert_eq!(cost(1, heavy), SCALE / 4);
        assert_eq!(cost(2, one()), 2 * SCALE);
        assert_eq!(
            cost(1, NonZeroU32::MAX),
            1,
            "never zero: one flow's tags increase"
        );
        assert_eq!(cost(0, one()), 1);
    }

    #[test]
    fn a_full_table_degrades_to_arrival_order() {
        let mut clock = Clock::new(ArrayTable::<i64, u8, 1>::new());
        let cells = ArrayTable::<i64, u8, 1>::new_cells();
        let (s, t, _) = clock.assign(&0, Some(1), 1, one(), &cells);
        assert_eq!(s, 0);
        // No second flow slot: behind everything handed out at the level.
        let (s2, t2, _) = clock.assign(&0, Some(2), 1, one(), &cells);
        assert_eq!(s2, SCALE);
        // No second level slot: tag 0, uncounted.
        let (s3, t3, _) = clock.assign(&1, Some(1), 1, one(), &cells);
        assert_eq!((s3, t3.is_none()), (0, true));
        clock.granted::<i64, u8>(&t.unwrap());
        clock.granted::<i64, u8>(&t2.unwrap());
        assert_eq!(clock.entries::<i64, u8>().0, 0);
    }
}
