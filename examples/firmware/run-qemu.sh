#!/usr/bin/env bash
# Builds the firmware, boots it on QEMU's MPS2 AN386 board (Cortex-M4) with semihosting, and
# checks what it printed: the grant order, the timeout, the releases from the interrupt
# handler, and its exit status. `.ci/run` calls this; it needs `qemu-system-arm` and the
# `thumbv7em-none-eabihf` target.
set -euo pipefail
cd "$(dirname "$0")"

cargo build --release
elf=${CARGO_TARGET_DIR:-target}/thumbv7em-none-eabihf/release/prio-semaphore-firmware

out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
# The firmware runs ~100 ms of virtual time; the limit only catches a hang (a lost wake-up
# would leave the executor asleep forever, and QEMU with it).
timeout 60 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic -monitor none \
  -serial none -semihosting-config enable=on,target=native -kernel "$elf" >"$out" 2>&1 || status=$?
cat "$out"

fail() {
  echo "run-qemu.sh: FAIL: $*" >&2
  exit 1
}
[ "$status" -eq 0 ] || fail "QEMU exited with status $status (124: timed out, the firmware hung)"
grep -qx 'PASS' "$out" || fail "no PASS line"
! grep -q 'FAIL\|panic' "$out" || fail "the firmware reported a failure"

# The grants, in the order they were printed: by priority, equal priorities by arrival.
order=$(sed -n 's/.*granted: \([a-z]*\) (priority .*/\1/p' "$out" | tr '\n' ' ')
[ "$order" = "sensor imu radio display logger " ] || fail "grant order was: $order"
grep -qx 'grant order: \["sensor", "imu", "radio", "display", "logger"\]' "$out" \
  || fail "the firmware's own grant record differs"

# Every grant came from a release in the interrupt handler.
releases=$(grep -c 'irq PendSV: released 1 buffer' "$out" || true)
[ "$releases" -eq 5 ] || fail "$releases releases from the interrupt handler, expected 5"

# The urgent request timed out by embassy-time's clock (SysTick ticks), not before 30 ms,
# and it never got a buffer.
waited=$(sed -n 's/.*urgent (priority 0): timed out after \([0-9]*\) ms.*/\1/p' "$out")
[ -n "$waited" ] || fail "no timeout line"
[ "$waited" -ge 30 ] && [ "$waited" -le 40 ] || fail "timed out after $waited ms, expected 30..40"
! grep -q 'granted: urgent' "$out" || fail "the cancelled request was granted"

echo "run-qemu.sh: firmware checks passed"
