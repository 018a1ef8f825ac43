//! The levels a retained budget was judged on, as the report's plot gets them: recorded
//! runs of the workspace's `tests/fixtures/` judged offline.

use std::path::PathBuf;

use leakcheck_judge::{Judgement, Judging, RunFacts, judge};
use leakcheck_records::read_run;
use leakcheck_summary::{BudgetKind, LevelKind, MetricReport};

fn judged(fixture: &str) -> Judgement {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(fixture);
    let recorded = read_run(&dir.join("samples.jsonl")).unwrap();
    let judging = Judging::load(&dir).unwrap();
    judge(
        &judging,
        &RunFacts::recorded(&recorded, "samples.jsonl".into()),
    )
}

fn metric<'a>(j: &'a Judgement, name: &str) -> &'a MetricReport {
    j.report.metrics.iter().find(|m| m.name == name).unwrap()
}

#[test]
fn checkpoints_are_placed_between_the_marks_at_the_median_of_their_readings() {
    let j = judged("retrain-checkpoints");
    let allocated = metric(&j, "alloc.allocated");
    let levels: Vec<(f64, f64, usize)> = allocated
        .checkpoints
        .iter()
        .map(|c| (c.x, c.level, c.readings))
        .collect();
    // Before the first mark, and after iteration 80 (session 1's last mark).
    assert_eq!(
        levels,
        [(0.5, 21_488_856.0, 5), (80.5, 28_692_648.0, 5)],
        "{:?}",
        allocated.checkpoints
    );
    assert!(allocated.checkpoints.iter().all(|c| {
        c.kind == LevelKind::Checkpoint
            && c.label
                .as_deref()
                .is_some_and(|l| l.starts_with("before session"))
    }));
    // The retained estimate is the rise from the first level to the last.
    let retained = allocated
        .budgets
        .iter()
        .find(|b| b.kind == BudgetKind::Retained)
        .unwrap();
    assert_eq!(retained.estimate, levels[1].1 - levels[0].1);
    // Outside samples in the checkpoints' bursts for rss.tree; no retained budget on rss.
    assert_eq!(metric(&j, "rss.tree").checkpoints.len(), 2);
    assert!(metric(&j, "rss").checkpoints.is_empty());
}

#[test]
fn without_checkpoints_retained_is_shown_on_the_session_starts_and_without_a_budget_not_at_all() {
    let j = judged("retrain-fixed");
    let allocated = metric(&j, "alloc.allocated");
    assert_eq!(allocated.checkpoints.len(), 2);
    assert!(
        allocated
            .checkpoints
            .iter()
            .all(|c| c.kind == LevelKind::SessionStart && c.readings == 3)
    );
    let retained = allocated
        .budgets
        .iter()
        .find(|b| b.kind == BudgetKind::Retained)
        .unwrap();
    assert_eq!(
        retained.estimate,
        allocated.checkpoints[1].level - allocated.checkpoints[0].level
    );
    let leaky = judged("loader-leaky");
    assert!(
        leaky
            .report
            .metrics
            .iter()
            .all(|m| m.checkpoints.is_empty())
    );
}
