#!/usr/bin/env bash
# Runs the side-by-side benchmarks and regenerates docs/benchmarks.md and
# docs/benchmarks.svg from criterion's output and the paired rounds of group b (about 6
# minutes).
#
#   scripts/bench.sh                 # everything
#   scripts/bench.sh '^b_'           # one group (criterion filter); the report keeps the
#                                    # other groups' latest results
#
# Extra arguments go to criterion (`--warm-up-time 1 --measurement-time 3`, a filter, ...).
# For noise-free instruction counts run scripts/profile.sh first; the report includes them.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo bench --bench semaphores -- "$@"
python3 scripts/bench_report.py
