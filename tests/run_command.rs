//! End-to-end: `leakcheck run` on real child processes (Python programs), the process-tree
//! metric, and the ways a run can end badly (abort, hang, memory ceiling).

mod util;

use leakcheck_vocab::exit_code;
use util::{leakcheck, marker_script, read, records_of_type, temp_config};

/// Runs a Python loop that keeps (or drops) a touched 1 MiB buffer every 10 ms for 3 s,
/// under a 1 MiB/s `rss` slope budget; the reports go to `<dir>/reports/<name>/`.
fn run_one_mib_loop(keep: bool, name: &str) -> (tempfile::TempDir, util::Outcome) {
    let store = if keep { "kept.append(buf)" } else { "del buf" };
    let script = format!(
        "import time\nkept = []\nend = time.time() + 3\nwhile time.time() < end:\n    buf = bytearray(b'x' * (1 << 20))\n    {store}\n    time.sleep(0.01)\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "run",
        "--name",
        name,
        "--budget",
        "rss.slope=1MiB/s",
        "--",
        "python3",
        "-c",
    ];
    let mut args: Vec<&str> = args.to_vec();
    args.push(&script);
    let out = leakcheck(dir.path(), &args);
    (dir, out)
}

#[test]
fn command_that_keeps_memory_fails_rss_slope_budget() {
    let (dir, out) = run_one_mib_loop(true, "keeps");
    out.assert_exit_code(exit_code::BUDGET_FAILED);
    let summary = read(&dir.path().join("reports/keeps/summary.md"));
    assert!(summary.contains("rss"), "{summary}");
    assert!(summary.to_lowercase().contains("fail"), "{summary}");
}

#[test]
fn command_that_frees_memory_passes_rss_slope_budget() {
    let (dir, out) = run_one_mib_loop(false, "frees");
    out.assert_exit_code(exit_code::PASS);
    for file in [
        "samples.jsonl",
        "summary.json",
        "summary.md",
        "memory.svg",
        "memory.png",
    ] {
        assert!(
            dir.path().join("reports/frees").join(file).exists(),
            "{file} missing"
        );
    }
}

/// The shape of a PyTorch data loader: a quiet parent and three workers that each leak.
#[test]
fn leaking_worker_processes_fail_the_tree_metric_while_parent_is_flat() {
    let script = "import multiprocessing as mp, time\n\
def work():\n    kept = []\n    end = time.time() + 3\n    while time.time() < end:\n        kept.append(bytearray(b'w' * (512 << 10)))\n        time.sleep(0.02)\n\
if __name__ == '__main__':\n    ps = [mp.Process(target=work) for _ in range(3)]\n    [p.start() for p in ps]\n    [p.join() for p in ps]\n";
    let dir = tempfile::tempdir().unwrap();
    let out = leakcheck(
        dir.path(),
        &[
            "run",
            "--name",
            "workers",
            "--budget",
            "rss.tree.slope=4MiB/s",
            "--budget",
            "rss.slope=4MiB/s",
            "--",
            "python3",
            "-c",
            script,
        ],
    );
    out.assert_exit_code(exit_code::BUDGET_FAILED);
    let summary: serde_json::Value =
        serde_json::from_str(&read(&dir.path().join("reports/workers/summary.json"))).unwrap();
    let outcome = |metric: &str| {
        summary["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == metric)
            .unwrap_or_else(|| panic!("no metric {metric} in {summary}"))["budgets"][0]["outcome"]
            .clone()
    };
    assert_eq!(outcome("rss.tree"), "fail", "{summary}");
    assert_eq!(outcome("rss"), "pass", "{summary}");
    let samples = dir.path().join("reports/workers/samples.jsonl");
    let most_pids = records_of_type(&samples, "tree")
        .iter()
        .filter_map(|r| r["pids"].as_u64())
        .max()
        .unwrap_or(0);
    assert!(
        most_pids >= 4,
        "the tree never held parent + 3 workers (max {most_pids} pids)"
    );
}

fn marker_config(name: &str, args: &str, extra: &str) -> tempfile::TempDir {
    temp_config(&format!(
        "[scenarios.{name}]\ncommand = [\"python3\", \"{}\", {args}]\n{extra}\n[scenarios.{name}.budgets]\nrss = {{ slope = \"1 MiB/iter\" }}\n",
        marker_script()
    ))
}

#[test]
fn child_that_aborts_at_iteration_300_is_incomplete_and_keeps_every_mark() {
    let dir = marker_config(
        "aborts",
        "\"--iterations\", \"500\", \"--abort-at\", \"300\", \"--sleep-ms\", \"1\"",
        "",
    );
    let out = leakcheck(dir.path(), &["run", "aborts"]);
    out.assert_exit_code(exit_code::INCOMPLETE);
    let samples = dir.path().join("reports/aborts/samples.jsonl");
    let marks = records_of_type(&samples, "mark");
    assert!(marks.len() >= 300, "only {} marks were kept", marks.len());
    let summary = read(&dir.path().join("reports/aborts/summary.md"));
    assert!(
        summary.contains("299"),
        "the report does not say where it died:\n{summary}"
    );
    assert!(
        summary.contains("signal 6") || summary.contains("SIGABRT"),
        "the report does not say how it died:\n{summary}"
    );
    assert!(dir.path().join("reports/aborts/memory.png").exists());
}

#[test]
fn child_that_hangs_is_killed_after_the_no_progress_timeout() {
    let dir = marker_config(
        "hangs",
        "\"--iterations\", \"500\", \"--hang-at\", \"40\", \"--sleep-ms\", \"2\"",
        "no_progress_timeout = \"1s\"\ntimeout = \"60s\"",
    );
    let started = std::time::Instant::now();
    let out = leakcheck(dir.path(), &["run", "hangs"]);
    out.assert_exit_code(exit_code::INCOMPLETE);
    assert!(
        started.elapsed().as_secs() < 50,
        "it waited for the overall timeout"
    );
    let summary = read(&dir.path().join("reports/hangs/summary.md")).to_lowercase();
    assert!(summary.contains("hung"), "{summary}");
}

#[test]
fn child_that_crosses_the_ceiling_is_killed_and_the_report_shows_ceiling_and_peak() {
    let dir = marker_config(
        "balloon",
        "\"--iterations\", \"400\", \"--leak-bytes\", \"4194304\", \"--sleep-ms\", \"5\"",
        "ceiling = \"200 MiB\"",
    );
    let out = leakcheck(dir.path(), &["run", "balloon"]);
    out.assert_exit_code(exit_code::BUDGET_FAILED);
    let summary = read(&dir.path().join("reports/balloon/summary.md")).to_lowercase();
    assert!(summary.contains("ceiling"), "{summary}");
    assert!(
        summary.contains("200.0 mib") || summary.contains("200 mib"),
        "{summary}"
    );
    assert!(summary.contains("peak"), "{summary}");
    let json: serde_json::Value =
        serde_json::from_str(&read(&dir.path().join("reports/balloon/summary.json"))).unwrap();
    let peak = json["peak_bytes"].as_f64().expect("peak_bytes");
    assert!(
        peak >= 200.0 * 1024.0 * 1024.0,
        "peak {peak} below the ceiling"
    );
}

#[test]
fn a_scenario_whose_build_fails_exits_build_failed_not_usage() {
    let dir = temp_config(
        "[scenarios.broken]\nbuild = [\"false\"]\ncommand = [\"true\"]\n\n[scenarios.fine]\ncommand = [\"true\"]\n",
    );
    let out = leakcheck(dir.path(), &["run", "broken"]);
    out.assert_exit_code(exit_code::BUILD_FAILED)
        .assert_stderr_contains("build command");
    // In a gate the build failure outranks the other scenario's verdict, and the other
    // scenario still runs.
    let gate = leakcheck(dir.path(), &["gate"]);
    gate.assert_exit_code(exit_code::BUILD_FAILED);
    assert!(
        dir.path().join("reports/fine/summary.json").exists(),
        "{}",
        gate.all_output()
    );
}

#[test]
fn a_budget_on_a_registered_source_metric_judges_it() {
    // rss.anon comes from a registered memory source (procfs status), not from the tree
    // walk: it is sampled beside it and budgeted like any metric.
    let (dir, out) = {
        let script = "import time\nkept = []\nend = time.time() + 3\nwhile time.time() < end:\n    kept.append(bytearray(b'x' * (1 << 20)))\n    time.sleep(0.01)\n";
        let dir = tempfile::tempdir().unwrap();
        let out = leakcheck(
            dir.path(),
            &[
                "run",
                "--name",
                "anon",
                "--budget",
                "rss.anon.slope=1MiB/s",
                "--",
                "python3",
                "-c",
                script,
            ],
        );
        (dir, out)
    };
    out.assert_exit_code(exit_code::BUDGET_FAILED);
    let summary = read(&dir.path().join("reports/anon/summary.md"));
    assert!(summary.contains("rss.anon"), "{summary}");
}

#[test]
fn a_run_without_budgets_says_on_the_terminal_how_each_metric_grows() {
    // A newcomer's first command: no config, no budget. The verdict is NO BUDGETS, and the
    // terminal still says each metric's slope with its interval and its shape.
    let dir = tempfile::tempdir().unwrap();
    let script = "import time\nkept = []\nend = time.time() + 3\nwhile time.time() < end:\n    kept.append(bytearray(b'x' * (1 << 20)))\n    time.sleep(0.02)\n";
    let out = leakcheck(
        dir.path(),
        &["run", "--name", "nobudget", "--", "python3", "-c", script],
    );
    out.assert_exit_code(exit_code::PASS);
    assert!(out.stdout.contains("NO BUDGETS"), "{}", out.stdout);
    let rss = out
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("no budget") && l.contains(" rss grows "))
        .unwrap_or_else(|| panic!("no slope line for rss:\n{}", out.stdout));
    // About 50 MiB/s kept: the line carries the rate, its interval and the shape.
    assert!(
        rss.contains("MiB/s") && rss.contains("% CI ") && rss.ends_with(": leak"),
        "{rss}"
    );
}
