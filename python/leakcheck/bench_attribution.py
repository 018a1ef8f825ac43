"""What attribution costs a program: ``python3 -m leakcheck.bench_attribution``.

Runs a small allocation-heavy loop (each iteration builds and drops a list of dicts of
small objects and keeps one short string) as a program of its own, in a fresh
interpreter per run, marking every iteration to a pipe this process drains: (a) plain,
(b) with attribution on (``LEAKCHECK_ATTRIBUTE=1``), and (c) with tracemalloc tracing
only (``LEAKCHECK_TRACEMALLOC=1``), which shows how much of (b) is tracing itself.
The runs are interleaved (a, b, c, a, b, c, ...); each times itself from
``Probe.from_env()`` to after ``probe.end()``. Prints the medians and their ratios.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading

WORKLOAD = '''\
import json
import sys
import time

import leakcheck


def step(i, kept):
    rows = [{"id": j, "name": "row%d" % j, "tags": ["a", "b"], "score": j * 0.5} for j in range(50)]
    index = {row["name"]: row for row in rows}
    kept.append(rows[i % 50]["name"] + "!")  # a little kept each iteration
    return len(index)


def main(iterations):
    start = time.perf_counter()
    probe = leakcheck.Probe.from_env()
    kept = []
    for i in range(iterations):
        step(i, kept)
        probe.mark(i)
    probe.end()
    print(json.dumps({"seconds": time.perf_counter() - start}))


main(int(sys.argv[1]))
'''

#: The modes, in the order their runs interleave, with the environment each adds.
MODES = {
    "plain": {},
    "attribution": {"LEAKCHECK_ATTRIBUTE": "1"},
    "tracemalloc": {"LEAKCHECK_TRACEMALLOC": "1"},
}
_OUR_ENV = ("LEAKCHECK_FD", "LEAKCHECK_ATTRIBUTE", "LEAKCHECK_ATTRIBUTE_FROM", "LEAKCHECK_TRACEMALLOC")


def run_once(program, iterations, mode):
    """One run of the workload in ``mode``: its seconds and the lines it wrote."""
    read_fd, write_fd = os.pipe()
    chunks = []

    def drain():
        while True:
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    env = {key: value for key, value in os.environ.items() if key not in _OUR_ENV}
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    env["LEAKCHECK_FD"] = str(write_fd)
    env.update(MODES[mode])
    try:
        done = subprocess.run(
            [sys.executable, program, str(iterations)],
            pass_fds=[write_fd], env=env, capture_output=True, text=True, check=True,
        )
    finally:
        os.close(write_fd)
        reader.join()
        os.close(read_fd)
    lines = [json.loads(line) for line in b"".join(chunks).decode("utf-8").splitlines()]
    return json.loads(done.stdout)["seconds"], lines


def measure(iterations, runs):
    """Every run's seconds per mode, the medians, the ratios, and the last attribution
    line's top site (to show that the attribution runs did find the kept string)."""
    seconds = {mode: [] for mode in MODES}
    top_site = None
    with tempfile.TemporaryDirectory(prefix="leakcheck-bench-") as folder:
        program = os.path.join(folder, "workload.py")
        with open(program, "w", encoding="utf-8") as f:
            f.write(WORKLOAD)
        for _ in range(runs):
            for mode in MODES:
                elapsed, lines = run_once(program, iterations, mode)
                seconds[mode].append(elapsed)
                reports = [line for line in lines if line["type"] == "attribution"]
                if mode == "attribution" and reports and reports[-1]["sites"]:
                    site = reports[-1]["sites"][0]
                    top_site = {
                        "location": os.path.basename(site["location"]),
                        "function": site["function"],
                        "bytes_per_mark": site["bytes"] / reports[-1]["marks"],
                        "reports": len(reports),
                    }
    medians = {mode: statistics.median(values) for mode, values in seconds.items()}
    return {
        "iterations": iterations,
        "runs": runs,
        "python": sys.version.split()[0],
        "seconds": seconds,
        "median_s": medians,
        "ratio": medians["attribution"] / medians["plain"],
        "tracemalloc_ratio": medians["tracemalloc"] / medians["plain"],
        "top_site": top_site,
    }


def describe(result):
    lines = [
        f'{what}: median {result["median_s"][mode]:.3f} s ({result["runs"]} runs of {result["iterations"]} iterations)'
        for mode, what in (
            ("plain", "plain, with marks"),
            ("attribution", "attribution on"),
            ("tracemalloc", "tracemalloc tracing only"),
        )
    ]
    lines.append(f'attribution / plain: {result["ratio"]:.2f}x')
    lines.append(f'tracemalloc only / plain: {result["tracemalloc_ratio"]:.2f}x')
    site = result["top_site"]
    if site is not None:
        lines.append(
            f'top site: {site["location"]} in {site["function"]}, '
            f'{site["bytes_per_mark"]:.0f} bytes a mark ({site["reports"]} attribution lines)'
        )
    lines.append(f'(Python {result["python"]})')
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python3 -m leakcheck.bench_attribution", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--iterations", type=int, default=3000, help="loop iterations a run (default 3000)")
    parser.add_argument("--runs", type=int, default=5, help="runs per mode, interleaved (default 5)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    args = parser.parse_args(argv)
    if args.iterations < 1 or args.runs < 1:
        parser.error("--iterations and --runs must be at least 1")
    result = measure(args.iterations, args.runs)
    print(json.dumps(result) if args.json else describe(result))


if __name__ == "__main__":
    main()
