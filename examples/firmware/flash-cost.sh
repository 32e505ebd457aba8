#!/usr/bin/env bash
# Flash cost of prio-semaphore in this firmware: the size of every function and constant
# whose symbol names the crate (its own functions, and generic code instantiated over its
# types), next to the firmware's total. Code the compiler inlined into a caller (the uncontended fast path of
# `acquire` inlined into a task, for example) counts for the caller, so this is the cost of
# the crate's out-of-line code. Needs the `llvm-tools` rustup component (for `llvm-nm` and
# `llvm-size`); not part of CI.
#
#   ./flash-cost.sh                       Cortex-M4 (thumbv7em-none-eabihf)
#   ./flash-cost.sh thumbv6m-none-eabi    Cortex-M0, atomics through portable-atomic
set -euo pipefail
cd "$(dirname "$0")"

target=${1:-thumbv7em-none-eabihf}
cargo build --release --target "$target"
elf=${CARGO_TARGET_DIR:-target}/$target/release/prio-semaphore-firmware
bin="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
[ -x "$bin/llvm-nm" ] || { echo "flash-cost.sh: run 'rustup component add llvm-tools'" >&2; exit 1; }

"$bin/llvm-size" "$elf"
# Text (t/T) and read-only data (r/R) symbols in flash, demangled; sizes in decimal.
"$bin/llvm-nm" --print-size --size-sort --demangle -t d "$elf" | awk '
  $3 ~ /^[tTrR]$/ {
    name = substr($0, index($0, $4))
    size = $2 + 0
    flash += size
    # Any function of the crate or instantiated over its types (`Acquire::poll`, a permit'"'"'s
    # drop glue), in either spelling of legacy symbol paths (`::` or `..`).
    if (name ~ /prio_semaphore(::|\.\.)/) { crate += size; print "  " size "\t" name }
  }
  END {
    printf "prio-semaphore: %d bytes of %d bytes in named flash symbols (%.1f%%)\n", crate, flash, 100 * crate / flash
  }'
