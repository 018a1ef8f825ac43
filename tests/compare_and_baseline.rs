//! Did the fix work, did we regress: `leakcheck compare`, the gate's baseline ratchet, and
//! partitioned gates joined by `merge`. Real runs of the shipped loader and of real Python
//! processes (`tests/fixtures/churn.py`, here with no churn: a steady leak by the clock).

mod util;

use leakcheck_vocab::exit_code;
use std::path::Path;

use util::{leakcheck, read, repo_root, temp_config};

fn run_loader(variant: &str, out: &Path) {
    let code = if variant == "leaky" {
        exit_code::BUDGET_FAILED
    } else {
        exit_code::PASS
    };
    leakcheck(
        &repo_root(),
        &[
            "run",
            "loader-loop",
            "--variant",
            variant,
            "--attribute=never",
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .assert_exit_code(code);
}

#[test]
fn compare_says_the_fixed_loader_grows_less_and_the_reverse_is_worse() {
    let runs = tempfile::tempdir().unwrap();
    let (leaky, fixed) = (runs.path().join("leaky"), runs.path().join("fixed"));
    run_loader("leaky", &leaky);
    run_loader("fixed", &fixed);
    let (a, b) = (leaky.join("loader-loop"), fixed.join("loader-loop"));
    let out = runs.path().join("cmp");
    let fix = leakcheck(
        &repo_root(),
        &[
            "compare",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    fix.assert_exit_code(exit_code::PASS);
    assert!(fix.stdout.starts_with("compare: better"), "{}", fix.stdout);
    let line = fix
        .stdout
        .lines()
        .find(|l| l.contains("alloc.allocated slope"))
        .unwrap_or_else(|| panic!("{}", fix.stdout));
    assert!(
        line.contains("99% CI") && line.ends_with("better than A"),
        "{line}"
    );

    let json: serde_json::Value = serde_json::from_str(&read(&out.join("compare.json"))).unwrap();
    assert_eq!(json["verdict"], "better");
    let slope = json["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["quantities"].as_array().unwrap())
        .find(|q| q["metric"] == "alloc.allocated" && q["quantity"] == "slope")
        .unwrap();
    let d = &slope["difference"];
    let (est, lo, hi) = (
        d["estimate"].as_f64().unwrap(),
        d["lo"].as_f64().unwrap(),
        d["hi"].as_f64().unwrap(),
    );
    // The leak is ~1.7 MiB/iter; the fix keeps nothing: the difference is that, negative,
    // its interval clear of zero (how far depends on where the leaky run stopped).
    assert!(
        est < -1.0e6 && lo < est && est < hi && hi < 0.0,
        "{est} ({lo} … {hi})"
    );
    for file in ["compare.md", "compare.svg", "compare.png"] {
        assert!(out.join(file).metadata().unwrap().len() > 500, "{file}");
    }

    // The same runs the other way round: B regressed.
    let regressed = leakcheck(
        &repo_root(),
        &[
            "compare",
            b.to_str().unwrap(),
            a.join("samples.jsonl").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    regressed.assert_exit_code(exit_code::BUDGET_FAILED);
    assert!(
        regressed.stdout.starts_with("compare: worse"),
        "{}",
        regressed.stdout
    );
}

#[test]
fn compare_refuses_bad_input_with_exit_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-run");
    let m = missing.to_str().unwrap();
    let out = leakcheck(dir.path(), &["compare", m, m]);
    out.assert_exit_code(exit_code::USAGE);
    assert!(out.stderr.contains("no-such-run") && out.stderr.contains("samples.jsonl"));
    let bad = leakcheck(dir.path(), &["compare", m, m, "--tolerance", "lots"]);
    bad.assert_exit_code(exit_code::USAGE);
    assert!(
        bad.stderr.contains("\"lots\"") && bad.stderr.contains("25%"),
        "{}",
        bad.stderr
    );
}

/// The bug it pins: a metric with nothing to judge (no fit in either run) counted as "no
/// significant difference", so two runs too short to say anything compared as equal.
#[test]
fn runs_too_short_for_a_fit_compare_as_undecided_exit_4() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    for name in ["one", "two"] {
        leakcheck(
            dir.path(),
            &["run", "--name", name, "--out", out, "--", "true"],
        )
        .assert_exit_code(exit_code::PASS);
    }
    let (a, b) = (dir.path().join("one"), dir.path().join("two"));
    let cmp = leakcheck(
        dir.path(),
        &[
            "compare",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "--out",
            out,
        ],
    );
    cmp.assert_exit_code(exit_code::UNDECIDED);
    assert!(
        cmp.stdout.starts_with("compare: undecided"),
        "{}",
        cmp.stdout
    );
}

#[test]
fn gate_against_its_own_baseline_passes_and_the_leaky_variant_names_the_regression() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("b.json");
    let b = baseline.to_str().unwrap();
    let out = dir.path().join("reports");
    let o = out.to_str().unwrap();
    let gate = |extra: &[&str]| {
        let mut args = vec!["gate", "--only", "loader-loop", "--attribute=never"];
        args.extend_from_slice(&["--baseline", b, "--out", o]);
        args.extend_from_slice(extra);
        leakcheck(&repo_root(), &args)
    };
    let first = gate(&["--update-baseline"]);
    first.assert_exit_code(exit_code::PASS);
    let saved: serde_json::Value = serde_json::from_str(&read(&baseline)).unwrap();
    assert_eq!(saved["format"], "leakcheck-baseline");
    let entry = &saved["scenarios"]["loader-loop"];
    assert_eq!(entry["variant"], "fixed");
    assert!(
        entry["metrics"]["alloc.allocated"]["slope"]["lo"].is_f64(),
        "{entry}"
    );
    assert!(entry["cores"].as_u64().unwrap() >= 1);

    let again = gate(&[]);
    again.assert_exit_code(exit_code::PASS);
    assert!(
        again.stdout.contains("baseline  alloc.allocated slope"),
        "{}",
        again.stdout
    );

    let leaky = gate(&["--variant", "leaky"]);
    leaky.assert_exit_code(exit_code::BUDGET_FAILED);
    let said = &leaky.stdout;
    assert!(said.contains("> budget 16 KiB/iter"), "{said}");
    assert!(
        said.contains("worse than baseline by more than 25%"),
        "{said}"
    );
    let junit = read(&out.join("junit.xml"));
    assert!(junit.contains("type=\"baseline\""), "{junit}");
}

/// Judged over at least 6 s: on a loaded CI machine a 3 s baseline once caught a stall of
/// the Python process (its leak catches up by the clock), which stretched the baseline's
/// interval to 1–3.3 MiB/s and hid the 3× regression.
#[test]
fn a_regression_within_budget_but_3x_its_baseline_fails_the_ratchet() {
    let script = repo_root().join("tests/fixtures/churn.py");
    let config = temp_config(&format!(
        r#"
[scenarios.steady]
command = ["python3", "{}", "--churn-mib", "0", "--seconds", "30"]
duration = {{ min = "6s", max = "10s" }}
[scenarios.steady.variants]
before = ["--leak-mib-per-s", "1"]
after = ["--leak-mib-per-s", "3"]
[scenarios.steady.budgets]
"rss.tree" = {{ slope = "16 MiB/s", ratchet = "25%" }}
"#,
        script.display()
    ));
    let baseline = config.path().join("baseline.json");
    let gate = |variant: &str, extra: &[&str]| {
        let mut args = vec!["gate", "--variant", variant, "--baseline"];
        args.push(baseline.to_str().unwrap());
        args.extend_from_slice(extra);
        leakcheck(config.path(), &args)
    };
    gate("before", &["--update-baseline"]).assert_exit_code(exit_code::PASS);
    let after = gate("after", &[]);
    after.assert_exit_code(exit_code::BUDGET_FAILED);
    let said = &after.stdout;
    // Within its budget, but three times its baseline: the ratchet alone fails it.
    assert!(said.contains("≤ budget 16 MiB/s"), "{said}");
    assert!(
        said.contains("rss.tree slope: baseline") && said.contains("worse than baseline"),
        "{said}"
    );
    // The baseline's own variant again: no significant difference.
    gate("before", &[]).assert_exit_code(exit_code::PASS);
}

#[test]
fn a_baseline_that_is_not_one_is_a_usage_error_before_anything_runs() {
    let config = temp_config(
        "[scenarios.never]\ncommand = [\"/bin/false\"]\n[scenarios.never.budgets]\nrss = { peak = \"1 GiB\" }\n",
    );
    std::fs::write(
        config.path().join("b.json"),
        "{\"format\": \"something else\"}",
    )
    .unwrap();
    let out = leakcheck(config.path(), &["gate", "--baseline", "b.json"]);
    out.assert_exit_code(exit_code::USAGE);
    assert!(out.stderr.contains("b.json") && out.stderr.contains("leakcheck-baseline"));
    assert!(!config.path().join("reports/never").exists());
}

/// Three quick scenarios judged by time: two pass, one leaks.
fn three_scenarios() -> tempfile::TempDir {
    let script = repo_root().join("tests/fixtures/churn.py");
    let scenario = |name: &str, leak: &str| {
        format!(
            r#"
[scenarios.{name}]
command = ["python3", "{}", "--churn-mib", "0", "--seconds", "20", "--leak-mib-per-s", "{leak}"]
duration = {{ min = "2s", max = "4s" }}
[scenarios.{name}.budgets]
"rss.tree" = {{ slope = "1 MiB/s" }}
"#,
            script.display()
        )
    };
    temp_config(
        &[
            scenario("quiet", "0"),
            scenario("leaks", "8"),
            scenario("calm", "0"),
        ]
        .concat(),
    )
}

fn verdicts(gate_dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = ["quiet", "leaks", "calm"]
        .iter()
        .filter_map(|name| {
            let path = gate_dir.join(name).join("summary.json");
            let text = std::fs::read_to_string(path).ok()?;
            let s: serde_json::Value = serde_json::from_str(&text).unwrap();
            Some((name.to_string(), s["verdict"].as_str().unwrap().to_string()))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn two_partitions_run_every_scenario_once_and_merge_like_one_gate() {
    let config = three_scenarios();
    let root = config.path();
    let whole = leakcheck(root, &["gate", "--out", "whole"]);
    whole.assert_exit_code(exit_code::BUDGET_FAILED);
    let mut ran = Vec::new();
    for k in ["1/2", "2/2"] {
        let out = format!("shard-{}", &k[..1]);
        let shard = leakcheck(root, &["gate", "--partition", k, "--out", &out]);
        assert!(matches!(shard.code, Some(0 | 1)), "{}", shard.all_output());
        ran.extend(verdicts(&root.join(&out)).into_iter().map(|(n, _)| n));
    }
    ran.sort();
    assert_eq!(ran, ["calm", "leaks", "quiet"]);

    let merged = leakcheck(root, &["merge", "shard-1", "shard-2", "--out", "merged"]);
    merged.assert_exit_code(exit_code::BUDGET_FAILED);
    assert!(
        merged.stdout.contains("2 of 3 scenarios passed"),
        "{}",
        merged.stdout
    );
    assert_eq!(
        verdicts(&root.join("merged")),
        verdicts(&root.join("whole"))
    );
    let junit = read(&root.join("merged/junit.xml"));
    for name in ["quiet", "leaks", "calm"] {
        assert!(junit.contains(&format!("leakcheck.{name}")), "{junit}");
    }
    assert!(root.join("merged/index.html").is_file());

    // A scenario in two shards is refused, and nothing is written.
    let twice = leakcheck(root, &["merge", "shard-1", "shard-1", "--out", "twice"]);
    twice.assert_exit_code(exit_code::USAGE);
    assert!(twice.stderr.contains("given twice"), "{}", twice.stderr);
    assert!(!root.join("twice/junit.xml").exists());
}
