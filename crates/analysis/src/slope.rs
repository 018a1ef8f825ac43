//! The slope estimate shared by the estimators.

use serde::{Deserialize, Serialize};

/// A fitted line `y = intercept + slope·x` with a confidence interval for
/// the slope, in bytes per x unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlopeEstimate {
    pub slope: f64,
    pub intercept: f64,
    /// Lower confidence bound of the slope.
    pub lo: f64,
    /// Upper confidence bound of the slope.
    pub hi: f64,
    pub confidence: f64,
    /// Which estimator and interval, in words (for the report).
    pub method: String,
    /// How many points the fit used (after warm-up, after binning).
    pub points: usize,
}
