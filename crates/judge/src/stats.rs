//! Copies an analysis into `summary.json`'s own types ([`leakcheck_summary::stats`]).
//!
//! Each analysis struct is taken apart by a pattern that names every field ([`copy`]), so a
//! field the analysis adds fails to compile here until someone decides whether the file
//! shows it (a file change, which bumps `SCHEMA_VERSION`) or not.

use leakcheck_analysis as an;
use leakcheck_summary::stats;

/// `copy!(value, an::From => stats::To { same, ...; converted: function, ... })`: the
/// fields listed first are cloned as they are, the others passed through their function.
/// The pattern lists every field without `..`, which is what keeps the copy exhaustive.
macro_rules! copy {
    ($value:expr, $from:path => $to:path { $($same:ident),* $(; $($conv:ident: $f:expr),* )? }) => {{
        let $from { $($same,)* $($($conv,)*)? } = $value;
        $to { $($same: $same.clone(),)* $($($conv: $f($conv),)*)? }
    }};
}

/// The file's record of one metric's analysis.
pub(crate) fn of_analysis(a: &an::MetricAnalysis) -> stats::Analysis {
    copy!(a, an::MetricAnalysis => stats::Analysis {
        metric, n, x_unit, retained, peak, growth, growth_lo, growth_hi, sensitivity, fall;
        warmup: warm_up,
        ols: slope,
        theil_sen: slope,
        trend: trend_test,
        late: |l: &Option<_>| l.as_ref().map(slope),
        shape: ToString::to_string,
        sessions: |s: &Vec<_>| s.iter().map(session).collect(),
        churn: |c: &Option<_>| c.as_ref().map(churn_of),
        checkpoint_retained: |c: &Option<_>| c.as_ref().map(retained_of),
        verdicts: |v: &Vec<_>| v.iter().map(verdict).collect()
    })
}

fn warm_up(w: &an::WarmUpCut) -> stats::WarmUpCut {
    copy!(w, an::WarmUpCut => stats::WarmUpCut { index, x, no_steeper })
}

fn slope(s: &an::SlopeEstimate) -> stats::SlopeFit {
    copy!(s, an::SlopeEstimate => stats::SlopeFit {
        slope, intercept, lo, hi, confidence, method, points
    })
}

fn trend_test(t: &an::MannKendall) -> stats::TrendTest {
    copy!(t, an::MannKendall => stats::TrendTest {
        s, var_s, correction_hamed_rao, correction_lead, correction, z, p, z_hamed_rao,
        p_hamed_rao, tau, n
    })
}

fn session(s: &an::SessionStats) -> stats::Session {
    copy!(s, an::SessionStats => stats::Session {
        index, start_x, end_x, points, start_level, peak, end_level, retained
    })
}

fn churn_of(c: &an::Churn) -> stats::Churn {
    copy!(c, an::Churn => stats::Churn {
        period, acf, windows; lower: envelope, upper: envelope, mean: envelope
    })
}

fn envelope(e: &an::EnvelopeFit) -> stats::EnvelopeFit {
    copy!(e, an::EnvelopeFit => stats::EnvelopeFit {
        x, y, step, slope, intercept, lo, hi, scatter, sampling, lo_sampled, lo_small
    })
}

fn retained_of(c: &an::CheckpointRetained) -> stats::CheckpointRetained {
    copy!(c, an::CheckpointRetained => stats::CheckpointRetained {
        checkpoints, estimate, lo, hi, confidence, levels;
        per_checkpoint: |p: &Option<_>| p.as_ref().map(slope)
    })
}

fn verdict(v: &an::Verdict) -> stats::Verdict {
    copy!(v, an::Verdict => stats::Verdict {
        outcome, estimate, lo, hi, sensitivity, more_iterations, reason, envelope;
        budget: budget_of
    })
}

fn budget_of(b: &an::Budget) -> stats::Budget {
    copy!(b, an::Budget => stats::Budget { kind, unit; limit: limit_of })
}

fn limit_of(q: &an::Quantity) -> stats::Limit {
    match *q {
        an::Quantity::Bytes(bytes) => stats::Limit::Bytes(bytes),
        an::Quantity::Rate { bytes, per } => stats::Limit::Rate { bytes, per },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakcheck_analysis::{Budget, BudgetKind, Quantity, Series, XUnit, analyze_metric_with};

    /// The analyses of a leak, a churning series with checkpoints' worth of sessions, and
    /// a series too short to fit, with every budget kind.
    fn analyses() -> Vec<an::MetricAnalysis> {
        let budgets = [
            Budget {
                kind: BudgetKind::Slope,
                limit: Quantity::Rate {
                    bytes: 1024.0,
                    per: XUnit::Iteration,
                },
                unit: Default::default(),
            },
            Budget {
                kind: BudgetKind::Growth,
                limit: Quantity::Bytes(1e6),
                unit: Default::default(),
            },
            Budget {
                kind: BudgetKind::Peak,
                limit: Quantity::Bytes(1e9),
                unit: Default::default(),
            },
            Budget {
                kind: BudgetKind::Retained,
                limit: Quantity::Bytes(1e6),
                unit: Default::default(),
            },
        ];
        let leak: Vec<f64> = (0..300)
            .map(|i| 1e8 + 4096.0 * i as f64 + ((i * 7919) % 13) as f64 * 1e4)
            .collect();
        let churn: Vec<f64> = (0..400)
            .map(|i| 5e7 + if i % 40 < 20 { 3e7 } else { 0.0 } + 100.0 * i as f64)
            .collect();
        let short = vec![1e6, 2e6, 1.5e6];
        [leak, churn, short]
            .into_iter()
            .enumerate()
            .filter_map(|(k, y)| {
                let x: Vec<f64> = (0..y.len()).map(|i| i as f64).collect();
                let series = Series::new(x, y).ok()?;
                let checkpoints = [vec![1e6, 1.1e6], vec![], vec![1.2e6, f64::NAN], vec![1.3e6]];
                let checkpoints = if k == 1 { &checkpoints[..] } else { &[] };
                analyze_metric_with(
                    &format!("m{k}"),
                    &series,
                    &[0.0, 100.0, 200.0],
                    checkpoints,
                    &budgets,
                    &Default::default(),
                )
                .ok()
            })
            .map(|mut a| {
                if a.metric == "m2" {
                    // Unknown numbers, as a degenerate series gives them: written as null.
                    (a.growth, a.ols.lo, a.trend.p) = (f64::NAN, f64::NAN, f64::INFINITY);
                }
                a
            })
            .collect()
    }

    /// The file's record writes exactly what serialising the analysis itself wrote
    /// before the file had types of its own: same keys, order, numbers and nulls.
    #[test]
    fn the_files_own_types_write_the_analysis_byte_for_byte() {
        let all = analyses();
        assert!(all.len() >= 2, "the fixtures analyse");
        assert!(all.iter().any(|a| a.churn.is_some()), "one churns");
        assert!(
            all.iter().any(|a| a.growth.is_nan()),
            "one has unknown numbers"
        );
        for a in &all {
            let before = serde_json::to_string_pretty(a).unwrap();
            let after = serde_json::to_string_pretty(&of_analysis(a)).unwrap();
            assert_eq!(after, before, "{}", a.metric);
            let back: stats::Analysis = serde_json::from_str(&after).unwrap();
            assert_eq!(serde_json::to_string_pretty(&back).unwrap(), before);
        }
    }
}
