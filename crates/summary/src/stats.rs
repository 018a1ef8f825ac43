//! The numbers behind one metric's verdict, as `summary.json` writes them under `stats`.
//!
//! These are the file's own types, not the analysis crate's: the judge copies an analysis
//! into them field by field, so a field the analysis adds, renames or drops changes the
//! file only when it is added here too (and [`crate::SCHEMA_VERSION`] says so). The names
//! and the order of the fields are those the file has always had, so files written before
//! these types existed read back, and the snapshot fixtures stay byte for byte.
//!
//! Every float may be NaN (unknown), which `serde_json` writes as `null`; the reader maps
//! `null` back to NaN.

use leakcheck_vocab::{BudgetKind, CheckReason, Envelope, Outcome, ValueUnit, XUnit};
use serde::{Deserialize, Serialize};

use crate::model::{f64_or_nan, floats_or_nan};

/// Everything the analysis found about one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub metric: String,
    /// Samples in the series (before warm-up).
    pub n: usize,
    pub x_unit: XUnit,
    pub warmup: WarmUpCut,
    /// OLS after warm-up, Newey–West interval, every point.
    pub ols: SlopeFit,
    /// Theil–Sen after warm-up: the slope the verdicts use.
    pub theil_sen: SlopeFit,
    /// Mann–Kendall after warm-up.
    pub trend: TrendTest,
    /// Theil–Sen of the second half of the steady state; `None` when too short.
    pub late: Option<SlopeFit>,
    /// Shape class (`leak`, `saturating`, `flat`, ...).
    pub shape: String,
    pub sessions: Vec<Session>,
    /// Retained growth of the last session (`None` without two or more sessions).
    pub retained: Option<f64>,
    #[serde(deserialize_with = "f64_or_nan")]
    pub peak: f64,
    /// Growth after warm-up, with its interval.
    #[serde(deserialize_with = "f64_or_nan")]
    pub growth: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub growth_lo: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub growth_hi: f64,
    /// Half-width of the verdict slope's interval.
    #[serde(deserialize_with = "f64_or_nan")]
    pub sensitivity: f64,
    /// The allocate-and-free cycle found in the steady state, with its envelopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub churn: Option<Churn>,
    /// The deepest dip of the steady state that stands out of the noise, else 0.
    #[serde(default, deserialize_with = "f64_or_nan")]
    pub fall: f64,
    /// Retained memory between the first and last checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_retained: Option<CheckpointRetained>,
    pub verdicts: Vec<Verdict>,
}

/// Where the steady state starts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WarmUpCut {
    pub index: usize,
    #[serde(deserialize_with = "f64_or_nan")]
    pub x: f64,
    /// The samples before the cut rose no faster than the steady state after it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_steeper: bool,
}

/// A fitted line `y = intercept + slope·x` with an interval for the slope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlopeFit {
    #[serde(deserialize_with = "f64_or_nan")]
    pub slope: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub intercept: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub lo: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub hi: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub confidence: f64,
    /// Which estimator and interval, in words.
    pub method: String,
    /// Points the fit used (after warm-up, after binning).
    pub points: usize,
}

/// The Mann–Kendall trend test's numbers (two-sided p-values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendTest {
    #[serde(deserialize_with = "f64_or_nan")]
    pub s: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub var_s: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub correction_hamed_rao: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub correction_lead: f64,
    /// The factor applied to Var(S).
    #[serde(deserialize_with = "f64_or_nan")]
    pub correction: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub z: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub p: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub z_hamed_rao: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub p_hamed_rao: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub tau: f64,
    pub n: usize,
}

/// One session of a multi-session series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub index: usize,
    #[serde(deserialize_with = "f64_or_nan")]
    pub start_x: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub end_x: f64,
    pub points: usize,
    #[serde(deserialize_with = "f64_or_nan")]
    pub start_level: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub peak: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub end_level: f64,
    /// `start_level` minus the first session's.
    #[serde(deserialize_with = "f64_or_nan")]
    pub retained: f64,
}

/// The churn found in a series and the envelopes fitted under, over and through it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Churn {
    /// The cycle, in x units.
    #[serde(deserialize_with = "f64_or_nan")]
    pub period: f64,
    /// The autocorrelation of the detrended series at that lag.
    #[serde(deserialize_with = "f64_or_nan")]
    pub acf: f64,
    /// Whole windows of one period.
    pub windows: usize,
    pub lower: EnvelopeFit,
    pub upper: EnvelopeFit,
    pub mean: EnvelopeFit,
}

/// One envelope: its points and the least-squares line through them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvelopeFit {
    #[serde(deserialize_with = "floats_or_nan")]
    pub x: Vec<f64>,
    #[serde(deserialize_with = "floats_or_nan")]
    pub y: Vec<f64>,
    /// The sampling step of each point.
    #[serde(deserialize_with = "floats_or_nan")]
    pub step: Vec<f64>,
    #[serde(deserialize_with = "f64_or_nan")]
    pub slope: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub intercept: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub lo: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub hi: f64,
    /// Residual standard deviation around the line.
    #[serde(deserialize_with = "f64_or_nan")]
    pub scatter: f64,
    /// The scatter the sampling alone gives the points.
    #[serde(deserialize_with = "f64_or_nan")]
    pub sampling: f64,
    /// The lower bound with the scatter at least the sampling's.
    #[serde(deserialize_with = "f64_or_nan")]
    pub lo_sampled: f64,
    /// The same with Student's t.
    #[serde(deserialize_with = "f64_or_nan")]
    pub lo_small: f64,
}

/// Retained memory between the first and the last checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointRetained {
    /// Checkpoints with readings.
    pub checkpoints: usize,
    /// Hodges–Lehmann estimate of last − first, bytes.
    #[serde(deserialize_with = "f64_or_nan")]
    pub estimate: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub lo: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub hi: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub confidence: f64,
    /// The median reading at each checkpoint, in order.
    #[serde(deserialize_with = "floats_or_nan")]
    pub levels: Vec<f64>,
    /// Growth per checkpoint, with four or more checkpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_checkpoint: Option<SlopeFit>,
}

/// The judgement of one budget, with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub budget: Budget,
    pub outcome: Outcome,
    /// Slope (per x unit) or amount, as the budget.
    #[serde(deserialize_with = "f64_or_nan")]
    pub estimate: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub lo: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub hi: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub sensitivity: f64,
    /// For an undecided slope budget: about how much longer to run, in x units.
    pub more_iterations: Option<u64>,
    pub reason: CheckReason,
    /// Under churn, the envelope whose interval the verdict shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<Envelope>,
}

/// A budget as judged: its kind and limit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    pub kind: BudgetKind,
    pub limit: Limit,
    /// What the limit counts: bytes unless the metric is a count (absent then).
    #[serde(default, skip_serializing_if = "is_bytes")]
    pub unit: ValueUnit,
}

fn is_bytes(unit: &ValueUnit) -> bool {
    *unit == ValueUnit::Bytes
}

/// A budget's limit: an amount, or an amount per x unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Limit {
    Bytes(#[serde(deserialize_with = "f64_or_nan")] f64),
    Rate {
        #[serde(deserialize_with = "f64_or_nan")]
        bytes: f64,
        per: XUnit,
    },
}
