"""What one ``Probe.mark()`` costs: ``python3 -m leakcheck.bench [--marks N] [--json]``.

Marks go to a pipe drained by another process, as they do under the runner (or to
/dev/null with ``--sink devnull``, which leaves out the pipe). Reported: the median
time per mark over the runs, without and with tracemalloc, on a heap grown by
``--heap-blocks`` small objects (py.blocks costs O(heap) to read), and on an inert probe.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc

from ._probe import TRACEMALLOC_FRAMES, Probe

_DRAIN = "import os\nwhile os.read(0, 1 << 16):\n    pass\n"


def time_marks(probe, marks):
    """Nanoseconds per mark over ``marks`` consecutive marks."""
    mark = probe.mark
    start = time.perf_counter_ns()
    for iteration in range(marks):
        mark(iteration)
    return (time.perf_counter_ns() - start) / marks


def median_run(probe, marks, runs):
    """The per-mark times of ``runs`` runs (after one warm-up run) and their median."""
    time_marks(probe, min(marks, 10_000))
    per_mark = [time_marks(probe, marks) for _ in range(runs)]
    return {"marks": marks, "median_ns": statistics.median(per_mark), "runs_ns": per_mark}


def measure(marks, runs, sink, heap_blocks, tracemalloc_marks):
    """The four measurements, with the settings they were taken under."""
    if sink == "pipe":
        drain = subprocess.Popen([sys.executable, "-c", _DRAIN], stdin=subprocess.PIPE)
        fd = drain.stdin.fileno()
    else:
        drain = None
        fd = os.open(os.devnull, os.O_WRONLY)
    try:
        probe = Probe(fd)
        plain = median_run(probe, marks, runs)
        heap = [object() for _ in range(heap_blocks)]
        big_heap = median_run(probe, marks, runs)
        del heap
        tracemalloc.start(TRACEMALLOC_FRAMES)
        try:
            traced = median_run(probe, tracemalloc_marks, runs)
        finally:
            tracemalloc.stop()
    finally:
        if drain is None:
            os.close(fd)
        else:
            drain.stdin.close()
            drain.wait()
    inert = median_run(Probe(), marks, runs)
    return {
        "runs": runs,
        "sink": sink,
        "heap_blocks": heap_blocks,
        "python": sys.version.split()[0],
        "mark": plain,
        "mark_tracemalloc": traced,
        "mark_big_heap": big_heap,
        "mark_inert": inert,
    }


def describe(result):
    """A few plain lines, one per measurement."""
    where = "a pipe drained by another process" if result["sink"] == "pipe" else "/dev/null"
    lines = []
    for key, what in (
        ("mark", "mark"),
        ("mark_tracemalloc", f"mark with tracemalloc ({TRACEMALLOC_FRAMES} frames)"),
        ("mark_big_heap", f'mark with {result["heap_blocks"]:,} more live blocks'),
        ("mark_inert", "mark on an inert probe"),
    ):
        median_us, marks = result[key]["median_ns"] / 1000, result[key]["marks"]
        lines.append(f'{what}: median {median_us:.2f} µs ({result["runs"]} runs of {marks})')
    lines.append(f'(to {where}, Python {result["python"]})')
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python3 -m leakcheck.bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--marks", type=int, default=200_000, help="marks per run (default 200000)")
    parser.add_argument("--runs", type=int, default=7, help="runs per measurement (default 7)")
    parser.add_argument(
        "--tracemalloc-marks", type=int, default=20_000,
        help="marks per run with tracemalloc (default 20000: each costs far more)",
    )
    parser.add_argument(
        "--heap-blocks", type=int, default=2_000_000, help="objects kept alive for the big-heap run"
    )
    parser.add_argument("--sink", choices=("pipe", "devnull"), default="pipe")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    args = parser.parse_args(argv)
    if min(args.marks, args.tracemalloc_marks, args.runs) < 1 or args.heap_blocks < 0:
        parser.error("--marks, --tracemalloc-marks and --runs must be at least 1, --heap-blocks 0")
    result = measure(args.marks, args.runs, args.sink, args.heap_blocks, args.tracemalloc_marks)
    print(json.dumps(result) if args.json else describe(result))


if __name__ == "__main__":
    main()
