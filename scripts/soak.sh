#!/usr/bin/env bash
# The soak bench (not a test): the leak gate run RUNS times on the fixed variants and RUNS
# times on the leaky ones, with every other core kept busy, counting how each run ended.
# The fixed gate must never fail and the leaky gate must always fail (exit code 1).
#
#   bash scripts/soak.sh [RUNS]        (default 50; reports go to target/soak/)
#
# Prints one line per variant: runs, exit-code counts, and the median wall time; then how
# many marks the leaky loader needed before the judge decided (the issue's bar: 100).
# Attribution passes are off: they never change a verdict and would only slow the soak.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-50}"
cargo build --release --quiet -p leakcheck -p loader-loop -p retrain-sequential
out=target/soak
rm -rf "$out"
mkdir -p "$out"

# Load every core but one with a busy loop, for the whole soak.
load_pids=()
cores=$(nproc)
for _ in $(seq 2 "$cores"); do
    ( while :; do :; done ) &
    load_pids+=("$!")
done
trap 'kill "${load_pids[@]}" 2>/dev/null || true' EXIT

soak() {
    local variant=$1
    local codes=() times=()
    for i in $(seq 1 "$runs"); do
        local start end code=0
        start=$(date +%s.%N)
        ./target/release/leakcheck gate --variant "$variant" --attribute=never --out "$out/$variant-$i" \
            >"$out/$variant-$i.log" 2>&1 || code=$?
        end=$(date +%s.%N)
        codes+=("$code")
        times+=("$(awk "BEGIN { print $end - $start }")")
    done
    local counts median
    counts=$(printf '%s\n' "${codes[@]}" | sort | uniq -c | awk '{printf "exit %s: %s  ", $2, $1}')
    median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "$variant: $runs gate runs, other cores loaded: ${counts}median wall ${median} s"
}

soak fixed
soak leaky

# "decided after N iterations" of each leaky loader run, from its gate log.
grep -ho '\[loader-loop\] warning: stopping early: decided after [0-9]*' "$out"/leaky-*.log |
    awk '{print $NF}' | sort -n |
    awk -v runs="$runs" '{a[NR]=$1; if ($1 <= 100) k++}
        END {printf "leaky loader decided after: median %s marks, %d of %d by 100, last %s\n",
             a[int((NR+1)/2)], k, runs, a[NR]}'
