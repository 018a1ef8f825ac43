//! When a growing series reaches a limit: the time until its fitted line crosses the
//! limit, with an interval carried from the slope's.
//!
//! The line is taken through its pivot `(x_c, y_c)`, the centre of the steady state,
//! where the level is best known; each slope `b` in the interval gives a crossing at
//! `x_c + (L − y_c) / b`. The crossing is monotone in `b`, so the slope's interval maps
//! onto the crossing's: the upper slope with the level's upper bound gives the earliest
//! crossing, the lower slope with the level's lower bound the latest. The level's bound
//! is `y_c ± z·s/√n_eff`, `s` the scatter of the points around the line and `n_eff` their
//! number discounted for lag-1 autocorrelation; far ahead the slope's interval dominates,
//! near the data the level's does (without it, a quiet series' forecast one length ahead
//! missed the crossing in a third of the simulated runs). Both bounds at the full
//! confidence make the interval conservative. A lower slope bound at or below zero has
//! no latest crossing: the series may never get there, and nothing is forecast.
//! (Prometheus' `predict_linear` extrapolates a least-squares line with no interval.)
//!
//! Memory runs out at the first sample above the limit, not when the line gets there: a
//! noisy series touches it sooner, by about its highest excursion above the line. So the
//! estimate and the earliest crossing are those of the line raised by the highest
//! residual of the steady state (`excursion`); the latest is the line's own. Under churn
//! the line is the peaks' envelope, raised by its own highest residual.

use serde::{Deserialize, Serialize};

/// A fitted line and its slope's interval, pivoting on `(x_c, y_c)`, whose level there is
/// known to within `± level`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PivotLine {
    pub x_c: f64,
    pub y_c: f64,
    /// Half-width of the level's interval at the pivot.
    pub level: f64,
    /// The highest point above the line (≥ 0): how far ahead of it the series reaches.
    pub excursion: f64,
    pub slope: f64,
    pub lo: f64,
    pub hi: f64,
}

impl PivotLine {
    /// The line `intercept + slope·x` fitted to the points `(x, y)` (the steady state),
    /// with the slope's interval `lo..hi` at `confidence`.
    pub fn of_fit(
        x: &[f64],
        y: &[f64],
        (intercept, slope, lo, hi): (f64, f64, f64, f64),
        confidence: f64,
    ) -> Option<PivotLine> {
        let n = x.len().min(y.len());
        if n < 3 {
            return None;
        }
        let x_c = x[..n].iter().sum::<f64>() / n as f64;
        let residuals: Vec<f64> = (0..n).map(|i| y[i] - intercept - slope * x[i]).collect();
        let mean = residuals.iter().sum::<f64>() / n as f64;
        let ss: f64 = residuals.iter().map(|r| (r - mean).powi(2)).sum();
        let lag1: f64 = residuals
            .windows(2)
            .map(|w| (w[0] - mean) * (w[1] - mean))
            .sum();
        let rho = if ss > 0.0 {
            (lag1 / ss).clamp(0.0, 0.99)
        } else {
            0.0
        };
        let n_eff = (n as f64 * (1.0 - rho) / (1.0 + rho)).max(1.0);
        let s = (ss / (n as f64 - 1.0)).sqrt();
        Some(PivotLine {
            x_c,
            y_c: intercept + slope * x_c,
            level: crate::normal::two_sided(confidence) * s / n_eff.sqrt(),
            excursion: residuals.iter().copied().fold(0.0, f64::max),
            slope,
            lo,
            hi,
        })
    }

    /// The line of a churn's envelope: its points are one per period, taken as
    /// independent, scattered by at least the sampling step.
    pub fn of_envelope(e: &crate::EnvelopeFit, confidence: f64) -> Option<PivotLine> {
        let m = e.x.len();
        if m < 3 {
            return None;
        }
        let x_c = e.x.iter().sum::<f64>() / m as f64;
        let excursion = (0..m.min(e.y.len()))
            .map(|i| e.y[i] - e.intercept - e.slope * e.x[i])
            .fold(0.0, f64::max);
        Some(PivotLine {
            excursion,
            x_c,
            y_c: e.intercept + e.slope * x_c,
            level: crate::normal::two_sided(confidence) * e.scatter.max(e.sampling)
                / (m as f64).sqrt(),
            slope: e.slope,
            lo: e.lo_sampled.min(e.lo),
            hi: e.hi,
        })
    }
}

/// How long until the line reaches the limit, counted from the end of the data, in x
/// units.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Crossing {
    /// It crosses after `estimate` (between `earliest` and `latest`).
    In {
        estimate: f64,
        earliest: f64,
        latest: f64,
    },
    /// The line is at or above the limit already.
    Reached,
}

/// The crossing of `limit` by `line`, from `x_end` on, for a series sampled every `step`
/// (its first sample at or above the limit may come one step after the crossing); `None`
/// unless the slope's lower bound is above zero (a series that may not grow has no
/// forecast) and the numbers are finite. A series whose excursions may reach the limit
/// already has an earliest crossing of 0; one whose line is past it has
/// [`Crossing::Reached`].
pub fn time_to_limit(line: &PivotLine, limit: f64, x_end: f64, step: f64) -> Option<Crossing> {
    let PivotLine {
        x_c,
        y_c,
        level,
        excursion,
        slope,
        lo,
        hi,
    } = *line;
    let finite = [
        x_c, y_c, level, excursion, slope, lo, hi, limit, x_end, step,
    ]
    .iter()
    .all(|v| v.is_finite());
    if !finite || lo <= 0.0 || !(lo <= slope && slope <= hi) {
        return None;
    }
    if y_c - level + slope * (x_end - x_c) >= limit {
        return Some(Crossing::Reached);
    }
    let crossing = |y: f64, b: f64| (x_c + (limit - y) / b - x_end).max(0.0);
    Some(Crossing::In {
        estimate: crossing(y_c + excursion, slope),
        earliest: crossing(y_c + excursion + level, hi),
        latest: crossing(y_c - level, lo) + step.max(0.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slope_interval_maps_onto_the_crossing_interval() {
        // 1 MiB/s through (50 s, 100 MiB), limit 1 GiB, data to 100 s.
        let mib = (1u64 << 20) as f64;
        let line = PivotLine {
            x_c: 50.0,
            y_c: 100.0 * mib,
            level: 0.0,
            excursion: 0.0,
            slope: mib,
            lo: 0.5 * mib,
            hi: 2.0 * mib,
        };
        let Some(Crossing::In {
            estimate,
            earliest,
            latest,
        }) = time_to_limit(&line, 1024.0 * mib, 100.0, 0.0)
        else {
            panic!("a growing line crosses")
        };
        assert_eq!(estimate, 50.0 + 924.0 - 100.0);
        assert_eq!(earliest, 50.0 + 462.0 - 100.0);
        assert_eq!(latest, 50.0 + 1848.0 - 100.0);
        assert_eq!(
            time_to_limit(&line, 140.0 * mib, 100.0, 0.0),
            Some(Crossing::Reached)
        );
        // The level's own interval widens both ends.
        let vague = PivotLine {
            level: 24.0 * mib,
            ..line
        };
        let Some(Crossing::In {
            earliest, latest, ..
        }) = time_to_limit(&vague, 1024.0 * mib, 100.0, 0.0)
        else {
            panic!("crosses")
        };
        assert_eq!(
            (earliest, latest),
            (50.0 + 450.0 - 100.0, 50.0 + 1896.0 - 100.0)
        );
        // A series reaching 8 MiB above its line gets there sooner, at the latest still
        // when the line does.
        let jumpy = PivotLine {
            excursion: 8.0 * mib,
            ..line
        };
        assert_eq!(
            time_to_limit(&jumpy, 1024.0 * mib, 100.0, 1.0),
            Some(Crossing::In {
                estimate: 50.0 + 916.0 - 100.0,
                earliest: 50.0 + 458.0 - 100.0,
                latest: 50.0 + 1848.0 - 100.0 + 1.0
            })
        );
        let flat = PivotLine { lo: -1.0, ..line };
        assert_eq!(time_to_limit(&flat, 1024.0 * mib, 100.0, 0.0), None);
        let broken = PivotLine {
            y_c: f64::NAN,
            ..line
        };
        assert_eq!(time_to_limit(&broken, 1024.0 * mib, 100.0, 0.0), None);
    }
}
