//! The Python client end to end: real `python3` programs importing `python/leakcheck`,
//! run under the real `leakcheck` binary, judged per iteration on the client's own
//! numbers (statm RSS and `sys.getallocatedblocks()`).

mod util;

use leakcheck_vocab::exit_code;
use std::path::Path;

use util::{leakcheck, metric, records_of_type, repo_root, summary};

/// `leakcheck run` of `tests/fixtures/client_leak.py` keeping `keep_kib` KiB an
/// iteration, against an `rss` slope budget and two `py.blocks` count budgets.
fn client_run(out: &Path, name: &str, keep_kib: &str, expected_exit: i32) -> serde_json::Value {
    let script = repo_root().join("tests/fixtures/client_leak.py");
    leakcheck(
        &repo_root(),
        &[
            "run",
            "--name",
            name,
            "--budget",
            "rss.slope=8KiB/iter",
            "--budget",
            "py.blocks.slope=50/iter",
            "--budget",
            "py.blocks.growth=10k",
            "--out",
            out.to_str().unwrap(),
            "--",
            "python3",
            script.to_str().unwrap(),
            "--keep-kib",
            keep_kib,
        ],
    )
    .assert_exit_code(expected_exit);
    summary(&out.join(name))
}

fn outcomes(m: &serde_json::Value) -> Vec<(String, String)> {
    m["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["kind"].as_str().unwrap().to_owned(),
                b["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_program_keeping_24_kib_per_iteration_fails_rss_and_block_budgets() {
    let out = tempfile::tempdir().unwrap();
    let s = client_run(out.path(), "leaking", "24", exit_code::BUDGET_FAILED);
    let rss = metric(&s, "rss");
    assert_eq!(outcomes(rss), [("slope".into(), "fail".into())], "{rss}");
    let slope = rss["fit"]["slope"].as_f64().unwrap();
    assert!(
        (16.0 * 1024.0..40.0 * 1024.0).contains(&slope),
        "rss slope {slope} B/iter, kept ~24 KiB/iter"
    );
    let blocks = metric(&s, "py.blocks");
    assert_eq!(blocks["unit"], "count");
    assert_eq!(
        outcomes(blocks),
        [
            ("slope".into(), "fail".into()),
            ("growth".into(), "fail".into())
        ],
        "{blocks}"
    );
    // Printed as counts, not bytes: "py.blocks grows 98.7/iter (99% CI …) > budget 50/iter".
    let line = blocks["budgets"][0]["line"].as_str().unwrap();
    assert!(line.contains("> budget 50/iter"), "{line}");
    assert!(!line.contains('B'), "a count printed as bytes: {line}");
}

#[test]
fn the_same_program_keeping_nothing_passes_both() {
    let out = tempfile::tempdir().unwrap();
    let s = client_run(out.path(), "flat", "0", exit_code::PASS);
    assert_eq!(
        outcomes(metric(&s, "rss")),
        [("slope".into(), "pass".into())]
    );
    assert_eq!(
        outcomes(metric(&s, "py.blocks")),
        [
            ("slope".into(), "pass".into()),
            ("growth".into(), "pass".into())
        ]
    );
    let samples = out.path().join("flat/samples.jsonl");
    let marks = records_of_type(&samples, "mark");
    assert_eq!(marks.len(), 400);
    let hello = &records_of_type(&samples, "hello")[0];
    assert_eq!(hello["allocator"], "python");
    assert!(marks[0]["stats"]["py.gc.gen0"].is_number(), "{}", marks[0]);
}

/// The runner keeps up with the client: 100,000 marks written as fast as Python can
/// (tens of thousands a second) all reach samples.jsonl, none malformed or dropped.
#[test]
fn the_runner_keeps_every_mark_of_a_client_marking_flat_out() {
    let out = tempfile::tempdir().unwrap();
    let program = "import leakcheck, time\n\
        p = leakcheck.Probe.from_env()\n\
        t = time.monotonic()\n\
        for i in range(100000):\n    p.mark(i)\n\
        p.note(f'rate {100000 / (time.monotonic() - t):.0f} marks/s')\n\
        p.end()\n";
    let python_path = repo_root().join("python");
    let run = leakcheck(
        &repo_root(),
        &[
            "run",
            "--name",
            "flat-out",
            "--out",
            out.path().to_str().unwrap(),
            "--",
            "env",
            &format!("PYTHONPATH={}", python_path.display()),
            "python3",
            "-c",
            program,
        ],
    );
    // No budget given: exit 0 is not asked for; every mark is.
    let samples = out.path().join("flat-out/samples.jsonl");
    let marks = records_of_type(&samples, "mark");
    let notes = records_of_type(&samples, "note");
    assert_eq!(marks.len(), 100_000, "{}", run.all_output());
    assert!(marks.windows(2).all(|w| {
        w[1]["iteration"]
            .as_u64()
            .zip(w[0]["iteration"].as_u64())
            .is_some_and(|(b, a)| b == a + 1)
    }));
    let exit = &records_of_type(&samples, "exit")[0];
    assert_eq!(exit["decode"]["malformed"], 0, "{exit}");
    assert_eq!(
        exit["decode"]["decoded"], 100_003,
        "hello + marks + note + end"
    );
    // The rate is a figure for the README (scripts/client_throughput.sh), not asserted:
    // the machines are shared.
    eprintln!("{}", notes[0]["text"]);
}
