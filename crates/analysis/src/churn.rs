//! Churn: periodic allocate-and-free cycles (allocator sawtooth, GC cycles, per-epoch
//! buffers) under a leak.
//!
//! A cycle of amplitude A adds a signal far larger than the noise that a line fit reads
//! as strongly autocorrelated noise, so the autocorrelation-corrected interval widens until
//! nothing is decided. What leaks is what the cycles never give back: the floor the series
//! returns to after each free. So when the detrended series has a clear period P
//! (its autocorrelation, after first turning negative, peaks again above
//! [`MIN_PERIOD_ACF`] at lag P), the slope is fitted to the **lower envelope**: the minimum
//! of each disjoint window of P samples, at the x where it occurred. Every window spans a
//! whole cycle, so each holds one trough; the cycle drops out and a leak under it stays
//! (it lifts every trough). Batch means over whole periods (Schmeiser 1982, "Batch size
//! effects in the analysis of simulation output", *Operations Research* 30(3)) remove the
//! cycle too, but only when P is an exact number of samples; a trough does not care about
//! the phase, and on a sawtooth the floor is less noisy than the mean.
//!
//! Growth that the cycles do give back (a peak that rises while the floor stays) is not
//! retained, so not a leak; peak budgets judge it on the raw samples.

use serde::{Deserialize, Serialize};

/// The autocorrelation at the period must reach this (and `4/√n`) for the series to count
/// as churning: AR(1) noise at φ = 0.6 over 500 points stays below 0.2 past its first
/// negative lag.
pub const MIN_PERIOD_ACF: f64 = 0.3;

/// At least this many whole windows, or the envelope is not used (its interval would rest
/// on too few troughs).
pub const MIN_WINDOWS: usize = 8;

/// Lags searched for the period: at most a quarter of the series, and at most this many
/// (the search costs n × lags).
pub const MAX_PERIOD: usize = 512;

/// The churn found in a series, and the envelope fitted instead of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Churn {
    /// The cycle, in samples.
    pub period: usize,
    /// The autocorrelation of the detrended series at that lag.
    pub acf: f64,
    /// Whole windows of `period` samples, each contributing its minimum.
    pub windows: usize,
}

/// The period of the series (x, y), if it churns: the lag of the highest autocorrelation
/// of the OLS residuals after the autocorrelation first turns negative.
pub fn detect_period(x: &[f64], y: &[f64]) -> Option<(usize, f64)> {
    let n = y.len();
    let max_lag = (n / 4).min(MAX_PERIOD);
    if max_lag < 2 {
        return None;
    }
    let resid = ols_residuals(x, y);
    let var: f64 = resid.iter().map(|r| r * r).sum();
    if var <= 0.0 {
        return None;
    }
    let acf = |lag: usize| -> f64 {
        resid[..n - lag]
            .iter()
            .zip(&resid[lag..])
            .map(|(a, b)| a * b)
            .sum::<f64>()
            / var
    };
    let first_negative = (1..=max_lag).find(|&l| acf(l) < 0.0)?;
    let (lag, value) =
        (first_negative..=max_lag)
            .map(|l| (l, acf(l)))
            .fold(
                (0, f64::NEG_INFINITY),
                |best, c| if c.1 > best.1 { c } else { best },
            );
    let threshold = MIN_PERIOD_ACF.max(4.0 / (n as f64).sqrt());
    (lag >= 2 && value >= threshold).then_some((lag, value))
}

/// The minimum of each whole window of `period` samples, at its own x (a trailing partial
/// window is dropped: it may hold no trough).
pub fn lower_envelope(x: &[f64], y: &[f64], period: usize) -> (Vec<f64>, Vec<f64>) {
    x.chunks_exact(period.max(1))
        .zip(y.chunks_exact(period.max(1)))
        .map(|(cx, cy)| {
            let i = cy
                .iter()
                .enumerate()
                .fold(0, |best, (i, &v)| if v < cy[best] { i } else { best });
            (cx[i], cy[i])
        })
        .unzip()
}

/// The lower envelope to fit instead of the series, when the series churns and has
/// enough whole cycles for it.
pub fn envelope_if_churning(x: &[f64], y: &[f64]) -> Option<(Churn, Vec<f64>, Vec<f64>)> {
    let (period, acf) = detect_period(x, y)?;
    let (ex, ey) = lower_envelope(x, y, period);
    (ex.len() >= MIN_WINDOWS).then(|| {
        let churn = Churn {
            period,
            acf,
            windows: ex.len(),
        };
        (churn, ex, ey)
    })
}

fn ols_residuals(x: &[f64], y: &[f64]) -> Vec<f64> {
    let (slope, intercept) = crate::ols::least_squares(x, y);
    x.iter()
        .zip(y)
        .map(|(&xi, &yi)| yi - intercept - slope * xi)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sawtooth_has_its_period_and_a_line_has_none() {
        let x: Vec<f64> = (0..500).map(f64::from).collect();
        let saw: Vec<f64> = x.iter().map(|&i| (i % 50.0) * 1000.0 + 3.0 * i).collect();
        assert_eq!(detect_period(&x, &saw).map(|p| p.0), Some(50));
        let line: Vec<f64> = x.iter().map(|&i| 7.0 * i).collect();
        assert_eq!(detect_period(&x, &line), None);
        let (ex, ey) = lower_envelope(&x, &saw, 50);
        assert_eq!(ex.len(), 10);
        assert_eq!(ex[1], 50.0);
        assert_eq!(ey[1], 150.0);
    }
}
