#!/usr/bin/env bash
# Instruction counts per operation for every implementation, with callgrind: noise-free
# where wall-clock timings on a shared machine are not.
#
#   scripts/profile.sh [scenario ...]
#   PEERS=prio-semaphore scripts/profile.sh     # only these implementations
#
# Builds `benches/semaphores.rs` (package `prio-semaphore-benches`, so the crate has its
# default features only) with line tables, runs each scenario once per
# implementation under `valgrind --tool=callgrind`, counting only the measured loop
# (`profile_measure*`), and writes `target/bench-profile/instructions.json` (read by
# `scripts/bench_report.py`) plus one `callgrind.<scenario>.<peer>.out` per run for
# `callgrind_annotate`. Scenarios: see the bench file's module docs.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v valgrind >/dev/null || { echo "valgrind is required" >&2; exit 1; }

scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
  scenarios=(try acquire acquire_priority tasks_equal tasks_classes tasks_random churn
             existing_100 existing_100000 new_100 new_100000)
fi
peers=(${PEERS:-prio-semaphore tokio async-lock maitake-sync priority-semaphore ranked-semaphore})

target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
out="$target_dir/bench-profile"
mkdir -p "$out"

bin=$(CARGO_PROFILE_BENCH_DEBUG=line-tables-only \
  cargo bench -p prio-semaphore-benches --bench semaphores --no-run --message-format=json 2>/dev/null |
  python3 -c '
import json, sys
for line in sys.stdin:
    msg = json.loads(line)
    if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "semaphores" \
            and msg.get("executable"):
        print(msg["executable"])')
[ -n "$bin" ] || { echo "could not build the benchmark binary" >&2; exit 1; }

results="$out/instructions.tsv"
: >"$results"
for scenario in "${scenarios[@]}"; do
  for peer in "${peers[@]}"; do
    log=$(PRIO_SEM_PROFILE="$scenario:$peer" valgrind --tool=callgrind \
      --toggle-collect='*profile_measure*' \
      --callgrind-out-file="$out/callgrind.$scenario.$peer.out" "$bin" 2>&1)
    ir=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' <<<"$log")
    ops=$(sed -n 's/.*ops=\([0-9]*\).*/\1/p' <<<"$log")
    printf '%s\t%s\t%s\t%s\n' "$scenario" "$peer" "$ir" "$ops" | tee -a "$results"
  done
done

python3 - "$results" "$out/instructions.json" <<'PY'
import json, sys
rows = [line.split("\t") for line in open(sys.argv[1]).read().splitlines() if line]
table = {}
for scenario, peer, ir, ops in rows:
    table.setdefault(scenario, {})[peer] = round(int(ir) / int(ops), 1)
json.dump(table, open(sys.argv[2], "w"), indent=1)
peers = list(next(iter(table.values())).keys())
print("\ninstructions per operation (callgrind)")
print(f"{'scenario':<18}" + "".join(f"{p:>20}" for p in peers))
for scenario, per in table.items():
    print(f"{scenario:<18}" + "".join(f"{per.get(p, float('nan')):>20,.1f}" for p in peers))
PY
