//! The runner against real child processes (python3 and sh scripts): marks decoded,
//! crashes, hangs, SIGTERM-ignoring children, the memory ceiling, process trees,
//! orphans, and `samples.jsonl` read back.
//!
//! No timing asserts: timeouts are short (1–2 s) but only outcomes are checked.

use std::path::Path;
use std::time::Duration;

use leakcheck_records::{Record, RunEnding, read_run};
use leakcheck_runner::{Event, RunOutcome, RunSpec, Termination};
use leakcheck_vocab::XUnit;
use tempfile::TempDir;

/// Python prelude: `mark(i, **fields)` and `send(obj)` over LEAKCHECK_FD, line-buffered.
const PRELUDE: &str = r#"
import json, os, sys, time
_w = os.fdopen(int(os.environ["LEAKCHECK_FD"]), "w", buffering=1)
def send(obj):
    _w.write(json.dumps(obj) + "\n")
def now():
    return time.monotonic_ns()
def mark(i, **fields):
    send(dict(type="mark", iteration=i, t_ns=now(), **fields))
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
"#;

fn python(script: &str) -> Vec<String> {
    vec![
        "python3".to_owned(),
        "-c".to_owned(),
        format!("{PRELUDE}\n{script}"),
    ]
}

fn spec(dir: &TempDir, argv: Vec<String>) -> RunSpec {
    let mut spec = RunSpec::new("test", argv, dir.path().join("out"));
    spec.timeout = Duration::from_secs(60);
    spec.grace = Duration::from_secs(1);
    spec.child_log = Some(dir.path().join("child.log"));
    spec
}

fn run(spec: &RunSpec) -> (RunOutcome, Vec<Event>) {
    let mut events = Vec::new();
    let outcome = leakcheck_runner::run(spec, &mut |e| events.push(e.clone()))
        .unwrap_or_else(|e| panic!("run failed: {e}"));
    (outcome, events)
}

fn records(path: &Path) -> Vec<Record> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

fn child_log(dir: &TempDir) -> String {
    std::fs::read_to_string(dir.path().join("child.log")).unwrap_or_default()
}

#[test]
fn marks_sessions_and_notes_from_a_python_child_are_decoded_and_round_trip() {
    let dir = TempDir::new().unwrap();
    let script = r#"
send(dict(type="hello", version=1, pid=os.getpid(), allocator="python"))
send(dict(type="session", event="start", id=1, label="first", t_ns=now()))
keep = []
for i in range(1, 51):
    keep.append(bytearray(b"x" * 65536))
    alloc = dict(allocated=65536 * i, active=65536 * i, resident=65536 * i, mapped=1 << 30, metadata=4096)
    mark(i, rss_bytes=rss(), alloc=alloc)
    time.sleep(0.002)
send(dict(type="note", text="halfway there", t_ns=now()))
_w.write("this is not json\n")
send(dict(type="session", event="end", id=1, label="first", t_ns=now()))
send(dict(type="end", t_ns=now()))
"#;
    let spec = spec(&dir, python(script));
    let (outcome, events) = run(&spec);
    assert_eq!(
        outcome.termination,
        Termination::Exited { code: 0 },
        "{}",
        child_log(&dir)
    );
    assert!(outcome.termination.completed());
    let tl = &outcome.timeline;
    assert_eq!(tl.marks.len(), 50);
    assert_eq!(tl.marks[49].iteration, 50);
    assert_eq!(tl.marks[49].measured.alloc.unwrap().allocated, 50 * 65536);
    assert!(
        tl.marks
            .iter()
            .all(|m| m.measured.rss_bytes.unwrap() > 0 && m.t_s > 0.0)
    );
    assert!(tl.marks.windows(2).all(|w| w[0].t_s <= w[1].t_s));
    assert_eq!(tl.hello.as_ref().unwrap().allocator, "python");
    assert_eq!(tl.sessions.len(), 2);
    assert_eq!(tl.sessions[0].iteration, None);
    assert_eq!(tl.sessions[1].iteration, Some(50));
    assert_eq!(tl.notes, ["halfway there"]);
    assert!(tl.ended);
    assert_eq!(tl.decode.decoded, 55);
    assert_eq!(tl.decode.malformed, 1);
    assert!(
        tl.warnings.iter().any(|w| w.contains("1 malformed")),
        "{:?}",
        tl.warnings
    );
    assert!(tl.gpu_status.starts_with("available") || tl.gpu_status.starts_with("unavailable"));

    // Per-iteration series from the marks; the alloc series is exactly what was sent.
    let (x, y, axis) = tl.series("alloc.allocated").unwrap();
    assert_eq!(axis, XUnit::Iteration);
    assert_eq!(x, (1..=50).map(f64::from).collect::<Vec<_>>());
    assert_eq!(y[9], 10.0 * 65536.0);

    // The observer saw the run live.
    assert!(matches!(events[0], Event::Started { .. }));
    let marks = events
        .iter()
        .filter(|e| matches!(e, Event::Mark { .. }))
        .count();
    assert_eq!(marks, 50);
    assert!(events.contains(&Event::Note("halfway there".to_owned())));

    // samples.jsonl: header first, exit last, and it rebuilds the same timeline.
    let recs = records(&outcome.samples_path);
    match &recs[0] {
        Record::Run(h) => {
            assert_eq!(h.scenario, "test");
            assert_eq!(h.argv[0], "python3");
        }
        other => panic!("first record {other:?}"),
    }
    assert!(matches!(recs.last(), Some(Record::Exit(_))));
    assert_eq!(&read_run(&outcome.samples_path).unwrap().timeline, tl);
    let recorded = read_run(&outcome.samples_path).unwrap();
    assert_eq!(recorded.termination(), Some(outcome.termination));
}

#[test]
fn a_child_that_aborts_at_iteration_300_is_signaled_and_its_marks_are_on_disk() {
    let dir = TempDir::new().unwrap();
    let script = r#"
import resource
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
for i in range(1, 1001):
    mark(i, rss_bytes=rss())
    if i == 300:
        os.abort()
"#;
    let spec = spec(&dir, python(script));
    let (outcome, _) = run(&spec);
    assert_eq!(
        outcome.termination,
        Termination::Signaled { signal: 6 },
        "{}",
        child_log(&dir)
    );
    assert!(!outcome.termination.completed());
    assert!(describe(&outcome).contains("SIGABRT"));
    let marks = records(&outcome.samples_path)
        .iter()
        .filter(|r| matches!(r, Record::Mark(_)))
        .count();
    assert!(marks >= 300, "{marks} marks on disk");
    assert_eq!(outcome.timeline.last_iteration(), Some(300));
    assert!(!outcome.timeline.ended);
}

#[test]
fn a_hanging_child_is_stopped_after_the_no_progress_timeout() {
    let dir = TempDir::new().unwrap();
    let script = r#"
for i in range(1, 6):
    mark(i)
time.sleep(60)
"#;
    let mut spec = spec(&dir, python(script));
    spec.no_progress_timeout = Some(Duration::from_secs(2));
    let (outcome, events) = run(&spec);
    match outcome.termination {
        Termination::Hung {
            no_progress_for,
            last_iteration,
        } => {
            assert!(no_progress_for >= Duration::from_secs(2));
            assert_eq!(last_iteration, Some(5));
        }
        other => panic!("expected a hang, got {other:?}"),
    }
    assert_eq!(outcome.signal, Some(libc::SIGTERM));
    assert!(!outcome.escalated);
    assert!(describe(&outcome).contains("after iteration 5"));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Warning(w) if w.contains("SIGTERM")))
    );
    // The reason is on disk too.
    let recorded = read_run(&outcome.samples_path).unwrap();
    assert_eq!(recorded.termination(), Some(outcome.termination));
}

#[test]
fn a_child_ignoring_sigterm_is_sigkilled_after_the_grace_period() {
    let dir = TempDir::new().unwrap();
    let argv = ["sh", "-c", "trap '' TERM; sleep 30; sleep 30"]
        .map(String::from)
        .to_vec();
    let mut spec = spec(&dir, argv);
    spec.timeout = Duration::from_secs(1);
    spec.grace = Duration::from_millis(500);
    let (outcome, _) = run(&spec);
    assert_eq!(
        outcome.termination,
        Termination::TimedOut {
            after: Duration::from_secs(1)
        }
    );
    assert!(outcome.escalated);
    assert_eq!(outcome.signal, Some(libc::SIGKILL));
    assert!(
        outcome
            .timeline
            .warnings
            .iter()
            .any(|w| w.contains("SIGKILL")),
        "{:?}",
        outcome.timeline.warnings
    );
}

#[test]
fn a_child_crossing_the_memory_ceiling_is_killed_and_the_peak_recorded() {
    let dir = TempDir::new().unwrap();
    let script = r#"
blocks = []
for i in range(1, 41):
    blocks.append(b"\x01" * (16 << 20))
    mark(i, rss_bytes=rss())
    time.sleep(0.05)
time.sleep(30)
"#;
    let ceiling = 128 << 20;
    let mut spec = spec(&dir, python(script));
    spec.ceiling = Some(ceiling);
    let (outcome, _) = run(&spec);
    match outcome.termination {
        Termination::CeilingExceeded { ceiling: c, peak } => {
            assert_eq!(c, ceiling);
            assert!(peak >= ceiling, "peak {peak} below the ceiling");
            assert_eq!(peak, outcome.timeline.peak_rss_tree());
        }
        other => panic!("expected the ceiling, got {other:?}: {}", child_log(&dir)),
    }
    let text = describe(&outcome);
    assert!(text.contains("ceiling 128 MiB"), "{text}");
    // Killed well before allocating everything it wanted.
    assert!(outcome.timeline.last_iteration().unwrap() < 40);
}

#[test]
fn worker_processes_grow_the_tree_while_the_parent_stays_flat() {
    let dir = TempDir::new().unwrap();
    // A data-loader shape: the parent only waits; 3 workers each keep 4 MiB every 100 ms.
    let worker = r#"
import time
keep = []
for _ in range(20):
    keep.append(b"\x01" * (4 << 20))
    time.sleep(0.1)
time.sleep(0.5)
"#;
    let parent = format!(
        "import subprocess, sys\nworkers = [subprocess.Popen([sys.executable, '-c', {worker:?}]) for _ in range(3)]\nfor w in workers:\n    w.wait()\n"
    );
    let argv = vec!["python3".to_owned(), "-c".to_owned(), parent];
    let mut spec = spec(&dir, argv);
    spec.rss_interval = Duration::from_millis(20);
    spec.with_pss = true;
    let (outcome, _) = run(&spec);
    assert_eq!(
        outcome.termination,
        Termination::Exited { code: 0 },
        "{}",
        child_log(&dir)
    );
    let tl = &outcome.timeline;
    assert!(tl.marks.is_empty());
    let counts: Vec<u32> = tl.samples.iter().map(|s| s.pids).collect();
    assert!(
        counts.iter().filter(|&&n| n == 4).count() > counts.len() / 2,
        "{counts:?}"
    );

    let (t, tree, axis) = tl.series("rss.tree").unwrap();
    assert_eq!(axis, XUnit::Second, "no marks: per-second series");
    assert!(t.windows(2).all(|w| w[0] <= w[1]));
    let (_, root, _) = tl.series("rss").unwrap();
    let span = |v: &[f64]| {
        v.iter().cloned().fold(f64::MIN, f64::max) - v.iter().cloned().fold(f64::MAX, f64::min)
    };
    let mib = f64::from(1 << 20);
    // 3 workers x 80 MiB; the tree must show most of it, the root almost none.
    assert!(
        span(&tree) > 150.0 * mib,
        "tree grew {} MiB",
        span(&tree) / mib
    );
    assert!(
        span(&root) < 16.0 * mib,
        "root moved {} MiB",
        span(&root) / mib
    );

    // PSS is sampled too, at most once a second, and tracks the tree.
    let (_, pss, _) = tl.series("pss.tree").unwrap();
    let seconds = t[t.len() - 1] - t[0];
    assert!(
        pss.len() >= 2 && (pss.len() as f64) <= seconds + 2.0,
        "{} pss samples over {seconds} s",
        pss.len()
    );
    // The tree of 4 processes is walked every interval × 4: a quarter of the ticks,
    // and the program's own RSS is read at every tick between walks.
    let walks = tl.samples.iter().filter(|s| s.rss_tree.is_some()).count();
    assert!(
        walks * 2 < tl.samples.len(),
        "{walks} walks of {} samples",
        tl.samples.len()
    );
    assert!(span(&pss) > 50.0 * mib, "pss grew {} MiB", span(&pss) / mib);
}

#[test]
fn processes_left_in_the_group_when_the_leader_exits_are_killed() {
    let dir = TempDir::new().unwrap();
    let pid_file = dir.path().join("orphan.pid");
    let script = format!(
        "sleep 300 & echo $! > {}; exit 0",
        pid_file.to_str().unwrap()
    );
    let spec = spec(&dir, vec!["sh".into(), "-c".into(), script]);
    let (outcome, _) = run(&spec);
    assert_eq!(outcome.termination, Termination::Exited { code: 0 });
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // It was SIGKILLed; its new parent reaps it shortly after. Wait (bounded) for that.
    let gone = (0..100).any(|_| {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat"));
        // Gone, or a zombie of its new parent (dead, not running).
        let dead = match state {
            Err(_) => true,
            Ok(s) => s
                .rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        };
        if !dead {
            std::thread::sleep(Duration::from_millis(50));
        }
        dead
    });
    assert!(
        gone,
        "the background `sleep 300` (pid {pid}) survived the run"
    );
}

#[test]
fn a_program_that_cannot_start_is_a_spawn_error_naming_it() {
    let dir = TempDir::new().unwrap();
    let spec = spec(&dir, vec!["/nonexistent/leakcheck-test-binary".to_owned()]);
    let err = leakcheck_runner::run(&spec, &mut |_| {}).unwrap_err();
    assert!(
        err.to_string()
            .contains("\"/nonexistent/leakcheck-test-binary\""),
        "{err}"
    );
}

#[test]
fn a_missing_working_directory_is_named_in_the_error() {
    let dir = TempDir::new().unwrap();
    let mut spec = spec(&dir, vec!["true".to_owned()]);
    spec.cwd = Some(dir.path().join("no-such-dir"));
    let err = leakcheck_runner::run(&spec, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("no-such-dir"), "{err}");
}

#[test]
fn a_truncated_samples_file_still_reads_back() {
    let dir = TempDir::new().unwrap();
    let script = "for i in range(1, 21):\n    mark(i)\n";
    let spec = spec(&dir, python(script));
    let (outcome, _) = run(&spec);
    // Simulate leakcheck dying mid-write: drop the exit line and half of the line before.
    let text = std::fs::read_to_string(&outcome.samples_path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.pop();
    let last = lines.pop().unwrap();
    let cut = format!("{}\n{}", lines.join("\n"), &last[..last.len() / 2]);
    let path = dir.path().join("cut.jsonl");
    std::fs::write(&path, cut).unwrap();
    let recorded = read_run(&path).unwrap();
    assert!(recorded.exit.is_none());
    assert!(recorded.timeline.marks.len() >= 19);
    assert!(
        recorded
            .timeline
            .warnings
            .iter()
            .any(|w| w.contains("skipped 1 unreadable line"))
    );
    // Not a samples file at all.
    std::fs::write(dir.path().join("x.jsonl"), "{\"type\":\"mark\"}\n").unwrap();
    let err = read_run(&dir.path().join("x.jsonl")).unwrap_err();
    assert!(
        err.to_string().contains("not a leakcheck samples file"),
        "{err}"
    );
}

#[test]
fn the_early_stop_check_can_end_a_run_whose_leak_is_already_certain() {
    let dir = TempDir::new().unwrap();
    let script = r#"
for i in range(1, 2001):
    mark(i)
    time.sleep(0.005)
"#;
    let spec = spec(&dir, python(script));
    let mut checks = 0;
    let mut early = |tl: &leakcheck_runner::Timeline| {
        checks += 1;
        // Stands in for the analysis: "certain" once 50 iterations are in.
        (tl.last_iteration()? >= 50).then(|| {
            leakcheck_runner::StopRequest::Decided("alloc.allocated grows 1 MiB/iter".to_owned())
        })
    };
    let outcome = leakcheck_runner::run_with(&spec, &mut |_| {}, &mut early).unwrap();
    match outcome.termination {
        Termination::StoppedEarly {
            last_iteration: Some(i),
        } => assert!((50..2000).contains(&i), "{i}"),
        other => panic!("expected an early stop, got {other:?}"),
    }
    assert!(checks >= 1);
    assert_eq!(
        outcome.stopped_early.as_deref(),
        Some("alloc.allocated grows 1 MiB/iter")
    );
    let recorded = read_run(&outcome.samples_path).unwrap();
    assert_eq!(
        recorded.exit.unwrap().stopped_early.as_deref(),
        Some("alloc.allocated grows 1 MiB/iter")
    );
}

/// Set in the environment of this test binary re-executed as a Rust child.
const PROBE_CHILD: &str = "LEAKCHECK_RUNNER_TEST_PROBE_CHILD";

/// The child half of the next test: a Rust program marking with the real
/// `leakcheck_probe::Probe`. A no-op when run as an ordinary test.
#[test]
fn probe_child() {
    if std::env::var_os(PROBE_CHILD).is_none() {
        return;
    }
    let probe = leakcheck_probe::Probe::from_env();
    assert!(probe.is_active(), "LEAKCHECK_FD not usable in the child");
    probe.session_start(1, "only");
    let mut keep = Vec::new();
    for i in 1..=100u64 {
        keep.push(vec![1u8; 256 << 10]);
        probe.mark(i);
    }
    probe.session_end(1, "only");
    probe.note("rust child done");
    probe.end();
}

#[test]
fn marks_from_the_rust_probe_are_decoded() {
    let dir = TempDir::new().unwrap();
    let exe = std::env::current_exe().unwrap();
    let argv = vec![
        exe.to_string_lossy().into_owned(),
        "--exact".to_owned(),
        "probe_child".to_owned(),
        "--nocapture".to_owned(),
    ];
    let mut spec = spec(&dir, argv);
    spec.env.push((PROBE_CHILD.to_owned(), "1".to_owned()));
    let (outcome, _) = run(&spec);
    assert_eq!(
        outcome.termination,
        Termination::Exited { code: 0 },
        "{}",
        child_log(&dir)
    );
    let tl = &outcome.timeline;
    let hello = tl.hello.as_ref().expect("hello from the probe");
    assert_eq!(
        hello.pid, outcome.pid,
        "the probe runs in the spawned process itself"
    );
    assert_eq!(
        read_run(&outcome.samples_path).unwrap().header.pid,
        outcome.pid
    );
    assert_eq!(tl.marks.len(), 100);
    assert_eq!(tl.sessions.len(), 2);
    assert_eq!(tl.sessions[1].iteration, Some(100));
    assert_eq!(tl.notes, ["rust child done"]);
    assert!(tl.ended);
    assert_eq!(tl.decode.malformed + tl.decode.truncated, 0);
    // The probe measures its own RSS at each mark: 100 x 256 KiB kept shows up.
    let (_, rss, axis) = tl.series("rss").unwrap();
    assert_eq!(axis, XUnit::Iteration);
    assert!(
        rss[99] - rss[0] > 20.0 * f64::from(1 << 20),
        "rss {} -> {}",
        rss[0],
        rss[99]
    );
}

#[test]
fn setting_the_cancel_flag_stops_the_group_gracefully() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let dir = TempDir::new().unwrap();
    let mut spec = spec(&dir, vec!["sleep".to_owned(), "30".to_owned()]);
    let cancel = Arc::new(AtomicUsize::new(0));
    spec.cancel = Some(Arc::clone(&cancel));
    // Cancel once the child is watched, as a SIGINT handler would.
    let mut on_event = |e: &Event| {
        if matches!(e, Event::Started { .. }) {
            cancel.fetch_add(1, Ordering::Relaxed);
        }
    };
    let outcome = leakcheck_runner::run(&spec, &mut on_event).unwrap();
    assert_eq!(outcome.termination, Termination::Cancelled);
    assert_eq!(outcome.signal, Some(libc::SIGTERM));
    assert!(!outcome.termination.completed());
}

/// How the reports word this run's ending.
fn describe(outcome: &RunOutcome) -> String {
    RunEnding {
        termination: Some(outcome.termination),
        last_iteration: outcome.timeline.last_iteration(),
        message: None,
    }
    .describe()
}

#[test]
fn a_setsid_escapee_holding_the_pipe_is_warned_about() {
    let dir = TempDir::new().unwrap();
    // Without a supervisor, a process that left the group keeps the pipe's write end.
    // Popen returns once the child has exec'd, so it has left the group before the
    // leader exits (a shell's `setsid … &` may not have, and dies with the group).
    let mut spec = spec(
        &dir,
        python(
            "import subprocess\nsubprocess.Popen(['sleep', '3'], start_new_session=True, \
             pass_fds=(int(os.environ['LEAKCHECK_FD']),))\n",
        ),
    );
    spec.supervisor = None;
    let (outcome, events) = run(&spec);
    assert!(outcome.termination.completed(), "{:?}", outcome.termination);
    let warned = events.iter().any(|e| {
        matches!(e, Event::Warning(w) if w.contains("the LEAKCHECK_FD pipe stayed open after the child exited"))
    });
    assert!(warned, "{events:?}");
}

/// A checkpoint makes the sampler take a burst: several tree samples land within the
/// checkpoint's window, however slow the normal cadence.
#[test]
fn a_checkpoint_gets_a_burst_of_outside_samples() {
    let dir = TempDir::new().unwrap();
    let script = r#"
for c in (1, 2):
    for k in range(5):
        send(dict(type="checkpoint", id=c, label="c%d" % c, t_ns=now(), rss_bytes=rss()))
        time.sleep(0.01)
    time.sleep(0.6)
"#;
    let mut spec = spec(&dir, python(script));
    // Far slower than a checkpoint lasts: only the burst can put samples inside it.
    spec.rss_interval = Duration::from_millis(500);
    let (outcome, _) = run(&spec);
    let levels = outcome.timeline.checkpoint_levels("rss.tree");
    assert_eq!(levels.len(), 2, "{levels:?}");
    for (id, samples) in &levels {
        assert!(samples.len() >= 3, "checkpoint {id}: {samples:?}");
    }
    assert_eq!(outcome.timeline.checkpoint_levels("rss")[0].1.len(), 5);
}
