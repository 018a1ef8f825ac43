//! The difference of two runs' estimates (B − A), with an interval, and what it says.
//!
//! Each run's slope comes with its own interval, already widened for that run's
//! autocorrelation (Sen's interval with Var(S) inflated, see [`crate::theil_sen`]); the runs
//! are independent of each other. The interval of the difference is built from the two
//! intervals by MOVER, the "method of variance estimates recovery" (Zou & Donner 2008,
//! "Construction of confidence limits about effect measures: a general approach",
//! *Statistics in Medicine* 27(10)): with estimates `a` (lo `la`, hi `ua`) and `b` (`lb`,
//! `ub`) at the same confidence,
//!
//! ```text
//! L = (b − a) − √((b − lb)² + (ua − a)²)
//! U = (b − a) + √((ub − b)² + (a − la)²)
//! ```
//!
//! Each side recovers a variance from the half-width facing it, so an asymmetric interval
//! (Theil–Sen's usually is) keeps its shape; with symmetric normal intervals it is exactly
//! the Welch-type `(b − a) ± z·√(se_a² + se_b²)`. Intervals at different confidences (two
//! runs stopped at different looks) are first brought to the comparison's confidence by
//! scaling each half-width by the ratio of the normal quantiles.
//!
//! Two runs differ by more than each run's own noise: thread timings set where a
//! loader's staircase steps fall, the allocator starts from another state, a run stops at
//! another look. That run-to-run part is constant within a run, so no single run's
//! interval can see it. [`between_runs`] therefore widens each run's half-widths by
//! [`RUN_TO_RUN_FACTOR`] before MOVER, allowing a run-to-run variance up to three times
//! the within-run one. The factor is measured, not assumed: over 40 pairs of replicate
//! loader runs (20 fixed, 20 leaky, `scripts/compare_bench.sh`), the plain MOVER interval
//! called 10 of the 40 pairs significantly different on some metric (a 99 % interval
//! should, about 1 in 100 per metric); widened by 1.5, 2 pairs; by 2, none. A fresh bench
//! after choosing it is in the README.
//!
//! A difference is [`Change::Worse`] when its whole interval lies above the tolerance,
//! [`Change::Better`] when it lies below minus the tolerance, and
//! [`Change::NoSignificantDifference`] otherwise; [`Change::Undecided`] when an interval is
//! missing or not finite (a run too short for a fit).

use serde::{Deserialize, Serialize};

pub use leakcheck_vocab::Change;
use leakcheck_vocab::{BudgetKind, XUnit};

use crate::normal;

/// One run's estimate with its interval at `confidence`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub estimate: f64,
    pub lo: f64,
    pub hi: f64,
    pub confidence: f64,
}

impl Estimate {
    /// The same estimate with its half-widths scaled to `confidence` (normal quantiles).
    pub fn at_confidence(self, confidence: f64) -> Estimate {
        if self.confidence == confidence || !(0.0..1.0).contains(&self.confidence) {
            return Estimate { confidence, ..self };
        }
        let ratio = normal::two_sided(confidence) / normal::two_sided(self.confidence);
        Estimate {
            estimate: self.estimate,
            lo: self.estimate - (self.estimate - self.lo) * ratio,
            hi: self.estimate + (self.hi - self.estimate) * ratio,
            confidence,
        }
    }

    /// The same estimate with both half-widths multiplied by `factor`.
    pub fn widened(self, factor: f64) -> Estimate {
        Estimate {
            lo: self.estimate - (self.estimate - self.lo) * factor,
            hi: self.estimate + (self.hi - self.estimate) * factor,
            ..self
        }
    }

    fn is_finite(&self) -> bool {
        self.estimate.is_finite() && self.lo.is_finite() && self.hi.is_finite()
    }
}

/// B − A with its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    pub estimate: f64,
    pub lo: f64,
    pub hi: f64,
    pub confidence: f64,
}

/// B − A of two independent estimates (MOVER), at `confidence`; `None` when either is not
/// finite.
pub fn difference(a: Estimate, b: Estimate, confidence: f64) -> Option<Difference> {
    let (a, b) = (a.at_confidence(confidence), b.at_confidence(confidence));
    if !a.is_finite() || !b.is_finite() {
        return None;
    }
    let d = b.estimate - a.estimate;
    let below = (b.estimate - b.lo)
        .max(0.0)
        .hypot((a.hi - a.estimate).max(0.0));
    let above = (b.hi - b.estimate)
        .max(0.0)
        .hypot((a.estimate - a.lo).max(0.0));
    Some(Difference {
        estimate: d,
        lo: d - below,
        hi: d + above,
        confidence,
    })
}

/// Each run's interval is widened this much before two runs are differenced (see the
/// module's doc).
pub const RUN_TO_RUN_FACTOR: f64 = 2.0;

/// B − A of two runs' estimates: [`difference`] after widening each run's interval by
/// [`RUN_TO_RUN_FACTOR`] for what varies between runs.
pub fn between_runs(a: Estimate, b: Estimate, confidence: f64) -> Option<Difference> {
    difference(
        a.widened(RUN_TO_RUN_FACTOR),
        b.widened(RUN_TO_RUN_FACTOR),
        confidence,
    )
}

/// Classify a difference against a tolerance (in the quantity's own unit, ≥ 0).
pub fn classify(d: Option<&Difference>, tolerance: f64) -> Change {
    let Some(d) = d.filter(|d| d.lo.is_finite() && d.hi.is_finite()) else {
        return Change::Undecided;
    };
    let tolerance = tolerance.max(0.0);
    if d.lo > tolerance {
        Change::Worse
    } else if d.hi < -tolerance {
        Change::Better
    } else {
        Change::NoSignificantDifference
    }
}

/// How much worse counts: a fraction of the reference's magnitude, or an amount in the
/// quantity's unit: a rate (bytes or counts per x unit) for slopes, a size for growth,
/// peak and retained. An amount applies only to the quantities of its own kind and x unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tolerance {
    Relative(f64),
    /// A rate per `XUnit` (for slopes).
    Rate(f64, XUnit),
    /// A size (for growth, peak and retained).
    Size(f64),
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance::Relative(0.0)
    }
}

impl Tolerance {
    /// `25%` (relative); the caller parses sizes and rates with units.
    pub fn parse_relative(text: &str) -> Option<Tolerance> {
        let number = text.trim().strip_suffix('%')?.trim();
        let value: f64 = number.parse().ok()?;
        (value.is_finite() && value >= 0.0).then_some(Tolerance::Relative(value / 100.0))
    }

    /// Whether it can apply to a quantity of `kind` on a series per `x_unit`: a rate to
    /// slopes per the same unit, a size to the others, a percentage to all.
    pub fn fits(self, kind: BudgetKind, x_unit: XUnit) -> bool {
        match self {
            Tolerance::Relative(_) => true,
            Tolerance::Rate(_, per) => kind == BudgetKind::Slope && per == x_unit,
            Tolerance::Size(_) => kind != BudgetKind::Slope,
        }
    }

    /// The tolerance in the quantity's unit, for a reference estimate; 0 (no tolerance)
    /// for a quantity it does not fit ([`Tolerance::fits`]).
    pub fn amount(self, kind: BudgetKind, x_unit: XUnit, reference: f64) -> f64 {
        match self {
            _ if !self.fits(kind, x_unit) => 0.0,
            Tolerance::Relative(f) if reference.is_finite() => f * reference.abs(),
            Tolerance::Relative(_) => 0.0,
            Tolerance::Rate(a, _) | Tolerance::Size(a) => a,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est(estimate: f64, lo: f64, hi: f64) -> Estimate {
        Estimate {
            estimate,
            lo,
            hi,
            confidence: 0.99,
        }
    }

    #[test]
    fn a_difference_is_worse_only_beyond_the_tolerance() {
        let a = est(10.0, 9.0, 11.0);
        let b = est(14.0, 13.0, 15.0);
        let d = difference(a, b, 0.99).unwrap();
        assert_eq!(d.estimate, 4.0);
        assert_eq!(classify(Some(&d), 0.0), Change::Worse);
        assert_eq!(classify(Some(&d), 3.0), Change::NoSignificantDifference);
        let back = difference(b, a, 0.99).unwrap();
        assert_eq!(classify(Some(&back), 0.0), Change::Better);
        assert_eq!(classify(None, 0.0), Change::Undecided);
    }

    #[test]
    fn combining_puts_worse_first_then_undecided_then_better() {
        use Change::*;
        assert_eq!(Change::combine([Better, NoSignificantDifference]), Better);
        assert_eq!(Change::combine([Better, Undecided]), Undecided);
        assert_eq!(Change::combine([Undecided, Worse, Better]), Worse);
        assert_eq!(Change::combine([]), NoSignificantDifference);
    }

    #[test]
    fn between_runs_widens_each_interval_before_mover() {
        let (a, b) = (est(10.0, 9.0, 11.0), est(12.5, 11.5, 13.5));
        let plain = difference(a, b, 0.99).unwrap();
        let wide = between_runs(a, b, 0.99).unwrap();
        assert_eq!(wide.estimate, plain.estimate);
        let half = |d: &Difference| d.hi - d.estimate;
        assert!((half(&wide) - RUN_TO_RUN_FACTOR * half(&plain)).abs() < 1e-12);
        assert_eq!(classify(Some(&plain), 0.0), Change::Worse);
        assert_eq!(classify(Some(&wide), 0.0), Change::NoSignificantDifference);
    }

    #[test]
    fn relative_tolerances_parse_and_scale_with_the_reference() {
        assert_eq!(
            Tolerance::parse_relative("25%"),
            Some(Tolerance::Relative(0.25))
        );
        assert_eq!(Tolerance::parse_relative("-5%"), None);
        assert_eq!(Tolerance::parse_relative("25"), None);
        let (slope, it) = (BudgetKind::Slope, XUnit::Iteration);
        assert_eq!(Tolerance::Relative(0.25).amount(slope, it, -8.0), 2.0);
        assert_eq!(Tolerance::Rate(3.0, it).amount(slope, it, 100.0), 3.0);
        // An amount of the wrong kind or unit never applies (regression:
        // a_tolerance_in_the_wrong_unit_is_refused, which hid a +29 KiB/iter regression).
        assert_eq!(
            Tolerance::Rate(3.0, XUnit::Second).amount(slope, it, 100.0),
            0.0
        );
        assert_eq!(Tolerance::Size(3.0).amount(slope, it, 100.0), 0.0);
        assert_eq!(
            Tolerance::Size(3.0).amount(BudgetKind::Retained, it, 100.0),
            3.0
        );
    }
}
