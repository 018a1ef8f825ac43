//! The warm-up (steady-state) cut.
//!
//! `Auto` is MSER (White 1997, "An effective truncation heuristic for bias
//! reduction in simulation output", Simulation 69(6)) generalised from a
//! constant mean to a line: pick the cut k that minimises
//! `SSE_k / (n-k)²`, SSE_k being the residual sum of squares of the OLS line
//! through points k..n. A transient (a cache filling) inflates SSE far more
//! than dropping its points costs, so the minimum sits where the transient
//! ends; on a clean line or a steady leak the minimum stays near 0. As in
//! MSER, the cut is searched in the first half only (a later minimum means
//! the run never settled, and nothing is cut; so does a minimum in the last
//! tenth of the searched half). The series is averaged in
//! batches of 5 first (MSER-5), which keeps one noisy excursion from moving
//! the cut. Two guards keep data that decides: there is no warm-up unless
//! dropping it at least divides the score by 1.5 (a line with noise never
//! comes close), and the cut is then moved back from the MSER minimum to where
//! the transient is 99 % done (within 1 % of its first distance from the
//! steady line): MSER alone waits until the transient is buried in the noise,
//! which on a quiet series is long after a cache has filled. O(n) with suffix sums.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How many leading samples to drop before fitting.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarmUp {
    /// The MSER-5 line cut described in the module docs.
    Auto,
    /// Drop this many leading samples.
    Count(usize),
    /// Drop this fraction (0 ≤ f < 1) of the samples.
    Fraction(f64),
    /// Drop the samples with x below this (e.g. an iteration count mapped
    /// onto a time axis).
    UntilX(f64),
}

/// Where the steady state starts: sample index and its x.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WarmUpCut {
    pub index: usize,
    pub x: f64,
    /// The samples before the cut rose no faster than the steady state after it: the
    /// first samples sit at or above the steady-state line carried back to them (a slow
    /// start, or a cut the noise placed on a straight line). A cache fill rises fastest
    /// first and sits below that line. False without a cut, and under churn (the line is
    /// then the floor's).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_steeper: bool,
}

/// The accepted spellings, quoted by the parse error.
pub const WARMUP_FORMS: &str =
    "\"auto\", a sample count like \"50\", or a fraction like \"10%\" or \"0.1\"";

/// Why a warm-up string was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid warm-up {value:?}: expected {WARMUP_FORMS}")]
pub struct WarmUpParseError {
    pub value: String,
}

impl FromStr for WarmUp {
    type Err = WarmUpParseError;
    fn from_str(s: &str) -> Result<WarmUp, WarmUpParseError> {
        let t = s.trim();
        let err = || WarmUpParseError {
            value: s.to_string(),
        };
        if t.eq_ignore_ascii_case("auto") {
            return Ok(WarmUp::Auto);
        }
        let frac = |f: f64| {
            if f.is_finite() && (0.0..1.0).contains(&f) {
                Ok(WarmUp::Fraction(f))
            } else {
                Err(err())
            }
        };
        if let Some(p) = t.strip_suffix('%') {
            return frac(p.trim().parse::<f64>().map_err(|_| err())? / 100.0);
        }
        if t.bytes().all(|b| b.is_ascii_digit()) && !t.is_empty() {
            return t.parse::<usize>().map(WarmUp::Count).map_err(|_| err());
        }
        if t.contains('.') && !t.starts_with(['-', '+']) {
            return frac(t.parse::<f64>().map_err(|_| err())?);
        }
        Err(err())
    }
}

impl std::fmt::Display for WarmUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WarmUp::Auto => write!(f, "auto"),
            WarmUp::Count(c) => write!(f, "{c}"),
            WarmUp::Fraction(p) => {
                let s = format!("{:.6}", p * 100.0);
                write!(f, "{}%", s.trim_end_matches('0').trim_end_matches('.'))
            }
            WarmUp::UntilX(x) => write!(f, "x<{x}"),
        }
    }
}

/// Batch size of MSER-5.
const BATCH: usize = 5;

/// Dropping the warm-up must at least divide the MSER score by this much, or there is
/// no warm-up: on 1 200 lines with AR(1) noise (sd 16 KiB to 1 MiB, leaks 0 to 4 KiB/iter)
/// the ratio never passed 1.11, on a cache fill it is 3 to 8 000. A slow start is milder:
/// the leaky loader's first 16 iterations at half its pace gave 1.31–1.74 (so not 1.5,
/// which left them in and its interval ten times wider).
const MIN_IMPROVEMENT: f64 = 1.3;

/// The cut lands where the transient is within this fraction of its first deviation
/// from the steady line (the fill is 99 % of the way to its plateau).
const TRANSIENT_LEFT: f64 = 0.01;

/// The automatic cut (a sample index, at most n/2) for a series with x strictly
/// increasing; see the module docs.
pub fn auto_cut(x: &[f64], y: &[f64]) -> usize {
    let n = x.len();
    // Batch means; fall back to single points for short series.
    let b = if n >= 20 * BATCH { BATCH } else { 1 };
    let (bx, by): (Vec<f64>, Vec<f64>) = x
        .chunks(b)
        .zip(y.chunks(b))
        .map(|(cx, cy)| {
            let k = cx.len() as f64;
            (cx.iter().sum::<f64>() / k, cy.iter().sum::<f64>() / k)
        })
        .unzip();
    let m = bx.len();
    if m < 6 {
        return 0;
    }
    let scores = mser_scores(&bx, &by);
    let (best, best_score) =
        scores
            .iter()
            .copied()
            .enumerate()
            .fold(
                (0, f64::INFINITY),
                |acc, (k, s)| if s < acc.1 { (k, s) } else { acc },
            );
    // A minimum at the edge of the search means the series never settled: its growth is
    // the data, not a warm-up. A minimum that barely improves on keeping everything is
    // noise.
    let edge = m / 2 - m / 20; // the last tenth of the searched half
    if best == 0 || best >= edge || scores[0] < MIN_IMPROVEMENT * best_score {
        return 0;
    }
    (transient_end(&bx, &by, best) * b).min(n / 2)
}

/// MSER scores `SSE_k / (m-k)²` of the OLS line through batches `k..m`, for `k ≤ m/2`
/// (infinite where undefined). O(m) with suffix sums.
fn mser_scores(bx: &[f64], by: &[f64]) -> Vec<f64> {
    let m = bx.len();
    // Centre to keep the suffix sums well conditioned.
    let cx = bx.iter().sum::<f64>() / m as f64;
    let cy = by.iter().sum::<f64>() / m as f64;
    let (mut sx, mut sy, mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut scores = vec![f64::INFINITY; m / 2 + 1];
    for k in (0..m).rev() {
        let (xi, yi) = (bx[k] - cx, by[k] - cy);
        sx += xi;
        sy += yi;
        sxx += xi * xi;
        sxy += xi * yi;
        syy += yi * yi;
        let c = (m - k) as f64;
        if m - k < 3 || k > m / 2 {
            continue;
        }
        let vxx = sxx - sx * sx / c;
        let vxy = sxy - sx * sy / c;
        let vyy = syy - sy * sy / c;
        let sse = if vxx > 0.0 {
            (vyy - vxy * vxy / vxx).max(0.0)
        } else {
            vyy.max(0.0)
        };
        scores[k] = sse / (c * c);
    }
    scores
}

/// Where the transient before the MSER cut `k` ends: one batch after the last batch
/// whose distance from the steady line (OLS through `k..`) exceeds [`TRANSIENT_LEFT`] of
/// the first batch's distance (in loud noise that is the MSER cut itself). MSER alone
/// stops where the transient is comparable with the noise, which on a quiet series is far
/// past the point where the fill is practically done, and costs data.
fn transient_end(bx: &[f64], by: &[f64], k: usize) -> usize {
    let (slope, intercept) = crate::ols::least_squares(&bx[k..], &by[k..]);
    let line = |xi: f64| intercept + slope * xi;
    let distance = |i: usize| (line(bx[i]) - by[i]).abs();
    let tolerance = TRANSIENT_LEFT * distance(0);
    (0..k)
        .rev()
        .find(|&i| distance(i) > tolerance)
        .map_or(0, |i| i + 1)
}
