//! The server-side scripts and their replies.
//!
//! Each state change is exactly one script: Redis runs it atomically, with its own clock
//! (`TIME`), so no two processes can interleave inside a decision and no client clock is
//! ever trusted. Scripts are sent by hash (`EVALSHA`, one round trip); after a server
//! restart the client reloads them transparently once.
//!
//! A script is three files joined: its first part, the shared prelude, its body. The
//! first part of `acquire` and `release` answers the uncontended case on its own, in the
//! fewest commands and before the prelude's Lua runs; the other scripts start with
//! `start.lua`, which only declares what the prelude fills in.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use redis::Value;

use crate::lease_state::ServerTime;
use crate::names::Keys;

/// The scripts, each with the shared prelude (`lua/prelude.lua`) between its first part
/// and its body.
pub(crate) struct Scripts {
    pub(crate) acquire: redis::Script,
    pub(crate) enter: redis::Script,
    pub(crate) release: redis::Script,
    pub(crate) sync: redis::Script,
    pub(crate) close: redis::Script,
}

macro_rules! with_prelude {
    ($first:literal, $body:literal) => {
        concat!(
            include_str!($first),
            include_str!("lua/prelude.lua"),
            include_str!($body)
        )
    };
}

/// The scripts (hashed once per process).
pub(crate) fn scripts() -> &'static Scripts {
    static SCRIPTS: OnceLock<Scripts> = OnceLock::new();
    SCRIPTS.get_or_init(|| Scripts {
        acquire: redis::Script::new(with_prelude!("lua/acquire_fast.lua", "lua/acquire.lua")),
        enter: redis::Script::new(with_prelude!("lua/start.lua", "lua/enter.lua")),
        release: redis::Script::new(with_prelude!("lua/release_fast.lua", "lua/release.lua")),
        sync: redis::Script::new(with_prelude!("lua/start.lua", "lua/sync.lua")),
        close: redis::Script::new(with_prelude!("lua/start.lua", "lua/close.lua")),
    })
}

/// The arguments every script takes first (ARGV 1..=5 of the prelude).
#[derive(Debug, Clone)]
pub(crate) struct Context {
    pub(crate) keys: Keys,
    pub(crate) client: String,
    pub(crate) limit: u32,
    pub(crate) lease_ms: u64,
    /// Set once a call of this handle found or created the semaphore: if its state is
    /// missing after that, Redis lost it (the prelude's grace period).
    pub(crate) seen: Arc<AtomicBool>,
}

impl Context {
    /// A script call with the keys and the common arguments filled in; the caller adds
    /// the script's own arguments. Values only ever travel as arguments, never as code.
    pub(crate) fn invocation<'a>(&self, script: &'a redis::Script) -> redis::ScriptInvocation<'a> {
        let mut call = script.prepare_invoke();
        for key in &self.keys.script_keys {
            call.key(key);
        }
        call.arg(&self.keys.channel)
            .arg(&self.client)
            .arg(self.limit)
            .arg(self.lease_ms)
            .arg(self.seen_arg());
        call
    }

    /// ARGV 5: whether a call of this handle found or created the semaphore.
    pub(crate) fn seen_arg(&self) -> &'static str {
        if self.seen.load(Ordering::Relaxed) {
            "1"
        } else {
            "0"
        }
    }

    /// The `EVALSHA` of `script` with the keys and the common arguments up to ARGV 4
    /// (`seen`, which changes, comes next): built once and cloned for each call of the
    /// fast path, a few allocations instead of one per argument.
    #[cfg(feature = "tokio")]
    pub(crate) fn command_prefix(&self, script: &redis::Script) -> redis::Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(script.get_hash()).arg(self.keys.script_keys.len());
        for key in &self.keys.script_keys {
            cmd.arg(key);
        }
        cmd.arg(&self.keys.channel)
            .arg(&self.client)
            .arg(self.limit)
            .arg(self.lease_ms);
        cmd
    }
}

/// A grant to this process, as a script or a pub/sub message reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Grant {
    /// The lease's member: the waiter's (priority, arrival) key.
    pub(crate) member: String,
    pub(crate) permits: u32,
    pub(crate) token: u64,
    /// Whether the grant left a barrier in the line (its process had more waiters).
    pub(crate) barrier: bool,
    /// When Redis lets the lease expire unless renewed (server milliseconds).
    pub(crate) expiry_ms: i64,
}

/// Every script answers `{status, number, member, lost, grants, server time}`, except the
/// fast paths and the calls that have nothing to report to the caller but their outcome:
/// they answer one string, `status [number [member]]` (`granted <token> <member>` for an
/// uncontended grant, `queued 0 <member>` for a waiter queued, `released` or `missing`
/// for a release that granted this process nothing), which Redis returns, and this crate
/// reads, faster than a table; what it leaves out reads as 0, empty and none.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reply {
    pub(crate) status: String,
    /// `granted`: the fencing token; `too_many`/`limit_mismatch`: the limit;
    /// `sync`: permits of this process's line entry (0 for a barrier).
    pub(crate) number: i64,
    /// `granted`/`queued`: the new waiter's member; `sync`: this process's line member.
    pub(crate) member: String,
    /// `sync`: leases this process asked to renew that no longer exist.
    pub(crate) lost: Vec<String>,
    /// Grants to this process made by this call (and, for `sync` and `enter`, any it had
    /// not heard of, which the call claimed).
    pub(crate) grants: Vec<Grant>,
    /// The server's time when the script ran (µs); the fast paths leave it out.
    pub(crate) server_now_us: Option<i64>,
}

impl Reply {
    /// Parses a script's reply; `None` when it has an unexpected shape.
    pub(crate) fn parse(value: Value) -> Option<Self> {
        let items = match value {
            Value::Array(items) => items,
            Value::BulkString(_) | Value::SimpleString(_) => {
                return Self::parse_short(&text(value)?)
            }
            _ => return None,
        };
        if items.len() > 6 {
            return None;
        }
        let mut items = items.into_iter();
        let status = text(items.next()?)?;
        let number = match items.next() {
            Some(Value::Int(n)) => n,
            None => 0,
            _ => return None,
        };
        let member = match items.next() {
            Some(member) => text(member)?,
            None => String::new(),
        };
        let lost = match items.next() {
            Some(Value::Array(lost)) => lost.into_iter().map(text).collect::<Option<_>>()?,
            None => Vec::new(),
            _ => return None,
        };
        let flat = match items.next() {
            Some(Value::Array(flat)) => flat,
            None => Vec::new(),
            _ => return None,
        };
        let mut grants = Vec::with_capacity(flat.len() / 5);
        let mut flat = flat.into_iter();
        while let Some(member) = flat.next() {
            let (
                Value::Int(permits),
                Value::Int(token),
                Value::Int(barrier),
                Value::Int(expiry_ms),
            ) = (flat.next()?, flat.next()?, flat.next()?, flat.next()?)
            else {
                return None;
            };
            grants.push(Grant {
                member: text(member)?,
                permits: u32::try_from(permits).ok()?,
                token: u64::try_from(token).ok()?,
                barrier: barrier == 1,
                expiry_ms,
            });
        }
        let server_now_us = match items.next() {
            Some(Value::Int(now)) => Some(now),
            None => None,
            _ => return None,
        };
        Some(Reply {
            status,
            number,
            member,
            lost,
            grants,
            server_now_us,
        })
    }
}

impl Reply {
    /// The reading of the server's clock this reply gives, for a call sent at `sent`.
    pub(crate) fn server_time(&self, sent: Instant) -> Option<ServerTime> {
        self.server_now_us.map(|now_us| ServerTime { sent, now_us })
    }

    /// `status [number [member]]`, the fast paths' answer.
    fn parse_short(line: &str) -> Option<Self> {
        let mut parts = line.split(' ');
        let status = parts.next().filter(|s| !s.is_empty())?.to_owned();
        let number = match parts.next() {
            Some(n) => n.parse().ok()?,
            None => 0,
        };
        let member = parts.next().unwrap_or_default().to_owned();
        if parts.next().is_some() {
            return None;
        }
        Some(Reply {
            status,
            number,
            member,
            ..Reply::default()
        })
    }
}

fn text(value: Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes).ok(),
        Value::SimpleString(s) => Some(s),
        _ => None,
    }
}

/// A pub/sub message: a grant to some process, or the semaphore closing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    Granted { client: String, grant: Grant },
    Closed,
}

impl Event {
    /// Parses `client member permits token barrier expiry` or `* closed`.
    pub(crate) fn parse(message: &str) -> Option<Self> {
        if message == "* closed" {
            return Some(Event::Closed);
        }
        let mut parts = message.split(' ');
        let client = parts.next()?.to_owned();
        let member = parts.next()?.to_owned();
        let permits = parts.next()?.parse().ok()?;
        let token = parts.next()?.parse().ok()?;
        let barrier = parts.next()? == "1";
        let expiry_ms = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(Event::Granted {
            client,
            grant: Grant {
                member,
                permits,
                token,
                barrier,
                expiry_ms,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse() {
        assert_eq!(Event::parse("* closed"), Some(Event::Closed));
        assert_eq!(
            Event::parse("abc 00ff 2 17 1 99000"),
            Some(Event::Granted {
                client: "abc".into(),
                grant: Grant {
                    member: "00ff".into(),
                    permits: 2,
                    token: 17,
                    barrier: true,
                    expiry_ms: 99_000,
                }
            })
        );
        assert_eq!(Event::parse("abc 00ff 2 17 1"), None);
        assert_eq!(Event::parse("abc 00ff x 1 0 5"), None);
        assert_eq!(Event::parse("abc 00ff 2 17 1 5 extra"), None);
    }

    #[test]
    fn replies_parse() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let reply = Reply::parse(Value::Array(vec![
            bulk("open"),
            Value::Int(3),
            bulk("m1"),
            Value::Array(vec![bulk("gone")]),
            Value::Array(vec![
                bulk("m2"),
                Value::Int(1),
                Value::Int(99),
                Value::Int(0),
                Value::Int(12_000),
            ]),
            Value::Int(10_000_000),
        ]))
        .unwrap();
        assert_eq!(reply.status, "open");
        assert_eq!(reply.number, 3);
        assert_eq!(reply.member, "m1");
        assert_eq!(reply.lost, vec!["gone".to_string()]);
        assert_eq!(
            reply.grants,
            vec![Grant {
                member: "m2".into(),
                permits: 1,
                token: 99,
                barrier: false,
                expiry_ms: 12_000,
            }]
        );
        assert_eq!(reply.server_now_us, Some(10_000_000));
        assert!(Reply::parse(Value::Int(1)).is_none());
        // Shorter tables read as 0, empty and none; the fast paths answer one string.
        let short = Reply::parse(Value::Array(vec![bulk("missing")])).unwrap();
        assert_eq!((short.status.as_str(), short.number), ("missing", 0));
        assert_eq!(short.server_now_us, None);
        assert!(Reply::parse(Value::Array(vec![])).is_none());
        let short = Reply::parse(bulk("released")).unwrap();
        assert_eq!((short.status.as_str(), short.number), ("released", 0));
        assert!(short.member.is_empty() && short.lost.is_empty() && short.grants.is_empty());
        let short = Reply::parse(bulk(
            "granted 1795961515064208 8000000000000000000000000000002a",
        ))
        .unwrap();
        assert_eq!(short.status, "granted");
        assert_eq!(short.number, 1_795_961_515_064_208);
        assert_eq!(short.member, "8000000000000000000000000000002a");
        assert!(Reply::parse(bulk("granted x m")).is_none());
        assert!(Reply::parse(bulk("granted 1 m extra")).is_none());
        assert!(Reply::parse(bulk("")).is_none());
    }
}
