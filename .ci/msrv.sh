#!/usr/bin/env bash
# MSRV: each crate's `rust-version` holds for every feature. `cargo check` with the oldest
# toolchain each feature set claims (no tests: the dev-dependencies have MSRVs of their
# own), in a target directory of its own. Called by .ci/run.
#
# * prio-semaphore: 1.85 for every feature but `embassy-sync`, whose dependency
#   `heapless` 0.9 needs 1.88 (Cargo.toml says so beside the feature).
# * prio-semaphore-redis: 1.88 (its `redis` client).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=target/msrv RUSTFLAGS="-D warnings"

core=1.85.0
newer=1.88.0
for toolchain in "$core" "$newer"; do
  rustup toolchain install "$toolchain" --profile minimal --no-self-update >/dev/null
done

check() { # toolchain, then cargo's arguments
  local toolchain=$1
  shift
  echo "cargo +$toolchain check $*"
  cargo "+$toolchain" check -q "$@"
}

# The core crate, feature by feature, and every feature at once but embassy-sync.
check "$core" -p prio-semaphore
check "$core" -p prio-semaphore --no-default-features
for feature in alloc std overtake-limit tower critical-section mutex-traits tracing unsafe-assume-single-core; do
  check "$core" -p prio-semaphore --no-default-features --features "$feature"
done
check "$core" -p prio-semaphore \
  --features overtake-limit,tower,critical-section,mutex-traits,tracing
# What needs the newer toolchain: embassy-sync, all features, and the Redis crate.
check "$newer" -p prio-semaphore --no-default-features --features embassy-sync
check "$newer" -p prio-semaphore --all-features
check "$newer" -p prio-semaphore-redis --all-features
