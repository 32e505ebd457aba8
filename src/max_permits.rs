//! [`MAX_PERMITS`], the one limit every layer checks against.

/// The largest number of permits a semaphore can hold, and the largest request.
///
/// `2³¹ − 1` on 64-bit targets and `2²⁹ − 1` on 32-bit ones: large enough for any
/// concurrency limit, and small enough that a request for `u32::MAX` permits is always a
/// clear error rather than a wait that can never end (and that the permit word keeps room
/// for its flags, see `crate::raw`).
///
/// ```
/// assert_eq!(prio_semaphore::MAX_PERMITS, prio_semaphore::Semaphore::MAX_PERMITS);
/// ```
pub const MAX_PERMITS: usize = {
    let by_word = usize::MAX >> 3;
    let by_request = (u32::MAX >> 1) as usize;
    if by_word < by_request {
        by_word
    } else {
        by_request
    }
};

#[cfg(all(test, not(loom)))]
mod tests {
    use super::MAX_PERMITS;

    /// The documented maximum: `2³¹ − 1` where `usize` is 64 bits (a `u32` request can
    /// exceed it, which is what makes `acquire_many(u32::MAX)` a clear error), `2²⁹ − 1`
    /// where it is 32 bits (the permit word keeps two flag bits and room to add).
    #[test]
    fn max_permits_is_the_documented_value() {
        let expected = if usize::BITS >= 64 {
            (1 << 31) - 1
        } else {
            (1 << (usize::BITS - 3)) - 1
        };
        assert_eq!(MAX_PERMITS, expected);
        // Checked at compile time: a `u32` request can exceed it.
        const { assert!(MAX_PERMITS < u32::MAX as usize) };
    }
}
