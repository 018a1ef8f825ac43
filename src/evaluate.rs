//! Turns a recorded run into a verdict: each metric's series goes through the analysis,
//! the results are mapped onto the report's view model, and the run's ending and the
//! budget outcomes are combined into one overall verdict and exit status.
//!
//! What to judge a run by ([`Judging`]) is saved next to `samples.jsonl` as `judging.json`,
//! so `leakcheck report` can re-judge a run offline exactly as it was judged live.

use std::path::Path;

use leakcheck_analysis::{
    AnalysisOptions, Budget, BudgetKind, MetricAnalysis, Outcome, Series, Shape, WarmUp, XUnit,
    analyze_metric, classify_fragmentation,
};
use leakcheck_probe::metrics;
use leakcheck_probe::wire::SessionEvent;
use leakcheck_report as report;
use leakcheck_runner::{MetricBudget, Termination, Timeline, XAxis, timeline::ALL_METRICS};
use serde::{Deserialize, Serialize};

use crate::error::{CliError, ExitStatus};

/// File name of the saved [`Judging`], beside `samples.jsonl`.
pub const JUDGING_FILE: &str = "judging.json";

/// Metrics plotted even without a budget, when the run has data for them.
const ALWAYS_SHOWN: [&str; 4] = [
    metrics::ALLOC_ALLOCATED,
    metrics::RSS_TREE,
    metrics::RSS,
    metrics::GPU_PROCESS,
];

/// Everything besides the samples that a verdict depends on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Judging {
    pub scenario: String,
    pub variant: Option<String>,
    pub argv: Vec<String>,
    pub iterations: Option<u64>,
    pub budgets: Vec<MetricBudget>,
    pub warmup: WarmUp,
    pub confidence: f64,
    pub ceiling: Option<u64>,
}

impl Judging {
    pub fn save(&self, dir: &Path) -> Result<(), CliError> {
        let path = dir.join(JUDGING_FILE);
        let text = serde_json::to_string_pretty(self).expect("judging serialises");
        std::fs::write(&path, text).map_err(|source| CliError::Io { path, source })
    }

    /// What a samples file alone says: no budgets, default statistics.
    pub fn from_header(header: &leakcheck_runner::timeline::RunHeader) -> Judging {
        let defaults = AnalysisOptions::default();
        Judging {
            scenario: header.scenario.clone(),
            variant: None,
            argv: header.argv.clone(),
            iterations: None,
            budgets: Vec::new(),
            warmup: defaults.warmup,
            confidence: defaults.confidence,
            ceiling: header.ceiling,
        }
    }

    pub fn load(dir: &Path) -> Result<Judging, CliError> {
        let path = dir.join(JUDGING_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            CliError::Usage(format!(
                "cannot read {}: {e} (it is written by `leakcheck run` and `leakcheck gate` beside samples.jsonl)",
                path.display()
            ))
        })?;
        serde_json::from_str(&text)
            .map_err(|e| CliError::Usage(format!("{} is not a judging file: {e}", path.display())))
    }
}

/// How the recorded run went, besides its samples.
#[derive(Debug, Clone)]
pub struct RunFacts<'a> {
    pub timeline: &'a Timeline,
    /// `None` when the samples file has no exit record (leakcheck itself was killed).
    pub termination: Option<Termination>,
    pub stopped_early: Option<String>,
    pub wall_s: f64,
    pub samples_file: String,
}

/// The report of one scenario and what it means for the exit code.
#[derive(Debug)]
pub struct Evaluation {
    pub report: report::ScenarioReport,
    pub status: ExitStatus,
}

/// Analyse every metric worth showing and judge the budgets.
pub fn evaluate(judging: &Judging, facts: &RunFacts<'_>) -> Evaluation {
    let timeline = facts.timeline;
    let x_axis = if timeline.marks.is_empty() {
        report::XAxis::Second
    } else {
        report::XAxis::Iteration
    };
    let mut usage_problem = false;
    let mut analyses: Vec<(String, Option<MetricAnalysis>, report::MetricReport)> = Vec::new();
    for metric in metrics_to_show(judging, timeline) {
        let budgets: Vec<&MetricBudget> = judging
            .budgets
            .iter()
            .filter(|b| b.metric == metric)
            .collect();
        let (analysis, metric_report, mismatch) =
            judge_metric(&metric, &budgets, judging, timeline);
        usage_problem |= mismatch;
        analyses.push((metric, analysis, metric_report));
    }
    mark_fragmentation(&mut analyses);

    let status = run_status(facts);
    let checks = analyses.iter().flat_map(|(_, _, m)| m.budgets.iter());
    let any_fail = checks.clone().any(|c| c.outcome == report::Outcome::Fail);
    let any_undecided = checks
        .clone()
        .any(|c| c.outcome == report::Outcome::Undecided);
    let ceiling_crossed = matches!(status, report::RunStatus::CeilingExceeded { .. });

    let (verdict, mut exit) = if any_fail || ceiling_crossed {
        (report::Overall::Fail, ExitStatus::BudgetFailed)
    } else if !status.is_complete() {
        (report::Overall::Incomplete, ExitStatus::Incomplete)
    } else if any_undecided {
        (report::Overall::Undecided, ExitStatus::Undecided)
    } else {
        (report::Overall::Pass, ExitStatus::Pass)
    };
    if usage_problem {
        exit = exit.worst(ExitStatus::Usage);
    }
    let headline = headline(verdict, &status, &analyses);

    let metrics: Vec<report::MetricReport> = analyses.into_iter().map(|(_, _, m)| m).collect();
    let report = report::ScenarioReport {
        schema_version: report::SCHEMA_VERSION,
        scenario: judging.scenario.clone(),
        variant: judging.variant.clone(),
        command: judging.argv.clone(),
        status,
        verdict,
        headline,
        x_unit: x_axis,
        duration_s: facts.wall_s,
        iterations: (!timeline.marks.is_empty()).then_some(timeline.marks.len() as u64),
        metrics,
        sessions: session_markers(timeline, x_axis),
        notes: timeline.notes.clone(),
        ceiling_bytes: judging.ceiling.map(|c| c as f64),
        ceiling_metric: judging.ceiling.map(|_| metrics::RSS_TREE.to_string()),
        peak_bytes: (timeline.peak_rss_tree() > 0).then(|| timeline.peak_rss_tree() as f64),
        samples_file: facts.samples_file.clone(),
        decode_warnings: timeline.warnings.clone(),
    };
    Evaluation {
        report,
        status: exit,
    }
}

/// Budgeted metrics first (in the order of [`ALL_METRICS`]), then the always-shown ones
/// the run has data for.
fn metrics_to_show(judging: &Judging, timeline: &Timeline) -> Vec<String> {
    let available = timeline.metrics();
    ALL_METRICS
        .into_iter()
        .filter(|m| judging.budgets.iter().any(|b| b.metric == *m))
        .chain(
            ALWAYS_SHOWN.into_iter().filter(|m| {
                available.contains(m) && !judging.budgets.iter().any(|b| b.metric == *m)
            }),
        )
        .map(str::to_string)
        .collect()
}

/// Analyse one metric and judge its budgets. The bool is true when a budget cannot
/// apply to this series at all (a per-iteration rate on a per-second series).
fn judge_metric(
    metric: &str,
    budgets: &[&MetricBudget],
    judging: &Judging,
    timeline: &Timeline,
) -> (Option<MetricAnalysis>, report::MetricReport, bool) {
    let mut metric_report = report::MetricReport {
        name: metric.to_string(),
        unit: report::ValueUnit::Bytes,
        points: Vec::new(),
        warmup_end_x: None,
        fit: None,
        shape: Shape::Inconclusive.to_string(),
        peak: f64::NAN,
        budgets: Vec::new(),
        stats: serde_json::Value::Null,
    };
    let Some((x, y, axis)) = timeline.series(metric) else {
        let reason = format!("{metric}: no data (the run never reported this metric)");
        metric_report.budgets = budgets.iter().map(|b| undecided(b, &reason)).collect();
        return (None, metric_report, false);
    };
    metric_report.points = x.iter().zip(&y).map(|(&x, &y)| [x, y]).collect();
    metric_report.peak = y.iter().copied().fold(f64::NAN, f64::max);
    let x_unit = XUnit::from(axis);

    // A rate per iteration cannot judge a per-second series (or the other way round).
    let mut mismatch = false;
    let mut applicable = Vec::new();
    for b in budgets {
        match b.budget.limit {
            leakcheck_analysis::Quantity::Rate { per, .. } if per != x_unit => {
                mismatch = true;
                let reason = format!(
                    "{} = {} cannot apply: the {metric} series is per {} (use a rate per {})",
                    b.key,
                    b.budget.limit,
                    unit_word(x_unit),
                    unit_word(x_unit)
                );
                metric_report.budgets.push(undecided(b, &reason));
            }
            _ => applicable.push(*b),
        }
    }

    let options = AnalysisOptions {
        confidence: judging.confidence,
        warmup: judging.warmup,
        x_unit,
        ..AnalysisOptions::default()
    };
    let starts = timeline.session_starts(axis);
    let plain: Vec<Budget> = applicable.iter().map(|b| b.budget.clone()).collect();
    let analysis = Series::new(x, y)
        .and_then(|series| analyze_metric(metric, &series, &starts, &plain, &options));
    match analysis {
        Ok(a) => {
            fill_from_analysis(&mut metric_report, &a);
            metric_report
                .budgets
                .extend(a.verdicts.iter().map(budget_check));
            (Some(a), metric_report, mismatch)
        }
        Err(e) => {
            let reason = format!("{metric}: cannot analyse: {e}");
            metric_report
                .budgets
                .extend(applicable.iter().map(|b| undecided(b, &reason)));
            (None, metric_report, mismatch)
        }
    }
}

fn unit_word(unit: XUnit) -> &'static str {
    match unit {
        XUnit::Iteration => "iteration",
        XUnit::Second => "second",
    }
}

fn fill_from_analysis(m: &mut report::MetricReport, a: &MetricAnalysis) {
    m.warmup_end_x = (a.warmup.index > 0).then_some(a.warmup.x);
    let steady: Vec<f64> = m.points.iter().skip(a.warmup.index).map(|p| p[0]).collect();
    if !steady.is_empty() {
        let ts = &a.theil_sen;
        let x_center = steady.iter().sum::<f64>() / steady.len() as f64;
        m.fit = Some(report::FitLine {
            slope: ts.slope,
            intercept: ts.intercept,
            slope_lo: ts.lo,
            slope_hi: ts.hi,
            confidence: ts.confidence,
            x_center,
            y_center: ts.intercept + ts.slope * x_center,
        });
    }
    m.shape = a.shape.to_string();
    m.peak = a.peak;
    m.stats = serde_json::to_value(a).unwrap_or(serde_json::Value::Null);
}

fn budget_kind(kind: BudgetKind) -> report::BudgetKind {
    match kind {
        BudgetKind::Slope => report::BudgetKind::Slope,
        BudgetKind::Growth => report::BudgetKind::Growth,
        BudgetKind::Peak => report::BudgetKind::Peak,
        BudgetKind::Retained => report::BudgetKind::Retained,
    }
}

fn budget_check(v: &leakcheck_analysis::Verdict) -> report::BudgetCheck {
    report::BudgetCheck {
        kind: budget_kind(v.budget.kind),
        limit: v.budget.limit.bytes(),
        limit_text: v.budget.limit.to_string(),
        outcome: match v.outcome {
            Outcome::Pass => report::Outcome::Pass,
            Outcome::Fail => report::Outcome::Fail,
            Outcome::Undecided => report::Outcome::Undecided,
        },
        estimate: v.estimate,
        lo: v.lo,
        hi: v.hi,
        line: v.line.clone(),
    }
}

fn undecided(b: &MetricBudget, reason: &str) -> report::BudgetCheck {
    report::BudgetCheck {
        kind: budget_kind(b.budget.kind),
        limit: b.budget.limit.bytes(),
        limit_text: b.budget.limit.to_string(),
        outcome: report::Outcome::Undecided,
        estimate: f64::NAN,
        lo: f64::NAN,
        hi: f64::NAN,
        line: reason.to_string(),
    }
}

/// RSS (or jemalloc resident) growing while `allocated` stays flat is fragmentation,
/// not a leak: relabel the resident-side metrics when both were analysed.
fn mark_fragmentation(analyses: &mut [(String, Option<MetricAnalysis>, report::MetricReport)]) {
    let Some(allocated) = analyses
        .iter()
        .find(|(m, _, _)| m == metrics::ALLOC_ALLOCATED)
        .and_then(|(_, a, _)| a.clone())
    else {
        return;
    };
    for (metric, analysis, metric_report) in analyses.iter_mut() {
        let resident_side = [metrics::RSS, metrics::RSS_TREE, metrics::ALLOC_RESIDENT];
        let Some(a) = analysis.as_ref() else { continue };
        // Theil–Sen looks through a step at a session boundary; when allocated memory is
        // retained across sessions as well, the resident growth is that, not fragmentation.
        let allocated_retains = matches!(
            (a.retained, allocated.retained),
            (Some(resident), Some(alloc)) if alloc > 0.1 * resident.abs()
        );
        if resident_side.contains(&metric.as_str())
            && !allocated_retains
            && classify_fragmentation(a, &allocated) == Shape::Fragmentation
        {
            metric_report.shape = Shape::Fragmentation.to_string();
        }
    }
}

fn session_markers(timeline: &Timeline, axis: report::XAxis) -> Vec<report::SessionMarker> {
    let runner_axis = match axis {
        report::XAxis::Iteration => XAxis::Iteration,
        report::XAxis::Second => XAxis::Seconds,
    };
    let labels = timeline
        .sessions
        .iter()
        .filter(|s| s.event == SessionEvent::Start)
        .map(|s| s.label.clone());
    timeline
        .session_starts(runner_axis)
        .into_iter()
        .zip(labels)
        .map(|(x, label)| report::SessionMarker { x, label })
        .collect()
}

/// The runner's ending, in the report's words.
fn run_status(facts: &RunFacts<'_>) -> report::RunStatus {
    let last_iteration = facts.timeline.last_iteration();
    let Some(termination) = facts.termination else {
        return report::RunStatus::Failed {
            exit_code: None,
            signal: None,
            message: "the samples end without an exit record (leakcheck itself was stopped)"
                .to_string(),
            last_iteration,
        };
    };
    match termination {
        Termination::Exited { code: 0 } => report::RunStatus::Completed { exit_code: 0 },
        Termination::Exited { code } => report::RunStatus::Failed {
            exit_code: Some(code),
            signal: None,
            message: facts.timeline.notes.last().cloned().unwrap_or_default(),
            last_iteration,
        },
        Termination::Signaled { signal } => report::RunStatus::Failed {
            exit_code: None,
            signal: Some(signal),
            message: leakcheck_runner::run::signal_name(signal).to_string(),
            last_iteration,
        },
        Termination::TimedOut { after } => report::RunStatus::TimedOut {
            after_s: after.as_secs_f64(),
            last_iteration,
        },
        Termination::Hung {
            no_progress_for,
            last_iteration,
        } => report::RunStatus::Hung {
            no_progress_s: no_progress_for.as_secs_f64(),
            last_iteration,
        },
        Termination::CeilingExceeded { ceiling, peak } => report::RunStatus::CeilingExceeded {
            ceiling_bytes: ceiling as f64,
            peak_bytes: peak as f64,
            last_iteration,
        },
        Termination::Cancelled => report::RunStatus::Failed {
            exit_code: None,
            signal: None,
            message: "cancelled by the user".to_string(),
            last_iteration,
        },
        Termination::StoppedEarly { .. } => report::RunStatus::StoppedEarly {
            reason: facts
                .stopped_early
                .clone()
                .unwrap_or_else(|| "the leak was already certain".to_string()),
        },
    }
}

fn headline(
    verdict: report::Overall,
    status: &report::RunStatus,
    analyses: &[(String, Option<MetricAnalysis>, report::MetricReport)],
) -> String {
    let checks: Vec<&report::BudgetCheck> = analyses
        .iter()
        .flat_map(|(_, _, m)| m.budgets.iter())
        .collect();
    let with = |outcome: report::Outcome| -> Vec<&str> {
        checks
            .iter()
            .filter(|c| c.outcome == outcome)
            .map(|c| c.line.as_str())
            .collect()
    };
    let first_and_more = |lines: Vec<&str>| match lines.len() {
        0 => String::new(),
        1 => lines[0].to_string(),
        n => format!("{} (+{} more)", lines[0], n - 1),
    };
    match verdict {
        report::Overall::Fail => {
            let failing = with(report::Outcome::Fail);
            if failing.is_empty() {
                status.describe()
            } else {
                first_and_more(failing)
            }
        }
        report::Overall::Incomplete => status.describe(),
        report::Overall::Undecided => first_and_more(with(report::Outcome::Undecided)),
        report::Overall::Pass if checks.is_empty() => {
            "no budgets set: nothing to judge (see the shapes below)".to_string()
        }
        report::Overall::Pass => format!("all {} budget checks within limits", checks.len()),
    }
}
