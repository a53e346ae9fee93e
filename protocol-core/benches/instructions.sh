#!/usr/bin/env bash
# Instruction counts of the four headline codec operations and their parts, with callgrind (valgrind), which is
# deterministic where wall time on a shared machine is not. Each operation runs N1 and N2 times
# in the `codec` bench binary (CODEC_BENCH_REPEAT); (I(N2) - I(N1)) / (N2 - N1) is the count per
# operation, free of process start-up, fixture loading and warm-up.
#
# Usage: protocol-core/benches/instructions.sh   (from anywhere in the workspace; N1, N2 and
# CODEC_BENCH_BIN, an already built bench binary, may be set)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is not installed" >&2; exit 1; }
bin="${CODEC_BENCH_BIN:-}"
[[ -n "$bin" ]] || bin="$(cargo bench -p airflow-protocol --bench codec --no-run --message-format=json 2>/dev/null \
  | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)"
[[ -x "$bin" ]] || { echo "instructions.sh: could not build the codec bench" >&2; exit 1; }
n1="${N1:-1000}"
n2="${N2:-11000}"
count() {
  local out
  out="$(mktemp)"
  CODEC_BENCH_REPEAT="$1" CODEC_BENCH_ITERS="$2" \
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" 2>"$out" >/dev/null
  sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$out"
  rm -f "$out"
}
printf '%-32s %14s\n' "operation" "instructions"
for op in decode/startup_details decode/get_variable encode/get_variable encode/succeed_task \
  part/startup_details_envelope part/get_variable_envelope part/startup_details_checked \
  part/get_variable_checked part/owned_key; do
  a="$(count "$op" "$n1")"
  b="$(count "$op" "$n2")"
  printf '%-32s %14.1f\n' "$op" "$(echo "($b - $a) / ($n2 - $n1)" | bc -l)"
done
