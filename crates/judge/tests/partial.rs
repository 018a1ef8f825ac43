//! The judge on a run still going: the first records of the recorded leaky loader (the
//! snapshot fixture of the workspace's `tests/`), as the runner would hold them mid-run.

use std::path::PathBuf;

use leakcheck_judge::{Judging, RunFacts, judge};
use leakcheck_records::{Record, Timeline, read_run};
use leakcheck_summary::Overall;
use leakcheck_vocab::Outcome;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/loader-leaky")
}

/// The recorded run's records up to its `marks`-th mark, in arrival order.
fn partial_timeline(marks: usize) -> Timeline {
    let text = std::fs::read_to_string(fixture().join("samples.jsonl")).unwrap();
    let mut timeline = Timeline::default();
    for line in text.lines() {
        let Ok(record) = serde_json::from_str::<Record>(line) else {
            continue;
        };
        if matches!(record, Record::Mark(_)) && timeline.marks.len() == marks {
            break;
        }
        timeline.apply(&record);
    }
    timeline
}

#[test]
fn a_partial_timeline_of_the_leaky_loader_is_already_decided_as_a_fail() {
    let judging = Judging::load(&fixture()).unwrap();
    let timeline = partial_timeline(120);
    assert_eq!(timeline.marks.len(), 120);
    let judgement = judge(
        &judging,
        &RunFacts {
            timeline: &timeline,
            termination: None,
            reason: None,
            wall_s: 0.8,
            samples_file: "samples.jsonl".into(),
        },
    );
    let allocated = judgement
        .report
        .metrics
        .iter()
        .find(|m| m.name == "alloc.allocated")
        .expect("the budgeted metric is judged");
    assert_eq!(
        allocated.budgets[0].outcome,
        Outcome::Fail,
        "{:?}",
        allocated.budgets[0]
    );
    assert!(judgement.budgets_decided());
    assert_eq!(
        judgement.verdict,
        Overall::Fail,
        "a certain leak fails even mid-run"
    );
}

#[test]
fn the_whole_recorded_run_and_its_judging_file_give_the_recorded_verdict() {
    let recorded = read_run(&fixture().join("samples.jsonl")).unwrap();
    let judging = Judging::load(&fixture()).unwrap();
    let judgement = judge(
        &judging,
        &RunFacts::recorded(&recorded, "samples.jsonl".into()),
    );
    assert_eq!(judgement.verdict, Overall::Fail);
    assert!(!judgement.misconfigured);
    assert!(judgement.report.status.is_complete());
}
