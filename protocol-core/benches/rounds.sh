#!/usr/bin/env bash
# Back-to-back rounds of the four headline codec operations for two builds of the `codec`
# bench, alternating, as docs/benchmarks.md reports them. Wall time on this shared machine
# drifts by up to 2x over minutes; alternating puts both builds through the same phases.
#
# Usage: protocol-core/benches/rounds.sh OLD_BIN NEW_BIN [ROUNDS]   (default 5 rounds)
# A bench binary of another revision, for example:
#   git worktree add /tmp/codec-old <rev>
#   (cd /tmp/codec-old && cargo bench -p airflow-protocol --bench codec --no-run)
# prints its path (target/release/deps/codec-<hash>); so does the same command here.
set -euo pipefail
[[ $# -ge 2 ]] || { echo "usage: $0 OLD_BIN NEW_BIN [ROUNDS]" >&2; exit 2; }
old="$(realpath "$1")"
new="$(realpath "$2")"
rounds="${3:-5}"
# Criterion's results, and the summary that reads them, go to this workspace's target dir.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for i in $(seq "$rounds"); do
  for bin in "$old" "$new"; do
    echo "== round $i: $bin (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    CODEC_BENCH_PYTHON=skip "$bin" --bench '^(decode|encode)/' --warm-up-time 2 \
      --measurement-time 4 2>&1 | grep -E '^(decode|encode)/[a-z_]+ +[0-9]'
  done
done
