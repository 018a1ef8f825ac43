//! Sequential decisions: judging a run while it goes, without inflating false alarms.
//!
//! A run may be looked at several times (at "looks"), and stopped at the first look where
//! every budget is decided. Judging each look at the full 99 % would make a false verdict
//! likelier with every look. So the error α = 1 − confidence is *spent* across the looks
//! (Lan & DeMets 1983, "Discrete sequential boundaries for clinical trials", *Biometrika*
//! 70(3)) with the Pocock-type spending function
//!
//! ```text
//! α*(t) = α · ln(1 + (e − 1) · t),   t = length / maximum length
//! ```
//!
//! and look k is judged at the confidence `1 − (α*(t_k) − α*(t_{k−1}))`. The increments sum
//! to α, so by the union bound the chance that *any* look decides wrongly is at most α,
//! whatever the correlation between looks (exact group-sequential boundaries would be a
//! little narrower; this is the conservative form). The last look, at the maximum or where
//! the run ended, spends what is left. Pocock's shape spends early, which is what a leak
//! gate wants: a clear leak stops within the first looks; O'Brien–Fleming's shape would
//! keep almost all of α for the end.
//!
//! Looks sit on a geometric grid `minimum · 1.5^k` (few looks: each spends less the more
//! there are). Looks below the minimum length may only fail (a leak can be certain early;
//! a pass needs the minimum length, and the judge fails a run at an interim look only
//! on a metric shaped `leak`, whose second half confirms the growth); the grid starts at
//! [`FIRST_LOOK_ITERATIONS`] iterations ([`FIRST_LOOK_SECONDS`] seconds) or at 1/32 of
//! the maximum, whichever is more.

use serde::{Deserialize, Serialize};

pub use leakcheck_vocab::Look;
use leakcheck_vocab::XUnit;

/// Successive looks are this factor apart in length.
pub const LOOK_RATIO: f64 = 1.5;

/// No look before this many iterations: fewer cannot tell a leak from a cache still
/// filling.
pub const FIRST_LOOK_ITERATIONS: f64 = 50.0;

/// No look before this many seconds (40 samples at the default 20 Hz).
pub const FIRST_LOOK_SECONDS: f64 = 2.0;

/// How long a run may go and when it may be judged: lengths in iterations (marks) or
/// seconds since the start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LookPlan {
    pub unit: XUnit,
    /// A pass needs at least this length.
    pub min: f64,
    /// The run is stopped here, decided or not.
    pub max: f64,
    /// The overall confidence the looks share (e.g. 0.99).
    pub confidence: f64,
}

impl LookPlan {
    /// The lengths of the looks, increasing, the last one the maximum.
    pub fn lengths(&self) -> Vec<f64> {
        let max = self.max.max(1e-9);
        let min = self.min.clamp(0.0, max);
        // The grid runs through the minimum (the first look that may pass).
        let first = match self.unit {
            XUnit::Iteration => FIRST_LOOK_ITERATIONS,
            XUnit::Second => FIRST_LOOK_SECONDS,
        };
        let anchor = if min > 0.0 { min } else { first.min(max) };
        let floor = first.max(max / 32.0).min(anchor);
        let mut length = anchor;
        while length / LOOK_RATIO >= floor {
            length /= LOOK_RATIO;
        }
        let mut out = Vec::new();
        while length < max * (1.0 - 1e-9) {
            out.push(length);
            length *= LOOK_RATIO;
        }
        out.push(max);
        out
    }

    /// α spent by length `length`.
    pub fn spent(&self, length: f64) -> f64 {
        let alpha = 1.0 - self.confidence;
        let t = if self.max > 0.0 {
            (length / self.max).clamp(0.0, 1.0)
        } else {
            1.0
        };
        alpha * (1.0 + (std::f64::consts::E - 1.0) * t).ln()
    }

    /// Every look of the plan, with its confidence. The last spends all that is left.
    pub fn looks(&self) -> Vec<Look> {
        let lengths = self.lengths();
        let of = lengths.len();
        let mut before = 0.0;
        lengths
            .iter()
            .enumerate()
            .map(|(i, &length)| {
                let spent = if i + 1 == of {
                    1.0 - self.confidence
                } else {
                    self.spent(length)
                };
                let look = Look {
                    index: i + 1,
                    of,
                    length,
                    unit: self.unit,
                    confidence: 1.0 - (spent - before),
                    may_pass: length >= self.min,
                };
                before = spent;
                look
            })
            .collect()
    }

    /// The look at the end of a run that stopped before the maximum, after the interim
    /// looks `done`: it spends what those left.
    pub fn final_look(&self, done: &[Look], length: f64) -> Look {
        let before = done.last().map_or(0.0, |l| self.spent(l.length));
        Look {
            index: done.len() + 1,
            of: self.lengths().len(),
            length,
            unit: self.unit,
            confidence: self.confidence + before,
            may_pass: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(min: f64, max: f64) -> LookPlan {
        LookPlan {
            unit: XUnit::Iteration,
            min,
            max,
            confidence: 0.99,
        }
    }

    #[test]
    fn looks_spend_exactly_alpha_and_start_below_the_minimum() {
        let p = plan(200.0, 2000.0);
        let looks = p.looks();
        let lengths: Vec<u64> = looks.iter().map(|l| l.length.round() as u64).collect();
        assert_eq!(lengths, [89, 133, 200, 300, 450, 675, 1013, 1519, 2000]);
        let total: f64 = looks.iter().map(|l| 1.0 - l.confidence).sum();
        assert!((total - 0.01).abs() < 1e-12, "{total}");
        assert!(!looks[1].may_pass && looks[2].may_pass);
        // A fixed length: fail-only looks, then the run's own end.
        let fixed: Vec<u64> = plan(500.0, 500.0)
            .lengths()
            .iter()
            .map(|l| l.round() as u64)
            .collect();
        assert_eq!(fixed, [66, 99, 148, 222, 333, 500]);
    }

    #[test]
    fn a_run_that_ends_early_spends_the_rest_at_its_end() {
        let p = plan(200.0, 2000.0);
        let looks = p.looks();
        let last = p.final_look(&looks[..3], 250.0);
        let total: f64 =
            looks[..3].iter().map(|l| 1.0 - l.confidence).sum::<f64>() + (1.0 - last.confidence);
        assert!((total - 0.01).abs() < 1e-12, "{total}");
        assert_eq!(last.index, 4);
    }
}
