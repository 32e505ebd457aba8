#!/usr/bin/env bash
# Proofs: the exhaustive loom models (`loom-tests/`), and miri under Stacked Borrows and
# Tree Borrows with strict provenance over the unit and integration tests. Called by
# .ci/run; installs what it needs. Fuzzing (`fuzz/`) is not run here.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
export CARGO_INCREMENTAL=0

step() { printf '\n==> %s (%s)\n' "$*" "$(date +%T)"; }

step "loom models (release, at most 3 preemptions per execution)"
# A target directory of its own: `--cfg loom` changes every crate's build. Bound 3 over
# every model (the core, owned permits, blocking `wait()`, `limited`'s ready queue) took
# about 3 minutes on a loaded 2-core machine, most of it the ready-queue models (bound 2:
# under 15 s of model time).
RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/loom \
  cargo test -p loom-tests --release

step "miri toolchain"
# Use the machine's nightly if it has one (installing again would fetch a newer nightly);
# otherwise install a minimal one. Either way add miri and the std sources it needs.
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
rustup component add miri rust-src --toolchain nightly
cargo +nightly miri setup

# The library's unit tests and every integration test of the crate (`-p`: not the other
# packages of the workspace, whose features would also be unified into the crate's build):
# all of them run under miri, each
# file skipping (`#[cfg_attr(miri, ignore)]`) what needs real timers or a real runtime.
# With `overtake-limit`, whose arrival list is the only pointer code the default build
# leaves out (everything else is the same in both).
miri_targets=(-p prio-semaphore --lib --tests --features overtake-limit)

step "miri: Stacked Borrows, strict provenance"
MIRIFLAGS="-Zmiri-strict-provenance" cargo +nightly miri test "${miri_targets[@]}"

step "miri: Tree Borrows, strict provenance"
MIRIFLAGS="-Zmiri-strict-provenance -Zmiri-tree-borrows" \
  cargo +nightly miri test "${miri_targets[@]}"
