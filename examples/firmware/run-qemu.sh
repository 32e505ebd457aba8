#!/usr/bin/env bash
# Builds the firmware, boots it on QEMU with semihosting, and checks what it printed: the
# grant order, the timeout, the releases from the interrupt handler, and its exit status.
#
#   ./run-qemu.sh            both boards
#   ./run-qemu.sh mps2       Cortex-M4, QEMU `mps2-an386` (thumbv7em-none-eabihf)
#   ./run-qemu.sh microbit   Cortex-M0 without compare-and-swap, QEMU `microbit`
#                            (thumbv6m-none-eabi: the atomics go through portable-atomic)
#
# `.ci/run` calls it; it needs `qemu-system-arm` and both rustup targets.
set -euo pipefail
cd "$(dirname "$0")"

fail() {
  echo "run-qemu.sh: FAIL: $*" >&2
  exit 1
}

# run_board TARGET CPU MACHINE
run_board() {
  local target=$1 cpu=$2 machine=$3
  echo "== $machine ($cpu, $target)"
  cargo build --release --target "$target"
  local elf=${CARGO_TARGET_DIR:-target}/$target/release/prio-semaphore-firmware
  local out status=0
  out=$(mktemp)
  # The firmware runs ~100 ms of virtual time; the limit only catches a hang (a lost
  # wake-up would leave the executor asleep forever, and QEMU with it).
  timeout 60 qemu-system-arm -cpu "$cpu" -machine "$machine" -nographic -monitor none \
    -serial none -semihosting-config enable=on,target=native -kernel "$elf" >"$out" 2>&1 \
    || status=$?
  cat "$out"
  check "$out" "$status"
  rm -f "$out"
  echo "run-qemu.sh: $machine: firmware checks passed"
}

# check OUTPUT_FILE QEMU_STATUS
check() {
  local out=$1 status=$2
  [ "$status" -eq 0 ] || fail "QEMU exited with status $status (124: timed out, the firmware hung)"
  grep -qx 'PASS' "$out" || fail "no PASS line"
  ! grep -q 'FAIL\|panic' "$out" || fail "the firmware reported a failure"

  # The grants, in the order they were printed: by priority, equal priorities by arrival.
  local order
  order=$(sed -n 's/.*granted: \([a-z]*\) (priority .*/\1/p' "$out" | tr '\n' ' ')
  [ "$order" = "sensor imu radio display logger " ] || fail "grant order was: $order"
  grep -qx 'grant order: \["sensor", "imu", "radio", "display", "logger"\]' "$out" \
    || fail "the firmware's own grant record differs"

  # Every grant came from a release in the interrupt handler.
  local releases
  releases=$(grep -c 'irq PendSV: released 1 buffer' "$out" || true)
  [ "$releases" -eq 5 ] || fail "$releases releases from the interrupt handler, expected 5"

  # The urgent request timed out by embassy-time's clock (SysTick ticks), not before 30 ms,
  # and it never got a buffer.
  local waited
  waited=$(sed -n 's/.*urgent (priority 0): timed out after \([0-9]*\) ms.*/\1/p' "$out")
  [ -n "$waited" ] || fail "no timeout line"
  [ "$waited" -ge 30 ] && [ "$waited" -le 40 ] || fail "timed out after $waited ms, expected 30..40"
  ! grep -q 'granted: urgent' "$out" || fail "the cancelled request was granted"
}

boards=("$@")
[ ${#boards[@]} -gt 0 ] || boards=(mps2 microbit)
for board in "${boards[@]}"; do
  case $board in
    mps2) run_board thumbv7em-none-eabihf cortex-m4 mps2-an386 ;;
    microbit) run_board thumbv6m-none-eabi cortex-m0 microbit ;;
    *) fail "unknown board '$board' (mps2 or microbit)" ;;
  esac
done
