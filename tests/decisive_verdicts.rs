//! Every run ends decided: early stops on a certain leak, run-until-decided by time for a
//! program that never marks, churn that no longer hides the verdict. Real runs of the
//! shipped scenarios and of real Python processes.

mod util;

use leakcheck_vocab::exit_code;
use util::{leakcheck, read, repo_root, summary};

/// The bug: the leaky loader ran all 500 iterations to 899 MiB although its leak (1.76
/// MiB/iter against 16 KiB/iter) was certain after a few dozen.
#[test]
fn leaky_loader_stops_early_and_reads_back_the_same() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let run = leakcheck(
        &repo_root(),
        // No attribution pass: its sites are not in samples.jsonl, which the offline
        // judgement below must reproduce byte for byte.
        &[
            "run",
            "loader-loop",
            "--variant",
            "leaky",
            "--attribute=never",
            "--out",
            dir,
        ],
    );
    run.assert_exit_code(exit_code::BUDGET_FAILED);
    assert!(run.stdout.contains("stopped early"), "{}", run.stdout);
    let scenario = out.path().join("loader-loop");
    let live = summary(&scenario);
    // It failed at an interim look, long before the 500 iterations a pass needs: the
    // first look's confirmation (54.9 marks) or the second's (82.3), whichever the
    // staircase the workers' timing draws allows. 125 runs here on 2026-12-02, 50 of them
    // with the other core loaded, were all decided by 82.3 (see the README's soak figures).
    let decided = live["decided_at"]["length"]
        .as_f64()
        .unwrap_or_else(|| panic!("no decision in {live}"));
    assert!(decided <= 100.0, "decided after {decided} marks");
    // The stop lags the decision by however many marks the loader makes while the runner
    // waits for a core: ~5 on an idle machine; one run on CI's loaded machine had 291
    // marks in all. Either way far short of the 2000 the run was given.
    let marks = read(&scenario.join("samples.jsonl"))
        .lines()
        .filter(|l| l.contains(r#""type":"mark""#))
        .count();
    assert!(marks <= 1000, "{marks} marks before the stop");

    // Judged offline, the run stops at the same look with the same words.
    let again = tempfile::tempdir().unwrap();
    let samples = scenario.join("samples.jsonl");
    leakcheck(
        &repo_root(),
        &[
            "report",
            samples.to_str().unwrap(),
            "--out",
            again.path().to_str().unwrap(),
        ],
    )
    .assert_exit_code(exit_code::BUDGET_FAILED);
    assert_eq!(
        read(&again.path().join("summary.json")),
        read(&scenario.join("summary.json"))
    );

    let fixed = leakcheck(
        &repo_root(),
        &["run", "loader-loop", "--variant", "fixed", "--out", dir],
    );
    fixed.assert_exit_code(exit_code::PASS);
}

/// Runs `tests/fixtures/churn.py` (64 MiB allocated and freed twice a second, never a
/// mark) judged by time between 4 and 10 s against a 1 MiB/s budget on `rss.tree`.
fn churn(name: &str, leak_mib_per_s: &str, expected_exit: i32) -> serde_json::Value {
    let out = tempfile::tempdir().unwrap();
    let script = repo_root().join("tests/fixtures/churn.py");
    leakcheck(
        &repo_root(),
        &[
            "run",
            "--name",
            name,
            "--budget",
            "rss.tree.slope=1MiB/s",
            "--min-duration",
            "4s",
            "--max-duration",
            "10s",
            "--out",
            out.path().to_str().unwrap(),
            "--",
            "python3",
            script.to_str().unwrap(),
            "--leak-mib-per-s",
            leak_mib_per_s,
        ],
    )
    .assert_exit_code(expected_exit);
    summary(&out.path().join(name))
}

/// The bug: the cycles, read as autocorrelated noise, widened the interval to
/// −3.6 … +4.6 MiB/s, so a program with a flat mean ended UNDECIDED (exit 4).
#[test]
fn churn_with_a_flat_mean_passes_within_10_s() {
    let s = churn("flat", "0", exit_code::PASS);
    let decided = s["decided_at"]["length"].as_f64().unwrap();
    assert!(decided <= 10.0, "decided after {decided} s");
    // Which estimator settles it depends on how many whole cycles the first look holds
    // (on CI's machine Theil–Sen alone passed at 4 s, before the churn envelope had its
    // eight periods), so the test pins the outcome, not the path: the envelope itself is
    // reference-tested in crates/analysis/tests/churn_and_warmup.rs.
}

#[test]
fn churn_with_a_2_mib_per_s_leak_underneath_fails() {
    let s = churn("leaking", "2", exit_code::BUDGET_FAILED);
    let decided = s["decided_at"]["length"].as_f64().unwrap();
    assert!(decided <= 10.0, "decided after {decided} s");
}
