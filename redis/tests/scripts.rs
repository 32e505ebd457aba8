//! The Lua scripts called directly, for the cases a race makes hard to reach through the
//! API: a process re-entering the line with a waiter that was already granted (it had
//! not heard of the grant yet) must be told of the grant and must not enter the line
//! again, whether `holders` is small or large (Redis's two sorted-set encodings).

mod support;

use redis::Value;
use support::{key, RedisServer};

const PRELUDE: &str = include_str!("../src/lua/prelude.lua");

fn script(first: &str, body: &str) -> redis::Script {
    redis::Script::new(&format!("{first}{PRELUDE}{body}"))
}

struct Scripts {
    acquire: redis::Script,
    release: redis::Script,
    enter: redis::Script,
    sync: redis::Script,
}

fn scripts() -> Scripts {
    Scripts {
        acquire: script(
            include_str!("../src/lua/acquire_fast.lua"),
            include_str!("../src/lua/acquire.lua"),
        ),
        release: script(
            include_str!("../src/lua/release_fast.lua"),
            include_str!("../src/lua/release.lua"),
        ),
        enter: script(
            include_str!("../src/lua/start.lua"),
            include_str!("../src/lua/enter.lua"),
        ),
        sync: script(
            include_str!("../src/lua/start.lua"),
            include_str!("../src/lua/sync.lua"),
        ),
    }
}

/// One process as the scripts see it: a client id and its common arguments.
struct Process<'a> {
    name: &'a str,
    client: String,
    limit: u32,
}

impl Process<'_> {
    fn call(
        &self,
        connection: &mut redis::Connection,
        script: &redis::Script,
        args: &[&str],
    ) -> Value {
        let mut call = script.prepare_invoke();
        for suffix in ["config", "holders", "line", "entries", "clients", "alive"] {
            call.key(key(self.name, suffix));
        }
        call.arg(key(self.name, "events"))
            .arg(&self.client)
            .arg(self.limit)
            .arg(60_000)
            .arg(60_000);
        for arg in args {
            call.arg(*arg);
        }
        call.invoke(connection).expect("script")
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).unwrap(),
        other => panic!("not a string: {other:?}"),
    }
}

fn items(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) => items,
        other => panic!("not an array: {other:?}"),
    }
}

const PRIORITY_0: &str = "8000000000000000";

fn granted_to_a_waiter_that_had_not_heard(holders_before: u32) {
    let server = RedisServer::start();
    let mut redis = server.connection();
    let scripts = scripts();
    let limit = holders_before + 1;
    let a = Process {
        name: "stale",
        client: "a".repeat(32),
        limit,
    };
    let b = Process {
        name: "stale",
        client: "b".repeat(32),
        limit,
    };
    // A new semaphore: wait out its grace period (one lease, 60 s here) by moving it.
    a.call(&mut redis, &scripts.sync, &[]);
    redis::cmd("HSET")
        .arg(key("stale", "config"))
        .arg("grace_until")
        .arg(0)
        .exec(&mut redis)
        .unwrap();
    // `a` takes every permit (the last one by itself), `b` waits in line.
    for _ in 0..holders_before {
        a.call(
            &mut redis,
            &scripts.acquire,
            &[PRIORITY_0, "1", "fast", "0"],
        );
    }
    let last = text(&a.call(
        &mut redis,
        &scripts.acquire,
        &[PRIORITY_0, "1", "fast", "0"],
    ));
    let [status, token, member] = last.split(' ').collect::<Vec<_>>()[..] else {
        panic!("{last}");
    };
    assert_eq!(status, "granted");
    let queued = b.call(
        &mut redis,
        &scripts.acquire,
        &[PRIORITY_0, "1", "wait", "0"],
    );
    // Nothing granted to `b` by the call: one string, `queued 0 <member>`.
    let queued = text(&queued);
    let ["queued", "0", waiter] = queued.split(' ').collect::<Vec<_>>()[..] else {
        panic!("{queued}");
    };
    let waiter = waiter.to_owned();
    // `a` releases: the permit goes to `b` in the same script.
    let released = a.call(&mut redis, &scripts.release, &[member, "1", token]);
    assert_eq!(text(&released), "released");
    let line: usize = redis::cmd("ZCARD")
        .arg(key("stale", "line"))
        .query(&mut redis)
        .unwrap();
    assert_eq!(line, 0, "granted, so out of the line");
    // `b` has not heard and puts the same waiter back in line: it is told of the grant
    // instead, with its token, and the line stays empty.
    let entered = b.call(&mut redis, &scripts.enter, &[&waiter, "1", "0"]);
    let entered = items(&entered);
    assert_eq!(text(&entered[0]), "stale");
    let grants = items(&entered[4]);
    assert_eq!(text(&grants[0]), waiter);
    assert!(matches!(grants[2], Value::Int(t) if t > token.parse::<i64>().unwrap()));
    let line: usize = redis::cmd("ZCARD")
        .arg(key("stale", "line"))
        .query(&mut redis)
        .unwrap();
    assert_eq!(line, 0, "a granted waiter never enters the line again");
    let used: u32 = redis::cmd("HGET")
        .arg(key("stale", "config"))
        .arg("used")
        .query(&mut redis)
        .unwrap();
    assert_eq!(used, limit);
}

#[test]
fn a_granted_waiter_re_entering_is_told_of_its_grant() {
    granted_to_a_waiter_that_had_not_heard(0);
}

#[test]
fn a_granted_waiter_re_entering_is_told_of_its_grant_among_many_holders() {
    // Over 128 members: Redis keeps `holders` as a skip list, and the scan pages.
    granted_to_a_waiter_that_had_not_heard(300);
}
