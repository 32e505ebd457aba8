#!/usr/bin/env bash
# Runs the side-by-side benchmarks and regenerates docs/benchmarks.md and
# docs/benchmarks.svg from criterion's output and the paired rounds of groups b, f and g
# (about 7 minutes).
#
#   scripts/bench.sh                 # everything
#   scripts/bench.sh '^b_'           # one group (criterion filter); the report keeps the
#                                    # other groups' latest results
#   scripts/bench.sh '^f_'           # only the paired rounds of group f (or '^g_')
#
# Extra arguments go to criterion (`--warm-up-time 1 --measurement-time 3`, a filter, ...).
# For noise-free instruction counts run scripts/profile.sh first; the report includes them.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo bench -p prio-semaphore-benches --bench semaphores -- "$@"
python3 scripts/bench_report.py
