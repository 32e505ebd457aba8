//! Storage for the running futures of an [`Unordered`](super::Unordered): slots that never
//! move, added in chunks as more futures run at once.
//!
//! A future is pinned where it first runs, so the storage cannot be one vector that
//! reallocates. Instead each chunk is a boxed slice allocated once and kept until the
//! storage is dropped; every new chunk doubles the capacity (the first ones hold
//! [`FIRST_CHUNK`] slots), up to the stream's limit. So memory follows the most futures that
//! ever ran at once, at most twice that, and a slot's index maps to its chunk with one
//! leading-zeros count.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ops::Range;

/// Slots in each of the first two chunks; a power of two, so that every later chunk starts
/// at a power of two.
const FIRST_CHUNK: usize = 4;

pub(super) struct Slots<T> {
    /// Chunk 0 holds slots `0..FIRST_CHUNK`; chunk `k >= 1` holds the slots from
    /// `FIRST_CHUNK << (k - 1)` on, as many as were allocated before it (fewer in a last
    /// chunk cut short by the limit).
    ///
    /// Only ever reached through `&mut`: a shared reference covering a running future
    /// would, under Stacked Borrows, invalidate the pointers an `async` block keeps into
    /// itself (`&mut` to a `!Unpin` future does not), so the chunks' lengths are not read
    /// either.
    chunks: Vec<Box<[T]>>,
    /// Slots allocated, in all chunks.
    len: usize,
}

impl<T> Slots<T> {
    /// No slots; nothing allocated.
    pub(super) const fn new() -> Self {
        Self {
            chunks: Vec::new(),
            len: 0,
        }
    }

    /// How many slots are allocated.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Allocates one more chunk, of as many slots as there are already (at least
    /// [`FIRST_CHUNK`]) but no more than `max` in all, filled by `make`; returns the new
    /// slots' indices.
    ///
    /// # Panics
    ///
    /// If `max` slots are allocated already.
    pub(super) fn grow(&mut self, max: usize, make: impl FnMut() -> T) -> Range<usize> {
        assert!(self.len < max, "no more than {max} slots");
        let size = self.len.max(FIRST_CHUNK).min(max - self.len);
        let chunk: Box<[T]> = core::iter::repeat_with(make).take(size).collect();
        self.chunks.push(chunk);
        let start = self.len;
        self.len += size;
        start..self.len
    }

    /// Slot `index`, which must be below [`len`](Self::len). It stays at the same address
    /// until the storage is dropped.
    pub(super) fn get_mut(&mut self, index: usize) -> &mut T {
        debug_assert!(index < self.len, "slot {index} of {}", self.len);
        let (chunk, offset) = if index < FIRST_CHUNK {
            (0, index)
        } else {
            // Chunk `k >= 1` starts at `FIRST_CHUNK << (k - 1)`, the power of two at or
            // below `index`.
            let power = index.ilog2();
            let chunk = (power - FIRST_CHUNK.ilog2() + 1) as usize;
            (chunk, index - (1 << power))
        };
        &mut self.chunks[chunk][offset]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_map_to_distinct_slots_in_chunks_that_double() {
        let mut slots = Slots::new();
        let mut next = 0;
        let mut grown = Vec::new();
        while slots.len() < 100 {
            let range = slots.grow(100, || {
                next += 1;
                next - 1
            });
            grown.push(range.len());
        }
        assert_eq!(grown, [4, 4, 8, 16, 32, 36]);
        for index in 0..100 {
            assert_eq!(*slots.get_mut(index), index);
        }
    }

    #[test]
    fn a_limit_below_the_first_chunk_allocates_only_the_limit() {
        let mut slots = Slots::new();
        assert_eq!(slots.grow(1, || 7), 0..1);
        assert_eq!(*slots.get_mut(0), 7);
        let mut slots = Slots::new();
        assert_eq!(slots.grow(usize::MAX, || 0), 0..FIRST_CHUNK);
    }

    #[test]
    #[should_panic(expected = "no more than 1 slots")]
    fn growing_past_the_limit_panics() {
        let mut slots = Slots::new();
        slots.grow(1, || ());
        slots.grow(1, || ());
    }
}
