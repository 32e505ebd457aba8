//! Where a [`FairSemaphore`](super::FairSemaphore) keeps its levels and flows: the
//! [`FlowStore`]s a user picks ([`HashFlows`], [`OrdFlows`], [`ArrayFlows`]) and the tables
//! behind them.
//!
//! A table holds slots (a level's virtual time, a flow's finish tag) and finds them by key.
//! Slots are named by number: the clock (`super::clock`) reaches a request's slots through
//! its ticket, so keys are only hashed, compared and cloned when a request joins the line,
//! and a key whose `Hash`, `Eq` or `Ord` lies cannot make the counts disagree.

#[cfg(feature = "alloc")]
use core::marker::PhantomData;
use core::ptr::NonNull;

use super::entry::{Flow, Level};
use crate::waitlist::LaneCell;

#[cfg(feature = "alloc")]
use alloc::{boxed::Box, vec::Vec};

pub(crate) use sealed::Table;

mod sealed {
    use super::{Flow, LaneCell, Level, NonNull};

    /// A table of levels (by priority) and flows (by level and flow key). Sealed: the
    /// clock's invariants rest on how slots are handed out and freed.
    pub trait Table<P, K> {
        /// The flows' lane cells where they cannot live in the table: beside it, outside
        /// the lock that hands the table out as `&mut` (a `&mut` over a cell would
        /// invalidate the line's pointers to it). `()` where the table boxes its cells.
        type Cells;
        /// An empty table.
        fn new() -> Self;
        /// The cells of a new table.
        fn new_cells() -> Self::Cells;
        /// The lane cell of the flow in `slot`: at the same address for as long as the
        /// table and `cells` live and stay in place (the line's pointers to it rest on
        /// that, `crate::waitlist`, lanes).
        fn lane(&self, slot: u32, cells: &Self::Cells) -> NonNull<LaneCell>;
        /// The slot of the level of `priority`, a fresh one if it has none; `None` if the
        /// table is full.
        fn level(&mut self, priority: &P) -> Option<u32>;
        /// The level in `slot` (a slot `level` returned and that was not freed since).
        fn level_at(&mut self, slot: u32) -> &mut Level;
        /// Frees a level's slot; its flows go stale (the next `Level::gen` differs).
        fn free_level(&mut self, slot: u32);
        /// The slot of flow `key` of the level in `level`, a fresh one (`Flow::new`) if it
        /// has none; `None` if the table is full. A slot found may be stale (of an earlier
        /// busy period, or of another level that had the slot); the clock checks.
        fn flow(&mut self, level: u32, key: Option<K>) -> Option<u32>;
        /// The flow in `slot`.
        fn flow_at(&mut self, slot: u32) -> &mut Flow;
        /// Levels in use.
        fn levels_in_use(&self) -> usize;
        /// Flows in use.
        fn flows_in_use(&self) -> usize;
        /// Whether a new level or flow might find no slot (fixed capacity only).
        fn is_full(&self) -> bool;
        /// Frees every flow with nothing pending, every level with nothing pending, and
        /// forgets their keys.
        fn sweep(&mut self);
    }
}

/// How a [`FairSemaphore`](super::FairSemaphore) stores its levels and flows for
/// priorities `P` and flow keys `K`. Sealed: pick one of [`HashFlows`] (feature `std`),
/// [`OrdFlows`] (feature `alloc`) or [`ArrayFlows`] (no allocation, `no_std`).
///
/// # Examples
///
/// ```
/// use prio_semaphore::fair::{ArrayFlows, FairSemaphore};
///
/// // At most 8 levels and 8 flows tracked at once, no heap.
/// let sem: FairSemaphore<u8, i64, ArrayFlows<8>> = FairSemaphore::new_generic(4);
/// assert_eq!(sem.available_permits(), 4);
/// ```
pub trait FlowStore<P, K>: sealed_store::Sealed {
    /// The table behind the store.
    #[doc(hidden)]
    type Table: Table<P, K>;
}

mod sealed_store {
    pub trait Sealed {}
}

/// Levels and flows in hash maps (std's `HashMap`, with its randomly seeded hasher, so keys
/// that come from clients cannot be chosen to collide): flow keys `K: Hash + Eq`,
/// priorities `P: Hash + Eq + Clone`. The default store; feature `std`.
///
/// Memory: an entry per level and flow with requests in line, plus idle flows until the
/// next sweep (crate docs of [`fair`](super), "Memory").
///
/// # Examples
///
/// ```
/// use prio_semaphore::fair::{FairSemaphore, HashFlows};
///
/// let sem: FairSemaphore<String, i64, HashFlows> = FairSemaphore::new_generic(4);
/// # drop(sem);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct HashFlows;

/// Levels and flows in B-trees (`alloc`'s `BTreeMap`): for flow keys that are `Ord` but
/// not `Hash`, and priorities such as [`FloatPriority`](crate::FloatPriority). Feature
/// `alloc`.
///
/// # Examples
///
/// ```
/// use prio_semaphore::fair::{FairSemaphore, OrdFlows};
/// use prio_semaphore::FloatPriority;
///
/// let sem: FairSemaphore<u32, FloatPriority, OrdFlows> = FairSemaphore::new_generic(4);
/// # drop(sem);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct OrdFlows;

/// At most `N` levels and `N` flows, in arrays inside the semaphore: no allocation, for
/// `no_std`. Keys only need `Eq` (found by a linear scan, so keep `N` small).
///
/// When every slot holds a flow with requests in line, a request of yet another flow waits
/// behind every request of its level, in arrival order; one of yet another level waits at
/// its priority in arrival order, as without flows. Nothing fails.
///
/// # Examples
///
/// ```
/// use prio_semaphore::fair::{ArrayFlows, FairSemaphore};
///
/// let sem: FairSemaphore<u16, i8, ArrayFlows<4>> = FairSemaphore::new_generic(2);
/// # drop(sem);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ArrayFlows<const N: usize>;

impl sealed_store::Sealed for HashFlows {}
impl sealed_store::Sealed for OrdFlows {}
impl<const N: usize> sealed_store::Sealed for ArrayFlows<N> {}

#[cfg(feature = "std")]
impl<P, K> FlowStore<P, K> for HashFlows
where
    P: core::hash::Hash + Eq + Clone,
    K: core::hash::Hash + Eq,
{
    type Table = MapTable<P, K, HashIndex<P>, HashIndex<(u32, Option<K>)>>;
}

#[cfg(feature = "alloc")]
impl<P: Ord + Clone, K: Ord> FlowStore<P, K> for OrdFlows {
    type Table = MapTable<P, K, OrdIndex<P>, OrdIndex<(u32, Option<K>)>>;
}

impl<P: Eq + Clone, K: Eq, const N: usize> FlowStore<P, K> for ArrayFlows<N> {
    type Table = ArrayTable<P, K, N>;
}

#[cfg(feature = "std")]
type HashIndex<Q> = std::collections::HashMap<Q, Entry>;
#[cfg(feature = "alloc")]
type OrdIndex<Q> = alloc::collections::BTreeMap<Q, Entry>;

/// Where an index entry points: a slot and the slot's generation when it was indexed.
#[cfg(feature = "alloc")]
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    slot: u32,
    gen: u32,
}

/// A map from keys to slots: `HashMap` or `BTreeMap`.
#[cfg(feature = "alloc")]
#[doc(hidden)]
pub trait Index<Q> {
    fn empty() -> Self;
    fn find(&self, key: &Q) -> Option<Entry>;
    fn put(&mut self, key: Q, at: Entry);
    fn keep(&mut self, live: impl FnMut(Entry) -> bool);
}

/// `Index` for a map type with `get`, `insert` and `retain`, under the key bound it needs.
macro_rules! index_for {
    ($(#[$cfg:meta])* $map:ty where $($bound:tt)+) => {
        $(#[$cfg])*
        impl<Q: $($bound)+> Index<Q> for $map {
            fn empty() -> Self {
                Self::new()
            }
            fn find(&self, key: &Q) -> Option<Entry> {
                self.get(key).copied()
            }
            fn put(&mut self, key: Q, at: Entry) {
                self.insert(key, at);
            }
            fn keep(&mut self, mut live: impl FnMut(Entry) -> bool) {
                self.retain(|_, at| live(*at));
            }
        }
    };
}

index_for!(#[cfg(feature = "std")] std::collections::HashMap<Q, Entry> where core::hash::Hash + Eq);
index_for!(#[cfg(feature = "alloc")] alloc::collections::BTreeMap<Q, Entry> where Ord);

/// A slot of a growable table: a value, whether it is in use, and its generation (bumped
/// each time it is freed, so index entries that point to an earlier use are stale).
#[cfg(feature = "alloc")]
struct Slot<T> {
    value: T,
    used: bool,
    gen: u32,
}

/// Slots that grow, and the free ones to reuse.
#[cfg(feature = "alloc")]
struct Slots<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
}

#[cfg(feature = "alloc")]
impl<T> Slots<T> {
    const fn new() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    fn in_use(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// The live slot `at` points to, if it is still the one indexed.
    fn live(&self, at: Entry) -> Option<u32> {
        let slot = self.slots.get(at.slot as usize)?;
        (slot.used && slot.gen == at.gen).then_some(at.slot)
    }

    /// The slot a new value will take (not yet taken: `take` does that).
    fn next(&self) -> Entry {
        match self.free.last() {
            Some(&slot) => Entry {
                slot,
                gen: self.slots[slot as usize].gen,
            },
            None => Entry {
                slot: u32::try_from(self.slots.len()).expect("fewer than 2^32 levels and flows"),
                gen: 0,
            },
        }
    }

    /// Takes the slot `next` named, holding `value`.
    fn take(&mut self, at: Entry, value: T) {
        if self.free.last() == Some(&at.slot) {
            self.free.pop();
            let slot = &mut self.slots[at.slot as usize];
            slot.value = value;
            slot.used = true;
        } else {
            self.slots.push(Slot {
                value,
                used: true,
                gen: 0,
            });
        }
    }

    fn get(&mut self, slot: u32) -> &mut T {
        &mut self.slots[slot as usize].value
    }

    fn free(&mut self, slot: u32) {
        let s = &mut self.slots[slot as usize];
        if s.used {
            s.used = false;
            s.gen = s.gen.wrapping_add(1);
            self.free.push(slot);
        }
    }
}

/// A growable table indexed by maps (`LI` for levels, `FI` for flows): [`HashFlows`] and
/// [`OrdFlows`].
#[cfg(feature = "alloc")]
#[doc(hidden)]
pub struct MapTable<P, K, LI, FI> {
    levels: Slots<Level>,
    flows: Slots<Flow>,
    /// One lane cell per flow slot ever taken, boxed so it stays in place as the vector
    /// grows (the line points to it); freed with the table.
    #[allow(clippy::vec_box, reason = "each cell must keep its address")]
    lanes: Vec<Box<LaneCell>>,
    level_index: LI,
    flow_index: FI,
    _keys: PhantomData<(P, K)>,
}

#[cfg(feature = "alloc")]
impl<P, K, LI, FI> sealed::Table<P, K> for MapTable<P, K, LI, FI>
where
    P: Clone,
    LI: Index<P>,
    FI: Index<(u32, Option<K>)>,
{
    type Cells = ();

    fn new() -> Self {
        Self {
            levels: Slots::new(),
            flows: Slots::new(),
            lanes: Vec::new(),
            level_index: LI::empty(),
            flow_index: FI::empty(),
            _keys: PhantomData,
        }
    }

    fn level(&mut self, priority: &P) -> Option<u32> {
        if let Some(slot) = (self.level_index.find(priority)).and_then(|at| self.levels.live(at)) {
            return Some(slot);
        }
        let at = self.levels.next();
        // User code (`Clone`, then `Hash`/`Ord`) before the slot is taken: a panic leaves
        // at most an index entry that points to a free slot, which is stale.
        self.level_index.put(priority.clone(), at);
        self.levels.take(at, Level::new(at.gen));
        Some(at.slot)
    }

    fn level_at(&mut self, slot: u32) -> &mut Level {
        self.levels.get(slot)
    }

    fn free_level(&mut self, slot: u32) {
        self.levels.free(slot);
    }

    fn flow(&mut self, level: u32, key: Option<K>) -> Option<u32> {
        let key = (level, key);
        if let Some(slot) = (self.flow_index.find(&key)).and_then(|at| self.flows.live(at)) {
            return Some(slot);
        }
        let at = self.flows.next();
        self.flow_index.put(key, at);
        self.flows.take(at, Flow::new(level, u32::MAX));
        if at.slot as usize == self.lanes.len() {
            self.lanes.push(Box::new(LaneCell::new()));
        }
        Some(at.slot)
    }

    fn new_cells() {}

    fn lane(&self, slot: u32, (): &()) -> NonNull<LaneCell> {
        NonNull::from(&*self.lanes[slot as usize])
    }

    fn flow_at(&mut self, slot: u32) -> &mut Flow {
        self.flows.get(slot)
    }

    fn levels_in_use(&self) -> usize {
        self.levels.in_use()
    }

    fn flows_in_use(&self) -> usize {
        self.flows.in_use()
    }

    fn is_full(&self) -> bool {
        false
    }

    fn sweep(&mut self) {
        for slot in 0..self.flows.slots.len() {
            let s = &self.flows.slots[slot];
            if s.used && s.value.pending == 0 {
                self.flows.free(slot as u32);
            }
        }
        for slot in 0..self.levels.slots.len() {
            let s = &self.levels.slots[slot];
            if s.used && s.value.pending == 0 {
                self.levels.free(slot as u32);
            }
        }
        let (levels, flows) = (&self.levels, &self.flows);
        // Drops the keys of freed slots (user code: a panic leaves some stale entries,
        // which the next sweep drops).
        self.level_index.keep(|at| levels.live(at).is_some());
        self.flow_index.keep(|at| flows.live(at).is_some());
    }
}

/// A table of fixed capacity `N`: [`ArrayFlows`]. Keys live in their slots and are found
/// by a linear scan with `Eq`.
#[doc(hidden)]
pub struct ArrayTable<P, K, const N: usize> {
    levels: [Option<(P, Level)>; N],
    flows: [Option<(u32, Option<K>, Flow)>; N],
    /// Generations of the level slots (kept when a slot empties).
    level_gens: [u32; N],
}

impl<P: Eq + Clone, K: Eq, const N: usize> sealed::Table<P, K> for ArrayTable<P, K, N> {
    type Cells = [LaneCell; N];

    fn new_cells() -> [LaneCell; N] {
        core::array::from_fn(|_| LaneCell::new())
    }

    fn lane(&self, slot: u32, cells: &[LaneCell; N]) -> NonNull<LaneCell> {
        NonNull::from(&cells[slot as usize])
    }

    fn new() -> Self {
        Self {
            levels: [const { None }; N],
            flows: [const { None }; N],
            level_gens: [0; N],
        }
    }

    fn level(&mut self, priority: &P) -> Option<u32> {
        let mut vacant = None;
        for (slot, entry) in self.levels.iter().enumerate() {
            match entry {
                Some((p, _)) if p == priority => return Some(slot as u32),
                None if vacant.is_none() => vacant = Some(slot),
                _ => {}
            }
        }
        let slot = vacant?;
        let priority = priority.clone();
        self.levels[slot] = Some((priority, Level::new(self.level_gens[slot])));
        Some(slot as u32)
    }

    fn level_at(&mut self, slot: u32) -> &mut Level {
        match &mut self.levels[slot as usize] {
            Some((_, level)) => level,
            None => unreachable!("a ticket names a level in use"),
        }
    }

    fn free_level(&mut self, slot: u32) {
        let slot = slot as usize;
        self.level_gens[slot] = self.level_gens[slot].wrapping_add(1);
        // Drops the priority (user code): its slot is already marked free.
        drop(self.levels[slot].take());
    }

    fn flow(&mut self, level: u32, key: Option<K>) -> Option<u32> {
        let mut vacant = None;
        for (slot, entry) in self.flows.iter().enumerate() {
            match entry {
                Some((l, k, _)) if *l == level && *k == key => return Some(slot as u32),
                None if vacant.is_none() => vacant = Some(slot),
                _ => {}
            }
        }
        let slot = vacant?;
        self.flows[slot] = Some((level, key, Flow::new(level, u32::MAX)));
        Some(slot as u32)
    }

    fn flow_at(&mut self, slot: u32) -> &mut Flow {
        match &mut self.flows[slot as usize] {
            Some((_, _, flow)) => flow,
            None => unreachable!("a ticket names a flow in use"),
        }
    }

    fn levels_in_use(&self) -> usize {
        self.levels.iter().filter(|l| l.is_some()).count()
    }

    fn flows_in_use(&self) -> usize {
        self.flows.iter().filter(|f| f.is_some()).count()
    }

    fn is_full(&self) -> bool {
        self.levels.iter().all(Option::is_some) || self.flows.iter().all(Option::is_some)
    }

    fn sweep(&mut self) {
        for entry in &mut self.flows {
            if matches!(entry, Some((_, _, flow)) if flow.pending == 0) {
                drop(entry.take());
            }
        }
        for slot in 0..N {
            if matches!(&self.levels[slot], Some((_, level)) if level.pending == 0) {
                self.free_level(slot as u32);
            }
        }
    }
}

impl<P, K, const N: usize> core::fmt::Debug for ArrayTable<P, K, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ArrayTable").finish_non_exhaustive()
    }
}

#[cfg(feature = "alloc")]
impl<P, K, LI, FI> core::fmt::Debug for MapTable<P, K, LI, FI> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MapTable").finish_non_exhaustive()
    }
}
