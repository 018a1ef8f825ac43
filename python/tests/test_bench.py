"""The benchmark command's output. The cost budget it measures (a mark within 15 µs) is a
figure for the README, never asserted here: the machines are shared and noisy."""

import json
import re
import subprocess
import sys


def bench(*args):
    """What ``python3 -m leakcheck.bench`` prints, with small runs."""
    command = [sys.executable, "-m", "leakcheck.bench", "--marks", "2000", "--tracemalloc-marks", "500"]
    command += ["--runs", "3", *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def test_bench_prints_one_line_per_measurement():
    lines = bench().splitlines()
    assert re.fullmatch(r"mark: median \d+\.\d\d µs \(3 runs of 2000\)", lines[0]), lines[0]
    tracemalloc_line = r"mark with tracemalloc \(10 frames\): median \d+\.\d\d µs \(3 runs of 500\)"
    assert re.fullmatch(tracemalloc_line, lines[1]), lines[1]
    assert lines[2].startswith("mark with 2,000,000 more live blocks: median ")
    assert lines[3].startswith("mark on an inert probe: median ")
    assert lines[4].startswith("(to a pipe drained by another process, Python ")


def test_bench_json_holds_every_run():
    result = json.loads(bench("--sink", "devnull", "--heap-blocks", "1000", "--json"))
    assert (result["runs"], result["sink"], result["heap_blocks"]) == (3, "devnull", 1000)
    marks_per_run = {"mark": 2000, "mark_tracemalloc": 500, "mark_big_heap": 2000, "mark_inert": 2000}
    for key, marks in marks_per_run.items():
        assert result[key]["marks"] == marks
        assert len(result[key]["runs_ns"]) == 3
        assert result[key]["median_ns"] == sorted(result[key]["runs_ns"])[1]


def bench_attribution(*args):
    """What ``python3 -m leakcheck.bench_attribution`` prints, with small runs."""
    command = [sys.executable, "-m", "leakcheck.bench_attribution", "--iterations", "100", "--runs", "1", *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def test_bench_attribution_prints_the_medians_and_the_ratio():
    lines = bench_attribution().splitlines()
    assert re.fullmatch(r"plain, with marks: median \d+\.\d{3} s \(1 runs of 100 iterations\)", lines[0]), lines[0]
    assert lines[1].startswith("attribution on: median ")
    assert lines[2].startswith("tracemalloc tracing only: median ")
    assert re.fullmatch(r"attribution / plain: \d+\.\d\dx", lines[3]), lines[3]
    assert re.fullmatch(r"tracemalloc only / plain: \d+\.\d\dx", lines[4]), lines[4]
    # The attribution runs found the string the loop keeps every iteration.
    assert re.fullmatch(r"top site: workload\.py:11 in step, \d+ bytes a mark \(\d+ attribution lines\)", lines[5])
    assert lines[6].startswith("(Python ")


def test_bench_attribution_json_holds_every_run():
    result = json.loads(bench_attribution("--runs", "3", "--json"))
    assert (result["iterations"], result["runs"]) == (100, 3)
    for mode in ("plain", "attribution", "tracemalloc"):
        assert len(result["seconds"][mode]) == 3
        assert result["median_s"][mode] == sorted(result["seconds"][mode])[1]
    assert result["ratio"] == result["median_s"]["attribution"] / result["median_s"]["plain"]
    assert 40 <= result["top_site"]["bytes_per_mark"] <= 100
