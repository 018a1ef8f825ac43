//! leakcheck-judge: turns a recorded run into a verdict, live (on the partial timeline of
//! a run still going) or offline (on a `samples.jsonl` read back).
//!
//! [`judge`] takes the [`Timeline`], how the run ended and the [`Judging`] settings, builds
//! each metric's series, asks `leakcheck-analysis` for its statistics and verdicts, and
//! returns a [`Judgement`]: the overall [`Overall`] verdict, whether a budget could not
//! apply at all, and the report's view model ([`ScenarioReport`]) with every sentence
//! worded by `leakcheck_report::words`. It does no I/O besides `judging.json`
//! ([`Judging::save`], [`Judging::load`]), words nothing itself, and knows no exit codes:
//! the CLI maps a [`Judgement`] to one.

mod judging;
mod metric;

use leakcheck_records::{RunEnding, Termination, Timeline, metrics};
use leakcheck_report::{self as report, Overall, ScenarioReport};
use leakcheck_vocab::{CheckReason, Outcome, XUnit};

pub use judging::{JUDGING_FILE, JUDGING_VERSION, Judging, JudgingError, apply_budget_overrides};
pub use leakcheck_analysis::MetricBudget;

/// How the recorded run went, besides its samples.
#[derive(Debug, Clone)]
pub struct RunFacts<'a> {
    pub timeline: &'a Timeline,
    /// `None` when the samples file has no exit record (leakcheck itself was killed), and
    /// while the run is still going.
    pub termination: Option<Termination>,
    /// Why the runner ended the run, when it said: the early-stop reason, or why the run
    /// could not start.
    pub reason: Option<String>,
    pub wall_s: f64,
    pub samples_file: String,
}

/// The judge's answer for one run.
#[derive(Debug, Clone)]
pub struct Judgement {
    pub verdict: Overall,
    /// A budget cannot apply to its series at all (a per-iteration rate on a per-second
    /// series): the configuration is wrong, whatever the data says.
    pub misconfigured: bool,
    pub report: ScenarioReport,
}

impl Judgement {
    /// Every budget check is decided (pass or fail): what a run still going needs to know
    /// to stop early.
    pub fn budgets_decided(&self) -> bool {
        self.report
            .metrics
            .iter()
            .flat_map(|m| &m.budgets)
            .all(|c| c.outcome != Outcome::Undecided)
    }
}

/// Analyse every metric worth showing, judge the budgets and combine them with the run's
/// ending into one verdict.
pub fn judge(judging: &Judging, facts: &RunFacts<'_>) -> Judgement {
    let timeline = facts.timeline;
    let x_unit = if timeline.marks.is_empty() {
        XUnit::Second
    } else {
        XUnit::Iteration
    };
    let metrics = metric::judge_metrics(judging, timeline);
    let status = run_ending(facts);
    let checks: Vec<&report::BudgetCheck> =
        metrics.iter().flat_map(|m| &m.report.budgets).collect();
    let any = |outcome: Outcome| checks.iter().any(|c| c.outcome == outcome);
    let verdict = if any(Outcome::Fail) || status.ceiling_crossed() {
        Overall::Fail
    } else if !status.is_complete() {
        Overall::Incomplete
    } else if any(Outcome::Undecided) {
        Overall::Undecided
    } else if checks.is_empty() {
        Overall::NoBudgets
    } else {
        Overall::Pass
    };
    let misconfigured = metrics
        .iter()
        .flat_map(|m| &m.reasons)
        .any(|r| matches!(r, CheckReason::UnitMismatch { .. }));
    let headline = report::words::headline(verdict, &status, &checks);
    let peak_tree = timeline.peak_rss_tree();
    let mut warnings = timeline.warnings.clone();
    if let Some((index, iteration, previous)) = timeline.iteration_disorder() {
        warnings.push(format!(
            "the marks' iteration numbers do not increase (iteration {iteration} after {previous}, at mark {}): judged per mark in arrival order",
            index + 1
        ));
    }
    let report = ScenarioReport {
        schema_version: report::SCHEMA_VERSION,
        scenario: judging.scenario.clone(),
        variant: judging.variant.clone(),
        command: judging.argv.clone(),
        status,
        verdict,
        headline,
        x_unit,
        duration_s: facts.wall_s,
        iterations: (!timeline.marks.is_empty()).then_some(timeline.marks.len() as u64),
        metrics: metrics.into_iter().map(|m| m.report).collect(),
        sessions: session_markers(timeline, x_unit),
        notes: timeline.notes.clone(),
        ceiling_bytes: judging.ceiling.map(|c| c as f64),
        ceiling_metric: judging.ceiling.map(|_| metrics::RSS_TREE.to_string()),
        peak_bytes: (peak_tree > 0).then_some(peak_tree as f64),
        samples_file: facts.samples_file.clone(),
        decode_warnings: warnings,
    };
    Judgement {
        verdict,
        misconfigured,
        report,
    }
}

fn session_markers(timeline: &Timeline, x_unit: XUnit) -> Vec<report::SessionMarker> {
    let labels = timeline
        .sessions
        .iter()
        .filter(|s| s.event == leakcheck_records::SessionEvent::Start)
        .map(|s| s.label.clone());
    timeline
        .session_starts(x_unit)
        .into_iter()
        .zip(labels)
        .map(|(x, label)| report::SessionMarker { x, label })
        .collect()
}

/// The run's ending with what the records add: the last iteration, and the program's
/// last note when it exited non-zero or the reason of an early stop.
fn run_ending(facts: &RunFacts<'_>) -> RunEnding {
    let message = match facts.termination {
        Some(Termination::Exited { code }) if code != 0 => facts.timeline.notes.last().cloned(),
        Some(Termination::StoppedEarly { .. }) => Some(
            facts
                .reason
                .clone()
                .unwrap_or_else(|| "the verdict was already certain".to_string()),
        ),
        Some(Termination::NotStarted) => facts.reason.clone(),
        _ => None,
    };
    RunEnding {
        termination: facts.termination,
        last_iteration: facts.timeline.last_iteration(),
        message,
    }
}
