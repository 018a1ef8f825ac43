//! The scenario binary as the runner sees it: exit status, stderr, the progress file
//! and the probe's wire output (`LEAKCHECK_FD=1` sends it to stdout, one JSON object
//! per line among the summary lines).

use std::path::Path;
use std::process::{Command, Output};

use leakcheck_probe::wire::{Message, SessionEvent};

fn run(args: &[&str], progress: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_retrain-sequential"))
        .args(args)
        .arg("--progress")
        .arg(progress)
        .env("LEAKCHECK_FD", "1")
        .output()
        .expect("spawn retrain-sequential")
}

fn wire(out: &Output) -> Vec<Message> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn progress(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Marks strictly increase across sessions; returns (session starts, session ends, marks).
fn shape(msgs: &[Message]) -> (Vec<u64>, Vec<u64>, Vec<u64>) {
    let (mut starts, mut ends, mut marks) = (vec![], vec![], vec![]);
    for m in msgs {
        match m {
            Message::Session {
                event: SessionEvent::Start,
                id,
                ..
            } => starts.push(*id),
            Message::Session {
                event: SessionEvent::End,
                id,
                ..
            } => ends.push(*id),
            Message::Mark { iteration, .. } => marks.push(*iteration),
            _ => {}
        }
    }
    assert!(
        marks.windows(2).all(|w| w[0] < w[1]),
        "marks not increasing"
    );
    (starts, ends, marks)
}

fn notes(msgs: &[Message]) -> Vec<&str> {
    msgs.iter()
        .filter_map(|m| match m {
            Message::Note { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn leaky_crosses_its_default_ceiling_in_session_2_and_fails_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("progress.json");
    let out = run(&["--variant", "leaky"], &p);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}\n{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("session 2 failed: memory ceiling exceeded in session 2"),
        "{stderr}"
    );
    assert!(
        stderr.contains("ceiling 448 MiB (469762048 bytes)"),
        "{stderr}"
    );
    assert!(stderr.contains("measured "), "{stderr}");

    let pj = progress(&p);
    assert_eq!(pj["status"], "failed");
    assert_eq!(pj["session"], 2);
    let msg = pj["message"].as_str().unwrap();
    assert!(
        stderr.contains(msg),
        "stderr lacks the progress message {msg}"
    );
    let rss = pj["rss_bytes"].as_u64().unwrap();
    assert!(
        rss > 469_762_048,
        "failed at {rss} bytes, below the ceiling"
    );
    assert!(msg.contains(&format!("({rss} bytes) resident")), "{msg}");

    let msgs = wire(&out);
    let (starts, ends, marks) = shape(&msgs);
    assert_eq!(starts, vec![1, 2]);
    assert_eq!(ends, vec![1, 2]);
    // Session 1 ran all 80 steps (2 batches x 40 epochs); session 2 failed early.
    assert!(
        marks.len() > 80 && marks.len() < 200,
        "{} marks",
        marks.len()
    );
    assert!(
        notes(&msgs)
            .iter()
            .any(|n| *n == format!("status failed: {msg}"))
    );
    assert!(
        !msgs.iter().any(|m| matches!(m, Message::End { .. })),
        "end sent on failure"
    );
}

#[test]
fn fixed_completes_both_sessions_under_the_same_ceiling() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("progress.json");
    let out = run(&["--variant", "fixed"], &p);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{}\n{stderr}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let pj = progress(&p);
    assert_eq!(pj["status"], "completed");
    assert_eq!(pj["session"], 2);
    assert_eq!(pj["message"], serde_json::Value::Null);
    assert!(pj["rss_bytes"].as_u64().unwrap() < 469_762_048);

    let msgs = wire(&out);
    let (starts, ends, marks) = shape(&msgs);
    assert_eq!(starts, vec![1, 2]);
    assert_eq!(ends, vec![1, 2]);
    assert_eq!(marks, (1..=200).collect::<Vec<_>>(), "80 + 120 steps");
    assert!(matches!(msgs.last(), Some(Message::End { .. })));
    assert!(
        notes(&msgs)
            .iter()
            .any(|n| n.starts_with("status completed: session 2 completed"))
    );
}

#[test]
fn bad_arguments_exit_2_naming_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("progress.json");
    let out = run(&["--variant", "fixed", "--ceiling", "12XB"], &p);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown unit \"XB\" in \"12XB\""),
        "{stderr}"
    );
    let out = run(&["--variant", "sideways"], &p);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sideways"));
    let out = Command::new(env!("CARGO_BIN_EXE_retrain-sequential"))
        .args([
            "--variant",
            "fixed",
            "--progress",
            "/nonexistent-dir/p.json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("cannot write progress file /nonexistent-dir/p.json")
    );
}
