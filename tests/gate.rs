//! End-to-end: the CI leak gate over the shipped scenarios (real workloads, real Zarr files,
//! real training, real forked Python workers), fixed variants pass and leaky variants are
//! caught.

mod util;

use leakcheck_vocab::exit_code;
use util::{leakcheck, read, repo_root};

#[test]
fn gate_passes_the_fixed_variants_and_catches_the_leaky_ones() {
    let root = repo_root();
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().to_str().unwrap();

    let metrics = out_dir.path().join("leakcheck.prom");
    let fixed = leakcheck(
        &root,
        &[
            "gate",
            "--variant",
            "fixed",
            "--out",
            out,
            "--openmetrics",
            metrics.to_str().unwrap(),
        ],
    );
    fixed.assert_exit_code(exit_code::PASS);
    for file in ["junit.xml", "summary.md", "index.html"] {
        assert!(out_dir.path().join(file).exists(), "{file} missing");
    }
    // One OpenMetrics file for the whole gate (its format is checked by an independent
    // parser in python/tests/test_openmetrics.py).
    let text = read(&metrics);
    assert!(text.ends_with("# EOF\n"), "{text}");
    for scenario in ["loader-loop", "retrain-sequential", "dataloader-workers"] {
        let pass = format!(
            "leakcheck_verdict{{scenario=\"{scenario}\",variant=\"fixed\",leakcheck_verdict=\"pass\"}} 1"
        );
        assert!(text.contains(&pass), "no `{pass}` in:\n{text}");
    }

    let leaky_dir = tempfile::tempdir().unwrap();
    let leaky_out = leaky_dir.path().to_str().unwrap();
    let leaky = leakcheck(&root, &["gate", "--variant", "leaky", "--out", leaky_out]);
    leaky.assert_exit_code(exit_code::BUDGET_FAILED);

    // Every failing budget check is named in the summary with its numbers.
    // The markdown escapes `<`, `>` and `&` as HTML entities (GitHub renders them back).
    let summary = read(&leaky_dir.path().join("summary.md"))
        .replace("&gt;", ">")
        .replace("&lt;", "<")
        .replace("&amp;", "&");
    for scenario in ["loader-loop", "retrain-sequential", "dataloader-workers"] {
        let json: serde_json::Value =
            serde_json::from_str(&read(&leaky_dir.path().join(scenario).join("summary.json")))
                .unwrap();
        let mut failing = 0;
        for metric in json["metrics"].as_array().unwrap() {
            for check in metric["budgets"].as_array().unwrap() {
                if check["outcome"] == "fail" {
                    failing += 1;
                    let line = check["line"].as_str().unwrap();
                    assert!(summary.contains(line), "summary lacks `{line}`:\n{summary}");
                    assert!(line.contains("budget"), "no budget in `{line}`");
                    // The metric's slope with its confidence interval is in the table,
                    // whatever kind of budget it failed.
                    let name = metric["name"].as_str().unwrap();
                    let slope_row = format!("| {name} |");
                    assert!(
                        summary.lines().any(|l| l.starts_with(&slope_row)
                            && l.contains("| slope |")
                            && l.contains("% CI")),
                        "no slope row with a CI for {name}:\n{summary}"
                    );
                }
            }
        }
        assert!(
            failing > 0,
            "{scenario} leaky: no failing budget:\n{summary}"
        );
    }

    // The forked workers share the dataset's pages: the report says how much of the
    // tree's RSS is that sharing, which PSS (the budgeted metric) does not count.
    let workers: serde_json::Value = serde_json::from_str(&read(
        &leaky_dir.path().join("dataloader-workers/summary.json"),
    ))
    .unwrap();
    let notes = workers["notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().unwrap().contains("is sharing, not memory")),
        "{notes:?}"
    );
}
