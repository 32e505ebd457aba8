//! Each holder process writes its own log of what it believed: granted at, told lost at,
//! released at. One checker reads every log and proves that no two holders' intervals
//! overlapped beyond the limit, in the holders' own view.
//!
//! Times are the raw `CLOCK_MONOTONIC` read by a system call: one clock for every process
//! on the machine, whatever libfaketime does to a process's libc clocks.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Nanoseconds of the machine's monotonic clock, past any libc interposition.
pub fn raw_now() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one `timespec` through the pointer, which is valid.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clock_gettime,
            libc::CLOCK_MONOTONIC,
            &mut ts as *mut libc::timespec,
        )
    };
    assert_eq!(rc, 0, "clock_gettime");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A process's own log, one line per event.
pub struct Log {
    file: File,
    /// Maps this process's `Instant`s onto the raw clock; `None` when libfaketime makes
    /// its monotonic clock run at another rate (then only what it observed is logged).
    origin: Option<(Instant, u64)>,
}

impl Log {
    pub fn create(path: &Path, skewed: bool) -> Self {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open the process's log");
        let origin = (!skewed).then(|| (Instant::now(), raw_now()));
        Log { file, origin }
    }

    fn line(&mut self, line: String) {
        writeln!(self.file, "{line}").expect("write the log");
        self.file.flush().expect("flush the log");
    }

    /// The permit is ours from now on.
    pub fn granted(&mut self, token: u64, permits: usize) {
        self.line(format!("granted {} {token} {permits}", raw_now()));
    }

    /// `is_lost()` said true just now; `deadline` is the permit's `valid_until()`, from
    /// which on every check would have said so.
    pub fn lost(&mut self, token: u64, deadline: Instant) {
        let observed = raw_now();
        let from = match self.origin {
            Some((instant, raw)) if deadline >= instant => {
                (raw + (deadline - instant).as_nanos() as u64).min(observed)
            }
            Some((instant, raw)) => raw - (instant - deadline).as_nanos() as u64,
            None => observed,
        };
        self.line(format!("lost {from} {token} {observed}"));
    }

    /// About to release: the holder stops using the resource now.
    pub fn released(&mut self, token: u64) {
        self.line(format!("released {} {token}", raw_now()));
    }

    /// An acquire failed (Redis away, timed out, ...).
    pub fn failed(&mut self, error: &str) {
        let error = error.replace('\n', " ");
        self.line(format!("failed {} {error}", raw_now()));
    }
}

/// One holder's interval in its own view.
#[derive(Debug, Clone)]
pub struct Held {
    pub log: PathBuf,
    pub token: u64,
    pub permits: usize,
    pub granted: u64,
    /// When it stopped believing it held: told lost, or about to release.
    pub until: u64,
    /// Ended by a loss: (from when every check said lost, when the holder saw it).
    pub lost: Option<(u64, u64)>,
}

/// What the checker found.
#[derive(Debug)]
pub struct Report {
    pub holds: Vec<Held>,
    /// The most permits held at one instant.
    pub peak: usize,
    pub failures: usize,
}

impl Report {
    /// Every loss, with how long before the next grant to anyone else the holder had been
    /// told (positive: told first), by its checks' answer and by what it observed.
    pub fn told_first(&self) -> Vec<(Duration, i64, i64)> {
        let mut out = Vec::new();
        for held in &self.holds {
            let Some((from, observed)) = held.lost else {
                continue;
            };
            let next = self
                .holds
                .iter()
                .filter(|h| h.log != held.log && h.granted >= held.granted)
                .map(|h| h.granted)
                .min();
            if let Some(next) = next {
                out.push((
                    Duration::from_nanos(from - held.granted),
                    next as i64 - from as i64,
                    next as i64 - observed as i64,
                ));
            }
        }
        out
    }
}

/// Reads every log. A holder still holding when its log ends holds until its process
/// ended: `ends` gives that instant per log (when it was killed), or the default `end`.
pub fn read(logs: &[PathBuf], end: u64, ends: &[(PathBuf, u64)]) -> Report {
    let mut holds = Vec::new();
    let mut failures = 0;
    for log in logs {
        let end = ends
            .iter()
            .find(|(path, _)| path == log)
            .map_or(end, |(_, at)| *at);
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let mut open: Option<Held> = None;
        for line in text.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let at: u64 = fields[1].parse().expect("a time");
            match fields[0] {
                "granted" => {
                    assert!(open.is_none(), "{log:?}: granted twice without an end");
                    open = Some(Held {
                        log: log.clone(),
                        token: fields[2].parse().unwrap(),
                        permits: fields[3].parse().unwrap(),
                        granted: at,
                        until: end,
                        lost: None,
                    });
                }
                "lost" | "released" => {
                    let mut held = open.take().expect("an end without a grant");
                    assert_eq!(held.token, fields[2].parse::<u64>().unwrap());
                    held.until = at;
                    if fields[0] == "lost" {
                        held.lost = Some((at, fields[3].parse().unwrap()));
                    }
                    holds.push(held);
                }
                "failed" => failures += 1,
                other => panic!("{log:?}: unknown event {other}"),
            }
        }
        holds.extend(open);
    }
    let peak = peak(&holds);
    Report {
        holds,
        peak,
        failures,
    }
}

/// The most permits held at one instant: a sweep over starts and ends (an end at the same
/// instant as a start counts first, so touching intervals do not overlap).
fn peak(holds: &[Held]) -> usize {
    let mut events: Vec<(u64, i64)> = Vec::new();
    for held in holds {
        events.push((held.granted, held.permits as i64));
        events.push((held.until, -(held.permits as i64)));
    }
    events.sort();
    let (mut now, mut peak) = (0i64, 0i64);
    for (_, delta) in events {
        now += delta;
        peak = peak.max(now);
    }
    peak as usize
}
