"""Measure the dataloader-workers scenario from outside, as leakcheck's rss.tree and
pss.tree do, and print the figures the README's table holds.

    python3 measure.py [--runs 3] [--interval-ms 100] [--warmup-batches 50] -- --variant leaky [ARGS]

Each run starts dataloader_workers.py as a child with a pipe on LEAKCHECK_FD (so the
leakcheck client's marks tell how many batches were consumed when), samples the child
and its descendants every --interval-ms (descendants found by the ppid in every
/proc/*/stat; Rss and Pss from each one's /proc/PID/smaps_rollup), and prints:

* wall time and batches consumed;
* rss.tree and pss.tree at the first and the last mark, and their maximum over the run;
* the least-squares slope of pss.tree (and rss.tree) against the batch count, over the
  samples read between the first and the last mark after --warmup-batches, with r^2
  (1.0: a straight line). Marks are required: the scenario imports the leakcheck client
  from <repo>/python when it is not installed.

Sampling costs ~15 ms of one core per sample for a ~650 MiB tree (smaps_rollup walks the
page tables), so --interval-ms 100 takes ~15 % of one of the two cores.

With --runs N it prints every run and then the medians; --csv PATH keeps the samples.
"""

import argparse
import bisect
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from typing import NamedTuple

SCENARIO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dataloader_workers.py")
MIB = 1 << 20
KIB = 1 << 10


def descendants(root):
    """root and every process below it, by the ppid field of /proc/*/stat."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:  # exited meanwhile
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])  # comm may hold spaces and parens
        children.setdefault(ppid, []).append(int(name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def rss_pss(pid):
    """(Rss, Pss) of one process in bytes from smaps_rollup, or None once it is gone."""
    values = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("Rss", "Pss"):
                    values[key] = int(rest.split()[0]) * KIB
    except OSError:
        return None
    return (values["Rss"], values["Pss"]) if len(values) == 2 else None


def sample_tree(root):
    """(processes, rss.tree, pss.tree) now."""
    readings = [r for r in map(rss_pss, descendants(root)) if r is not None]
    return len(readings), sum(r[0] for r in readings), sum(r[1] for r in readings)


def read_marks(fd, marks):
    """Collect (t_ns, iteration) of every mark the client writes, until EOF."""
    with os.fdopen(fd, "rb") as pipe:
        for line in pipe:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("type") == "mark":
                marks.append((message["t_ns"], message["iteration"]))


def fit(xs, ys):
    """Least-squares slope and r^2 of ys against xs."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    syy = sum((y - my) ** 2 for y in ys)
    slope = sxy / sxx
    return slope, (sxy * sxy / (sxx * syy) if syy else 1.0)


class Sample(NamedTuple):
    """One reading of the tree. It takes ~15 ms, long enough to straddle a mark, so it
    keeps when it started and ended."""

    start_ns: int
    end_ns: int
    processes: int
    rss: int
    pss: int

    @property
    def mid_ns(self):
        return (self.start_ns + self.end_ns) // 2


def write_csv(path, samples, mark_times, started_ns):
    """Every sample: seconds since the start, batches consumed by then, processes, MiB."""
    with open(path, "w") as f:
        f.write("t_s,batches,processes,rss_tree_mib,pss_tree_mib\n")
        for s in samples:
            f.write(f"{(s.mid_ns - started_ns) / 1e9:.3f},{bisect.bisect_right(mark_times, s.mid_ns)},"
                    f"{s.processes},{s.rss / MIB:.2f},{s.pss / MIB:.2f}\n")


def measure(scenario_args, interval_s, warmup_batches, csv_path=None):
    """One run of the scenario; returns its figures as a dict."""
    read_end, write_end = os.pipe()
    env = dict(os.environ, LEAKCHECK_FD=str(write_end))
    started_ns = time.monotonic_ns()
    child = subprocess.Popen([sys.executable, SCENARIO, *scenario_args], env=env,
                             pass_fds=(write_end,), stdout=subprocess.DEVNULL)
    os.close(write_end)
    marks = []
    reader = threading.Thread(target=read_marks, args=(read_end, marks), daemon=True)
    reader.start()
    samples = []
    next_tick = time.monotonic()
    while child.poll() is None:
        start_ns = time.monotonic_ns()
        processes, rss, pss = sample_tree(child.pid)
        if processes:
            samples.append(Sample(start_ns, time.monotonic_ns(), processes, rss, pss))
        next_tick += interval_s
        time.sleep(max(0.0, next_tick - time.monotonic()))
    wall_s = (time.monotonic_ns() - started_ns) / 1e9
    reader.join(5)
    if child.returncode != 0:
        sys.exit(f"measure.py: the scenario exited with status {child.returncode}")
    if not marks:
        sys.exit("measure.py: no marks came from the scenario: is the leakcheck client "
                 "(python/leakcheck) importable?")

    mark_times = [t for t, _ in marks]
    if csv_path:
        write_csv(csv_path, samples, mark_times, started_ns)
    # Only samples read entirely between the first and the last mark: the workers are up,
    # and none is shutting down yet.
    window = [s for s in samples if mark_times[0] <= s.start_ns and s.end_ns <= mark_times[-1]]
    fitted = [(batches, s) for s in window
              if (batches := bisect.bisect_right(mark_times, s.mid_ns)) >= warmup_batches]
    if len(fitted) < 3:
        sys.exit(f"measure.py: only {len(fitted)} samples to fit; run longer or sample faster")
    xs = [batches for batches, _ in fitted]
    pss_slope, pss_r2 = fit(xs, [s.pss for _, s in fitted])
    rss_slope, _ = fit(xs, [s.rss for _, s in fitted])
    return {
        "wall_s": wall_s, "batches": len(marks), "samples": len(fitted),
        "processes": max(s.processes for s in samples),
        "rss_start": window[0].rss, "rss_end": window[-1].rss, "rss_max": max(s.rss for s in samples),
        "pss_start": window[0].pss, "pss_end": window[-1].pss, "pss_max": max(s.pss for s in samples),
        "pss_slope": pss_slope, "pss_r2": pss_r2, "rss_slope": rss_slope,
    }


def describe(r):
    def mib(key):
        return r[key] / MIB

    return (f"wall {r['wall_s']:.1f} s, {r['batches']:.0f} batches, {r['processes']:.0f} processes | "
            f"rss.tree {mib('rss_start'):.0f} -> {mib('rss_end'):.0f} MiB (max {mib('rss_max'):.0f}) | "
            f"pss.tree {mib('pss_start'):.1f} -> {mib('pss_end'):.1f} MiB (max {mib('pss_max'):.1f}) | "
            f"pss slope {r['pss_slope'] / KIB:.2f} KiB/batch (r^2 {r['pss_r2']:.3f}, "
            f"{r['samples']:.0f} samples), rss slope {r['rss_slope'] / KIB:.2f} KiB/batch")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1, help="runs, one after the other (default: 1)")
    parser.add_argument("--interval-ms", type=float, default=100.0,
                        help="time between two samples of the tree (default: 100)")
    parser.add_argument("--warmup-batches", type=int, default=50,
                        help="batches left out of the slope fit (default: 50)")
    parser.add_argument("--csv", metavar="PATH",
                        help="also write every sample to PATH (run N of several: PATH.N)")
    parser.add_argument("scenario_args", nargs=argparse.REMAINDER,
                        help="after --: the scenario's arguments, e.g. -- --variant leaky")
    args = parser.parse_args()
    scenario_args = args.scenario_args[1:] if args.scenario_args[:1] == ["--"] else args.scenario_args
    results = []
    for run in range(args.runs):
        csv_path = args.csv and (f"{args.csv}.{run + 1}" if args.runs > 1 else args.csv)
        results.append(measure(scenario_args, args.interval_ms / 1000, args.warmup_batches, csv_path))
        print(f"run {run + 1}: {describe(results[-1])}", flush=True)
    if args.runs > 1:
        medians = {k: statistics.median(r[k] for r in results) for k in results[0]}
        print(f"median of {args.runs} (each column on its own): {describe(medians)}")


if __name__ == "__main__":
    main()
