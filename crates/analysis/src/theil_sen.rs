//! Theil–Sen slope with Sen's (1968) rank interval.
//!
//! Theil (1950), Sen (1968) "Estimates of the regression coefficient based on
//! Kendall's tau", JASA 63(324): the slope is the median of all pairwise
//! slopes; the interval takes the order statistics of those slopes at
//! `(N ∓ z·σ_S)/2`, σ_S² being the variance of Kendall's S (eq. 2.6, with
//! tie corrections). With `var_inflation = 1` this is exactly
//! `scipy.stats.theilslopes` (method "separate", same rounding). The
//! interval is the inversion of the Mann–Kendall test on `y - βx`, so
//! inflating σ_S² by the Hamed–Rao factor of the residuals gives the
//! autocorrelation-robust interval the verdicts use.

use crate::normal;
use crate::slope::SlopeEstimate;

/// All pairwise slopes of a series (x strictly increasing), ready for
/// order statistics. O(n²) memory: callers bin long series first.
#[derive(Debug)]
pub struct PairSlopes {
    slopes: Vec<f64>,
    /// Σ t(t-1)(2t+5) over tie groups of x and of y.
    ties: f64,
    n: usize,
    median: f64,
    intercept: f64,
}

impl PairSlopes {
    /// Extra values in the longer of `x` and `y` are ignored.
    pub fn new(x: &[f64], y: &[f64]) -> PairSlopes {
        let n = x.len().min(y.len());
        let (x, y) = (&x[..n], &y[..n]);
        let mut slopes = Vec::with_capacity(n * n.saturating_sub(1) / 2);
        for i in 0..n {
            for j in i + 1..n {
                let dx = x[j] - x[i];
                if dx > 0.0 {
                    slopes.push((y[j] - y[i]) / dx);
                }
            }
        }
        let ties = tie_term(x) + tie_term(y);
        let median = median_in_place(&mut slopes);
        let intercept = median_of(y) - median * median_of(x);
        PairSlopes {
            slopes,
            ties,
            n,
            median,
            intercept,
        }
    }

    pub fn slope(&self) -> f64 {
        self.median
    }

    /// Sen's interval with Var(S) multiplied by `var_inflation` (>= 1 for
    /// autocorrelated residuals). Bounds are clamped to the extreme slopes
    /// like scipy when the ranks fall outside.
    pub fn estimate(&mut self, confidence: f64, var_inflation: f64, method: &str) -> SlopeEstimate {
        let nt = self.slopes.len();
        let (lo, hi) = if nt == 0 {
            (self.median, self.median)
        } else {
            let n = self.n as f64;
            let sigsq = (n * (n - 1.0) * (2.0 * n + 5.0) - self.ties) / 18.0 * var_inflation;
            let zs = normal::two_sided(confidence) * sigsq.max(0.0).sqrt();
            let ntf = nt as f64;
            let ru = ((ntf + zs) / 2.0).round_ties_even().min(ntf - 1.0).max(0.0) as usize;
            let rl = (((ntf - zs) / 2.0).round_ties_even() - 1.0)
                .max(0.0)
                .min(ntf - 1.0) as usize;
            let lo = *self.slopes.select_nth_unstable_by(rl, f64::total_cmp).1;
            let hi = *self.slopes.select_nth_unstable_by(ru, f64::total_cmp).1;
            (lo, hi)
        };
        SlopeEstimate {
            slope: self.median,
            intercept: self.intercept,
            lo,
            hi,
            confidence,
            method: method.to_string(),
            points: self.n,
        }
    }
}

/// Theil–Sen with Sen's plain (independent-noise) interval, as scipy.
pub fn theil_sen(x: &[f64], y: &[f64], confidence: f64) -> SlopeEstimate {
    PairSlopes::new(x, y).estimate(confidence, 1.0, "theil-sen+sen")
}

/// Σ t(t-1)(2t+5) over groups of exactly equal values.
pub(crate) fn tie_term(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_unstable_by(f64::total_cmp);
    let mut total = 0.0;
    let mut i = 0;
    while i < s.len() {
        let mut j = i + 1;
        while j < s.len() && s[j] == s[i] {
            j += 1;
        }
        let t = (j - i) as f64;
        total += t * (t - 1.0) * (2.0 * t + 5.0);
        i = j;
    }
    total
}

/// The median (mean of the two middle values for even length); reorders `v`.
pub(crate) fn median_in_place(v: &mut [f64]) -> f64 {
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    let (lower, mid, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    let mid = *mid;
    if n % 2 == 1 {
        mid
    } else {
        let below = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (below + mid) / 2.0
    }
}

pub(crate) fn median_of(v: &[f64]) -> f64 {
    median_in_place(&mut v.to_vec())
}
