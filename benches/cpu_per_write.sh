#!/usr/bin/env bash
# CPU and heap allocations per 4 KiB write at queue depth 1, for both
# durability contracts: user-space instructions (callgrind, every thread:
# client, engine targets, busy polling included) and allocations (the
# counting allocator of the small_writes example), each as the difference
# of two runs of `small_writes --qd-max 1 --writes N` with different N,
# divided by the difference of N: start and stop cancel out.
#
#   bash benches/cpu_per_write.sh [N1 N2]      (default 1000 3000)
#
# Prints, per contract, the median of $ROUNDS (default 3) pairs of runs
# and the lowest pair:
#   small_writes cpu_CONTRACT: instructions/write=.. (min ..) allocations/write=..
# Allocations are exact; instructions include the targets' busy polling
# while a write is on the device, which varies with the device and the
# machine's load from one run to the next (hence the median).
# Installs valgrind if missing (as root). ROUNDS=N and SMALL_WRITES=BINARY
# (see below) change what is run. The pool file goes to
# $TMPDIR (or /tmp), which must take O_DIRECT files.
set -euo pipefail
cd "$(dirname "$0")/.."
n1=${1:-1000}
n2=${2:-3000}
rounds=${ROUNDS:-3}
if [ "$n2" -le "$n1" ]; then
  echo "cpu_per_write: N2 ($n2) must be larger than N1 ($n1)" >&2
  exit 1
fi
if ! command -v valgrind >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valgrind >/dev/null
fi
# SMALL_WRITES=BINARY measures that build of the example instead (e.g. a
# copy of an older one, to compare) and skips the build.
if [ -n "${SMALL_WRITES:-}" ]; then
  bin=$SMALL_WRITES
else
  cargo build --release -q --example small_writes
  bin=${CARGO_TARGET_DIR:-target}/release/examples/small_writes
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/rdaos-cpu.XXXXXX")
trap 'rm -rf "$work"' EXIT

# One run under callgrind: prints "instructions allocations".
run() {
  local contract=$1 n=$2 out
  out=$(valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
    "$bin" --qd-max 1 --writes "$n" --durability "$contract" --pool "$work/pool" 2>&1) || {
    echo "$out" | tail -20 >&2
    return 1
  }
  local ir allocs
  ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$work/cg.out")
  # The depth line: qd IOPS p50 p99 p99.9 max allocs allocs/w.
  allocs=$(awk '$1 == "1" && NF == 8 { print $7 }' <<<"$out")
  [ -n "$ir" ] && [ -n "$allocs" ] || { echo "$out" | tail -20 >&2; return 1; }
  echo "$ir $allocs"
}

for contract in device flush; do
  per_write=()
  for _ in $(seq "$rounds"); do
    read -r i1 a1 < <(run "$contract" "$n1")
    read -r i2 a2 < <(run "$contract" "$n2")
    per_write+=("$(( (i2 - i1) / (n2 - n1) )) $(awk -v a1="$a1" -v a2="$a2" -v n="$((n2 - n1))" 'BEGIN { printf "%.1f", (a2 - a1) / n }')")
  done
  printf '%s\n' "${per_write[@]}" | sort -n | awk -v c="$contract" '
    { ir[NR] = $1; al[NR] = $2 }
    END {
      m = int((NR + 1) / 2)
      printf "small_writes cpu_%s: instructions/write=%d (min %d) allocations/write=%s\n", c, ir[m], ir[1], al[m]
    }'
done
