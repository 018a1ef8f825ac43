//! Regression tests for the third fault matrix (a verdict you can trust on every path):
//! each is named after its bug and runs the real binary on real processes and files.
//! Each failed on the `main` before its fix (85236da); the plot's is in
//! `crates/report/tests/`, the Python client's in `python/tests/test_probe.py`.

mod util;

use leakcheck_vocab::exit_code;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use util::{
    Outcome, leakcheck, leakcheck_command, read, records_of_type, repo_root, summary, temp_config,
};

/// `python3 FILE` after writing `source` to `dir/name`.
fn python_program(dir: &Path, name: &str, source: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, source).unwrap();
    path.display().to_string()
}

/// `env PYTHONPATH=python` so the program imports the repository's client.
fn with_client() -> String {
    format!("PYTHONPATH={}", repo_root().join("python").display())
}

fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(name)
}

/// A copy of a fixture run folder (samples.jsonl, judging.json) to change.
fn copy_fixture(name: &str, into: &Path) -> PathBuf {
    let dir = into.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["samples.jsonl", "judging.json"] {
        std::fs::copy(fixture(name).join(file), dir.join(file)).unwrap();
    }
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Bug 1: a program marks 60 iterations, stops marking and grows to ~250 MiB; the peak
/// and growth budgets passed on the marked part alone (15 MiB).
#[test]
fn regression_peak_and_growth_see_the_samples_after_the_last_mark() {
    let dir = tempfile::tempdir().unwrap();
    let program = python_program(
        dir.path(),
        "train_then_eval.py",
        "import json, os, time\n\
         w = os.fdopen(int(os.environ['LEAKCHECK_FD']), 'w', buffering=1)\n\
         for i in range(60):\n\
         \x20   time.sleep(0.01)\n\
         \x20   w.write(json.dumps({'type': 'mark', 'iteration': i, 't_ns': time.monotonic_ns()}) + '\\n')\n\
         kept = []\n\
         for _ in range(25):\n\
         \x20   kept.append(bytearray(10 << 20))\n\
         \x20   time.sleep(0.04)\n\
         time.sleep(0.6)\n",
    );
    let run = leakcheck(
        dir.path(),
        &[
            "run",
            "--name",
            "eval",
            "--budget",
            "rss.tree.peak=100MiB",
            "--budget",
            "rss.tree.growth=100MiB",
            "--",
            "python3",
            &program,
        ],
    );
    run.assert_exit_code(exit_code::BUDGET_FAILED);
    let report = summary(&dir.path().join("reports/eval"));
    let tree = util::metric(&report, "rss.tree");
    assert!(
        tree["peak"].as_f64().unwrap() > 200.0 * 1048576.0,
        "{}",
        tree["peak"]
    );
    let outcomes: Vec<&str> = tree["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["fail", "fail"], "{}", run.all_output());
}

/// Bug 2: `--min-iterations 1000` on a program that ends after 60 iterations passed, and
/// so did `--min-duration 10s` on a 2 s program.
#[test]
fn regression_a_run_shorter_than_its_minimum_is_undecided() {
    let dir = tempfile::tempdir().unwrap();
    let short = leakcheck(
        dir.path(),
        &[
            "run",
            "--min-iterations",
            "1000",
            "--max-iterations",
            "2000",
            "--budget",
            "rss.slope=1MiB/iter",
            "--",
            "python3",
            &util::marker_script(),
            "--iterations",
            "60",
            "--sleep-ms",
            "2",
        ],
    );
    short.assert_exit_code(exit_code::UNDECIDED);
    assert!(
        short
            .stdout
            .contains("60 iterations of the 1000 iterations a pass needs"),
        "{}",
        short.all_output()
    );
    let timed = leakcheck(
        dir.path(),
        &[
            "run",
            "--name",
            "two-seconds",
            "--min-duration",
            "10s",
            "--max-duration",
            "20s",
            "--budget",
            "rss.tree.slope=1MiB/s",
            "--",
            "python3",
            "-c",
            "import time; time.sleep(2)",
        ],
    );
    timed.assert_exit_code(exit_code::UNDECIDED);
    assert!(
        timed.stdout.contains("a pass needs"),
        "{}",
        timed.all_output()
    );
}

/// Bug 3: `compare leaky crashed` said `better`, exit 0, and never said on the terminal
/// that B crashed.
#[test]
fn regression_compare_against_a_crashed_run_is_never_better() {
    let out = tempfile::tempdir().unwrap();
    let run = leakcheck(
        &repo_root(),
        &[
            "compare",
            s(&fixture("loader-leaky")),
            s(&fixture("crashed")),
            "--out",
            s(out.path()),
        ],
    );
    run.assert_exit_code(exit_code::INCOMPLETE);
    assert!(
        run.stdout
            .contains("INCOMPLETE: it crashed at iteration 299"),
        "{}",
        run.all_output()
    );
    let headline = run.stdout.lines().next().unwrap_or_default();
    assert!(headline.starts_with("compare: undecided"), "{}", run.stdout);
}

/// Bug 4: `--tolerance 1MiB/s` on per-iteration runs was applied as if per iteration and
/// hid a regression.
#[test]
fn regression_a_tolerance_in_the_wrong_unit_is_refused() {
    let out = tempfile::tempdir().unwrap();
    let run = leakcheck(
        &repo_root(),
        &[
            "compare",
            s(&fixture("loader-leaky")),
            s(&fixture("loader-leaky-early")),
            "--tolerance",
            "1MiB/s",
            "--out",
            s(out.path()),
        ],
    );
    run.assert_exit_code(exit_code::USAGE);
    run.assert_stderr_contains("invalid --tolerance \"1MiB/s\"");
    run.assert_stderr_contains("per iteration");
}

/// Bug 5: a `judging.json` that parses but names an unknown metric dropped the budget
/// (`NO BUDGETS`, exit 0), and a plan with min > max turned a fail into a pass.
#[test]
fn regression_a_corrupt_judging_file_that_parses_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    type Edit = fn(&mut serde_json::Value);
    let edits: [(&str, Edit); 4] = [
        ("foo.bar", |j| j["budgets"][0]["metric"] = "foo.bar".into()),
        ("rss.swap", |j| {
            j["budgets"][0]["metric"] = "rss.swap".into()
        }),
        (
            "plan.min",
            |j| j["plan"] = serde_json::json!({"unit": "iteration", "min": 1000.0, "max": 10.0, "confidence": 0.99}),
        ),
        ("confidence", |j| j["confidence"] = 7.into()),
    ];
    for (named, edit) in edits {
        let run_dir = copy_fixture("loader-leaky", &dir.path().join(named));
        let path = run_dir.join("judging.json");
        let mut judging: serde_json::Value = serde_json::from_str(&read(&path)).unwrap();
        edit(&mut judging);
        std::fs::write(&path, judging.to_string()).unwrap();
        let run = leakcheck(dir.path(), &["report", s(&run_dir.join("samples.jsonl"))]);
        run.assert_exit_code(exit_code::USAGE);
        run.assert_stderr_contains("is not a valid judging file");
        run.assert_stderr_contains(named);
    }
}

/// Waits (bounded) until `path` exists.
fn wait_for(path: &Path, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Bug 6: `kill -9` of a gate during its second scenario left a `gate.json` listing only
/// the first; `merge` said `1 of 1 scenarios passed`, exit 0.
#[test]
fn regression_merge_after_a_killed_shard_reports_the_unfinished_scenario() {
    let dir = temp_config(
        "[scenarios.flat]\ncommand = [\"python3\", \"-c\", \"import time; time.sleep(0.3)\"]\n\
         [scenarios.flat.budgets]\n\"rss.tree\" = { peak = \"1 GiB\" }\n\
         [scenarios.leak]\ncommand = [\"python3\", \"-c\", \"import time\\nkept = []\\nwhile True:\\n    kept.append(bytearray(1 << 20)); time.sleep(0.05)\"]\n\
         [scenarios.leak.budgets]\n\"rss.tree\" = { slope = \"1 MiB/s\" }\n",
    );
    let mut gate = leakcheck_command(dir.path(), &["gate", "--out", "shard"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = wait_for(
        &dir.path().join("shard/leak/samples.jsonl"),
        Duration::from_secs(60),
    );
    std::thread::sleep(Duration::from_millis(500));
    gate.kill().unwrap();
    gate.wait().unwrap();
    assert!(started, "the second scenario never started");
    let merged = leakcheck(dir.path(), &["merge", "shard", "--out", "merged"]);
    assert!(
        merged.stdout.contains("of 2 scenarios passed"),
        "{}",
        merged.all_output()
    );
    assert_ne!(
        merged.code,
        Some(exit_code::PASS),
        "{}",
        merged.all_output()
    );
    let junit = read(&dir.path().join("merged/junit.xml"));
    assert!(junit.contains("leak"), "{junit}");
}

/// Bug 7: a device node, `/dev/full`'s twin and a symlink given as `--openmetrics` were
/// replaced by regular files (as root, `--openmetrics /dev/null` would delete the node).
#[test]
fn regression_openmetrics_writes_through_devices_and_symlinks() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let samples = fixture("crashed").join("samples.jsonl");
    let report = |target: &Path| {
        let out = dir.path().join("out");
        leakcheck(
            dir.path(),
            &[
                "report",
                s(&samples),
                "--out",
                s(&out),
                "--openmetrics",
                s(target),
            ],
        )
    };
    // A symlink: its target gets the text, the link stays a link.
    let real = dir.path().join("real.prom");
    let link = dir.path().join("link.prom");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    report(&link).assert_exit_code(exit_code::INCOMPLETE);
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(read(&real).ends_with("# EOF\n"));
    // Device nodes (root only, as CI runs): written through, never replaced.
    let null = dir.path().join("null");
    let full = dir.path().join("full");
    let made = Command::new("mknod")
        .args([s(&null), "c", "1", "3"])
        .status()
        .is_ok_and(|st| st.success())
        && Command::new("mknod")
            .args([s(&full), "c", "1", "7"])
            .status()
            .is_ok_and(|st| st.success());
    if !made {
        eprintln!("skipped the device-node half: mknod needs root");
        return;
    }
    report(&null).assert_exit_code(exit_code::INCOMPLETE);
    assert!(
        std::fs::metadata(&null)
            .unwrap()
            .file_type()
            .is_char_device()
    );
    let on_full = report(&full);
    on_full.assert_exit_code(exit_code::INCOMPLETE);
    on_full.assert_stderr_contains("No space left on device");
    assert!(
        std::fs::metadata(&full)
            .unwrap()
            .file_type()
            .is_char_device()
    );
}

/// Bug 8: a `gate.json` naming `../../x/flat` made `merge` copy a folder from outside the
/// shard and link it from `index.html`.
#[test]
fn regression_merge_refuses_a_path_outside_its_shard() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("x/flat");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::copy(
        fixture("crashed").join("expected/summary.json"),
        outside.join("summary.json"),
    )
    .unwrap();
    let shard = dir.path().join("a/b/shard");
    std::fs::create_dir_all(&shard).unwrap();
    std::fs::write(
        shard.join("gate.json"),
        r#"{"partition": null, "scenarios": ["../../x/flat"]}"#,
    )
    .unwrap();
    let run = leakcheck(dir.path(), &["merge", s(&shard), "--out", "merged"]);
    run.assert_exit_code(exit_code::USAGE);
    run.assert_stderr_contains("\"../../x/flat\"");
    assert!(!dir.path().join("merged").exists());
}

const TWO_QUICK: &str = "[scenarios.a]\ncommand = [\"python3\", \"-c\", \"import time; time.sleep(1)\"]\n\
    [scenarios.a.budgets]\n\"rss.tree\" = { peak = \"1 GiB\" }\n\
    [scenarios.b]\ncommand = [\"python3\", \"-c\", \"import time; time.sleep(1)\"]\n\
    [scenarios.b.budgets]\n\"rss.tree\" = { peak = \"1 GiB\" }\n";

/// Bug 9: two gates updating one baseline (`--only a`, `--only b`) both said "now holds 2
/// scenarios"; the file kept one.
#[test]
fn regression_two_gates_updating_one_baseline_keep_both_entries() {
    let dir = temp_config(TWO_QUICK);
    let gate = |only: &str| {
        leakcheck_command(
            dir.path(),
            &[
                "gate",
                "--only",
                only,
                "--out",
                only,
                "--baseline",
                "baseline.json",
                "--update-baseline",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
    };
    let (mut a, mut b) = (gate("a"), gate("b"));
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    let baseline: serde_json::Value =
        serde_json::from_str(&read(&dir.path().join("baseline.json"))).unwrap();
    let names: Vec<&String> = baseline["scenarios"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["a", "b"]);
    assert!(
        !dir.path().join("baseline.json.lock").exists(),
        "lock left behind"
    );
}

/// Bug 10: an unwritable baseline was found only after the whole gate ran; the write
/// error then replaced the verdict's exit code.
#[test]
fn regression_an_unwritable_baseline_is_a_usage_error_before_the_run() {
    let dir = temp_config(
        "[scenarios.s]\ncommand = [\"touch\", \"started\"]\n[scenarios.s.budgets]\n\"rss.tree\" = { peak = \"1 GiB\" }\n",
    );
    let run = leakcheck(
        dir.path(),
        &[
            "gate",
            "--baseline",
            "no-such-folder/baseline.json",
            "--update-baseline",
        ],
    );
    run.assert_exit_code(exit_code::USAGE);
    run.assert_stderr_contains("invalid --baseline no-such-folder/baseline.json");
    assert!(!dir.path().join("started").exists(), "the gate ran first");
    // Checking against a baseline that does not exist is an error too (a typo would
    // silently turn the ratchet off).
    let typo = leakcheck(dir.path(), &["gate", "--baseline", "typo.json"]);
    typo.assert_exit_code(exit_code::USAGE);
    typo.assert_stderr_contains("invalid --baseline typo.json: no such file");
}

/// Bug 11: `--openmetrics DIR` passed the up-front check and failed after the run.
#[test]
fn regression_openmetrics_naming_a_folder_is_a_usage_error_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = leakcheck(
        dir.path(),
        &[
            "run",
            "--openmetrics",
            s(dir.path()),
            "--",
            "touch",
            "started",
        ],
    );
    run.assert_exit_code(exit_code::USAGE);
    run.assert_stderr_contains("invalid --openmetrics");
    assert!(!dir.path().join("started").exists());
}

/// Bug 12: Python's `json.dumps` writes `NaN` for a diverged loss; each such mark was
/// dropped whole as "not JSON", `rss_bytes` included.
#[test]
fn regression_a_nan_in_a_marks_stats_costs_the_value_not_the_mark() {
    let dir = tempfile::tempdir().unwrap();
    let program = python_program(
        dir.path(),
        "diverges.py",
        "import json, os, time\n\
         w = os.fdopen(int(os.environ['LEAKCHECK_FD']), 'w', buffering=1)\n\
         for i in range(200):\n\
         \x20   loss = float('nan') if i % 2 else 1.0 / (i + 1)\n\
         \x20   w.write(json.dumps({'type': 'mark', 'iteration': i, 't_ns': time.monotonic_ns(), 'rss_bytes': 1 << 24, 'stats': {'loss': loss, 'py.blocks': 1000 + i}}) + '\\n')\n",
    );
    let run = leakcheck(
        dir.path(),
        &["run", "--name", "nan", "--", "python3", &program],
    );
    run.assert_exit_code(exit_code::PASS);
    let marks = records_of_type(&dir.path().join("reports/nan/samples.jsonl"), "mark");
    assert_eq!(marks.len(), 200, "{}", run.all_output());
    assert!(
        marks
            .iter()
            .all(|m| m["rss_bytes"].as_u64() == Some(1 << 24))
    );
    assert!(marks.iter().all(|m| m["stats"]["py.blocks"].is_number()));
    assert!(marks[1]["stats"].get("loss").is_none(), "{}", marks[1]);
    // The output folder's lock goes with the run (stale pids were left in every folder).
    assert!(!dir.path().join("reports/nan/.leakcheck.lock").exists());
}

/// Bug 13: a program closes `LEAKCHECK_FD` and `dup2`s its own file onto that number: the
/// client wrote its marks into the user's file, and the runner passed on 20 of 120 marks
/// without a warning.
#[test]
fn regression_the_client_never_writes_into_a_users_file_and_the_runner_warns() {
    let dir = tempfile::tempdir().unwrap();
    let users_file = dir.path().join("users-file.txt");
    let program = python_program(
        dir.path(),
        "replaces_fd.py",
        &format!(
            "import os, time, leakcheck\n\
             p = leakcheck.Probe.from_env()\n\
             fd = int(os.environ['LEAKCHECK_FD'])\n\
             for i in range(20):\n\
             \x20   p.mark(i); time.sleep(0.005)\n\
             os.close(fd)\n\
             mine = os.open({:?}, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)\n\
             os.dup2(mine, fd)\n\
             for i in range(20, 120):\n\
             \x20   p.mark(i); time.sleep(0.02)\n",
            users_file.display()
        ),
    );
    let run = leakcheck(
        dir.path(),
        &[
            "run",
            "--name",
            "dup2",
            "--",
            "env",
            &with_client(),
            "python3",
            &program,
        ],
    );
    run.assert_exit_code(exit_code::PASS);
    assert_eq!(
        read(&users_file),
        "",
        "leakcheck wrote into the user's file"
    );
    let report = summary(&dir.path().join("reports/dup2"));
    let warnings = report["decode_warnings"].to_string();
    assert!(
        warnings.contains("closed LEAKCHECK_FD"),
        "{warnings}\n{}",
        run.all_output()
    );
}

/// Bug 15: with `--attribute --max-iterations 300` on a program that runs until stopped,
/// the attribution pass ran until `--timeout`; a program that never marks had its pass
/// started anyway, waiting for a mark that never came.
#[test]
fn regression_the_attribution_pass_stops_at_the_judged_length() {
    let dir = tempfile::tempdir().unwrap();
    let program = python_program(
        dir.path(),
        "forever.py",
        "import time, leakcheck\n\
         p = leakcheck.Probe.from_env()\n\
         kept, i = [], 0\n\
         while True:\n\
         \x20   kept.append(bytearray(64 << 10)); time.sleep(0.004); p.mark(i); i += 1\n",
    );
    let started = Instant::now();
    let run = leakcheck(
        dir.path(),
        &[
            "run",
            "--name",
            "forever",
            "--attribute",
            "--max-iterations",
            "300",
            "--timeout",
            "60s",
            "--budget",
            "rss.slope=8KiB/iter",
            "--",
            "env",
            &with_client(),
            "python3",
            &program,
        ],
    );
    run.assert_exit_code(exit_code::BUDGET_FAILED);
    let report = summary(&dir.path().join("reports/forever"));
    let attribution = &report["attribution"];
    let length = attribution["passes"][0]["length"]
        .as_u64()
        .unwrap_or(u64::MAX);
    assert!(length <= 310, "the pass ran {length} marks: {attribution}");
    assert!(
        attribution["sites"]
            .as_array()
            .is_some_and(|s| !s.is_empty()),
        "{attribution}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );

    // A program that never marks: no pass is started (it could never produce sites).
    let silent = temp_config("[defaults]\nattribute = \"on-failure\"\n");
    let grows = python_program(
        silent.path(),
        "grows.py",
        "import time\nkept = []\nfor _ in range(60):\n    kept.append(bytearray(1 << 20)); time.sleep(0.05)\n",
    );
    let run = leakcheck(
        silent.path(),
        &[
            "run",
            "--budget",
            "rss.tree.slope=1MiB/s",
            "--",
            "python3",
            &grows,
        ],
    );
    run.assert_exit_code(exit_code::BUDGET_FAILED);
    assert!(
        !run.stderr.contains("attribution pass"),
        "a pass was started: {}",
        run.stderr
    );
    assert!(
        run.stdout.contains("no pass was run"),
        "{}",
        run.all_output()
    );
}

/// Bug 16: `gate --partition 5/5` with 3 scenarios wrote no `gate.json`, and `merge` of
/// it failed (exit 2).
#[test]
fn regression_an_empty_shard_merges() {
    let dir = temp_config(
        &["x", "y", "z"]
            .iter()
            .map(|n| format!("[scenarios.{n}]\ncommand = [\"true\"]\n"))
            .collect::<String>(),
    );
    let mut shards = Vec::new();
    for k in 1..=5 {
        let out = format!("shard-{k}");
        leakcheck(
            dir.path(),
            &["gate", "--partition", &format!("{k}/5"), "--out", &out],
        )
        .assert_exit_code(exit_code::PASS);
        assert!(dir.path().join(&out).join("gate.json").is_file(), "{out}");
        shards.push(out);
    }
    let mut args = vec!["merge"];
    args.extend(shards.iter().map(String::as_str));
    args.extend(["--out", "merged"]);
    let merged: Outcome = leakcheck(dir.path(), &args);
    merged.assert_exit_code(exit_code::PASS);
    assert!(
        merged.stdout.contains("3 of 3 scenarios passed"),
        "{}",
        merged.stdout
    );
    // One shard alone is not the gate: the others are named as missing.
    let alone = leakcheck(dir.path(), &["merge", "shard-2", "--out", "alone"]);
    alone.assert_exit_code(exit_code::USAGE);
    alone.assert_stderr_contains("shard 1/5, 3/5, 4/5, 5/5 of the partition is missing");
}

/// A sibling of bug 5: `merge` reads each scenario's `summary.json` back without judging
/// it again, so a file edited to say `pass` over a failing check merged as a pass.
#[test]
fn regression_merge_refuses_a_summary_whose_pass_contradicts_its_checks() {
    let dir = tempfile::tempdir().unwrap();
    let shard = dir.path().join("shard");
    std::fs::create_dir_all(shard.join("loader-loop")).unwrap();
    std::fs::write(
        shard.join("gate.json"),
        r#"{"partition": null, "scenarios": ["loader-loop"]}"#,
    )
    .unwrap();
    let text = read(&fixture("loader-leaky").join("expected/summary.json"));
    let doctored = text.replacen("\"verdict\": \"fail\"", "\"verdict\": \"pass\"", 1);
    assert_ne!(text, doctored);
    std::fs::write(shard.join("loader-loop/summary.json"), doctored).unwrap();
    let run = leakcheck(dir.path(), &["merge", "shard", "--out", "merged"]);
    run.assert_exit_code(exit_code::USAGE);
    run.assert_stderr_contains("says PASS but its check");
}

/// The weak messages of the third fault matrix: each names the bad value and the fix.
#[test]
fn weak_messages_name_the_bad_value_and_what_was_expected() {
    let long = "n".repeat(300);
    let dir = temp_config(
        "[scenarios.shown]\ndescription = \"clears \\u001b[2J the screen\"\ncommand = [\"true\"]\niterations = { min = 500, max = 2000 }\niterations_arg = \"--n\"\n",
    );
    let list = leakcheck(dir.path(), &["list"]);
    list.assert_exit_code(exit_code::PASS);
    assert!(!list.stdout.contains('\u{1b}'), "{:?}", list.stdout);
    assert!(list.stdout.contains("\\u{1b}[2J"), "{}", list.stdout);
    assert!(
        list.stdout.contains("iterations: 500 to 2000"),
        "{}",
        list.stdout
    );

    let too_long = temp_config(&format!("[scenarios.{long}]\ncommand = [\"true\"]\n"));
    let refused = leakcheck(too_long.path(), &["list"]);
    refused.assert_exit_code(exit_code::USAGE);
    refused.assert_stderr_contains("at most 128 characters");

    let newline = leakcheck(dir.path(), &["run", "--name", "a\nb", "--", "true"]);
    newline.assert_exit_code(exit_code::USAGE);
    newline.assert_stderr_contains("invalid --name \"a\\nb\"");

    // Every line on the fd undecodable: the stream is blamed, not the budget's unit.
    let garbage = python_program(
        dir.path(),
        "garbage.py",
        "import os, time\nw = os.fdopen(int(os.environ['LEAKCHECK_FD']), 'w', buffering=1)\n\
         for i in range(50):\n    w.write('{\"type\": \"mark\", \"iter\": %d}\\n' % i); time.sleep(0.01)\n",
    );
    let blamed = leakcheck(
        dir.path(),
        &[
            "run",
            "--budget",
            "rss.slope=1KiB/iter",
            "--",
            "python3",
            &garbage,
        ],
    );
    blamed.assert_exit_code(exit_code::UNDECIDED);
    assert!(
        blamed.stdout.contains("became a mark"),
        "{}",
        blamed.all_output()
    );
    assert!(!blamed.stdout.contains("cannot apply"), "{}", blamed.stdout);

    // Another clock (time.time_ns) and a newer wire version are said once each.
    let clock = python_program(
        dir.path(),
        "clock.py",
        "import json, os, time\nw = os.fdopen(int(os.environ['LEAKCHECK_FD']), 'w', buffering=1)\n\
         w.write(json.dumps({'type': 'hello', 'version': 2, 'pid': os.getpid(), 'allocator': 'x'}) + '\\n')\n\
         for i in range(30):\n    w.write(json.dumps({'type': 'mark', 'iteration': i, 't_ns': time.time_ns()}) + '\\n'); time.sleep(0.01)\n",
    );
    let said = leakcheck(
        dir.path(),
        &["run", "--name", "clock", "--", "python3", &clock],
    );
    said.assert_exit_code(exit_code::PASS);
    said.assert_stderr_contains("not CLOCK_MONOTONIC");
    said.assert_stderr_contains("wire version 2");
    let marks = records_of_type(&dir.path().join("reports/clock/samples.jsonl"), "mark");
    assert_eq!(marks.len(), 30);
    assert!(
        marks
            .iter()
            .all(|m| m["t_s"].as_f64().is_some_and(|t| (0.0..60.0).contains(&t)))
    );
}

/// A sibling of bug 1: a peak budget passed at the look that decided the run, while the
/// run (stopped just after) recorded memory above it; the report's title showed the
/// deciding look's peak under a higher plotted point.
#[test]
fn regression_a_peak_crossed_after_the_deciding_look_fails() {
    let dir = tempfile::tempdir().unwrap();
    let mut samples = String::from(
        "{\"type\":\"run\",\"format\":1,\"version\":\"0.1.0\",\"scenario\":\"late\",\"argv\":[\"p\"],\"started_unix\":0,\"pid\":1,\"rss_interval_s\":0.05,\"gpu_interval_s\":1,\"timeout_s\":60}\n",
    );
    for i in 0..80u64 {
        let t = 0.1 + i as f64 * 0.02;
        // Flat at 10 MiB up to the deciding look (50 marks), then 300 MiB.
        let tree = if i < 60 { 10u64 << 20 } else { 300 << 20 };
        samples.push_str(&format!(
            "{{\"type\":\"mark\",\"iteration\":{i},\"t_s\":{t}}}\n{{\"type\":\"tree\",\"t_s\":{},\"rss\":{tree},\"rss_tree\":{tree},\"pids\":1}}\n",
            t + 0.01
        ));
    }
    samples.push_str("{\"type\":\"exit\",\"wall_s\":2,\"termination\":{\"kind\":\"stopped_early\",\"last_iteration\":79},\"code\":null,\"signal\":15,\"escalated\":false,\"peak_rss_tree\":314572800,\"decode\":{\"lines\":80,\"decoded\":80,\"malformed\":0,\"oversized\":0,\"invalid_utf8\":0,\"unknown_types\":0,\"truncated\":0,\"unknown_type_names\":[]}}\n");
    std::fs::write(dir.path().join("samples.jsonl"), samples).unwrap();
    std::fs::write(
        dir.path().join("judging.json"),
        r#"{"version":2,"scenario":"late","variant":null,"argv":["p"],"iterations":100,
            "budgets":[{"metric":"rss.tree","budget":{"kind":"peak","limit":{"bytes":104857600.0}},"key":"--budget rss.tree.peak"}],
            "warmup":"auto","confidence":0.99,"ceiling":null,
            "plan":{"unit":"iteration","min":50.0,"max":100.0,"confidence":0.99}}"#,
    )
    .unwrap();
    let run = leakcheck(dir.path(), &["report", "samples.jsonl"]);
    run.assert_exit_code(exit_code::BUDGET_FAILED);
    assert!(
        run.stdout
            .contains("rss.tree peaked at 300 MiB > budget 100 MiB"),
        "{}",
        run.all_output()
    );
}
