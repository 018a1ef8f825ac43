//! A validated (x, bytes) series.

use serde::{Deserialize, Serialize};

use crate::AnalysisError;

pub use leakcheck_vocab::XUnit;

/// Magnitudes above this are refused: memory beyond an exabyte or x beyond
/// 3e10 years is a unit bug upstream, and the bound keeps every sum and
/// square finite.
pub const MAX_ABS: f64 = 1e18;

/// One metric over time: x strictly increasing, every value finite.
/// An empty series is valid (analysis then reports `TooFewPoints`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    x: Vec<f64>,
    y: Vec<f64>,
}

impl Series {
    pub fn new(x: Vec<f64>, y: Vec<f64>) -> Result<Series, AnalysisError> {
        if x.len() != y.len() {
            return Err(AnalysisError::LengthMismatch {
                x: x.len(),
                y: y.len(),
            });
        }
        for (axis, v) in [("x", &x), ("y", &y)] {
            if let Some((index, &value)) = v
                .iter()
                .enumerate()
                .find(|(_, v)| !v.is_finite() || v.abs() > MAX_ABS)
            {
                return Err(AnalysisError::NonFinite { axis, index, value });
            }
        }
        if let Some(i) = (1..x.len()).find(|&i| x[i] <= x[i - 1]) {
            return Err(AnalysisError::NotIncreasing {
                index: i,
                prev_index: i - 1,
                value: x[i],
                prev: x[i - 1],
            });
        }
        Ok(Series { x, y })
    }

    /// A series whose x is the sample index 0, 1, 2, …
    pub fn from_y(y: Vec<f64>) -> Result<Series, AnalysisError> {
        Series::new((0..y.len()).map(|i| i as f64).collect(), y)
    }

    pub fn x(&self) -> &[f64] {
        &self.x
    }
    pub fn y(&self) -> &[f64] {
        &self.y
    }
    pub fn len(&self) -> usize {
        self.x.len()
    }
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }
}

impl<'de> Deserialize<'de> for Series {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            x: Vec<f64>,
            y: Vec<f64>,
        }
        let r = Raw::deserialize(d)?;
        Series::new(r.x, r.y).map_err(serde::de::Error::custom)
    }
}

/// Means of consecutive groups so that at most `max` points remain: the
/// O(n²) estimators (Theil–Sen, Mann–Kendall) run on these. Bin means keep
/// the slope and shrink the noise; the intervals are computed on the binned
/// series, so they stay honest (fewer, less noisy points).
pub(crate) fn bin_means(x: &[f64], y: &[f64], max: usize) -> (Vec<f64>, Vec<f64>) {
    let n = x.len();
    if n <= max || max == 0 {
        return (x.to_vec(), y.to_vec());
    }
    let per = n.div_ceil(max);
    x.chunks(per)
        .zip(y.chunks(per))
        .map(|(cx, cy)| {
            let k = cx.len() as f64;
            (cx.iter().sum::<f64>() / k, cy.iter().sum::<f64>() / k)
        })
        .unzip()
}

/// The measurement step of a series: the largest power of two up to 64 KiB that divides
/// every value (1 for byte counts; `None` for fractional values).
pub(crate) fn resolution_step(y: &[f64]) -> Option<f64> {
    let divides = |step: f64| y.iter().all(|v| (v / step).fract() == 0.0);
    (0..=16)
        .map(|k| f64::from(1u32 << k))
        .take_while(|&step| divides(step))
        .last()
}
