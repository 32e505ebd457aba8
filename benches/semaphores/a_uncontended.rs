//! Group a: uncontended `try_acquire` + drop, and `acquire()` (plain, and with an explicit
//! priority) polled once + drop.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::Poll;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};

use crate::peers::{for_each_peer, Peer};
use crate::shared::noop_context;

fn try_acquire_uncontended<P: Peer>(g: &mut BenchmarkGroup<'_, WallTime>) {
    let sem = P::with_permits(1);
    g.bench_function(P::NAME, |b| {
        b.iter(|| {
            let permit = black_box(&sem).try_acquire();
            assert!(permit.is_some());
            drop(black_box(permit));
        })
    });
}

fn acquire_uncontended<P: Peer>(g: &mut BenchmarkGroup<'_, WallTime>) {
    acquire_uncontended_with::<P>(g, None);
}

/// With an explicit priority (`.priority(3)` here; the others' own priority argument, or
/// their plain acquire if they have none).
fn acquire_priority_uncontended<P: Peer>(g: &mut BenchmarkGroup<'_, WallTime>) {
    acquire_uncontended_with::<P>(g, Some(3));
}

fn acquire_uncontended_with<P: Peer>(g: &mut BenchmarkGroup<'_, WallTime>, priority: Option<i64>) {
    let sem = P::with_permits(1);
    let mut cx = noop_context();
    g.bench_function(P::NAME, |b| {
        b.iter(|| match priority {
            None => {
                let mut fut = pin!(black_box(&sem).acquire());
                let Poll::Ready(permit) = fut.as_mut().poll(&mut cx) else {
                    panic!("an uncontended acquire completes on its first poll");
                };
                drop(black_box(permit));
            }
            Some(priority) => {
                let mut fut = pin!(black_box(&sem).acquire_prio(black_box(priority)));
                let Poll::Ready(permit) = fut.as_mut().poll(&mut cx) else {
                    panic!("an uncontended acquire completes on its first poll");
                };
                drop(black_box(permit));
            }
        })
    });
}

pub fn group_a(c: &mut Criterion) {
    let mut g = c.benchmark_group("a_try_acquire");
    for_each_peer!(try_acquire_uncontended(&mut g));
    g.finish();
    let mut g = c.benchmark_group("a_acquire");
    for_each_peer!(acquire_uncontended(&mut g));
    g.finish();
    let mut g = c.benchmark_group("a_acquire_priority");
    for_each_peer!(acquire_priority_uncontended(&mut g));
    g.finish();
}
