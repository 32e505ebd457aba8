//! What the flow table (`super::store`) holds for the clock (`super::clock`): a level's
//! virtual time and a flow's finish tag, with their counts.

/// A priority value that has requests counted: its virtual time.
#[derive(Debug, Clone, Copy)]
pub struct Level {
    /// Virtual time: the largest start tag of a request served at this level.
    pub(crate) v: u64,
    /// The largest finish tag handed out at this level (where untracked requests queue).
    pub(crate) max_finish: u64,
    /// Tickets out at this level.
    pub(crate) pending: usize,
    /// Bumped each time the level is freed, so flows of an earlier busy period go stale.
    pub(crate) gen: u32,
}

impl Level {
    pub(crate) const fn new(gen: u32) -> Self {
        Self {
            v: 0,
            max_finish: 0,
            pending: 0,
            gen,
        }
    }
}

/// A flow of one level: its finish tag.
#[derive(Debug, Clone, Copy)]
pub struct Flow {
    /// The level's slot and generation when this entry was last (re)started.
    pub(crate) level: u32,
    pub(crate) level_gen: u32,
    /// Finish tag of the flow's last request counted: where its next request starts.
    pub(crate) finish: u64,
    /// Finish tag of its last request served.
    pub(crate) served: u64,
    /// Tickets out in this flow.
    pub(crate) pending: usize,
}

impl Flow {
    pub(crate) const fn new(level: u32, level_gen: u32) -> Self {
        Self {
            level,
            level_gen,
            finish: 0,
            served: 0,
            pending: 0,
        }
    }
}
