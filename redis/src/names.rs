//! Key names, the order-preserving priority encoding and client ids.
//!
//! Every key of one semaphore shares one hash tag, `{name}`, so all of them live in the
//! same Redis Cluster slot and one script may touch them all.

use std::fmt::Write as _;

/// The Redis keys and pub/sub channel of one semaphore.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    /// KEYS of every script, in the order `lua/prelude.lua` reads them.
    pub(crate) script_keys: [String; 6],
    /// The pub/sub channel the closing is announced on; grants to a process go to
    /// `channel:client`.
    pub(crate) channel: String,
}

impl Keys {
    /// The keys of the semaphore called `name` (already validated).
    pub(crate) fn new(name: &str) -> Self {
        let key = |suffix: &str| format!("prio-semaphore:{{{name}}}:{suffix}");
        Self {
            script_keys: [
                key("config"),
                key("holders"),
                key("line"),
                key("entries"),
                key("clients"),
                key("alive"),
            ],
            channel: key("events"),
        }
    }
}

/// Why a semaphore name is refused: braces would change the hash tag, an empty name
/// would put every unnamed semaphore in one slot, and a NUL byte cannot be part of the
/// name of the semaphore's threads (Redis itself takes any bytes).
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the semaphore name is empty".into());
    }
    if name.contains('\0') {
        return Err(format!(
            "the semaphore name {name:?} contains a NUL byte, which the threads that serve \
             it cannot carry in their names"
        ));
    }
    if name.contains(['{', '}']) {
        return Err(format!(
            "the semaphore name {name:?} contains a brace; names become the Redis Cluster \
             hash tag `{{name}}`, so braces are not allowed"
        ));
    }
    Ok(())
}

/// Encodes a priority as 16 hex digits whose byte order is the numeric order: flipping
/// the sign bit maps `i64::MIN..=i64::MAX` onto `0..=u64::MAX` monotonically. Redis orders
/// the line's members (all with score 0) by bytes, so a member `priority ++ arrival`
/// sorts exactly by (priority, arrival). Scores are doubles and could not hold every i64.
pub(crate) fn encode_priority(priority: i64) -> String {
    format!("{:016x}", (priority as u64) ^ (1 << 63))
}

/// The priority of a line member (its first 16 hex digits).
#[cfg(test)]
pub(crate) fn decode_priority(member: &str) -> Option<i64> {
    let bits = u64::from_str_radix(member.get(..16)?, 16).ok()?;
    Some((bits ^ (1 << 63)) as i64)
}

/// A random id for one `RedisSemaphore` handle (one process usually has one per
/// semaphore). Only hex digits: it is sent in space-separated pub/sub messages.
pub(crate) fn new_client_id() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut id = String::with_capacity(24);
    for salt in 0..2u64 {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        hasher.write_u64(salt);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        hasher.write_u128(nanos);
        let _ = write!(id, "{:016x}", hasher.finish());
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_encoding_sorts_like_the_numbers() {
        let values = [i64::MIN, -1_000, -1, 0, 1, 7, 1_000, i64::MAX];
        let encoded: Vec<String> = values.iter().map(|&p| encode_priority(p)).collect();
        let mut sorted = encoded.clone();
        sorted.sort();
        assert_eq!(encoded, sorted);
        for (&p, e) in values.iter().zip(&encoded) {
            assert_eq!(e.len(), 16);
            assert_eq!(decode_priority(e), Some(p));
        }
    }

    #[test]
    fn keys_share_one_hash_tag() {
        let keys = Keys::new("gpu pool");
        for key in keys.script_keys.iter().chain([&keys.channel]) {
            assert!(key.contains("{gpu pool}"), "{key}");
            assert_eq!(key.matches('{').count(), 1, "{key}");
        }
    }

    #[test]
    fn names_with_braces_or_empty_are_refused() {
        assert!(check_name("ok-name").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a{b").is_err());
        assert!(check_name("a}b").is_err());
        assert!(check_name("a\0b").is_err());
        assert!(check_name("ünï cödé / spaces: ok").is_ok());
    }

    #[test]
    fn client_ids_are_hex_and_distinct() {
        let a = new_client_id();
        let b = new_client_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
