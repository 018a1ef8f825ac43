#!/usr/bin/env bash
# The churn bench (issue 21, item 5; not a test): every churn program of scripts/churn/ at
# several settings, each flat (--leak-mib-per-s 0) and leaky (2 MiB/s underneath), run
# RUNS times under `leakcheck run --budget rss.tree.slope=1MiB/s` while a busy loop keeps
# the other core loaded. The programs do not mark: leakcheck samples them from outside.
#
#   bash scripts/churn_bench.sh [RUNS] [FIRST]   (default 3 runs, from setting 1)
#
# FIRST (1-based) starts at a later setting, to finish a bench that was cut short.
# Prints one line per (program, setting, leak): how many runs exited 0 (pass), 1 (fail),
# 4 (undecided) and anything else; then the totals over the flat and the leaky runs. The
# right answer is every flat run passing and every leaky run failing. Reports go to a
# temporary folder that is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
first="${2:-1}"
lc=./target/release/leakcheck
if [[ ! -x $lc ]]; then
    cargo build --release --quiet -p leakcheck
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/churn_bench.XXXXXX")
load_pid=""
cleanup() {
    if [[ -n $load_pid ]]; then
        kill "$load_pid" 2>/dev/null || true
        wait "$load_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The deliberate load on the other core.
python3 -c 'while True: pass' &
load_pid=$!

# program | flags (the leak flag is added per run). The first nine were measured while
# the envelope judge was built; the next five (marked held-out) were written after it and
# run only to check it, with other periods, duty cycles, worker counts and lengths (one of
# them, gc_sawtooth 0.8 s, was later looked at while mending start-up and teardown); the
# last four were added on 2026-12-07 and never looked at before the bench.
settings=(
    "fast_churn|--period 0.08 --duty 0.3 --amplitude-mib 40 --periods 60"
    "fast_churn|--period 0.15 --duty 0.5 --amplitude-mib 40 --periods 40"
    "fast_churn|--period 0.25 --duty 0.7 --amplitude-mib 40 --periods 30"
    "slow_churn|--period 1.0 --duty 0.5 --amplitude-mib 60 --periods 10"
    "slow_churn|--period 2.5 --duty 0.8 --amplitude-mib 60 --periods 5"
    "workers|--epoch 1.0 --workers 2 --amplitude-mib 30 --epochs 8"
    "workers|--epoch 1.5 --workers 4 --amplitude-mib 30 --epochs 5"
    "gc_sawtooth|--period 1.0 --amplitude-mib 300 --periods 6"
    "gc_sawtooth|--period 0.6 --amplitude-mib 150 --periods 10"
    "fast_churn|--period 0.2 --duty 0.15 --amplitude-mib 80 --periods 25|held-out"
    "slow_churn|--period 1.7 --duty 0.3 --amplitude-mib 100 --periods 6|held-out"
    "workers|--epoch 2.0 --workers 3 --amplitude-mib 50 --grow 0.3 --epochs 6|held-out"
    "workers|--epoch 0.7 --workers 1 --amplitude-mib 20 --epochs 12|held-out"
    "gc_sawtooth|--period 0.8 --amplitude-mib 200 --periods 8|held-out"
    "fast_churn|--period 0.12 --duty 0.6 --amplitude-mib 25 --periods 50|held-out"
    "slow_churn|--period 3.0 --duty 0.5 --amplitude-mib 40 --periods 5|held-out"
    "workers|--epoch 1.2 --workers 2 --amplitude-mib 60 --grow 0.8 --epochs 7|held-out"
    "gc_sawtooth|--period 1.4 --amplitude-mib 250 --periods 6|held-out"
)

declare -A total=([flat_pass]=0 [flat_fail]=0 [flat_undecided]=0 [flat_other]=0
    [leaky_pass]=0 [leaky_fail]=0 [leaky_undecided]=0 [leaky_other]=0)
start_all=$(date +%s)
n=0
index=0
for setting in "${settings[@]}"; do
    index=$((index + 1))
    ((index >= first)) || continue
    program=${setting%%|*}
    rest=${setting#*|}
    flags=${rest%%|*}
    mark=""
    [[ $rest == *"|held-out" ]] && mark=" (held-out)"
    for leak in 0 2; do
        kind=flat
        [[ $leak == 0 ]] || kind=leaky
        pass=0 fail=0 undecided=0 other=0
        for i in $(seq 1 "$runs"); do
            n=$((n + 1))
            name="$program-$n"
            code=0
            # shellcheck disable=SC2086 # the flags are meant to split
            "$lc" run --name "$name" --out "$tmp" --budget rss.tree.slope=1MiB/s \
                -- python3 "scripts/churn/$program.py" $flags --leak-mib-per-s "$leak" \
                >"$tmp/$name.log" 2>&1 || code=$?
            case $code in
                0) pass=$((pass + 1)) ;;
                1) fail=$((fail + 1)) ;;
                4) undecided=$((undecided + 1)) ;;
                *) other=$((other + 1)) ;;
            esac
        done
        total[${kind}_pass]=$((total[${kind}_pass] + pass))
        total[${kind}_fail]=$((total[${kind}_fail] + fail))
        total[${kind}_undecided]=$((total[${kind}_undecided] + undecided))
        total[${kind}_other]=$((total[${kind}_other] + other))
        printf '%-11s %-62s leak=%s: pass=%d fail=%d undecided=%d other=%d%s\n' \
            "$program" "$flags" "$leak" "$pass" "$fail" "$undecided" "$other" "$mark"
    done
done
printf 'flat: pass=%d fail=%d undecided=%d; leaky: pass=%d fail=%d undecided=%d' \
    "${total[flat_pass]}" "${total[flat_fail]}" "${total[flat_undecided]}" \
    "${total[leaky_pass]}" "${total[leaky_fail]}" "${total[leaky_undecided]}"
other=$((total[flat_other] + total[leaky_other]))
if ((other > 0)); then
    printf ' (other exit codes: flat %d, leaky %d)' "${total[flat_other]}" "${total[leaky_other]}"
fi
printf '\n%d runs (%d a combination), other core loaded, %d s\n' "$n" "$runs" "$(($(date +%s) - start_all))"
