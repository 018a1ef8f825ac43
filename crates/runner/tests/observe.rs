//! The observer on processes the runner did not start: a python3 program started here
//! with `std::process::Command` is attached to by pid and observed through
//! `leakcheck_runner::observe`, as `leakcheck watch` will observe a running job.
//!
//! No timing asserts: only what was sampled and how the observation ended.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use leakcheck_records::{Record, read_run};
use leakcheck_runner::{Event, RunSpec, Target, Termination, observe};
use tempfile::TempDir;

/// A python3 program that grows by 1 MiB (touched) every 20 ms for `seconds`, then exits.
fn grower(seconds: f64) -> Child {
    let script = format!(
        "import time\nkept = []\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    kept.append(bytearray(b'x' * (1 << 20)))\n    time.sleep(0.02)\n"
    );
    Command::new("python3")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .expect("python3 starts")
}

fn observing_spec(dir: &TempDir, pid: u32) -> RunSpec {
    let mut spec = RunSpec::new("attached", vec![format!("pid {pid}")], dir.path());
    spec.timeout = Duration::from_secs(60);
    spec
}

#[test]
fn a_process_started_with_command_is_observed_by_pid_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = grower(1.5);
    let pid = child.id();
    let target = Target::attach(pid).expect("attach to a running process");
    let mut started = None;
    let outcome = observe(
        &observing_spec(&dir, pid),
        target,
        None,
        &mut |e| {
            if let Event::Started { pid } = e {
                started = Some(*pid);
            }
        },
        &mut |_| None,
    )
    .expect("observe");
    // The observer neither reaped nor signalled it: its exit status is ours to read.
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(started, Some(pid));
    assert_eq!(outcome.pid, pid);
    assert_eq!(outcome.termination, Termination::Ended);
    assert_eq!((outcome.code, outcome.signal), (None, None));

    let samples = &outcome.timeline.samples;
    assert!(samples.len() >= 20, "{} samples", samples.len());
    let first = samples.first().unwrap().rss;
    let peak = samples.iter().map(|s| s.rss).max().unwrap();
    // About 75 MiB were kept over the run; well over half of it must show.
    assert!(
        peak >= first + (40 << 20),
        "rss went from {first} to at most {peak}"
    );

    // The registered sources were read beside the tree: the anonymous memory grew too.
    let (_, anon, _) = outcome
        .timeline
        .series("rss.anon")
        .expect("rss.anon sampled");
    assert!(anon.len() >= 5, "{} rss.anon readings", anon.len());
    let anon_peak = anon.iter().copied().fold(0.0, f64::max);
    assert!(
        anon_peak >= anon[0] + (40u64 << 20) as f64,
        "rss.anon went from {} to at most {anon_peak}",
        anon[0]
    );

    // The file says the same: a header first, the samples, then the exit record.
    let read = read_run(&outcome.samples_path).expect("samples.jsonl reads back");
    assert_eq!(read.timeline.samples, outcome.timeline.samples);
    let text = std::fs::read_to_string(&outcome.samples_path).unwrap();
    let last: Record = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert!(
        matches!(&last, Record::Exit(e) if e.termination == Termination::Ended),
        "{last:?}"
    );
}

#[test]
fn a_stop_reason_ends_the_observation_and_leaves_the_process_running() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = grower(30.0);
    let pid = child.id();
    let mut spec = observing_spec(&dir, pid);
    spec.timeout = Duration::from_millis(500);
    let outcome = observe(
        &spec,
        Target::attach(pid).unwrap(),
        None,
        &mut |_| {},
        &mut |_| None,
    )
    .expect("observe");
    assert!(
        matches!(outcome.termination, Termination::TimedOut { .. }),
        "{:?}",
        outcome.termination
    );
    // Still running: the observer does not signal what it did not start.
    assert!(
        child.try_wait().unwrap().is_none(),
        "the process was stopped"
    );
    assert!(
        outcome
            .timeline
            .warnings
            .iter()
            .any(|w| w.contains("stopped observing")),
        "{:?}",
        outcome.timeline.warnings
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn attaching_to_a_pid_that_does_not_run_names_it() {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let err = Target::attach(pid).unwrap_err().to_string();
    assert!(
        err.contains(&pid.to_string()) && err.contains("running process"),
        "{err}"
    );
}

#[test]
fn a_pid_whose_start_time_differs_is_not_the_process_that_was_picked() {
    let mut child = grower(30.0);
    let pid = child.id();
    let picked = leakcheck_runner::find::by_pid(pid).expect("a running child is found");
    assert!(
        Target::attach_picked(&picked).is_ok(),
        "the same process attaches"
    );
    // The pid as a later process would hold it: same number, another start time.
    let reused = leakcheck_probe::process::ProcessInfo {
        start_ticks: picked.start_ticks + 1,
        ..picked
    };
    let err = Target::attach_picked(&reused).unwrap_err().to_string();
    assert!(
        err.contains(&pid.to_string()) && err.contains("pid now names another"),
        "{err}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
