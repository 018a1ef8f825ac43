#!/usr/bin/env bash
# The sampling overhead bench (issue 21; not a test): a pure-Python loop of a fixed amount
# of work (about SECONDS long, default 20) that never marks, run bare and under
# `leakcheck run` in interleaved pairs, RUNS pairs (default 5). Prints every pair's wall
# times, the medians and the median of the per-pair ratios (leakcheck / bare): the
# sampler's cost to the program it watches, start-up and reports included.
#
#   bash scripts/overhead_bench.sh [RUNS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
seconds="${2:-20}"
lc=./target/release/leakcheck
if [[ ! -x $lc ]]; then
    cargo build --release --quiet -p leakcheck
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/overhead_bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
n=$(python3 scripts/overhead/loop.py --calibrate "$seconds")
echo "loop: $n iterations (about $seconds s here)"
python3 - "$runs" "$n" "$lc" "$tmp" <<'PY'
import statistics, subprocess, sys, time
runs, n, lc, tmp = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
loop = ["python3", "scripts/overhead/loop.py", "--iterations", n]
def wall(cmd):
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - t0
bare, watched, ratios = [], [], []
for i in range(runs):
    b = wall(loop)
    w = wall([lc, "run", "--name", f"loop{i}", "--out", tmp, "--"] + loop)
    bare.append(b); watched.append(w); ratios.append(w / b)
    print(f"pair {i + 1}: bare {b:.2f} s, leakcheck run {w:.2f} s, ratio {w / b:.4f}")
print(f"median: bare {statistics.median(bare):.2f} s, leakcheck run {statistics.median(watched):.2f} s; "
      f"ratio of medians {statistics.median(watched) / statistics.median(bare):.4f}, "
      f"median of pair ratios {statistics.median(ratios):.4f}")
PY
