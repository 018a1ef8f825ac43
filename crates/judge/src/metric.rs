//! One metric at a time: its series from the timeline, the analysis, the budget checks
//! with their worded lines, and the fragmentation relabelling that needs two metrics.

use leakcheck_analysis::{
    AnalysisError, AnalysisOptions, MetricAnalysis, MetricBudget, Series, Shape, Verdict,
    analyze_metric_with, classify_fragmentation, sequential::Steadiness,
};
use leakcheck_records::{Timeline, known_metrics, metrics};
use leakcheck_summary::words::{CheckFacts, check_line};
use leakcheck_summary::{
    BudgetCheck, CheckpointLevel, Crossing, EnvelopeTrace, FitLine, Forecast, LevelKind,
    MemoryLimit, MetricReport, PerSession,
};
use leakcheck_vocab::{BudgetKind, CheckReason, Envelope, Outcome, ValueUnit, XUnit};

use crate::Judging;

/// Metrics plotted even without a budget, when the run has data for them.
const ALWAYS_SHOWN: [&str; 4] = [
    metrics::ALLOC_ALLOCATED,
    metrics::RSS_TREE,
    metrics::RSS,
    metrics::GPU_PROCESS,
];

/// One metric, judged.
pub(crate) struct JudgedMetric {
    pub(crate) report: MetricReport,
    /// The reason of each budget check, in the order of `report.budgets`.
    pub(crate) reasons: Vec<CheckReason>,
    analysis: Option<MetricAnalysis>,
    /// The run's length and the minimum a pass needs, when it ended short of it.
    short_of_min: Option<(f64, f64)>,
    /// Why there are no marks when the program wrote lines and none became a mark: a
    /// per-iteration budget then blames the stream, not its unit.
    broken_stream: Option<String>,
}

/// Every metric worth showing, judged: budgeted metrics first (in [`known_metrics`] order),
/// then the always-shown ones the run has data for.
/// `short_of_min`: the run's length and the minimum a pass needs, when the run ended
/// short of it; a check that would pass is then undecided.
pub(crate) fn judge_metrics(
    judging: &Judging,
    timeline: &Timeline,
    confidence: f64,
    short_of_min: Option<(f64, f64)>,
    interim: bool,
) -> Vec<JudgedMetric> {
    let available = timeline.metrics();
    let budgeted = |m: &str| judging.budgets.iter().any(|b| b.metric == m);
    let asked = |m: &str| judging.show.iter().any(|s| s == m);
    let shown = known_metrics()
        .into_iter()
        .filter(|m| budgeted(m))
        .chain(
            ALWAYS_SHOWN
                .into_iter()
                .filter(|m| available.contains(m) && !budgeted(m)),
        )
        .chain(known_metrics().into_iter().filter(|m| {
            asked(m) && available.contains(m) && !budgeted(m) && !ALWAYS_SHOWN.contains(m)
        }));
    let mut judged: Vec<JudgedMetric> = shown
        .map(|metric| judge_metric(metric, judging, timeline, confidence, short_of_min, interim))
        .collect();
    mark_fragmentation(&mut judged);
    judged
}

fn judge_metric(
    metric: &str,
    judging: &Judging,
    timeline: &Timeline,
    confidence: f64,
    short_of_min: Option<(f64, f64)>,
    interim: bool,
) -> JudgedMetric {
    let budgets: Vec<&MetricBudget> = judging
        .budgets
        .iter()
        .filter(|b| b.metric == metric)
        .collect();
    let mut m = JudgedMetric {
        report: MetricReport {
            name: metric.to_string(),
            unit: leakcheck_records::unit_of(metric),
            points: Vec::new(),
            warmup_end_x: None,
            fit: None,
            shape: Shape::Inconclusive.to_string(),
            peak: f64::NAN,
            budgets: Vec::new(),
            retained_per_session: None,
            checkpoints: Vec::new(),
            forecast: None,
            envelopes: Vec::new(),
            stats: None,
        },
        reasons: Vec::new(),
        analysis: None,
        short_of_min,
        broken_stream: broken_stream(timeline),
    };
    let Some((x, y, x_unit)) = timeline.series(metric) else {
        let reason = CheckReason::NoData {
            hint: no_data_hint(metric, timeline),
        };
        for b in &budgets {
            m.push_unjudged(b, confidence, reason.clone(), XUnit::Iteration);
        }
        return m;
    };
    m.report.points = x.iter().zip(&y).map(|(&x, &y)| [x, y]).collect();
    m.report.peak = y.iter().copied().fold(f64::NAN, f64::max);
    let options = AnalysisOptions {
        confidence,
        warmup: judging.warmup,
        x_unit,
        interim,
        ..AnalysisOptions::default()
    };
    let starts = timeline.session_starts(x_unit);
    let checkpoints: Vec<Vec<f64>> = timeline
        .checkpoint_levels(metric)
        .into_iter()
        .map(|(_, readings)| readings)
        .collect();
    let plain: Vec<_> = budgets.iter().map(|b| b.budget.clone()).collect();
    let analysed = Series::new(x, y)
        .and_then(|s| analyze_metric_with(metric, &s, &starts, &checkpoints, &plain, &options));
    match analysed {
        Ok(mut a) => {
            if let Some((before, after)) = timeline.unplaced(metric) {
                a.include_unplaced(&before, &after);
            }
            fill_from_analysis(&mut m.report, &a);
            if let Some(limit) = &judging.limit {
                m.report.forecast = forecast(&m.report, &a, limit);
            }
            if budgets
                .iter()
                .any(|b| b.budget.kind == BudgetKind::Retained)
            {
                m.report.checkpoints = retained_levels(metric, &a, timeline, x_unit);
            }
            for (b, v) in budgets.iter().zip(&a.verdicts) {
                m.push_verdict(b, v, &a);
            }
            m.analysis = Some(a);
        }
        Err(e) => {
            let reason = match e {
                // Not broken, only short (a run stopped early, a look early in a run).
                AnalysisError::TooFewPoints { n, .. } => CheckReason::TooFewPoints { points: n },
                e => CheckReason::AnalysisFailed {
                    error: e.to_string(),
                },
            };
            for b in &budgets {
                m.push_unjudged(b, confidence, reason.clone(), x_unit);
            }
        }
    }
    m
}

/// What one check found, before it is worded.
struct Finding {
    outcome: Outcome,
    reason: CheckReason,
    estimate: f64,
    lo: f64,
    hi: f64,
    confidence: f64,
    sensitivity: f64,
    more: Option<u64>,
    sessions: usize,
    checkpoints: usize,
    x_unit: XUnit,
    /// Under churn, the envelope the interval is of.
    envelope: Option<Envelope>,
}

impl JudgedMetric {
    /// How far a look may fail on this metric as a steady leak; never once the
    /// fragmentation relabelling said the growth is not allocated memory.
    pub(crate) fn steadiness(&self) -> Steadiness {
        match &self.analysis {
            Some(a) if self.report.shape == Shape::Leak.to_string() => a.steadiness(),
            _ => Steadiness::Unsteady,
        }
    }

    fn push_verdict(&mut self, b: &MetricBudget, v: &Verdict, a: &MetricAnalysis) {
        let finding = Finding {
            outcome: v.outcome,
            reason: v.reason.clone(),
            estimate: v.estimate,
            lo: v.lo,
            hi: v.hi,
            confidence: a.theil_sen.confidence,
            sensitivity: v.sensitivity,
            more: v.more_iterations,
            sessions: a.sessions.len(),
            checkpoints: a.checkpoint_retained.as_ref().map_or(0, |c| c.checkpoints),
            x_unit: a.x_unit,
            envelope: v.envelope,
        };
        self.push(b, finding);
    }

    /// A check the analysis never saw (no data, or the series was refused): undecided.
    fn push_unjudged(
        &mut self,
        b: &MetricBudget,
        confidence: f64,
        reason: CheckReason,
        x_unit: XUnit,
    ) {
        let finding = Finding {
            outcome: Outcome::Undecided,
            reason,
            estimate: f64::NAN,
            lo: f64::NAN,
            hi: f64::NAN,
            confidence,
            sensitivity: f64::NAN,
            more: None,
            sessions: 0,
            checkpoints: 0,
            x_unit,
            envelope: None,
        };
        self.push(b, finding);
    }

    fn push(&mut self, b: &MetricBudget, mut f: Finding) {
        if let (CheckReason::UnitMismatch { .. }, Some(hint)) = (&f.reason, &self.broken_stream) {
            f.outcome = Outcome::Undecided;
            f.reason = CheckReason::NoData { hint: hint.clone() };
        }
        if let (Outcome::Pass, Some((length, min))) = (f.outcome, self.short_of_min) {
            f.outcome = Outcome::Undecided;
            f.reason = CheckReason::BelowMinimum { length, min };
        }
        let limit_text = b.budget.limit_text();
        let line = check_line(&CheckFacts {
            metric: &self.report.name,
            key: &b.key,
            kind: b.budget.kind,
            limit: b.budget.limit.bytes(),
            limit_text: &limit_text,
            outcome: f.outcome,
            reason: &f.reason,
            estimate: f.estimate,
            lo: f.lo,
            hi: f.hi,
            confidence: f.confidence,
            sensitivity: f.sensitivity,
            more: f.more,
            shape: &self.report.shape,
            sessions: f.sessions,
            checkpoints: f.checkpoints,
            envelope: f.envelope,
            unit: self.report.unit,
            x_unit: f.x_unit,
        });
        self.report.budgets.push(BudgetCheck {
            kind: b.budget.kind,
            limit: b.budget.limit.bytes(),
            limit_text,
            outcome: f.outcome,
            estimate: f.estimate,
            lo: f.lo,
            hi: f.hi,
            line,
        });
        self.reasons.push(f.reason);
    }
}

/// `Some(why)` when the program wrote lines on its fd and none became a mark.
fn broken_stream(timeline: &Timeline) -> Option<String> {
    let d = &timeline.decode;
    if !timeline.marks.is_empty() || d.lines == 0 || d.lines == d.decoded {
        return None;
    }
    let first = d
        .problems
        .first()
        .map(|p| format!(", e.g. {p}"))
        .unwrap_or_default();
    Some(format!(
        "none of the program's {} lines on LEAKCHECK_FD became a mark{first}: a per-iteration budget needs marks; fix the stream (see crates/probe/README.md)",
        d.lines
    ))
}

/// Why a metric has no data, and how to get it when there is a way.
fn no_data_hint(metric: &str, timeline: &Timeline) -> String {
    match metric {
        metrics::PSS_TREE => {
            "PSS is sampled only when asked: `pss = true` in the config, or --pss".to_string()
        }
        metrics::GPU_PROCESS | metrics::GPU_DEVICE if !timeline.gpu_status.is_empty() => {
            format!("GPU {}", timeline.gpu_status)
        }
        m if m.starts_with("alloc.") => {
            "the program's marks carry no allocator statistics (a jemalloc build with the leakcheck probe sends them)".to_string()
        }
        _ => "the run never reported this metric".to_string(),
    }
}

/// When a growing metric in bytes reaches `limit` ([`leakcheck_analysis::forecast`]): on
/// the peaks' envelope under churn, else on the verdict's line through the steady state.
/// Only a series shaped `leak` is forecast; GPU memory has its device's limit, not this;
/// page cache (`*.file`, and `cgroup.current`, which counts it) is given back under
/// pressure, so its growth runs nothing out of memory: the usual container alert's error.
fn forecast(m: &MetricReport, a: &MetricAnalysis, limit: &MemoryLimit) -> Option<Forecast> {
    use leakcheck_analysis::forecast::{self as fc, PivotLine};
    let gpu = m.name.starts_with("gpu.") || m.name.starts_with("torch.cuda.");
    let reclaimable = m.name.ends_with(".file") || m.name == "cgroup.current";
    if m.unit != ValueUnit::Bytes || gpu || reclaimable || a.shape != Shape::Leak {
        return None;
    }
    let steady = m.points.get(a.warmup.index..)?;
    let (x, y): (Vec<f64>, Vec<f64>) = steady.iter().map(|p| (p[0], p[1])).unzip();
    let confidence = a.theil_sen.confidence;
    let line = match &a.churn {
        Some(c) => PivotLine::of_envelope(&c.upper, confidence),
        None => {
            let ts = &a.theil_sen;
            PivotLine::of_fit(&x, &y, (ts.intercept, ts.slope, ts.lo, ts.hi), confidence)
        }
    }?;
    // The sampling step: the first sample past the limit may come one step late.
    let mut steps: Vec<f64> = x.windows(2).map(|w| w[1] - w[0]).collect();
    steps.sort_by(f64::total_cmp);
    let step = steps.get(steps.len() / 2).copied().unwrap_or(0.0);
    let from = *x.last()?;
    let crossing = match fc::time_to_limit(&line, limit.bytes, from, step)? {
        fc::Crossing::In {
            estimate,
            earliest,
            latest,
        } => Crossing::In {
            estimate,
            earliest,
            latest,
        },
        fc::Crossing::Reached => Crossing::Reached,
    };
    Some(Forecast {
        limit: limit.clone(),
        from,
        crossing,
        confidence,
    })
}

fn fill_from_analysis(m: &mut MetricReport, a: &MetricAnalysis) {
    m.warmup_end_x = (a.warmup.index > 0).then_some(a.warmup.x);
    let steady: Vec<f64> = m.points.iter().skip(a.warmup.index).map(|p| p[0]).collect();
    if let Some(c) = &a.churn {
        // Judged by its envelopes: they are drawn instead of one fit.
        m.envelopes = [(Envelope::Lower, &c.lower), (Envelope::Upper, &c.upper)]
            .into_iter()
            .map(|(envelope, fit)| EnvelopeTrace {
                envelope,
                points: fit.x.iter().zip(&fit.y).map(|(&x, &y)| [x, y]).collect(),
                slope: fit.slope,
                intercept: fit.intercept,
                slope_lo: if envelope == Envelope::Lower {
                    fit.lo_sampled
                } else {
                    fit.lo
                },
                slope_hi: fit.hi,
                period: c.period,
            })
            .collect();
    }
    if !steady.is_empty() {
        let ts = &a.theil_sen;
        // The band pivots on the centre of the steady state's x range of samples.
        let x_center = steady.iter().sum::<f64>() / steady.len() as f64;
        m.fit = Some(FitLine {
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
    m.retained_per_session = a.checkpoint_retained.as_ref().and_then(|c| {
        let fit = c.per_checkpoint.as_ref()?;
        Some(PerSession {
            slope: fit.slope,
            lo: fit.lo,
            hi: fit.hi,
            confidence: fit.confidence,
            checkpoints: c.checkpoints,
        })
    });
    m.stats = Some(crate::stats::of_analysis(a));
}

/// The levels retained memory was judged on, placed on the plot's x axis: the median
/// reading of each checkpoint (what [`leakcheck_analysis::retained`] takes the levels
/// from), or without checkpoints each session's start level (the median of its first three
/// samples, the session-start retained memory).
fn retained_levels(
    metric: &str,
    a: &MetricAnalysis,
    timeline: &Timeline,
    x_unit: XUnit,
) -> Vec<CheckpointLevel> {
    if let Some(c) = &a.checkpoint_retained {
        let places = timeline.checkpoint_xs(x_unit);
        // The analysis was handed exactly these readings (checkpoints without any are
        // left out), so its levels are theirs, in order.
        return timeline
            .checkpoint_levels(metric)
            .iter()
            .zip(&c.levels)
            .filter_map(|((id, readings), &level)| {
                let (_, label, x) = places.iter().find(|p| p.0 == *id)?;
                Some(CheckpointLevel {
                    x: *x,
                    level,
                    readings: readings.len(),
                    kind: LevelKind::Checkpoint,
                    label: (!label.is_empty()).then(|| label.clone()),
                })
            })
            .collect();
    }
    if a.retained.is_none() {
        return Vec::new();
    }
    a.sessions
        .iter()
        .map(|s| CheckpointLevel {
            x: s.start_x,
            level: s.start_level,
            readings: s.points.min(3),
            kind: LevelKind::SessionStart,
            label: None,
        })
        .collect()
}

/// RSS (or jemalloc resident) growing while `allocated` stays flat is fragmentation,
/// not a leak: relabel the resident-side metrics when both were analysed.
fn mark_fragmentation(judged: &mut [JudgedMetric]) {
    let Some(allocated) = judged
        .iter()
        .find(|m| m.report.name == metrics::ALLOC_ALLOCATED)
        .and_then(|m| m.analysis.clone())
    else {
        return;
    };
    let resident_side = [metrics::RSS, metrics::RSS_TREE, metrics::ALLOC_RESIDENT];
    for m in judged.iter_mut() {
        if let Some(a) = &m.analysis
            && resident_side.contains(&m.report.name.as_str())
            && classify_fragmentation(a, &allocated) == Shape::Fragmentation
        {
            m.report.shape = Shape::Fragmentation.to_string();
        }
    }
}
