#!/usr/bin/env bash
# The compare and ratchet bench (not a test): is "no significant difference" what two
# runs of the same variant get, and does the fixed gate pass against its own baseline?
#
#   bash scripts/compare_bench.sh [PAIRS] [RERUNS]     (defaults 20 and 20; target/compare-bench/)
#
# 1. PAIRS pairs of loader-loop runs per variant (fixed, leaky), each pair compared with
#    `leakcheck compare`: how many pairs say "no significant difference" on every metric.
# 2. The fixed gate recorded once with --update-baseline, then run RERUNS times against
#    that baseline: the exit codes (every one must be 0).
set -euo pipefail
cd "$(dirname "$0")/.."
pairs="${1:-20}"
reruns="${2:-20}"
cargo build --release --quiet -p leakcheck -p loader-loop -p retrain-sequential
out=target/compare-bench
rm -rf "$out"
mkdir -p "$out"
lc=./target/release/leakcheck

for variant in fixed leaky; do
    same=0
    for i in $(seq 1 "$pairs"); do
        for side in a b; do
            "$lc" run loader-loop --variant "$variant" --attribute=never \
                --out "$out/$variant-$i-$side" >/dev/null 2>&1 || true
        done
        code=0
        "$lc" compare "$out/$variant-$i-a/loader-loop" "$out/$variant-$i-b/loader-loop" \
            --out "$out/$variant-$i-cmp" >"$out/$variant-$i-cmp.log" 2>&1 || code=$?
        if head -1 "$out/$variant-$i-cmp.log" | grep -q '^compare: no significant difference'; then
            same=$((same + 1))
        fi
        echo "$code" >>"$out/$variant-codes"
    done
    codes=$(sort "$out/$variant-codes" | uniq -c | awk '{printf "exit %s: %s  ", $2, $1}')
    echo "compare $variant vs $variant: $same of $pairs pairs no significant difference on every metric; ${codes}"
done

"$lc" gate --variant fixed --attribute=never --baseline "$out/baseline.json" --update-baseline \
    --out "$out/gate-baseline" >/dev/null 2>&1
codes=()
for i in $(seq 1 "$reruns"); do
    code=0
    "$lc" gate --variant fixed --attribute=never --baseline "$out/baseline.json" \
        --out "$out/gate-$i" >"$out/gate-$i.log" 2>&1 || code=$?
    codes+=("$code")
done
counts=$(printf '%s\n' "${codes[@]}" | sort | uniq -c | awk '{printf "exit %s: %s  ", $2, $1}')
worse=$(cat "$out"/gate-*.log | grep -c 'worse than baseline' || true)
echo "fixed gate against its own baseline, $reruns reruns: ${counts}(checks worse than baseline: $worse)"
