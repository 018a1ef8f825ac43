#!/usr/bin/env bash
# The watch's own cost (issue 23; a bench, not a test): a tree of 12 sleeping Python
# processes (a parent and the 11 workers it forks) is watched for SECONDS (default 30) at
# the default rates, RUNS times (default 5). Prints the CPU time leakcheck used (user +
# system, as this script's rusage of its children counts it once leakcheck has exited:
# start-up, the scan of /proc, sampling, looks and reports) as a share of one core over
# the watch, each run and the median.
#
#   bash scripts/watch_cost.sh [RUNS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
seconds="${2:-30}"
lc=./target/release/leakcheck
if [[ ! -x $lc ]]; then
    cargo build --release --quiet -p leakcheck
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/watch_cost.XXXXXX")
python3 - "$runs" "$seconds" "$lc" "$tmp" <<'PY'
import os, signal, statistics, subprocess, sys, time
runs, seconds, lc, tmp = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
tree = "import os, time\nfor _ in range(11):\n    if os.fork() == 0:\n        time.sleep(3600)\n        os._exit(0)\ntime.sleep(3600)\n"
shares = []
for i in range(runs):
    job = subprocess.Popen(["python3", "-c", tree, "watch-cost-tree"], start_new_session=True)
    time.sleep(0.5)
    t0 = time.monotonic()
    before = os.times()
    subprocess.run(
        [lc, "watch", str(job.pid), "--until", f"{seconds}s", "--label", f"cost{i}",
         "--out", tmp, "--config", "/nonexistent/leakcheck.toml"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.monotonic() - t0
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    shares.append(100.0 * cpu / wall)
    print(f"run {i + 1}: {cpu:.2f} s CPU over {wall:.1f} s: {shares[-1]:.2f} % of one core")
print(f"median: {statistics.median(shares):.2f} % of one core (12 processes, {seconds:.0f} s watches)")
PY
rm -rf "$tmp"
