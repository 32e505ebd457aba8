#!/usr/bin/env python3
"""Turns criterion's output for `benches/semaphores.rs` into docs/benchmarks.md and
docs/benchmarks.svg, and prints the tables.

    python3 scripts/bench_report.py [--estimator median|mean|min] [--criterion DIR]

Reads `<target>/criterion/<group>/<peer>[/<depth>]/new/{benchmark,estimates,sample}.json`,
`<target>/criterion/allocations.json` (heap allocations per waiter, written by the bench),
`<target>/criterion/paired_b.json` (group b in paired rounds, written by the bench),
`paired_f.json` and `paired_g.json` (groups f and g, measured in paired rounds only) and,
if present, `<target>/bench-profile/instructions.json` (scripts/profile.sh). Text
between the `<!-- notes -->` and `<!-- /notes -->` markers of an existing
docs/benchmarks.md is kept, so hand-written findings survive regeneration.

Standard library only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = "prio-semaphore"
PEERS = [OURS, "tokio", "async-lock", "maitake-sync", "priority-semaphore", "ranked-semaphore"]
CRATES = {  # name in the report -> crate name in Cargo.lock
    OURS: "prio-semaphore",
    "tokio": "tokio",
    "async-lock": "async-lock",
    "maitake-sync": "maitake-sync",
    "priority-semaphore": "priority-semaphore",
    "ranked-semaphore": "ranked-semaphore",
}
FIFO_ONLY = {"tokio", "async-lock", "maitake-sync"}
HEAP_BASED = ["priority-semaphore", "ranked-semaphore"]
DEPTHS = [100, 1000, 10000, 100000]

# What each implementation offers, from its documentation and source (not measured).
FEATURES = {
    OURS: ("yes, any `Ord`, smaller first", "yes", "yes", "intrusive treap of FIFO runs"),
    "tokio": ("no (FIFO)", "yes", "yes", "intrusive linked list"),
    "async-lock": ("no (not FIFO either: woken waiters race)", "no", "yes",
                   "`event-listener` list"),
    "maitake-sync": ("no (FIFO)", "yes", "yes", "intrusive linked list"),
    "priority-semaphore": ("yes, `i32`, larger first", "no", "yes",
                           "binary heap of `Arc`'d waiters"),
    "ranked-semaphore": ("yes, `isize`, larger first", "yes", "yes (may barge past waiters)",
                         "`HashMap` of `VecDeque`s + `BinaryHeap`; lazy cancel"),
}

# scripts/profile.sh scenario -> what one operation is (existing_<n>/new_<n> are derived).
PROFILE_SCENARIOS = {
    "try": "a, `try_acquire` + drop",
    "acquire": "a, `acquire` + drop",
    "acquire_priority": "a, `acquire().priority(3)` + drop",
    "tasks_equal": "b, task (equal)",
    "tasks_classes": "b, task (two classes)",
    "tasks_random": "b, task (random)",
    "churn": "c, enqueue + cancel",
}

GROUPS = [
    ("a_try_acquire", "a. Uncontended `try_acquire` + drop", "per call"),
    ("a_acquire", "a. Uncontended `acquire()` polled once (noop waker) + drop", "per call"),
    ("a_acquire_priority", "a. Uncontended `acquire().priority(3)` polled once + drop (peers: their own priority argument, or plain `acquire()`)", "per call"),
    ("b_equal", "b. 10,000 tasks, 4 permits, equal priorities", "per task"),
    ("b_two_classes", "b. 10,000 tasks, 4 permits, two priority classes", "per task"),
    ("b_random", "b. 10,000 tasks, 4 permits, distinct random priorities", "per task"),
    ("c_oldest_first", "c. Cancellation churn: 1,000 queued waiters dropped oldest first",
     "per waiter"),
    ("c_random_order", "c. Cancellation churn: dropped in random order", "per waiter"),
    ("c_random_priorities",
     "c. Cancellation churn: distinct random priorities, dropped in random order",
     "per waiter"),
    ("d_handoff", "d. Multi-thread hand-off (threads = cores, at least 2; permits = half; "
     "not ranked-semaphore, which loses a wake-up here and hangs)",
     "per acquire/release"),
]
# Groups measured in paired rounds only (no criterion runs): file, then (group prefix, title).
PAIRED_ONLY = [
    ("paired_f.json", "f_multi_thread_", "f. tokio multi-thread runtime, {} workers: 10,000 tasks, "
     "4 permits, each holding its permit across `yield_now()`", "per run"),
    ("paired_g.json", "g_blocking_", "g. Blocking threads, one permit, {} threads "
     "(threads ÷ cores: see the machine line)", "per run of 10,000 acquire/release pairs"),
]
E_GROUPS = [
    ("e_existing_class", "e. One more waiter joining an existing class (8 classes queued)"),
    ("e_new_priority", "e. One more waiter with a new distinct priority (all distinct)"),
]


# ---------------------------------------------------------------------------------------
# Reading criterion's output
# ---------------------------------------------------------------------------------------


def target_dir() -> Path:
    env = os.environ.get("CARGO_TARGET_DIR")
    if env:
        return Path(env)
    try:
        meta = subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--no-deps"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )
        return Path(json.loads(meta.stdout)["target_directory"])
    except (OSError, subprocess.CalledProcessError, ValueError, KeyError):
        return ROOT / "target"


def load_results(criterion: Path, estimator: str) -> dict:
    """{(group, peer, depth or None): seconds per element}"""
    results = {}
    for bench in criterion.glob("**/new/benchmark.json"):
        new = bench.parent
        meta = json.loads(bench.read_text())
        estimates = json.loads((new / "estimates.json").read_text())
        if estimator == "min":
            sample = json.loads((new / "sample.json").read_text())
            per_iter = min(t / n for t, n in zip(sample["times"], sample["iters"]))
        else:
            per_iter = estimates[estimator]["point_estimate"]
        elements = 1
        throughput = meta.get("throughput") or {}
        if "Elements" in throughput:
            elements = throughput["Elements"]
        value = meta.get("value_str")
        depth = int(value) if value else None
        mad = estimates["median_abs_dev"]["point_estimate"] / estimates["median"]["point_estimate"]
        results[(meta["group_id"], meta["function_id"], depth)] = {
            "s": per_iter * 1e-9 / elements,
            "mad": mad,
            "mtime": (new / "estimates.json").stat().st_mtime,
        }
    return results


def paired_ratios(paired) -> dict:
    """{(group, peer): median over rounds of peer time ÷ prio-semaphore time that round}"""
    ratios = {}
    for group, peers in (paired or {}).items():
        ours = peers.get(OURS)
        if not ours:
            continue
        for peer, times in peers.items():
            per_round = sorted(t / o for t, o in zip(times, ours))
            if per_round:
                ratios[(group, peer)] = per_round[len(per_round) // 2]
    return ratios


def load_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def lock_versions() -> dict:
    versions = {}
    try:
        text = (ROOT / "Cargo.lock").read_text()
    except OSError:
        return versions
    wanted = set(CRATES.values()) | {"criterion", "futures"}
    for name, version in re.findall(r'name = "([^"]+)"\nversion = "([^"]+)"', text):
        if name in wanted:
            versions.setdefault(name, version)
    return versions


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        rustc = subprocess.run(["rustc", "-V"], capture_output=True, text=True).stdout.strip()
    except OSError:
        rustc = "rustc (unknown version)"
    return f"{cpu}, {os.cpu_count()} logical cores, {platform.system()}; {rustc}"


# ---------------------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------------------


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    ns = seconds * 1e9
    if ns < 10:
        return f"{ns:.2f} ns"
    if ns < 1000:
        return f"{ns:.1f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns / 1e6:.2f} ms"


def fmt_ratio(r: float | None) -> str:
    return "–" if r is None else f"{r:.2f}×"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def peer_label(peer: str, group: str) -> str:
    label = f"`{peer}`"
    if peer == OURS:
        label = f"**{label}**"
    prio_group = group.startswith(("b_two", "b_random", "c_random_priorities", "e_"))
    if peer in FIFO_ONLY and prio_group:
        label += " (FIFO only)"
    return label


# ---------------------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------------------


def evaluate_targets(res: dict, allocs, paired: dict) -> list[tuple[str, str, bool | None]]:
    def t(group, peer, depth=None):
        entry = res.get((group, peer, depth))
        return entry["s"] if entry else None

    targets = []

    def ratio_target(name, ours, theirs, limit, theirs_name):
        if ours is None or theirs is None:
            targets.append((name, "not measured", None))
            return
        r = ours / theirs
        targets.append((name, f"{r:.2f}× {theirs_name}", r <= limit))

    def b_target(name, group, peer, limit, theirs_name):
        """Group b targets use the paired rounds when there are some."""
        if (group, peer) in paired:
            r = 1 / paired[(group, peer)]
            targets.append((name, f"{r:.2f}× {theirs_name} (paired rounds; criterion: "
                                  f"{t(group, OURS) / t(group, peer):.2f}×)"
                            if t(group, OURS) and t(group, peer) else
                            f"{r:.2f}× {theirs_name} (paired rounds)", r <= limit))
        else:
            ratio_target(name, t(group, OURS), t(group, peer), limit, theirs_name)

    for group, what in [("a_try_acquire", "try_acquire"), ("a_acquire", "acquire")]:
        peers = {p: t(group, p) for p in PEERS[1:] if t(group, p) is not None}
        fastest = min(peers, key=peers.get) if peers else None
        ratio_target(f"(a) uncontended `{what}` ≤ 0.9× the fastest peer", t(group, OURS),
                     peers.get(fastest), 0.9, f"`{fastest}`")
    ratio_target("(a) `acquire().priority(p)` ≤ 1.0× a plain `acquire()`",
                 t("a_acquire_priority", OURS), t("a_acquire", OURS), 1.0,
                 "its own plain `acquire()`")
    b_target("(b) equal priorities ≤ 1.0× tokio", "b_equal", "tokio", 1.0, "`tokio`")
    b_target("(b) two classes ≤ 1.0× tokio (FIFO only)", "b_two_classes", "tokio", 1.0,
             "`tokio`")
    if any(("b_random", p) in paired for p in HEAP_BASED):
        heap = {p: 1 / paired[("b_random", p)] for p in HEAP_BASED if ("b_random", p) in paired}
    else:
        heap = {p: t("b_random", OURS) / t("b_random", p) for p in HEAP_BASED
                if t("b_random", p) and t("b_random", OURS)}
    fastest = max(heap, key=heap.get) if heap else None
    if fastest:
        b_target("(b) random priorities ≤ 1.0× the fastest heap-based peer", "b_random",
                 fastest, 1.0, f"`{fastest}`")
    else:
        targets.append(("(b) random priorities ≤ 1.0× the fastest heap-based peer",
                        "not measured", None))

    ratio_target("(c) churn with distinct priorities ≤ 0.8× `priority-semaphore`",
                 t("c_random_priorities", OURS), t("c_random_priorities", "priority-semaphore"),
                 0.8, "`priority-semaphore`")

    for group, ratio in sorted(paired.items()):
        if group[0].startswith("f_multi_thread_") and group[1] == "tokio":
            workers = group[0].rsplit("_", 1)[1]
            r = 1 / ratio
            targets.append((f"(f) multi-thread runtime, {workers} workers ≤ 1.0× tokio",
                            f"{r:.2f}× `tokio` (paired rounds)", r <= 1.0))

    lo, hi = t("e_existing_class", OURS, DEPTHS[0]), t("e_existing_class", OURS, DEPTHS[-1])
    if lo and hi:
        g = hi / lo
        targets.append(("(e) existing class: flat (100k deep ≤ 1.3× 100 deep)",
                        f"{g:.2f}× from 100 to 100,000", g <= 1.3))
    else:
        targets.append(("(e) existing class: flat", "not measured", None))
    lo, hi = t("e_new_priority", OURS, DEPTHS[0]), t("e_new_priority", OURS, DEPTHS[-1])
    bound = math.log(DEPTHS[-1]) / math.log(DEPTHS[0])
    if lo and hi:
        g = hi / lo
        targets.append((f"(e) new priority: at most logarithmic (≤ {bound:.1f}× = log ratio)",
                        f"{g:.2f}× from 100 to 100,000", g <= bound))
    else:
        targets.append(("(e) new priority: at most logarithmic", "not measured", None))

    ours_size = ((allocs or {}).get(OURS) or {}).get("future_bytes")
    tokio_size = ((allocs or {}).get("tokio") or {}).get("future_bytes")
    if ours_size and tokio_size:
        targets.append((f"`acquire` future ≤ {tokio_size} bytes (tokio's)", f"{ours_size} bytes",
                        ours_size <= tokio_size))
    if allocs and OURS in allocs:
        a = allocs[OURS]
        worst = max(a[k] for k in ("equal", "distinct") if a.get(k) is not None)
        targets.append(("zero heap allocations per waiter",
                        f"{worst:g} per waiter (equal and distinct priorities)", worst == 0))
    else:
        targets.append(("zero heap allocations per waiter", "not measured", None))
    return targets


# ---------------------------------------------------------------------------------------
# The chart
# ---------------------------------------------------------------------------------------

COLORS = {
    "tokio": "#4e79a7",
    "async-lock": "#f28e2b",
    "maitake-sync": "#59a14f",
    "priority-semaphore": "#e15759",
    "ranked-semaphore": "#b07aa1",
}


def svg_chart(rows: list[tuple[str, dict]]) -> str:
    """Diverging bars on a log scale: each peer's time ÷ prio-semaphore's time."""
    peers = PEERS[1:]
    bar_h, gap, label_w, plot_w, top = 7, 8, 230, 600, 70
    ratios = [r for _, per in rows for r in per.values() if r]
    lo = min([0.25] + ratios)
    hi = max([4.0] + ratios)
    lo_exp, hi_exp = math.floor(math.log2(lo)), math.ceil(math.log2(hi))

    def x(r):
        return label_w + (math.log2(r) - lo_exp) / (hi_exp - lo_exp) * plot_w

    height = top + len(rows) * (len(peers) * bar_h + gap) + 40
    width = label_w + plot_w + 30
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14" '
        'font-weight="bold">Time of each peer ÷ time of prio-semaphore (log scale)</text>',
        f'<text x="{width / 2}" y="34" text-anchor="middle" fill="#555">right of 1×: '
        "prio-semaphore is faster; left: the peer is faster</text>",
    ]
    lx = 20.0
    for peer in peers:
        out.append(f'<rect x="{lx:.1f}" y="44" width="10" height="10" fill="{COLORS[peer]}"/>')
        out.append(f'<text x="{lx + 14:.1f}" y="53">{peer}</text>')
        lx += 14 + 6.5 * len(peer) + 18
    out.append(f'<rect x="{lx:.1f}" y="44" width="10" height="10" fill="#888" '
               'fill-opacity="0.35"/>')
    out.append(f'<text x="{lx + 14:.1f}" y="53">faded: FIFO only (no priorities)</text>')
    axis_bottom = height - 30
    for e in range(lo_exp, hi_exp + 1):
        xe = x(2.0 ** e)
        label = f"{2.0 ** e:g}×"
        color = "#000" if e == 0 else "#ddd"
        out.append(f'<line x1="{xe:.1f}" y1="{top - 6}" x2="{xe:.1f}" y2="{axis_bottom}" '
                   f'stroke="{color}"/>')
        out.append(f'<text x="{xe:.1f}" y="{axis_bottom + 14}" text-anchor="middle">{label}'
                   "</text>")
    y = top
    one = x(1.0)
    for name, per in rows:
        block = len(peers) * bar_h
        out.append(f'<text x="{label_w - 8}" y="{y + block / 2 + 4:.1f}" '
                   f'text-anchor="end">{name}</text>')
        prio_group = name.startswith(("b_two", "b_random", "c_random_priorities", "e_"))
        for peer in peers:
            r = per.get(peer)
            if r:
                xr = x(r)
                left, w = min(one, xr), abs(xr - one)
                faded = ' fill-opacity="0.35"' if prio_group and peer in FIFO_ONLY else ""
                out.append(f'<rect x="{left:.1f}" y="{y}" width="{max(w, 1):.1f}" '
                           f'height="{bar_h - 1}" fill="{COLORS[peer]}"{faded}>'
                           f"<title>{peer}: {r:.2f}×</title></rect>")
            y += bar_h
        y += gap
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--estimator", choices=["median", "mean", "min"], default="median",
                        help="per-benchmark statistic (default: criterion's median)")
    parser.add_argument("--criterion", type=Path, help="criterion's output directory")
    parser.add_argument("--out", type=Path, default=ROOT / "docs",
                        help="where benchmarks.md and benchmarks.svg go")
    args = parser.parse_args()

    target = target_dir()
    criterion = args.criterion or Path(os.environ.get("CRITERION_HOME", target / "criterion"))
    res = load_results(criterion, args.estimator)
    if not res:
        print(f"no criterion results under {criterion}; run scripts/bench.sh", file=sys.stderr)
        return 1
    allocs = load_json(criterion / "allocations.json")
    paired_raw = load_json(criterion / "paired_b.json")
    paired_only = {}
    for file, _, _, _ in PAIRED_ONLY:
        paired_only.update(load_json(criterion / file) or {})
    paired = paired_ratios(paired_raw)
    paired.update(paired_ratios(paired_only))
    instructions = load_json(target / "bench-profile" / "instructions.json")
    versions = lock_versions()
    newest = max(v["mtime"] for v in res.values())
    when = datetime.datetime.fromtimestamp(newest, datetime.timezone.utc)

    md: list[str] = []
    md += [
        "# Benchmarks: prio-semaphore side by side",
        "",
        "Regenerate everything on this page with **`scripts/bench.sh`** (about 6 minutes: "
        "`cargo bench -p prio-semaphore-benches`, then `python3 scripts/bench_report.py`). "
        "Instruction counts come from **`scripts/profile.sh`** (callgrind, needs valgrind; "
        "run it before `scripts/bench.sh` to include them). The benchmarks are in "
        "`benches/semaphores.rs`, whose module docs explain each workload.",
        "",
        f"* Results from {when:%Y-%m-%d %H:%M} UTC on {machine()}.",
        f"* Statistic: criterion's **{args.estimator}** time per operation; "
        "ratios are other ÷ prio-semaphore, so a ratio above 1 means prio-semaphore is "
        "faster.",
        "* Versions: " + ", ".join(
            f"`{name}` {versions[crate]}" for name, crate in CRATES.items() if crate in versions
        ) + (f"; criterion {versions['criterion']}" if "criterion" in versions else "") + ".",
        "* Wall-clock times on a shared or busy machine are noisy (the ± column is criterion's "
        "median absolute deviation); the instruction counts at the end are not.",
        "* Group b is also measured in **paired rounds** (each round runs every "
        "implementation once, in rotated order; the ratio is the median over rounds of the "
        "ratio within a round), which a burst of noise cannot move the way it moves one "
        "implementation's criterion samples; the (b) targets use them. A paired run is one "
        "cold iteration, so its times are higher than criterion's warm ones. Groups f and g "
        "(threads) are measured in paired rounds only, each round in a fresh random order.",
        "",
        "![ratio chart](benchmarks.svg)",
        "",
    ]

    targets = evaluate_targets(res, allocs, paired)
    md += ["## Targets", ""]
    md += table(["target", "measured", "met?"], [
        [name, measured, "–" if ok is None else ("**yes**" if ok else "**no**")]
        for name, measured, ok in targets
    ])
    md += [""]

    md += ["## Implementations", ""]
    rows = []
    for peer in PEERS:
        prio, weighted, try_acq, structure = FEATURES[peer]
        a = (allocs or {}).get(peer) or {}
        alloc_txt = "–"
        if a:
            alloc_txt = f"{a['equal']:g}"
            if a.get("distinct") is not None and a["distinct"] != a["equal"]:
                alloc_txt += f" ({a['distinct']:g} with distinct priorities)"
        version = versions.get(CRATES[peer], "?")
        size = f"{a['future_bytes']} B" if "future_bytes" in a else "–"
        rows.append([f"`{peer}` {version}", prio, weighted, try_acq, structure, alloc_txt,
                     size])
    md += table(["crate", "priorities", "weighted", "`try_acquire`", "wait list",
                 "heap allocations per queued waiter (measured)", "`acquire` future"], rows)
    md += [
        "",
        "Peers without priorities run the priority workloads in arrival order (marked "
        "\"FIFO only\"): that is the baseline the priority targets compare against, not the "
        "same service order. No workload needs weighted requests.",
        "",
    ]

    chart_rows = []
    printed = []
    for group, title, unit in GROUPS:
        ours = res.get((group, OURS, None))
        has_paired = any(g == group for g, _ in paired)
        md += [f"## {title}", ""]
        rows = []
        per_peer_ratio = {}
        for peer in PEERS:
            entry = res.get((group, peer, None))
            pr = paired.get((group, peer))
            extra = [fmt_ratio(pr)] if has_paired else []
            if not entry:
                rows.append([peer_label(peer, group), "not run", "", ""] + extra)
                continue
            r = entry["s"] / ours["s"] if ours else None
            if peer != OURS and (pr or r):
                per_peer_ratio[peer] = pr or r
            rows.append([peer_label(peer, group), fmt_time(entry["s"]),
                         f"±{entry['mad'] * 100:.0f}%", fmt_ratio(r)] + extra)
        rounds = len(next(iter(paired_raw[group].values()))) if has_paired else 0
        md += table(["implementation", f"time {unit}", "±", "÷ prio-semaphore"]
                    + ([f"÷ prio-semaphore, paired ({rounds} rounds)"] if has_paired else []),
                    rows)
        md += [""]
        chart_rows.append((group, per_peer_ratio))
        printed.append((group, rows))

    for group, title in E_GROUPS:
        md += [f"## {title}", "",
               "Time to create one more `acquire` future at this priority, poll it once "
               "(it queues) and drop it (it leaves the queue), with the queue this deep."
               " FIFO-only peers do a plain enqueue.", ""]
        rows = []
        per_peer_ratio = {}
        for peer in PEERS:
            cells = []
            times = []
            for depth in DEPTHS:
                entry = res.get((group, peer, depth))
                times.append(entry["s"] if entry else None)
                cells.append(fmt_time(entry["s"] if entry else None))
            growth = fmt_ratio(times[-1] / times[0]) if times[0] and times[-1] else "–"
            ours10k = res.get((group, OURS, 10000))
            r10k = (times[2] / ours10k["s"]) if times[2] and ours10k else None
            if peer != OURS and r10k:
                per_peer_ratio[peer] = r10k
            rows.append([peer_label(peer, group)] + cells + [growth, fmt_ratio(r10k)])
        md += table(["implementation"] + [f"depth {d:,}" for d in DEPTHS]
                    + ["growth 100 → 100k", "÷ prio-semaphore at 10k"], rows)
        md += [""]
        chart_rows.append((f"{group} (10k deep)", per_peer_ratio))
        printed.append((group, rows))
    for _, prefix, title, unit in PAIRED_ONLY:
        for group, peers in paired_only.items():
            if not group.startswith(prefix):
                continue
            count = group[len(prefix):].split("_")[0]
            rounds = len(next(iter(peers.values())))
            md += [f"## {title.format(count)}", "",
                   f"Paired rounds only ({rounds} rounds, each in a fresh random order); "
                   "rows in parentheses are prio-semaphore with one internal changed "
                   "(`benches/semaphores/variants.rs`).", ""]
            rows = []
            per_peer_ratio = {}
            for peer, times in peers.items():
                median = sorted(times)[len(times) // 2]
                r = paired.get((group, peer))
                if peer in PEERS[1:] and r:
                    per_peer_ratio[peer] = r
                label = f"**`{peer}`**" if peer == OURS else f"`{peer}`"
                rows.append([label, fmt_time(median), fmt_ratio(r)])
            md += table(["implementation", f"median time {unit}",
                         "÷ prio-semaphore, paired"], rows)
            md += [""]
            chart_rows.append((group, per_peer_ratio))
            printed.append((group, rows))
    if any(peer == "ranked-semaphore" for _, peer, _ in res):
        md += [
            "`ranked-semaphore` never unlinks a dropped waiter (its `Drop` only marks it "
            "cancelled; it is skipped when permits reach it), so its one-more-waiter cost is "
            "a push, and every iteration leaves an entry behind: it is measured with a short "
            "fixed budget to bound that growth. In group c each round ends by releasing and "
            "retaking the held permit, which is when it pays for the cleanup.",
            "",
        ]

    if instructions:
        md += ["## Instructions per operation (callgrind)", "",
               "Counted by `scripts/profile.sh` over the measured loop only "
               "(`--toggle-collect=*profile_measure*`): deterministic, unlike the timings. "
               "Task scenarios include the executor's own work (the same for everyone).", ""]
        header = ["scenario", "per"] + [f"`{p}`" for p in PEERS]
        rows = []
        for scenario, per in instructions.items():
            what = PROFILE_SCENARIOS.get(scenario, "")
            if not what and "_" in scenario:
                kind, depth = scenario.rsplit("_", 1)
                what = {"existing": "e, existing class", "new": "e, new priority"}.get(kind, "")
                what = f"{what}, {int(depth):,} deep" if what and depth.isdigit() else what
            rows.append([f"`{scenario}`", what] + [
                f"{per[p]:,.0f}" if p in per else "–" for p in PEERS
            ])
        md += table(header, rows)
        md += [""]

    notes = "<!-- notes -->\n## Findings\n\n(Hand-written analysis goes here; it survives " \
            "regeneration.)\n<!-- /notes -->"
    old = args.out / "benchmarks.md"
    if old.exists():
        m = re.search(r"<!-- notes -->.*?<!-- /notes -->", old.read_text(), re.S)
        if m:
            notes = m.group(0)
    md += [notes, ""]

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmarks.md").write_text("\n".join(md))
    (args.out / "benchmarks.svg").write_text(svg_chart(chart_rows))

    # The console version.
    print(f"statistic: {args.estimator}; ratio = other ÷ prio-semaphore\n")
    for group, rows in printed:
        print(group)
        for row in rows:
            print("  " + "  ".join(f"{re.sub(r'[*`]', '', c):<26}" if i == 0 else f"{c:>12}"
                                   for i, c in enumerate(row)))
        print()
    print("targets")
    for name, measured, ok in targets:
        verdict = "n/a" if ok is None else ("MET" if ok else "MISSED")
        print(f"  {verdict:<7} {re.sub(r'[*`]', '', name)}: {measured}")
    print(f"\nwrote {args.out / 'benchmarks.md'} and {args.out / 'benchmarks.svg'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
