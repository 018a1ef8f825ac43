//! Two judged runs side by side: `leakcheck compare A B`, and the gate's ratchet against a
//! baseline ([`crate::baseline`]). Both reduce a metric to the same [`Quantities`] and
//! difference them the same way ([`leakcheck_analysis::difference`]).

use leakcheck_analysis::{Change, Estimate, Tolerance, between_runs, classify};
use leakcheck_summary::words::{compare_headline, diff_line};
use leakcheck_summary::{
    COMPARE_SCHEMA_VERSION, CompareReport, ComparedRun, Interval, MetricComparison, MetricReport,
    QuantityDiff,
};
use leakcheck_vocab::{BudgetKind, ValueUnit, XUnit};
use serde::{Deserialize, Serialize};

/// What a run says of one metric: the quantities a comparison or a baseline holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Quantities {
    /// The slope with its interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slope: Option<Interval>,
    /// Growth after warm-up (slope × the steady state's span), with its interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub growth: Option<Interval>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak: Option<f64>,
    /// Retained memory: between checkpoints with an interval, else between sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retained: Option<Interval>,
}

impl Quantities {
    /// Read off a judged metric: the fit, and the numbers under `stats`.
    pub fn of(m: &MetricReport) -> Quantities {
        let slope = m.fit.as_ref().map(|f| Interval {
            estimate: f.slope,
            lo: f.slope_lo,
            hi: f.slope_hi,
            confidence: f.confidence,
        });
        // A number the file writes as `null` (NaN, infinite) is no quantity.
        let known = |v: f64| v.is_finite().then_some(v);
        let stats = m.stats.as_ref();
        let growth = stats.and_then(|s| {
            Some(Interval {
                estimate: known(s.growth)?,
                lo: s.growth_lo,
                hi: s.growth_hi,
                confidence: slope.map_or(f64::NAN, |s| s.confidence),
            })
        });
        let retained = stats.and_then(|s| match &s.checkpoint_retained {
            Some(c) => Some(Interval {
                estimate: known(c.estimate)?,
                lo: c.lo,
                hi: c.hi,
                confidence: c.confidence,
            }),
            None => s.retained.and_then(known).map(Interval::point),
        });
        Quantities {
            slope,
            growth,
            peak: m.peak.is_finite().then_some(m.peak),
            retained,
        }
    }

    /// The quantity a budget of `kind` limits.
    pub fn get(&self, kind: BudgetKind) -> Option<Interval> {
        match kind {
            BudgetKind::Slope => self.slope,
            BudgetKind::Growth => self.growth,
            BudgetKind::Peak => self.peak.map(Interval::point),
            BudgetKind::Retained => self.retained,
        }
    }
}

/// How one quantity is to be differenced.
#[derive(Debug, Clone, Copy)]
pub struct DiffSpec<'a> {
    pub metric: &'a str,
    pub kind: BudgetKind,
    pub unit: ValueUnit,
    pub x_unit: XUnit,
    pub tolerance: Tolerance,
    pub tolerance_text: &'a str,
    pub confidence: f64,
    /// Judge it (slopes, retained) or only show it (peaks, growth over other lengths).
    pub judged: bool,
    /// What A is called in the line (`A`, `baseline`).
    pub reference: &'a str,
}

/// B − A of one quantity, classified when it is judged and both runs give an interval.
pub fn diff_quantity(spec: &DiffSpec<'_>, a: Interval, b: Interval) -> QuantityDiff {
    let bounded = a.has_bounds() && b.has_bounds();
    let d = bounded
        .then(|| between_runs(estimate(a), estimate(b), spec.confidence))
        .flatten();
    let tolerance = spec.tolerance.amount(spec.kind, spec.x_unit, a.estimate);
    let change = spec.judged.then(|| classify(d.as_ref(), tolerance));
    let difference = d.map_or(Interval::point(b.estimate - a.estimate), |d| Interval {
        estimate: d.estimate,
        lo: d.lo,
        hi: d.hi,
        confidence: d.confidence,
    });
    let mut q = QuantityDiff {
        metric: spec.metric.to_string(),
        quantity: spec.kind,
        unit: spec.unit,
        x_unit: spec.x_unit,
        a,
        b,
        difference,
        tolerance,
        tolerance_text: spec.tolerance_text.to_string(),
        change,
        line: String::new(),
    };
    q.line = diff_line(&q, spec.reference);
    q
}

fn estimate(i: Interval) -> Estimate {
    Estimate {
        estimate: i.estimate,
        lo: i.lo,
        hi: i.hi,
        confidence: i.confidence,
    }
}

/// `leakcheck compare`: every metric in both runs; slopes and checkpoint-retained memory
/// are judged, growth and peak shown.
pub fn compare(
    a: ComparedRun,
    b: ComparedRun,
    tolerance: Tolerance,
    tolerance_text: &str,
    confidence: f64,
) -> CompareReport {
    let mut notes = Vec::new();
    if a.scenario != b.scenario {
        notes.push(format!(
            "the runs are of different scenarios ({} and {})",
            a.scenario, b.scenario
        ));
    }
    let mut metrics = Vec::new();
    for ma in &a.report.metrics {
        let Some(mb) = b.report.metrics.iter().find(|m| m.name == ma.name) else {
            notes.push(format!("{} is only in A", ma.name));
            continue;
        };
        if a.x_unit != b.x_unit {
            notes.push(format!(
                "{} is per {} in A and per {} in B: slopes not compared",
                ma.name, a.x_unit, b.x_unit
            ));
        }
        let (qa, qb) = (Quantities::of(ma), Quantities::of(mb));
        let mut quantities = Vec::new();
        for kind in BudgetKind::ALL {
            let (Some(va), Some(vb)) = (qa.get(kind), qb.get(kind)) else {
                continue;
            };
            if kind == BudgetKind::Slope && a.x_unit != b.x_unit {
                continue;
            }
            let judged = match kind {
                BudgetKind::Slope => true,
                BudgetKind::Retained => va.has_bounds() && vb.has_bounds(),
                BudgetKind::Growth | BudgetKind::Peak => false,
            };
            let spec = DiffSpec {
                metric: &ma.name,
                kind,
                unit: ma.unit,
                x_unit: a.x_unit,
                tolerance,
                tolerance_text,
                confidence,
                judged,
                reference: "A",
            };
            quantities.push(diff_quantity(&spec, va, vb));
        }
        // A metric without a slope in one run (too short for a fit) cannot be judged.
        if qa.slope.is_none() != qb.slope.is_none() {
            notes.push(format!(
                "{} has no fitted slope in {}: undecided",
                ma.name,
                if qa.slope.is_none() { "A" } else { "B" }
            ));
            quantities.retain(|q| q.quantity != BudgetKind::Slope);
        }
        let judged: Vec<Change> = quantities.iter().filter_map(|q| q.change).collect();
        // Nothing to judge (neither run has a fit) decides nothing either way.
        let verdict = if qa.slope.is_none() != qb.slope.is_none() || judged.is_empty() {
            Change::Undecided
        } else {
            Change::combine(judged)
        };
        metrics.push(MetricComparison {
            name: ma.name.clone(),
            unit: ma.unit,
            verdict,
            quantities,
        });
    }
    for mb in &b.report.metrics {
        if !a.report.metrics.iter().any(|m| m.name == mb.name) {
            notes.push(format!("{} is only in B", mb.name));
        }
    }
    if tolerance_is_a_size(tolerance) && metrics.iter().any(has_slope) {
        notes.push(format!(
            "the tolerance {tolerance_text} is a size: slopes are compared without one (give a rate, e.g. 4KiB/{}, or a percentage)",
            a.x_unit.suffix()
        ));
    }
    let mut verdict = if metrics.is_empty() {
        Change::Undecided
    } else {
        Change::combine(metrics.iter().map(|m| m.verdict))
    };
    let mut headline = compare_headline(verdict, &metrics);
    if metrics.is_empty() {
        let names = |r: &ComparedRun| {
            let names: Vec<&str> = r.report.metrics.iter().map(|m| m.name.as_str()).collect();
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        };
        headline = format!(
            "undecided: the runs have no metric in common (A has {}; B has {})",
            names(&a),
            names(&b)
        );
    }
    // A run that did not complete may say B is worse (its data already shows it), never
    // that B is better or the same: what it did not run could differ.
    let incomplete = incomplete_sides(&a, &b);
    if !incomplete.is_empty() && verdict != Change::Worse {
        verdict = Change::Undecided;
        headline = format!("undecided: {}", incomplete.join("; "));
    }
    notes.extend(incomplete);
    CompareReport {
        schema_version: COMPARE_SCHEMA_VERSION,
        headline,
        a,
        b,
        confidence,
        tolerance: tolerance_text.to_string(),
        verdict,
        metrics,
        notes,
    }
}

/// `A did not complete: it crashed at iteration 299 (signal 6): SIGABRT`, for each side
/// that did not.
pub fn incomplete_sides(a: &ComparedRun, b: &ComparedRun) -> Vec<String> {
    [("A", a), ("B", b)]
        .into_iter()
        .filter(|(_, r)| !r.report.status.is_complete())
        .map(|(side, r)| format!("{side} did not complete: it {}", r.report.status.describe()))
        .collect()
}

fn tolerance_is_a_size(t: Tolerance) -> bool {
    matches!(t, Tolerance::Size(_))
}

fn has_slope(m: &MetricComparison) -> bool {
    m.quantities.iter().any(|q| q.quantity == BudgetKind::Slope)
}
