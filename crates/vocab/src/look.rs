//! One look of a sequential plan: where a run still going (or read back) was judged, and
//! at which confidence (`leakcheck_analysis::sequential` makes the plan).

use serde::{Deserialize, Serialize};

use crate::XUnit;

/// A look: the data up to `length` (marks, or seconds since the start) judged at
/// `confidence`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Look {
    /// 1-based.
    pub index: usize,
    /// Looks in the plan.
    pub of: usize,
    /// Where the data is cut for this look, in `unit`.
    pub length: f64,
    pub unit: XUnit,
    /// The two-sided confidence of its intervals.
    pub confidence: f64,
    /// At or past the minimum length: it may pass. Below it a look may only fail.
    pub may_pass: bool,
}
