//! Where it grows, end to end: `--attribute` on real runs. The Rust scenarios are rebuilt
//! with dhat (`target/dhat`) and run at two lengths; a Python program is re-run with the
//! client's tracemalloc snapshots. The verdict never changes.

mod util;

use leakcheck_vocab::exit_code;
use util::{leakcheck, read, repo_root, summary};

fn sites(s: &serde_json::Value) -> &Vec<serde_json::Value> {
    s["attribution"]["sites"]
        .as_array()
        .unwrap_or_else(|| panic!("no attribution sites in {}", s["attribution"]))
}

/// The sites of an attribution pass that ran and measured, failing with the whole
/// attribution (its `unavailable` reason included) when it did not: an empty list from
/// a pass that could not run must not pass for "nothing grows".
fn measured_sites(s: &serde_json::Value) -> &Vec<serde_json::Value> {
    let a = &s["attribution"];
    assert!(a["unavailable"].is_null(), "the pass did not measure: {a}");
    sites(s)
}

/// The top site of a measured attribution, failing with the attribution when none grew.
fn top_site(s: &serde_json::Value) -> &serde_json::Value {
    measured_sites(s)
        .first()
        .unwrap_or_else(|| panic!("no growing site in {}", s["attribution"]))
}

fn sum_top(s: &serde_json::Value, n: usize) -> f64 {
    sites(s)
        .iter()
        .take(n)
        .map(|x| x["bytes_per_iter"].as_f64().unwrap())
        .sum()
}

/// The budget check of `metric` in a summary: its estimate.
fn estimate(s: &serde_json::Value, metric: &str) -> f64 {
    util::metric(s, metric)["budgets"][0]["estimate"]
        .as_f64()
        .unwrap()
}

#[test]
fn a_python_leak_on_one_line_is_named_by_file_and_line() {
    let out = tempfile::tempdir().unwrap();
    let script = repo_root().join("tests/fixtures/client_leak.py");
    let source = read(&script);
    let line = source
        .lines()
        .position(|l| l.contains("kept.extend("))
        .expect("the leaking line")
        + 1;
    leakcheck(
        &repo_root(),
        &[
            "run",
            "--name",
            "one-line",
            "--attribute",
            "--budget",
            "rss.slope=8KiB/iter",
            "--out",
            out.path().to_str().unwrap(),
            "--",
            "python3",
            script.to_str().unwrap(),
            "--keep-kib",
            "24",
        ],
    )
    .assert_exit_code(exit_code::BUDGET_FAILED);
    let s = summary(&out.path().join("one-line"));
    assert_eq!(s["attribution"]["method"], "tracemalloc");
    let top = top_site(&s);
    let location = top["location"].as_str().unwrap();
    assert!(
        location.ends_with(&format!("client_leak.py:{line}")),
        "top site {location}, the leak is on line {line}"
    );
    // ~24 KiB of strings a mark: the site explains most of the rss slope.
    let per_iter = top["bytes_per_iter"].as_f64().unwrap();
    assert!(
        (20.0 * 1024.0..30.0 * 1024.0).contains(&per_iter),
        "{per_iter} B/iter"
    );
    let md = read(&out.path().join("one-line/summary.md"));
    assert!(md.contains("# Where it grows"), "{md}");
}

#[test]
fn the_leaky_loaders_growth_is_attributed_to_the_volume_loader() {
    let out = tempfile::tempdir().unwrap();
    let run = leakcheck(
        &repo_root(),
        &[
            "run",
            "loader-loop",
            "--variant",
            "leaky",
            "--attribute",
            "--out",
            out.path().to_str().unwrap(),
        ],
    );
    run.assert_exit_code(exit_code::BUDGET_FAILED);
    let s = summary(&out.path().join("loader-loop"));
    assert_eq!(s["attribution"]["method"], "dhat", "{}", run.all_output());
    let top = top_site(&s)["location"].as_str().unwrap();
    assert!(
        top.starts_with("workloads/volume-loader/"),
        "top site {top}"
    );
    let measured = estimate(&s, "alloc.allocated");
    let top5 = sum_top(&s, 5);
    assert!(
        (0.5 * measured..=1.5 * measured).contains(&top5),
        "top 5 sites {top5} B/iter against the measured {measured} B/iter"
    );
}

#[test]
fn the_fixed_loader_lists_no_site_above_the_budget() {
    let out = tempfile::tempdir().unwrap();
    leakcheck(
        &repo_root(),
        &[
            "run",
            "loader-loop",
            "--attribute",
            "--out",
            out.path().to_str().unwrap(),
        ],
    )
    .assert_exit_code(exit_code::PASS);
    let s = summary(&out.path().join("loader-loop"));
    assert_eq!(s["attribution"]["method"], "dhat");
    let budget = 16.0 * 1024.0;
    for site in measured_sites(&s) {
        let b = site["bytes_per_iter"].as_f64().unwrap();
        assert!(
            b <= budget,
            "{site} adds {b} B/iter, over the 16 KiB/iter budget"
        );
    }
}

#[test]
fn the_leaky_retrains_kept_session_state_is_attributed() {
    let out = tempfile::tempdir().unwrap();
    leakcheck(
        &repo_root(),
        &[
            "run",
            "retrain-sequential",
            "--variant",
            "leaky",
            "--attribute",
            "--out",
            out.path().to_str().unwrap(),
        ],
    )
    .assert_exit_code(exit_code::BUDGET_FAILED);
    let s = summary(&out.path().join("retrain-sequential"));
    assert_eq!(s["attribution"]["per"], "session");
    let retained = estimate(&s, "alloc.allocated");
    let top10 = sum_top(&s, 10);
    assert!(
        top10 >= 0.8 * retained,
        "top 10 sites {top10} B/session against the retained {retained} B"
    );
    for site in measured_sites(&s).iter().take(5) {
        let location = site["location"].as_str().unwrap();
        assert!(
            location.starts_with("workloads/seg-trainer/"),
            "{location} is not the trainer's state"
        );
    }
}

/// An honest edge: a program that does not mark cannot be attributed, and the report
/// says so while the verdict stays what the run said.
#[test]
fn a_program_without_the_client_gets_its_verdict_and_the_reason_for_no_sites() {
    let out = tempfile::tempdir().unwrap();
    let program = "import time\nkept = []\nfor _ in range(30):\n    kept.append(b'x' * (4 << 20))\n    time.sleep(0.05)\n";
    leakcheck(
        &repo_root(),
        &[
            "run",
            "--name",
            "no-client",
            "--attribute",
            "--budget",
            "rss.tree.slope=1MiB/s",
            "--out",
            out.path().to_str().unwrap(),
            "--",
            "python3",
            "-c",
            program,
        ],
    )
    .assert_exit_code(exit_code::BUDGET_FAILED);
    let s = summary(&out.path().join("no-client"));
    assert_eq!(s["verdict"], "fail");
    let why = s["attribution"]["unavailable"].as_str().unwrap();
    assert!(why.contains("does not mark"), "{why}");
    assert!(sites(&s).is_empty());
    let md = read(&out.path().join("no-client/summary.md"));
    assert!(
        md.contains("no allocation sites: the program does not mark"),
        "{md}"
    );
}
