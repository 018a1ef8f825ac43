//! Leak statistics: steady state, robust slopes, trend tests, shape classes,
//! budgets and verdicts. Pure and deterministic: no I/O, no clocks, no
//! global state.
//!
//! # Method (per metric, after [`analyze_metric`])
//!
//! 1. **Warm-up**: MSER-5 generalised to a line (White 1997), see [`warmup`].
//! 2. **Slope for verdicts**: Theil–Sen (Theil 1950, Sen 1968) with Sen's
//!    rank interval whose Var(S) is inflated by an autocorrelation factor of
//!    the Sen-detrended residuals: the larger of Hamed–Rao (1998) and the
//!    same sum over the leading run of significant lags plus a geometric
//!    tail (see [`mann_kendall`] for why both). Why this one: the median of
//!    pairwise slopes ignores allocator spikes and steps that drag a
//!    least-squares line, the interval is analytic (no bootstrap: a whole
//!    500-point analysis takes about half a millisecond), and Sen's interval is the
//!    inversion of the Mann–Kendall test on `y - βx`, so correcting that
//!    test's variance for autocorrelation corrects the interval the same way.
//! 3. **OLS** with a Newey–West (1987) HAC interval (Bartlett kernel, lag by
//!    Andrews 1991) is reported alongside, as the classical cross-check.
//! 4. **Trend**: Mann–Kendall with the same corrected variance.
//! 5. **Shape**: `Leak` when the trend test and the Theil–Sen lower bound
//!    both say "rising" and the second half alone still rises significantly
//!    (not clearly below half the pace); `Saturating` when the second half is
//!    clearly slower, or when only the warm-up rose (by more than 4 robust
//!    sd of the steady-state residuals); `Flat` when nothing rises;
//!    `Inconclusive` when the tests disagree, the second half does not
//!    confirm, or there are too few points; `Fragmentation` needs two
//!    metrics ([`classify_fragmentation`]).
//! 6. **Verdicts**: `Pass` when the upper bound ≤ budget, `Fail` when the
//!    lower bound > budget, else `Undecided` with an estimate of how much
//!    longer to run. Verdicts are numbers and a structured
//!    [`CheckReason`]; `leakcheck-report` words them.
//!
//! Long series (more than [`AnalysisOptions::max_pairwise_points`], 1024 by
//! default) are averaged into that many consecutive bins before the O(n²)
//! estimators; OLS uses every point. Binning keeps the slope, lowers the
//! noise of each point, and the intervals are computed on the binned series.

pub mod analyze;
pub mod budget;
pub mod churn;
pub mod difference;
pub mod error;
pub mod forecast;
pub mod mann_kendall;
pub mod normal;
pub mod ols;
pub mod retained;
pub mod sequential;
pub mod series;
#[cfg(feature = "sim")]
pub mod sim;
#[cfg(feature = "sim")]
pub mod sim_churn;
pub mod slope;
pub mod student;
pub mod theil_sen;
pub mod warmup;

pub use analyze::{
    AnalysisOptions, CheckReason, MetricAnalysis, Outcome, SessionStats, Shape, Verdict,
    analyze_metric, analyze_metric_with, classify_fragmentation,
};
pub use budget::{Budget, BudgetError, BudgetKind, MetricBudget, Quantity};
pub use churn::{Churn, Envelope, EnvelopeFit};
pub use difference::{
    Change, Difference, Estimate, RUN_TO_RUN_FACTOR, Tolerance, between_runs, classify, difference,
};
pub use error::AnalysisError;
pub use mann_kendall::{MannKendall, mann_kendall};
pub use ols::ols_hac;
pub use retained::CheckpointRetained;
pub use sequential::{Look, LookPlan};
pub use series::{Series, XUnit};
pub use slope::SlopeEstimate;
pub use theil_sen::{PairSlopes, theil_sen};
pub use warmup::{WarmUp, WarmUpCut, WarmUpParseError};
