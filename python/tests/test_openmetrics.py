"""leakcheck's ``--openmetrics`` output, read by an independent parser: the one of the
Prometheus Python client (``prometheus_client.openmetrics.parser``), which refuses text
that breaks the OpenMetrics format. It runs the real binary on a recorded run."""

import json
import pathlib
import subprocess

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = ROOT / "target" / "release" / "leakcheck"
LEAKY_LOADER = ROOT / "tests" / "fixtures" / "loader-leaky"


@pytest.fixture
def exported(tmp_path):
    """The leaky loader's recorded run judged again, with ``--openmetrics``."""
    if not BINARY.exists():
        pytest.fail(f"{BINARY} is missing: build it first (cargo build --release; scripts/test does)")
    out = tmp_path / "report"
    # The judging file sits beside the samples in the fixture; copy both so the report
    # goes to a folder of its own.
    out.mkdir()
    for name in ("samples.jsonl", "judging.json"):
        (out / name).write_bytes((LEAKY_LOADER / name).read_bytes())
    metrics_file = tmp_path / "leakcheck.prom"
    done = subprocess.run(
        [str(BINARY), "report", str(out / "samples.jsonl"), "--openmetrics", str(metrics_file)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1, done.stdout + done.stderr  # the leak fails its budget
    summary = json.loads((out / "summary.json").read_text())
    return metrics_file.read_text(), summary


def families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_the_export_parses_as_openmetrics_and_ends_with_eof(exported):
    text, _ = exported
    assert text.endswith("# EOF\n")
    found = families(text)
    for name in (
        "leakcheck_verdict",
        "leakcheck_budget_outcome",
        "leakcheck_run_duration_seconds",
        "leakcheck_slope_bytes_per_iteration",
        "leakcheck_peak_bytes",
        "leakcheck_last_value_bytes",
        "leakcheck_budget_limit",
    ):
        assert name in found, sorted(found)
    assert found["leakcheck_verdict"].type == "stateset"
    assert found["leakcheck_budget_outcome"].type == "stateset"


def test_the_values_are_the_reports(exported):
    text, summary = exported
    found = families(text)
    verdict = {s.labels["leakcheck_verdict"]: s.value for s in found["leakcheck_verdict"].samples}
    assert verdict == {"pass": 0, "fail": 1, "undecided": 0, "incomplete": 0, "no_budgets": 0}
    allocated = next(m for m in summary["metrics"] if m["name"] == "alloc.allocated")
    slope = next(
        s for s in found["leakcheck_slope_bytes_per_iteration"].samples
        if s.labels["metric"] == "alloc.allocated"
    )
    assert slope.labels["scenario"] == summary["scenario"]
    assert slope.value == pytest.approx(allocated["fit"]["slope"])
    peak = next(s for s in found["leakcheck_peak_bytes"].samples if s.labels["metric"] == "alloc.allocated")
    assert peak.value == allocated["peak"]
    outcome = {
        s.labels["leakcheck_budget_outcome"]: s.value
        for s in found["leakcheck_budget_outcome"].samples
        if s.labels["metric"] == "alloc.allocated"
    }
    assert outcome == {"pass": 0, "fail": 1, "undecided": 0}
    limit = next(s for s in found["leakcheck_budget_limit"].samples if s.labels["metric"] == "alloc.allocated")
    assert limit.labels["unit"] == "bytes_per_iteration"
    assert limit.value == allocated["budgets"][0]["limit"]


def test_a_path_that_cannot_be_written_is_a_usage_error_before_anything_runs(tmp_path):
    if not BINARY.exists():
        pytest.fail(f"{BINARY} is missing: build it first")
    done = subprocess.run(
        [str(BINARY), "run", "--openmetrics", str(tmp_path / "no" / "such" / "dir.prom"), "--", "true"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "--openmetrics" in done.stderr and "no/such/dir.prom" in done.stderr, done.stderr
